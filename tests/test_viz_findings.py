"""Chapters 6 and 7's figures (seitpp.viz.finetune, seitpp.viz.findings) on small synthetic rows:
each is a figure whose axes are labelled, with what it was given drawn."""
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402

from seitpp.viz import (  # noqa: E402
    ablation_figure,
    budget_lines_figure,
    drops_figure,
    finetune_curves_figure,
    mtm_logs_figure,
)

SHIFTS = ("noise", "blur")


def row(method: str, images: int, top1: float) -> dict:
    return {"experiment": "budgets", "method": method, "train_images": images, "acc_clean_mean": top1,
            "acc_clean_std": 0.01, **{f"drop_{s}_mean": 0.1 for s in SHIFTS}, **{f"drop_{s}_std": 0.02 for s in SHIFTS}}


def labelled(fig: plt.Figure) -> bool:
    return all(ax.get_xlabel() or ax.get_xticklabels() for ax in fig.axes) and any(ax.get_ylabel() for ax in fig.axes)


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def test_mtm_logs_draw_a_line_per_budget_in_each_panel():
    log = [{"step": 0, "val_loss": 6.3, "val_probe_top1": 0.08}, {"step": 5, "val_loss": "", "val_probe_top1": ""},
           {"step": 10, "val_loss": 4.5, "val_probe_top1": 0.12}]
    fig = mtm_logs_figure({2000: log, 429: log}, chance=1 / 12)
    assert labelled(fig) and [len(ax.get_lines()) for ax in fig.axes] == [2, 3]  # the probe panel has chance too


def test_finetune_curves_draw_a_line_per_seed_and_a_legend_entry_per_method():
    log = [{"step": s, "loss": 2.5 - s / 10} for s in range(5)] + [{"step": 5, "loss": ""}]
    fig = finetune_curves_figure({"SeiT": [log, log], "SeiT++": [log]}, "fine-tuning")
    (ax,) = fig.axes
    assert labelled(fig) and len(ax.get_lines()) == 3 and len(ax.get_lines()[0].get_xdata()) == 5
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["SeiT", "SeiT++"]


def test_ablation_draws_gains_over_the_baseline_here_and_the_papers_on_one_axis():
    fig = ablation_figure({"baseline": row("baseline", 1, 0.4), "+ naive warps": row("+ naive warps", 1, 0.45),
                           "+ both": row("+ both", 1, 0.5)}, {"baseline": 78.0, "+ both": 81.0}, title="ablation")
    (ax,) = fig.axes  # gains over the baseline, ours and the paper's, on one axis
    heights = sorted(round(b.get_height(), 6) for b in ax.patches)
    assert labelled(fig) and heights == [3.0, 5.0, 10.0]  # the paper has no naive-warp bar


def test_budget_lines_share_one_scale_across_sweeps():
    summary = [row("SeiT", n, t) for n, t in ((429, 0.4), (2000, 0.6))]
    fig = budget_lines_figure({"a": summary, "b": summary}, ["SeiT"], 1 / 12, "top-1 (%)")
    assert labelled(fig) and len(fig.axes) == 2 and fig.axes[0].get_ylim() == fig.axes[1].get_ylim()


def test_drops_draw_a_bar_per_model_and_shift():
    fig = drops_figure({"SeiT": row("SeiT", 1, 0.5), "SeiT++": row("SeiT++", 1, 0.6)}, SHIFTS, "drops")
    (ax,) = fig.axes
    assert labelled(fig) and len(ax.patches) == 4
