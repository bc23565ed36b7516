"""Chapter 5's figures of masked token modeling (`seitpp.models.mtm`): what MTM adds in the paper,
one mask on a token grid, the masking ratios drawn, predictions before and after training, the
training loss and the held-out scores against baselines that need no training, and accuracy by
visible neighbours. Plain matplotlib; every function returns its figure."""
from __future__ import annotations

import math
from typing import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.patches import Patch, Rectangle

from seitpp.augment import centre_crop
from seitpp.models import MaskedTokenModel, MTMConfig
from seitpp.tokenizers import VQTokenizer
from seitpp.viz.gallery import hwc


def paper_gain_figure(gains: Mapping[str, Sequence[float]], budgets_gb: Sequence[float]) -> plt.Figure:
    """The top-1 points MTM adds at each of the paper's storage budgets.

    gains: label (e.g. "SeiT -> SeiT + MTM") -> points at each budget; budgets_gb: the budgets in GB
    (`seitpp.experiments.paper.PAPER_BUDGET_GB`), drawn smallest to the right.
    """
    fig, ax = plt.subplots(figsize=(5.5, 3))
    for label, gain in gains.items():
        ax.plot(budgets_gb, gain, "o-", label=label)
    ax.set(xlabel="storage budget (GB of tokens, ImageNet-1k)", ylabel="top-1 gain from MTM (points)",
           title="what MTM adds in the paper", xlim=(max(budgets_gb) + 0.1, min(budgets_gb) - 0.1))
    ax.legend()
    fig.tight_layout()
    return fig


def masking_figure(tokenizer: VQTokenizer, image: np.ndarray, image_title: str, ids: torch.Tensor, crop: int,
                   mask: torch.Tensor, drop: torch.Tensor, ratio: float) -> plt.Figure:
    """One mask on one image, a panel per idea, each large enough to read a token.

    image: uint8 (S, S, 3); ids: its tokens (H, W); crop: the side of the centre crop the model
    reads; mask, drop: (h, w) bool over the crop's patches (1 = masked, 1 = dropped from the
    encoder), drawn at `ratio`. Panels: (a) the image, (b) its ids with the crop boxed, (c) the
    crop decoded, (d) each patch dropped, replaced by mask tokens, or visible.
    """
    H, W = ids.shape
    h, w = mask.shape
    decoded = tokenizer.decode_many(centre_crop(ids[None], crop))[0]  # (3, crop*d, crop*d)
    p = decoded.shape[-1] // w  # pixels per patch
    mask, drop = mask.bool(), drop.bool()
    num_masked, num_dropped = int(mask.sum()), int(drop.sum())
    fig, axes = plt.subplots(2, 2, figsize=(10, 10.5))
    axes = axes.flatten()
    axes[0].imshow(image)
    axes[0].set(title=f"(a) {image_title}, {image.shape[0]} x {image.shape[1]} pixels",
                xlabel="x (pixels)", ylabel="y (pixels)")
    # ids are names, not amounts: each id gets its own arbitrary colour (no colour scale, no order)
    palette = np.random.default_rng(0).uniform(0.15, 0.95, (tokenizer.config.codebook_size, 3))
    axes[1].imshow(palette[ids.cpu().numpy()], interpolation="nearest")
    top, left = (H - crop) // 2, (W - crop) // 2  # where centre_crop cuts
    axes[1].add_patch(Rectangle((left - 0.5, top - 0.5), crop, crop, fill=False, edgecolor="white", linewidth=2))
    axes[1].set(title=f"(b) its {H} x {W} token ids, one colour per id; the {crop} x {crop} crop boxed",
                xlabel="token column", ylabel="token row", xticks=range(0, W, 3), yticks=range(0, H, 3))
    axes[2].imshow(hwc(decoded))
    axes[2].set(title=f"(c) the crop's tokens, decoded ({decoded.shape[-2]} x {decoded.shape[-1]} pixels)",
                xlabel="x (pixels)", ylabel="y (pixels)")
    axes[3].imshow(hwc(decoded))
    for r in range(h):
        for c in range(w):
            if drop[r, c]:
                axes[3].add_patch(Rectangle((p * c - 0.5, p * r - 0.5), p, p, facecolor="0.25", alpha=0.9))
            elif mask[r, c]:
                axes[3].add_patch(Rectangle((p * c - 0.5, p * r - 0.5), p, p, facecolor="tab:orange", alpha=0.75))
    axes[3].set(xticks=np.arange(w) * p + p / 2 - 0.5, xticklabels=range(w), yticks=np.arange(h) * p + p / 2 - 0.5,
                yticklabels=range(h),
                xlabel=f"patch column ({crop // w} x {crop // w} tokens each)", ylabel="patch row",
                title=f"(d) one mask at r = {ratio}: {num_masked} of {h * w} patches masked")
    axes[3].legend(handles=[Patch(facecolor="0.25", label=f"masked, dropped ({num_dropped})"),
                            Patch(facecolor="tab:orange", label=f"masked, mask token ({num_masked - num_dropped})"),
                            Patch(facecolor="white", edgecolor="0.5", label=f"visible ({h * w - num_masked})")],
                   loc="upper center", bbox_to_anchor=(0.5, -0.12), ncol=3, fontsize=9)
    fig.tight_layout()
    return fig


def ratio_histogram(draws: np.ndarray, config: MTMConfig) -> plt.Figure:
    """A histogram of masking ratios `draws` (from `truncated_normal` with `config`'s settings), with
    the fixed share of dropped patches (dashed) and the draws' mean."""
    low, high = config.mask_ratio_min, config.mask_ratio_max
    fig, ax = plt.subplots(figsize=(7, 3.2))
    ax.hist(draws, bins=60, range=(low, high), density=True, color="tab:blue", alpha=0.8, label=f"{len(draws):,} draws")
    ax.axvline(low, color="black", linestyle="--", label=f"fixed drop: {low:.0%} of patches never enter the encoder")
    ax.axvline(draws.mean(), color="tab:orange", label=f"mean of the draws ({draws.mean():.2f})")
    ax.set(xlabel=f"masking ratio r (share of the {config.num_patches} patches masked)", ylabel="density",
           title=f"N({config.mask_ratio_mean}, {config.mask_ratio_std}) truncated to [{low}, {high}]",
           xlim=(low - 0.05, high + 0.02))
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def _greyed(images: torch.Tensor, grid_mask: torch.Tensor) -> torch.Tensor:
    """images (B, 3, d*H, d*W), grid_mask (B, H, W) bool -> the images with masked tokens' pixels grey."""
    d = images.shape[-1] // grid_mask.shape[-1]
    pixel_mask = grid_mask.repeat_interleave(d, 1).repeat_interleave(d, 2)[:, None]  # (B, 1, d*H, d*W)
    return torch.where(pixel_mask, torch.full_like(images, 0.5), images)


def prediction_figure(model: MaskedTokenModel, tokenizer: VQTokenizer, crops: torch.Tensor, title: str,
                      show: Sequence[int] = (1, 5), ratios: Sequence[float] = (0.5, 0.75)) -> plt.Figure:
    """What `model` predicts for the crops `show` of `crops` (N, H, W) at each ratio, the same masks
    for every model (one seed).

    Rows: (ratio, image); columns: the crop decoded, the input with its masked tokens grey, the
    prediction decoded, captioned with the share of masked tokens predicted exactly right.
    """
    model.eval()
    ids = crops[list(show)]
    fig, axes = plt.subplots(len(ratios) * len(show), 3, figsize=(6.3, 2.3 * len(ratios) * len(show)))
    for a, ratio in enumerate(ratios):
        pred, grid_mask = model.predict(ids, ratio=ratio, generator=torch.Generator().manual_seed(1))
        decoded = tokenizer.decode_many(ids)
        panels = [decoded, _greyed(decoded, grid_mask), tokenizer.decode_many(pred)]
        for b, index in enumerate(show):
            row = axes[a * len(show) + b]
            right = (pred[b][grid_mask[b]] == ids[b][grid_mask[b]]).float().mean().item()
            for ax, images, name in zip(row, panels, ["crop, decoded", "input (masked: grey)", "prediction, decoded"]):
                ax.imshow(hwc(images[b]))
                ax.set(xticks=[], yticks=[])
                if a == 0 and b == 0:
                    ax.set_title(name, fontsize=9)
            row[0].set_ylabel(f"image {index}\nr = {ratio}", fontsize=9)
            row[2].set_xlabel(f"{right:.1%} of {int(grid_mask[b].sum())} masked tokens right", fontsize=8)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def loss_figure(history: Sequence[dict], log_every: int, model_name: str, codebook_size: int,
                frequency_level: float) -> plt.Figure:
    """The masked-token training loss by step (history rows of `seitpp.engine.train`, each the mean
    of `log_every` steps) against a uniform guess over the codes and a prediction of their
    frequencies (`frequency_level`, from `seitpp.models.frequency_loss`)."""
    fig, ax = plt.subplots(figsize=(7, 3.4))
    ax.plot([h["step"] for h in history], [h["loss"] for h in history], "o-", ms=3,
            label=f"MTM training loss (mean of {log_every} steps)")
    ax.axhline(math.log(codebook_size), color="0.4", linestyle=":", label=f"uniform guess (ln {codebook_size})")
    ax.axhline(frequency_level, color="tab:red", linestyle="--", label="predict the code frequencies")
    ax.set(xlabel="step", ylabel="cross-entropy on masked tokens (nats)", title=f"pre-training {model_name}")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def scores_figure(table: Mapping[float, Mapping[str, dict]], title: str) -> plt.Figure:
    """Loss and share right against the masking ratio, models solid, baselines dashed.

    table: ratio -> model name -> `seitpp.models.masked_token_scores`; the baselines are read from
    the first model's scores (every model had the same masks).
    """
    ratios = list(table)
    names = list(table[ratios[0]])
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 3.8))
    for n in names:
        left.plot(ratios, [table[r][n]["loss"] for r in ratios], "o-", label=n)
        right.plot(ratios, [100 * table[r][n]["top1"] for r in ratios], "o-", label=f"{n}, top-1")
    base = [table[r][names[0]] for r in ratios]
    left.plot(ratios, [b["loss_uniform"] for b in base], ":", color="0.4", label="uniform guess")
    left.plot(ratios, [b["loss_frequencies"] for b in base], "s--", color="tab:red", label="code frequencies")
    right.plot(ratios, [100 * b["top1_most_frequent"] for b in base], "s--", color="0.4",
               label="most frequent token")
    right.plot(ratios, [100 * b["top1_most_frequent_visible"] for b in base], "s--", color="tab:red",
               label="most frequent visible token")
    left.set(xlabel="masking ratio r", ylabel="masked-token loss (nats)", title="loss (lower is better)")
    right.set(xlabel="masking ratio r", ylabel="masked tokens predicted right (%)", title="share right")
    for ax in (left, right):
        ax.legend(fontsize=8)
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def neighbours_figure(counts: Sequence[int], model_right: Sequence[float], baseline_right: Sequence[float],
                      title: str, model_label: str = "the sweep's encoder") -> plt.Figure:
    """Share of masked tokens predicted right, by how many of their 8 neighbours are visible:
    the model's and the most frequent visible token's (both in [0, 1], one per count)."""
    fig, ax = plt.subplots(figsize=(7, 3.4))
    width = 0.4
    ax.bar(np.array(counts) - width / 2, [100 * r for r in model_right], width, label=model_label)
    ax.bar(np.array(counts) + width / 2, [100 * r for r in baseline_right], width, label="most frequent visible token")
    ax.set(xlabel="visible neighbours of the masked token (of 8)", ylabel="predicted right (%)", xticks=counts,
           title=title)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig
