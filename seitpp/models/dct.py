"""Models on DCT levels: a ViT whose patch is one 8 x 8 pixel block, and masked block modeling."""
from __future__ import annotations

from dataclasses import dataclass, replace

import torch
import torch.nn as nn
from timm.layers import trunc_normal_

from seitpp.data.dct import (
    BLOCK,
    CHANNELS,
    COEFFS,
    DCT_MATRIX,
    ZIGZAG,
    check_levels,
    check_multiple_of_8,
    dequantize,
    quant_tables,
)
from seitpp.models.vit import ViT, ViTConfig, init_linear, register_sizes, sized_config

# ----------------------------------------------------------------------------------------------
# The model: one block, one patch


@dataclass(frozen=True)
class DCTViTConfig(ViTConfig):
    img_size: int = 56  # 7 x 7 blocks: the DCT analogue of a 14 x 14 token crop and of the pixel ViT's 56 x 56
    quality: int = 50  # the quality the levels were quantised at: the stem dequantises with its tables

    def __post_init__(self):
        super().__post_init__()
        check_multiple_of_8(self.img_size, self.img_size)
        quant_tables(self.quality)  # a ValueError for a quality outside [1, 100]


def prior_scale(rho: float = 0.95, pixel_std: tuple[float, float, float] = (64.0, 32.0, 32.0)) -> torch.Tensor:
    """(192,) float32: each coefficient's std under the textbook image model, which needs no data.

    Rows and columns of pixels as a first-order Markov process (correlation rho between neighbours,
    the model under which the DCT is close to the optimal KLT): coefficient (u, v) of a channel has
    variance pixel_std^2 * d_u * d_v, with d = diag(M R M^T), R_ij = rho^|i - j|. On Shapes it is
    0.7 to 2.7 times the measured RMS of each channel's 10 lowest frequencies, and 0.36 to 4.8 times
    it over all 192 (unquantised): an input scale of the right order, not a fitted one.
    """
    i = torch.arange(BLOCK, dtype=torch.float64)
    R = rho ** (i[:, None] - i[None]).abs()
    d = torch.diag(DCT_MATRIX @ R @ DCT_MATRIX.T)
    unit = (d[:, None] * d[None]).flatten()[ZIGZAG].sqrt()  # (64,) zigzag
    return torch.cat([s * unit for s in pixel_std]).float()


def coefficient_rms(levels: torch.Tensor, quality: int, floor: float = 1.0) -> torch.Tensor:
    """(192,) float32: the RMS of each dequantised coefficient over a batch of levels (N, 192, h, w).

    A coefficient that is always quantised to 0 has RMS 0; `floor` keeps the scale finite there.
    """
    rms = dequantize(levels, quality).pow(2).mean(dim=(0, 2, 3)).sqrt()
    return rms.clamp_min(floor)


class DCTStem(nn.Module):
    """Levels int (B, 192, h, w) -> patches (B, h * w, D) and their grid (h, w): one 8 x 8 pixel block per patch.

    The levels are dequantised with the tables of the configured quality and divided by a fixed
    per-coefficient `scale` (a buffer, saved with the model), so that every input channel is of
    order 1 although the DC is hundreds and a high frequency is a few; then one linear layer
    embeds a block's 192 numbers, as a pixel ViT's patch embedding embeds its 8 x 8 x 3 pixels
    (the DCT is an orthonormal change of basis of those same 192 numbers, up to the colour matrix).
    """

    def __init__(self, config: DCTViTConfig, scale: torch.Tensor | None = None):
        super().__init__()
        scale = prior_scale() if scale is None else scale
        if not isinstance(scale, torch.Tensor) or scale.shape != (CHANNELS,) or not (scale > 0).all():
            raise ValueError(f"scale must be a positive ({CHANNELS},) tensor, e.g. coefficient_rms(levels, quality)")
        self.quality = config.quality
        self.register_buffer("scale", scale.detach().float().clone())
        self.proj = nn.Linear(CHANNELS, config.embed_dim)
        nn.init.xavier_uniform_(self.proj.weight)
        nn.init.zeros_(self.proj.bias)

    def normalize(self, levels: torch.Tensor) -> torch.Tensor:
        """Levels int (B, 192, h, w) -> coefficients / scale, float (B, h * w, 192), blocks row-major."""
        x = dequantize(levels, self.quality) / self.scale[:, None, None]
        return x.flatten(2).transpose(1, 2)

    def forward(self, levels: torch.Tensor) -> tuple[torch.Tensor, tuple[int, int]]:
        return self.proj(self.normalize(levels)), (levels.shape[2], levels.shape[3])


class DCTViT(ViT):
    """The token and pixel ViTs' body on DCT levels. `forward(levels)`: int (B, 192, h, w) -> logits (B, classes).

    Args:
        config: sizes, head, input size and quality.
        scale: the stem's (192,) per-coefficient scale; default `prior_scale()`, better
            `coefficient_rms(train_levels, quality)`.

    A crop on the 8-pixel grid is a slice of the levels (`levels[..., i:i + 7, j:j + 7]`), exact, as
    a token crop is; the position embedding is resampled for other grids (8 x 8 for a whole 64 x 64 image).
    """

    def __init__(self, config: DCTViTConfig = DCTViTConfig(), scale: torch.Tensor | None = None):
        g = config.img_size // BLOCK
        super().__init__(config, DCTStem(config, scale), (g, g))


def _dct_vit(size: str, num_classes: int = 12, quality: int = 50, scale: torch.Tensor | None = None,
             **overrides) -> DCTViT:
    """A DCT ViT at `size` (`create_model("dct_<size>")`), the body of tvit_<size> and pvit_<size>.

    Args:
        num_classes: classes of the head (12 for Shapes; 0: no head).
        quality: the JPEG quality of the input levels.
        scale: the stem's per-coefficient scale (see `DCTViT`).
        **overrides: other `DCTViTConfig` fields (img_size, drop_path_rate, global_pool, ...).
    """
    return DCTViT(sized_config(DCTViTConfig, size, overrides, num_classes=num_classes, quality=quality), scale)


register_sizes("dct", _dct_vit)




# ----------------------------------------------------------------------------------------------
# Masked modeling on blocks


def random_block_mask(B: int, L: int, ratio: float, generator: torch.Generator | None = None,
                      device: torch.device | str = "cpu") -> torch.Tensor:
    """(B, L) float: round(ratio * L) randomly chosen blocks of each sample are 1 (masked), the others 0 (kept)."""
    if not 0 < ratio < 1:
        raise ValueError(f"ratio must be in (0, 1), got {ratio}")
    noise = torch.rand(B, L, generator=generator, device=generator.device if generator is not None else device)
    rank = noise.argsort(dim=1).argsort(dim=1).to(device)  # (B, L): each block's place in a random order
    return (rank < round(ratio * L)).float()


class MaskedDCTModel(nn.Module):
    """SimMIM-style masked modeling on DCT levels. `forward(levels)` -> (loss, pred (B, L, 3k), mask (B, L)).

    The smallest version of what MTM does on tokens: a fixed fraction of the blocks is replaced, after
    the stem, by a learned mask embedding (nothing is dropped, so the encoder sees every position, as
    at fine-tuning); the encoder is a `DCTViT` without head (`model.encoder`, whose weights load into
    `create_model("dct_<size>")` with `seitpp.models.load_encoder`); a linear layer predicts the k = `frequencies`
    lowest zigzag coefficients of each channel of every block, normalised as the stem's input
    (dequantised / scale), and the loss is their mean squared error over the masked blocks only.
    Mask values: 1 is masked, 0 is kept.

    Why regression, and why only the lowest frequencies: a block has 192 integer levels with open
    ranges, not one id of a codebook, so there is no class to score. And the fine detail of a hidden
    block is not in its neighbours: on 48 Shapes images (quality 50, a 32-wide 2-block encoder,
    60 steps), the held-out masked loss reached 0.56 of the best context-free guess (each
    coefficient's mean) for k = 1, the DCs (the block's mean colour), 0.87 for k = 3, and 1.00 for
    all 64: no better than the mean. So k = 1 by default, the coarse content that MTM's tokens
    also carry; a larger k asks for much longer training.
    """

    def __init__(self, config: DCTViTConfig = DCTViTConfig(), scale: torch.Tensor | None = None,
                 ratio: float = 0.5, frequencies: int = 1):
        super().__init__()
        if not 0 < ratio < 1:
            raise ValueError(f"ratio must be in (0, 1), got {ratio}")
        if not 1 <= frequencies <= COEFFS:
            raise ValueError(f"frequencies must be in [1, {COEFFS}], got {frequencies}")
        self.ratio = ratio
        # no head and no fc_norm (pooling unused), as seitpp.models.mtm: the classifier's fc_norm and head start fresh
        self.encoder = DCTViT(replace(config, num_classes=0, global_pool="token"), scale)
        self.mask_token = nn.Parameter(torch.zeros(1, 1, config.embed_dim))
        targets = torch.cat([c * COEFFS + torch.arange(frequencies) for c in range(3)])  # (3k,) input channels
        self.register_buffer("targets", targets, persistent=False)
        self.pred = nn.Linear(config.embed_dim, len(targets))
        trunc_normal_(self.mask_token, std=0.02)
        init_linear(self.pred)

    def forward_encoder(self, levels: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Levels (B, 192, h, w), mask (B, L) -> encoder tokens (B, 1 + L, D), masked blocks as the mask embedding."""
        enc = self.encoder
        x, grid = enc.patch_embed(levels)  # (B, L, D)
        x = torch.where(mask.bool().unsqueeze(-1), self.mask_token.to(x.dtype), x)
        x = torch.cat([enc.cls_token.expand(len(x), -1, -1), x], dim=1) + enc.pos_embed_for(grid)
        return enc.norm(enc.blocks(x))

    def forward(self, levels: torch.Tensor, generator: torch.Generator | None = None
                ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        check_levels(levels)
        B, L = len(levels), levels.shape[2] * levels.shape[3]
        mask = random_block_mask(B, L, self.ratio, generator, levels.device)
        pred = self.pred(self.forward_encoder(levels, mask)[:, 1:])  # (B, L, 3k)
        target = self.encoder.patch_embed.normalize(levels)[..., self.targets]  # (B, L, 3k)
        loss = (pred - target).pow(2).mean(-1)  # (B, L)
        return (loss * mask).sum() / mask.sum(), pred, mask
