"""What runs cost on a machine: chapter 9's figures of training on a GPU (the launched runs'
logs, the loader's rate against the training step, the GPU sweep's training curves) and chapter
90's wall time to execute each chapter. Plain matplotlib; every function returns its figure."""
from __future__ import annotations

from typing import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np

from seitpp.experiments.recipe import METHOD_NAMES


def launched_runs_figure(logs: Mapping[str, Sequence[dict]], preset: str, killed_at: Mapping[str, int]) -> plt.Figure:
    """Training loss by step of each launched run, a panel per run.

    logs: run name -> its history.csv rows (step, loss); preset: the preset they ran;
    killed_at: run name -> the step it was killed at and resumed from (a dotted line).
    """
    fig, axes = plt.subplots(1, len(logs), figsize=(10, 3.2), squeeze=False)
    for ax, (name, log) in zip(axes[0], logs.items()):
        ax.plot([r["step"] for r in log], [r["loss"] for r in log], marker=".")
        ax.set(xlabel="step", ylabel="training loss", title=f"{name}: {preset}")
        if name in killed_at:
            ax.axvline(killed_at[name], color="grey", ls=":", label=f"killed and resumed (step {killed_at[name]})")
            ax.legend()
    fig.tight_layout()
    return fig


def loader_figure(loaders: Sequence[dict], step: dict) -> plt.Figure:
    """Images per second of each batch transform (log scale), the token set in GPU memory (blue) or
    pinned host memory (orange), against the training step's rate and five times it.

    loaders: benchmark rows (policy, memory, images_per_s); step: the training step's row
    (images_per_s, device, num_images, date).
    """
    fig, ax = plt.subplots(figsize=(8, 3.4))
    labels = [f"{r['policy']}\n({r['memory']})" for r in loaders]
    ax.bar(range(len(loaders)), [r["images_per_s"] for r in loaders],
           color=["C0" if r["memory"] == "gpu" else "C1" for r in loaders])
    ax.axhline(step["images_per_s"], color="k", label=f"ViT-B training step ({step['images_per_s']:,.0f} images/s)")
    ax.axhline(5 * step["images_per_s"], color="k", ls="--", label="goal: 5 x the step")
    ax.set_yscale("log")
    ax.set_xticks(range(len(loaders)), labels, fontsize=8)
    ax.set(ylabel="images per second (log)", xlabel="batch transform (where the token set is kept)",
           title=f"Loader against the ViT-B step, {step['device']}, {step['num_images']:,} grids, {step['date']}")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def gpu_curves_figure(finetune_logs: Mapping[str, Mapping[int, Sequence[dict]]], mtm_log: Sequence[dict],
                      codebook_size: int) -> plt.Figure:
    """The GPU sweep's fine-tuning loss, one line per seed in its method's colour (left), and MTM's
    masked-token loss against a uniform guess over `codebook_size` codes (right).

    finetune_logs: method (of `METHOD_NAMES`) -> seed -> its history rows (step, loss); seed 0
    names the method in the legend. mtm_log: the pre-training history rows.
    """
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.4))
    for method, seeds in finetune_logs.items():
        for seed, log in seeds.items():
            axes[0].plot([r["step"] for r in log], [r["loss"] for r in log], alpha=0.8,
                         color=f"C{METHOD_NAMES.index(method)}", label=method if seed == 0 else None)
    axes[0].set(xlabel="fine-tuning step", ylabel="training loss", title="Fine-tuning, ViT-S, 20,000 images (H200)")
    axes[0].legend(fontsize=7)
    axes[1].plot([r["step"] for r in mtm_log], [r["loss"] for r in mtm_log])
    axes[1].axhline(np.log(codebook_size), color="grey", ls=":", label=f"uniform over {codebook_size} codes")
    axes[1].set(xlabel="pre-training step", ylabel="masked-token loss", title="MTM pre-training (H200)")
    axes[1].legend(fontsize=8)
    fig.tight_layout()
    return fig


def chapter_times_figure(chapters: Sequence[str], seconds: Mapping[str, Sequence[float]]) -> plt.Figure:
    """Wall time to execute each chapter (log scale), a bar per mode side by side.

    chapters: notebook names (the tick shows the part before the first "_"); seconds: mode (e.g.
    "fast", "full") -> one time per chapter, NaN where that mode is not measured yet (no bar).
    """
    fig, ax = plt.subplots(figsize=(8, 3.6))
    x = np.arange(len(chapters))
    width = 0.8 / len(seconds)
    for k, (mode, times) in enumerate(seconds.items()):
        ax.bar(x + (k - (len(seconds) - 1) / 2) * width, times, width=width, label=f"{mode} mode")
    ax.set(yscale="log", ylabel="wall time (s, log scale)", xlabel="chapter", xticks=x)
    ax.set_xticklabels([c.split("_")[0] for c in chapters])
    ax.legend()
    fig.tight_layout()
    return fig
