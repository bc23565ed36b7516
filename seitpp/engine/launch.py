"""Launching a real run: the torchrun command lines of the paper's recipe, and what an epoch will cost.

Chapter 9 prints these commands for the reader's own machine and runs them at a small size:

    torchrun --standalone --nproc_per_node=G -m seitpp pretrain --store train.tokens --preset imagenet-vitb --out mtm
    torchrun --standalone --nproc_per_node=G -m seitpp finetune --store train.tokens --val val.tokens \
        --preset imagenet-vitb --init mtm --tokenadapt DIR --out finetune

A run writes its checkpoint atomically into --out; the same command again resumes it (the step,
optimiser and random streams come back, see `seitpp.engine`). With one process the command is
plain `python -m seitpp ...`: torchrun adds nothing but the process group.
"""
from __future__ import annotations

import shlex
import sys
from dataclasses import dataclass
from pathlib import Path

import torch

from seitpp.engine.config import TrainConfig
from seitpp.engine.throughput import flops_per_image, peak_tflops, per_second, step_fn
from seitpp.models.vit import create_model


def train_command(task: str, store: str | Path, out: str | Path, preset: str, nproc: int = 1,
                  val: str | Path | None = None, init: str | Path | None = None, tokenadapt: str | Path | None = None,
                  tokenizer: str | Path | None = None, codebook: str | Path | None = None, device: str | None = None,
                  overrides: dict | None = None) -> list[str]:
    """The argv of one training run: `torchrun` with `nproc` > 1 processes, else this Python.

    task: "pretrain" or "finetune"; codebook: SeiT's `codebook.ckpt` for its released tokens (instead of
    a tokenizer); overrides: config fields for `--set field=value`.
    """
    if task not in ("pretrain", "finetune"):
        raise ValueError(f"task must be 'pretrain' or 'finetune', got {task!r}")
    if nproc < 1:
        raise ValueError(f"nproc must be >= 1, got {nproc}")
    launcher = ["torchrun", "--standalone", f"--nproc_per_node={nproc}"] if nproc > 1 else [sys.executable]
    argv = [*launcher, "-m", "seitpp", task, "--store", str(store), "--preset", preset, "--out", str(out)]
    for flag, value in (("--val", val), ("--init", init), ("--tokenadapt", tokenadapt), ("--tokenizer", tokenizer),
                        ("--codebook", codebook), ("--device", device)):
        if value is not None:
            if task == "pretrain" and flag in ("--init", "--tokenadapt"):
                raise ValueError(f"{flag} is a fine-tuning option")
            argv += [flag, str(value)]
    for field, value in (overrides or {}).items():
        argv += ["--set", f"{field}={value}"]
    return argv


def as_shell(argv: list[str]) -> str:
    """An argv as one line to paste into a shell (this interpreter shown as `python`)."""
    return shlex.join(["python" if a == sys.executable else a for a in argv])


@dataclass
class StepRate:
    """A model's measured training rate on this machine."""

    model: str
    batch: int
    images_per_s: float
    gflops_per_image: float  # forward + backward
    device: str
    mfu: float | None  # model FLOP utilisation against the device's dense bf16 peak, on a known GPU

    def epoch_hours(self, num_images: int, processes: int = 1) -> float:
        """Hours for one pass over `num_images` at this rate, with `processes` such devices in step."""
        return num_images / (self.images_per_s * processes) / 3600


def measure_step_rate(config: TrainConfig, codebook_size: int, num_classes: int, batch: int,
                      device: str | torch.device, seconds: float = 3.0) -> StepRate:
    """Images/s of `config`'s model (classifier or MTM) training on random ids of its crop, batch `batch`.

    The same step as the engine's (forward, backward, AdamW; bf16 autocast on CUDA), without the
    data path, which benchmarks/gpu_data_path.py measures on its own.
    """
    device, name, crop = torch.device(device), config.model.name, config.model.crop
    if config.task == "pretrain":
        model = create_model(name, codebook_size=codebook_size, grid_size=crop)
    else:
        model = create_model(name, num_classes=num_classes, codebook_size=codebook_size, grid_size=crop)
    model = model.to(device).train()
    x = torch.randint(codebook_size, (batch, crop, crop), device=device)
    y = None if config.task == "pretrain" else torch.randint(num_classes, (batch,), device=device)
    flops = flops_per_image(model, x, y)
    rate = per_second(step_fn(model, x, y, device), seconds)
    peak = peak_tflops(device)
    return StepRate(name, batch, rate, flops / 1e9, str(device),
                    rate * flops / 1e12 / peak if peak else None)
