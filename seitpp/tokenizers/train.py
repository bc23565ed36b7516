"""Training the VQ tokenizer: presets, the training loop, and `StepLoop`, what it shares with TokenAdapt's trainer.

The loop is plain: sample a batch of random crops, reconstruct, step. The loss is

    L1(x_hat, x) + edge_weight * L1(grad x_hat, grad x) + VQ loss

with no perceptual network (nothing may be downloaded): the L1 term on image gradients is what
keeps edges sharp, where a pure pixel loss would blur them. Every `restart_every` steps, codes
the encoder stopped choosing are moved onto encoder outputs of the batch, so the whole codebook
stays in use.

Training works on random crops because the tokenizer is convolutional: a 32x32 crop teaches the
same local job as a 64x64 image at a quarter of the cost. Batches are drawn from a generator
seeded by (seed, step), so a resumed run draws exactly the batches an uninterrupted run would.
"""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from seitpp.checkpoint import (
    CHECKPOINT_FILE,
    CheckpointError,
    read_checkpoint,
    restore,
    save_checkpoint,
)
from seitpp.device import resolve_device
from seitpp.errors import TrainingDiverged, choose_preset
from seitpp.files import write_csv
from seitpp.schedule import lr_at, step_generator
from seitpp.tokenizers.vq import TokenizerConfig, VQTokenizer

HISTORY_FILE = "history.csv"


@dataclass(frozen=True)
class TokenizerTrainConfig:
    model: TokenizerConfig = field(default_factory=TokenizerConfig)
    num_train_images: int = 20_000  # rendered from the embedded dataset's train split
    steps: int = 3_000
    batch_size: int = 32
    crop: int = 32  # side of the random crops trained on (a multiple of the downsample factor)
    lr: float = 2e-3
    warmup_steps: int = 100
    weight_decay: float = 0.0  # none: decay would pull the code vectors towards zero
    edge_weight: float = 1.0
    restart_every: int = 25  # dead-code restarts, stopped for the last 20% of training
    checkpoint_every: int = 250
    seed: int = 0


PRESETS: dict[str, TokenizerTrainConfig] = {
    # Fast mode: 100 small steps on 400 images (1,600 crops); shows how training goes in seconds.
    # Half cpu-ref's channels at full resolution, where a CPU spends most of a step: about half
    # the time of (16, 32, 32) for 0.5 dB less PSNR after 100 steps.
    "cpu-tiny": TokenizerTrainConfig(
        model=TokenizerConfig(channels=(8, 16, 32), codebook_size=256),
        num_train_images=400, steps=100, batch_size=16, warmup_steps=20, checkpoint_every=50,
    ),
    # The book's reference tokenizer, trained on this project's 2-core CPU machine.
    "cpu-ref": TokenizerTrainConfig(
        model=TokenizerConfig(channels=(16, 32, 64), codebook_size=1024),
        num_train_images=20_000, steps=3_000, batch_size=32,
    ),
    # A wider tokenizer and a SeiT-sized codebook for a GPU.
    "gpu": TokenizerTrainConfig(
        model=TokenizerConfig(channels=(64, 128, 256), num_res_blocks=2, codebook_size=8192),
        num_train_images=100_000, steps=20_000, batch_size=128, crop=64, lr=1e-3, warmup_steps=500,
        checkpoint_every=1_000,
    ),
}


def preset(name: str) -> TokenizerTrainConfig:
    return choose_preset(PRESETS, name, "tokenizer")


class StepLoop:
    """What the tokenizer and TokenAdapt trainers do around their steps, in one place.

    On creation, resume from `out_dir`'s checkpoint (`seitpp.checkpoint`, of `kind`) if there is
    one, refusing one made with another config: its steps would mean a different run. Then, for
    each step of `progress_bar`: `set_lr`, compute the loss, `step` on it, `log` the row (a
    checkpoint is written every `cfg.checkpoint_every` steps and at the last). `finish` saves the
    model and the history CSV. `cfg` needs steps, warmup_steps, lr and checkpoint_every.
    """

    def __init__(self, kind: str, cfg, model: torch.nn.Module, opt: torch.optim.Optimizer,
                 out_dir: str | Path | None):
        self.kind, self.cfg, self.model, self.opt = kind, cfg, model, opt
        self.out_dir = None if out_dir is None else Path(out_dir)
        self.ckpt_path = None if out_dir is None else self.out_dir / CHECKPOINT_FILE
        self.start, self.history = 0, []
        if self.ckpt_path is not None and self.ckpt_path.exists():
            ckpt = read_checkpoint(self.ckpt_path, kind)
            if ckpt["config"] != asdict(cfg):
                raise CheckpointError(self.ckpt_path, "made with another config; remove it or use another out_dir")
            self.start, self.history = restore(ckpt, model, opt)

    def set_lr(self, step: int) -> None:
        """Warmup, then a cosine down to 1% of the peak."""
        lr = lr_at(step, self.cfg.steps, self.cfg.warmup_steps, self.cfg.lr, floor=0.01 * self.cfg.lr)
        for group in self.opt.param_groups:
            group["lr"] = lr

    def progress_bar(self, show: bool) -> tqdm:
        """The steps still to do (from `start`), under a progress bar when `show`."""
        return tqdm(range(self.start, self.cfg.steps), initial=self.start, total=self.cfg.steps, desc=self.kind,
                    disable=not show)

    def step(self, loss: torch.Tensor, step: int) -> None:
        """Backward and an optimiser step on a finite loss; TrainingDiverged on any other."""
        if not torch.isfinite(loss):
            raise TrainingDiverged(f"{self.kind} loss became {loss.item()} at step {step}; lower the learning rate")
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()

    def log(self, row: dict) -> None:
        """Append the row of the step just done (`row["step"]` steps done); checkpoint when one is due."""
        self.history.append(row)
        done = row["step"]
        if self.ckpt_path is not None and (done % self.cfg.checkpoint_every == 0 or done == self.cfg.steps):
            save_checkpoint(self.ckpt_path, self.kind, asdict(self.cfg), self.model, self.opt, done, self.history)

    def finish(self) -> list[dict]:
        """The model in eval mode; with `out_dir`, saved there with the history CSV -> the history."""
        self.model.eval()
        if self.out_dir is not None:
            self.model.save(self.out_dir)
            write_csv(self.history, self.out_dir / HISTORY_FILE)
        return self.history


def image_gradients(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Finite differences of x (B, 3, H, W) -> (B, 3, H, W-1) horizontal, (B, 3, H-1, W) vertical."""
    return x[..., :, 1:] - x[..., :, :-1], x[..., 1:, :] - x[..., :-1, :]


def reconstruction_loss(x_hat: torch.Tensor, x: torch.Tensor, edge_weight: float) -> torch.Tensor:
    """L1 on pixels plus L1 on image gradients (sharp edges without a perceptual network)."""
    (gx_hat, gy_hat), (gx, gy) = image_gradients(x_hat), image_gradients(x)
    edges = F.l1_loss(gx_hat, gx) + F.l1_loss(gy_hat, gy)
    return F.l1_loss(x_hat, x) + edge_weight * edges


def sample_batch(images: torch.Tensor, step: int, cfg: TokenizerTrainConfig) -> torch.Tensor:
    """Random crops with random horizontal flips of uint8 images (N, H, W, 3) -> float (B, 3, crop, crop).

    Drawn from a generator seeded by (seed, step): the batch of a step never depends on history.
    """
    g = step_generator(cfg.seed, step)
    N, H, W, _ = images.shape
    idx = torch.randint(N, (cfg.batch_size,), generator=g)
    top = torch.randint(H - cfg.crop + 1, (cfg.batch_size,), generator=g)
    left = torch.randint(W - cfg.crop + 1, (cfg.batch_size,), generator=g)
    flip = torch.rand(cfg.batch_size, generator=g) < 0.5
    rows = (top[:, None] + torch.arange(cfg.crop))[:, :, None]  # (B, crop, 1)
    cols = (left[:, None] + torch.arange(cfg.crop))[:, None, :]  # (B, 1, crop)
    cols = torch.where(flip[:, None, None], cols.flip(-1), cols)
    crops = images[idx[:, None, None], rows, cols]  # (B, crop, crop, 3)
    return crops.permute(0, 3, 1, 2).float() / 255


def train_tokenizer(
    cfg: TokenizerTrainConfig,
    images: torch.Tensor,
    out_dir: str | Path | None = None,
    device: str | torch.device | None = None,
    progress: bool = True,
) -> tuple[VQTokenizer, list[dict]]:
    """Train a tokenizer on uint8 images (N, H, W, 3); returns (model in eval mode, history).

    With `out_dir`, a checkpoint is written there atomically every `checkpoint_every` steps and a
    run finds and resumes it; the finished model is saved there too (`VQTokenizer.load(out_dir)`).
    `device` None: `seitpp.device.default_device()` (SEITPP_DEVICE, else CUDA if there is one).
    """
    device = resolve_device(device)
    if cfg.crop % cfg.model.downsample or cfg.crop > min(images.shape[1:3]):
        raise ValueError(f"crop {cfg.crop} must be a multiple of {cfg.model.downsample} and fit images {tuple(images.shape[1:3])}")
    torch.manual_seed(cfg.seed)
    model = VQTokenizer(cfg.model).to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, betas=(0.9, 0.99), weight_decay=cfg.weight_decay)
    run = StepLoop("tokenizer", cfg, model, opt, out_dir)

    model.train()
    stop_restarts = int(0.8 * cfg.steps)
    bar = run.progress_bar(progress)
    t0 = time.perf_counter()
    for step in bar:
        run.set_lr(step)
        x = sample_batch(images, step, cfg).to(device)
        x_hat, ids, vq_loss, z = model(x)
        rec_loss = reconstruction_loss(x_hat, x, cfg.edge_weight)
        loss = rec_loss + vq_loss
        run.step(loss, step)
        restarted = 0
        if (step + 1) % cfg.restart_every == 0 and step < stop_restarts:
            restarted = model.codebook.restart_dead_codes(z.detach())
        row = {"step": step + 1, "loss": loss.item(), "rec_loss": rec_loss.item(), "vq_loss": vq_loss.item(),
               "codes_in_batch": int(ids.unique().numel()), "restarted": restarted,
               "seconds": time.perf_counter() - t0}
        run.log(row)
        bar.set_postfix(loss=f"{row['loss']:.4f}", codes=row["codes_in_batch"])
    return model, run.finish()
