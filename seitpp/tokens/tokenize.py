"""Turning a whole image dataset into a token store, in batches, resumably.

Work in progress lives in `<out>.partial/`: the ids so far in a memory-mapped uint16 array and a
small `progress.json` that is advanced (atomically) only after the ids of a batch are flushed. A
run that is killed at any point and started again continues after the last finished batch.
Batches always start at multiples of the batch size, so a resumed run tokenizes exactly the
batches an uninterrupted one would and writes an identical store. The store itself is written
atomically at the end, then the partial directory is removed.
"""
from __future__ import annotations

import json
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from tqdm.auto import tqdm

from seitpp.data.images import ImageFolderDataset, images_to_tensor
from seitpp.data.shapes import SHAPE_CLASSES, render_shapes
from seitpp.files import atomic_path
from seitpp.tokenizers.vq import VQTokenizer
from seitpp.tokens.store import write_store

PROGRESS_FILE = "progress.json"
IDS_FILE = "ids.u16"


@dataclass
class ImageSource:
    """N images with known labels, loaded a batch at a time as float (B, 3, H, W) in [0, 1]."""

    description: str
    labels: np.ndarray  # int64 (N,)
    classes: list[str]
    load: Callable[[int, int], torch.Tensor]  # (start, stop) -> images start..stop-1

    def __len__(self) -> int:
        return len(self.labels)


def shapes_source(num_images: int, split: str = "train", resolution: int = 64, seed: int = 0) -> ImageSource:
    """The embedded Shapes dataset, drawn batch by batch (image i depends only on i)."""
    def load(start: int, stop: int) -> torch.Tensor:
        images = render_shapes(stop - start, resolution=resolution, seed=seed, split=split, start=start).images
        return images_to_tensor(images)

    labels = np.arange(num_images, dtype=np.int64) % len(SHAPE_CLASSES)
    return ImageSource(f"shapes split={split} n={num_images} resolution={resolution} seed={seed}",
                       labels, list(SHAPE_CLASSES), load)


def folder_source(root: str | Path, resolution: int = 64, skip_unreadable: bool = False) -> ImageSource:
    """An ImageFolder tree (root/<class>/<images>); unreadable images raise unless skipped."""
    dataset = ImageFolderDataset(root, resolution=resolution, skip_unreadable=skip_unreadable)

    def load(start: int, stop: int) -> torch.Tensor:
        return torch.stack([dataset[i][0] for i in range(start, stop)])

    labels = np.array([label for _, label in dataset.samples], dtype=np.int64)
    return ImageSource(f"folder {dataset.root} resolution={resolution}", labels, dataset.classes, load)


def tokenize_dataset(source: ImageSource, tokenizer: VQTokenizer, out: str | Path, batch_size: int = 256,
                     progress: bool = True) -> Path:
    """Tokenize every image of `source` into the token store `out`, resuming an interrupted run."""
    out = Path(out)
    partial = out.with_name(out.name + ".partial")
    n = len(source)
    if n == 0:
        raise ValueError(f"{source.description}: no images to tokenize")
    grid = (tokenizer.config.grid_size, tokenizer.config.grid_size)
    job = {"source": source.description, "tokenizer": tokenizer.fingerprint(), "batch_size": batch_size,
           "num_images": n, "grid": list(grid)}
    done = _resume_point(partial, job)
    mode = "r+" if done > 0 else "w+"
    partial.mkdir(parents=True, exist_ok=True)
    ids = np.memmap(partial / IDS_FILE, dtype=np.uint16, mode=mode, shape=(n, *grid))
    bar = tqdm(total=n, initial=done, desc=f"tokenizing into {out.name}", unit="img", disable=not progress)
    started, first = time.perf_counter(), done
    for start in range(done, n, batch_size):
        stop = min(start + batch_size, n)
        batch_ids = tokenizer.tokenize(source.load(start, stop))
        ids[start:stop] = batch_ids.cpu().numpy().astype(np.uint16)
        ids.flush()  # the ids reach the disk before the progress that counts them
        _write_progress(partial, job | {"done": stop})
        bar.update(stop - start)
    bar.close()
    if progress and n > first:  # the rate of this run, resumed images not counted
        seconds = time.perf_counter() - started
        print(f"tokenized {n - first} images in {seconds:.1f} s: {(n - first) / seconds:,.1f} images/s on "
              f"{tokenizer.device}")
    write_store(out, np.asarray(ids[:n]), source.labels, codebook_size=tokenizer.config.codebook_size,
                num_classes=len(source.classes), tokenizer_hash=job["tokenizer"],
                metadata={"source": source.description, "classes": source.classes,
                          "resolution": tokenizer.config.resolution})
    del ids
    shutil.rmtree(partial)
    return out


def _resume_point(partial: Path, job: dict) -> int:
    """How many images an earlier run of the same job finished (0 if none, or if it was another job)."""
    path = partial / PROGRESS_FILE
    if not path.exists():
        shutil.rmtree(partial, ignore_errors=True)  # ids without progress: nothing is known to be done
        return 0
    state = json.loads(path.read_text())
    if {k: state.get(k) for k in job} != job:
        raise FileExistsError(f"{partial} holds an unfinished run of another job ({state.get('source')}, tokenizer "
                         f"{state.get('tokenizer')}); remove it or choose another output")
    return int(state["done"])


def _write_progress(partial: Path, state: dict) -> None:
    with atomic_path(partial / PROGRESS_FILE) as tmp:
        tmp.write_text(json.dumps(state))
