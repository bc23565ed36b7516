"""The training loop: one engine for every task (MTM, fine-tuning on tokens or pixels, segmentation, DCT).

The split follows MAE's `main_pretrain.py` + `engine_pretrain.py`: `train()` builds everything
(data on the device, the task's model, AdamW with layer-wise lr decay, the task's batch transform,
checkpoints, the CSV log) and `train_one_epoch()` runs the steps: per-step warmup + cosine lr, the
batch transform, bf16 autocast on CUDA, gradient clipping and a NaN guard. What a step computes
is the task's (`seitpp.engine.task.Task`, chosen once by `seitpp.engine.registry.task_of`): this
module never asks which task it runs. The notebooks, the CLI (`python -m seitpp pretrain /
finetune / segment`), the experiments and the benchmarks all call `train()`.

Data. A split is small (512 bytes per 16 x 16 token grid), so all of it lives on the device as
one tensor; a batch is an index into it. Every epoch draws a permutation from a generator seeded
by (seed, epoch); under DDP, rank r takes its slice of each global batch. No per-image Python
runs in the step.

Exact resume. Every random draw of step s comes from generators seeded by (seed, s, rank): the
batch order, the augmentations, the masks, and torch's global generator (dropout, drop path) is
reseeded too. A checkpoint (`seitpp.checkpoint`, kind "train") holds the model, optimiser, step
and log, so a run killed at any point and resumed from its last checkpoint computes bitwise what
an uninterrupted run computes.

Letters: B batch, H W grid, K codebook size, C code dimension.
"""
from __future__ import annotations

import math
import time
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import torch
import torch.nn as nn
import torch.nn.functional as F
from timm.optim import create_optimizer_v2
from tqdm.auto import tqdm

from seitpp.augment.registry import create_policy
from seitpp.augment.tokenadapt import TokenAdapt
from seitpp.checkpoint import CHECKPOINT_FILE, read_checkpoint, restore, save_checkpoint
from seitpp.device import resolve_device
from seitpp.engine.config import TrainConfig, config_from_dict, flat_dict, with_overrides
from seitpp.engine.distributed import rank_world, sum_over_ranks
from seitpp.engine.task import BatchTransform, Task, autocast
from seitpp.engine.registry import task_named, task_of
from seitpp.errors import TrainingDiverged, TrainSetupError
from seitpp.files import write_csv
from seitpp.models.mtm import WEIGHTS_FILE as MTM_WEIGHTS_FILE
from seitpp.models.mtm import MaskedTokenModel
from seitpp.models.vit import load_encoder
from seitpp.schedule import ORDER_STREAM, STEP_STREAM, lr_at, stream_seed
from seitpp.tokenizers.vq import VQTokenizer
from seitpp.tokens.split import Split

CHECKPOINT_KIND = "train"
HISTORY_FILE = "history.csv"
COLUMNS = ("step", "epoch", "lr", "loss", "grad_norm", "images_per_s", "data_share", "val_loss", "val_top1",
           "val_miou", "val_pixel_acc", "val_probe_top1")
TIMING_COLUMNS = ("images_per_s", "data_share")  # the only columns a resumed run may change


# ----------------------------------------------------------------------------------------------
# What is checked and loaded before the first step


def resolve_codes(task: Task, data: Split, tokenizer: VQTokenizer | None, tokenadapt: TokenAdapt | None,
                  codebook: torch.Tensor | None = None) -> torch.Tensor | None:
    """The tokenizer's (K, C) code vectors when the task's batch transform or stem needs them, checked
    against the data; None when it needs none."""
    if not task.uses_codes():
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


def _require(path: str | Path, what: str) -> None:
    path = Path(path)
    if not path.is_file() and not (path / CHECKPOINT_FILE).is_file():
        raise FileNotFoundError(f"{path}: no such {what} checkpoint")


def _task_of_checkpoint(ckpt: dict) -> Task:
    return task_named(config_from_dict(ckpt["config"]), ckpt["task"], ckpt["data"].get("ignore_index"))


def _is_saved_mtm(path: str | Path) -> bool:
    return (Path(path) / MTM_WEIGHTS_FILE).is_file()


def load_pretrained_encoder(model: nn.Module, path: str | Path) -> list[str]:
    """Initialise `model` (a classifier, or a segmenter's encoder) from a pre-training checkpoint (file or
    run directory) or a saved MTM model (a directory `MaskedTokenModel.save` or `export_mtm` wrote, such as
    the committed `seitpp/artefacts/mtm-cpu`) -> the model keys not loaded (the head)."""
    if _is_saved_mtm(path):
        pre = MaskedTokenModel.load(path)
        state = pre.encoder_state_dict()
    else:
        _require(path, "pre-training (--init)")
        ckpt = read_checkpoint(path, CHECKPOINT_KIND)
        pre_task = _task_of_checkpoint(ckpt)
        pre = pre_task.create_model(ckpt["model_args"])
        pre.load_state_dict(ckpt["model"])
        try:
            state = pre_task.encoder_state(pre)
        except TrainSetupError as err:
            raise TrainSetupError(f"{path}: {err}, so it cannot initialise an encoder") from None
    K_init, K_model = (getattr(getattr(m, "config", None), "codebook_size", None) for m in (pre, model))
    if K_init != K_model:
        raise TrainSetupError(f"{path}: pre-trained on a codebook of {K_init} codes, the model has {K_model}")
    try:
        return load_encoder(model, state)
    except ValueError as err:
        raise TrainSetupError(f"{path}: the pre-trained encoder does not fit {type(model).__name__}: {err}") from None


def load_run(path: str | Path, device: str | torch.device = "cpu") -> tuple[nn.Module, Task, dict]:
    """A training checkpoint (file or run directory) -> (its model in eval mode, its task, the description
    of its training data: `Split.describe`, with its kind, grid, class names and tokenizer)."""
    _require(path, "training")
    ckpt = read_checkpoint(path, CHECKPOINT_KIND)
    task = _task_of_checkpoint(ckpt)
    model = task.create_model(ckpt["model_args"])
    model.load_state_dict(ckpt["model"])
    return model.to(device).eval(), task, ckpt["data"]


def load_model(path: str | Path, device: str | torch.device = "cpu") -> tuple[nn.Module, TrainConfig]:
    """The model of a training checkpoint (file or run directory), in eval mode -> (model, config)."""
    model, task, _ = load_run(path, device)
    return model, task.config


def evaluate_checkpoint(path: str | Path, data: Split, device: str | torch.device = "cpu",
                        batch_size: int = 256) -> dict[str, float]:
    """The model of a training checkpoint on `data`, centre crops (or whole grids) -> `evaluate`'s metrics."""
    model, config = load_model(path, device)
    # the data must fit the model as it was built: its codebook, its classes
    config = with_overrides(config, dict(codebook_size=getattr(model.config, "codebook_size", None),
                                         num_classes=getattr(model.config, "num_classes", None), batch_size=1))
    task = task_of(config, data)
    task.check_setup(data, None)
    return evaluate(model, data, config, device, batch_size, task)


@torch.no_grad()
def evaluate(model: nn.Module, split: Split, config: TrainConfig, device: str | torch.device = "cpu",
             batch_size: int = 256, task: Task | None = None) -> dict[str, float]:
    """`task`'s evaluation of `model` on `split` (default: the task of `config` on `split`): {"val_loss",
    "val_top1"} for a classifier, {"val_loss"} for a masked model, {"val_loss", "val_miou", "val_pixel_acc"}
    for a segmenter. Under DDP each rank evaluates every world-th sample and the sums are combined."""
    task = task or task_of(config, split)
    return task.evaluate(model, split, torch.device(device), batch_size)


# ----------------------------------------------------------------------------------------------
# The engine


@dataclass(frozen=True)
class Schedule:
    """The run's step counts, fixed before the first step."""

    steps_per_epoch: int
    total_steps: int
    warmup_steps: int  # linear lr warmup, then cosine to `optim.min_lr`
    held_steps: int  # the steps `Learner.held` keeps its start (a table's warm start, `model.table_warmup`)

    @classmethod
    def of(cls, config: TrainConfig, num_samples: int) -> Schedule:
        steps_per_epoch = num_samples // config.optim.batch_size  # full batches only
        total_steps = config.run.epochs * steps_per_epoch
        return cls(steps_per_epoch, total_steps, round(config.run.warmup_epochs * steps_per_epoch),
                   round(config.model.table_warmup * total_steps))


@dataclass
class Learner:
    """What the steps update."""

    model: nn.Module  # what the step calls: DDP-wrapped and/or compiled
    module: nn.Module  # the bare model: its parameters, its state dict, its evaluation
    optimizer: torch.optim.Optimizer
    held: list[nn.Parameter]  # parameters that keep their start for the schedule's held_steps


@dataclass(frozen=True)
class Batches:
    """Where a step's batch comes from: the whole split on the device, indexed, through the task's transform."""

    x: torch.Tensor  # (N, ...) inputs
    targets: torch.Tensor  # (N,) class labels or (N, Hm, Wm) masks
    transform: BatchTransform


@dataclass
class Log:
    """What the run has done so far: the log rows, the sums of the row being gathered, the bar, and how a
    checkpoint is written."""

    history: list[dict]
    window: dict  # loss and gradient-norm sums over the steps since the last row
    bar: tqdm
    save: Callable[[int], None]  # writes a checkpoint after a step (a no-op without out_dir)


def _new_window() -> dict:
    return {"loss": 0.0, "grad_norm": 0.0, "steps": 0}


def train_one_epoch(task: Task, cfg: TrainConfig, learner: Learner, batches: Batches, schedule: Schedule,
                    log: Log, epoch: int, first: int = 0) -> None:
    """Steps `first` .. steps_per_epoch - 1 of `epoch`; a log row every `run.log_every` steps; checkpoints
    mid-epoch every `run.checkpoint_every`."""
    rank, world = rank_world()
    device, batch_size, per_rank = batches.x.device, cfg.optim.batch_size, cfg.optim.batch_size // world
    order = torch.randperm(len(batches.x), generator=torch.Generator().manual_seed(
        stream_seed(cfg.run.seed, ORDER_STREAM, epoch)))
    order = order.to(device)
    learner.model.train()
    t_window, t_data, timed = time.perf_counter(), 0.0, 0  # timed: steps of this window run by this process
    for i in range(first, schedule.steps_per_epoch):
        step = epoch * schedule.steps_per_epoch + i
        t0 = time.perf_counter()
        lr = lr_at(step, schedule.total_steps, schedule.warmup_steps, cfg.optim.peak_lr, cfg.optim.min_lr)
        for group in learner.optimizer.param_groups:
            group["lr"] = lr * group.get("lr_scale", 1.0)  # layer-wise decay factors from timm
        seed = stream_seed(cfg.run.seed, STEP_STREAM, step, rank)
        g = torch.Generator().manual_seed(seed)  # augmentation and masks
        torch.manual_seed(seed)  # dropout and drop path
        idx = order[i * batch_size + rank * per_rank:i * batch_size + (rank + 1) * per_rank]
        inputs, targets = batches.transform(batches.x[idx], batches.targets[idx], g)
        t_data += time.perf_counter() - t0

        with autocast(cfg, device):
            loss = task.loss(learner.model, inputs, targets, g)
        (loss_value,) = sum_over_ranks([loss.item()], device)
        loss_value /= world
        if not math.isfinite(loss_value):
            raise TrainingDiverged(f"loss is {loss_value} at step {step} (epoch {epoch}, lr {lr:.3g}); training "
                                   f"stopped, the last checkpoint written is the last good one")
        learner.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if step < schedule.held_steps:
            for p in learner.held:
                p.grad = None  # AdamW leaves a parameter without a gradient as it is, weight decay included
        grad_norm = float(torch.nn.utils.clip_grad_norm_(learner.module.parameters(), cfg.optim.clip_grad or math.inf))
        if not math.isfinite(grad_norm):
            raise TrainingDiverged(f"gradient norm is {grad_norm} at step {step} (epoch {epoch}, lr {lr:.3g}); "
                                   f"training stopped, the last checkpoint written is the last good one")
        learner.optimizer.step()
        timed += 1

        w = log.window
        w["loss"], w["grad_norm"], w["steps"] = w["loss"] + loss_value, w["grad_norm"] + grad_norm, w["steps"] + 1
        done = step + 1
        epoch_end = i + 1 == schedule.steps_per_epoch
        if done % cfg.run.log_every == 0 or epoch_end:
            seconds = time.perf_counter() - t_window
            log.history.append({
                "step": done, "epoch": round(done / schedule.steps_per_epoch, 4), "lr": lr,
                "loss": w["loss"] / w["steps"], "grad_norm": w["grad_norm"] / w["steps"],
                "images_per_s": round(timed * batch_size / seconds, 1) if seconds > 0 else None,
                "data_share": round(t_data / seconds, 3) if seconds > 0 else None,
            })
            log.window = _new_window()
            t_window, t_data, timed = time.perf_counter(), 0.0, 0
        log.bar.update(1)
        log.bar.set_postfix(loss=f"{loss_value:.4f}", lr=f"{lr:.2e}")
        if cfg.run.checkpoint_every and done % cfg.run.checkpoint_every == 0 and not epoch_end:
            log.save(done)


@dataclass
class TrainResult:
    model: nn.Module  # the bare model after the last step, in eval mode
    config: TrainConfig
    history: list[dict]  # one dict per log row (COLUMNS)
    steps: int
    out_dir: Path | None
    missing_keys: list[str] = field(default_factory=list)  # model keys --init did not provide
    metrics: dict[str, float] = field(default_factory=dict)  # the last evaluation: every val_* column


def _resume(ckpt_path: Path | None, cfg: TrainConfig, data: Split, world: int) -> dict | None:
    """The run's checkpoint, if there is one, checked to continue this very run."""
    if ckpt_path is None or not ckpt_path.exists():
        return None
    ckpt = read_checkpoint(ckpt_path, CHECKPOINT_KIND)
    stored = flat_dict(config_from_dict(ckpt["config"]))  # a setting added since the checkpoint has its default
    if stored != flat_dict(cfg):
        changed = sorted(k for k in stored if stored[k] != flat_dict(cfg)[k])
        raise TrainSetupError(f"{ckpt_path}: made with another config (fields {changed} differ); "
                              f"remove it or use another out_dir")
    if ckpt["data"]["fingerprint"] != data.fingerprint():
        raise TrainSetupError(f"{ckpt_path}: made on other data ({ckpt['data']['source']}) than {data.source}")
    if ckpt["world_size"] != world:
        warnings.warn(f"{ckpt_path}: made with {ckpt['world_size']} processes, resumed with {world}: "
                      "the rest of the run draws other augmentations than it would have")
    return ckpt


def train(
    config: TrainConfig,
    data: Split,
    val: Split | None = None,
    out_dir: str | Path | None = None,
    *,
    tokenizer: VQTokenizer | None = None,
    tokenadapt: TokenAdapt | None = None,
    codebook: torch.Tensor | None = None,
    init: str | Path | None = None,
    device: str | torch.device | None = None,
    progress: bool = True,
) -> TrainResult:
    """Train the task of `config` on `data` (`seitpp.engine.registry`: MTM pre-training, fine-tuning on
    tokens or pixels, segmentation, or either on DCT levels), evaluating on `val`.

    Args:
        config: a preset (`seitpp.engine.preset`), possibly with overrides.
        data, val: training and validation splits (`Split.from_store`, `Split.shapes`, `load_split`, or tensors).
        out_dir: where `checkpoint.pt` and `history.csv` go; a run finds its checkpoint there and
            resumes exactly. None: nothing is written.
        tokenizer: the tokenizer that made the tokens (default: the reference one): its codebook
            drives the appearance ops and synonyms of the "seit" / "seitpp" policies.
        tokenadapt: trained TokenAdapt weights for the "seitpp" policy's geometry (fine-tuning's
            geometric half; every sample of a segmentation batch).
        codebook: (K, C) code vectors of the tokens when their tokenizer is not at hand (SeiT's
            released `codebook.ckpt`, via `Codebook.from_seit`), instead of `tokenizer`.
        init: a pre-training checkpoint (file or run directory) to start the encoder from.
        device: default `seitpp.device.default_device()` (SEITPP_DEVICE, else CUDA if there is one, else
            the CPU); under torchrun, this rank's device.
        progress: a tqdm bar (rank 0 only).
    """
    cfg = config
    rank, world = rank_world()
    device = resolve_device(device)
    if device.type == "cuda" and device.index is None:
        device = torch.device("cuda", torch.cuda.current_device())

    # -- everything that can be wrong is found before the first step ---------------------------
    task = task_of(cfg, data)
    task.check_setup(data, val)
    if cfg.optim.batch_size % world:
        raise TrainSetupError(f"config: batch_size {cfg.optim.batch_size} is not divisible by {world} processes")
    ckpt_path = Path(out_dir) / CHECKPOINT_FILE if out_dir is not None else None
    ckpt = _resume(ckpt_path, cfg, data, world)
    if init is not None and ckpt is None and not _is_saved_mtm(init):
        _require(init, "pre-training (--init)")
    aug = cfg.augment
    uses_tokenadapt = tokenadapt is not None and create_policy(aug.policy).uses_tokenadapt(aug) and task.uses_codes()
    if tokenadapt is not None and not uses_tokenadapt:
        warnings.warn(f"TokenAdapt given but unused: task {task.name}, policy {aug.policy}, "
                      f"token_adapt {aug.token_adapt}")
    codes = resolve_codes(task, data, tokenizer, tokenadapt if uses_tokenadapt else None, codebook)

    torch.manual_seed(cfg.run.seed)
    model, model_args = task.build_model(data, codes)
    missing: list[str] = []
    if init is not None and ckpt is None:
        missing = load_pretrained_encoder(task.encoder(model), init)
    model.to(device)
    ta = tokenadapt.to(device).eval().requires_grad_(False) if uses_tokenadapt else None
    transform = task.batch_transform(data, None if codes is None else codes.to(device), ta)
    schedule = Schedule.of(cfg, len(data))
    steps_per_epoch, total_steps = schedule.steps_per_epoch, schedule.total_steps
    optim = cfg.optim
    optimizer = create_optimizer_v2(model, "adamw", lr=optim.peak_lr, weight_decay=optim.weight_decay,
                                    betas=optim.betas, layer_decay=optim.effective_layer_decay(total_steps))
    start, history, window = 0, [], _new_window()
    if ckpt is not None:
        start, history = restore(ckpt, model, optimizer)
        window = ckpt["window"]

    step_model = model
    if world > 1:
        step_model = nn.parallel.DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda"
                                                         else None)
    if cfg.run.compile:
        step_model = torch.compile(step_model)

    def save(step: int) -> None:
        if ckpt_path is None or rank != 0:
            return
        for name, p in model.named_parameters():  # never overwrite a good checkpoint with a broken model
            if not torch.isfinite(p).all():
                raise TrainingDiverged(f"parameter {name} is not finite after step {step - 1}; "
                                       f"{ckpt_path} keeps the last good state")
        save_checkpoint(ckpt_path, CHECKPOINT_KIND, asdict(cfg), model, optimizer, step, log.history,
                        task=task.name, model_name=cfg.model.name, model_args=model_args,
                        epoch=step / steps_per_epoch, window=log.window, data=data.describe(), world_size=world,
                        init=None if init is None else str(init))
        write_csv(log.history, ckpt_path.parent / HISTORY_FILE, COLUMNS)

    learner = Learner(step_model, model, optimizer, task.token_tables(model))
    batches = Batches(data.x.to(device), data.targets.to(device), transform)
    bar = tqdm(total=total_steps, initial=start, desc=task.name, disable=not progress or rank != 0)
    log = Log(history, window, bar, save)
    eval_batch = max(optim.batch_size // world, 64)
    try:
        if start == 0 and val is not None and task.evaluate_at_start:  # where the curve starts
            log.history.append({"step": 0, "epoch": 0.0, **task.evaluate(model, val, device, batch_size=eval_batch)})
        for epoch in range(start // steps_per_epoch, cfg.run.epochs):
            first = start - epoch * steps_per_epoch if epoch == start // steps_per_epoch else 0
            train_one_epoch(task, cfg, learner, batches, schedule, log, epoch, first)
            last = epoch + 1 == cfg.run.epochs
            if val is not None and ((epoch + 1) % cfg.run.eval_every == 0 or last):
                log.history[-1] |= task.evaluate(model, val, device, batch_size=eval_batch)
            save((epoch + 1) * steps_per_epoch)
    finally:
        bar.close()
    model.eval()
    evals = [row for row in log.history if row.get("val_loss") is not None]
    metrics = {k: v for k, v in evals[-1].items() if k.startswith("val_")} if evals else {}
    return TrainResult(model, cfg, log.history, total_steps, Path(out_dir) if out_dir is not None else None,
                       missing, metrics)
