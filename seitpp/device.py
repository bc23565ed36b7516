"""Where the package computes: one choice of device for every trainer, the tokenize command, the
sweeps and every chapter.

CUDA when there is a GPU, else the CPU. A reader overrides the choice with the environment
variable `SEITPP_DEVICE`: `SEITPP_DEVICE=cpu` on a GPU machine keeps everything on the CPU (and
its random streams those of a CPU-only machine); `SEITPP_DEVICE=cuda:1` picks the second GPU.
Empty or `auto` is the default choice. Anything but cpu, cuda or cuda:N, or a GPU that is not
there, is an error that names the variable, not a silent fall-back to the CPU.
"""
from __future__ import annotations

import os

import torch

from seitpp import DEVICE_VARIABLE


def default_device() -> torch.device:
    """`SEITPP_DEVICE` if set (and not empty or `auto`), else CUDA when available, else the CPU."""
    value = os.environ.get(DEVICE_VARIABLE, "").strip()
    if value.lower() in ("", "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return checked_device(value, f"{DEVICE_VARIABLE}={value!r}")


def resolve_device(device: str | torch.device | None = None) -> torch.device:
    """A caller's device, checked; None -> `default_device()`. What every trainer's `device=None` means."""
    if device is None:
        return default_device()
    return checked_device(device, f"device {str(device)!r}")


def checked_device(device: str | torch.device, what: str) -> torch.device:
    """`torch.device(device)` that exists on this machine, or a ValueError naming `what` (where it came from)."""
    try:
        parsed = torch.device(device)
    except (RuntimeError, TypeError, ValueError):
        parsed = None
    if parsed is None or parsed.type not in ("cpu", "cuda"):
        raise ValueError(f"{what} is not a device this package runs on; expected cpu, cuda or cuda:N")
    if parsed.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"{what} asks for CUDA, but torch sees no CUDA device on this machine "
                             "(choose cpu)")
        if parsed.index is not None and parsed.index >= torch.cuda.device_count():
            raise ValueError(f"{what} asks for GPU {parsed.index}, but this machine has "
                             f"{torch.cuda.device_count()}")
    return parsed
