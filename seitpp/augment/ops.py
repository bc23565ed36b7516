"""Batched augmentations for images stored as discrete tokens: one interface for ids and embeddings.

Every `TokenAugmentation` takes either a batch of token ids (B, H, W) (any integer dtype) or a
batch of embeddings (B, C, H, W) (float), on any device, and returns the same kind, dtype and
device. Randomness comes from an optional `torch.Generator` (CPU or on x's device), so a seeded
generator gives the same output every time. Per-sample parameters are drawn as (B,) tensors and
applied with indexing, `torch.gather`, masks or `F.grid_sample` over per-sample affine grids:
there is no Python loop over images, so they run as a DataLoader collate or a GPU batch transform.

This module holds what every op shares: the draws from a generator on any device, the codebook
lookups, the base class and the combinators (`Compose` chains ops; `RandomChoice` picks one per
batch and applies it to all of the batch or to a random part of it: SeiT++ applies one of
{EmbNoise 0.75, ColorAdapt 0.25} to half). The ops themselves live by what they act on:

- `seitpp.augment.grid`: ops that move tokens on the grid (`HFlip`, `RandomResizedCrop`,
  `RandomAffine`, SeiT's Token-EDA `SynonymReplace` and `CodeSwap`) and `warp`;
- `seitpp.augment.embeddings`: ops defined on embeddings (`ColorAdapt`, `EmbNoise`). Given ids
  they need a codebook: ids -> code vectors -> op -> nearest code by cosine -> ids. Code vectors
  are unit length, i.e. per-element RMS 1/sqrt(C); they are scaled by sqrt(C) first so that an
  element is of order 1, as in SeiT++'s LayerNorm'd token embedding, and noise strengths mean
  the same on both kinds of input (cosine quantisation ignores the scale);
- `seitpp.augment.mixing`: `CutMix` and `Mixup`, which also mix labels.

The "naive" ops (flip, crop, affine applied directly to the token grid) are what one first tries;
chapter 2 measures how far their output is from the tokens of the augmented image.

Letters used in shapes: B batch, H W token grid, C embedding channels, K codebook size.
"""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from seitpp.tokenizers.vq import Codebook

CodebookLike = Codebook | torch.Tensor  # a Codebook or its (K, C) code vectors


# ----------------------------------------------------------------------------------------------
# Helpers: random numbers from a generator on any device, codebook lookups


def generator_device(generator: torch.Generator | None, device: torch.device) -> torch.device:
    return generator.device if generator is not None else device


def uniform(shape: Sequence[int], generator: torch.Generator | None, device: torch.device) -> torch.Tensor:
    """Uniform [0, 1) float32 of `shape` on `device`, drawn on the generator's device."""
    return torch.rand(tuple(shape), generator=generator, device=generator_device(generator, device)).to(device)


def normal(shape: Sequence[int], generator: torch.Generator | None, device: torch.device,
           dtype: torch.dtype = torch.float32) -> torch.Tensor:
    gen_device = generator_device(generator, device)
    return torch.randn(tuple(shape), generator=generator, device=gen_device, dtype=dtype).to(device)


def normal_on_device(shape: Sequence[int], generator: torch.Generator | None, device: torch.device,
                     dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Standard normals of `shape` drawn where the data are, from a seed the generator gives.

    For element-wise noise: a CPU draw of B x C x H x W normals and its copy to a GPU take longer
    than the training step they feed (the engine's generators live on the CPU). The seed keeps
    the draw a function of the generator's state, so runs still repeat and resume exactly.
    """
    if generator is None or generator.device == device:
        return normal(shape, generator, device, dtype)
    seed = int(torch.randint(2**62, (1,), generator=generator, device=generator.device))
    local = torch.Generator(device=device).manual_seed(seed)
    return torch.randn(tuple(shape), generator=local, device=device, dtype=dtype)


def permutation(n: int, generator: torch.Generator | None, device: torch.device) -> torch.Tensor:
    return torch.randperm(n, generator=generator, device=generator_device(generator, device)).to(device)


def randint_below(high: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    """Per-element uniform integers in [0, high) for an integer tensor `high` (>= 1)."""
    u = uniform(high.shape, generator, high.device)
    return torch.minimum((u * high).long(), high - 1)


def beta(alpha: float, n: int, generator: torch.Generator | None, device: torch.device) -> torch.Tensor:
    """(n,) float32 Beta(alpha, alpha) samples. torch's Beta takes no generator: seed numpy from it."""
    seed = int(torch.randint(2**62, (1,), generator=generator, device=generator_device(generator, device)))
    return torch.from_numpy(np.random.default_rng(seed).beta(alpha, alpha, size=n)).float().to(device)


def _vectors(codebook: CodebookLike, device: torch.device) -> torch.Tensor:
    """(K, C) unit code vectors on `device`, detached."""
    v = codebook.vectors() if isinstance(codebook, Codebook) else F.normalize(codebook, dim=1)
    return v.detach().to(device)


def embed_ids(ids: torch.Tensor, codebook: CodebookLike, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """ids (B, H, W) -> code vectors scaled to per-element RMS 1, (B, C, H, W)."""
    v = _vectors(codebook, ids.device)
    return (v[ids.long()] * math.sqrt(v.shape[1])).permute(0, 3, 1, 2).to(dtype)


def nearest_ids(z: torch.Tensor, codebook: CodebookLike) -> torch.Tensor:
    """Embeddings (B, C, H, W) -> ids (B, H, W) of the code with the highest cosine similarity."""
    v = _vectors(codebook, z.device).to(z.dtype)
    B, C, H, W = z.shape
    flat = F.normalize(z, dim=1).permute(0, 2, 3, 1).reshape(-1, C)
    # in chunks of positions: the (positions, K) similarity matrix of a whole batch can be gigabytes
    step = max(1, 2**24 // v.shape[0])
    ids = torch.cat([(chunk @ v.T).argmax(dim=1) for chunk in flat.split(step)])
    return ids.view(B, H, W)


def synonyms_from_codebook(codebook: CodebookLike, k: int = 5) -> torch.Tensor:
    """(K, k) long: for each code, the ids of the k most similar OTHER codes by cosine, best first."""
    v = _vectors(codebook, torch.device("cpu"))
    if not 1 <= k < v.shape[0]:
        raise ValueError(f"k must be in [1, K) = [1, {v.shape[0]}), got {k}")
    sim = v @ v.T
    sim.fill_diagonal_(-math.inf)
    return sim.topk(k, dim=1).indices


def synonyms_from_json(mapping: dict[str, list[int]], k: int = 5) -> torch.Tensor:
    """SeiT's `synonyms.json` content `{"<id>": [ids, ...]}` -> (K, k) long, first k of each list."""
    K = max(int(key) for key in mapping) + 1
    table = torch.arange(K)[:, None].repeat(1, k)  # a code missing from the file maps to itself
    for key, ids in mapping.items():
        table[int(key)] = torch.tensor(list(ids)[:k])
    return table


def is_ids(x: torch.Tensor) -> bool:
    if x.is_floating_point():
        if x.ndim != 4:
            raise ValueError(f"embeddings must be (B, C, H, W), got shape {tuple(x.shape)}")
        return False
    if x.ndim != 3:
        raise ValueError(f"token ids must be (B, H, W), got shape {tuple(x.shape)}")
    return True


# ----------------------------------------------------------------------------------------------
# Base classes


class TokenAugmentation:
    """Base class. `__call__(x, generator)`: ids (B, H, W) or embeddings (B, C, H, W) -> same kind.

    Subclasses implement `apply(z, generator)` on a float or integer (B, C, H, W) tensor.
    `on_embeddings = True` marks ops defined only on embeddings: ids are embedded with the codebook
    (see `embed_ids`) and re-quantised to the nearest code (cosine) afterwards. Otherwise ids are
    viewed as a one-channel grid (B, 1, H, W) and `apply` must only move values around.
    """

    on_embeddings: bool = False
    codebook: CodebookLike | None = None

    def __call__(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        if not is_ids(x):
            return self.apply(x, generator)
        if not self.on_embeddings:
            return self.apply(x[:, None], generator)[:, 0]
        if self.codebook is None:
            raise ValueError(f"{type(self).__name__} acts on embeddings: pass codebook= to apply it to token ids")
        z = self.apply(embed_ids(x, self.codebook), generator)
        return nearest_ids(z, self.codebook).to(x.dtype)

    def apply(self, z: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
        raise NotImplementedError

    def __repr__(self) -> str:
        fields = ", ".join(f"{k}={v!r}" for k, v in vars(self).items()
                           if k not in ("codebook", "on_embeddings") and not isinstance(v, torch.Tensor))
        return f"{type(self).__name__}({fields})"


class Identity(TokenAugmentation):
    def __call__(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        return x


# ----------------------------------------------------------------------------------------------
# Combinators


class Compose(TokenAugmentation):
    """Apply augmentations in order, sharing the generator."""

    def __init__(self, augmentations: Sequence[TokenAugmentation]):
        self.augmentations = list(augmentations)

    def __call__(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        for aug in self.augmentations:
            x = aug(x, generator)
        return x


class RandomChoice(TokenAugmentation):
    """Pick one augmentation per batch with the given weights (None = identity) and apply it to a
    random `fraction` of the batch (all of it by default); the rest pass through unchanged.

    SeiT++ fine-tuning: `RandomChoice([(EmbNoise(), 0.75), (ColorAdapt(), 0.25)], fraction=0.5)`.
    With fraction < 1 the augmentations must keep the grid size (no resizing crop).
    """

    def __init__(self, choices: Sequence[tuple[TokenAugmentation | None, float]], fraction: float = 1.0):
        self.augmentations = [aug if aug is not None else Identity() for aug, _ in choices]
        self.weights = torch.tensor([w for _, w in choices], dtype=torch.float64)
        self.fraction = fraction

    def __call__(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        gen_device = generator_device(generator, x.device)
        pick = int(torch.multinomial(self.weights.to(gen_device), 1, generator=generator))
        aug = self.augmentations[pick]
        if self.fraction >= 1:
            return aug(x, generator)
        subset = permutation(x.shape[0], generator, x.device)[: round(self.fraction * x.shape[0])]
        out = x.clone()
        out[subset] = aug(x[subset], generator)
        return out
