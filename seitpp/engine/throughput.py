"""How fast a model trains here: one training step as a callable, its FLOPs, images per second.

`count_flops` counts any callable, for example an inference pass (chapter 3 compares routes with it).

Chapter 9 turns the measured rate into the time an epoch of ImageNet takes on the reader's own
machine; `benchmarks/` uses the same pieces for BENCHMARKS.md. On CUDA the step runs under bf16
autocast, as the engine runs it, and synchronises so that the clock measures the device.
"""
from __future__ import annotations

import contextlib
import time
from typing import Callable

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.utils.flop_counter import FlopCounterMode

# Dense bf16 peaks (TFLOP/s) from the vendors' data sheets, for the model FLOP utilisation (MFU).
PEAK_TFLOPS = {"H100": 989.0, "H200": 989.0, "A100": 312.0}


def per_second(fn: Callable[[], int], min_seconds: float = 2.0,
               clock: Callable[[], float] = time.perf_counter) -> float:
    """Items per second of fn (which returns how many items it handled), after one warm-up call.

    `clock=time.process_time` counts the CPU seconds of this process instead of wall seconds: a CPU
    rate that other jobs on a shared machine slow down much less (not for CUDA work, which runs
    while the process waits).
    """
    fn()
    done, start = 0, clock()
    while clock() - start < min_seconds:
        done += fn()
    return done / (clock() - start)


def batch_fn(ids: torch.Tensor, labels: torch.Tensor, policy: Callable, batch: int,
             device: torch.device) -> Callable[[], int]:
    """Assembling one training batch as a callable returning its size: random indices into the
    whole split (ids (N, H, W), labels (N,), in device or host memory) -> gather -> copy to the
    device if the split is on the host (without blocking, from pinned memory) -> the engine's
    batch transform `policy(ids, labels, generator)`. No per-image Python anywhere."""
    step = iter(range(2**62))

    def assemble() -> int:
        g = torch.Generator().manual_seed(next(step))  # a CPU generator, as the engine's per-step one
        idx = torch.randint(len(ids), (batch,), generator=g).to(ids.device)
        x, y = ids[idx], labels[idx]
        if x.device != device:
            x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
        x, y = policy(x, y, g)
        if device.type == "cuda":
            torch.cuda.synchronize()
        return len(x)
    return assemble


def step_fn(model: nn.Module, x: torch.Tensor, y: torch.Tensor | None, device: torch.device,
            compile: bool = False) -> Callable[[], int]:
    """One training step (forward, backward, AdamW) of `model` on (x, y) as a callable returning the batch size.

    x: ids (B, S, S), or images (B, 3, H, W); y: labels (B,), or None for an MTM model (its own loss).
    """
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
    forward = torch.compile(model) if compile else model
    autocast = torch.autocast("cuda", dtype=torch.bfloat16) if device.type == "cuda" else contextlib.nullcontext()
    generator = torch.Generator(device=device).manual_seed(0)

    def step() -> int:
        with autocast:
            loss = forward(x, generator=generator)[0] if y is None else F.cross_entropy(forward(x), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if device.type == "cuda":
            torch.cuda.synchronize()
        return len(x)
    return step


def count_flops(fn: Callable[[], object]) -> int:
    """The FLOPs that fn() runs, as torch's FlopCounterMode counts them: matrix products, convolutions
    and attention (through the math kernel so that it is counted); norms, activations and resampling
    are not counted. A multiply-add is 2 FLOPs.

    The count needs only shapes: build fn's model and inputs on the "meta" device (`with
    torch.device("meta"):`) and nothing is computed, so a 256 px VQGAN counts in a second on a CPU.
    """
    with sdpa_kernel(SDPBackend.MATH), FlopCounterMode(display=False) as counter:
        fn()
    return counter.get_total_flops()


def flops_per_image(model: nn.Module, x: torch.Tensor, y: torch.Tensor | None) -> float:
    """FLOPs of forward + backward per image (`count_flops`; the optimiser step is not counted)."""
    n = min(len(x), 8)

    def forward_backward() -> None:
        loss = model(x[:n], generator=torch.Generator(device=x.device).manual_seed(0))[0] if y is None \
            else F.cross_entropy(model(x[:n]), y[:n])
        loss.backward()
    flops = count_flops(forward_backward)
    model.zero_grad(set_to_none=True)
    return flops / n


def peak_tflops(device: torch.device) -> float | None:
    """The dense bf16 peak of a known CUDA device, else None (no MFU on the CPU or unknown cards)."""
    if device.type != "cuda":
        return None
    name = torch.cuda.get_device_name(device)
    return next((peak for key, peak in PEAK_TFLOPS.items() if key in name), None)
