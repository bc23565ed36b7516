"""Chapter 2's figures of naive token augmentation (`seitpp.augment.naive`): agreement beside its
floor (`agreement_panels`, one panel per augmentation family, the floor's bar first in each), where
two id grids differ (`disagreement_figure`), and one patch under a flip (`flip_zoom_figure`)."""
from __future__ import annotations

from typing import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.ticker import PercentFormatter

from seitpp.augment.naive import FlipZoom
from seitpp.viz.gallery import hwc

FLOOR_BAR = {"color": "0.8", "hatch": "//", "edgecolor": "0.35"}  # how every floor bar is drawn


def floor_bars(ax: plt.Axes, labels: Sequence[str], values: Sequence[float], floor: float,
               floor_label: str = "floor", percent: bool = True, slots: int | None = None) -> None:
    """Bars of `values` (one per label) after a first, hatched grey bar for the floor, each bar
    with its value written above it. `slots`: room for that many bars, so that panels with
    different numbers of bars draw them equally wide."""
    names, heights = [floor_label, *labels], [floor, *values]
    colours = [FLOOR_BAR["color"]] + ["C0"] * len(labels)
    bars = ax.bar(range(len(heights)), heights, width=0.7, color=colours, edgecolor="0.35")
    bars[0].set_hatch(FLOOR_BAR["hatch"])
    ax.axhline(floor, color="0.35", ls="--", lw=0.8)  # the floor's level, carried across to every bar
    ax.set_xlim(-0.6, max(slots or 0, len(heights)) - 0.4)
    ax.bar_label(bars, labels=[f"{v:.0%}" if percent else f"{v:.1f}" for v in heights], fontsize=7, padding=1)
    ax.set_xticks(range(len(heights)), names, fontsize=8)
    if percent:
        ax.set_ylim(0, 1.12)
        ax.yaxis.set_major_formatter(PercentFormatter(1.0))
    else:
        ax.margins(y=0.15)


def agreement_panels(results: Mapping[str, Sequence[tuple[float, float]]], floor: float,
                     strength_units: Mapping[str, str], ylabel: str = "ids equal to T(A(x))",
                     floor_label: str = "floor", percent: bool = True, ncols: int = 3) -> plt.Figure:
    """One panel per augmentation family: a bar per strength, the floor's bar first.

    results: family -> [(strength, value), ...]; strength_units: family -> what its strengths
    are (the panel's x label), so no axis mixes the units of two families. Every panel shares the
    y axis (`ylabel`; `percent` for shares of ids, otherwise e.g. dB).
    """
    nrows = -(-len(results) // ncols)
    slots = 1 + max(len(runs) for runs in results.values())
    fig, axes = plt.subplots(nrows, ncols, figsize=(3.4 * ncols, 2.7 * nrows), sharey=True, squeeze=False)
    for ax, (family, runs) in zip(axes.flat, results.items()):
        floor_bars(ax, [f"{s:g}" for s, _ in runs], [v for _, v in runs], floor, floor_label, percent, slots)
        ax.set_title(family, fontsize=9)
        ax.set_xlabel(strength_units.get(family, "strength"), fontsize=8)
        ax.grid(axis="y", alpha=0.3)
    for ax in axes.flat[len(results):]:
        ax.axis("off")
    for ax in axes[:, 0]:
        ax.set_ylabel(ylabel, fontsize=8)
    fig.tight_layout()
    return fig


def _token_overlay(ax: plt.Axes, image: torch.Tensor | np.ndarray, cells: torch.Tensor) -> None:
    """image (3, S, S) washed out, with the token cells where `cells` (H, W) > 0 in red."""
    shown = hwc(image).astype(np.float32) / 255
    ax.imshow(0.45 * shown + 0.55, interpolation="nearest")  # washed out so the red reads
    S, (H, W) = shown.shape[0], cells.shape
    red = np.zeros((H, W, 4), np.float32)
    red[..., 0] = 0.85
    red[..., 3] = 0.75 * (cells.cpu().numpy() > 0)
    ax.imshow(red, extent=(-0.5, S - 0.5, S - 0.5, -0.5), interpolation="nearest")
    for k in range(1, H):  # the token grid, faintly
        ax.axhline(k * S / H - 0.5, color="k", lw=0.3, alpha=0.25)
        ax.axvline(k * S / W - 0.5, color="k", lw=0.3, alpha=0.25)
    ax.set_xticks([])
    ax.set_yticks([])


def disagreement_figure(image: torch.Tensor | np.ndarray, image_title: str, maps: Mapping[str, torch.Tensor],
                        shares: Mapping[str, torch.Tensor], agreements: Mapping[str, float], floor: float,
                        floor_label: str = "floor", num_images: int | None = None) -> plt.Figure:
    """Where two grids of ids disagree: on one image, over many, and the agreement beside its floor.

    Top row: `image` (3, S, S), then for each comparison the token cells (maps: title -> (H, W),
    nonzero where the ids differ) over the image. Bottom row: the agreements (name -> share) after
    the floor's bar, then for each comparison the share of `num_images` images whose ids differ at
    each cell (shares: title -> (H, W) in [0, 1], one per map, in the same order).
    """
    if len(maps) != len(shares):
        raise ValueError(f"need one share map per map, got {len(maps)} maps and {len(shares)} share maps")
    n = len(maps)
    fig, axes = plt.subplots(2, n + 1, figsize=(2.9 * (n + 1), 5.8), squeeze=False, layout="constrained")
    axes[0, 0].imshow(hwc(image), interpolation="nearest")
    axes[0, 0].set(xticks=[], yticks=[])
    axes[0, 0].set_title(image_title, fontsize=9)
    for ax, (title, cells) in zip(axes[0, 1:], maps.items()):
        _token_overlay(ax, image, cells)
        ax.set_title(title, fontsize=8)
        ax.set_xlabel(f"this image: ids agree {1 - float((cells > 0).float().mean()):.0%}", fontsize=8)
    floor_bars(axes[1, 0], list(agreements), list(agreements.values()), floor, floor_label)
    axes[1, 0].set_ylabel("ids that agree", fontsize=8)
    axes[1, 0].set_title("over all images" if num_images is None else f"over {num_images} images", fontsize=9)
    axes[1, 0].tick_params(axis="x", labelsize=7)
    for ax, (title, share) in zip(axes[1, 1:], shares.items()):
        shown = ax.imshow(share.cpu().numpy(), cmap="Reds", vmin=0, vmax=1, interpolation="nearest")
        ax.set_title(title, fontsize=8)
        ax.set_xlabel(f"token column; ids agree {1 - float(share.mean()):.0%}", fontsize=8)
        ax.set_ylabel("token row", fontsize=8)
        ax.tick_params(labelsize=6)
    fig.colorbar(shown, ax=list(axes[1, 1:]), shrink=0.9).set_label("share of images whose ids differ", fontsize=8)
    return fig


def flip_zoom_figure(zoom: FlipZoom, size: float = 1.8) -> plt.Figure:
    """One token position under a horizontal flip (`seitpp.augment.flip_zoom`).

    Top row: the five whole images, the token outlined (at its source in x and T(x) decoded, at
    its mirrored place in the three flipped images). Bottom row: that d x d patch of each,
    enlarged with nearest-neighbour interpolation, captioned with its id.
    """
    (r, c), (_, c2) = zoom.source, zoom.target
    titles = {"x": "x", "T(x) decoded": "T(x) decoded", "flip(x)": "flip(x):\nwhat T sees",
              "T(flip(x)) decoded": "T(flip(x)) decoded:\nthe truth", "flip(T(x)) decoded": "flip(T(x)) decoded:\nthe naive flip"}
    captions = {"x": f"pixels at ({r}, {c})", "T(x) decoded": f"id {zoom.source_id} at ({r}, {c})",
                "flip(x)": f"pixels at ({r}, {c2}):\nx's patch mirrored", "T(flip(x)) decoded": f"id {zoom.truth_id} at ({r}, {c2})",
                "flip(T(x)) decoded": f"id {zoom.source_id}, moved\nfrom ({r}, {c}) to ({r}, {c2})"}
    d = zoom.downsample
    fig, axes = plt.subplots(2, len(zoom.images), figsize=(size * len(zoom.images), 2 * size + 1.0), squeeze=False)
    for j, name in enumerate(zoom.images):
        row, col = zoom.source if name in ("x", "T(x) decoded") else zoom.target
        top, bottom = axes[0, j], axes[1, j]
        top.imshow(hwc(zoom.images[name]), interpolation="nearest")
        top.add_patch(plt.Rectangle((col * d - 0.5, row * d - 0.5), d, d, fill=False, edgecolor="red", lw=1.5))
        top.set_title(titles.get(name, name), fontsize=8)
        bottom.imshow(hwc(zoom.patches[name]), interpolation="nearest")
        bottom.set_xlabel(captions.get(name, ""), fontsize=8)
        for ax in (top, bottom):
            ax.set_xticks([])
            ax.set_yticks([])
    axes[0, 0].set_ylabel("whole image", fontsize=8)
    axes[1, 0].set_ylabel(f"the {d} x {d} patch,\nenlarged", fontsize=8)
    fig.tight_layout()
    return fig
