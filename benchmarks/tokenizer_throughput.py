"""How fast images become tokens on this machine, and back, next to how fast Shapes draws them.

    python -m benchmarks.tokenizer_throughput [--write]     (from the repository root)

Measured side by side in one run:

- on one thread (per core) and on all threads, at batch 64: rendering Shapes images, tokenizing
  them with the reference tokenizer, decoding tokens to pixels;
- on all threads, tokenize_many and decoding 512 images at batch sizes 8 to 256, the measurement
  behind `VQTokenizer.inference_batch` (32 on the CPU).

`--write` puts the tables into BENCHMARKS.md.
"""
from __future__ import annotations

import argparse

import torch

from benchmarks.common import per_second, report
from seitpp.data import images_to_tensor, render_shapes
from seitpp.tokenizers import VQTokenizer

BATCH_SIZES = (8, 16, 32, 64, 128, 256)


def measure(threads: int, batch: int = 64) -> dict[str, float]:
    torch.set_num_threads(threads)
    tokenizer = VQTokenizer.load()
    x = images_to_tensor(render_shapes(batch, split="test").images)
    ids = tokenizer.tokenize(x)
    return {
        "render Shapes (numpy)": per_second(lambda: len(render_shapes(batch, split="test").images)),
        "tokenize (encoder + codebook)": per_second(lambda: len(tokenizer.tokenize(x))),
        "decode (codebook + decoder)": per_second(lambda: len(tokenizer.decode(ids))),
    }


def by_batch_size(tokenizer: VQTokenizer, num_images: int = 512) -> dict[int, tuple[float, float]]:
    """Images per second of (tokenize_many, decode in batches) at each batch size, all threads."""
    x = images_to_tensor(render_shapes(num_images, split="test").images)
    ids = tokenizer.tokenize_many(x)
    rates = {}
    for b in BATCH_SIZES:
        tokenize = per_second(lambda: len(tokenizer.tokenize_many(x, batch_size=b)))
        decode = per_second(lambda: sum(len(tokenizer.decode(chunk)) for chunk in ids.split(b)))
        rates[b] = (tokenize, decode)
    return rates


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help="write the results into BENCHMARKS.md")
    args = parser.parse_args()
    all_threads = torch.get_num_threads()
    one, many = measure(1), measure(all_threads)
    rows = [f"| {name} | {one[name]:,.0f} | {many[name]:,.0f} |" for name in one]
    tokenizer = VQTokenizer.load()
    rates, default = by_batch_size(tokenizer), tokenizer.inference_batch
    batch_rows = [f"| {b}{' (default)' if b == default else ''} | {t:,.0f} | {d:,.0f} |" for b, (t, d) in rates.items()]
    largest = BATCH_SIZES[-1]
    body = "\n".join([
        "64x64 images, batch 64, reference tokenizer (16x16 tokens, K = 391), CPU, images per second.",
        "",
        f"| step | 1 thread | {all_threads} threads |",
        "|---|---|---|",
        *rows,
        "",
        f"Ratio tokenize / render on one thread: {one['tokenize (encoder + codebook)'] / one['render Shapes (numpy)']:.2f}.",
        "",
        f"By batch size, 512 images, {all_threads} threads, images per second:",
        "",
        "| batch | tokenize_many | decode |",
        "|---|---|---|",
        *batch_rows,
        "",
        f"Batch {default} (the CPU default, `VQTokenizer.inference_batch`) against batch {largest}: "
        f"tokenize {rates[default][0] / rates[largest][0]:.2f}x, decode {rates[default][1] / rates[largest][1]:.2f}x "
        "(large batches overflow the CPU's caches).",
    ])
    report("Tokenizer throughput (benchmarks/tokenizer_throughput.py)", body, args.write)


if __name__ == "__main__":
    main()
