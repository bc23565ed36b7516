"""Chapter 1's figures of images as tokens (`seitpp.tokenizers`): the tokenizer's training log,
how often each code is used, what shrinking the codebook costs, the bytes each storage format
takes (chapter 8's inputs too) and the first token classifier's training. Plain matplotlib; every
function returns its figure."""
from __future__ import annotations

from typing import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.ticker import PercentFormatter

from seitpp.tokenizers import TokenizerReport


def tokenizer_training_figure(history: Sequence[dict], codebook_size: int) -> plt.Figure:
    """The reconstruction loss (log scale) and the distinct codes of each batch, by step.

    history: rows of `seitpp.tokenizers.train.train_tokenizer` (keys step, rec_loss, codes_in_batch);
    codebook_size: K, for the right panel's title.
    """
    steps = [h["step"] for h in history]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 3.2))
    ax1.plot(steps, [h["rec_loss"] for h in history])
    ax1.set(xlabel="step", ylabel="reconstruction loss (L1 + edge L1)", yscale="log", title="training loss")
    ax2.plot(steps, [h["codes_in_batch"] for h in history])
    ax2.set(xlabel="step", ylabel="distinct codes in the batch", title=f"codebook use (K = {codebook_size})")
    fig.tight_layout()
    return fig


def code_use_figure(reports: Mapping[str, TokenizerReport]) -> plt.Figure:
    """Each code's share of all tokens, codes sorted from most to least used (log scale), one line
    per tokenizer: label -> its `evaluate_tokenizer` report (counts (K,), perplexity in the legend)."""
    fig, ax = plt.subplots(figsize=(7, 3))
    for name, r in reports.items():
        share = r.counts.sort(descending=True).values.double() / r.counts.sum()
        ax.plot(np.arange(1, len(share) + 1), share.numpy(), label=f"{name}, perplexity {r.perplexity:.0f}")
    ax.set(xlabel="code rank (most used first)", ylabel="share of all tokens", yscale="log")
    ax.yaxis.set_major_formatter(PercentFormatter(1.0))
    ax.legend()
    fig.tight_layout()
    return fig


def codebook_size_figure(rows: Sequence[dict]) -> plt.Figure:
    """Reconstruction PSNR against bits per token as the codebook shrinks, one line per way of
    shrinking it.

    rows: one per (method, K), keys method, K, bits/token, PSNR dB; the first method's points are
    annotated with their K.
    """
    methods = list(dict.fromkeys(r["method"] for r in rows))
    fig, ax = plt.subplots(figsize=(6, 3.5))
    for method in methods:
        sel = [r for r in rows if r["method"] == method]
        ax.plot([r["bits/token"] for r in sel], [r["PSNR dB"] for r in sel], "o-", label=method)
    for r in (r for r in rows if r["method"] == methods[0]):
        ax.annotate(f"K={r['K']}", (r["bits/token"], r["PSNR dB"]), textcoords="offset points", xytext=(4, -10),
                    fontsize=8)
    ax.set(xlabel="bits per token (log2 K)", ylabel="reconstruction PSNR (dB)")
    ax.legend()
    fig.tight_layout()
    return fig


def storage_bars(names: Sequence[str], bytes_per_image: Sequence[float], xlabel: str, ylabel: str = "",
                 title: str = "", highlight: str | None = None, figsize: tuple[float, float] = (7, 4)) -> plt.Figure:
    """Bytes per stored image of each format, horizontal bars on a log scale, the first format on
    top; formats whose name contains `highlight` in orange, the others blue (chapters 1 and 8)."""
    fig, ax = plt.subplots(figsize=figsize)
    ax.barh(names, bytes_per_image, color=["tab:orange" if highlight and highlight in n else "tab:blue" for n in names])
    ax.set(xscale="log", xlabel=xlabel, ylabel=ylabel, title=title)
    ax.invert_yaxis()
    fig.tight_layout()
    return fig


def classifier_figure(log: Mapping[str, Sequence[float]], chance: float, window: int, num_val: int) -> plt.Figure:
    """The token classifier's training loss per step with its running mean over `window` steps
    (left), and its top-1 on `num_val` validation objects at each evaluation against `chance` (right).

    log: keys loss (one per step), eval_step and val_top1 (in [0, 1], one per evaluation).
    """
    steps = len(log["loss"])
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 3.2))
    ax1.plot(np.arange(1, steps + 1), log["loss"], color="tab:blue", alpha=0.25, linewidth=0.8, label="per step")
    running = np.convolve(log["loss"], np.ones(window) / window, mode="valid")
    ax1.plot(np.arange(window, steps + 1), running, color="tab:blue", label=f"mean of {window} steps")
    ax1.set(xlabel="step", ylabel="training loss (cross-entropy)")
    ax1.legend()
    ax2.plot(log["eval_step"], [100 * a for a in log["val_top1"]], "o-", color="tab:orange")
    ax2.axhline(100 * chance, color="grey", linestyle="--", label="chance")
    ax2.set(xlabel="step", ylabel=f"top-1 on {num_val} validation objects (%)", ylim=(0, None))
    ax2.legend()
    fig.tight_layout()
    return fig
