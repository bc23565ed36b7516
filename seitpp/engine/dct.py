"""Training on DCT levels: classification and masked block modeling."""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F
from timm.optim import create_optimizer_v2
from tqdm.auto import tqdm

from seitpp.augment.dct import dct_color_swap, hflip_levels, random_block_crops
from seitpp.augment.ops import ColorAdapt
from seitpp.data.dct import BLOCK, _check_levels, quant_tables
from seitpp.engine.policies import center_crop
from seitpp.models.dct import DCTViT, DCTViTConfig, MaskedDCTModel, dct_vit
from seitpp.models.vit import SIZES, load_encoder
from seitpp.schedule import lr_at, stream_seed

_ORDER, _STEP = 1, 2  # random streams: the epoch's sample order, everything drawn in a step


@dataclass(frozen=True)
class DCTTrainConfig:
    """A run of a DCT ViT on levels: "finetune" (classification) or "pretrain" (`MaskedDCTModel`).

    Every step takes a batch, a random crop of `crop` x `crop` blocks and a mirror with p 0.5 per
    sample (both exact on levels), and for "finetune" gives a `color_swap` share of the batch a
    partner's colour statistics (`dct_color_swap`). AdamW with layer-wise lr decay, linear warmup
    and a cosine to `min_lr`, as the token models' engine (`seitpp.train`).
    """

    task: str = "finetune"
    size: str = "micro"  # a `seitpp.models.SIZES` body
    quality: int = 50  # of the levels trained on
    crop: int = 7  # blocks: 56 x 56 pixels, the analogue of the token models' 14 x 14 crop
    steps: int = 800
    batch_size: int = 32
    lr: float = 2e-3  # peak
    min_lr: float = 1e-5
    warmup: float = 0.05  # share of the steps
    betas: tuple[float, float] = (0.9, 0.999)
    weight_decay: float = 0.05
    layer_decay: float | None = 0.85  # finetune only; None: off
    label_smoothing: float = 0.1
    color_swap: float = 0.0  # finetune: share of each batch whose colour statistics are swapped
    mask_ratio: float = 0.5  # pretrain: share of the blocks masked
    frequencies: int = 1  # pretrain: the lowest k coefficients of each channel are predicted
    clip_grad: float = 1.0
    seed: int = 0

    def __post_init__(self):
        checks = [
            (self.task in ("finetune", "pretrain"), f"task must be 'finetune' or 'pretrain', got {self.task!r}"),
            (self.size in SIZES, f"size must be one of {sorted(SIZES)}, got {self.size!r}"),
            (self.crop >= 1 and self.steps >= 1 and self.batch_size >= 2, "crop, steps must be >= 1, batch_size >= 2"),
            (0 <= self.color_swap <= 1, f"color_swap must be a share in [0, 1], got {self.color_swap}"),
            (0 <= self.warmup < 1, f"warmup must be a share in [0, 1), got {self.warmup}"),
        ]
        for ok, problem in checks:
            if not ok:
                raise ValueError(f"DCT train config: {problem}")
        quant_tables(self.quality)


@dataclass
class DCTTrainResult:
    model: nn.Module  # a `DCTViT` classifier, or the `MaskedDCTModel`; eval mode
    history: list[dict]  # {"step", "lr", "loss"}, the mean over each tenth of the run


def dct_model(config: DCTTrainConfig, num_classes: int, scale: torch.Tensor | None = None) -> nn.Module:
    """The run's model: a `DCTViT` classifier for "finetune", a `MaskedDCTModel` for "pretrain"."""
    if config.task == "pretrain":
        D, depth, heads = SIZES[config.size]
        vit = DCTViTConfig(embed_dim=D, depth=depth, num_heads=heads, quality=config.quality,
                           img_size=config.crop * BLOCK)
        return MaskedDCTModel(vit, scale, ratio=config.mask_ratio, frequencies=config.frequencies)
    return dct_vit(config.size, num_classes, config.quality, scale, img_size=config.crop * BLOCK)


def train_dct(config: DCTTrainConfig, levels: torch.Tensor, labels: torch.Tensor | None = None,
              num_classes: int = 0, *, scale: torch.Tensor | None = None, init: dict | None = None,
              device: str | torch.device = "cpu", progress: bool = True) -> DCTTrainResult:
    """Train on levels int (N, 192, h, w) (and labels (N,) for "finetune") -> the model and its loss curve.

    Args:
        config: the run.
        levels, labels, num_classes: the training split; labels are unused by "pretrain".
        scale: the stem's (192,) per-coefficient scale, e.g. `coefficient_rms(levels, quality)`.
        init: an encoder state dict (`MaskedDCTModel.encoder.state_dict()`) to start a classifier from.
        device: where to train.
        progress: a tqdm bar.
    Batches follow a permutation per epoch and every other draw of step s comes from seeds
    (seed, stream, s), as in `seitpp.train`: the same config gives the same model.
    """
    cfg = config
    _check_levels(levels)
    if cfg.task == "finetune" and (labels is None or len(labels) != len(levels) or num_classes < 2):
        raise ValueError("finetune needs one label per image and num_classes >= 2")
    if len(levels) < cfg.batch_size:
        raise ValueError(f"{len(levels)} images, fewer than one batch of {cfg.batch_size}")
    torch.manual_seed(cfg.seed)
    model = dct_model(cfg, num_classes, scale)
    if init is not None:
        load_encoder(model, init)
    model.to(device).train()
    optimizer = create_optimizer_v2(model, "adamw", lr=cfg.lr, weight_decay=cfg.weight_decay, betas=cfg.betas,
                                    layer_decay=cfg.layer_decay if cfg.task == "finetune" else None)
    swap = ColorAdapt() if cfg.color_swap > 0 else None  # only its partner draw: a derangement of the batch
    levels, warmup = levels.to(device), round(cfg.warmup * cfg.steps)
    labels = labels.to(device).long() if labels is not None else None
    history, window, log_every = [], [], max(1, cfg.steps // 10)
    per_epoch = len(levels) // cfg.batch_size
    for step in tqdm(range(cfg.steps), desc=f"dct {cfg.task}", disable=not progress):
        epoch, i = divmod(step, per_epoch)
        if i == 0:
            order = torch.randperm(len(levels),
                                   generator=torch.Generator().manual_seed(stream_seed(cfg.seed, _ORDER, epoch)))
        lr = lr_at(step, cfg.steps, warmup, cfg.lr, cfg.min_lr)
        for group in optimizer.param_groups:
            group["lr"] = lr * group.get("lr_scale", 1.0)
        seed = stream_seed(cfg.seed, _STEP, step)
        g = torch.Generator().manual_seed(seed)  # crops, flips, swaps, masks
        torch.manual_seed(seed)  # drop path
        idx = order[i * cfg.batch_size:(i + 1) * cfg.batch_size].to(device)
        x = random_block_crops(levels[idx], cfg.crop, g)
        flip = (torch.rand(cfg.batch_size, generator=g) < 0.5).to(device)
        x = torch.where(flip[:, None, None, None], hflip_levels(x), x)
        if cfg.task == "pretrain":
            loss = model(x, g)[0]
        else:
            if swap is not None:
                chosen = torch.randperm(cfg.batch_size, generator=g)[:round(cfg.color_swap * cfg.batch_size)]
                x[chosen.to(device)] = dct_color_swap(x, swap.partners(cfg.batch_size, g, "cpu").to(device))[chosen]
            loss = F.cross_entropy(model(x), labels[idx], label_smoothing=cfg.label_smoothing)
        if not torch.isfinite(loss):
            raise FloatingPointError(f"DCT {cfg.task} loss is {loss.item()} at step {step} (lr {lr:.3g})")
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.clip_grad)
        optimizer.step()
        window.append(loss.item())
        if (step + 1) % log_every == 0 or step + 1 == cfg.steps:
            history.append({"step": step + 1, "lr": lr, "loss": sum(window) / len(window)})
            window = []
    return DCTTrainResult(model.eval(), history)


@torch.no_grad()
def evaluate_dct(model: DCTViT, levels: torch.Tensor, labels: torch.Tensor, crop: int = 7,
                 batch_size: int = 256) -> float:
    """Top-1 of a DCT classifier on the central crop x crop blocks of levels (N, 192, h, w) (the first
    block row and column when h - crop is odd, as `seitpp.train.center_crop`)."""
    device = next(model.parameters()).device
    correct = 0
    for x, y in zip(levels.split(batch_size), labels.split(batch_size)):
        correct += int((model(center_crop(x.to(device), crop)).argmax(1).cpu() == y).sum())
    return correct / max(1, len(labels))
