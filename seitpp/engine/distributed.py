"""Distributed training (torchrun): one process per device."""
from __future__ import annotations

import os

import torch
import torch.distributed as dist

from seitpp.device import resolve_device

# ----------------------------------------------------------------------------------------------
# Distributed training (torchrun): one process per device


def setup_distributed(device: str | torch.device | None = None) -> tuple[int, int]:
    """Join the process group when launched by torchrun (WORLD_SIZE > 1): nccl on CUDA, gloo on the CPU
    as `device` says (None: `seitpp.device.default_device()`, which SEITPP_DEVICE overrides).

    -> (rank, world size); (0, 1) for a single process. Each CUDA rank uses device LOCAL_RANK.
    """
    if int(os.environ.get("WORLD_SIZE", "1")) > 1 and not dist.is_initialized():
        on_cuda = resolve_device(device).type == "cuda"  # SEITPP_DEVICE=cpu: gloo on a GPU machine too
        if on_cuda:
            torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
        dist.init_process_group("nccl" if on_cuda else "gloo")
    return rank_world()


def rank_world() -> tuple[int, int]:
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def sum_over_ranks(values: list[float], device: torch.device) -> list[float]:
    """Sum a few numbers over all ranks (one collective); identity for a single process."""
    if rank_world()[1] == 1:
        return values
    t = torch.tensor(values, dtype=torch.float64, device=device)
    dist.all_reduce(t)
    return t.tolist()
