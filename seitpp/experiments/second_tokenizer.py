"""Chapter 8's second tokenizer, a stage of its sweep: trained on the sweep's images, measured,
its tokens of both splits cached in `work/tokens-f8.npz`, and kept beside the results.

Where `seitpp.experiments.beyond` needs tokens of another kind than the reference's, they come
from here: 8 x 8 tokens of 8 x 8 pixels from 1,024 codes (`F8`), against the reference's 16 x 16
tokens of 4 x 4 pixels from 391.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import torch

from seitpp.data.images import images_to_tensor
from seitpp.data.shapes import render_shapes
from seitpp.experiments.sweep import read_arrays, write_arrays
from seitpp.files import atomic_path
from seitpp.tokenizers.train import TokenizerTrainConfig, train_tokenizer
from seitpp.tokenizers.vq import TokenizerConfig, evaluate_tokenizer
from seitpp.tokens.store import write_store

SECOND_TOKENIZER_DIR = "tokenizer-f8"  # inside the work folder while it trains, and beside the results once kept

# The second tokenizer: one more stride-2 level than the reference (16, 32, 64), so each token
# covers 8 x 8 pixels and a 64 x 64 image is 8 x 8 tokens; the full 1,024 codes, not reduced.
F8 = TokenizerConfig(channels=(16, 32, 64, 64), codebook_size=1024)


def train_second_tokenizer(cfg: TokenizerTrainConfig, work: Path, data: dict, num_classes: int) -> None:
    """Train the second tokenizer (resumable) on the first `cfg.num_train_images` training images (at
    least the sweep's), measure it on the test images and tokenize both splits of `data` (a sweep's
    arrays: train_images, train_labels, test_images) -> `work/tokens-f8.npz`."""
    out = work / "tokens-f8.npz"
    if out.exists():
        return
    n = len(data["train_images"])
    images = render_shapes(max(cfg.num_train_images, n), split="train").images
    tokenizer, _ = train_tokenizer(cfg, torch.from_numpy(images), out_dir=work / SECOND_TOKENIZER_DIR, progress=False)
    report = evaluate_tokenizer(tokenizer, images_to_tensor(data["test_images"]))
    train_ids = tokenizer.tokenize_many(data["train_images"]).numpy().astype(np.int16)
    store = work / "f8.tokens"
    write_store(store, train_ids, data["train_labels"], codebook_size=cfg.model.codebook_size,
                num_classes=num_classes, tokenizer_hash=tokenizer.fingerprint())
    arrays = {"codebook_size": np.array(cfg.model.codebook_size), "train_tokens": train_ids,
              "test_tokens": tokenizer.tokenize_many(data["test_images"]).numpy().astype(np.int16),
              "psnr_db": np.array(report.psnr), "codes_used": np.array(report.codes_used)}
    write_arrays(out, arrays, {"tokens": store.stat().st_size / n})


def second_tokens(work: Path) -> dict:
    """The second tokenizer's arrays: codebook_size, train_tokens, test_tokens, psnr_db, codes_used, bytes."""
    return read_arrays(work / "tokens-f8.npz")


def keep_second_tokenizer(work: Path, out: Path) -> None:
    """Copy the trained second tokenizer (weights, config, loss curve) next to the results."""
    target = out / SECOND_TOKENIZER_DIR
    target.mkdir(exist_ok=True)
    for name in ("config.json", "tokenizer.safetensors", "history.csv"):
        shutil.copyfile(work / SECOND_TOKENIZER_DIR / name, target / name)
    second = second_tokens(work)
    with atomic_path(target / "measured.json") as tmp:
        tmp.write_text(json.dumps({"codebook_size": int(second["codebook_size"]),
                                   "grid": list(second["train_tokens"].shape[1:]),
                                   "psnr_db": round(float(second["psnr_db"]), 3),
                                   "codes_used": int(second["codes_used"]),
                                   "bytes_per_image": round(float(second["bytes"]["tokens"]), 1),
                                   "evaluation": "the sweep's test images"}, indent=2))
