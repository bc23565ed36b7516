"""TokenAdapt: geometric augmentation of token grids through a learned "augmentation-compatible" space.

Chapter 2 shows that flipping or cropping a grid of ids does not give the ids of the flipped or
cropped image. TokenAdapt learns a map f from a token grid to a denser continuous map where an
ordinary pixel-style warp does work, and a map g back to token logits:

    ids (B, H, W) --embed--> (B, C, H, W) --f--> (B, C, 2H, 2W) --warp(theta)--> --g--> logits (B, K, H', W')

Following the release: f = Linear(C -> D) + one transformer block over the H*W tokens (fixed 2-D
sin-cos positions) + ConvTranspose2d(D -> C, 2, stride 2); g = Conv2d(C -> D, 2, stride 2) + one
block + Linear(D -> K). One change of ours: two skip paths (f also copies each code vector onto its
2 x 2 cells; g also scores every code by cosine similarity with the 2 x 2 mean), and the last
layers of f and g start at zero, so an untrained TokenAdapt is exactly the naive bilinear warp and
training only has to learn the correction. And g is told theta (a linear embedding added to its
tokens): after a flip, a cell holds the code vector of an unflipped patch, and what g must output
is the code of that patch mirrored; without knowing that the map was mirrored, g could learn this
only if f first learned to write each patch's orientation into its 2 x 2 cells.

`theta` is the same (B, 2, 3) affine transform that `seitpp.augment.warp` applies to pixels: its
coordinates run from -1 to 1 across any grid, so one theta means the same geometry on the 64 x 64 image, the 32 x 32 f-space and the 16 x 16 token grid.

f and g are trained on pairs (T(x), T(A(x))) made on the fly: draw A per sample, warp the pixels,
tokenize them for the target, and minimise the cross-entropy of g(A(f(T(x)))) against T(A(x)).

Letters: B batch, H W token grid, C code dimension, D width, K codebook size.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F
from timm.layers import build_sincos2d_pos_embed
from timm.models.vision_transformer import Block

from seitpp.augment.geometry import GeometryDistribution
from seitpp.augment.grid import affine_theta, warp
from seitpp.files import ARTEFACTS, read_model, save_model
from seitpp.tokenizers.vq import Codebook, VQTokenizer

WEIGHTS_FILE = "tokenadapt.safetensors"
REFERENCE_DIR = ARTEFACTS / "tokenadapt"


@dataclass(frozen=True)
class TokenAdaptConfig:
    codebook_size: int = 391  # K
    code_dim: int = 32  # C
    width: int = 384  # D
    num_heads: int = 6
    mlp_ratio: float = 4.0


class TokenAdapt(nn.Module):
    """f and g around a frozen codebook. `forward(ids, theta)` -> logits of the augmented grid."""

    def __init__(self, codebook: Codebook | torch.Tensor, config: TokenAdaptConfig = TokenAdaptConfig(),
                 tokenizer_hash: str = ""):
        super().__init__()
        codes = codebook.vectors() if isinstance(codebook, Codebook) else codebook  # (K, C)
        if codes.shape != (config.codebook_size, config.code_dim):
            raise ValueError(f"codebook is {tuple(codes.shape)}, config expects "
                             f"({config.codebook_size}, {config.code_dim})")
        self.config = config
        self.tokenizer_hash = tokenizer_hash  # fingerprint of the tokenizer whose tokens it was trained on
        self.register_buffer("codes", codes.detach().clone())  # (K, C), frozen
        C, D = config.code_dim, config.width
        # f: tokens -> augmentation-compatible map at twice the resolution
        self.f_in = nn.Linear(C, D)
        self.f_block = Block(D, config.num_heads, config.mlp_ratio, qkv_bias=True)
        self.f_out = nn.ConvTranspose2d(D, C, kernel_size=2, stride=2)
        # g: map -> token logits at the map's half resolution
        self.g_in = nn.Conv2d(C, D, kernel_size=2, stride=2)
        self.g_block = Block(D, config.num_heads, config.mlp_ratio, qkv_bias=True)
        self.g_norm = nn.LayerNorm(D)
        self.g_theta = nn.Linear(6, D)  # g is told the transform (ours, not the release's; see below)
        self.g_out = nn.Linear(D, config.codebook_size)
        # Skip paths: f copies the code vectors onto the map and g starts from the nearest code, so
        # an untrained TokenAdapt is the naive bilinear warp; the two networks learn the correction.
        self.code_scale = nn.Parameter(torch.tensor(20.0))  # logit scale of the cosine similarities
        for last in (self.f_out, self.g_out):
            nn.init.zeros_(last.weight)
            nn.init.zeros_(last.bias)

    def _block(self, block: Block, x: torch.Tensor, extra: torch.Tensor | float = 0.0) -> torch.Tensor:
        """One transformer block over a (B, D, H, W) map with fixed sin-cos positions (+ `extra`) -> (B, H*W, D)."""
        B, D, H, W = x.shape
        pos = build_sincos2d_pos_embed([H, W], dim=D, device=x.device, dtype=x.dtype)  # (H*W, D)
        return block(x.flatten(2).transpose(1, 2) + pos + extra)

    def f(self, ids: torch.Tensor) -> torch.Tensor:
        """ids (B, H, W) -> augmentation-compatible map (B, C, 2H, 2W).

        The code vectors, each copied onto its 2 x 2 cells, plus what the network learns to add.
        """
        B, H, W = ids.shape
        e = self.codes[ids]  # (B, H, W, C)
        x = self._block(self.f_block, self.f_in(e).permute(0, 3, 1, 2))  # (B, H*W, D)
        skip = F.interpolate(e.permute(0, 3, 1, 2), scale_factor=2, mode="nearest")  # (B, C, 2H, 2W)
        return skip + self.f_out(x.transpose(1, 2).reshape(B, -1, H, W))

    def g(self, z: torch.Tensor, theta: torch.Tensor) -> torch.Tensor:
        """Map (B, C, 2H, 2W) warped by theta (B, 2, 3) -> token logits (B, K, H, W).

        Cosine similarity of each 2 x 2 cell's mean to every code (scaled), plus the learned logits.
        """
        x = self.g_in(z)  # (B, D, H, W)
        B, _, H, W = x.shape
        told = self.g_theta(theta.flatten(1))[:, None]  # (B, 1, D): the transform, known to the caller
        x = self.g_out(self.g_norm(self._block(self.g_block, x, told)))  # (B, H*W, K)
        nearest = F.normalize(F.avg_pool2d(z, 2), dim=1).permute(0, 2, 3, 1) @ self.codes.T  # (B, H, W, K)
        return self.code_scale * nearest.permute(0, 3, 1, 2) + x.transpose(1, 2).reshape(B, -1, H, W)

    def forward(self, ids: torch.Tensor, theta: torch.Tensor, out_size: tuple[int, int] | None = None) -> torch.Tensor:
        """ids (B, H, W), theta (B, 2, 3) -> logits (B, K, h, w) of the transformed grid (default h, w = H, W)."""
        h, w = out_size or ids.shape[1:]
        z = warp(self.f(ids), theta, size=(2 * h, 2 * w), mode="bilinear")
        return self.g(z, theta)

    @torch.no_grad()
    def augment(self, ids: torch.Tensor, theta: torch.Tensor, out_size: tuple[int, int] | None = None) -> torch.Tensor:
        """The augmented ids (B, h, w): argmax of the logits."""
        return self(ids, theta, out_size).argmax(1)

    def save(self, directory: str | Path) -> Path:
        """Write `config.json` (config + tokenizer fingerprint) and the weights, each atomically."""
        meta = {"model": asdict(self.config), "tokenizer_hash": self.tokenizer_hash}
        return save_model(directory, self, WEIGHTS_FILE, json.dumps(meta, indent=2))

    @classmethod
    def load(cls, directory: str | Path = REFERENCE_DIR, tokenizer: VQTokenizer | None = None,
             device: str | torch.device = "cpu") -> "TokenAdapt":
        """Load a saved TokenAdapt (by default the book's reference one) in eval mode.

        With `tokenizer`, check that the weights were trained on that tokenizer's tokens: f and g
        are tied to one codebook, and another tokenizer's ids would be silently meaningless.
        """
        config_text, state = read_model(directory, WEIGHTS_FILE, "TokenAdapt")
        meta = json.loads(config_text)
        if tokenizer is not None and meta["tokenizer_hash"] != tokenizer.fingerprint():
            raise ValueError(f"{directory}: TokenAdapt was trained on tokenizer {meta['tokenizer_hash']}, "
                             f"not on this tokenizer ({tokenizer.fingerprint()})")
        config = TokenAdaptConfig(**meta["model"])
        model = cls(torch.zeros(config.codebook_size, config.code_dim), config, meta["tokenizer_hash"])
        model.load_state_dict(state)
        return model.to(device).eval()


@torch.no_grad()
def via_pixels(tokenizer: VQTokenizer, ids: torch.Tensor, theta: torch.Tensor, out_size: tuple[int, int]) -> torch.Tensor:
    """The route through pixels, T(A(D(ids))): decode, warp the pixels, tokenize again.

    ids (B, H, W), theta (B, 2, 3) -> ids (B, h, w) for out_size (h, w). What TokenAdapt saves us
    from running: a whole decoder and encoder per image. Any tokenizer with `decode`, `tokenize`
    and `config.downsample` (the VQGAN too, and on the meta device, to count its FLOPs).
    """
    d = tokenizer.config.downsample
    return tokenizer.tokenize(warp(tokenizer.decode(ids), theta, (out_size[0] * d, out_size[1] * d)).clamp(0, 1))


@torch.no_grad()
def agreement_per_image(model: TokenAdapt, tokenizer: VQTokenizer, x: torch.Tensor, theta: torch.Tensor,
                        out_grid: int | None = None, batch_size: int = 256) -> dict[str, torch.Tensor]:
    """Per image, the share of ids that match the ground truth T(A(x)), for three ways of augmenting T(x):

    - "tokenadapt": g(A(f(T(x)))), argmax;
    - "naive": A applied to the id grid (nearest);
    - "pixels": `via_pixels`, T(A(D(T(x)))): a rough ceiling, since the decode is lossy and
      T(D(T(x))) is not T(x) either.

    x: images (N, 3, S, S) in [0, 1]; theta (N, 2, 3). The output grid is out_grid x out_grid
    tokens (default the token grid of x). Returns name -> (N,) shares, on the CPU: ids of one
    image are not independent draws, so an error bar needs the images, not the ids.
    """
    d = tokenizer.config.downsample
    out = out_grid or x.shape[-1] // d
    side = (out * d, out * d)
    shares: dict[str, list[torch.Tensor]] = {"tokenadapt": [], "naive": [], "pixels": []}
    for i in range(0, len(x), batch_size):
        xb, tb = x[i:i + batch_size].to(tokenizer.device), theta[i:i + batch_size].to(tokenizer.device)
        ids = tokenizer.tokenize(xb)
        truth = tokenizer.tokenize(warp(xb, tb, side).clamp(0, 1))
        guesses = {"tokenadapt": model.augment(ids, tb, (out, out)),
                   "naive": warp(ids[:, None], tb, (out, out))[:, 0],
                   "pixels": via_pixels(tokenizer, ids, tb, (out, out))}
        for name, guess in guesses.items():
            shares[name].append((guess == truth).float().mean((1, 2)).cpu())
    return {name: torch.cat(parts) for name, parts in shares.items()}


def agreement(model: TokenAdapt, tokenizer: VQTokenizer, x: torch.Tensor, theta: torch.Tensor,
              out_grid: int | None = None, batch_size: int = 256) -> dict[str, float]:
    """Share of all ids that match T(A(x)), per route: the mean of `agreement_per_image` (every
    image has the same number of ids)."""
    per_image = agreement_per_image(model, tokenizer, x, theta, out_grid, batch_size)
    return {name: shares.mean().item() for name, shares in per_image.items()}


def probe_thetas(N: int, distribution: GeometryDistribution, out_grid: int, seed: int = 0
                 ) -> dict[str, tuple[torch.Tensor, int | None]]:
    """The fixed geometries the book reports TokenAdapt on: name -> (theta (N, 2, 3), output grid).

    All at `out_grid`, the classifier's crop that TokenAdapt is trained to produce, and the flip
    once more at the full grid (None), a size it never produces in training, where the naive flip
    is an exact mirror of the grid.
    """
    size = f"{out_grid} x {out_grid}"
    return {
        f"hflip ({size})": (affine_theta(N, hflip=True), out_grid),
        f"zoom 0.75 ({size})": (affine_theta(N, scale=0.75), out_grid),
        f"rotate 15 ({size})": (affine_theta(N, degrees=15), out_grid),
        f"training distribution ({size})": (distribution.sample(N, torch.Generator().manual_seed(seed)), out_grid),
        "hflip (full grid)": (affine_theta(N, hflip=True), None),
    }
