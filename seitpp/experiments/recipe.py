"""What a sweep trains: the methods it compares, the sizes it trains them at (`SweepPreset`), and
how a method and a budget become a training run.

A sweep fixes a base preset (`seitpp.engine.config.PRESETS`), its own overrides of it, and a number
of optimizer steps per run; a method adds its overrides (stem, policy, model). Epochs are set from
the steps and the budget's images, warmup is 5% of them.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from seitpp.data.shapes import CLASS_SETS, Shapes
from seitpp.data.shifts import shifted_sets
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

# The four rows of the paper's budget table, and two more. SeiT's model embeds ids with the
# tokenizer's frozen code vectors (its "seit" stem); SeiT++ learns its own table, which MTM
# pre-trains. Every stem has the same 4 x 4 patch convolution, so the methods differ only in what
# the paper changes. "SeiT, learned table" is SeiT on the SeiT++ stem: it separates what the table
# does from what MTM and the augmentations do. The last row keeps the release's SeiT++ stem, a
# 2 x 2 convolution that cannot see neighbouring patches' tokens, as a labelled row of its own.
METHODS: dict[str, dict] = {
    "SeiT": dict(policy="seit", stem="seit"),
    "SeiT, learned table": dict(policy="seit", stem="seitpp", freeze_table=False),
    "SeiT + MTM": dict(policy="seit", stem="seitpp", mtm=True),
    "SeiT++ without MTM": dict(policy="seitpp", stem="seitpp"),
    "SeiT++": dict(policy="seitpp", stem="seitpp", mtm=True),
    "SeiT++ without MTM, release 2x2 stem": dict(policy="seitpp", stem="seitpp", patch_kernel=2),
}
METHOD_NAMES = tuple(METHODS)
# The ablation's variants: SeiT++'s policy with ColorAdapt and TokenAdapt switched on and off, and
# the naive warps (the geometry applied to the token grid, ids resampled nearest) in TokenAdapt's
# place: does learning the warp buy accuracy, not only token agreement?
ABLATION: dict[str, dict] = {
    "baseline": dict(color_adapt=False, token_adapt=False),
    "+ ColorAdapt": dict(color_adapt=True, token_adapt=False),
    "+ TokenAdapt": dict(color_adapt=False, token_adapt=True),
    "+ naive warps": dict(color_adapt=False, token_adapt=True, naive_warps=True),
    "+ both": dict(color_adapt=True, token_adapt=True),
}


@dataclass(frozen=True)
class SweepPreset:
    """The sizes of a sweep. Budgets are fractions of `train_images`."""

    name: str
    train_images: int  # the largest budget: the first N images of the Shapes train split
    budgets: tuple[float, ...]  # 1.4 / 0.8 / 0.3 GB in the paper -> (1, 0.8 / 1.4, 0.3 / 1.4)
    test_images: int
    seeds: tuple[int, ...]
    finetune_steps: int  # per cell at the full budget (`steps_power` sets the other budgets')
    pretrain_steps: int  # MTM, per budget, likewise
    finetune: dict = field(default_factory=dict)  # overrides of recipes.preset(base, "finetune")
    pretrain: dict = field(default_factory=dict)  # overrides of recipes.preset(base, "pretrain")
    base: str = "cpu-tiny"  # the recipes preset both start from
    pixel_model: str = "pvit_micro"
    cnn_model: str = "cnn_micro"  # the small pixel CNN beside the pixel ViT (seitpp.models.cnn), on PNG pixels
    ablation_budget: float = 0.8 / 1.4
    ablation_mtm: bool = True  # the ablation's variants start from the MTM encoder of their budget
    jpeg_qualities: tuple[int, ...] = (5, 25)
    downsample_factors: tuple[int, ...] = (4,)
    noise_std: float = 0.1  # on [0, 1] pixels
    blur_sigma: float = 1.0  # pixels, at 64 x 64
    workers: int = 2  # parallel cells (processes), each on one thread on the CPU
    experiments: tuple[str, ...] = ("budgets", "ablation", "pixels")  # which tables the sweep trains
    score_split: str = "test"  # the split cells are scored on: "val" for pilots that choose settings
    probe_images: int = 1_000  # validation images MTM's label probe reads (never the scored test images)
    classes: str = "shapes"  # the embedded data's class set: "shapes" (symmetric) or "objects" (seitpp.data.shapes)
    style: str = "photo"  # how training and clean test images are drawn: "photo" or "sketch"
    pose_size: tuple[float, float] = (0.12, 0.22)  # the "pose" test set: the same objects smaller ...
    pose_rotation: float = 60.0  # ... and turned further (degrees) than any training image
    methods: tuple[str, ...] = METHOD_NAMES  # the budget table's rows (pilots train a few)
    full_budget_only: tuple[str, ...] = ()  # methods trained at the largest budget only (rows that explain, not compete)
    steps_power: float = 0.0  # a budget of n images trains steps x (n / train_images) ** power: 0 the same steps at
    #                           every budget (a small one sees its images more often), 1 the same epochs
    learned_table: dict = field(default_factory=dict)  # how a learned table (stem seitpp) fine-tunes where the method
    #                           does not say: {} learns from the first step, freeze_table or table_warmup

    def __post_init__(self):
        unknown = sorted((set(self.methods) | set(self.full_budget_only)) - set(METHOD_NAMES))
        if unknown:
            raise ValueError(f"sweep {self.name}: unknown method(s) {unknown}; known: {list(METHOD_NAMES)}")

    @property
    def num_classes(self) -> int:
        return len(CLASS_SETS[self.classes])

    @property
    def look(self) -> dict[str, str]:
        """How the sweep's images are drawn, as `render_shapes` keywords: class set and style."""
        return dict(classes=self.classes, style=self.style)

    def budget_images(self, budget: float) -> int:
        return max(self.num_classes, round(budget * self.train_images))

    def steps_at(self, steps: int, num_images: int) -> int:
        """The steps a run on `num_images` trains, for `steps` at the full budget (`steps_power`)."""
        return max(1, round(steps * (num_images / self.train_images) ** self.steps_power))

    def evaluation_sets(self, n: int, progress: bool = False) -> tuple[Shapes, dict[str, np.ndarray]]:
        """The first n images of the scored split, clean and shifted (`seitpp.data.shifts.shifted_sets`)."""
        return shifted_sets(n, self.score_split, self.look, self.noise_std, self.blur_sigma, self.pose_size,
                            self.pose_rotation, progress)


def epochs_for(steps: int, num_images: int, batch_size: int) -> int:
    """The whole epochs that make at least `steps` steps of `batch_size` on `num_images` (full batches)."""
    per_epoch = max(1, num_images // batch_size)
    return max(1, math.ceil(steps / per_epoch))


def finetune_for_steps(base: str, overrides: dict, steps: int, num_images: int) -> TrainConfig:
    """The `base` fine-tuning preset with `overrides`, for `steps` on `num_images`; evaluated once, at the end."""
    cfg = with_overrides(preset(base, "finetune"), overrides)
    epochs = epochs_for(steps, num_images, cfg.optim.batch_size)
    return with_overrides(cfg, dict(epochs=epochs, warmup_epochs=0.05 * epochs, eval_every=10**9))


def pretrain_for_steps(base: str, overrides: dict, steps: int, num_images: int) -> TrainConfig:
    """The `base` MTM preset with `overrides`, for `steps` on `num_images`; evaluated (masked-token loss,
    label probe) about ten times."""
    cfg = with_overrides(preset(base, "pretrain"), overrides)
    epochs = epochs_for(steps, num_images, cfg.optim.batch_size)
    return with_overrides(cfg, dict(epochs=epochs, warmup_epochs=0.05 * epochs, eval_every=max(1, epochs // 10)))
