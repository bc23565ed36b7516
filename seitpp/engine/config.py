"""Training recipes: one frozen config for MTM pre-training, fine-tuning and segmentation, in named parts, and presets.

A `TrainConfig` is the task and five small parts, each a frozen dataclass that checks its own values:

    model     ModelConfig     what is built: the network, its input crop, its stem and token table
    augment   AugmentConfig   what a batch becomes: the policy, crops, Mixup / CutMix, label smoothing
    optim     OptimConfig     AdamW: batch, learning rate and its scaling rule, decays, clipping
    run       RunConfig       how long, how often it evaluates, checkpoints and logs; seed, precision
    dct       DCTConfig       DCT levels only: JPEG quality, colour swap, masked block modeling

`TrainConfig` itself checks what ties parts together (a segmentation run mixes no labels, MTM
takes plain crops).

The `imagenet-vitb` presets are the paper's recipes for ViT-B on ImageNet-1k tokens (32 x 32
grids, 28 x 28 crops), written out; `gpu-small` is a ViT-S for our 16 x 16 Shapes grids on one
GPU; `cpu-tiny` is the micro model for a live run in a notebook on a 2-core CPU. Where a scaled
preset departs from the paper (epochs, batch, base lr), the field says so.

Learning rates follow the release's scaling rules, peak lr = blr x (batch / lr_batch) ** power:

    MTM pre-training   1.5e-4 x batch / 256           (lr_rule "linear", lr_batch 256)
    fine-tuning        1e-3   x sqrt(batch) / 8       (lr_rule "sqrt",   lr_batch 64: sqrt(b/64) = sqrt(b)/8)
    SeiT               7.5e-4 x batch / 512           (lr_rule "linear", lr_batch 512)

`--set name=value` on the command line (or `with_overrides`) changes any setting by its flat name
(`epochs=3`, `lr=1e-3`, `model=tvit_micro` for `model.name`) or its dotted one (`optim.lr=1e-3`); every
flat name is one setting of one part. `lr` sets the peak rate directly. SeiT's baseline is
`policy="seit"` with its own rate rule (blr 7.5e-4, lr_rule "linear", lr_batch 512), 300 epochs and no
layer decay. Checkpoints store `dataclasses.asdict(config)`; `config_from_dict` reads it back, and the
flat dict that checkpoints and artefacts written before the parts hold.
"""
from __future__ import annotations

import ast
import math
from dataclasses import dataclass, field, fields, replace

from seitpp.augment.registry import POLICIES
from seitpp.errors import TrainSetupError, choose_preset
from seitpp.models.vit import list_models

TASKS = ("pretrain", "finetune", "segment")
TABLE_INITS = ("random", "codes")
PAPER_FINETUNE_STEPS = 100 * 1_281_167 // 1024  # 125,113: the paper's 100 epochs of ImageNet-1k at batch 1024


def _need(ok: bool, problem: str) -> None:
    if not ok:
        raise TrainSetupError(f"config: {problem}")


# ----------------------------------------------------------------------------------------------
# The parts


@dataclass(frozen=True)
class ModelConfig:
    """What is built: the network by name, the crop it reads, its stem and token table.

    Letters: H W token grid, K codebook size.
    """

    name: str = "tvit_base"  # a `seitpp.models` name (tvit_*, pvit_*), for pre-training mtm_*, on DCT levels dct_*
    codebook_size: int | None = None  # K; None takes the data's, a number is checked against it
    num_classes: int | None = None  # likewise
    crop: int = 28  # training crop side in tokens; pixel models get crop x patch_size / 2 pixels (same patch grid)
    drop_path: float = 0.1
    global_pool: str = "avg"  # "avg" (the paper's fine-tuning) or "token"
    stem: str = "seitpp"  # token models: "seitpp" (learned table) or "seit" (the tokenizer's frozen codes)
    patch_kernel: int = 4  # token models: side of the stem's patch convolution (stride 2); 4 overlaps the
    #                        neighbouring patches' tokens, 2 is SeiT++'s release stem (seitpp.models.vit)
    table_init: str = "random"  # where stem seitpp's table starts: "random" rows (the release) or "codes",
    #                             a trainable copy of the tokenizer's code vectors (for small data)
    freeze_table: bool = False  # stem seitpp: the table keeps its start (no gradient); with table_init "codes",
    #                             MTM cannot rewrite the tokenizer's code vectors into its own
    table_warmup: float = 0.0  # stem seitpp: the share of the run's steps the table keeps its start before it
    #                            learns (a warm start: the rest of the model settles on the codes first)
    decoder_dim: int = 64  # segment: width of the light decoder on the token ViT (seitpp.engine.segment)

    def __post_init__(self):
        models = list_models()
        _need(self.name in models, f"model must be one of {', '.join(models)}, got {self.name!r}")
        _need(self.crop >= 1, f"crop must be >= 1, got {self.crop}")  # token tasks: even (seitpp.engine.task)
        _need(self.table_init in TABLE_INITS, f"table_init must be one of {TABLE_INITS}, got {self.table_init!r}")
        _need(self.patch_kernel >= 2 and self.patch_kernel % 2 == 0,
              f"patch_kernel must be even and >= 2 (stride 2: one patch per 2 x 2 tokens), got {self.patch_kernel}")
        _need(not self.freeze_table or self.stem == "seitpp",
              f"freeze_table applies to the learned table of stem 'seitpp'; stem {self.stem!r} has none")
        _need(0 <= self.table_warmup < 1 and not (self.table_warmup and (self.freeze_table or self.stem != "seitpp")),
              f"table_warmup must be a share in [0, 1) of a learned table's run (stem 'seitpp', not freeze_table), "
              f"got {self.table_warmup} with stem {self.stem!r}, freeze_table {self.freeze_table}")
        _need(self.decoder_dim >= 1, f"decoder_dim must be >= 1, got {self.decoder_dim}")


@dataclass(frozen=True)
class AugmentConfig:
    """What a training batch becomes (token models; see seitpp.augment.registry): the policy and its
    settings, the crops, label mixing and smoothing."""

    policy: str = "seitpp"  # a name in seitpp.augment.POLICIES: "none" crops, "seit" Token-EDA, "seitpp" the release's
    color_adapt: bool = True  # seitpp: ColorAdapt as one of the embedding ops (off: identity in its place)
    token_adapt: bool = True  # seitpp: geometric half of each batch (TokenAdapt, or naive warps without weights)
    affine_p: float = 0.5  # share of geometric samples whose transform adds the affine chain (rotation, shear,
    #                        translation) to flip and resized crop
    noise: float = 0.3  # Emb-Noise scale and std on unit-RMS embeddings. The release's 1.0 replaces 85% of
    #                     our tokens once snapped back to the codebook; 0.3 replaces about 12%.
    min_scale: float = 0.08  # smallest crop area fraction of random-resized crops
    mixup: float = 0.8  # Beta alpha, 0 = off. Ids cannot be averaged: Mixup mixes one-hot distributions over
    #                     codes, on seitpp's geometric half (and on pixels); elsewhere CutMix only, as SeiT
    cutmix: float = 1.0  # Beta alpha, 0 = off
    label_smoothing: float = 0.1

    def __post_init__(self):
        _need(self.policy in POLICIES, f"policy must be one of {tuple(POLICIES)}, got {self.policy!r}")
        _need(0 <= self.affine_p <= 1, f"affine_p must be a probability in [0, 1], got {self.affine_p}")
        _need(0 < self.min_scale <= 1, f"min_scale must be in (0, 1], got {self.min_scale}")
        _need(self.mixup >= 0 and self.cutmix >= 0,
              f"mixup and cutmix alphas must be >= 0, got {self.mixup}, {self.cutmix}")
        _need(0 <= self.label_smoothing < 1, f"label_smoothing must be in [0, 1), got {self.label_smoothing}")


@dataclass(frozen=True)
class OptimConfig:
    """AdamW, with layer-wise lr decay; the peak lr from the batch size by the scaling rule (module docstring)."""

    batch_size: int = 1024  # over all ranks
    blr: float = 1e-3  # base lr, scaled by the batch (module docstring)
    lr_rule: str = "sqrt"  # "linear" or "sqrt"
    lr_batch: int = 64
    lr: float | None = None  # peak lr; None: from blr, lr_rule, lr_batch
    min_lr: float = 1e-6  # where the cosine ends
    betas: tuple[float, float] = (0.9, 0.999)
    weight_decay: float = 0.1
    layer_decay: float | None = 0.65  # lr x layer_decay ** (depth - layer) for a run of layer_decay_steps; None: off
    layer_decay_steps: int | None = PAPER_FINETUNE_STEPS  # the schedule layer_decay is set for: a run of fewer
    #                    steps relaxes it towards 1 in proportion (`effective_layer_decay`); None: as it is
    clip_grad: float | None = None  # max gradient norm; None: off (the norm is logged either way)

    def __post_init__(self):
        _need(self.batch_size >= 1, f"batch_size must be >= 1, got {self.batch_size}")
        _need(self.lr_rule in ("linear", "sqrt"), f"lr_rule must be 'linear' or 'sqrt', got {self.lr_rule!r}")
        _need(self.layer_decay is None or 0 < self.layer_decay <= 1,
              f"layer_decay must be in (0, 1] or None, got {self.layer_decay}")
        _need(self.layer_decay_steps is None or self.layer_decay_steps >= 1,
              f"layer_decay_steps must be >= 1 or None, got {self.layer_decay_steps}")
        _need(self.peak_lr >= 0 and self.min_lr >= 0, f"learning rates must be >= 0, got {self.peak_lr}, {self.min_lr}")

    @property
    def peak_lr(self) -> float:
        """The lr after warmup: `lr` if set, else blr scaled by the batch size."""
        if self.lr is not None:
            return self.lr
        ratio = self.batch_size / self.lr_batch
        return self.blr * (ratio if self.lr_rule == "linear" else math.sqrt(ratio))

    def effective_layer_decay(self, total_steps: int) -> float | None:
        """The layer decay of a run of `total_steps`: `layer_decay` for a schedule of `layer_decay_steps` or
        more, relaxing linearly towards 1 (no decay) for shorter ones.

        Layer decay keeps a pre-trained encoder's lower layers close to where pre-training left them
        over a long fine-tune. The paper's 0.65 over 12 blocks scales the stem's lr by 0.65 ** 13 =
        0.0037: over its 125k steps the stem still moves, but over a few hundred it stays where it
        started (the committed gpu sweep's 300-step fine-tunes), and a short run is where the lower
        layers most need to adapt.
        """
        if self.layer_decay is None or self.layer_decay_steps is None:
            return self.layer_decay
        return 1 - (1 - self.layer_decay) * min(1.0, total_steps / self.layer_decay_steps)


@dataclass(frozen=True)
class RunConfig:
    """The run: its length and lr warmup (per step, then cosine to `optim.min_lr`), how often it evaluates,
    checkpoints and logs, its seed and precision."""

    epochs: int = 100
    warmup_epochs: float = 5.0
    eval_every: int = 1  # epochs between evaluations (and always after the last)
    checkpoint_every: int = 0  # steps between checkpoints; 0: at the end of every epoch only
    log_every: int = 10  # steps per log row
    seed: int = 0
    amp: bool = True  # bf16 autocast on CUDA; nothing on the CPU
    compile: bool = False  # torch.compile the training forward

    def __post_init__(self):
        _need(isinstance(self.epochs, int) and self.epochs >= 1,
              f"epochs must be a whole number >= 1, got {self.epochs!r}")
        _need(0 <= self.warmup_epochs <= self.epochs, f"warmup_epochs must be in [0, epochs], got {self.warmup_epochs}")
        _need(self.eval_every >= 1 and self.log_every >= 1 and self.checkpoint_every >= 0,
              "eval_every and log_every must be >= 1, checkpoint_every >= 0")


@dataclass(frozen=True)
class DCTConfig:
    """DCT levels (seitpp.engine.dct; `model.crop` counts 8 x 8 blocks there, the model is dct_<size>)."""

    quality: int = 50  # JPEG quality of the levels
    color_swap: float = 0.0  # classification: share of each batch whose colour statistics are swapped
    mask_ratio: float = 0.5  # masked block modeling: share of the blocks hidden
    dct_frequencies: int = 1  # masked block modeling: the lowest k coefficients of each channel predicted

    def __post_init__(self):
        _need(1 <= self.quality <= 100, f"quality must be in [1, 100], got {self.quality}")
        _need(0 <= self.color_swap <= 1, f"color_swap must be a share in [0, 1], got {self.color_swap}")
        _need(0 < self.mask_ratio < 1, f"mask_ratio must be in (0, 1), got {self.mask_ratio}")


# ----------------------------------------------------------------------------------------------
# The whole config


@dataclass(frozen=True)
class TrainConfig:
    """Everything that decides what a training run computes (the device and paths are not here): the
    task and its parts. Each part checks its own values; this checks how they go together."""

    task: str = "finetune"  # "pretrain" (masked token modeling), "finetune" (classification) or "segment"
    model: ModelConfig = field(default_factory=ModelConfig)
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    run: RunConfig = field(default_factory=RunConfig)
    dct: DCTConfig = field(default_factory=DCTConfig)

    def __post_init__(self):
        _need(self.task in TASKS, f"task must be one of {TASKS}, got {self.task!r}")
        aug, policy = self.augment, POLICIES[self.augment.policy]
        _need(self.task != "pretrain" or policy.plain,
              f"MTM pre-training uses plain crops only (a policy with no token op, such as 'none'), got policy "
              f"{aug.policy!r}")
        if self.task == "segment":  # per-pixel labels: nothing mixes two images, tokens move only with their mask
            _need(policy.segments, f"segmentation takes a policy that moves no token without its mask, such as "
                                   f"{' or '.join(repr(p.name) for p in POLICIES.values() if p.segments)}; "
                                   f"policy {aug.policy!r} does")
            _need(aug.mixup == aug.cutmix == aug.label_smoothing == 0,
                  f"segmentation mixes no labels: mixup, cutmix and label_smoothing must be 0, got {aug.mixup}, "
                  f"{aug.cutmix}, {aug.label_smoothing}")
            _need(self.model.stem == "seitpp",
                  f"segmentation uses the learned table (stem 'seitpp'), got {self.model.stem!r}")


PARTS: dict[str, type] = {f.name: f.default_factory for f in fields(TrainConfig) if f.name != "task"}


# ----------------------------------------------------------------------------------------------
# Settings by name: `--set`, `with_overrides` and checkpoints


def _flat_names() -> dict[str, tuple[str | None, str]]:
    """Every setting's flat name (as `--set` spells it, and checkpoints written before the parts) ->
    (its part, its field); the part is None for `task`, a field of TrainConfig itself."""
    names: dict[str, tuple[str | None, str]] = {"task": (None, "task")}
    for part, cls in PARTS.items():
        for f in fields(cls):
            flat = "model" if (part, f.name) == ("model", "name") else f.name  # `model=tvit_micro` names the model
            if flat in names:  # one flat name, one setting: a new field takes a name no other part has
                raise TypeError(f"setting {flat!r} is in two parts, {names[flat][0]} and {part}")
            names[flat] = (part, f.name)
    return names


FLAT_NAMES = _flat_names()


def _setting(key: str) -> tuple[str | None, str] | None:
    """(part, field) of a flat name (`lr`) or a dotted one (`optim.lr`); None where there is no such setting."""
    if key in FLAT_NAMES:
        return FLAT_NAMES[key]
    part, _, name = key.partition(".")
    if part in PARTS and name in {f.name for f in fields(PARTS[part])}:
        return part, name
    return None


def flat_dict(config: TrainConfig) -> dict[str, object]:
    """Every setting of `config` by its flat name, as `--set` spells them: {"task": ..., "model": ..., "lr": ...}."""
    return {flat: getattr(config if part is None else getattr(config, part), name)
            for flat, (part, name) in FLAT_NAMES.items()}


def _parse(text: str, current: object) -> object:
    """A command-line value for a setting now at `current`, read as a Python literal where it is one."""
    if isinstance(current, str):
        return text  # string fields take the text as it is ("none" is a policy, not None)
    if text.lower() in ("none", "null"):
        return None
    if text.lower() in ("true", "false"):
        return text.lower() == "true"
    try:
        value = ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text  # a bare word: a string field (model, policy, ...)
    if isinstance(current, float) and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if isinstance(value, list):
        value = tuple(value)
    return value


def with_overrides(config: TrainConfig, assignments: list[str] | dict) -> TrainConfig:
    """`config` with settings replaced, each by its flat or dotted name: ["epochs=3", "optim.lr=1e-3"]
    (strings, as from `--set`) or a dict ({"epochs": 3})."""
    if isinstance(assignments, dict):
        given, parse = dict(assignments), False
    else:
        given, parse = {}, True
        for item in assignments:
            name, sep, text = item.partition("=")
            if not sep:
                raise TrainSetupError(f"--set {item!r}: expected FIELD=VALUE")
            given[name.strip()] = text.strip()
    unknown = sorted(k for k in given if _setting(k) is None)
    if unknown:
        raise TrainSetupError(f"config has no field(s) {unknown}; fields: {', '.join(sorted(FLAT_NAMES))} "
                              f"(or part.field, parts {', '.join(PARTS)})")
    changes: dict[str | None, dict] = {}  # part (None: TrainConfig itself) -> {field: value}
    for key, value in given.items():
        part, name = _setting(key)
        owner = config if part is None else getattr(config, part)
        current = getattr(owner, name)
        if parse:
            value = _parse(value, current)
        declared = next(f.type for f in fields(owner) if f.name == name)  # the annotation as written (a string)
        if declared == "float" and isinstance(value, (int, float)) and not isinstance(value, bool):
            value = float(value)  # a float field may hold an int in a preset (warmup_epochs=1)
        elif value is not None and current is not None and not isinstance(value, type(current)) \
                and not (isinstance(current, float) and isinstance(value, int)):
            raise TrainSetupError(f"config field {key}: expected {type(current).__name__}, got {value!r}")
        changes.setdefault(part, {})[name] = value
    parts = {part: replace(getattr(config, part), **values) for part, values in changes.items() if part is not None}
    return replace(config, **changes.get(None, {}), **parts)  # the parts check themselves, then TrainConfig


def _nested(flat: dict) -> dict:
    """A flat config dict (checkpoints and artefacts written before the parts) in the nested form of `asdict`."""
    unknown = sorted(set(flat) - set(FLAT_NAMES))
    if unknown:
        raise TrainSetupError(f"config has no field(s) {unknown}")
    nested: dict = {}
    for key, value in flat.items():
        part, name = FLAT_NAMES[key]
        (nested if part is None else nested.setdefault(part, {}))[name] = value
    return nested


def config_from_dict(d: dict) -> TrainConfig:
    """The inverse of `dataclasses.asdict` (as stored in checkpoints), nested or flat (`_nested`); a setting
    added since the dict was written takes its default."""
    if not any(isinstance(v, dict) for v in d.values()):
        d = _nested(d)
    parts = {part: cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in d.get(part, {}).items()})
             for part, cls in PARTS.items()}  # JSON keeps a tuple (betas) as a list
    return TrainConfig(**{k: v for k, v in d.items() if k not in PARTS}, **parts)


# ----------------------------------------------------------------------------------------------
# Presets, by task: PRESETS[task][name]

_PRETRAIN = TrainConfig(  # MTM: AdamW (0.9, 0.95), wd 0.05, 1.5e-4 x batch / 256, crops of min scale 0.2
    task="pretrain",
    model=ModelConfig(drop_path=0.0),
    augment=AugmentConfig(policy="none", min_scale=0.2, mixup=0.0, cutmix=0.0, label_smoothing=0.0),
    optim=OptimConfig(blr=1.5e-4, lr_rule="linear", lr_batch=256, min_lr=0.0, betas=(0.9, 0.95), weight_decay=0.05,
                      layer_decay=None, layer_decay_steps=None),
)
_FINETUNE = TrainConfig()  # the defaults are the paper's fine-tuning recipe
# Segmentation (our small-scale recipe; the paper's ADE20k setup is not reproduced): every sample
# gets its own geometry, tokens and mask moved together; no label mixing; gradients clipped at 1.
_SEGMENT = TrainConfig(
    task="segment",
    model=ModelConfig(drop_path=0.0),
    augment=AugmentConfig(min_scale=0.35, mixup=0.0, cutmix=0.0, label_smoothing=0.0),
    optim=OptimConfig(min_lr=1e-5, weight_decay=0.05, layer_decay=None, layer_decay_steps=None, clip_grad=1.0),
)
# A small CNN from scratch, as one would train a ResNet on a few thousand small images: AdamW (wd 0.05,
# off the norms and biases), label smoothing 0.1, flips and resized crops of at least 25% of the image,
# no Mixup or CutMix (they slow a small model on small data), no stochastic depth, no layer decay.
_CNN = with_overrides(_FINETUNE, dict(crop=14, policy="none", mixup=0.0, cutmix=0.0, min_scale=0.25, drop_path=0.0,
                                      weight_decay=0.05, layer_decay=None, layer_decay_steps=None, warmup_epochs=1,
                                      min_lr=1e-5))

PRESETS: dict[str, dict[str, TrainConfig]] = {
    "pretrain": {
        # The micro model on ~2,000 Shapes grids: a few minutes on 2 cores. A few hundred steps of a
        # micro model want a far larger rate than 400 epochs of ViT-B: peak 5e-3 at batch 64. The table
        # starts at the tokenizer's codes and stays there (freeze_table), as in chapter 6's cpu sweep:
        # fine-tuned from MTM on 2,000 objects, 75.9% top-1 on validation images with the table frozen,
        # 69.2% with MTM free to rewrite it (seitpp/artefacts/pilots, pilots 9 and 10).
        "cpu-tiny": with_overrides(_PRETRAIN, dict(model="mtm_micro", crop=14, epochs=8, warmup_epochs=1, batch_size=64,
                                                   blr=2e-2, table_init="codes", freeze_table=True, log_every=5)),
        # ViT-S on the 16 x 16 Shapes grids, one GPU; half the paper's epochs; the table as cpu-tiny's.
        "gpu-small": with_overrides(_PRETRAIN, dict(model="mtm_small", crop=14, epochs=200, warmup_epochs=20,
                                                    batch_size=1024, table_init="codes", freeze_table=True,
                                                    checkpoint_every=2_000, log_every=50)),
        # The paper: ViT-B/16, ImageNet-1k tokens, 400 epochs, batch 4096 (lr 2.4e-3), 40 warmup.
        "imagenet-vitb": with_overrides(_PRETRAIN, dict(model="mtm_base", codebook_size=391, epochs=400,
                                                        warmup_epochs=40, batch_size=4096, checkpoint_every=5_000,
                                                        log_every=100)),
    },
    "finetune": {
        # The micro model, a few epochs, with what the cpu sweep found to let it learn at this scale
        # (seitpp.experiments.recipe.MILD): crops of at least 35% of the grid, no Mixup or CutMix
        # (the paper's 8% crops and label mixing keep a micro ViT near chance for a short run), the
        # learned table started from the tokenizer's codes (pilot on 1,000 "objects", 800 steps, the
        # 4 x 4 stem: 39.8% top-1 on validation images from the codes, 13.6% from random rows), peak
        # 3e-3 at batch 64 (the sweep's 2e-3 at 32, by the sqrt rule); the paper's layer decay,
        # relaxed for the short schedule (OptimConfig.effective_layer_decay).
        "cpu-tiny": with_overrides(_FINETUNE, dict(model="tvit_micro", crop=14, epochs=10, warmup_epochs=1,
                                                   batch_size=64, blr=3e-3, min_scale=0.35, mixup=0.0, cutmix=0.0,
                                                   table_init="codes", drop_path=0.0, clip_grad=1.0, log_every=5)),
        # ViT-S, one GPU, with what the cpu sweep found for small data (cpu-tiny's, and the gpu sweep's
        # recipe): crops of at least 35%, no Mixup or CutMix, the table from the codes; the paper's
        # layer decay, relaxed for a schedule shorter than its own.
        "gpu-small": with_overrides(_FINETUNE, dict(model="tvit_small", crop=14, epochs=100, warmup_epochs=5,
                                                    batch_size=1024, min_scale=0.35, mixup=0.0, cutmix=0.0,
                                                    table_init="codes", checkpoint_every=2_000, log_every=50)),
        # The paper: 100 epochs, 1e-3 x sqrt(batch) / 8 (4e-3 at 1024), layer decay 0.65, wd 0.1,
        # 5 warmup, drop path 0.1, crops of min scale 0.08, average pooling, 1000 classes.
        "imagenet-vitb": with_overrides(_FINETUNE, dict(model="tvit_base", codebook_size=391, num_classes=1000,
                                                        checkpoint_every=5_000, log_every=100)),
        # The pixel CNN baselines (`python -m seitpp baseline`), sized and scheduled like cpu-tiny and gpu-small
        # (same crop, epochs and batch; cnn_<size> matches tvit_<size> in parameters and FLOPs). Peak 1e-2 at
        # batch 64: cpu-cnn on 2,000 Shapes images reached 0.26 / 0.40 / 0.56 / 0.60 top-1 on 500 held-out ones
        # at peak 2e-3 / 5e-3 / 1e-2 / 2e-2 (one seed). gpu-cnn's 1e-2 at batch 1024 is not tuned.
        "cpu-cnn": with_overrides(_CNN, dict(model="cnn_micro", epochs=10, batch_size=64, blr=1e-2, log_every=5)),
        "gpu-cnn": with_overrides(_CNN, dict(model="cnn_small", epochs=100, warmup_epochs=5, batch_size=1024,
                                             blr=2.5e-3, checkpoint_every=2_000, log_every=50)),
    },
    "segment": {
        # The micro model with a 64-wide decoder on ~1,000 Shapes grids and their masks: minutes
        # on 2 cores (peak 2e-3 at batch 32). Policy "none": flips, affine and resized crops on the grid.
        "cpu-tiny": with_overrides(_SEGMENT, dict(model="tvit_micro", crop=14, policy="none", epochs=20,
                                                  warmup_epochs=1, batch_size=32, blr=2e-3, lr_rule="linear",
                                                  lr_batch=32, log_every=10)),
    },
}


# What `finetune --preset NAME` starts its encoder from when no --init is given (seitpp.commands.choose_init):
# a committed MTM encoder (a folder of seitpp/artefacts) and the overrides it is fine-tuned with. cpu-tiny's is
# mtm-cpu, the micro encoder pre-trained on 2,000 Shapes grids of the reference tokenizer with its table frozen
# at the codes; fine-tuning keeps the table frozen, as it was pre-trained. Chosen on pilots over two real-photo
# tasks (benchmarks/own_data.py, BENCHMARKS.md): 74.6% and 87.4% top-1 on their pilot crops against 71.4% and
# 87.0% from scratch (3 seeds each; seed spreads 1.3-3.3 points), ahead on both if not by much. It applies only
# to the preset's own model on tokens of the reference tokenizer; the sweeps build their runs from PRESETS
# and never read this.
PRETRAINED: dict[str, tuple[str, dict]] = {"cpu-tiny": ("mtm-cpu", {"freeze_table": True})}


def preset(name: str, task: str = "finetune") -> TrainConfig:
    """The preset `name` for `task` ("pretrain", "finetune" or "segment")."""
    if task not in PRESETS:
        raise TrainSetupError(f"unknown task {task!r}; choose from {TASKS}")
    return choose_preset(PRESETS[task], name, task)
