"""The images every chapter shows: a grid of images with row and column labels, and the image
windows around one token id. Plain matplotlib."""
from __future__ import annotations

from typing import Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch

from seitpp.data.images import tensor_to_images


def as_uint8(images: torch.Tensor | np.ndarray) -> np.ndarray:
    """Float tensor (B, 3, H, W) in [0, 1] or uint8 array (B, H, W, 3) -> uint8 (B, H, W, 3)."""
    return tensor_to_images(images) if isinstance(images, torch.Tensor) else np.asarray(images)


def hwc(image: torch.Tensor | np.ndarray) -> np.ndarray:
    """One image, float tensor (3, H, W) in [0, 1] or uint8 array (H, W, 3) -> uint8 (H, W, 3) for imshow."""
    return as_uint8(image[None])[0]


def image_grid(
    rows: Sequence[torch.Tensor | np.ndarray],
    row_labels: Sequence[str] = (),
    col_labels: Sequence[str] = (),
    size: float = 1.3,
    blank: Sequence[tuple[int, int]] = (),
    frame: tuple[float, float, float] | None = None,
) -> plt.Figure:
    """One row of images per entry of `rows` (each (B, 3, H, W) float or (B, H, W, 3) uint8).

    blank: (row, column) cells left empty (a placeholder image there is not drawn). frame: a yellow
    square (x0, y0, side), in pixels of the image, drawn on every image: the part the others surround.
    """
    rows = [as_uint8(r) for r in rows]
    ncols = max(len(r) for r in rows)
    fig, axes = plt.subplots(len(rows), ncols, figsize=(size * ncols, size * len(rows)), squeeze=False)
    for i, row in enumerate(rows):
        for j, ax in enumerate(axes[i]):
            ax.set_xticks([])
            ax.set_yticks([])
            if j < len(row) and (i, j) not in blank:
                ax.imshow(row[j], interpolation="nearest")
                if frame is not None:
                    x0, y0, side = frame
                    ax.add_patch(plt.Rectangle((x0, y0), side, side, fill=False, edgecolor="yellow", linewidth=1))
            else:
                ax.axis("off")
            if j == 0 and i < len(row_labels):
                ax.set_ylabel(row_labels[i], fontsize=9)
            if i == 0 and j < len(col_labels):
                ax.set_title(col_labels[j], fontsize=9)
    fig.tight_layout()
    return fig


def token_patches(images: np.ndarray, ids: torch.Tensor, code: int, downsample: int, context: int = 1, limit: int = 8) -> np.ndarray:
    """Image windows around the first `limit` places where token `code` appears.

    images: uint8 (N, H, W, 3); ids: (N, h, w) tokens of those images. Each window is the token's
    d x d patch plus `context` tokens of surroundings on every side -> uint8 (M, s, s, 3).
    """
    d, pad = downsample, context * downsample
    padded = np.pad(images, ((0, 0), (pad, pad), (pad, pad), (0, 0)), mode="edge")
    where = (ids == code).nonzero().tolist()[:limit]
    s = d + 2 * pad
    return np.stack([padded[n, r * d:r * d + s, c * d:c * d + s] for n, r, c in where]) if where else np.zeros((0, s, s, 3), np.uint8)
