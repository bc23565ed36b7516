"""The command line: `python -m seitpp <command>`. Each command is a thin shell over the package."""
from __future__ import annotations

import argparse
import json
import platform
import shutil
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import torch

from seitpp.data import images_to_tensor
from seitpp.files import atomic_path
from seitpp.shapes import render_shapes
from seitpp.tokenizer import TokenizerReport, evaluate_tokenizer, reduce_codebook
from seitpp.train_tokenizer import CHECKPOINT_FILE, PRESETS, preset, train_tokenizer

PROVENANCE_FILE = "provenance.json"


def machine_description(device: str) -> dict:
    """What ran a command: enough to judge a timing or reproduce a result."""
    info = {"platform": platform.platform(), "python": platform.python_version(), "torch": torch.__version__,
            "torch_threads": torch.get_num_threads(), "device": device}
    if device.startswith("cuda"):
        info["gpu"] = torch.cuda.get_device_name(torch.device(device))
    return info


def report_dict(report: TokenizerReport) -> dict:
    return {"psnr_db": round(report.psnr, 3), "codebook_size": report.codebook_size,
            "codes_used": report.codes_used, "usage": round(report.usage, 4),
            "perplexity": round(report.perplexity, 2), "bits_per_token": round(report.bits_per_token, 3),
            "entropy_bits": round(report.entropy_bits, 3)}


def cmd_train_tokenizer(args: argparse.Namespace) -> None:
    cfg = preset(args.preset)
    out = Path(args.out)
    started = time.perf_counter()
    print(f"rendering {cfg.num_train_images} training images of the embedded dataset ...")
    train = render_shapes(cfg.num_train_images, resolution=cfg.model.resolution, split="train", progress=True)
    test = images_to_tensor(render_shapes(args.eval_images, resolution=cfg.model.resolution, split="test").images)
    model, _ = train_tokenizer(cfg, torch.from_numpy(train.images), out_dir=out / "full", device=args.device)
    full = evaluate_tokenizer(model, test.to(args.device))
    print(f"full codebook: {full}")
    metrics = {"full": report_dict(full)}
    if args.reduce_to:
        # code frequencies from training images: the test split only ever measures
        counts = evaluate_tokenizer(model, images_to_tensor(train.images[: args.eval_images]).to(args.device)).counts
        model = reduce_codebook(model, counts, args.reduce_to, args.reduce_method)
        reduced = evaluate_tokenizer(model, test.to(args.device))
        print(f"reduced to {args.reduce_to} codes ({args.reduce_method}): {reduced}")
        metrics["reduced"] = report_dict(reduced) | {"method": args.reduce_method}
    model.save(out)
    (out / "full" / CHECKPOINT_FILE).unlink(missing_ok=True)  # resume state; the saved model is what stays
    provenance = {
        "command": "python -m seitpp " + " ".join(sys.argv[1:]),
        "preset": args.preset,
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": machine_description(args.device),
        "wall_seconds": round(time.perf_counter() - started, 1),
        "evaluation": f"{args.eval_images} images of the embedded dataset's test split (seed 0)",
        "metrics": metrics,
    }
    with atomic_path(out / PROVENANCE_FILE) as tmp:
        tmp.write_text(json.dumps(provenance, indent=2))
    print(json.dumps(provenance, indent=2))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m seitpp", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    p = commands.add_parser("train-tokenizer", help="train a VQ tokenizer on the embedded dataset (resumable)")
    p.add_argument("--preset", default="cpu-ref", choices=sorted(PRESETS))
    p.add_argument("--out", required=True, help="output directory; an interrupted run there is resumed")
    p.add_argument("--reduce-to", type=int, default=0, help="shrink the codebook to K codes (0: keep all)")
    p.add_argument("--reduce-method", default="kmeans", choices=["kmeans", "most_used"],
                   help="k-means centroids of the codes, or the K most used codes")
    p.add_argument("--eval-images", type=int, default=2_000, help="held-out test images for PSNR and usage")
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.set_defaults(run=cmd_train_tokenizer)
    return parser


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    args.run(args)
