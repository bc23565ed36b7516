"""Can the token data path feed ViT-B? Loader images/s against the training step, at ImageNet scale.

    python -m benchmarks.gpu_data_path [--device cuda] [--images 1281167] [--write]

Measured side by side in one run:

- the loader: a batch of `--batch` indices into the whole token set, gathered and turned into
  training input by the engine's batch transform (`seitpp.engine.token_policy`: "none" = random-
  resized crops + CutMix, "seit" = Token-EDA + crops + CutMix, "seitpp" = Emb-Noise / ColorAdapt,
  the TokenAdapt half with Mixup / CutMix), timed until the batch is on the device. Two places to
  keep the set: in GPU memory (1.28 M grids of 32 x 32 int16 ids are 2.6 GB), or in pinned host
  memory, gathered on the host and copied over without blocking;
- the training step (forward, backward, AdamW; bf16 autocast on CUDA) of ViT-B/16 on 28 x 28 token
  crops (14 x 14 patches, as a 224-pixel image) for classification, and of its MTM model;
  FLOPs per image by torch's counter give the achieved TFLOP/s and, on a known GPU, the MFU.

Goal: the loader is never the bottleneck, at least 5 x the ViT-B step's images/s. The ids are
drawn at random (the throughput of gathers and transforms does not depend on their values); the
code vectors and TokenAdapt weights are the book's reference ones (K = 391, as SeiT's ImageNet
tokenizer). On the CPU the defaults shrink (20,000 grids, the micro model) so the script runs in
a minute; its numbers then say nothing about a GPU.
"""
from __future__ import annotations

import argparse
from datetime import date
from pathlib import Path

import torch

from benchmarks.common import report
from seitpp.augment import TokenAdapt
from seitpp.device import default_device
from seitpp.engine import (
    batch_fn,
    flops_per_image,
    peak_tflops,
    per_second,
    preset,
    step_fn,
    token_policy,
    with_overrides,
)
from seitpp.files import write_csv
from seitpp.models import create_model
from seitpp.tokenizers import VQTokenizer

IMAGENET_IMAGES, GRID, CROP, CLASSES = 1_281_167, 32, 28, 1000
RESULTS_CSV = Path(__file__).parent / "results" / "gpu_data_path.csv"
CSV_COLUMNS = ("what", "memory", "policy", "model", "batch", "images_per_s", "gflops_per_image", "mfu", "device",
               "date", "num_images")


def token_set(num_images: int, codebook_size: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Random ids (N, GRID, GRID) int16 and labels (N,) int64 in host memory."""
    g = torch.Generator().manual_seed(seed)
    return (torch.randint(codebook_size, (num_images, GRID, GRID), generator=g, dtype=torch.int16),
            torch.randint(CLASSES, (num_images,), generator=g))


def placed(tensor: torch.Tensor, where: str, device: torch.device) -> torch.Tensor:
    """The set in GPU memory ("gpu"), pinned host memory ("pinned host"), or as it is ("host")."""
    return {"gpu": lambda: tensor.to(device), "pinned host": tensor.pin_memory, "host": lambda: tensor}[where]()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default=str(default_device()),
                        help="default: SEITPP_DEVICE if set, else cuda if there is a GPU, else cpu")
    parser.add_argument("--images", type=int, default=None, help="token grids held (default: ImageNet's "
                                                                 "1,281,167 on CUDA, 20,000 on the CPU)")
    parser.add_argument("--batch", type=int, default=None, help="loader batch (default: 1024 on CUDA, 64 on the CPU)")
    parser.add_argument("--step-batch", type=int, default=None, help="training step batch (default 256 / 8)")
    parser.add_argument("--model", default=None, help="default: tvit_base on CUDA, tvit_micro on the CPU")
    parser.add_argument("--seconds", type=float, default=3.0, help="minimum timing per measurement")
    parser.add_argument("--write", action="store_true", help="write the results into BENCHMARKS.md")
    args = parser.parse_args()
    device = torch.device(args.device)
    cuda = device.type == "cuda"
    num_images = args.images or (IMAGENET_IMAGES if cuda else 20_000)
    batch, step_batch = args.batch or (1024 if cuda else 64), args.step_batch or (256 if cuda else 8)
    model_name = args.model or ("tvit_base" if cuda else "tvit_micro")

    tokenizer = VQTokenizer.load()
    K = tokenizer.config.codebook_size
    codes = tokenizer.codebook.vectors().detach().to(device)
    tokenadapt = TokenAdapt.load(tokenizer=tokenizer, device=device)
    finetune = with_overrides(preset("imagenet-vitb", "finetune"), dict(crop=CROP))
    policies = {name: token_policy(with_overrides(finetune, dict(policy=name)), CLASSES, codes, tokenadapt)
                for name in ("none", "seit", "seitpp")}

    loader_rows = []
    host_ids, host_labels = token_set(num_images, K)
    for where in ("gpu", "pinned host") if cuda else ("host",):
        ids, labels = placed(host_ids, where, device), placed(host_labels, where, device)
        for name, policy in policies.items():
            rate = per_second(batch_fn(ids, labels, policy, batch, device), args.seconds)
            loader_rows.append({"memory": where, "policy": name, "rate": rate})
            print(f"  loader, {where}, policy {name:<7} {rate:>12,.0f} images/s", flush=True)
        del ids, labels

    x = torch.randint(K, (step_batch, CROP, CROP), device=device)
    y = torch.randint(CLASSES, (step_batch,), device=device)
    size = model_name.split("_")[-1]
    peak = peak_tflops(device)
    step_rows = []
    for name, model, target in [
        (model_name, create_model(model_name, num_classes=CLASSES, grid_size=CROP), y),
        (f"mtm_{size}", create_model(f"mtm_{size}", codebook_size=K, grid_size=CROP), None),
    ]:
        model = model.to(device).train()
        flops = flops_per_image(model, x, target)
        rate = per_second(step_fn(model, x, target, device), args.seconds)
        achieved = rate * flops / 1e12  # TFLOP/s
        step_rows.append({"model": name, "flops": flops, "rate": rate, "tflops": achieved,
                          "mfu": achieved / peak if peak else None})
        print(f"  step {name:<12} {rate:>10,.1f} images/s, {flops / 1e9:.1f} GFLOP/image", flush=True)
        del model

    classify = step_rows[0]["rate"]
    gb = num_images * GRID * GRID * 2 / 1e9
    lines = [
        f"{num_images:,} token grids of {GRID} x {GRID} (int16, {gb:.2f} GB), K = {K}, {CLASSES} classes; "
        f"{device.type}{', bf16 autocast' if cuda else ', fp32, ' + str(torch.get_num_threads()) + ' threads'}.",
        "",
        f"Loader: batches of {batch} random indices, gathered and transformed into {CROP} x {CROP} training "
        f"input by the engine's policy, until on the device. Goal: at least 5 x the {model_name} step.",
        "",
        f"| token set in | policy | images/s | x the {model_name} step |",
        "|---|---|---|---|",
        *[f"| {r['memory']} memory | {r['policy']} | {r['rate']:,.0f} | {r['rate'] / classify:.1f} |"
          for r in loader_rows],
        "",
        f"Training step, batch {step_batch}, {CROP} x {CROP} token crops ({CROP // 2} x {CROP // 2} patches); "
        "forward + backward FLOPs by torch's FlopCounterMode.",
        "",
        "| model | GFLOP/image | images/s | achieved TFLOP/s |" + (" MFU |" if peak else ""),
        "|---|---|---|---|" + ("---|" if peak else ""),
    ]
    for r in step_rows:
        lines.append(f"| {r['model']} | {r['flops'] / 1e9:.1f} | {r['rate']:,.1f} | {r['tflops']:.1f} |"
                     + (f" {r['mfu']:.1%} |" if peak else ""))
    slowest = min(loader_rows, key=lambda r: r["rate"])
    lines += ["", f"Slowest loader ({slowest['memory']} memory, policy {slowest['policy']}) / {model_name} step: "
                  f"{slowest['rate'] / classify:.1f} x."]
    report(f"GPU data path ({device.type}) (benchmarks/gpu_data_path.py)", "\n".join(lines), args.write)
    if args.write:  # the rows chapter 9 plots
        stamp = {"device": torch.cuda.get_device_name(device) if cuda else "cpu", "date": date.today().isoformat(),
                 "num_images": num_images}
        rows = [{"what": "loader", "memory": r["memory"], "policy": r["policy"], "batch": batch,
                 "images_per_s": round(r["rate"], 1)} | stamp for r in loader_rows]
        rows += [{"what": "step", "model": r["model"], "batch": step_batch, "images_per_s": round(r["rate"], 1),
                  "gflops_per_image": round(r["flops"] / 1e9, 2),
                  "mfu": round(r["mfu"], 4) if peak else ""} | stamp for r in step_rows]
        write_csv(rows, RESULTS_CSV, CSV_COLUMNS)


if __name__ == "__main__":
    main()
