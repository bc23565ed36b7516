"""The benchmark helpers: BENCHMARKS.md sections are replaced in place, stamped with date and machine."""
from datetime import date

import benchmarks.common as common


def test_write_section_adds_then_replaces(tmp_path, monkeypatch):
    md = tmp_path / "BENCHMARKS.md"
    monkeypatch.setattr(common, "BENCHMARKS_MD", md)
    common.write_section("A", "first result")
    common.write_section("B", "other result")
    common.write_section("A", "second result")
    text = md.read_text()
    assert text.count("## A") == 1 and text.count("## B") == 1
    assert "second result" in text and "first result" not in text and "other result" in text
    assert text.index("## A") < text.index("## B")  # replaced in place, not moved
    assert date.today().isoformat() in text and "cores" in text


def test_per_second_counts_items():
    calls = []
    rate = common.per_second(lambda: calls.append(1) or 10, min_seconds=0.05)
    assert rate > 0 and len(calls) >= 2
