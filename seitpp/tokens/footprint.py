"""How many bytes an image takes in each way of storing it: pixels, PNG, JPEG, downsampled
pixels, SeiT's token files and our token store, measured on the same images.

Pixel formats are encoded one image per file with Pillow, as a dataset of image files would be;
token formats are written as whole splits, as they are used, and divided by the number of images.
"bits per token" is bits per 4x4 patch for pixel formats (the area one token covers at d = 4),
so every row can be compared against the log2(K) of a fixed-width token.
"""
from __future__ import annotations

import io
import math
import tempfile
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from seitpp.tokens.seit_format import seit_split_files, write_seit_split
from seitpp.tokens.store import write_store

# ImageNet-1k in the paper (1.28 M training images, 224-256 px): storage of the whole training set.
PAPER_IMAGENET_GB = {
    "raw JPEG files (full pixels)": 140.0,
    "JPEG quality 5": 11.0,
    "downsampled x0.2": 9.6,
    "SeiT tokens": 1.4,
}
IMAGENET_TRAIN_IMAGES = 1_281_167


def encoded_bytes(image: np.ndarray, fmt: str, **options) -> int:
    """Size of one uint8 image (H, W, 3) encoded by Pillow as `fmt` ("PNG", "JPEG", ...)."""
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format=fmt, **options)
    return buffer.tell()


def downsample(images: np.ndarray, factor: int) -> np.ndarray:
    """uint8 (N, H, W, 3) -> (N, H/factor, W/factor, 3) by averaging factor x factor blocks."""
    n, h, w, c = images.shape
    blocks = images.reshape(n, h // factor, factor, w // factor, factor, c).astype(np.float32)
    return blocks.mean(axis=(2, 4)).round().astype(np.uint8)


def jpeg_roundtrip(images: np.ndarray, quality: int) -> tuple[np.ndarray, float]:
    """Each uint8 image (N, H, W, 3) through a JPEG file of `quality` -> (decoded images, mean bytes per image):
    what a model trained on JPEG files sees, and what they cost."""
    out, sizes = np.empty_like(images), []
    for i, im in enumerate(images):
        buffer = io.BytesIO()
        Image.fromarray(im).save(buffer, format="JPEG", quality=quality)
        sizes.append(buffer.tell())
        out[i] = np.asarray(Image.open(buffer).convert("RGB"))
    return out, float(np.mean(sizes))


def downsampled(images: np.ndarray, factor: int) -> tuple[np.ndarray, float]:
    """Stored at 1/factor resolution (PNG), shown to the model bilinearly upsampled back -> (uint8 images
    (N, H, W, 3), mean bytes per image)."""
    small = downsample(images, factor)
    size = float(np.mean([encoded_bytes(im, "PNG") for im in small]))
    x = torch.from_numpy(small).permute(0, 3, 1, 2).float()
    up = F.interpolate(x, size=images.shape[1:3], mode="bilinear", align_corners=False)
    return up.round().clamp(0, 255).byte().permute(0, 2, 3, 1).numpy(), size


def stored_pixels(images: np.ndarray, jpeg_qualities: tuple[int, ...], downsample_factors: tuple[int, ...]
                  ) -> tuple[dict[str, np.ndarray], dict[str, float]]:
    """uint8 images (N, H, W, 3) as each pixel baseline stores them -> ({format: what the model sees}, {format:
    bytes per image}) for "png" (the images), "jpeg<q>" (decoded) and "down<f>" (upsampled back)."""
    formats, sizes = {"png": images}, {"png": float(np.mean([encoded_bytes(im, "PNG") for im in images]))}
    for q in jpeg_qualities:
        formats[f"jpeg{q}"], sizes[f"jpeg{q}"] = jpeg_roundtrip(images, q)
    for f in downsample_factors:
        formats[f"down{f}"], sizes[f"down{f}"] = downsampled(images, f)
    return formats, sizes


def storage_table(images: np.ndarray, ids: np.ndarray, labels: np.ndarray, codebook_size: int,
                  num_classes: int, jpeg_qualities: tuple[int, ...] = (95, 75, 25, 5)) -> list[dict]:
    """Bytes per image of every way of storing `images` (N, H, W, 3) uint8 and their tokens ids (N, h, w).

    Returns rows {"format", "bytes/image", "% of raw", "bits/token"}, largest first.
    """
    n, h, w, _ = images.shape
    tokens_per_image = ids.shape[1] * ids.shape[2]
    sizes: dict[str, float] = {"raw pixels (uint8 RGB)": images[0].nbytes}
    sizes["PNG"] = np.mean([encoded_bytes(im, "PNG") for im in images])
    for q in jpeg_qualities:
        sizes[f"JPEG quality {q}"] = np.mean([encoded_bytes(im, "JPEG", quality=q) for im in images])
    for factor in (2, 4):
        small = downsample(images, factor)
        sizes[f"downsampled x1/{factor}, PNG"] = np.mean([encoded_bytes(im, "PNG") for im in small])
    with tempfile.TemporaryDirectory() as tmp:
        write_seit_split(tmp, "split", ids, labels, codebook_size=codebook_size)
        sizes["SeiT token files (gzip)"] = sum(p.stat().st_size for p in seit_split_files(tmp, "split")) / n
        store = Path(tmp) / "split.tokens"
        write_store(store, ids, labels, codebook_size=codebook_size, num_classes=num_classes, tokenizer_hash="-")
        sizes["our token store (entropy coded)"] = store.stat().st_size / n
    sizes[f"fixed-width tokens, log2({codebook_size}) bits"] = tokens_per_image * math.log2(codebook_size) / 8
    raw = sizes["raw pixels (uint8 RGB)"]
    rows = [{"format": name, "bytes/image": float(b), "% of raw": 100 * b / raw,
             "bits/token": 8 * b / tokens_per_image} for name, b in sizes.items()]
    return sorted(rows, key=lambda r: -r["bytes/image"])
