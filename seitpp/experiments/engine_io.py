"""The experiments' few contacts with the engine's data classes, metric names and DCT recipe.

Both sweeps go through these functions for what the engine is about to change (one split class
for classification and segmentation; `val_top1` for `val_acc`; DCT training as an engine task),
so that each change lands here, in one line or one function.
"""
from __future__ import annotations

import numpy as np
import torch

from seitpp.engine.config import TrainConfig
from seitpp.engine.dct import DCTTrainConfig, DCTTrainResult, evaluate_dct, train_dct
from seitpp.engine.loop import evaluate
from seitpp.models.dct import coefficient_rms
from seitpp.tokens.split import SegmentationData, TrainData

TOP1 = "val_acc"  # the engine's name for top-1 in what `evaluate` returns


def classification_split(x: np.ndarray, labels: np.ndarray, num_classes: int, codebook_size: int | None,
                         source: str) -> TrainData:
    """Token ids int (N, H, W) (`codebook_size` K) or uint8 images (N, H, W, 3) (None) and labels (N,)."""
    return TrainData(torch.from_numpy(x), torch.as_tensor(labels), num_classes, codebook_size, source)


def segmentation_split(ids: np.ndarray, masks: np.ndarray, num_classes: int, codebook_size: int,
                       source: str) -> SegmentationData:
    """Token ids int (N, H, W) and class masks (N, Hm, Wm), background 0 among `num_classes`."""
    return SegmentationData(torch.from_numpy(ids), torch.from_numpy(masks), num_classes, codebook_size, source)


def top1(model: torch.nn.Module, split: TrainData, config: TrainConfig, device: str | torch.device = "cpu") -> float:
    """A classifier's top-1 on the centre crops of `split`, a fraction."""
    return evaluate(model, split, config, device)[TOP1]


def run_dct(config: DCTTrainConfig, data: dict, num_classes: int, init: dict | None = None
            ) -> tuple[DCTTrainResult, float | None]:
    """Train on `data["train_dct"]` levels (with `data["train_labels"]` for a "finetune" config) ->
    (the run, top-1 on `data["test_dct"]` for a classifier, None for masked block pre-training)."""
    levels = torch.from_numpy(data["train_dct"])
    scale = coefficient_rms(levels, config.quality)
    if config.task == "pretrain":
        return train_dct(config, levels, scale=scale, init=init, progress=False), None
    result = train_dct(config, levels, torch.from_numpy(data["train_labels"]), num_classes, scale=scale, init=init,
                       progress=False)
    test_levels, test_labels = torch.from_numpy(data["test_dct"]), torch.from_numpy(data["test_labels"])
    return result, evaluate_dct(result.model, test_levels, test_labels, config.crop)
