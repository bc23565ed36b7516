"""What step s of a run computes with: its learning rate (warmup + cosine) and its random streams."""
from __future__ import annotations

import math

import numpy as np


def lr_at(step: int, total_steps: int, warmup_steps: int, peak: float, floor: float = 0.0) -> float:
    """Linear warmup from peak / warmup_steps to `peak`, then half a cosine down to `floor` at the last step."""
    if step < warmup_steps:
        return peak * (step + 1) / warmup_steps
    t = (step - warmup_steps) / max(1, total_steps - 1 - warmup_steps)
    return floor + (peak - floor) * 0.5 * (1 + math.cos(math.pi * min(t, 1.0)))



def stream_seed(*keys: int) -> int:
    """A well-mixed 63-bit seed from non-negative integers: (seed, stream, step, rank) -> independent streams."""
    return int(np.random.SeedSequence(list(keys)).generate_state(1, np.uint64)[0] >> np.uint64(1))
