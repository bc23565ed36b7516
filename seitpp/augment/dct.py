"""Augmentations that are exact on quantised DCT levels: crops on the block grid, mirror images,
and ColorAdapt in DCT space (a partner's DC statistics); `DCTPolicy`, the batch transform of DCT runs."""
from __future__ import annotations

import torch

from seitpp.augment.embeddings import ColorAdapt
from seitpp.data.dct import BLOCK, COEFFS, ZIGZAG, check_levels

# ----------------------------------------------------------------------------------------------
# ColorAdapt in DCT space


def dct_color_swap(levels: torch.Tensor, partners: torch.Tensor, low_freq: int = 0, eps: float = 1e-5) -> torch.Tensor:
    """Give each image the colour statistics of its partner: levels int (B, 192, h, w) -> the same shape and dtype.

    ColorAdapt (`seitpp.augment.ColorAdapt`) replaces each embedding channel's spatial mean and std
    by the partner's. Here the channels are Y, Cb and Cr, and the DC map of a channel (one value
    per block, 8 x the block's mean) is its coarse picture: each channel's DC map is standardised
    and takes the partner's mean and std over blocks, so the image's mean colour becomes the
    partner's (exactly, before rounding and clipping) and the layout stays its own (a positive
    affine map per channel). With `low_freq` = k > 0 the first k AC coefficients (zigzag) of each
    channel are also rescaled to the partner's RMS over blocks: its texture contrast, not its texture.

    partners: (B,) long, the sample whose statistics sample i takes, e.g. `ColorAdapt().partners(B, generator, device)`.
    Statistics are those of the quantised levels (the step is the same within a coefficient, so
    this is the same as on coefficients); the result is rounded back to levels.
    """
    check_levels(levels)
    if partners.shape != (len(levels),):
        raise ValueError(f"partners must be ({len(levels)},), got {tuple(partners.shape)}")
    if not 0 <= low_freq < COEFFS:
        raise ValueError(f"low_freq must be in [0, {COEFFS}), got {low_freq}")
    x = levels.float().unflatten(1, (3, COEFFS))  # (B, 3, 64, h, w)
    dc = x[:, :, 0]  # (B, 3, h, w)
    var, mean = torch.var_mean(dc, dim=(2, 3), keepdim=True, correction=0)
    std = (var + eps).sqrt()
    out = x.clone()
    out[:, :, 0] = (dc - mean) / std * std[partners] + mean[partners]
    if low_freq:
        ac = x[:, :, 1:1 + low_freq]  # (B, 3, k, h, w)
        rms = ac.pow(2).mean(dim=(2, 3, 4), keepdim=True).add(eps).sqrt()  # (B, 3, 1, 1, 1)
        out[:, :, 1:1 + low_freq] = ac / rms * rms[partners]
    return out.round().flatten(1, 2).to(levels.dtype)




def _flip_sign() -> torch.Tensor:
    """(192,) int: -1 where a coefficient's horizontal frequency v is odd, else 1 (zigzag order, per channel)."""
    sign = 1 - 2 * (ZIGZAG % BLOCK % 2)  # ZIGZAG[i] = 8u + v
    return sign.repeat(3)


FLIP_SIGN = _flip_sign()


def hflip_levels(levels: torch.Tensor) -> torch.Tensor:
    """Levels int (B, 192, h, w) -> the levels of the same images mirrored left-right, exactly.

    Mirroring reverses the blocks along w and, inside a block, the 8 columns; the DCT-II turns a
    column reversal into the sign (-1)^v on horizontal frequency v. Rounding to levels is odd
    symmetric, so this is what `encode` gives for the mirrored image: no pixels, no loss.
    """
    return levels.flip(-1) * FLIP_SIGN.to(levels.device, levels.dtype)[:, None, None]


def random_block_crops(levels: torch.Tensor, size: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """Levels (B, 192, h, w) -> one random size x size window of blocks per sample (B, 192, size, size).

    Offsets are whole blocks, so a crop is a slice, exact (a crop at 8-pixel steps, as a token crop is at 4).
    """
    B, _, h, w = levels.shape
    if size > min(h, w):
        raise ValueError(f"a {size} x {size} crop does not fit {h} x {w} blocks")
    top = torch.randint(h - size + 1, (B,), generator=generator)
    left = torch.randint(w - size + 1, (B,), generator=generator)
    rows = (top[:, None] + torch.arange(size)).to(levels.device)  # (B, size)
    cols = (left[:, None] + torch.arange(size)).to(levels.device)
    b = torch.arange(B, device=levels.device)[:, None, None]
    return levels.permute(0, 2, 3, 1)[b, rows[:, :, None], cols[:, None, :]].permute(0, 3, 1, 2)


class DCTPolicy:
    """The batch transform of DCT runs: `(levels int (B, 192, h, w), targets, generator)` ->
    `(levels (B, 192, S, S), targets)`.

    A random crop of S x S blocks and a mirror with p 0.5 per sample (both exact on levels), then
    a `color_swap` share of the batch takes a partner's colour statistics (`dct_color_swap`).

    Args:
        size: S, the crop side in blocks.
        color_swap: share of each batch whose colour statistics are swapped, 0 = off.
    """

    def __init__(self, size: int, color_swap: float = 0.0):
        self.size, self.color_swap = size, color_swap
        self.swap = ColorAdapt() if color_swap > 0 else None  # only its partner draw: a derangement of the batch

    def __call__(self, levels: torch.Tensor, targets: torch.Tensor,
                 generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        B, device = len(levels), levels.device
        x = random_block_crops(levels, self.size, generator)
        flip = (torch.rand(B, generator=generator) < 0.5).to(device)
        x = torch.where(flip[:, None, None, None], hflip_levels(x), x)
        if self.swap is not None:
            chosen = torch.randperm(B, generator=generator)[:round(self.color_swap * B)].to(device)
            x[chosen] = dct_color_swap(x, self.swap.partners(B, generator, "cpu").to(device))[chosen]
        return x, targets
