"""The sweeps' results against the paper: `budget_figure` and `storage_frontier_figure` draw the
reproduction sweep's summary rows (`seitpp.experiments.reproduce`, chapter 7), `scorecard_figure`
every finding of the scorecard (`seitpp.experiments.scorecard`)."""
from __future__ import annotations

from typing import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.ticker import NullFormatter


def _errorbar(ax: plt.Axes, rows: Sequence[dict], x: Sequence[float], label: str, **style) -> None:
    y = [100 * r["acc_clean_mean"] for r in rows]
    err = [100 * r["acc_clean_std"] for r in rows]
    ax.errorbar(x, y, yerr=err, capsize=3, label=label, **({"marker": "o"} | style))


def budget_figure(summary: Sequence[dict], paper: Mapping[str, Sequence[float]], paper_gb: Sequence[float],
                  chance: float) -> plt.Figure:
    """Top-1 against the training set's storage, per method: this book's sweep (mean and spread
    over seeds) beside the paper's ImageNet numbers, on one top-1 scale (0 to 100%)."""
    fig, (ours, theirs) = plt.subplots(1, 2, figsize=(11, 4), sharey=True)
    methods = list(dict.fromkeys(r["method"] for r in summary if r["experiment"] == "budgets"))
    for method in methods:
        rows = sorted((r for r in summary if r["experiment"] == "budgets" and r["method"] == method),
                      key=lambda r: r["train_bytes"])
        _errorbar(ours, rows, [r["train_bytes"] / 1e3 for r in rows], method)
        if method in paper:
            theirs.plot(paper_gb, paper[method], marker="o", label=method)
    ours.axhline(100 * chance, color="grey", ls=":", lw=1, label="chance")
    ours.set(xlabel="training set stored as tokens (kB)", ylabel="top-1 on held-out images (%)",
             title="this book: Shapes, ViT-micro, CPU")
    theirs.set(xlabel="training set stored as tokens (GB)", ylabel="ImageNet-1k top-1 (%)",
               title="the paper: ImageNet-1k, ViT-B/16")
    ours.set_ylim(0, 100)
    theirs.tick_params(labelleft=True)
    for ax in (ours, theirs):
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def storage_frontier_figure(summary: Sequence[dict], chance: float) -> plt.Figure:
    """Top-1 against bytes: every method and format of the sweep, and the frontier they trace.

    Left: against the storage of the whole training set (token methods at every budget, pixel
    formats at the full set), with the upper envelope of all points. Right: against the bytes of
    one stored image, at the full set.
    """
    fig, (total, per_image) = plt.subplots(1, 2, figsize=(11, 4.2))
    points = []
    token_rows = [r for r in summary if r["experiment"] == "budgets"]
    full = max(r["train_images"] for r in token_rows)
    for method in dict.fromkeys(r["method"] for r in token_rows):
        rows = sorted((r for r in token_rows if r["method"] == method), key=lambda r: r["train_bytes"])
        _errorbar(total, rows, [r["train_bytes"] for r in rows], method)
        points += [(r["train_bytes"], 100 * r["acc_clean_mean"]) for r in rows]
        top = [r for r in rows if r["train_images"] == full]
        _errorbar(per_image, top, [r["bytes_per_image"] for r in top], method, ls="none")
    for r in (r for r in summary if r["experiment"] == "pixels"):
        for ax, x in ((total, r["train_bytes"]), (per_image, r["bytes_per_image"])):
            _errorbar(ax, [r], [x], f"pixel ViT: {r['method']}", marker="s", ls="none")
        points.append((r["train_bytes"], 100 * r["acc_clean_mean"]))
    frontier, best = [], -1.0
    for x, y in sorted(points):  # the best accuracy reachable with at most x bytes
        if y > best:
            frontier.append((x, y))
            best = y
    fx, fy = zip(*frontier)
    total.step(fx, fy, where="post", color="black", lw=1, ls="--", label="frontier")
    total.set(xscale="log", xlabel="training set storage (bytes, log scale)", ylabel="top-1 on held-out images (%)",
              title="accuracy per byte of training data")
    per_image.set(xscale="log", xlabel="bytes per stored image (log scale)", ylabel="top-1 on held-out images (%)",
                  title=f"at the full training set ({full} images)")
    for ax in (total, per_image):
        ax.axhline(100 * chance, color="grey", ls=":", lw=1)
        ax.xaxis.set_minor_formatter(NullFormatter())  # log axes label minor ticks, which collide
        ax.grid(alpha=0.3)
    per_image.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.02, 0.5))
    fig.tight_layout()
    return fig


VERDICT_COLOURS = {"holds": "tab:green", "opposite": "tab:red", "unclear": "tab:grey", "uninformative": "lightgrey"}


def scorecard_figure(rows: Sequence[dict]) -> plt.Figure:
    """Every scorecard row as our difference ± its spread (coloured by verdict) beside the paper's
    difference, one panel per source; right of zero is the paper's direction."""
    sources = list(dict.fromkeys(r["source"] for r in rows))
    sizes = [sum(r["source"] == s for r in rows) for s in sources]
    fig, axes = plt.subplots(len(sources), 1, figsize=(9, 1.2 + 0.24 * len(rows)), squeeze=False,
                             gridspec_kw={"height_ratios": sizes})
    for ax, source in zip(axes[:, 0], sources):
        mine = [r for r in rows if r["source"] == source]
        y = np.arange(len(mine))[::-1]
        for yi, r in zip(y, mine):
            spread = 0.0 if np.isnan(r["spread"]) else r["spread"]
            ax.errorbar(r["difference"], yi, xerr=spread, marker="o", capsize=3, color=VERDICT_COLOURS[r["verdict"]])
            if r["paper"] is not None:
                ax.plot(r["paper"], yi, marker="x", color="tab:orange", ls="none")
        ax.axvline(0, color="black", lw=0.8)
        ax.set_yticks(y, [r["comparison"] for r in mine], fontsize=7)
        ax.set_ylim(-0.7, len(mine) - 0.3)
        ax.set_title(source, fontsize=9, loc="left")
        ax.grid(axis="x", alpha=0.3)
    handles = [plt.Line2D([], [], marker="o", color=c, ls="none", label=f"ours: {v}") for v, c in VERDICT_COLOURS.items()]
    handles.append(plt.Line2D([], [], marker="x", color="tab:orange", ls="none", label="the paper"))
    axes[-1, 0].set_xlabel("difference the paper says is positive (points; bar: spread over seeds)")
    top = 1 - 0.35 / fig.get_figheight()  # room for the legend above the panels
    fig.legend(handles=handles, fontsize=7, loc="upper center", ncol=len(handles), bbox_to_anchor=(0.5, 1.0))
    fig.tight_layout(rect=(0, 0, 1, top))
    return fig


def drops_figure(models: Mapping[str, dict], shifts: Sequence[str], title: str) -> plt.Figure:
    """Points each model (name -> summary row) loses from its own clean top-1 under each shift, mean and
    spread over seeds, one bar per model in each shift's group (lower is more robust)."""
    fig, ax = plt.subplots(figsize=(9, 3.8))
    width = 0.8 / len(models)
    for i, (name, r) in enumerate(models.items()):
        ax.bar(np.arange(len(shifts)) + i * width, [100 * r[f"drop_{s}_mean"] for s in shifts], width,
               yerr=[100 * r[f"drop_{s}_std"] for s in shifts], capsize=2, label=name)
    ax.set_xticks(np.arange(len(shifts)) + 0.4 - width / 2, shifts)
    ax.set(xlabel="test set", ylabel="points lost from clean top-1", title=title)
    legend_above_the_bars(ax, ncol=3)
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    return fig


def legend_above_the_bars(ax: plt.Axes, ncol: int = 2) -> None:
    """The legend in a band of its own above the tallest bar (the y axis grows by a third), so that it
    hides none of them whatever the data."""
    low, high = ax.get_ylim()
    ax.set_ylim(low, high + (high - low) / 3)
    ax.legend(fontsize=7, ncol=ncol, loc="upper left")
