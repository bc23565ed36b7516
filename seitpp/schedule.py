"""What step s of a run computes with: its learning rate (warmup + cosine) and its random streams."""
from __future__ import annotations

import math

import numpy as np
import torch

# The random streams of a run: each (seed, stream, step, rank) seeds its own generator
ORDER_STREAM, STEP_STREAM, EVAL_STREAM = 1, 2, 3  # example order per epoch, a step's draws, evaluation crops


def lr_at(step: int, total_steps: int, warmup_steps: int, peak: float, floor: float = 0.0) -> float:
    """Linear warmup from peak / warmup_steps to `peak`, then half a cosine down to `floor` at the last step."""
    if step < warmup_steps:
        return peak * (step + 1) / warmup_steps
    t = (step - warmup_steps) / max(1, total_steps - 1 - warmup_steps)
    return floor + (peak - floor) * 0.5 * (1 + math.cos(math.pi * min(t, 1.0)))


def stream_seed(*keys: int) -> int:
    """A well-mixed 63-bit seed from non-negative integers: (seed, stream, step, rank) -> independent streams."""
    return int(np.random.SeedSequence(list(keys)).generate_state(1, np.uint64)[0] >> np.uint64(1))


def step_generator(seed: int, step: int, rank: int = 0) -> torch.Generator:
    """The generator of a step's random draws (STEP_STREAM): what a step computes never depends on history."""
    return torch.Generator().manual_seed(stream_seed(seed, STEP_STREAM, step, rank))
