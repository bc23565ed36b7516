"""One checkpoint format for every trained thing: tokenizers, TokenAdapt, classifiers, MTM, segmenters, DCT models.

A checkpoint is what a killed run needs to go on exactly where it stopped, in one `torch.save`d dict:

    {"format": FORMAT, "kind": "tokenizer" | "tokenadapt" | "train" | ..., "config": asdict(config),
     "model": state dict, "optimizer": state dict, "step": steps done, "history": log rows,
     "rng": {"torch": torch's CPU generator state}, ... anything the kind adds (model_args, data, ...)}

It is written atomically (`seitpp.files.atomic_path`), so a run killed while saving keeps the
previous checkpoint. Reading one names the file and the problem: missing, a directory without a
checkpoint, not a checkpoint at all, another format, another kind. Finished models are saved
separately as safetensors + JSON config (`seitpp.files.save_model`); a checkpoint is for resuming.
"""
from __future__ import annotations

from pathlib import Path

import torch
import torch.nn as nn

from seitpp.errors import TrainSetupError
from seitpp.files import FileProblem, atomic_path

FORMAT = "seitpp-checkpoint-1"
CHECKPOINT_FILE = "checkpoint.pt"  # the checkpoint inside a run directory


class CheckpointError(FileProblem, TrainSetupError):
    """A checkpoint that cannot be used; a setup error too, since it stops a run before its first step."""

    kind = "checkpoint"


def checkpoint_path(path: str | Path) -> Path:
    """A checkpoint file, or a run directory holding `CHECKPOINT_FILE` -> the file, which must exist."""
    path = Path(path)
    if path.is_dir():
        inside = path / CHECKPOINT_FILE
        if not inside.is_file():
            raise CheckpointError(path, f"a directory without a {CHECKPOINT_FILE}")
        return inside
    if not path.is_file():
        raise CheckpointError(path, "no such file")
    return path


def save_checkpoint(path: str | Path, kind: str, config: dict, model: nn.Module,
                    optimizer: torch.optim.Optimizer | None, step: int, history: list[dict], **extra) -> None:
    """Write a checkpoint of `kind` at `path`, atomically. `extra` entries are stored beside the standard ones."""
    state = {"format": FORMAT, "kind": kind, "config": config, "model": model.state_dict(),
             "optimizer": None if optimizer is None else optimizer.state_dict(), "step": step,
             "history": history, "rng": {"torch": torch.get_rng_state()}} | extra
    with atomic_path(path) as tmp:
        torch.save(state, tmp)


def read_checkpoint(path: str | Path, kind: str | tuple[str, ...] | None = None) -> dict:
    """The checkpoint at `path` (file or run directory) on the CPU, checked to be ours and of `kind`."""
    path = checkpoint_path(path)
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as err:  # torch raises many kinds here; all mean "not a checkpoint we can read"
        raise CheckpointError(path, f"not a readable checkpoint ({type(err).__name__}: {err})") from None
    if not isinstance(ckpt, dict) or ckpt.get("format") != FORMAT:
        raise CheckpointError(path, f"not a seitpp checkpoint (format {FORMAT})")
    kinds = (kind,) if isinstance(kind, str) else kind
    if kinds is not None and ckpt.get("kind") not in kinds:
        raise CheckpointError(path, f"a {ckpt.get('kind')} checkpoint, not a {' or '.join(kinds)} one")
    return ckpt


def restore(ckpt: dict, model: nn.Module, optimizer: torch.optim.Optimizer | None = None) -> tuple[int, list[dict]]:
    """Load a checkpoint's model, optimiser and torch generator state -> (steps done, history)."""
    model.load_state_dict(ckpt["model"])
    if optimizer is not None and ckpt["optimizer"] is not None:
        optimizer.load_state_dict(ckpt["optimizer"])
    torch.set_rng_state(ckpt["rng"]["torch"])
    return ckpt["step"], ckpt["history"]
