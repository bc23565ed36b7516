"""The benchmark helpers: BENCHMARKS.md sections are replaced in place, stamped with date and machine."""
import ast
from datetime import date
from pathlib import Path

import pytest

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


def test_training_throughput_counts_flops_and_reads_the_engine_log():
    import torch

    from benchmarks.training_throughput import engine_rates
    from seitpp.engine import flops_per_image, preset, with_overrides
    from seitpp.models import create_model
    from seitpp.tokens import Split

    y = torch.randint(12, (4,))
    ids = torch.randint(391, (4, 14, 14))
    tokens = flops_per_image(create_model("tvit_micro", num_classes=12, patch_kernel=2), ids, y)
    pixels = flops_per_image(create_model("pvit_micro", num_classes=12), torch.randn(4, 3, 56, 56), y)
    # one body, 7 x 7 patches either way: only the stems differ (a 2 x 2 patch of 32-d codes against
    # 8 x 8 x 3 pixels); the default 4 x 4 kernel reads 4 times the codes of the 2 x 2 one
    assert 0.9 < tokens / pixels < 1.1
    overlapping = flops_per_image(create_model("tvit_micro", num_classes=12), ids, y)
    stem = 2 * 3 * 49 * 64 * 32 * (16 - 4)  # forward + backward (x3) multiply-adds (x2) of the extra 12 taps
    assert overlapping - tokens == pytest.approx(stem, rel=0.05)

    data = Split(torch.randint(391, (32, 16, 16)), torch.randint(12, (32,)), 12, 391)
    config = with_overrides(preset("cpu-tiny", "finetune"), dict(policy="none", batch_size=8))
    (row,) = engine_rates({"tokens": (config, data, None)}, torch.device("cpu"), steps=2)
    assert row["rate"] > 0 and 0 <= row["data_share"] <= 1


def test_chapter_costs_measures_a_notebook_and_merges_rows(tmp_path):
    from benchmarks.chapter_costs import merge, run_chapter
    from seitpp.files import write_csv

    notebook = tmp_path / "01_probe.py"  # writes 3 MB to scratch and holds 50 MB of memory for a moment
    notebook.write_text("# %%\nimport os, tempfile, time\nimport numpy as np\n"
                        "fast = os.environ['SEITPP_FAST']\n"
                        "path = os.path.join(tempfile.gettempdir(), 'probe.bin')\n"
                        "open(path, 'wb').write(bytes(3 * 2**20))\n"
                        "block = np.ones(50 * 2**20 // 8)\ntime.sleep(1.0)\n")
    row = run_chapter(notebook, fast=True)
    assert row["chapter"] == "01_probe" and row["mode"] == "fast" and row["seconds"] >= 1.0
    assert row["scratch_disk_mb"] >= 3.0 and row["peak_memory_mb"] >= 50
    csv_path = tmp_path / "costs.csv"
    write_csv([dict(row, seconds=99.0), dict(row, mode="full")], csv_path)
    merged = merge([row], csv_path)  # the new fast row replaces the old one, the full row stays
    assert [(r["mode"], float(r["seconds"])) for r in merged] == [("fast", row["seconds"]), ("full", row["seconds"])]


# The policy benchmarks time the policy's private stages on purpose; they belong to the engine's owners.
PRIVATE_ALLOWED = {"policy_profile.py", "gpu_data_path.py", "loading.py"}


def test_benchmarks_use_only_public_names_of_the_package():
    """A benchmark measures the package as a user calls it: no `x._name` but on its own objects
    (self, cls), no `from seitpp... import _name`."""
    found = []
    for path in sorted(Path(common.__file__).parent.glob("*.py")):
        if path.name in PRIVATE_ALLOWED:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Attribute) and node.attr.startswith("_") and not node.attr.startswith("__"):
                if not (isinstance(node.value, ast.Name) and node.value.id in ("self", "cls")):
                    found.append(f"{path.name}:{node.lineno} .{node.attr}")
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("seitpp"):
                found += [f"{path.name}:{node.lineno} {alias.name}" for alias in node.names if alias.name.startswith("_")]
    assert not found, found


def test_loading_benchmark_times_the_engines_batch_transform_for_every_policy(monkeypatch):
    import torch

    import benchmarks.loading as loading
    from seitpp.augment import TokenAdapt
    from seitpp.tokenizers import VQTokenizer
    from seitpp.tokens import Split

    monkeypatch.setattr(loading, "BATCH", 8)
    monkeypatch.setattr(loading, "CROP", 14)
    split = Split(torch.randint(391, (16, 16, 16)), torch.randint(12, (16,)), 12, 391, "bench test")
    codes = VQTokenizer.load().codebook.vectors().detach()
    for policy in ("none", "seit", "seitpp"):
        assert loading.engine_batches(split, policy, codes, TokenAdapt.load())() == 8
