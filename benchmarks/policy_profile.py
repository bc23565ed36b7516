"""Where the seitpp batch transform spends its time, part by part, at ImageNet's grid size.

    python -m benchmarks.policy_profile [--device cuda] [--batch 1024] [--write]

Times (ms per call, after a warm-up, synchronised on CUDA) of the whole SeiT++ fine-tuning policy
on a batch of 32 x 32 grids cropped to 28 x 28, and of its parts: the embedding ops on half the
batch (Emb-Noise 0.75 / ColorAdapt 0.25), TokenAdapt on the other half (float32, and under bf16
autocast), the geometric half with its label mixing, the plain half (crop + CutMix), and the
one-hot codes that Mixup mixes. The reference TokenAdapt and codebook (K = 391). Results go to
`benchmarks/results/policy_profile.csv` (with device and date) and BENCHMARKS.md.
"""
from __future__ import annotations

import argparse
import time
from datetime import date
from pathlib import Path
from typing import Callable

import torch

from benchmarks.common import report
from seitpp.augment import GeometryDistribution, TokenAdapt
from seitpp.device import default_device
from seitpp.engine import preset, token_policy, with_overrides
from seitpp.files import write_csv
from seitpp.tokenizers import VQTokenizer

RESULTS_CSV = Path(__file__).parent / "results" / "policy_profile.csv"
GRID, CROP, CLASSES = 32, 28, 1000


def milliseconds(fn: Callable[[], object], device: torch.device, repeats: int) -> float:
    fn()
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(repeats):
        fn()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return (time.perf_counter() - start) / repeats * 1e3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default=str(default_device()),
                        help="default: SEITPP_DEVICE if set, else cuda if there is a GPU, else cpu")
    parser.add_argument("--batch", type=int, default=None, help="default: 1024 on CUDA, 64 on the CPU")
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--write", action="store_true", help="write BENCHMARKS.md and the results CSV")
    args = parser.parse_args()
    device = torch.device(args.device)
    B = args.batch or (1024 if device.type == "cuda" else 64)
    tokenizer = VQTokenizer.load()
    codes = tokenizer.codebook.vectors().detach().to(device)
    tokenadapt = TokenAdapt.load(tokenizer=tokenizer, device=device)
    policy = token_policy(with_overrides(preset("imagenet-vitb", "finetune"), dict(crop=CROP)), CLASSES, codes,
                          tokenadapt)
    ids = torch.randint(len(codes), (B, GRID, GRID), device=device)
    labels = torch.randint(CLASSES, (B,), device=device)
    half = B // 2
    theta = GeometryDistribution().sample(half, torch.Generator().manual_seed(0), torch.device("cpu")).to(device)

    def g() -> torch.Generator:
        return torch.Generator().manual_seed(0)  # a CPU generator, as the engine's

    def bf16_tokenadapt():
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda"):
            return tokenadapt.augment(ids[:half], theta, (CROP, CROP))

    parts = {
        "whole seitpp policy": lambda: policy(ids, labels, g()),
        "appearance ops (Emb-Noise / ColorAdapt), half batch": lambda: policy.appearance(ids, g()),
        "TokenAdapt, half batch, float32": lambda: tokenadapt.augment(ids[:half], theta, (CROP, CROP)),
        "TokenAdapt, half batch, bf16 autocast": bf16_tokenadapt,
        "geometric half (TokenAdapt + Mixup / CutMix)": lambda: policy.geometric(ids[:half], labels[:half], g()),
        "plain half (crop + CutMix)": lambda: policy.plain(ids[half:], labels[half:], g()),
        f"one-hot codes ({half} x {len(codes)} x {CROP} x {CROP})": lambda: policy.one_hot_codes(ids[:half, :CROP, :CROP]),
    }
    rows = []
    for name, fn in parts.items():
        ms = milliseconds(fn, device, args.repeats)
        rows.append({"part": name, "ms": round(ms, 2), "batch": B})
        print(f"  {name:<55} {ms:8.2f} ms", flush=True)
    where = torch.cuda.get_device_name(device) if device.type == "cuda" else f"cpu, {torch.get_num_threads()} threads"
    body = "\n".join([f"Batch of {B} grids of {GRID} x {GRID} ids cropped to {CROP} x {CROP}, {where}; ms per call.",
                      "", "| part | ms |", "|---|---|", *[f"| {r['part']} | {r['ms']:.2f} |" for r in rows]])
    report(f"Policy profile ({device.type}) (benchmarks/policy_profile.py)", body, args.write)
    if args.write:
        stamp = {"device": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
                 "date": date.today().isoformat()}
        write_csv([r | stamp for r in rows], RESULTS_CSV)


if __name__ == "__main__":
    main()
