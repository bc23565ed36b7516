"""Segmentation metrics and setup checks."""
from __future__ import annotations

import torch

from seitpp.engine.config import TrainConfig
from seitpp.engine.losses import pixel_loss
from seitpp.errors import TrainSetupError
from seitpp.models.segmenter import TokenSegmenter
from seitpp.tokens.split import SegmentationData

# ----------------------------------------------------------------------------------------------
# Metrics from a confusion matrix


def confusion_matrix(pred: torch.Tensor, target: torch.Tensor, num_classes: int,
                     ignore_index: int | None = None) -> torch.Tensor:
    """Class maps pred and target (any equal shape) -> counts (classes, classes) int64: row truth, column
    prediction. Pixels whose target is `ignore_index` are not counted."""
    pred, target = pred.flatten().long(), target.flatten().long()
    if ignore_index is not None:
        keep = target != ignore_index
        pred, target = pred[keep], target[keep]
    idx = target * num_classes + pred
    return torch.bincount(idx, minlength=num_classes ** 2).view(num_classes, num_classes).cpu()


def iou_per_class(confusion: torch.Tensor) -> torch.Tensor:
    """(classes,) float64 intersection over union; NaN for a class neither predicted nor present."""
    c = confusion.double()
    hits = c.diagonal()
    union = c.sum(0) + c.sum(1) - hits
    return torch.where(union > 0, hits / union.clamp(min=1), torch.nan)


def mean_iou(confusion: torch.Tensor) -> float:
    """Mean IoU over the classes present in the prediction or the ground truth."""
    return float(iou_per_class(confusion).nanmean())


def pixel_accuracy(confusion: torch.Tensor) -> float:
    """Share of pixels whose predicted class is the true one."""
    return float(confusion.diagonal().sum() / confusion.sum().clamp(min=1))


@torch.no_grad()
def segmentation_counts(model: TokenSegmenter, data: SegmentationData, device: str | torch.device = "cpu",
                        batch_size: int = 64, indices: torch.Tensor | None = None) -> tuple[torch.Tensor, float]:
    """Whole token grids (those of `indices`, default all) -> (confusion (classes, classes) int64, summed
    pixel loss), at the masks' resolution: sums, so that ranks and batches can be added up."""
    was_training = model.training
    model.eval()
    confusion = torch.zeros(data.num_classes, data.num_classes, dtype=torch.int64)
    loss_sum = 0.0
    indices = torch.arange(len(data)) if indices is None else indices
    for chunk in indices.split(batch_size):
        ids, masks = data.ids[chunk].to(device).long(), data.masks[chunk].to(device).long()
        logits = model(ids, data.mask_size).float()  # (B, classes, Hm, Wm)
        loss_sum += float(pixel_loss(logits, masks, data.ignore_index, reduction="sum"))
        confusion += confusion_matrix(logits.argmax(1), masks, data.num_classes, data.ignore_index)
    model.train(was_training)
    return confusion, loss_sum


def evaluate_segmentation(model: TokenSegmenter, data: SegmentationData, device: str | torch.device = "cpu",
                          batch_size: int = 64) -> dict[str, float]:
    """Whole token grids -> {"val_loss" (per labelled pixel), "miou", "pixel_acc"} at the masks' resolution."""
    confusion, loss_sum = segmentation_counts(model, data, device, batch_size)
    return {"val_loss": loss_sum / max(1, int(confusion.sum())), "miou": mean_iou(confusion),
            "pixel_acc": pixel_accuracy(confusion)}


@torch.no_grad()
def predict_masks(model: TokenSegmenter, ids: torch.Tensor, mask_size: tuple[int, int],
                  batch_size: int = 64) -> torch.Tensor:
    """Whole token grids (N, H, W) -> predicted class maps uint8 (N, *mask_size), on the CPU."""
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    out = [model(chunk.to(device).long(), mask_size).argmax(1).to(torch.uint8).cpu() for chunk in ids.split(batch_size)]
    model.train(was_training)
    return torch.cat(out) if out else torch.zeros(0, *mask_size, dtype=torch.uint8)


# ----------------------------------------------------------------------------------------------
# What the engine checks before the first step


def check_segmentation(config: TrainConfig, data: SegmentationData, val: SegmentationData | None) -> None:
    """Raise TrainSetupError for segmentation data that cannot train with `config`, naming the value
    (what the engine checks for every task, it checks itself)."""
    for d in [data] + ([val] if val is not None else []):
        if d.grid[0] % 2 or d.grid[1] % 2:
            raise TrainSetupError(f"{d.source}: {d.grid[0]} x {d.grid[1]} token grids must be even (a patch is "
                                  f"2 x 2 tokens)")
    if val is not None and val.ignore_index != data.ignore_index:
        raise TrainSetupError(f"{val.source}: ignore_index {val.ignore_index} differs from the training data's "
                              f"({data.source}: {data.ignore_index})")
