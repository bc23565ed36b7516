"""Chapter 6's figures: what MTM learned on each budget, how fine-tuning runs went, the ablation
beside the paper's, and the first sweep's learned tables. Each draws rows the sweep wrote (its
summary rows, or the training logs of `work/histories/`), read by `seitpp.experiments.read_results`.
"""
from __future__ import annotations

from typing import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np

from seitpp.experiments.tables import difference
from seitpp.viz.findings import legend_above_the_bars


def _chance_line(ax: plt.Axes, chance: float) -> None:
    ax.axhline(100 * chance, color="grey", ls=":", lw=1, label="chance")


def mtm_logs_figure(logs: Mapping[int, Sequence[dict]], chance: float) -> plt.Figure:
    """MTM on each budget (training images -> its log rows): the masked-token loss on validation
    images (left) and the kNN label probe on the frozen encoder (right), by step, against chance."""
    fig, (loss_ax, probe_ax) = plt.subplots(1, 2, figsize=(10, 3.4))
    for n, log in sorted(logs.items(), reverse=True):
        scored = [r for r in log if r["val_loss"] != ""]
        loss_ax.plot([r["step"] for r in scored], [r["val_loss"] for r in scored], marker=".", label=f"{n} images")
        probed = [r for r in log if r["val_probe_top1"] != ""]
        probe_ax.plot([r["step"] for r in probed], [100 * r["val_probe_top1"] for r in probed], marker=".",
                      label=f"{n} images")
    _chance_line(probe_ax, chance)
    loss_ax.set(xlabel="MTM step", ylabel="masked-token loss, validation (nats)", title="MTM's own objective")
    probe_ax.set(xlabel="MTM step", ylabel="kNN label probe, validation (%)", title="what a classifier could use")
    for ax in (loss_ax, probe_ax):
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def finetune_curves_figure(logs: Mapping[str, Sequence[Sequence[dict]]], title: str) -> plt.Figure:
    """Fine-tuning runs (method -> one log per seed): the training loss by step, one line per seed,
    one colour per method. Where a model fits its training images, its loss falls below the others'."""
    fig, ax = plt.subplots(figsize=(7, 3.4))
    for i, (method, seeds) in enumerate(logs.items()):
        for j, log in enumerate(seeds):
            rows = [r for r in log if r["loss"] != ""]
            ax.plot([r["step"] for r in rows], [r["loss"] for r in rows], color=f"C{i}", alpha=0.8, lw=1,
                    label=method if j == 0 else None)
    ax.set(xlabel="fine-tuning step", ylabel="training loss (label smoothing 0.1)", title=title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def ablation_figure(ablation: Mapping[str, dict], paper: Mapping[str, float], title: str) -> plt.Figure:
    """The ablation's variants (variant -> summary row) as gains over its "baseline" row, in points: here (mean
    difference, with the two rows' spreads combined) beside the paper's ImageNet-100 gains for the variants it
    has, on one axis, so that the two are read on the same scale."""
    variants = [v for v in ablation if v != "baseline"]
    ours, spread = zip(*(difference(ablation["baseline"], ablation[v]) for v in variants))
    x = np.arange(len(variants))
    fig, ax = plt.subplots(figsize=(8, 3.8))
    ax.bar(x - 0.2, ours, 0.4, yerr=spread, capsize=4, color="tab:blue", label=title)
    in_paper = [i for i, v in enumerate(variants) if v in paper]  # the paper has no naive-warp row
    ax.bar(x[in_paper] + 0.2, [paper[variants[i]] - paper["baseline"] for i in in_paper], 0.4, color="tab:orange",
           label="the paper: ImageNet-100, ViT-S")
    ax.axhline(0, color="k", lw=0.8)
    ax.set_xticks(x, variants)
    ax.set(ylabel="top-1 gain over the baseline (points)")
    ax.grid(axis="y", alpha=0.3)
    legend_above_the_bars(ax)
    fig.tight_layout()
    return fig


def budget_lines_figure(panels: Mapping[str, Sequence[dict]], methods: Sequence[str], chance: float,
                        ylabel: str) -> plt.Figure:
    """One panel per sweep (title -> its summary rows): top-1 of each method against its training
    images, mean and spread over seeds, on one shared scale."""
    fig, axes = plt.subplots(1, len(panels), figsize=(5 * len(panels), 3.6), sharey=True, squeeze=False)
    for ax, (title, summary) in zip(axes[0], panels.items()):
        for method in methods:
            rows = sorted((r for r in summary if r["experiment"] == "budgets" and r["method"] == method),
                          key=lambda r: r["train_images"])
            ax.errorbar([r["train_images"] for r in rows], [100 * r["acc_clean_mean"] for r in rows],
                        yerr=[100 * r["acc_clean_std"] for r in rows], marker="o", capsize=3, label=method)
        _chance_line(ax, chance)
        ax.set(xlabel="training images (budget)", title=title)
        ax.grid(alpha=0.3)
    axes[0, 0].set_ylabel(ylabel)
    axes[0, -1].legend(fontsize=8)
    fig.tight_layout()
    return fig
