"""The losses of the engine's tasks."""
from __future__ import annotations

import torch
import torch.nn.functional as F


def soft_cross_entropy(logits: torch.Tensor, target: torch.Tensor, smoothing: float = 0.0) -> torch.Tensor:
    """Cross-entropy of logits (B, classes) against soft labels (B, classes), smoothed towards uniform."""
    target = target * (1 - smoothing) + smoothing / target.shape[1]
    return -(target * F.log_softmax(logits.float(), dim=1)).sum(1).mean()


def pixel_loss(logits: torch.Tensor, masks: torch.Tensor, ignore_index: int | None = None,
               reduction: str = "mean") -> torch.Tensor:
    """Cross-entropy of logits (B, classes, Hm, Wm) against masks (B, Hm, Wm), over the labelled pixels.

    "mean" divides by the labelled pixels (at least one), so a batch of unlabelled pixels gives 0, not NaN.
    """
    masks = masks.long()
    total = F.cross_entropy(logits.float(), masks, reduction="sum",
                            ignore_index=-100 if ignore_index is None else ignore_index)
    if reduction == "sum":
        return total
    labelled = masks.numel() if ignore_index is None else int((masks != ignore_index).sum())
    return total / max(1, labelled)
