"""How a sweep turns a method and a budget into a training run: the recipes both sweeps share.

A sweep fixes a base preset (`seitpp.engine.config.PRESETS`), its own overrides of it, and a number
of optimizer steps per run; a method adds its overrides (stem, policy, model). Every run of a
sweep trains for about the same number of steps, whatever the budget: epochs are set from the
steps and the budget's images, warmup is 5% of them.
"""
from __future__ import annotations

import math

from seitpp.engine.config import TrainConfig, preset, with_overrides

# At CPU scale the paper's fine-tuning augmentation (crops down to 8% of the grid, Mixup 0.8, CutMix
# 1.0) keeps a micro ViT at chance for a whole short run (10.7% after 570 steps on 1,000 images;
# 12 classes), and lr 2e-3 learns about twice as fast as the preset's 5e-3: so every method here
# gets mild crops (35% of the area or more), no label mixing, and lr 2e-3. What differs between
# methods is only their own part: stem, token augmentation, pre-training.
# The learned table starts from the tokenizer's codes (table_init "codes"): from random rows, a
# thousand images are too few to learn 391 embeddings ("SeiT, learned table" on 1,000 images: 12.7%
# on 12 classes, near chance, against 28.5% from the codes; the two committed cpu sweeps, 3 seeds).
# MTM's table starts there too.
MILD = dict(min_scale=0.35, mixup=0.0, cutmix=0.0, lr=2e-3, table_init="codes")
# The small CNN gets the `cpu-cnn` recipe's own parts (seitpp.engine.config): no layer decay, crops down
# to 25%, and its peak lr (1e-2 at batch 64) scaled by sqrt to the sweep's batch of 32.
CNN_CELL = dict(layer_decay=None, min_scale=0.25, lr=7e-3)
CODES = dict(table_init="codes")


def epochs_for(steps: int, num_images: int, batch_size: int) -> int:
    """The whole epochs that make at least `steps` steps of `batch_size` on `num_images` (full batches)."""
    per_epoch = max(1, num_images // batch_size)
    return max(1, math.ceil(steps / per_epoch))


def finetune_for_steps(base: str, overrides: dict, steps: int, num_images: int) -> TrainConfig:
    """The `base` fine-tuning preset with `overrides`, for `steps` on `num_images`; evaluated once, at the end."""
    cfg = with_overrides(preset(base, "finetune"), overrides)
    epochs = epochs_for(steps, num_images, cfg.batch_size)
    return with_overrides(cfg, dict(epochs=epochs, warmup_epochs=0.05 * epochs, eval_every=10**9))


def pretrain_for_steps(base: str, overrides: dict, steps: int, num_images: int) -> TrainConfig:
    """The `base` MTM preset with `overrides`, for `steps` on `num_images`; evaluated (masked-token loss,
    label probe) about ten times."""
    cfg = with_overrides(preset(base, "pretrain"), overrides)
    epochs = epochs_for(steps, num_images, cfg.batch_size)
    return with_overrides(cfg, dict(epochs=epochs, warmup_epochs=0.05 * epochs, eval_every=max(1, epochs // 10)))
