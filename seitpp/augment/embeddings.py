"""Token ops defined on embeddings (SeiT++'s appearance ops): ColorAdapt and Emb-Noise.

Given ids they need a codebook: ids -> code vectors -> op -> nearest code by cosine -> ids
(`seitpp.augment.ops.TokenAugmentation`). Tokens keep their places.

Letters used in shapes: B batch, H W token grid, C embedding channels, K codebook size.
"""
from __future__ import annotations

import torch

from seitpp.augment.ops import CodebookLike, TokenAugmentation, normal, normal_on_device, permutation


# ----------------------------------------------------------------------------------------------
# Embedding-space ops (SeiT++)


class ColorAdapt(TokenAugmentation):
    """AdaIN across the batch: for a random `fraction` of the samples, each channel's spatial
    mean/std is replaced by those of a partner sample; the others are unchanged.

    pairing "random": partners follow a random cycle through the batch (a derangement, so no
    sample is its own partner when B > 1); "reverse": sample i takes i's mirror B-1-i, as the
    release does. Statistics are population (biased) ones of the input batch.
    """

    on_embeddings = True

    def __init__(self, fraction: float = 0.5, pairing: str = "random", eps: float = 1e-5,
                 codebook: CodebookLike | None = None):
        if pairing not in ("random", "reverse"):
            raise ValueError(f"pairing must be 'random' or 'reverse', got {pairing!r}")
        self.fraction, self.pairing, self.eps, self.codebook = fraction, pairing, eps, codebook

    def partners(self, B: int, generator: torch.Generator | None, device: torch.device) -> torch.Tensor:
        """(B,) long: the partner of each sample."""
        if self.pairing == "reverse":
            return torch.arange(B - 1, -1, -1, device=device)
        cycle = permutation(B, generator, device)
        partner = torch.empty_like(cycle)
        partner[cycle] = cycle.roll(-1)  # each sample takes the next one along the cycle
        return partner

    def apply(self, z: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
        B = z.shape[0]
        partner = self.partners(B, generator, z.device)
        chosen = torch.zeros(B, dtype=torch.bool, device=z.device)
        chosen[permutation(B, generator, z.device)[: round(self.fraction * B)]] = True
        var, mean = torch.var_mean(z, dim=(2, 3), keepdim=True, correction=0)  # (B, C, 1, 1)
        std = (var + self.eps).sqrt()
        adapted = (z - mean) / std * std[partner] + mean[partner]
        return torch.where(chosen[:, None, None, None], adapted, z)


class EmbNoise(TokenAugmentation):
    """z + N(0, 1) * scale per (sample, channel) + N(0, 1) * std per element (SeiT++'s Emb-Noise).

    Ids are embedded at per-element RMS 1 (see module docstring), noised, and re-quantised, so
    scale = std = 1 (the release's values) replaces most tokens; use smaller values on ids.
    """

    on_embeddings = True

    def __init__(self, scale: float = 1.0, std: float = 1.0, codebook: CodebookLike | None = None):
        self.scale, self.std, self.codebook = scale, std, codebook

    def apply(self, z: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
        B, C = z.shape[:2]
        offset = normal((B, C, 1, 1), generator, z.device, z.dtype) * self.scale
        return z + offset + normal_on_device(z.shape, generator, z.device, z.dtype) * self.std
