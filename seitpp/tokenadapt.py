"""TokenAdapt: geometric augmentation of token grids through a learned "augmentation-compatible" space.

Chapter 2 shows that flipping or cropping a grid of ids does not give the ids of the flipped or
cropped image. TokenAdapt learns a map f from a token grid to a denser continuous map where an
ordinary pixel-style warp does work, and a map g back to token logits:

    ids (B, H, W) --embed--> (B, C, H, W) --f--> (B, C, 2H, 2W) --warp(theta)--> --g--> logits (B, K, H', W')

Following the release: f = Linear(C -> D) + one transformer block over the H*W tokens (fixed 2-D
sin-cos positions) + ConvTranspose2d(D -> C, 2, stride 2); g = Conv2d(C -> D, 2, stride 2) + one
block + Linear(D -> K). `theta` is the same (B, 2, 3) affine transform that `seitpp.augment.warp`
applies to pixels: its coordinates run from -1 to 1 across any grid, so one theta means the same
geometry on the 64 x 64 image, the 32 x 32 f-space and the 16 x 16 token grid.

f and g are trained on pairs (T(x), T(A(x))) made on the fly: draw A per sample, warp the pixels,
tokenize them for the target, and minimise the cross-entropy of g(A(f(T(x)))) against T(A(x)).

Letters: B batch, H W token grid, C code dimension, D width, K codebook size.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F
from timm.layers import build_sincos2d_pos_embed
from timm.models.vision_transformer import Block

from seitpp.augment import warp
from seitpp.tokenizer import Codebook


@dataclass(frozen=True)
class TokenAdaptConfig:
    codebook_size: int = 391  # K
    code_dim: int = 32  # C
    width: int = 384  # D
    num_heads: int = 6
    mlp_ratio: float = 4.0


class TokenAdapt(nn.Module):
    """f and g around a frozen codebook. `forward(ids, theta)` -> logits of the augmented grid."""

    def __init__(self, codebook: Codebook, config: TokenAdaptConfig = TokenAdaptConfig()):
        super().__init__()
        if codebook.weight.shape != (config.codebook_size, config.code_dim):
            raise ValueError(f"codebook is {tuple(codebook.weight.shape)}, config expects "
                             f"({config.codebook_size}, {config.code_dim})")
        self.config = config
        self.register_buffer("codes", codebook.vectors().detach().clone())  # (K, C), frozen
        C, D = config.code_dim, config.width
        # f: tokens -> augmentation-compatible map at twice the resolution
        self.f_in = nn.Linear(C, D)
        self.f_block = Block(D, config.num_heads, config.mlp_ratio, qkv_bias=True)
        self.f_out = nn.ConvTranspose2d(D, C, kernel_size=2, stride=2)
        # g: map -> token logits at the map's half resolution
        self.g_in = nn.Conv2d(C, D, kernel_size=2, stride=2)
        self.g_block = Block(D, config.num_heads, config.mlp_ratio, qkv_bias=True)
        self.g_norm = nn.LayerNorm(D)
        self.g_out = nn.Linear(D, config.codebook_size)

    def _block(self, block: Block, x: torch.Tensor) -> torch.Tensor:
        """One transformer block over a (B, D, H, W) map with fixed sin-cos positions -> (B, H*W, D)."""
        B, D, H, W = x.shape
        pos = build_sincos2d_pos_embed([H, W], dim=D, device=x.device, dtype=x.dtype)  # (H*W, D)
        return block(x.flatten(2).transpose(1, 2) + pos)

    def f(self, ids: torch.Tensor) -> torch.Tensor:
        """ids (B, H, W) -> augmentation-compatible map (B, C, 2H, 2W)."""
        B, H, W = ids.shape
        x = self.f_in(self.codes[ids])  # (B, H, W, D)
        x = self._block(self.f_block, x.permute(0, 3, 1, 2))  # (B, H*W, D)
        return self.f_out(x.transpose(1, 2).reshape(B, -1, H, W))

    def g(self, z: torch.Tensor) -> torch.Tensor:
        """Map (B, C, 2H, 2W) -> token logits (B, K, H, W)."""
        x = self.g_in(z)  # (B, D, H, W)
        B, _, H, W = x.shape
        x = self.g_out(self.g_norm(self._block(self.g_block, x)))  # (B, H*W, K)
        return x.transpose(1, 2).reshape(B, -1, H, W)

    def forward(self, ids: torch.Tensor, theta: torch.Tensor, out_size: tuple[int, int] | None = None) -> torch.Tensor:
        """ids (B, H, W), theta (B, 2, 3) -> logits (B, K, h, w) of the transformed grid (default h, w = H, W)."""
        h, w = out_size or ids.shape[1:]
        z = warp(self.f(ids), theta, size=(2 * h, 2 * w), mode="bilinear")
        return self.g(z)

    @torch.no_grad()
    def augment(self, ids: torch.Tensor, theta: torch.Tensor, out_size: tuple[int, int] | None = None) -> torch.Tensor:
        """The augmented ids (B, h, w): argmax of the logits."""
        return self(ids, theta, out_size).argmax(1)
