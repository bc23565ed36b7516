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
- The model (`seitpp.models.dct`: `DCTStem`, `DCTViT`, `dct_<size>`): one 8 x 8 pixel block is one patch, embedded by a
  linear layer of its 192 coefficients; a 64 x 64 image is 8 x 8 patches, a 56 x 56 crop 7 x 7, the
  same grids as the token ViT (a patch is 2 x 2 tokens of 4 x 4 pixels) and the pixel ViT (patch 8).
- `dct_color_swap`: ColorAdapt in DCT space. The DC of a block is 8 x its mean, so the per-channel
  statistics of the DC maps are the colour of the image; swapping them moves one image's colours
  onto another's content.
- `MaskedDCTModel`: masked modeling on blocks, the smallest honest analogue of MTM.
- Training (`seitpp.engine.dct`): classification and masked block modeling are tasks of the
  engine, on the two augmentations that are exact on levels, crops on the block grid
  (`random_block_crops`) and mirror images (`hflip_levels`), with the colour swap on a share of
  each batch (`seitpp.augment.dct.DCTPolicy`). Chapter 8's sweep (`seitpp.experiments.beyond`) trains with it.

Letters: B batch (N for a whole split), H W pixels, h w blocks (= patches), L = h * w, D width.
"""
from __future__ import annotations

import math
import zlib

import numpy as np
import torch

BLOCK = 8
COEFFS = BLOCK * BLOCK  # per channel and block
CHANNELS = 3 * COEFFS  # 192 input channels: Y, Cb, Cr, each 64 zigzag coefficients
CHUNK = 512  # images encoded or decoded at a time: 64 x 64 images in float64 take ~50 MB a tensor

# JPEG (ITU-T T.81) Annex K: the luminance and chrominance tables that the IJG quality 50 uses as is,
# two rows of 8 frequencies a line (vertical frequency down, horizontal across).
LUMA_TABLE = torch.tensor([
    [16, 11, 10, 16, 24, 40, 51, 61], [12, 12, 14, 19, 26, 58, 60, 55],
    [14, 13, 16, 24, 40, 57, 69, 56], [14, 17, 22, 29, 51, 87, 80, 62],
    [18, 22, 37, 56, 68, 109, 103, 77], [24, 35, 55, 64, 81, 104, 113, 92],
    [49, 64, 78, 87, 103, 121, 120, 101], [72, 92, 95, 98, 112, 100, 103, 99],
])
CHROMA_TABLE = torch.full((BLOCK, BLOCK), 99)  # 99 beyond the low frequencies of the top-left corner
CHROMA_TABLE[:4, :4] = torch.tensor([[17, 18, 24, 47], [18, 21, 26, 66], [24, 26, 56, 99], [47, 66, 99, 99]])

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
    check_multiple_of_8(H, W)
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
    check_multiple_of_8(*x.shape[1:3])
    steps = quant_steps(quality).to(x.device, torch.float64)[:, None, None]
    levels = []
    for chunk in x.split(CHUNK):
        coeffs = block_dct(rgb_to_ycbcr(chunk.permute(0, 3, 1, 2).double()) - 128.0)  # JPEG's level shift
        levels.append(torch.round(coeffs / steps).to(torch.int16))
    return torch.cat(levels)


def dequantize(levels: torch.Tensor, quality: int) -> torch.Tensor:
    """Levels int (B, 192, h, w) -> float32 DCT coefficients (B, 192, h, w) of the level-shifted YCbCr planes."""
    check_levels(levels)
    return levels.float() * quant_steps(quality).to(levels.device)[:, None, None]


def decode(levels: torch.Tensor, quality: int = 50) -> torch.Tensor:
    """Levels int (N, 192, h, w) -> uint8 RGB images (N, 8h, 8w, 3): dequantise, inverse DCT, to RGB, round, clip."""
    check_levels(levels)
    images = []
    for chunk in levels.split(CHUNK):
        ycbcr = block_idct(dequantize(chunk, quality).double()) + 128.0
        images.append(ycbcr_to_rgb(ycbcr).round().clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1))
    return torch.cat(images)


def check_multiple_of_8(H: int, W: int) -> None:
    if H % BLOCK or W % BLOCK:
        raise ValueError(f"height and width must be multiples of {BLOCK}, got {H} x {W}")


def check_levels(levels: torch.Tensor) -> None:
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
    check_levels(levels[None])
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
    check_levels(levels)
    return float(np.mean([len(to_bytes(one)) for one in levels.cpu()]))
