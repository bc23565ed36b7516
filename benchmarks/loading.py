"""Images per second to get a batch of token ids ready for the model, three ways, on one core.

    python -m benchmarks.loading [--images 4000] [--write]     (from the repository root)

Measured side by side in one run, on the same Shapes images (64 x 64, 16 x 16 tokens, K = 391):

- ours: the token store decoded once into memory (`TokenLoader`), then per batch random indices
  and a random 14 x 14 crop of each grid by tensor indexing, delivered as int64 on the device;
- SeiT's release path: its gzip token files held in memory, each image's bytes decoded in a
  Python loop, a 391-way float one-hot (391, 16, 16) per image, torchvision's RandomResizedCrop to
  14 x 14 per image, then stacked;
- JPEG: the same images as JPEG files (quality 95) in memory, each decoded by Pillow, random-
  resized-cropped to 56 x 56 (the pixels a 14 x 14 token crop covers) and turned into a tensor.
"""
from __future__ import annotations

import argparse
import gzip
import io
import tempfile
import time

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torchvision.transforms import v2

from benchmarks.common import per_second, report
from seitpp.data import render_shapes
from seitpp.tokenizers import VQTokenizer
from seitpp.tokens import ESCAPE, seit_split_files, write_seit_split, write_store
from seitpp.tokens.loader import TokenLoader

BATCH, CROP, K = 256, 14, 391


def release_decode(stream: bytes) -> list[int]:
    """The release's reader: one Python step per byte."""
    ids, i = [], 0
    while i < len(stream):
        if stream[i] == ESCAPE:
            ids.append(ESCAPE + stream[i + 1])
            i += 2
        else:
            ids.append(stream[i])
            i += 1
    return ids


def release_batches(seit_dir: str, n: int, side: int):
    data_path, index_path, _ = seit_split_files(seit_dir, "bench")
    stream = gzip.decompress(data_path.read_bytes())
    offsets = np.load(io.BytesIO(gzip.decompress(index_path.read_bytes())))
    crop = v2.RandomResizedCrop(CROP, scale=(0.08, 1.0), antialias=True)
    rng = np.random.default_rng(0)

    def batch() -> int:
        out = []
        for i in rng.integers(n, size=BATCH):
            ids = torch.tensor(release_decode(stream[offsets[i]:offsets[i + 1]])).view(side, side)
            one_hot = F.one_hot(ids, K).permute(2, 0, 1).float()  # (391, 16, 16)
            out.append(crop(one_hot))
        torch.stack(out)
        return BATCH
    return batch


def jpeg_batches(images: np.ndarray):
    files = []
    for im in images:
        buffer = io.BytesIO()
        Image.fromarray(im).save(buffer, format="JPEG", quality=95)
        files.append(buffer.getvalue())
    transform = v2.Compose([v2.RandomResizedCrop(4 * CROP, scale=(0.08, 1.0), antialias=True),
                            v2.PILToTensor(), v2.ToDtype(torch.float32, scale=True)])
    rng = np.random.default_rng(0)

    def batch() -> int:
        torch.stack([transform(Image.open(io.BytesIO(files[i])).convert("RGB")) for i in rng.integers(len(files), size=BATCH)])
        return BATCH
    return batch


def our_batches(store_path: str) -> tuple[callable, float]:
    start = time.perf_counter()
    loader = TokenLoader.from_store(store_path, batch_size=BATCH, crop=CROP)
    load_seconds = time.perf_counter() - start
    batches = iter(())

    def batch() -> int:
        nonlocal batches
        try:
            ids, labels = next(batches)
        except StopIteration:
            batches = iter(loader)
            ids, labels = next(batches)
        return len(ids)
    return batch, load_seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=4_000)
    parser.add_argument("--write", action="store_true", help="write the results into BENCHMARKS.md")
    args = parser.parse_args()
    torch.set_num_threads(1)  # per core
    shapes = render_shapes(args.images, split="train")
    tokenizer = VQTokenizer.load()
    ids = tokenizer.tokenize_many(shapes.images).numpy()
    with tempfile.TemporaryDirectory() as tmp:
        write_seit_split(tmp, "bench", ids, shapes.labels, codebook_size=K)
        write_store(f"{tmp}/bench.tokens", ids, shapes.labels, codebook_size=K, num_classes=12, tokenizer_hash="-")
        ours, load_seconds = our_batches(f"{tmp}/bench.tokens")
        rates = {"ours: token store in memory, crop by indexing": per_second(ours),
                 "SeiT release: per-byte decode, one-hot, per-image crop": per_second(release_batches(tmp, args.images, ids.shape[1])),
                 "JPEG: Pillow decode, per-image random-resized crop": per_second(jpeg_batches(shapes.images))}
    names = list(rates)
    body = "\n".join([
        f"{args.images} Shapes images (64 x 64, 16 x 16 tokens, K = {K}), batches of {BATCH} random images, "
        f"crop {CROP} x {CROP} tokens (56 x 56 pixels), one CPU thread.",
        "",
        "| path | images/s | ours is |",
        "|---|---|---|",
        *[f"| {name} | {rate:,.0f} | {rates[names[0]] / rate:,.0f}x |" for name, rate in rates.items()],
        "",
        f"Ours also pays once to decode the store into memory: {load_seconds * 1e3:.0f} ms for {args.images} images "
        f"({args.images / load_seconds:,.0f} images/s).",
    ])
    report("Loading token batches (benchmarks/loading.py)", body, args.write)


if __name__ == "__main__":
    main()
