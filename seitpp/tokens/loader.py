"""Batches of token ids ready for a model: the whole split in memory, random crops by indexing.

A token split is small (256 uint16 ids = 512 bytes per image here, 2 KB per ImageNet image), so
it is decoded once into memory and every batch is a gather: random indices, one random crop per
image, all as tensor indexing with no per-image Python. This is the path that keeps the storage
advantage of tokens at training time (see benchmarks/loading.py).
"""
from __future__ import annotations

from pathlib import Path
from typing import Iterator

import numpy as np
import torch

from seitpp.tokens.store import TokenStore


def random_crops(ids: torch.Tensor, crop: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """One random crop x crop window per grid: ids (B, H, W) -> (B, crop, crop), same dtype and device."""
    B, H, W = ids.shape
    if not 0 < crop <= min(H, W):
        raise ValueError(f"crop {crop} does not fit a {H} x {W} token grid")
    top = torch.randint(H - crop + 1, (B,), generator=generator).to(ids.device)
    left = torch.randint(W - crop + 1, (B,), generator=generator).to(ids.device)
    offsets = torch.arange(crop, device=ids.device)
    rows = (top[:, None] + offsets)[:, :, None]  # (B, crop, 1)
    cols = (left[:, None] + offsets)[:, None, :]  # (B, 1, crop)
    return ids[torch.arange(B, device=ids.device)[:, None, None], rows, cols]


class TokenLoader:
    """Random batches (ids (B, crop, crop) int64, labels (B,) int64) from a token split held in memory.

    Args:
        ids: (N, H, W) token ids (any integer dtype; kept as given, converted per batch).
        labels: (N,) class labels.
        batch_size: images per batch; the last partial batch of an epoch is dropped.
        crop: side of the random crop of each grid (the grid size for no cropping).
        device: where batches are delivered; the split is moved there once.
        seed: seeds the shuffling and the crops.
    """

    def __init__(self, ids: np.ndarray | torch.Tensor, labels: np.ndarray | torch.Tensor, batch_size: int,
                 crop: int, device: str | torch.device = "cpu", seed: int = 0):
        if isinstance(ids, np.ndarray):  # uint16 has few torch ops: widen to the smallest signed type
            ids = torch.from_numpy(ids.astype(np.int16 if ids.size == 0 or ids.max() < 2**15 else np.int32))
        self.ids = ids.to(device)
        self.labels = torch.as_tensor(labels, dtype=torch.long).to(device)
        if len(self.ids) != len(self.labels):
            raise ValueError(f"{len(self.ids)} token grids but {len(self.labels)} labels")
        self.batch_size, self.crop, self.device = batch_size, crop, torch.device(device)
        self.generator = torch.Generator().manual_seed(seed)

    @classmethod
    def from_store(cls, path: str | Path, batch_size: int, crop: int, device: str | torch.device = "cpu",
                   seed: int = 0) -> "TokenLoader":
        store = TokenStore.open(path)
        return cls(store.read_all(), store.labels, batch_size, crop, device, seed)

    def __len__(self) -> int:
        return len(self.ids) // self.batch_size

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        order = torch.randperm(len(self.ids), generator=self.generator).to(self.device)
        for b in range(len(self)):
            idx = order[b * self.batch_size:(b + 1) * self.batch_size]
            yield random_crops(self.ids[idx], self.crop, self.generator).long(), self.labels[idx]
