"""Turning a whole image dataset into a token store, in batches, resumably.

Work in progress lives in `<out>.partial/`: the ids so far in a memory-mapped uint16 array, the
list of image files, and a small `progress.json` that is advanced (atomically) only after the ids
of a batch are flushed. A run that is killed at any point and started again continues after the
last finished batch. Batches always start at multiples of the batch size, so a resumed run
tokenizes exactly the batches an uninterrupted one would and writes an identical store. The
store itself is written atomically at the end, then the partial directory is removed.

A resumed run may have other images after the finished ones (an unreadable file deleted or
skipped after it stopped a run), never other finished ones: the files already tokenized must be
the same files, in the same order, or the run refuses and says what changed.
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
from seitpp.errors import TrainSetupError
from seitpp.files import atomic_path
from seitpp.tokenizers.vq import VQTokenizer
from seitpp.tokens.store import require_not_a_directory, write_store

PROGRESS_FILE = "progress.json"
IDS_FILE = "ids.u16"
FILES_FILE = "files.txt"  # the images of the run, one relative path a line


@dataclass
class ImageSource:
    """N images with known labels, loaded a batch at a time as float (B, 3, H, W) in [0, 1]."""

    description: str
    labels: np.ndarray  # int64 (N,)
    classes: list[str]
    load: Callable[[int, int], torch.Tensor]  # (start, stop) -> images start..stop-1
    resolution: int  # the side of every image load returns
    files: list[str] | None = None  # each image's path under the folder; None: image i is defined by i alone

    def __len__(self) -> int:
        return len(self.labels)


def shapes_source(num_images: int, split: str = "train", resolution: int = 64, seed: int = 0) -> ImageSource:
    """The embedded Shapes dataset, drawn batch by batch (image i depends only on i)."""
    def load(start: int, stop: int) -> torch.Tensor:
        images = render_shapes(stop - start, resolution=resolution, seed=seed, split=split, start=start).images
        return images_to_tensor(images)

    labels = np.arange(num_images, dtype=np.int64) % len(SHAPE_CLASSES)
    return ImageSource(f"shapes split={split} n={num_images} resolution={resolution} seed={seed}",
                       labels, list(SHAPE_CLASSES), load, resolution)


def folder_source(root: str | Path, resolution: int = 64, skip_unreadable: bool = False) -> ImageSource:
    """An ImageFolder tree (root/<class>/<images>); unreadable images raise unless skipped."""
    dataset = ImageFolderDataset(root, resolution=resolution, skip_unreadable=skip_unreadable)

    def load(start: int, stop: int) -> torch.Tensor:
        return torch.stack([dataset[i][0] for i in range(start, stop)])

    labels = np.array([label for _, label in dataset.samples], dtype=np.int64)
    files = [path.relative_to(dataset.root).as_posix() for path, _ in dataset.samples]
    return ImageSource(f"folder {dataset.root} resolution={resolution}", labels, dataset.classes, load, resolution,
                       files)


def token_grid(tokenizer: VQTokenizer, resolution: int) -> int:
    """The side of the token grid `tokenizer` makes of images `resolution` pixels wide: one token per
    `downsample` x `downsample` pixels (4 for the reference tokenizer), whatever its own resolution."""
    factor = tokenizer.config.downsample
    if resolution % factor:
        raise TrainSetupError(f"images of side {resolution} do not make a whole token grid: the tokenizer makes one "
                              f"token per {factor} x {factor} pixels; use a multiple of {factor}")
    return resolution // factor


def tokenize_dataset(source: ImageSource, tokenizer: VQTokenizer, out: str | Path, batch_size: int = 256,
                     progress: bool = True) -> Path:
    """Tokenize every image of `source` into the token store `out`, resuming an interrupted run."""
    out = Path(out)
    require_not_a_directory(out)  # the store's own check, made now, not after every image is tokenized
    partial = out.with_name(out.name + ".partial")
    n = len(source)
    if n == 0:
        raise ValueError(f"{source.description}: no images to tokenize")
    grid = (token_grid(tokenizer, source.resolution),) * 2
    job = {"source": source.description, "tokenizer": tokenizer.fingerprint(), "batch_size": batch_size,
           "grid": list(grid)}
    done, finished = _resume_point(partial, job, source)
    partial.mkdir(parents=True, exist_ok=True)
    if source.files is not None:
        with atomic_path(partial / FILES_FILE) as tmp:
            tmp.write_text("".join(f"{f}\n" for f in source.files))
    # a fresh ids file of n rows with the finished ones, in place of the old one only once it is on disk
    new = partial / (IDS_FILE + ".new")
    ids = np.memmap(new, dtype=np.uint16, mode="w+", shape=(n, *grid))
    ids[:done] = finished
    ids.flush()
    new.replace(partial / IDS_FILE)
    bar = tqdm(total=n, initial=done, desc=f"tokenizing into {out.name}", unit="img", disable=not progress)
    started, first = time.perf_counter(), done
    for start in range(done, n, batch_size):
        stop = min(start + batch_size, n)
        batch_ids = tokenizer.tokenize(source.load(start, stop))
        ids[start:stop] = batch_ids.cpu().numpy().astype(np.uint16)
        ids.flush()  # the ids reach the disk before the progress that counts them
        _write_progress(partial, job | {"num_images": n, "done": stop})
        bar.update(stop - start)
    bar.close()
    if progress and n > first:  # the rate of this run, resumed images not counted
        seconds = time.perf_counter() - started
        print(f"tokenized {n - first} images in {seconds:.1f} s: {(n - first) / seconds:,.1f} images/s on "
              f"{tokenizer.device}")
    write_store(out, np.asarray(ids[:n]), source.labels, codebook_size=tokenizer.config.codebook_size,
                num_classes=len(source.classes), tokenizer_hash=job["tokenizer"],
                metadata={"source": source.description, "classes": source.classes,
                          "resolution": source.resolution})
    del ids
    shutil.rmtree(partial)
    return out


def _resume_point(partial: Path, job: dict, source: ImageSource) -> tuple[int, np.ndarray]:
    """An earlier run of the same job -> (how many images it finished, their ids (done, H, W)); (0, no
    ids) if there is none. Refuses, saying what changed, a run of another job or one whose finished
    images are not the first images of `source`."""
    path = partial / PROGRESS_FILE
    if not path.exists():
        shutil.rmtree(partial, ignore_errors=True)  # ids without progress: nothing is known to be done
        return 0, np.zeros((0, *job["grid"]), np.uint16)
    state = json.loads(path.read_text())
    done, start_over = int(state["done"]), f"delete it to start over (rm -r '{partial}')"
    changed = [f"{k} {state.get(k)!r} -> {v!r}" for k, v in job.items() if state.get(k) != v]
    if changed:
        raise FileExistsError(f"{partial} holds an unfinished run of another job ({'; '.join(changed)}): run it as "
                              f"it was to resume, or {start_over}")
    before = (partial / FILES_FILE).read_text().splitlines() if (partial / FILES_FILE).exists() else None
    now = source.files
    if before is not None and now is not None and before[:done] != now[:done]:
        gone = [f for f in before[:done] if f not in set(now)]
        new = [f for f in now[:done] if f not in set(before)]
        what = "; ".join(part for part in (f"gone: {_some(gone)}" * bool(gone), f"new: {_some(new)}" * bool(new))
                         if part) or "the same files in another order"
        raise FileExistsError(f"{partial}: the {done} images it finished are not the first {done} images of "
                              f"{source.description} now ({len(before)} -> {len(now)} images; {what}), so its ids "
                              f"would belong to other files: {start_over}")
    if done > len(source):
        raise FileExistsError(f"{partial} finished {done} images, but {source.description} has {len(source)} now: "
                              f"{start_over}")
    rows = (partial / IDS_FILE).stat().st_size // (2 * int(np.prod(job["grid"])))  # however many it was made for
    finished = np.array(np.memmap(partial / IDS_FILE, dtype=np.uint16, mode="r", shape=(rows, *job["grid"]))[:done])
    return done, finished


def _some(files: list[str], most: int = 3) -> str:
    return ", ".join(files[:most]) + (f" and {len(files) - most} more" if len(files) > most else "")


def _write_progress(partial: Path, state: dict) -> None:
    with atomic_path(partial / PROGRESS_FILE) as tmp:
        tmp.write_text(json.dumps(state))
