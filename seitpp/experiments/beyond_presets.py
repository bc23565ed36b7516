"""The sizes of chapter 8's sweep (`seitpp.experiments.beyond`): `BeyondPreset` and the named presets
(`python -m seitpp beyond --preset NAME`). Kept apart from the sweep's specification so that both stay
short enough to read; every name here is also importable from `seitpp.experiments.beyond`."""
from __future__ import annotations

from dataclasses import dataclass, replace

from seitpp.engine.config import TrainConfig, with_overrides
from seitpp.engine.config import preset as train_preset
from seitpp.errors import choose_preset
from seitpp.experiments.paper import BUDGETS
from seitpp.experiments.second_tokenizer import F8
from seitpp.tokenizers.train import TokenizerTrainConfig

EXPERIMENTS = ("segment", "transfer", "dct")


@dataclass(frozen=True)
class BeyondPreset:
    """The sizes of the sweep. `recipe` names the `seitpp.experiments.reproduce` preset whose classification
    recipe (steps, MTM, overrides) the transfer cells use, at its full budget."""

    name: str
    train_images: int
    test_images: int
    seeds: tuple[int, ...]
    segment: TrainConfig  # the segmenters' run (task "segment"); methods and seeds change their own fields
    tokenizer: TokenizerTrainConfig  # the second tokenizer's training
    recipe: str  # a seitpp.experiments.reproduce sweep preset
    dct: TrainConfig  # DCT classification (model dct_*); methods and seeds change their own fields
    dct_pretrain: TrainConfig  # masked block modeling
    examples: int = 6  # test images whose predicted masks are kept
    workers: int = 2  # parallel jobs (processes), one thread each
    segment_budgets: tuple[float, ...] = (1.0,)  # shares of train_images the segmenters train on (the first ones)
    score_split: str = "test"  # the split cells are scored on: "val" for the pilots that choose settings
    experiments: tuple[str, ...] = EXPERIMENTS  # which of the three the sweep trains (pilots train one)

    def budget_images(self, budget: float) -> int:
        return round(budget * self.train_images)

    def __post_init__(self):
        def shared(c: TrainConfig) -> dict:  # the pre-trained encoder must fit the classifier and its input
            return {"quality": c.dct.quality, "model": c.model.name, "crop": c.model.crop}
        differ = [f for f in shared(self.dct) if shared(self.dct)[f] != shared(self.dct_pretrain)[f]]
        if differ or self.dct.task != "finetune" or self.dct_pretrain.task != "pretrain":
            raise ValueError(f"preset {self.name}: dct must be a finetune and dct_pretrain a pretrain config with the "
                             f"same {', '.join(shared(self.dct))} (differ: {differ})")


# At 160 steps on 512 images a segmenter only matched predicting all background (pixel accuracy
# 0.85). On 1,000 symmetric shapes at lr 4e-3, batch 32 (seed 0): 40 epochs reached mIoU 0.23
# (SeiT-style) and 0.27 (SeiT++ without MTM) on 300 test images, 0.15 without geometric
# augmentation (over-fitted); 25 epochs (775 steps) reached 0.22 and 0.23 on 1,200 test images,
# where all background scores 0.07. The `cpu` preset keeps about those steps on its 2,000 images
# (13 epochs, 806 steps). TokenAdapt on every batch makes a SeiT++ cell about 3 x a SeiT one.
_SEGMENT = with_overrides(train_preset("cpu-tiny", "segment"), dict(lr=4e-3, table_init="codes", epochs=13))
# DCT at JPEG quality 10: 241 bytes per image and 26.3 dB PSNR (200 shapes), beside the reference
# tokens' 172 bytes and 27.1 dB: the two inputs cost about the same to store. The classification
# recipe is chapter 6's: on its 2,000 images, 29 epochs of batch 32 are 1,798 steps (its 1,800), and
# 64 epochs of batch 64 are 1,984 (MTM's 2,000) for masked block modeling; warmup 5% of them.
_DCT = with_overrides(TrainConfig(), dict(model="dct_micro", crop=7, quality=10, epochs=29, warmup_epochs=1.45,
                                          batch_size=32, lr=2e-3, min_lr=1e-5, weight_decay=0.05, layer_decay=0.85,
                                          clip_grad=1.0, drop_path=0.0, label_smoothing=0.1))
_DCT_PRETRAIN = with_overrides(_DCT, dict(task="pretrain", policy="none", epochs=64, warmup_epochs=3.2, batch_size=64,
                                          layer_decay=None, label_smoothing=0.0))
PRESETS: dict[str, BeyondPreset] = {
    # Seconds: the same code path as `cpu`, for tests and the chapter's fast mode.
    "smoke": BeyondPreset(
        "smoke", train_images=64, test_images=32, seeds=(0,),
        segment=with_overrides(_SEGMENT, dict(epochs=2, warmup_epochs=0.5, batch_size=16)),
        tokenizer=TokenizerTrainConfig(model=replace(F8, channels=(8, 8, 16, 16), codebook_size=64),
                                       num_train_images=64, steps=4, batch_size=8, warmup_steps=1,
                                       checkpoint_every=2),
        recipe="smoke", dct=with_overrides(_DCT, dict(epochs=1, warmup_epochs=0.05, batch_size=16)),
        dct_pretrain=with_overrides(_DCT_PRETRAIN, dict(epochs=1, warmup_epochs=0.05, batch_size=16)), examples=4,
        workers=1, segment_budgets=(1.0, 0.5)),
    # The first committed run (see the module docstring; named `cpu` until the preset below replaced it):
    # micro models, 3 seeds, two workers on a 2-core CPU, on the images of chapter 6's sweeps at their full
    # budget (2,000 objects), with the recipe and stems of chapter 6's first findings sweep (cpu-learned-table:
    # a learned table trains in fine-tuning); segmentation at the full budget only.
    "cpu-learned-table": BeyondPreset(
        "cpu-learned-table", train_images=2000, test_images=1200, seeds=(0, 1, 2), segment=_SEGMENT,
        tokenizer=TokenizerTrainConfig(model=F8, num_train_images=4000, steps=1000, batch_size=32,
                                       warmup_steps=50, checkpoint_every=100),
        recipe="cpu-learned-table", dct=_DCT, dct_pretrain=_DCT_PRETRAIN),
}
# The findings run: chapter 6's rule (recipe cpu: a learned table keeps the codes in fine-tuning, for the
# segmenters too, whose stem learns one) and segmentation at chapter 6's largest and smallest budgets, the
# same steps at both (806), where the first run's 2,000 images left SeiT-style and SeiT++ level.
PRESETS["cpu"] = replace(PRESETS["cpu-learned-table"], name="cpu", recipe="cpu", segment_budgets=(1.0, min(BUDGETS)))
# Chapter 8's live segmenter in fast mode: the cpu preset's segmentation at a quarter of its images, 160 steps
# (about half a minute on 2 cores; on 200 validation images, seed 0, the SeiT-style cell reached 14.8 mIoU
# where all background scores 6.9, one configuration tried).
PRESETS["live"] = replace(PRESETS["cpu"], name="live", train_images=512, test_images=200, seeds=(0,),
                          segment_budgets=(1.0,), experiments=("segment",),
                          segment=with_overrides(_SEGMENT, dict(epochs=10, warmup_epochs=1.0)))
# Segmentation only, on the first 1,200 validation images, seed 0: the pilot of the segmentation regime.
PRESETS["cpu-val"] = replace(PRESETS["cpu"], name="cpu-val", score_split="val", seeds=(0,), experiments=("segment",))


def beyond_preset(name: str) -> BeyondPreset:
    return choose_preset(PRESETS, name, "beyond")
