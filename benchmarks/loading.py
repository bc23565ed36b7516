"""Images per second to get a training batch ready, on one core: the path training takes, against
SeiT's release and a JPEG pipeline, at ImageNet-like size.

    python -m benchmarks.loading [--images 1000] [--write]     (from the repository root)

Measured side by side in one run on the same images, 32 x 32 token grids (K = 391, crop 28 x 28,
the paper's ImageNet shapes) and batches of 256 random images:

- the engine's path, per policy: the split held in memory as one integer tensor, a batch is an
  index into it, then the batch transform of the task that `seitpp.engine.task_of` picks for the
  config, exactly what `train_one_epoch` calls ("none": random-resized crops + CutMix; "seit":
  Token-EDA too; "seitpp": the release's policy with the reference TokenAdapt on the geometric half);
- SeiT's release path: its gzip token files held in memory, each image's bytes decoded in a
  Python loop, a 391-way float one-hot (391, 32, 32) per image, torchvision's RandomResizedCrop
  to 28 x 28 per image, then stacked (no augmentation beyond the crop);
- JPEG: the same images as 500 x 375 JPEG files (quality 90) in memory, each decoded by Pillow,
  random-resized-cropped to 224 x 224 and turned into a float tensor (no augmentation beyond the crop).
"""
from __future__ import annotations

import argparse
import gzip
import io
import tempfile

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torchvision.transforms import v2

from benchmarks.common import per_second, report
from seitpp.augment import TokenAdapt
from seitpp.data import render_shapes
from seitpp.engine import preset, task_of, with_overrides
from seitpp.tokenizers import VQTokenizer
from seitpp.tokens import ESCAPE, Split, seit_split_files, write_seit_split

BATCH, CROP, K, SIDE = 256, 28, 391, 128  # SIDE: pixels tokenized into a 32 x 32 grid
JPEG_SIZE, JPEG_CROP = (500, 375), 224


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


def release_batches(seit_dir: str, n: int, grid: int):
    data_path, index_path, _ = seit_split_files(seit_dir, "bench")
    stream = gzip.decompress(data_path.read_bytes())
    offsets = np.load(io.BytesIO(gzip.decompress(index_path.read_bytes())))
    crop = v2.RandomResizedCrop(CROP, scale=(0.08, 1.0), antialias=True)
    rng = np.random.default_rng(0)

    def batch() -> int:
        out = []
        for i in rng.integers(n, size=BATCH):
            ids = torch.tensor(release_decode(stream[offsets[i]:offsets[i + 1]])).view(grid, grid)
            out.append(crop(F.one_hot(ids, K).permute(2, 0, 1).float()))  # (391, 28, 28)
        torch.stack(out)
        return BATCH
    return batch


def jpeg_batches(images: np.ndarray):
    files = []
    for im in images:
        buffer = io.BytesIO()
        Image.fromarray(im).resize(JPEG_SIZE, Image.BILINEAR).save(buffer, format="JPEG", quality=90)
        files.append(buffer.getvalue())
    transform = v2.Compose([v2.RandomResizedCrop(JPEG_CROP, scale=(0.08, 1.0), antialias=True),
                            v2.PILToTensor(), v2.ToDtype(torch.float32, scale=True)])
    rng = np.random.default_rng(0)

    def batch() -> int:
        torch.stack([transform(Image.open(io.BytesIO(files[i])).convert("RGB"))
                     for i in rng.integers(len(files), size=BATCH)])
        return BATCH
    return batch


def engine_batches(split: Split, policy: str, codes: torch.Tensor, tokenadapt: TokenAdapt):
    """What a training step does before the model: index the split, run the task's batch transform."""
    config = with_overrides(preset("gpu-small", "finetune"), dict(crop=CROP, policy=policy, batch_size=BATCH))
    transform = task_of(config, split).batch_transform(split, codes, tokenadapt)
    generator = torch.Generator().manual_seed(0)

    def batch() -> int:
        idx = torch.randint(len(split), (BATCH,), generator=generator)
        transform(split.x[idx], split.targets[idx], generator)
        return BATCH
    return batch


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=1_000)
    parser.add_argument("--write", action="store_true", help="write the results into BENCHMARKS.md")
    args = parser.parse_args()
    torch.set_num_threads(1)  # per core
    shapes = render_shapes(args.images, split="train")
    tokenizer = VQTokenizer.load()
    pixels = torch.from_numpy(shapes.images).permute(0, 3, 1, 2).float() / 255
    ids = tokenizer.tokenize_many(F.interpolate(pixels, size=SIDE, mode="bilinear").clamp(0, 1)).numpy()
    grid = ids.shape[-1]
    split = Split(torch.from_numpy(ids), torch.from_numpy(shapes.labels), 12, K, "bench tokens")
    codes = tokenizer.codebook.vectors().detach()
    tokenadapt = TokenAdapt.load().eval().requires_grad_(False)
    rates = {f"engine, policy {p}: index + batch transform": per_second(engine_batches(split, p, codes, tokenadapt))
             for p in ("none", "seit", "seitpp")}
    with tempfile.TemporaryDirectory() as tmp:
        write_seit_split(tmp, "bench", ids, shapes.labels, codebook_size=K)
        rates["SeiT release: per-byte decode, one-hot, per-image crop"] = per_second(release_batches(tmp, args.images,
                                                                                                   grid))
    rates[f"JPEG {JPEG_SIZE[0]} x {JPEG_SIZE[1]}: Pillow decode, per-image crop to {JPEG_CROP}"] = per_second(
        jpeg_batches(shapes.images))
    release, jpeg = list(rates.values())[-2:]
    body = "\n".join([
        f"{args.images} Shapes images tokenized at {SIDE} x {SIDE} px into {grid} x {grid} tokens (K = {K}), batches "
        f"of {BATCH} random images, crop {CROP} x {CROP} tokens; JPEG at {JPEG_SIZE[0]} x {JPEG_SIZE[1]} px, crop "
        f"{JPEG_CROP} x {JPEG_CROP}. One CPU thread. The engine rows are the path training takes "
        "(`train_one_epoch`: an index into the split in memory, then the task's batch transform).",
        "",
        "| path | images/s | x the release | x JPEG |",
        "|---|---|---|---|",
        *[f"| {name} | {rate:,.0f} | {rate / release:,.1f} | {rate / jpeg:,.1f} |" for name, rate in rates.items()],
    ])
    report("Loading token batches (benchmarks/loading.py)", body, args.write)


if __name__ == "__main__":
    main()
