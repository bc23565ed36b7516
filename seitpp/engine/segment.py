"""Segmentation from tokens as a task of the engine: a `TokenSegmenter` on masks, one geometry per
sample for tokens and masks, per-pixel cross-entropy, mIoU and pixel accuracy from a confusion matrix.

Letters: B batch, H W token grid, S crop side, Hm Wm mask size.
"""
from __future__ import annotations

import torch
import torch.nn as nn

from seitpp.augment.policies import SegmentationPolicy
from seitpp.augment.registry import create_policy
from seitpp.augment.tokenadapt import TokenAdapt
from seitpp.engine.config import TrainConfig
from seitpp.engine.distributed import rank_world, sum_over_ranks
from seitpp.engine.losses import pixel_loss
from seitpp.engine.task import Task, autocast
from seitpp.errors import TrainSetupError
from seitpp.models.segmenter import TokenSegmenter
from seitpp.models.vit import create_model
from seitpp.tokens.split import Split

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
def segmentation_counts(model: TokenSegmenter, data: Split, device: str | torch.device = "cpu",
                        batch_size: int = 64, indices: torch.Tensor | None = None) -> tuple[torch.Tensor, float]:
    """Whole token grids (those of `indices`, default all) -> (confusion (classes, classes) int64, summed
    pixel loss), at the masks' resolution: sums, so that ranks and batches can be added up."""
    was_training = model.training
    model.eval()
    confusion = torch.zeros(data.num_classes, data.num_classes, dtype=torch.int64)
    loss_sum = 0.0
    indices = torch.arange(len(data)) if indices is None else indices
    for chunk in indices.split(batch_size):
        ids, masks = data.x[chunk].to(device).long(), data.targets[chunk].to(device).long()
        logits = model(ids, data.mask_size).float()  # (B, classes, Hm, Wm)
        loss_sum += float(pixel_loss(logits, masks, data.ignore_index, reduction="sum"))
        confusion += confusion_matrix(logits.argmax(1), masks, data.num_classes, data.ignore_index)
    model.train(was_training)
    return confusion, loss_sum


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
# The task


def segment_policy(config: TrainConfig, codes: torch.Tensor | None = None,
                   tokenadapt: TokenAdapt | None = None) -> SegmentationPolicy:
    """The batch transform of a "segment" config (`seitpp.augment.registry`): crop side `config.model.crop`,
    one geometry per sample for tokens and masks; codes: the tokenizer's (K, C) code vectors, for a
    policy with ops on codes."""
    return create_policy(config.augment.policy).segmentation(config.augment, config.model.crop, codes, tokenadapt)


class Segment(Task):
    """Segmentation on token ids and masks: `TokenSegmenter`, `segment_policy`, per-pixel cross-entropy
    (pixels of `ignore_index` unscored), {"val_loss" per labelled pixel, "val_miou", "val_pixel_acc"} on
    whole grids at the masks' resolution."""

    name = "segment"
    targets = "masks"

    def __init__(self, config: TrainConfig, ignore_index: int | None = None):
        super().__init__(config)
        self.ignore_index = ignore_index

    def check_setup(self, data: Split, val: Split | None) -> None:
        for d in [data] + ([val] if val is not None else []):
            if d.grid[0] % 2 or d.grid[1] % 2:
                raise TrainSetupError(f"{d.source}: {d.grid[0]} x {d.grid[1]} token grids must be even (a patch is "
                                      f"2 x 2 tokens)")
        if val is not None and val.ignore_index != data.ignore_index:
            raise TrainSetupError(f"{val.source}: ignore_index {val.ignore_index} differs from the training data's "
                                  f"({data.source}: {data.ignore_index})")
        super().check_setup(data, val)

    def uses_codes(self) -> bool:
        return self.config.model.table_init == "codes" or create_policy(self.config.augment.policy).needs_codes

    def model_args(self, data: Split) -> dict:
        m = self.config.model
        return dict(num_classes=data.num_classes, codebook_size=data.codebook_size, encoder=m.name,
                    grid_size=m.crop, decoder_dim=m.decoder_dim, drop_path_rate=m.drop_path,
                    patch_kernel=m.patch_kernel)

    def create_model(self, args: dict, codes: torch.Tensor | None = None) -> nn.Module:
        return create_model("segmenter", codes=codes if self.config.model.table_init == "codes" else None, **args)

    def encoder(self, model: nn.Module) -> nn.Module:
        return model.encoder

    def batch_transform(self, data, codes, tokenadapt) -> SegmentationPolicy:
        return segment_policy(self.config, codes, tokenadapt)

    def loss(self, model, inputs, targets, generator) -> torch.Tensor:
        return pixel_loss(model(inputs, targets.shape[-2:]), targets, self.ignore_index)

    def evaluate(self, model, split, device, batch_size=256) -> dict[str, float]:
        device = torch.device(device)
        rank, world = rank_world()
        with autocast(self.config, device):
            confusion, loss_sum = segmentation_counts(model, split, device, batch_size,
                                                      torch.arange(rank, len(split), world))
        *counts, loss_sum = sum_over_ranks(confusion.flatten().tolist() + [loss_sum], device)
        confusion = torch.tensor(counts, dtype=torch.float64).round().long().view_as(confusion)
        return {"val_loss": loss_sum / max(1, int(confusion.sum())), "val_miou": mean_iou(confusion),
                "val_pixel_acc": pixel_accuracy(confusion)}
