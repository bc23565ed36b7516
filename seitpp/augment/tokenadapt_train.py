"""Training TokenAdapt on pairs (T(x), T(A(x))) made on the fly.

The release ships TokenAdapt's architecture but no training code and no weights; the paper says
what to minimise. Each step:

1. draw a batch of training images x and one geometry theta per image (`GeometryDistribution`);
2. the source is T(x), the stored tokens of x (tokenized once, up front, as a token dataset would
   hold them); the target is T(A(x)): warp the pixels with theta and tokenize them;
3. TokenAdapt maps T(x) to its f-space, warps that map with the same theta, and g predicts the
   target ids; the loss is the cross-entropy against them.

The output grid is the classifier's crop (14 x 14 tokens out of 16 x 16, as SeiT's 28 out of 32).
Batches come from a generator seeded by (seed, step), so a resumed run sees exactly the batches
of an uninterrupted one.
"""
from __future__ import annotations

import copy
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from seitpp.augment.geometry import GeometryDistribution
from seitpp.augment.grid import warp
from seitpp.augment.tokenadapt import TokenAdapt, TokenAdaptConfig, agreement
from seitpp.device import resolve_device
from seitpp.errors import choose_preset
from seitpp.schedule import step_generator
from seitpp.tokenizers.train import StepLoop
from seitpp.tokenizers.vq import VQTokenizer


@dataclass(frozen=True)
class TokenAdaptTrainConfig:
    model: TokenAdaptConfig = field(default_factory=TokenAdaptConfig)
    geometry: GeometryDistribution = field(default_factory=GeometryDistribution)
    num_train_images: int = 10_000  # rendered from the embedded dataset's train split
    out_grid: int = 14  # output side in tokens: the classifier's crop
    steps: int = 2_000
    batch_size: int = 32
    lr: float = 1e-3
    warmup_steps: int = 100
    weight_decay: float = 0.05
    eval_every: int = 250  # held-out agreement, logged beside the loss
    checkpoint_every: int = 250
    seed: int = 0


PRESETS: dict[str, TokenAdaptTrainConfig] = {
    # Fast mode: a narrow model, a few hundred images, a few seconds; shows the loop, not a useful model.
    "cpu-tiny": TokenAdaptTrainConfig(
        model=TokenAdaptConfig(width=64, num_heads=4), num_train_images=256, steps=40, batch_size=16,
        lr=3e-3, warmup_steps=5, eval_every=20, checkpoint_every=20,
    ),
    # The book's reference TokenAdapt for the reference tokenizer, trained on the 2-core CPU.
    "cpu-ref": TokenAdaptTrainConfig(model=TokenAdaptConfig(width=128, num_heads=4), num_train_images=5_000,
                                     lr=2e-3),
    # The release's width (384, 6 heads: about 4 M parameters) for a GPU.
    "gpu": TokenAdaptTrainConfig(num_train_images=50_000, steps=20_000, batch_size=128, warmup_steps=500,
                                 eval_every=1_000, checkpoint_every=1_000),
}


def preset(name: str) -> TokenAdaptTrainConfig:
    return choose_preset(PRESETS, name, "TokenAdapt")


def draw(step: int, num_images: int, cfg: TokenAdaptTrainConfig) -> tuple[torch.Tensor, torch.Tensor]:
    """The images (indices (B,)) and transforms (theta (B, 2, 3)) of a step, from a generator seeded
    by (seed, step): the batch of a step never depends on history."""
    g = step_generator(cfg.seed, step)
    idx = torch.randint(num_images, (cfg.batch_size,), generator=g)
    return idx, cfg.geometry.sample(cfg.batch_size, g)


def make_pair(tokenizer: VQTokenizer, images: torch.Tensor, source_ids: torch.Tensor, step: int,
              cfg: TokenAdaptTrainConfig) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """One training batch: (source ids (B, H, W), theta (B, 2, 3), target ids (B, out, out)).

    images: uint8 (N, S, S, 3) training images; source_ids: their tokens (N, H, W).
    """
    idx, theta = draw(step, len(images), cfg)
    device = source_ids.device
    x = images[idx].to(device).permute(0, 3, 1, 2).float() / 255  # (B, 3, S, S)
    side = cfg.out_grid * tokenizer.config.downsample
    with torch.no_grad():
        target = tokenizer.tokenize(warp(x, theta.to(device), (side, side)).clamp(0, 1))
    return source_ids[idx.to(device)], theta.to(device), target


def train_tokenadapt(
    cfg: TokenAdaptTrainConfig,
    tokenizer: VQTokenizer,
    images: torch.Tensor | np.ndarray,
    eval_images: torch.Tensor | None = None,
    out_dir: str | Path | None = None,
    device: str | torch.device | None = None,
    progress: bool = True,
) -> tuple[TokenAdapt, list[dict]]:
    """Train TokenAdapt for `tokenizer` on uint8 images (N, S, S, 3); returns (model in eval mode, history).

    `eval_images` (M, 3, S, S) float: every `eval_every` steps the history records how many ids of
    T(A(x)) TokenAdapt and the naive grid warp get right, on fixed held-out thetas. With
    `out_dir`, a checkpoint is written there atomically every `checkpoint_every` steps and a run
    finds and resumes it; the finished model is saved there (`TokenAdapt.load(out_dir)`). `device`
    None: `seitpp.device.default_device()` (SEITPP_DEVICE, else CUDA if there is one); the caller's
    tokenizer stays where it is (a copy moves when the device differs).
    """
    device = resolve_device(device)
    if cfg.model.codebook_size != tokenizer.config.codebook_size or cfg.model.code_dim != tokenizer.config.code_dim:
        raise ValueError(f"TokenAdapt config ({cfg.model.codebook_size} codes of {cfg.model.code_dim}) does not fit "
                         f"the tokenizer ({tokenizer.config.codebook_size} codes of {tokenizer.config.code_dim})")
    grid = images.shape[1] // tokenizer.config.downsample
    if cfg.out_grid > grid:
        raise ValueError(f"out_grid {cfg.out_grid} is larger than the token grid {grid} of the images")
    images = torch.as_tensor(images)
    if tokenizer.device != device:
        tokenizer = copy.deepcopy(tokenizer)  # not the caller's: a notebook's CPU tokenizer stays on the CPU
    tokenizer = tokenizer.to(device).eval()
    source_ids = tokenizer.tokenize_many(images.numpy()).to(device)  # what a token dataset stores
    if eval_images is not None:
        eval_theta = cfg.geometry.sample(len(eval_images), torch.Generator().manual_seed(cfg.seed + 12345))
        eval_images = eval_images.to(device)

    torch.manual_seed(cfg.seed)
    model = TokenAdapt(tokenizer.codebook, cfg.model, tokenizer.fingerprint()).to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    run = StepLoop("tokenadapt", cfg, model, opt, out_dir)

    bar = run.progress_bar(progress)
    t0 = time.perf_counter()
    for step in bar:
        model.train()
        run.set_lr(step)
        source, theta, target = make_pair(tokenizer, images, source_ids, step, cfg)
        logits = model(source, theta, (cfg.out_grid, cfg.out_grid))  # (B, K, out, out)
        loss = F.cross_entropy(logits, target)
        run.step(loss, step)
        row = {"step": step + 1, "loss": loss.item(),
               "train_agree": (logits.argmax(1) == target).float().mean().item(),
               "seconds": time.perf_counter() - t0}
        if eval_images is not None and ((step + 1) % cfg.eval_every == 0 or step + 1 == cfg.steps):
            model.eval()
            scores = agreement(model, tokenizer, eval_images, eval_theta, cfg.out_grid)
            row |= {f"eval_{name}": score for name, score in scores.items()}
        run.log(row)
        bar.set_postfix(loss=f"{row['loss']:.3f}", agree=f"{row['train_agree']:.2f}")
    return model, run.finish()
