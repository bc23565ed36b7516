"""How fast images become tokens on this machine, and back, next to how fast Shapes draws them.

    python -m benchmarks.tokenizer_throughput [--write]     (from the repository root)

Measured side by side in one run, on one thread (per core) and on all threads: rendering Shapes
images, tokenizing them with the reference tokenizer, decoding tokens to pixels. `--write` puts the
table into BENCHMARKS.md.
"""
from __future__ import annotations

import argparse

import torch

from benchmarks.common import per_second, report
from seitpp.data import images_to_tensor, render_shapes
from seitpp.tokenizers import VQTokenizer


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help="write the results into BENCHMARKS.md")
    args = parser.parse_args()
    all_threads = torch.get_num_threads()
    one, many = measure(1), measure(all_threads)
    rows = [f"| {name} | {one[name]:,.0f} | {many[name]:,.0f} |" for name in one]
    body = "\n".join([
        "64x64 images, batch 64, reference tokenizer (16x16 tokens, K = 391), CPU, images per second.",
        "",
        f"| step | 1 thread | {all_threads} threads |",
        "|---|---|---|",
        *rows,
        "",
        f"Ratio tokenize / render on one thread: {one['tokenize (encoder + codebook)'] / one['render Shapes (numpy)']:.2f}.",
    ])
    report("Tokenizer throughput (benchmarks/tokenizer_throughput.py)", body, args.write)


if __name__ == "__main__":
    main()
