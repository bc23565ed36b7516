"""TokenAdapt's cost as a share of a classifier training step (goal: at most 10% of a ViT-S step).

    python -m benchmarks.tokenadapt_cost [--batch 64] [--device cpu] [--write]   (from the repository root)

Measured side by side in one run, on one batch of 16 x 16 token grids (K = 391):

- the training step it rides on: token ViT-S (`tvit_small`, 14 x 14 crops -> 49 patches),
  forward + backward + AdamW step on the whole batch;
- TokenAdapt as SeiT++ uses it: frozen, inference only, on half of the batch, one transform per
  sample, output 14 x 14; at the reference width (the committed `cpu-ref` model) and at the
  release's width (384, 6 heads; random weights, the cost does not depend on them);
- for scale, the pixel route it replaces: decode to pixels, warp, tokenize again (half batch).

On CUDA the models run under bf16 autocast, as training does.
"""
from __future__ import annotations

import argparse
import contextlib

import torch
import torch.nn.functional as F

from benchmarks.common import per_second, report
from seitpp.augment import GeometryDistribution, TokenAdapt, TokenAdaptConfig, warp
from seitpp.device import default_device
from seitpp.models import create_model
from seitpp.tokenizers import VQTokenizer

K, GRID, CROP = 391, 16, 14


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--model", default="tvit_small")
    parser.add_argument("--device", default=str(default_device()),
                        help="default: SEITPP_DEVICE if set, else cuda if there is a GPU, else cpu")
    parser.add_argument("--seconds", type=float, default=5.0, help="minimum timing per measurement")
    parser.add_argument("--write", action="store_true", help="write the results into BENCHMARKS.md")
    args = parser.parse_args()
    device, B = torch.device(args.device), args.batch
    autocast = (torch.autocast("cuda", dtype=torch.bfloat16) if device.type == "cuda" else contextlib.nullcontext())
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)

    g = torch.Generator().manual_seed(0)
    ids = torch.randint(K, (B, GRID, GRID), generator=g).to(device)
    labels = torch.randint(100, (B,), generator=g).to(device)
    theta = GeometryDistribution().sample(B // 2, g).to(device)

    model = create_model(args.model, num_classes=100).to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)

    def train_step() -> int:
        with autocast:
            loss = F.cross_entropy(model(ids[:, :CROP, :CROP]), labels)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sync()
        return B

    tokenizer = VQTokenizer.load(device=device)
    adapters = {"TokenAdapt, reference width (128)": TokenAdapt.load(tokenizer=tokenizer, device=device),
                "TokenAdapt, release width (384)": TokenAdapt(tokenizer.codebook, TokenAdaptConfig()).to(device).eval()}

    def adapt(adapter: TokenAdapt):
        def run() -> int:
            with autocast:
                adapter.augment(ids[: B // 2], theta, (CROP, CROP))
            sync()
            return B  # per image of the whole batch: it runs on half of it
        return run

    @torch.no_grad()
    def via_pixels() -> int:
        with autocast:
            tokenizer.tokenize(warp(tokenizer.decode(ids[: B // 2]), theta, (4 * CROP, 4 * CROP)).clamp(0, 1))
        sync()
        return B

    step = per_second(train_step, args.seconds)
    rows = [(f"{args.model} training step (forward, backward, AdamW)", step)]
    rows += [(name, per_second(adapt(a), args.seconds)) for name, a in adapters.items()]
    rows.append(("via pixels: decode, warp, tokenize", per_second(via_pixels, args.seconds)))
    lines = [f"Batch {B} token grids on {device.type}{' (bf16 autocast)' if device.type == 'cuda' else ''}; "
             f"augmentations run on half the batch, rates are per image of the whole batch.", "",
             "| what | images/s | time as a share of the training step |", "|---|---|---|"]
    lines += [f"| {name} | {rate:,.0f} | {step / rate:.1%} |" for name, rate in rows]
    report(f"TokenAdapt cost ({device.type})", "\n".join(lines), args.write)


if __name__ == "__main__":
    main()
