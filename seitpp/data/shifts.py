"""Shifted test sets, for robustness: pixel corruptions (Gaussian noise, Gaussian blur) and two
shifts of the embedded Shapes (the same objects drawn as sketches; drawn smaller and turned further).

The paper corrupts test images and then tokenizes them; a pixel model sees the corrupted pixels
directly. Noise is drawn from a generator seeded by the caller, so a test set is the same on every run.

Letters: N images, S image side.
"""
from __future__ import annotations

import math

import numpy as np
import torch
from torchvision.transforms.v2.functional import gaussian_blur

from seitpp.data.shapes import Shapes, render_shapes

CORRUPTIONS = ("noise", "blur")
SHIFTED_SETS = ("clean", *CORRUPTIONS, "sketch", "pose")


def pixel_noise(x: torch.Tensor, sigma: float, seed: int = 0) -> torch.Tensor:
    """x (N, 3, S, S) in [0, 1] plus Gaussian noise of std `sigma` from a generator seeded with `seed`, clamped."""
    noise = torch.randn(x.shape, generator=torch.Generator().manual_seed(seed)).to(x.device, x.dtype)
    return (x + sigma * noise).clamp(0, 1)


def pixel_blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """x (N, 3, S, S) blurred by a Gaussian of std `sigma` pixels (kernel side 2 ceil(3 sigma) + 1)."""
    k = 2 * math.ceil(3 * sigma) + 1
    return gaussian_blur(x, [k, k], [sigma, sigma])


def corrupt(images: np.ndarray, kind: str, severity: float, seed: int = 0) -> np.ndarray:
    """uint8 images (N, S, S, 3) with `kind` ("noise": std `severity` on [0, 1] pixels; "blur": sigma
    `severity` pixels) -> uint8 (N, S, S, 3)."""
    x = torch.from_numpy(images).permute(0, 3, 1, 2).float() / 255
    if kind == "noise":
        x = pixel_noise(x, severity, seed)
    elif kind == "blur":
        x = pixel_blur(x, severity)
    else:
        raise ValueError(f"unknown corruption {kind!r}; corruptions: {CORRUPTIONS}")
    return (x.clamp(0, 1) * 255).round().byte().permute(0, 2, 3, 1).numpy()


def shifted_sets(n: int, split: str, look: dict, noise_std: float, blur_sigma: float, pose_size: tuple[float, float],
                 pose_rotation: float, progress: bool = False) -> tuple[Shapes, dict[str, np.ndarray]]:
    """The first n images of `split` drawn as `look` (`render_shapes` keywords: classes, style) ->
    (the clean Shapes, {name: uint8 images (n, S, S, 3)}) for every name of SHIFTED_SETS: clean; Gaussian
    noise (std `noise_std`) and blur (`blur_sigma` pixels) of the same images; the same objects drawn as
    sketches; and drawn at `pose_size` and turned up to `pose_rotation` degrees, further than any training image."""
    clean = render_shapes(n, split=split, progress=progress, **look)
    sketch = render_shapes(n, split=split, **(look | {"style": "sketch"}))
    pose = render_shapes(n, split=split, size_range=pose_size, max_rotation=pose_rotation, **look)
    return clean, {"clean": clean.images, "noise": corrupt(clean.images, "noise", noise_std),
                   "blur": corrupt(clean.images, "blur", blur_sigma), "sketch": sketch.images, "pose": pose.images}
