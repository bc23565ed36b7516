"""DCT-coefficient inputs: JPEG's quantised 8 x 8 block DCT as the model's input grid, instead of VQ tokens.

SeiT++ says its recipe carries over to DCT inputs. This module builds that input at the book's
scale and the pieces to test the claim with the same ViT body:

    image uint8 (N, H, W, 3) --YCbCr--> --8x8 DCT-II--> --/ table(quality), round--> levels int16 (N, 192, H/8, W/8)

- The codec (`encode`, `decode`) is baseline JPEG's transform and quantisation without its entropy
  coder: RGB -> YCbCr with JPEG's full-range matrix, a level shift of -128, an orthonormal 8 x 8
  DCT-II on every block (two batched matrix products), division by the standard luminance and
  chrominance tables scaled by the IJG quality formula, rounding. Chroma is kept at full
  resolution (JPEG's 4:4:4, no 4:2:0 subsampling), so each 8 x 8 pixel block gives 3 x 64
  coefficients. Channel c's 64 coefficients sit at c * 64 ... c * 64 + 63, in zigzag order
  (index 0 is the DC, then low to high frequencies), so `levels[:, ::64]` are the three DCs.
- Storage (`to_bytes`, `bytes_per_image`): JPEG's own idea, zero runs up to an end-of-block mark,
  then a standard-library entropy coder (raw deflate) per image. `from_bytes` reads it back
  exactly, so the byte count is of a real, decodable file.
- The model (`DCTStem`, `DCTViT`, `dct_vit`): one 8 x 8 pixel block is one patch, embedded by a
  linear layer of its 192 coefficients; a 64 x 64 image is 8 x 8 patches, a 56 x 56 crop 7 x 7, the
  same grids as the token ViT (a patch is 2 x 2 tokens of 4 x 4 pixels) and the pixel ViT (patch 8).
- `dct_color_swap`: ColorAdapt in DCT space. The DC of a block is 8 x its mean, so the per-channel
  statistics of the DC maps are the colour of the image; swapping them moves one image's colours
  onto another's content.
- `MaskedDCTModel`: masked modeling on blocks, the smallest honest analogue of MTM.
- Training (`DCTTrainConfig`, `train_dct`, `evaluate_dct`): one small loop for classification and
  for masked block modeling, on the two augmentations that are exact on levels, crops on the
  block grid (`random_block_crops`) and mirror images (`hflip_levels`), with the colour swap on
  a share of each batch. Chapter 8's sweep (`seitpp.beyond`) trains with it.

Letters: B batch (N for a whole split), H W pixels, h w blocks (= patches), L = h * w, D width.
"""
from __future__ import annotations

import math
import zlib
from dataclasses import dataclass, fields, replace

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from timm.layers import trunc_normal_
from timm.optim import create_optimizer_v2
from tqdm.auto import tqdm

from seitpp.augment import ColorAdapt
from seitpp.models import SIZES, ViT, ViTConfig, init_linear, load_encoder
from seitpp.train import center_crop, lr_at, stream_seed

BLOCK = 8
COEFFS = BLOCK * BLOCK  # per channel and block
CHANNELS = 3 * COEFFS  # 192 input channels: Y, Cb, Cr, each 64 zigzag coefficients
CHUNK = 512  # images encoded or decoded at a time: 64 x 64 images in float64 take ~50 MB a tensor

# JPEG (ITU-T T.81) Annex K: the luminance and chrominance tables that the IJG quality 50 uses as is.
LUMA_TABLE = torch.tensor([
    [16, 11, 10, 16, 24, 40, 51, 61],
    [12, 12, 14, 19, 26, 58, 60, 55],
    [14, 13, 16, 24, 40, 57, 69, 56],
    [14, 17, 22, 29, 51, 87, 80, 62],
    [18, 22, 37, 56, 68, 109, 103, 77],
    [24, 35, 55, 64, 81, 104, 113, 92],
    [49, 64, 78, 87, 103, 121, 120, 101],
    [72, 92, 95, 98, 112, 100, 103, 99],
])
CHROMA_TABLE = torch.tensor([
    [17, 18, 24, 47, 99, 99, 99, 99],
    [18, 21, 26, 66, 99, 99, 99, 99],
    [24, 26, 56, 99, 99, 99, 99, 99],
    [47, 66, 99, 99, 99, 99, 99, 99],
    [99, 99, 99, 99, 99, 99, 99, 99],
    [99, 99, 99, 99, 99, 99, 99, 99],
    [99, 99, 99, 99, 99, 99, 99, 99],
    [99, 99, 99, 99, 99, 99, 99, 99],
])

# JPEG's (JFIF) full-range RGB -> YCbCr; Cb and Cr are offset by 128 after the product.
_YCBCR = torch.tensor([
    [0.299, 0.587, 0.114],
    [-0.168736, -0.331264, 0.5],
    [0.5, -0.418688, -0.081312],
], dtype=torch.float64)
_CHROMA_OFFSET = torch.tensor([0.0, 128.0, 128.0], dtype=torch.float64)


def _dct_matrix() -> torch.Tensor:
    """(8, 8) orthonormal DCT-II: row k is the k-th cosine, so coefficients = M @ x and x = M.T @ coefficients."""
    k = torch.arange(BLOCK, dtype=torch.float64)[:, None]
    n = torch.arange(BLOCK, dtype=torch.float64)[None]
    m = torch.cos(math.pi * (2 * n + 1) * k / (2 * BLOCK)) * math.sqrt(2 / BLOCK)
    m[0] /= math.sqrt(2)
    return m


def _zigzag() -> torch.Tensor:
    """(64,) long: ZIGZAG[i] is the row-major index (8 * u + v) of the i-th coefficient in zigzag order."""
    cells = [(u, v) for u in range(BLOCK) for v in range(BLOCK)]
    # along each anti-diagonal s = u + v, even s runs up and to the right (v rising), odd s down and left
    cells.sort(key=lambda c: (c[0] + c[1], c[1] if (c[0] + c[1]) % 2 == 0 else c[0]))
    return torch.tensor([BLOCK * u + v for u, v in cells])


DCT_MATRIX = _dct_matrix()
ZIGZAG = _zigzag()


# ----------------------------------------------------------------------------------------------
# The transform: colour, block DCT, quantisation


def quant_tables(quality: int) -> torch.Tensor:
    """(2, 8, 8) int64 luminance and chrominance tables, row-major, for an IJG quality in [1, 100].

    IJG's formula (libjpeg `jpeg_quality_scaling`, as Pillow uses): scale = 5000 / q below 50,
    200 - 2q from 50, entry = (base * scale + 50) // 100, clamped to [1, 255] (baseline JPEG).
    Quality 50 gives the standard tables, 100 gives all ones.
    """
    if isinstance(quality, bool) or not isinstance(quality, int) or not 1 <= quality <= 100:
        raise ValueError(f"quality must be an integer in [1, 100], got {quality!r}")
    scale = 5000 // quality if quality < 50 else 200 - 2 * quality
    base = torch.stack([LUMA_TABLE, CHROMA_TABLE])
    return ((base * scale + 50) // 100).clamp(1, 255)


def quant_steps(quality: int) -> torch.Tensor:
    """(192,) float32: the quantisation step of each input channel (Y, Cb, Cr tables, zigzag order)."""
    luma, chroma = quant_tables(quality).flatten(1)[:, ZIGZAG]
    return torch.cat([luma, chroma, chroma]).float()


def rgb_to_ycbcr(x: torch.Tensor) -> torch.Tensor:
    """Float RGB (B, 3, H, W) in [0, 255] -> YCbCr (B, 3, H, W), JPEG's full-range matrix."""
    m, offset = _YCBCR.to(x), _CHROMA_OFFSET.to(x)
    return torch.einsum("ij,bjhw->bihw", m, x) + offset[:, None, None]


def ycbcr_to_rgb(x: torch.Tensor) -> torch.Tensor:
    """Float YCbCr (B, 3, H, W) -> RGB (B, 3, H, W), the exact inverse of `rgb_to_ycbcr` (no clipping)."""
    m, offset = torch.linalg.inv(_YCBCR).to(x), _CHROMA_OFFSET.to(x)
    return torch.einsum("ij,bjhw->bihw", m, x - offset[:, None, None])


def block_dct(x: torch.Tensor) -> torch.Tensor:
    """Float planes (B, C, H, W), H and W multiples of 8 -> coefficients (B, C * 64, H/8, W/8), zigzag per channel.

    Each block X (8 x 8) becomes M @ X @ M.T with the orthonormal DCT-II matrix M, for all blocks at once.
    """
    B, C, H, W = x.shape
    _check_multiple_of_8(H, W)
    m = DCT_MATRIX.to(x)
    blocks = x.reshape(B, C, H // BLOCK, BLOCK, W // BLOCK, BLOCK)  # (B, C, h, 8, w, 8)
    coeffs = torch.einsum("ui,bcyixj,vj->bcyxuv", m, blocks, m)  # (B, C, h, w, 8, 8)
    coeffs = coeffs.flatten(-2)[..., ZIGZAG.to(x.device)]  # (B, C, h, w, 64)
    return coeffs.permute(0, 1, 4, 2, 3).reshape(B, C * COEFFS, H // BLOCK, W // BLOCK)


def block_idct(coeffs: torch.Tensor) -> torch.Tensor:
    """Coefficients (B, C * 64, h, w), zigzag per channel -> planes (B, C, 8h, 8w), the inverse of `block_dct`."""
    B, CK, h, w = coeffs.shape
    if CK % COEFFS:
        raise ValueError(f"coefficients must have a multiple of 64 channels, got {CK}")
    m = DCT_MATRIX.to(coeffs)
    zz = coeffs.reshape(B, CK // COEFFS, COEFFS, h, w).permute(0, 1, 3, 4, 2)  # (B, C, h, w, 64)
    natural = torch.empty_like(zz)
    natural[..., ZIGZAG.to(coeffs.device)] = zz
    blocks = torch.einsum("ui,bcyxuv,vj->bcyixj", m, natural.unflatten(-1, (BLOCK, BLOCK)), m)  # (B, C, h, 8, w, 8)
    return blocks.reshape(B, CK // COEFFS, h * BLOCK, w * BLOCK)


def encode(images: np.ndarray | torch.Tensor, quality: int = 50) -> torch.Tensor:
    """uint8 RGB images (N, H, W, 3), as `render_shapes` gives them -> quantised levels int16 (N, 192, H/8, W/8).

    H and W must be multiples of 8 (JPEG pads a partial block; here that is the caller's choice).
    Rounding is half to even where libjpeg rounds halves away from zero; in float64 an exact half is rare.
    Computed in float64, CHUNK images at a time, so that a whole split does not need gigabytes.
    """
    x = torch.as_tensor(images)
    if x.dtype != torch.uint8 or x.ndim != 4 or x.shape[-1] != 3:
        raise ValueError(f"images must be uint8 (N, H, W, 3), got {x.dtype} {tuple(x.shape)}")
    _check_multiple_of_8(*x.shape[1:3])
    steps = quant_steps(quality).to(x.device, torch.float64)[:, None, None]
    levels = []
    for chunk in x.split(CHUNK):
        coeffs = block_dct(rgb_to_ycbcr(chunk.permute(0, 3, 1, 2).double()) - 128.0)  # JPEG's level shift
        levels.append(torch.round(coeffs / steps).to(torch.int16))
    return torch.cat(levels)


def dequantize(levels: torch.Tensor, quality: int) -> torch.Tensor:
    """Levels int (B, 192, h, w) -> float32 DCT coefficients (B, 192, h, w) of the level-shifted YCbCr planes."""
    _check_levels(levels)
    return levels.float() * quant_steps(quality).to(levels.device)[:, None, None]


def decode(levels: torch.Tensor, quality: int = 50) -> torch.Tensor:
    """Levels int (N, 192, h, w) -> uint8 RGB images (N, 8h, 8w, 3): dequantise, inverse DCT, to RGB, round, clip."""
    _check_levels(levels)
    images = []
    for chunk in levels.split(CHUNK):
        ycbcr = block_idct(dequantize(chunk, quality).double()) + 128.0
        images.append(ycbcr_to_rgb(ycbcr).round().clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1))
    return torch.cat(images)


def _check_multiple_of_8(H: int, W: int) -> None:
    if H % BLOCK or W % BLOCK:
        raise ValueError(f"height and width must be multiples of {BLOCK}, got {H} x {W}")


def _check_levels(levels: torch.Tensor) -> None:
    if levels.is_floating_point() or levels.ndim != 4 or levels.shape[1] != CHANNELS:
        raise ValueError(f"quantised levels must be integer (B, {CHANNELS}, h, w), "
                         f"got {levels.dtype} {tuple(levels.shape)}")


# ----------------------------------------------------------------------------------------------
# Storage: zero runs and an end-of-block mark, as JPEG, then raw deflate per image

EOB = COEFFS  # the run symbol that ends a block: no nonzero coefficient follows
MAX_LEVEL = 4095  # two varint bytes hold any DC difference within this; JPEG's levels of 8-bit images are within 2047


def to_bytes(levels: torch.Tensor) -> bytes:
    """One image's levels int (192, h, w) -> a self-contained byte string (`from_bytes` reads it back).

    JPEG's scheme with a standard-library entropy coder in place of Huffman tables:
    1. each channel's DC is replaced by its difference to the previous block's (raster order);
    2. each block's 64 zigzag coefficients become, for each nonzero, the run of zeros before it
       (one byte, 0..63), then an end-of-block byte (64): the zeros after the last nonzero cost nothing;
    3. the nonzero values go to a second stream, as zigzag varints (v >= 0 -> 2v, v < 0 -> -2v - 1;
       7 bits per byte, so |v| < 64 takes one byte and the rest two: levels must lie within +-4095);
    4. header (h, w as u16) + runs + values are compressed by raw deflate (zlib, level 9, no zlib header).
    The quality is not stored: like the tables of a dataset's JPEGs, it is one number for the whole split.
    """
    if levels.ndim != 3:
        raise ValueError(f"one image's levels must be (192, h, w), got {tuple(levels.shape)}")
    _check_levels(levels[None])
    if levels.numel() and levels.abs().max() > MAX_LEVEL:
        raise ValueError(f"levels must lie in [-{MAX_LEVEL}, {MAX_LEVEL}], got {int(levels.abs().max())}")
    h, w = levels.shape[1:]
    x = levels.to(torch.int32).reshape(3, COEFFS, h * w).permute(0, 2, 1).numpy().copy()  # (3, hw, 64)
    x[:, 1:, 0] -= x[:, :-1, 0].copy()  # DC differences along the raster
    rows = x.reshape(3 * h * w, COEFFS)

    r, k = np.nonzero(rows)  # row-major: block by block, low to high frequency
    first = np.r_[True, r[1:] != r[:-1]]
    run = np.where(first, k, k - np.r_[0, k[:-1]] - 1)  # zeros since the previous nonzero of the block
    # runs and end-of-block marks, sorted into one stream by their place (row, column; EOB after column 63)
    place = np.r_[r * (COEFFS + 1) + k, np.arange(len(rows)) * (COEFFS + 1) + COEFFS]
    runs = np.r_[run, np.full(len(rows), EOB)][np.argsort(place, kind="stable")].astype(np.uint8)

    v = rows[r, k]
    u = np.where(v >= 0, 2 * v, -2 * v - 1)  # < 2**14: a DC difference of two levels within MAX_LEVEL is <= 8190
    two = u >= 128
    values = np.empty(len(u) + int(two.sum()), dtype=np.uint8)
    start = np.cumsum(1 + two) - (1 + two)  # where each value's bytes begin
    values[start] = np.where(two, 0x80 | (u & 0x7F), u)
    values[start[two] + 1] = u[two] >> 7

    payload = np.array([h, w], dtype="<u2").tobytes() + runs.tobytes() + values.tobytes()
    deflate = zlib.compressobj(9, zlib.DEFLATED, -15)
    return deflate.compress(payload) + deflate.flush()


def from_bytes(data: bytes) -> torch.Tensor:
    """The inverse of `to_bytes`: bytes -> levels int16 (192, h, w), exactly."""
    buf = np.frombuffer(zlib.decompress(data, -15), dtype=np.uint8)
    h, w = (int(n) for n in np.frombuffer(buf[:4].tobytes(), dtype="<u2"))
    num_rows, stream = 3 * h * w, buf[4:]
    end = int(np.searchsorted(np.cumsum(stream == EOB), num_rows)) + 1  # runs end at the last block's EOB
    runs, values = stream[:end].astype(np.int64), stream[end:].astype(np.int64)

    eob = runs == EOB
    row = np.cumsum(eob) - eob  # blocks ended before each symbol
    step = np.where(eob, 0, runs + 1)
    total = np.cumsum(step)
    k = total - np.maximum.accumulate(np.where(eob, total, 0)) - 1  # column within the block

    cont = values >= 0x80
    start = np.flatnonzero(~np.r_[False, cont][:-1])  # a value starts after a byte without the continuation bit
    u = values[start] & 0x7F
    two = cont[start]
    u[two] |= values[start[two] + 1] << 7
    v = np.where(u % 2 == 0, u // 2, -(u + 1) // 2)

    rows = np.zeros((num_rows, COEFFS), dtype=np.int64)
    rows[row[~eob], k[~eob]] = v
    x = rows.reshape(3, h * w, COEFFS)
    x[:, :, 0] = np.cumsum(x[:, :, 0], axis=1)  # undo the DC differences
    return torch.from_numpy(x.transpose(0, 2, 1).reshape(CHANNELS, h, w).astype(np.int16))


def bytes_per_image(levels: torch.Tensor) -> float:
    """Mean size in bytes of `to_bytes` over a batch of levels (N, 192, h, w): what a store of them would hold."""
    _check_levels(levels)
    return float(np.mean([len(to_bytes(one)) for one in levels.cpu()]))


# ----------------------------------------------------------------------------------------------
# The model: one block, one patch


@dataclass(frozen=True)
class DCTViTConfig(ViTConfig):
    img_size: int = 56  # 7 x 7 blocks: the DCT analogue of a 14 x 14 token crop and of the pixel ViT's 56 x 56
    quality: int = 50  # the quality the levels were quantised at: the stem dequantises with its tables

    def __post_init__(self):
        super().__post_init__()
        _check_multiple_of_8(self.img_size, self.img_size)
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


def dct_vit(size: str = "micro", num_classes: int = 12, quality: int = 50, scale: torch.Tensor | None = None,
            **overrides) -> DCTViT:
    """A DCT ViT of one of `seitpp.models.SIZES` ("micro", "tiny", "small", "base").

    Args:
        size: the body's width, depth and heads, as tvit_<size> and pvit_<size>.
        num_classes: classes of the head (12 for Shapes; 0: no head).
        quality: the JPEG quality of the input levels.
        scale: the stem's per-coefficient scale (see `DCTViT`).
        **overrides: other `DCTViTConfig` fields (img_size, drop_path_rate, global_pool, ...).
    """
    if size not in SIZES:
        raise ValueError(f"unknown size {size!r}; known: {', '.join(SIZES)}")
    unknown = sorted(set(overrides) - {f.name for f in fields(DCTViTConfig)})
    if unknown:
        raise TypeError(f"DCTViTConfig has no field(s) {unknown}")
    D, depth, heads = SIZES[size]
    config = DCTViTConfig(embed_dim=D, depth=depth, num_heads=heads, num_classes=num_classes, quality=quality)
    return DCTViT(replace(config, **overrides), scale)


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
    _check_levels(levels)
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
    `dct_vit` with `seitpp.models.load_encoder`); a linear layer predicts the k = `frequencies`
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
        # no head and no fc_norm (pooling unused), as seitpp.mtm: the classifier's fc_norm and head start fresh
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
        _check_levels(levels)
        B, L = len(levels), levels.shape[2] * levels.shape[3]
        mask = random_block_mask(B, L, self.ratio, generator, levels.device)
        pred = self.pred(self.forward_encoder(levels, mask)[:, 1:])  # (B, L, 3k)
        target = self.encoder.patch_embed.normalize(levels)[..., self.targets]  # (B, L, 3k)
        loss = (pred - target).pow(2).mean(-1)  # (B, L)
        return (loss * mask).sum() / mask.sum(), pred, mask


# ----------------------------------------------------------------------------------------------
# Training on levels: one small loop for classification and for masked block modeling


def _flip_sign() -> torch.Tensor:
    """(192,) int: -1 where a coefficient's horizontal frequency v is odd, else 1 (zigzag order, per channel)."""
    sign = 1 - 2 * (ZIGZAG % BLOCK % 2)  # ZIGZAG[i] = 8u + v
    return sign.repeat(3)


FLIP_SIGN = _flip_sign()
_ORDER, _STEP = 1, 2  # random streams: the epoch's sample order, everything drawn in a step


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


@dataclass(frozen=True)
class DCTTrainConfig:
    """A run of a DCT ViT on levels: "finetune" (classification) or "pretrain" (`MaskedDCTModel`).

    Every step takes a batch, a random crop of `crop` x `crop` blocks and a mirror with p 0.5 per
    sample (both exact on levels), and for "finetune" gives a `color_swap` share of the batch a
    partner's colour statistics (`dct_color_swap`). AdamW with layer-wise lr decay, linear warmup
    and a cosine to `min_lr`, as the token models' engine (`seitpp.train`).
    """

    task: str = "finetune"
    size: str = "micro"  # a `seitpp.models.SIZES` body
    quality: int = 50  # of the levels trained on
    crop: int = 7  # blocks: 56 x 56 pixels, the analogue of the token models' 14 x 14 crop
    steps: int = 800
    batch_size: int = 32
    lr: float = 2e-3  # peak
    min_lr: float = 1e-5
    warmup: float = 0.05  # share of the steps
    betas: tuple[float, float] = (0.9, 0.999)
    weight_decay: float = 0.05
    layer_decay: float | None = 0.85  # finetune only; None: off
    label_smoothing: float = 0.1
    color_swap: float = 0.0  # finetune: share of each batch whose colour statistics are swapped
    mask_ratio: float = 0.5  # pretrain: share of the blocks masked
    frequencies: int = 1  # pretrain: the lowest k coefficients of each channel are predicted
    clip_grad: float = 1.0
    seed: int = 0

    def __post_init__(self):
        checks = [
            (self.task in ("finetune", "pretrain"), f"task must be 'finetune' or 'pretrain', got {self.task!r}"),
            (self.size in SIZES, f"size must be one of {sorted(SIZES)}, got {self.size!r}"),
            (self.crop >= 1 and self.steps >= 1 and self.batch_size >= 2, "crop, steps must be >= 1, batch_size >= 2"),
            (0 <= self.color_swap <= 1, f"color_swap must be a share in [0, 1], got {self.color_swap}"),
            (0 <= self.warmup < 1, f"warmup must be a share in [0, 1), got {self.warmup}"),
        ]
        for ok, problem in checks:
            if not ok:
                raise ValueError(f"DCT train config: {problem}")
        quant_tables(self.quality)


@dataclass
class DCTTrainResult:
    model: nn.Module  # a `DCTViT` classifier, or the `MaskedDCTModel`; eval mode
    history: list[dict]  # {"step", "lr", "loss"}, the mean over each tenth of the run


def dct_model(config: DCTTrainConfig, num_classes: int, scale: torch.Tensor | None = None) -> nn.Module:
    """The run's model: a `DCTViT` classifier for "finetune", a `MaskedDCTModel` for "pretrain"."""
    if config.task == "pretrain":
        D, depth, heads = SIZES[config.size]
        vit = DCTViTConfig(embed_dim=D, depth=depth, num_heads=heads, quality=config.quality,
                           img_size=config.crop * BLOCK)
        return MaskedDCTModel(vit, scale, ratio=config.mask_ratio, frequencies=config.frequencies)
    return dct_vit(config.size, num_classes, config.quality, scale, img_size=config.crop * BLOCK)


def train_dct(config: DCTTrainConfig, levels: torch.Tensor, labels: torch.Tensor | None = None,
              num_classes: int = 0, *, scale: torch.Tensor | None = None, init: dict | None = None,
              device: str | torch.device = "cpu", progress: bool = True) -> DCTTrainResult:
    """Train on levels int (N, 192, h, w) (and labels (N,) for "finetune") -> the model and its loss curve.

    Args:
        config: the run.
        levels, labels, num_classes: the training split; labels are unused by "pretrain".
        scale: the stem's (192,) per-coefficient scale, e.g. `coefficient_rms(levels, quality)`.
        init: an encoder state dict (`MaskedDCTModel.encoder.state_dict()`) to start a classifier from.
        device: where to train.
        progress: a tqdm bar.
    Batches follow a permutation per epoch and every other draw of step s comes from seeds
    (seed, stream, s), as in `seitpp.train`: the same config gives the same model.
    """
    cfg = config
    _check_levels(levels)
    if cfg.task == "finetune" and (labels is None or len(labels) != len(levels) or num_classes < 2):
        raise ValueError("finetune needs one label per image and num_classes >= 2")
    if len(levels) < cfg.batch_size:
        raise ValueError(f"{len(levels)} images, fewer than one batch of {cfg.batch_size}")
    torch.manual_seed(cfg.seed)
    model = dct_model(cfg, num_classes, scale)
    if init is not None:
        load_encoder(model, init)
    model.to(device).train()
    optimizer = create_optimizer_v2(model, "adamw", lr=cfg.lr, weight_decay=cfg.weight_decay, betas=cfg.betas,
                                    layer_decay=cfg.layer_decay if cfg.task == "finetune" else None)
    swap = ColorAdapt() if cfg.color_swap > 0 else None  # only its partner draw: a derangement of the batch
    levels, warmup = levels.to(device), round(cfg.warmup * cfg.steps)
    labels = labels.to(device).long() if labels is not None else None
    history, window, log_every = [], [], max(1, cfg.steps // 10)
    per_epoch = len(levels) // cfg.batch_size
    for step in tqdm(range(cfg.steps), desc=f"dct {cfg.task}", disable=not progress):
        epoch, i = divmod(step, per_epoch)
        if i == 0:
            order = torch.randperm(len(levels),
                                   generator=torch.Generator().manual_seed(stream_seed(cfg.seed, _ORDER, epoch)))
        lr = lr_at(step, cfg.steps, warmup, cfg.lr, cfg.min_lr)
        for group in optimizer.param_groups:
            group["lr"] = lr * group.get("lr_scale", 1.0)
        seed = stream_seed(cfg.seed, _STEP, step)
        g = torch.Generator().manual_seed(seed)  # crops, flips, swaps, masks
        torch.manual_seed(seed)  # drop path
        idx = order[i * cfg.batch_size:(i + 1) * cfg.batch_size].to(device)
        x = random_block_crops(levels[idx], cfg.crop, g)
        flip = (torch.rand(cfg.batch_size, generator=g) < 0.5).to(device)
        x = torch.where(flip[:, None, None, None], hflip_levels(x), x)
        if cfg.task == "pretrain":
            loss = model(x, g)[0]
        else:
            if swap is not None:
                chosen = torch.randperm(cfg.batch_size, generator=g)[:round(cfg.color_swap * cfg.batch_size)]
                x[chosen.to(device)] = dct_color_swap(x, swap.partners(cfg.batch_size, g, "cpu").to(device))[chosen]
            loss = F.cross_entropy(model(x), labels[idx], label_smoothing=cfg.label_smoothing)
        if not torch.isfinite(loss):
            raise FloatingPointError(f"DCT {cfg.task} loss is {loss.item()} at step {step} (lr {lr:.3g})")
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.clip_grad)
        optimizer.step()
        window.append(loss.item())
        if (step + 1) % log_every == 0 or step + 1 == cfg.steps:
            history.append({"step": step + 1, "lr": lr, "loss": sum(window) / len(window)})
            window = []
    return DCTTrainResult(model.eval(), history)


@torch.no_grad()
def evaluate_dct(model: DCTViT, levels: torch.Tensor, labels: torch.Tensor, crop: int = 7,
                 batch_size: int = 256) -> float:
    """Top-1 of a DCT classifier on the central crop x crop blocks of levels (N, 192, h, w) (the first
    block row and column when h - crop is odd, as `seitpp.train.center_crop`)."""
    device = next(model.parameters()).device
    correct = 0
    for x, y in zip(levels.split(batch_size), labels.split(batch_size)):
        correct += int((model(center_crop(x.to(device), crop)).argmax(1).cpu() == y).sum())
    return correct / max(1, len(labels))
