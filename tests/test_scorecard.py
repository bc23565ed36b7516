"""The scorecard: rows built from findings carry the verdict, the paper's difference, why a row does
not hold and a link to a section that exists; every finding of the committed sweeps is on the card, and
every committed row that does not hold has a reason; the introduction's box is built from the rows."""
import math
import re
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402

from seitpp.experiments import SUMMARY_FILE, Beyond, beyond, read_results  # noqa: E402
from seitpp.experiments.reproduce import (  # noqa: E402
    ABLATION,
    BUDGETS,
    EVAL_SETS,
    GPU_RESULTS,
    METHODS,
    REFERENCE_PRESET,
    REFERENCE_RESULTS,
    SHIFTS,
    Reproduce,
    sweep_preset,
)
from seitpp.experiments.scorecard import (  # noqa: E402
    CLAIMS,
    APART,
    GPU_SECTION,
    REASONS,
    SECTIONS,
    SOURCES,
    VERDICTS,
    anchor,
    card_rows,
    html_table,
    scorecard,
    seed_counts,
    seeds_text,
    summary_box,
    verdict_counts,
)
from seitpp.viz import scorecard_figure  # noqa: E402

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
CPU = sweep_preset(REFERENCE_PRESET)

# A world where SeiT++'s augmentation helps, MTM hurts, and SeiT++ ends below SeiT (top-1 fractions).
TOP1 = {"SeiT": 0.70, "SeiT, learned table": 0.70, "SeiT + MTM": 0.62, "SeiT++ without MTM": 0.74,
        "SeiT++": 0.60, "SeiT++ without MTM, release 2x2 stem": 0.65}
VARIANTS = {"baseline": 0.50, "+ ColorAdapt": 0.505, "+ TokenAdapt": 0.60, "+ naive warps": 0.55}


def summary_row(experiment: str, method: str, budget: float, top1: float, std: float = 0.01) -> dict:
    """A summary row with every accuracy `top1` and no drop under any shift."""
    return {"experiment": experiment, "method": method, "budget": round(budget, 4), "train_images": 1, "seeds": 3,
            "bytes_per_image": 1, "train_bytes": 1,
            **{f"acc_{s}_mean": top1 for s in EVAL_SETS}, **{f"acc_{s}_std": std for s in EVAL_SETS},
            **{f"drop_{s}_mean": 0.0 for s in SHIFTS}, **{f"drop_{s}_std": std for s in SHIFTS}}


def synthetic_summary() -> list[dict]:
    """Every method at every budget of the cpu preset, and every ablation variant but "+ both" (the
    budget table's SeiT++ stands in for it)."""
    rows = [summary_row("budgets", m, b, TOP1[m]) for m in METHODS for b in CPU.budgets]
    return rows + [summary_row("ablation", v, CPU.ablation_budget, VARIANTS[v]) for v in ABLATION if v != "+ both"]


def by_comparison(rows: list[dict]) -> dict[str, dict]:
    return {r["comparison"]: r for r in rows}


def test_rows_carry_the_verdict_the_paper_and_a_link():
    assert CPU.budgets == BUDGETS  # the paper's three budgets, so every budget row has the paper's number
    rows = card_rows(Reproduce(CPU).findings(synthetic_summary()), "CPU sweep")
    card = by_comparison(rows)
    full = CPU.budget_images(1.0)

    seit = card[f"SeiT++ - SeiT ({full} images)"]
    assert seit["verdict"] == "opposite" and seit["difference"] == pytest.approx(-10.0)
    assert seit["paper"] == pytest.approx(77.8 - 74.0) and seit["claim"] == CLAIMS["SeiT++ beats SeiT"]
    assert seit["chapter"] == "chapter 6" and seit["href"] == "06_finetune_ablation.html#seit-against-seit-at-the-full-budget"

    mtm = card[f"SeiT++ - SeiT++ without MTM ({full} images)"]
    assert mtm["verdict"] == "opposite" and mtm["paper"] == pytest.approx(77.8 - 75.5)
    # with the table kept at the codes, MTM's twin without it is SeiT (the paper has that pair too); a sweep whose
    # tables learn compares with the learned table, which the paper has not
    assert card[f"SeiT + MTM - SeiT ({full} images)"]["paper"] == pytest.approx(75.1 - 74.0)
    learning = by_comparison(card_rows(Reproduce(sweep_preset("cpu-learned-table")).findings(synthetic_summary()),
                                       "CPU sweep"))
    assert learning[f"SeiT + MTM - SeiT, learned table ({full} images)"]["paper"] is None
    assert "drop on noise: SeiT, learned table - SeiT++ without MTM" in learning
    assert "drop on noise: SeiT, learned table - SeiT++ without MTM" not in card

    assert card["+ TokenAdapt - baseline"]["verdict"] == "holds"
    assert card["+ TokenAdapt - baseline"]["paper"] == pytest.approx(80.4 - 77.3)
    assert card["+ ColorAdapt - baseline"]["verdict"] == "unclear"
    assert card["+ both - baseline"]["verdict"] == "holds"  # the budget table's SeiT++ at the ablation budget
    assert card["+ TokenAdapt - + naive warps"]["paper"] is None
    assert card["+ TokenAdapt - baseline"]["href"] == "06_finetune_ablation.html#the-ablation"

    gain = next(r for r in rows if r["finding"] == "smaller budget, larger gain")
    assert gain["paper"] == pytest.approx((60.6 - 47.2) - (77.8 - 74.0)) and gain["verdict"] == "unclear"

    noise = card["drop on noise: SeiT - SeiT++ without MTM"]
    assert noise["paper"] == pytest.approx((74.0 - 50.7) - (75.5 - 58.6)) and noise["verdict"] == "unclear"
    assert card["drop on pose: SeiT - SeiT++ without MTM"]["paper"] is None  # the paper has no pose shift
    assert noise["href"] == "07_budgets_robustness.html#robustness"


def test_every_finding_has_a_claim_and_a_section():
    names = {f["finding"] for f in Reproduce(CPU).findings(synthetic_summary())}
    assert names == set(SECTIONS) - {"segmentation", "another tokenizer", "DCT inputs"}  # every finding was judged
    assert set(CLAIMS) == set(SECTIONS)


def test_the_rows_of_a_finding_stand_together():
    rows = card_rows(Reproduce(CPU).findings(synthetic_summary()), "CPU sweep")
    names = [r["finding"] for r in rows]
    runs = [n for i, n in enumerate(names) if i == 0 or names[i - 1] != n]  # one run of rows per finding
    assert len(runs) == len(set(runs))


def test_a_section_override_links_every_row_there():
    rows = card_rows(Reproduce(CPU).findings(synthetic_summary()), "GPU sweep", GPU_SECTION)
    assert {r["href"] for r in rows} == {"09_cuda_training.html#seit-at-gpu-size"}
    assert {r["chapter"] for r in rows} == {"chapter 9"}


def test_chapter_8_findings_go_by_question():
    def row(method: str, miou: float, std: float) -> dict:
        return {"experiment": "segment", "method": method, "miou_mean": miou, "miou_std": std,
                "pixel_acc_mean": miou, "pixel_acc_std": std}
    findings = Beyond(beyond.beyond_preset("cpu")).findings([row("SeiT-style", 0.20, 0.01), row("SeiT++", 0.30, math.nan)])
    (miou, _) = card_rows(findings, "beyond")
    assert miou["finding"] == "segmentation" and miou["paper"] == 4.2 and miou["verdict"] == "unclear"
    assert miou["href"] == "08_beyond_classification.html#segmentation-from-tokens"
    assert "1 seed" in html_table([miou])  # a spread of one seed


def test_unknown_findings_fail_loudly():
    with pytest.raises(KeyError, match="no claim"):
        card_rows([{"finding": "new", "comparison": "b - a", "difference": 1.0, "spread": 0.5, "verdict": "holds"}], "x")


@pytest.mark.parametrize("notebook, heading", sorted(set(SECTIONS.values()) | {GPU_SECTION}))
def test_every_linked_section_is_a_heading_of_its_notebook_once(notebook, heading):
    source = (NOTEBOOKS / f"{notebook}.py").read_text()
    headings = re.findall(r"^# #{2,6} (.+)$", source, flags=re.MULTILINE)
    assert headings.count(heading) == 1, f"notebooks/{notebook}.py has no section (or several) called {heading!r}"
    assert [anchor(h) for h in headings].count(anchor(heading)) == 1, "two sections would share one anchor"


def test_anchor_is_the_id_sphinx_gives_a_section():
    nodes = pytest.importorskip("docutils.nodes")
    for heading in [h for _, h in SECTIONS.values()] + [GPU_SECTION[1], "Émigré's 3rd try", "  two  spaces "]:
        assert anchor(heading) == nodes.make_id(heading), heading


def test_the_html_table_scrolls_escapes_and_links():
    rows = card_rows(Reproduce(CPU).findings(synthetic_summary()), "CPU sweep")
    text = html_table(rows)
    assert text.startswith('<div class="seitpp-table" style="overflow-x:auto">') and text.endswith("</div>")
    assert text.count("<a href=") == len(rows)
    assert "SeiT++&#x27;s" in text and "SeiT++'s" not in text  # quotes escaped
    assert text.count(CLAIMS["MTM helps"].replace("'", "&#x27;")) == 1  # a claim once per finding
    assert "–" in text  # a row without the paper's number


def test_every_committed_finding_is_on_the_card():
    rows = scorecard()

    def read(folder: Path) -> list[dict]:
        return read_results(folder / SUMMARY_FILE)
    expected = ([("CPU sweep", f["comparison"]) for f in Reproduce(CPU).findings(read(REFERENCE_RESULTS))]
                + [("beyond classification", f["comparison"])
                   for f in Beyond(beyond.beyond_preset("cpu")).findings(read(beyond.REFERENCE_RESULTS))]
                + [("GPU sweep", f["comparison"]) for f in Reproduce(sweep_preset("gpu")).findings(read(GPU_RESULTS))])
    assert sorted((r["source"], r["comparison"]) for r in rows) == sorted(expected)
    assert [r["source"] for r in rows] == sorted((r["source"] for r in rows), key=list(SOURCES).index)
    counts = verdict_counts(rows)
    assert [c["source"] for c in counts] == ["CPU sweep", "beyond classification", "GPU sweep"]
    assert all(c["findings"] > 0 and c["findings"] == sum(c[v] for v in VERDICTS) for c in counts)
    # the sketch rows, where every model sits at chance, are called uninformative, not opposite
    sketch = [r for r in rows if r["source"] == "CPU sweep" and r["comparison"].startswith("drop on sketch")]
    assert sketch and all(r["verdict"] == "uninformative" for r in sketch)
    assert sum(c["findings"] for c in counts) == len(rows)
    # the GPU sweep ran with the older recipe: on the card, out of the totals, saying why
    assert [c["counted"] for c in counts] == [True, True, False]
    assert {r["source"] for r in rows if not r["counted"]} == {"GPU sweep"}
    assert "not counted: made with the older recipe" in html_table(rows)
    # the seeds are each sweep's own, read from its summary (the GPU sweep ran fewer than its preset names)
    assert [c["seeds"] for c in counts] == [seed_counts(read(f)) for f in (REFERENCE_RESULTS, beyond.REFERENCE_RESULTS,
                                                                           GPU_RESULTS)]
    assert f"GPU sweep (chapter 9; {seeds_text(counts[2]['seeds'])})" in html_table(rows)


def test_every_committed_row_that_does_not_hold_says_why_and_every_reason_is_used():
    rows = scorecard()
    missing = [(r["source"], r["finding"], r["verdict"], r["comparison"]) for r in rows
               if r["verdict"] != "holds" and not r["why"]]
    assert not missing, f"rows without a reason: add one to seitpp.experiments.scorecard.REASONS: {missing}"
    assert all(r["why"] == "" for r in rows if r["verdict"] == "holds")
    used = {(r["source"], r["finding"], r["verdict"]) for r in rows if r["verdict"] != "holds"}
    stale = set(REASONS) - used
    assert not stale, f"reasons for a verdict no committed row has any more (a sweep reran?): {sorted(stale)}"


def test_a_reason_belongs_to_its_verdict():
    assert all(s in SOURCES and f in CLAIMS and v in VERDICTS[1:] for s, f, v in REASONS)
    # in the synthetic world MTM hurts and SeiT++ ends below SeiT: MTM's opposite rows get the CPU sweep's
    # reason for that verdict, SeiT++ - SeiT (opposite here, holds on the committed sweep) gets none
    card = by_comparison(card_rows(Reproduce(CPU).findings(synthetic_summary()), "CPU sweep"))
    full = CPU.budget_images(1.0)
    assert card[f"SeiT + MTM - SeiT ({full} images)"]["why"] == REASONS[("CPU sweep", "MTM helps", "opposite")]
    assert card[f"SeiT++ - SeiT ({full} images)"]["why"] == ""
    assert card["+ TokenAdapt - baseline"]["why"] == ""  # holds
    assert "seitpp-table" in html_table(list(card.values()))  # a row without a reason still renders


def test_seeds_are_counted_per_sweep():
    assert seed_counts([{"seeds": 3}, {"seeds": 3}]) == (3,) and seed_counts([{"seeds": 3}, {"seeds": 2}]) == (2, 3)
    assert [seeds_text(s) for s in [(3,), (1,), (2, 3), ()]] == ["3 seeds", "1 seed", "2 to 3 seeds", "seeds not known"]


def test_the_summary_box_says_what_holds_and_why_the_rest_does_not():
    rows = scorecard()
    box = summary_box(rows)
    lines = box.splitlines()
    assert lines[0] == "```{admonition} What holds here, and what does not" and lines[-1] == "```"
    counted = [r for r in rows if r["counted"]]
    holding = sum(r["verdict"] == "holds" for r in counted)
    assert f"{len(counted)} comparisons of the paper's findings" in box and f": {holding} hold." in box
    for source in {r["source"] for r in counted}:
        seeds = next(r["seeds"] for r in counted if r["source"] == source)
        assert f"{source} ({SOURCES[source]}, {seeds_text(seeds)})" in box
    for source in APART:  # named as left out, its reasons not in the box
        assert f"Left out: the {source}" in box
        assert not any(why in box for (s, _, _), why in REASONS.items() if s == source)
    held = {r["finding"] for r in counted if r["verdict"] == "holds"}
    assert [line for line in lines if line.startswith("- ") and ": in " in line] == [
        line for line in lines if any(line.startswith(f"- **{f}**: in ") for f in held)]
    # one line per (finding, verdict) that does not hold, carrying its reason
    for finding, verdict in {(r["finding"], r["verdict"]) for r in counted if r["verdict"] != "holds"}:
        (line,) = [x for x in lines if x.startswith(f"- **{finding}**: {verdict} in ")]
        assert next(r["why"] for r in counted if (r["finding"], r["verdict"]) == (finding, verdict)) in line


def test_the_summary_box_says_where_a_reason_is_missing():
    rows = card_rows(Reproduce(CPU).findings(synthetic_summary()), "CPU sweep", seeds=(3,))
    box = summary_box(rows)
    assert "- **SeiT++ beats SeiT**: opposite in 3 of 3 comparisons (chapter 6). No reason written yet" in box
    assert "CPU sweep (chapters 6 and 7, 3 seeds)" in box and "Left out" not in box


def test_the_figure_has_a_panel_per_source_and_a_line_per_row():
    rows = card_rows(Reproduce(CPU).findings(synthetic_summary()), "CPU sweep")
    rows[0] = rows[0] | {"spread": math.nan, "paper": None}  # one seed, no paper number: still drawn
    rows += card_rows(Reproduce(CPU).findings(synthetic_summary()), "GPU sweep", GPU_SECTION)[:3]
    fig = scorecard_figure(rows)
    assert [ax.get_title(loc="left") for ax in fig.axes] == ["CPU sweep", "GPU sweep"]
    assert [len(ax.get_yticklabels()) for ax in fig.axes] == [len(rows) - 3, 3]
    plt.close(fig)


def test_the_introductions_box_is_the_committed_scorecards():
    """book/holds.md, which the introduction includes, is summary_box of today's card: a sweep that reruns
    and moves a verdict makes it stale until `python -m seitpp scorecard --box book/holds.md` writes it again."""
    box = Path(__file__).resolve().parents[1] / "book" / "holds.md"
    assert "{include} holds.md" in (box.parent / "intro.md").read_text(), "book/intro.md does not include holds.md"
    assert box.read_text() == summary_box(scorecard()) + "\n", \
        "book/holds.md is out of date: run python -m seitpp scorecard --box book/holds.md"
