"""Bytes on disk: our token store against SeiT's release files, on the same reference tokens.

    python -m benchmarks.storage_size [--images 5000] [--write]     (from the repository root)

Shapes train images and random crops of scikit-image's sample photos (real textures: flat synthetic
backgrounds flatter any coder), tokenized by the reference tokenizer (16 x 16 ids, K = 391), stored
both ways for several split sizes: our store carries its coder's probability tables, a fixed cost
that small splits feel most.
"""
from __future__ import annotations

import argparse
import math
import tempfile
from pathlib import Path

import numpy as np

from benchmarks.common import report
from seitpp.data import photo_crops, render_shapes
from seitpp.tokenizers import VQTokenizer
from seitpp.tokens import TokenStore, seit_split_files, write_seit_split, write_store

K = 391


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=20_000)
    parser.add_argument("--write", action="store_true", help="write the results into BENCHMARKS.md")
    args = parser.parse_args()
    tokenizer = VQTokenizer.load()
    datasets = {"Shapes (train split)": render_shapes(args.images, split="train").images,
                "photo crops (scikit-image samples)": photo_crops(args.images)}
    rows = []
    for name, images in datasets.items():
        ids = tokenizer.tokenize_many(images).numpy()
        labels = np.arange(len(ids)) % 12  # the labels cost the same in both formats
        for n in sorted({min(args.images, m) for m in (300, 1_000, args.images)}):
            with tempfile.TemporaryDirectory() as tmp:
                write_seit_split(tmp, "s", ids[:n], labels[:n], codebook_size=K)
                seit = sum(p.stat().st_size for p in seit_split_files(tmp, "s"))
                write_store(Path(tmp) / "s.tokens", ids[:n], labels[:n], codebook_size=K, num_classes=12,
                            tokenizer_hash=tokenizer.fingerprint())
                store = TokenStore.open(Path(tmp) / "s.tokens")
                ours = store.file_size
                tokens = n * ids.shape[1] * ids.shape[2]
                rows.append(f"| {name} | {n:,} | {seit / n:.1f} | {ours / n:.1f} | {8 * seit / tokens:.2f} | "
                            f"{8 * ours / tokens:.2f} | {store.bits_per_token():.2f} | {ours / seit:.3f} |")
    body = "\n".join([
        f"Reference tokens (16 x 16 ids per 64 x 64 image, K = {K}; a fixed-width code needs log2 K = "
        f"{math.log2(K):.2f} bits/token). Both formats include labels and index.",
        "",
        "| images | N | SeiT bytes/image | ours bytes/image | SeiT bits/token | ours bits/token (file) | ours bits/token (coded ids) | ours / SeiT |",
        "|---|---|---|---|---|---|---|---|",
        *rows,
    ])
    report("Token storage size (benchmarks/storage_size.py)", body, args.write)


if __name__ == "__main__":
    main()
