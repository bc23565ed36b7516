"""Ops that mix two images and their labels: CutMix and Mixup,
`(x, labels, num_classes, generator) -> (x, soft labels)`.

Letters used in shapes: B batch, H W token grid, C embedding channels.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from seitpp.augment.ops import beta, is_ids, randint_below, permutation


# ----------------------------------------------------------------------------------------------
# Label-mixing ops


def _soft_labels(labels: torch.Tensor, num_classes: int, dtype: torch.dtype) -> torch.Tensor:
    """(B,) int or (B, num_classes) soft labels -> (B, num_classes) float."""
    if labels.ndim == 1 and not labels.is_floating_point():
        return F.one_hot(labels.long(), num_classes).to(dtype)
    if labels.ndim != 2 or labels.shape[1] != num_classes:
        raise ValueError(f"labels must be (B,) int or (B, {num_classes}) soft, got {tuple(labels.shape)}")
    return labels.to(dtype)


class CutMix:
    """Paste a per-sample random box from a partner (a random permutation of the batch).

    `(x, labels, num_classes, generator) -> (x_mixed, soft labels (B, num_classes))`. Box area
    follows timm: lam ~ Beta(alpha, alpha), side ratio sqrt(1 - lam), random centre, clipped to
    the grid; the partner's label weight is the exact fraction of positions taken from it.
    Works on ids (B, H, W) and embeddings (B, C, H, W).
    """

    def __init__(self, alpha: float = 1.0):
        self.alpha = alpha

    def __call__(self, x: torch.Tensor, labels: torch.Tensor, num_classes: int,
                 generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        ids = is_ids(x)
        B, H, W = x.shape[0], x.shape[-2], x.shape[-1]
        dev = x.device
        lam = beta(self.alpha, B, generator, dev)
        cut = torch.sqrt(1 - lam)
        ch, cw = (H * cut).round().long(), (W * cut).round().long()
        cy = randint_below(torch.full((B,), H, device=dev), generator)
        cx = randint_below(torch.full((B,), W, device=dev), generator)
        y0, y1 = (cy - ch // 2).clamp(0, H), (cy + ch // 2).clamp(0, H)
        x0, x1 = (cx - cw // 2).clamp(0, W), (cx + cw // 2).clamp(0, W)
        partner = permutation(B, generator, dev)
        yy = torch.arange(H, device=dev)[None, :, None]
        xx = torch.arange(W, device=dev)[None, None, :]
        box = ((yy >= y0[:, None, None]) & (yy < y1[:, None, None])
               & (xx >= x0[:, None, None]) & (xx < x1[:, None, None]))  # (B, H, W)
        mixed = torch.where(box if ids else box[:, None], x[partner], x)
        taken = ((y1 - y0) * (x1 - x0)).float() / (H * W)  # exact fraction from the partner
        y = _soft_labels(labels.to(dev), num_classes, torch.float32)
        soft = (1 - taken)[:, None] * y + taken[:, None] * y[partner]
        return mixed, soft


class Mixup:
    """Per-sample convex combination with a partner: lam ~ Beta(alpha, alpha),
    x lam + x[partner] (1 - lam), labels likewise. Embeddings only: ids cannot be averaged."""

    def __init__(self, alpha: float = 0.8):
        self.alpha = alpha

    def __call__(self, x: torch.Tensor, labels: torch.Tensor, num_classes: int,
                 generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        if is_ids(x):
            raise ValueError("Mixup needs embeddings (B, C, H, W): token ids cannot be averaged; embed them first")
        B, dev = x.shape[0], x.device
        lam = beta(self.alpha, B, generator, dev)
        partner = permutation(B, generator, dev)
        mixed = lam.to(x.dtype)[:, None, None, None] * x + (1 - lam.to(x.dtype))[:, None, None, None] * x[partner]
        y = _soft_labels(labels.to(dev), num_classes, torch.float32)
        return mixed, lam[:, None] * y + (1 - lam)[:, None] * y[partner]
