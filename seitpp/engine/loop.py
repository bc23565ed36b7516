"""Training on tokens: MTM pre-training, classification fine-tuning and segmentation with one engine.

The split follows MAE's `main_pretrain.py` + `engine_pretrain.py`: `train()` builds everything
(data on the device, model, AdamW with layer-wise lr decay, the augmentation policy, checkpoints,
the CSV log) and `train_one_epoch()` runs the steps: per-step warmup + cosine lr, the batch
transform, bf16 autocast on CUDA, gradient clipping and a NaN guard. The notebooks, the CLI
(`python -m seitpp pretrain / finetune / segment`) and the benchmarks all call `train()`.

The three tasks differ in three places only: the model (`build_model`), the batch transform
(a policy) and the loss. Segmentation (`seitpp.segment`) trains a `TokenSegmenter` on
`SegmentationData`, whose targets are masks: its policy moves tokens and masks by one geometry
per sample, the loss is per-pixel cross-entropy and the evaluation is mIoU.

Data. A token split is small (512 bytes per 16 x 16 image), so all of it lives on the device as
one integer tensor; a batch is an index into it. Every epoch draws a permutation from a generator
seeded by (seed, epoch); under DDP, rank r takes its slice of each global batch. No per-image
Python runs in the step.

Augmentation. `TokenPolicy` is the release's fine-tuning policy as a batch transform on ids:

    ids (B, H, W) -> one of {Emb-Noise 0.75, ColorAdapt 0.25} on a random half (embed, op, nearest code)
        -> split in two halves:
             TokenAdapt half: per-sample theta (flip, affine, resized crop) -> TokenAdapt.augment -> Mixup | CutMix
             plain half:      random-resized crop (tokens move, none invented) -> CutMix
        -> ids (B, S, S), or one-hot mixtures (B, K, S, S) when Mixup was drawn; soft labels (B, classes);
           label smoothing in the loss

The release mixes the TokenAdapt half inside TokenAdapt's f-space, where its half-batch shares
one flip and one affine. With a theta per sample, two partners carry two different geometries,
so we mix after TokenAdapt instead: CutMix on ids, Mixup on one-hot distributions, which the
token ViT's stem turns into exactly the mixture of the two embeddings.

`PixelPolicy` gives the pixel ViT baseline resized crops, flips and the same label mixing.

Exact resume. Every random draw of step s comes from generators seeded by (seed, s, rank): the
batch order, the augmentations, the MTM masks, and torch's global generator (dropout, drop path)
is reseeded too. A checkpoint holds the model, optimiser, step and log, so a run killed at any
point and resumed from its last checkpoint computes bitwise what an uninterrupted run computes.

Letters: B batch, H W token grid, S crop side, C code dimension, K codebook size.
"""
from __future__ import annotations

import math
import time
import warnings
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F
from timm.optim import create_optimizer_v2
from tqdm.auto import tqdm

from seitpp.augment.tokenadapt import TokenAdapt
from seitpp.engine.config import TrainConfig, config_from_dict
from seitpp.engine.distributed import _rank_world, _sum_over_ranks
from seitpp.engine.losses import pixel_loss, soft_cross_entropy
from seitpp.engine.policies import (
    CropPolicy,
    PixelPolicy,
    TokenPolicy,
    center_crop,
    pixels_to_input,
    segment_policy,
)
from seitpp.engine.segment import (
    check_segmentation,
    mean_iou,
    pixel_accuracy,
    segmentation_counts,
)
from seitpp.errors import TrainingDiverged, TrainSetupError
from seitpp.files import atomic_path, write_csv
from seitpp.models.mtm import create_mtm
from seitpp.models.segmenter import TokenSegmenter
from seitpp.models.vit import PixelViTConfig, TokenViTConfig, create_model, load_encoder
from seitpp.schedule import lr_at, stream_seed
from seitpp.tokenizers.vq import VQTokenizer
from seitpp.tokens.split import SegmentationData, TrainData

_ORDER, _STEP, _EVAL = 1, 2, 3  # random streams

CHECKPOINT_FILE = "checkpoint.pt"
HISTORY_FILE = "history.csv"
CHECKPOINT_FORMAT = "seitpp-train-1"
COLUMNS = ("step", "epoch", "lr", "loss", "grad_norm", "images_per_s", "data_share", "val_loss", "val_acc",
           "val_miou", "val_pixel_acc")
TIMING_COLUMNS = ("images_per_s", "data_share")  # the only columns a resumed run may change



# ----------------------------------------------------------------------------------------------
# Building the model, and everything checked before the first step


def _pixel_crop(config: TrainConfig) -> int:
    """Pixel side with the token model's patch grid: a patch is 2 x 2 tokens or patch_size pixels."""
    return config.crop * PixelViTConfig().patch_size // 2


def build_model(config: TrainConfig, codebook_size: int | None, num_classes: int,
                codes: torch.Tensor | None = None) -> tuple[nn.Module, dict]:
    """The model of a run -> (model, the keyword arguments it was created with, for checkpoints)."""
    if config.task == "segment":
        args = dict(num_classes=num_classes, codebook_size=codebook_size, encoder=config.model,
                    grid_size=config.crop, decoder_dim=config.decoder_dim, drop_path_rate=config.drop_path)
        return TokenSegmenter(codes=codes if config.table_init == "codes" else None, **args), args
    if config.task == "pretrain":
        args = dict(codebook_size=codebook_size, grid_size=config.crop, drop_path_rate=config.drop_path)
        return create_mtm(config.model, codes=codes if config.table_init == "codes" else None, **args), args
    args = dict(num_classes=num_classes, drop_path_rate=config.drop_path, global_pool=config.global_pool)
    if codebook_size is None:  # pixels
        args |= dict(img_size=_pixel_crop(config))
        return create_model(config.model, **args), args
    args |= dict(codebook_size=codebook_size, grid_size=config.crop, stem=config.stem)
    if config.stem == "seit":  # frozen codes: a zero table is overwritten by a checkpoint's
        codes = codes if codes is not None else torch.zeros(codebook_size, TokenViTConfig().code_dim)
        return create_model(config.model, codes=codes, **args), args
    return create_model(config.model, codes=codes if config.table_init == "codes" else None, **args), args


def _check_setup(config: TrainConfig, data: TrainData, val: TrainData | None) -> None:
    """Raise TrainSetupError for data and config that cannot train together, naming the file and value."""
    for d in [data] + ([val] if val is not None else []):
        if isinstance(d, SegmentationData) != (config.task == "segment"):
            raise TrainSetupError(f"{d.source}: {'masks' if isinstance(d, SegmentationData) else 'image labels'} "
                                  f"cannot train task {config.task!r}")
    if config.task == "segment":
        check_segmentation(config, data, val)
    for d in [data] + ([val] if val is not None else []):
        if config.codebook_size is not None and d.codebook_size is not None and d.codebook_size != config.codebook_size:
            raise TrainSetupError(f"{d.source}: tokens from a codebook of {d.codebook_size} codes, but the model "
                                  f"expects codebook_size {config.codebook_size}")
        if config.num_classes is not None and config.task != "pretrain" and d.num_classes != config.num_classes:
            raise TrainSetupError(f"{d.source}: {d.num_classes} classes, but the config sets num_classes "
                                  f"{config.num_classes}")
        if d.kind == "tokens" and min(d.grid) < config.crop:
            raise TrainSetupError(f"{d.source}: {d.grid[0]} x {d.grid[1]} token grids are smaller than the "
                                  f"{config.crop} x {config.crop} crop")
        if d.kind == "pixels" and min(d.grid) < _pixel_crop(config):
            raise TrainSetupError(f"{d.source}: {d.grid[0]} x {d.grid[1]} images are smaller than the "
                                  f"{_pixel_crop(config)} pixel crop")
    if val is not None:
        for name in ("kind", "codebook_size", "num_classes"):
            if getattr(val, name) != getattr(data, name):
                raise TrainSetupError(f"{val.source}: {name} {getattr(val, name)} differs from the training data's "
                                      f"({data.source}: {getattr(data, name)})")
    if data.kind == "pixels" and config.task == "pretrain":
        raise TrainSetupError(f"{data.source}: MTM pre-training needs token ids, not images")
    is_pixel_model = config.model.startswith("pvit")
    if config.task != "pretrain" and is_pixel_model != (data.kind == "pixels"):
        raise TrainSetupError(f"{data.source}: model {config.model} reads "
                              f"{'images' if is_pixel_model else 'token ids'}, the data are {data.kind}")
    if len(data) < config.batch_size:
        raise TrainSetupError(f"{data.source}: {len(data)} samples, fewer than one batch of {config.batch_size}")


def _policy_codebook(config: TrainConfig, data: TrainData, tokenizer: VQTokenizer | None,
                     tokenadapt: TokenAdapt | None, codebook: torch.Tensor | None = None) -> torch.Tensor | None:
    """The tokenizer's (K, C) code vectors when the policy or the stem needs them, checked against the data."""
    uses_codes = config.table_init == "codes" or (config.task != "pretrain" and
                                                  (config.policy != "none" or config.stem == "seit"))
    needed = data.kind == "tokens" and uses_codes
    if not needed:
        return None
    if codebook is not None:  # code vectors without their tokenizer (SeiT's codebook.ckpt): K is all we can check
        if tokenizer is not None:
            raise TrainSetupError("give the tokenizer or its codebook, not both")
        if codebook.ndim != 2 or len(codebook) != data.codebook_size:
            raise TrainSetupError(f"{data.source}: {data.codebook_size} codes, the codebook given has shape "
                                  f"{tuple(codebook.shape)}")
        if tokenadapt is not None and tokenadapt.config.codebook_size != data.codebook_size:
            raise TrainSetupError(f"TokenAdapt has {tokenadapt.config.codebook_size} codes, "
                                  f"{data.source} has {data.codebook_size}")
        return F.normalize(codebook.detach().float(), dim=1)
    tokenizer = tokenizer or VQTokenizer.load()
    made_by = data.tokenizer_hash
    if made_by is not None and made_by != tokenizer.fingerprint():
        raise TrainSetupError(f"{data.source} was made by tokenizer {made_by}, but the codebook given is that of "
                              f"tokenizer {tokenizer.fingerprint()}: pass the tokenizer that made the tokens")
    if tokenizer.config.codebook_size != data.codebook_size:
        raise TrainSetupError(f"{data.source}: {data.codebook_size} codes, the tokenizer has "
                              f"{tokenizer.config.codebook_size}")
    if tokenadapt is not None:
        if tokenadapt.config.codebook_size != data.codebook_size:
            raise TrainSetupError(f"TokenAdapt has {tokenadapt.config.codebook_size} codes, "
                                  f"{data.source} has {data.codebook_size}")
        trained_on = getattr(tokenadapt, "tokenizer_hash", "")
        if trained_on and trained_on != tokenizer.fingerprint():
            raise TrainSetupError(f"TokenAdapt was trained on tokens of tokenizer {trained_on}, not of "
                                  f"{tokenizer.fingerprint()}")
    return tokenizer.codebook.vectors().detach()


def _checkpoint_file(path: str | Path, what: str) -> Path:
    path = Path(path)
    if path.is_dir():
        path = path / CHECKPOINT_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such {what} checkpoint")
    return path


def _read_checkpoint(path: Path) -> dict:
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as err:  # torch raises many kinds here; all mean "not a checkpoint we can read"
        raise TrainSetupError(f"{path}: not a readable checkpoint ({type(err).__name__}: {err})") from None
    if not isinstance(ckpt, dict) or ckpt.get("format") != CHECKPOINT_FORMAT:
        raise TrainSetupError(f"{path}: not a seitpp training checkpoint")
    return ckpt


def load_pretrained_encoder(model: nn.Module, path: str | Path) -> list[str]:
    """Initialise a classifier from an MTM pre-training checkpoint -> the model keys not loaded (the head)."""
    path = _checkpoint_file(path, "pre-training (--init)")
    ckpt = _read_checkpoint(path)
    if ckpt["config"]["task"] != "pretrain":
        raise TrainSetupError(f"{path}: a {ckpt['config']['task']} checkpoint, not an MTM pre-training one")
    mtm, _ = build_model(config_from_dict(ckpt["config"]), ckpt["model_args"]["codebook_size"], 0)
    mtm.load_state_dict(ckpt["model"])
    K_init, K_model = mtm.config.codebook_size, model.config.codebook_size
    if K_init != K_model:
        raise TrainSetupError(f"{path}: pre-trained on a codebook of {K_init} codes, the model has {K_model}")
    try:
        return load_encoder(model, mtm.encoder_state_dict())
    except ValueError as err:
        raise TrainSetupError(f"{path}: the pre-trained encoder does not fit {type(model).__name__}: {err}") from None


def load_model(path: str | Path, device: str | torch.device = "cpu") -> tuple[nn.Module, TrainConfig]:
    """The model of a training checkpoint (file or run directory), in eval mode -> (model, config)."""
    path = _checkpoint_file(path, "training")
    ckpt = _read_checkpoint(path)
    config = config_from_dict(ckpt["config"])
    args = ckpt["model_args"]
    model, _ = build_model(config, args.get("codebook_size"), args.get("num_classes", 0))
    model.load_state_dict(ckpt["model"])
    return model.to(device).eval(), config


def evaluate_checkpoint(path: str | Path, data: TrainData, device: str | torch.device = "cpu",
                        batch_size: int = 256) -> dict[str, float]:
    """The model of a training checkpoint on `data`, centre crops -> `evaluate`'s metrics."""
    model, config = load_model(path, device)
    # the data must fit the model as it was built: its codebook, its classes, its crop
    K = getattr(model.config, "codebook_size", None)
    _check_setup(replace(config, codebook_size=K if data.kind == "tokens" else None,
                         num_classes=getattr(model.config, "num_classes", None), batch_size=1), data, None)
    return evaluate(model, data, config, device, batch_size)






# ----------------------------------------------------------------------------------------------
# The engine


@dataclass
class _Run:
    """What the steps of a run share."""

    config: TrainConfig
    model: nn.Module  # what the step calls: DDP-wrapped and/or compiled
    module: nn.Module  # the bare model: its state dict, its evaluation
    optimizer: torch.optim.Optimizer
    policy: object
    x: torch.Tensor  # the whole training split, on the device
    labels: torch.Tensor  # (N,) class labels, or (N, Hm, Wm) masks for segmentation
    device: torch.device
    steps_per_epoch: int
    total_steps: int
    warmup_steps: int
    history: list[dict] = field(default_factory=list)
    window: dict = field(default_factory=lambda: {"loss": 0.0, "grad_norm": 0.0, "steps": 0})
    save: object = None  # callable(step) writing a checkpoint, or None
    bar: object = None
    ignore_index: int | None = None  # segmentation: the mask value that is not scored


def _autocast(config: TrainConfig, device: torch.device):
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=config.amp and device.type == "cuda")


def train_one_epoch(run: _Run, epoch: int, first: int = 0) -> None:
    """Steps `first` .. steps_per_epoch - 1 of `epoch`; logs every `log_every` steps; checkpoints mid-epoch."""
    cfg, rank, world = run.config, *_rank_world()
    per_rank = cfg.batch_size // world
    order = torch.randperm(len(run.x), generator=torch.Generator().manual_seed(stream_seed(cfg.seed, _ORDER, epoch)))
    order = order.to(run.device)
    run.model.train()
    t_window, t_data, timed = time.perf_counter(), 0.0, 0  # timed: steps of this window run by this process
    for i in range(first, run.steps_per_epoch):
        step = epoch * run.steps_per_epoch + i
        t0 = time.perf_counter()
        lr = lr_at(step, run.total_steps, run.warmup_steps, cfg.peak_lr, cfg.min_lr)
        for group in run.optimizer.param_groups:
            group["lr"] = lr * group.get("lr_scale", 1.0)  # layer-wise decay factors from timm
        seed = stream_seed(cfg.seed, _STEP, step, rank)
        g = torch.Generator().manual_seed(seed)  # augmentation and masks
        torch.manual_seed(seed)  # dropout and drop path
        idx = order[i * cfg.batch_size + rank * per_rank:i * cfg.batch_size + (rank + 1) * per_rank]
        x, target = run.policy(run.x[idx], run.labels[idx], g)
        t_data += time.perf_counter() - t0

        with _autocast(cfg, run.device):
            if cfg.task == "pretrain":
                loss = run.model(x, generator=g)[0]
            elif cfg.task == "segment":
                loss = pixel_loss(run.model(x, target.shape[-2:]), target, run.ignore_index)
            else:
                loss = soft_cross_entropy(run.model(x), target, cfg.label_smoothing)
        (loss_value,) = _sum_over_ranks([loss.item()], run.device)
        loss_value /= world
        if not math.isfinite(loss_value):
            raise TrainingDiverged(f"loss is {loss_value} at step {step} (epoch {epoch}, lr {lr:.3g}); training "
                                   f"stopped, the last checkpoint written is the last good one")
        run.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        grad_norm = float(torch.nn.utils.clip_grad_norm_(run.module.parameters(), cfg.clip_grad or math.inf))
        if not math.isfinite(grad_norm):
            raise TrainingDiverged(f"gradient norm is {grad_norm} at step {step} (epoch {epoch}, lr {lr:.3g}); "
                                   f"training stopped, the last checkpoint written is the last good one")
        run.optimizer.step()
        timed += 1

        w = run.window
        w["loss"], w["grad_norm"], w["steps"] = w["loss"] + loss_value, w["grad_norm"] + grad_norm, w["steps"] + 1
        done = step + 1
        epoch_end = i + 1 == run.steps_per_epoch
        if done % cfg.log_every == 0 or epoch_end:
            seconds = time.perf_counter() - t_window
            run.history.append({
                "step": done, "epoch": round(done / run.steps_per_epoch, 4), "lr": lr,
                "loss": w["loss"] / w["steps"], "grad_norm": w["grad_norm"] / w["steps"],
                "images_per_s": round(timed * cfg.batch_size / seconds, 1) if seconds > 0 else None,
                "data_share": round(t_data / seconds, 3) if seconds > 0 else None,
            })
            run.window = {"loss": 0.0, "grad_norm": 0.0, "steps": 0}
            t_window, t_data, timed = time.perf_counter(), 0.0, 0
        if run.bar is not None:
            run.bar.update(1)
            run.bar.set_postfix(loss=f"{loss_value:.4f}", lr=f"{lr:.2e}")
        if run.save is not None and cfg.checkpoint_every and done % cfg.checkpoint_every == 0 and not epoch_end:
            run.save(done)


@torch.no_grad()
def evaluate(model: nn.Module, data: TrainData, config: TrainConfig, device: str | torch.device = "cpu",
             batch_size: int = 256) -> dict[str, float]:
    """Centre crops -> {"val_loss", "val_acc"} (top-1) for a classifier, {"val_loss"} for MTM; whole
    grids -> {"val_loss" per labelled pixel, "val_miou", "val_pixel_acc"} for a segmenter.

    Under DDP each rank evaluates every world-th sample and the sums are combined. MTM masks come
    from a fixed seed, so evaluations along a run are comparable.
    """
    device = torch.device(device)
    rank, world = _rank_world()
    idx = torch.arange(rank, len(data), world)
    if config.task == "segment":
        with _autocast(config, device):
            confusion, loss_sum = segmentation_counts(model, data, device, batch_size, idx)
        *counts, loss_sum = _sum_over_ranks(confusion.flatten().tolist() + [loss_sum], device)
        confusion = torch.tensor(counts, dtype=torch.float64).round().long().view_as(confusion)
        return {"val_loss": loss_sum / max(1, int(confusion.sum())), "val_miou": mean_iou(confusion),
                "val_pixel_acc": pixel_accuracy(confusion)}
    was_training = model.training
    model.eval()
    size = _pixel_crop(config) if data.kind == "pixels" else config.crop
    g = torch.Generator().manual_seed(stream_seed(config.seed, _EVAL, rank))
    loss_sum = correct = 0.0
    for chunk in idx.split(batch_size):
        x, y = data.x[chunk].to(device), data.labels[chunk].to(device)
        x = center_crop(pixels_to_input(x), size) if data.kind == "pixels" else center_crop(x.long(), size)
        with _autocast(config, device):
            if config.task == "pretrain":
                loss_sum += float(model(x, generator=g)[0]) * len(chunk)
                continue
            logits = model(x).float()
        loss_sum += float(F.cross_entropy(logits, y, reduction="sum"))
        correct += float((logits.argmax(1) == y).sum())
    loss_sum, correct, count = _sum_over_ranks([loss_sum, correct, float(len(idx))], device)
    model.train(was_training)
    metrics = {"val_loss": loss_sum / max(count, 1)}
    if config.task == "finetune":
        metrics["val_acc"] = correct / max(count, 1)
    return metrics


@dataclass
class TrainResult:
    model: nn.Module  # the bare model after the last step, in eval mode
    config: TrainConfig
    history: list[dict]  # one dict per log row (COLUMNS)
    val_acc: float | None  # top-1 of the last evaluation (fine-tuning with validation data)
    val_loss: float | None
    steps: int
    out_dir: Path | None
    missing_keys: list[str] = field(default_factory=list)  # model keys --init did not provide
    metrics: dict[str, float] = field(default_factory=dict)  # the last evaluation, every val_* column


def train(
    config: TrainConfig,
    data: TrainData,
    val: TrainData | None = None,
    out_dir: str | Path | None = None,
    *,
    tokenizer: VQTokenizer | None = None,
    tokenadapt: TokenAdapt | None = None,
    codebook: torch.Tensor | None = None,
    init: str | Path | None = None,
    device: str | torch.device | None = None,
    progress: bool = True,
) -> TrainResult:
    """Pre-train (config.task "pretrain"), fine-tune ("finetune") or segment ("segment") on `data`,
    evaluating on `val`.

    Args:
        config: a preset (`seitpp.recipes.preset`), possibly with overrides.
        data, val: training and validation splits (`TrainData.from_store`, `TrainData.shapes`, or tensors);
            for segmentation, `seitpp.segment.SegmentationData`.
        out_dir: where `checkpoint.pt` and `history.csv` go; a run finds its checkpoint there and
            resumes exactly. None: nothing is written.
        tokenizer: the tokenizer that made the tokens (default: the reference one): its codebook
            drives the embedding ops and synonyms of the "seit" / "seitpp" policies.
        tokenadapt: trained TokenAdapt weights for the "seitpp" policy's geometry (fine-tuning's
            geometric half; every sample of a segmentation batch).
        codebook: (K, C) code vectors of the tokens when their tokenizer is not at hand (SeiT's
            released `codebook.ckpt`, via `Codebook.from_seit`), instead of `tokenizer`.
        init: an MTM pre-training checkpoint (file or run directory) to start the encoder from.
        device: default CUDA if there is one; under torchrun, this rank's device.
        progress: a tqdm bar (rank 0 only).
    """
    cfg = config
    rank, world = _rank_world()
    device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    if device.type == "cuda" and device.index is None:
        device = torch.device("cuda", torch.cuda.current_device())

    # -- everything that can be wrong is found before the first step ---------------------------
    _check_setup(cfg, data, val)
    if cfg.batch_size % world:
        raise TrainSetupError(f"config: batch_size {cfg.batch_size} is not divisible by {world} processes")
    ckpt_path = Path(out_dir) / CHECKPOINT_FILE if out_dir is not None else None
    ckpt = _read_checkpoint(ckpt_path) if ckpt_path is not None and ckpt_path.exists() else None
    if ckpt is not None:
        stored = asdict(config_from_dict(ckpt["config"]))  # a field added since the checkpoint has its default
        if stored != asdict(cfg):
            changed = sorted(k for k in stored if stored[k] != asdict(cfg)[k])
            raise TrainSetupError(f"{ckpt_path}: made with another config (fields {changed} differ); "
                                  f"remove it or use another out_dir")
        if ckpt["data"]["fingerprint"] != data.fingerprint():
            raise TrainSetupError(f"{ckpt_path}: made on other data ({ckpt['data']['source']}) than {data.source}")
        if ckpt["world_size"] != world:
            warnings.warn(f"{ckpt_path}: made with {ckpt['world_size']} processes, resumed with {world}: "
                          "the rest of the run draws other augmentations than it would have")
    if init is not None and ckpt is None:
        _checkpoint_file(init, "pre-training (--init)")
    uses_tokenadapt = cfg.task != "pretrain" and cfg.policy == "seitpp" and cfg.token_adapt
    if tokenadapt is not None and not uses_tokenadapt:
        warnings.warn(f"TokenAdapt given but unused: task {cfg.task}, policy {cfg.policy}, "
                      f"token_adapt {cfg.token_adapt}")
    codes = _policy_codebook(cfg, data, tokenizer, tokenadapt if uses_tokenadapt else None, codebook)

    torch.manual_seed(cfg.seed)
    model, model_args = build_model(cfg, data.codebook_size, data.num_classes, codes)
    missing: list[str] = []
    if init is not None and ckpt is None:
        missing = load_pretrained_encoder(model.encoder if cfg.task == "segment" else model, init)
    model.to(device)
    ta = tokenadapt.to(device).eval().requires_grad_(False) if tokenadapt is not None and uses_tokenadapt else None
    codes_here = None if codes is None else codes.to(device)
    if cfg.task == "pretrain":
        policy = CropPolicy(cfg)
    elif cfg.task == "segment":
        policy = segment_policy(cfg, codes_here, ta)
    elif data.kind == "pixels":
        policy = PixelPolicy(cfg, data.num_classes, _pixel_crop(cfg))
    else:
        policy = TokenPolicy(cfg, data.num_classes, codes_here, ta)
    optimizer = create_optimizer_v2(model, "adamw", lr=cfg.peak_lr, weight_decay=cfg.weight_decay,
                                    betas=cfg.betas, layer_decay=cfg.layer_decay)
    steps_per_epoch = len(data) // cfg.batch_size
    total_steps = cfg.epochs * steps_per_epoch
    start, history, window = 0, [], None
    if ckpt is not None:
        model.load_state_dict(ckpt["model"])
        optimizer.load_state_dict(ckpt["optimizer"])
        start, history, window = ckpt["step"], ckpt["history"], ckpt["window"]
        torch.set_rng_state(ckpt["rng"]["torch"])

    step_model = model
    if world > 1:
        step_model = nn.parallel.DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda"
                                                         else None)
    if cfg.compile:
        step_model = torch.compile(step_model)

    run = _Run(cfg, step_model, model, optimizer, policy, data.x.to(device), data.labels.to(device), device,
               steps_per_epoch, total_steps, round(cfg.warmup_epochs * steps_per_epoch), history,
               ignore_index=getattr(data, "ignore_index", None))
    if window is not None:
        run.window = window

    def save(step: int) -> None:
        if ckpt_path is None or rank != 0:
            return
        for name, p in model.named_parameters():  # never overwrite a good checkpoint with a broken model
            if not torch.isfinite(p).all():
                raise TrainingDiverged(f"parameter {name} is not finite after step {step - 1}; "
                                       f"{ckpt_path} keeps the last good state")
        state = {"format": CHECKPOINT_FORMAT, "config": asdict(cfg), "model_name": cfg.model, "model_args": model_args,
                 "model": model.state_dict(), "optimizer": optimizer.state_dict(), "step": step,
                 "epoch": step / steps_per_epoch, "history": run.history, "window": run.window,
                 "rng": {"torch": torch.get_rng_state()}, "data": data.describe(), "world_size": world,
                 "init": None if init is None else str(init)}
        with atomic_path(ckpt_path) as tmp:
            torch.save(state, tmp)
        write_csv(run.history, ckpt_path.parent / HISTORY_FILE, COLUMNS)

    run.save = save
    run.bar = tqdm(total=total_steps, initial=start, desc=cfg.task, disable=not progress or rank != 0)
    try:
        for epoch in range(start // steps_per_epoch, cfg.epochs):
            first = start - epoch * steps_per_epoch if epoch == start // steps_per_epoch else 0
            train_one_epoch(run, epoch, first)
            last = epoch + 1 == cfg.epochs
            if val is not None and ((epoch + 1) % cfg.eval_every == 0 or last):
                run.history[-1] |= evaluate(model, val, cfg, device, batch_size=max(cfg.batch_size // world, 64))
            save((epoch + 1) * steps_per_epoch)
    finally:
        run.bar.close()
    model.eval()
    evals = [row for row in run.history if row.get("val_loss") is not None]
    metrics = {k: v for k, v in evals[-1].items() if k.startswith("val_")} if evals else {}
    return TrainResult(model, cfg, run.history, metrics.get("val_acc"), metrics.get("val_loss"), total_steps,
                       Path(out_dir) if out_dir is not None else None, missing, metrics)
