"""Training throughput on tokens and on pixels: the step, the data pipeline's share of it, and MTM.

    python -m benchmarks.training_throughput [--device cpu|cuda] [--compile] [--threads N] [--write]

Measured side by side in one run, on the same Shapes images:

1. The model step (forward, backward, AdamW) of the token ViT and of the pixel ViT with the same
   body (`tvit_*` / `pvit_*`, micro and tiny): 14 x 14 token crops against 56 x 56 pixel crops,
   7 x 7 patches either way, so the two differ only in the stem. The MTM pre-training step of
   `mtm_*` on the same token crops. FLOPs per image are counted once with torch's
   `FlopCounterMode` (attention through the math kernel, so that it is counted); on CUDA they give
   the model FLOP utilisation (MFU) against `--peak-tflops` (989: H100 dense bf16).
2. The training engine's own loop (`seitpp.engine.train`, micro models): its logged images/s and
   `data_share`, the share of each step spent on indexing the in-memory split and running the
   batch transform. Token path with the plain policy ("none": random-resized crop + CutMix) and
   with SeiT++'s ("seitpp": Emb-Noise / ColorAdapt, TokenAdapt half, Mixup / CutMix); the pixel
   path (uint8 images in memory, crop, flip, Mixup / CutMix); MTM pre-training (crops).

On CUDA the steps run under bf16 autocast, as the engine runs them; `--compile` compiles the
models first (both in the step measurement and in the engine). The engine measures data time
without a device synchronisation, so on CUDA its `data_share` counts the time to launch the
transform's kernels, which is what holds the training step back when they overlap.
"""
from __future__ import annotations

import argparse

import torch

from benchmarks.common import report
from seitpp.augment import REFERENCE_DIR as TOKENADAPT_DIR
from seitpp.augment import TokenAdapt, centre_crop, pixels_to_input
from seitpp.data import SHAPE_CLASSES, render_shapes
from seitpp.device import default_device
from seitpp.engine import (
    flops_per_image,
    per_second,
    preset,
    step_fn,
    train,
    with_overrides,
)
from seitpp.models import PixelViTConfig, create_model
from seitpp.tokenizers import VQTokenizer
from seitpp.tokens import Split

CROP = 14  # tokens; 7 x 7 patches of 2 x 2 tokens
PIXEL_CROP = CROP * PixelViTConfig().patch_size // 2  # 56 pixels: 7 x 7 patches of 8 x 8 pixels
NUM_CLASSES = len(SHAPE_CLASSES)


def model_steps(images: torch.Tensor, ids: torch.Tensor, labels: torch.Tensor, sizes: list[str],
                device: torch.device, seconds: float, compile: bool) -> list[dict]:
    """Rows of (model, input, FLOPs per image, images/s) for the token, pixel and MTM steps."""
    tokens = centre_crop(ids, CROP).long().to(device)  # (B, 14, 14)
    pixels = centre_crop(pixels_to_input(images), PIXEL_CROP).to(device)  # (B, 3, 56, 56)
    y = labels.to(device)
    rows = []
    for size in sizes:
        jobs = [
            (f"tvit_{size}", f"{CROP}x{CROP} tokens", create_model(f"tvit_{size}", num_classes=NUM_CLASSES,
                                                                   grid_size=CROP), tokens, y),
            (f"pvit_{size}", f"{PIXEL_CROP}x{PIXEL_CROP} pixels", create_model(f"pvit_{size}", num_classes=NUM_CLASSES),
             pixels, y),
            (f"mtm_{size}", f"{CROP}x{CROP} tokens, MTM", create_model(f"mtm_{size}", grid_size=CROP), tokens, None),
        ]
        for name, what, model, x, target in jobs:
            model = model.to(device).train()
            flops = flops_per_image(model, x, target)
            rate = per_second(step_fn(model, x, target, device, compile), seconds)
            rows.append({"model": name, "input": what, "flops": flops, "rate": rate})
            print(f"  {name:<12} {what:<22} {rate:>9,.1f} images/s", flush=True)
    return rows


def engine_rates(runs: dict[str, tuple], device: torch.device, steps: int) -> list[dict]:
    """Train each (config, data, tokenadapt) for one epoch of 2 x `steps` steps; read the second log row (warm)."""
    rows = []
    for name, (config, data, tokenadapt) in runs.items():
        if len(data) // config.optim.batch_size != 2 * steps:
            raise ValueError(f"{name}: {len(data)} samples are not {2 * steps} batches of {config.optim.batch_size}")
        config = with_overrides(config, dict(epochs=1, warmup_epochs=0, log_every=steps))
        result = train(config, data, tokenadapt=tokenadapt, device=device, progress=False)
        row = result.history[-1]
        rows.append({"path": name, "model": config.model.name, "rate": row["images_per_s"],
                     "data_share": row["data_share"]})
        print(f"  {name:<48} {row['images_per_s']:>9,.1f} images/s, data {row['data_share']:.1%}", flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default=str(default_device()),
                        help="default: SEITPP_DEVICE if set, else cuda if there is a GPU, else cpu")
    parser.add_argument("--batch", type=int, default=None, help="default: 64 on the CPU, 256 on CUDA")
    parser.add_argument("--sizes", default=None, help="comma-separated model sizes; default micro,tiny on the CPU, "
                                                         "micro,tiny,small,base on CUDA")
    parser.add_argument("--seconds", type=float, default=3.0, help="minimum timing per step measurement")
    parser.add_argument("--engine-steps", type=int, default=16, help="steps per timed engine window")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    parser.add_argument("--compile", action="store_true", help="torch.compile the models")
    parser.add_argument("--peak-tflops", type=float, default=989.0, help="device peak for MFU (H100 dense bf16: 989)")
    parser.add_argument("--write", action="store_true", help="write the results into BENCHMARKS.md")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    cuda = device.type == "cuda"
    B = args.batch or (256 if cuda else 64)
    sizes = (args.sizes or ("micro,tiny,small,base" if cuda else "micro,tiny")).split(",")

    tokenizer = VQTokenizer.load()
    engine_batch = preset("cpu-tiny", "finetune").optim.batch_size
    num_images = max(2 * args.engine_steps * engine_batch, B)  # one engine epoch: two windows of engine_steps
    rendered = render_shapes(num_images, split="train")
    images = torch.from_numpy(rendered.images)  # (N, 64, 64, 3) uint8
    ids = tokenizer.tokenize_many(rendered.images)  # (N, 16, 16)
    labels = torch.from_numpy(rendered.labels).long()

    print(f"model steps, batch {B}, {device.type}:")
    steps = model_steps(images[:B], ids[:B], labels[:B], sizes, device, args.seconds, args.compile)

    n = 2 * args.engine_steps * engine_batch
    token_data = Split(ids[:n], labels[:n], NUM_CLASSES, tokenizer.config.codebook_size, "shapes (tokens)",
                       tokenizer.fingerprint())
    pixel_data = Split(images[:n], labels[:n], NUM_CLASSES, None, "shapes (pixels)", kind="pixels")
    finetune = with_overrides(preset("cpu-tiny", "finetune"), dict(compile=args.compile))  # batch engine_batch
    tokenadapt = TokenAdapt.load(tokenizer=tokenizer) if TOKENADAPT_DIR.is_dir() else None
    seitpp_name = "tokens, policy seitpp" + (" (reference TokenAdapt)" if tokenadapt else " (no TokenAdapt: naive warps)")
    runs = {
        "tokens, policy none (random-resized crop + CutMix)": (with_overrides(finetune, dict(policy="none")),
                                                               token_data, None),
        seitpp_name: (finetune, token_data, tokenadapt),
        "pixels (crop, flip, Mixup / CutMix)": (with_overrides(finetune, dict(model="pvit_micro")), pixel_data, None),
        "tokens, MTM pre-training (crops)": (with_overrides(preset("cpu-tiny", "pretrain"), dict(compile=args.compile)),
                                             token_data, None),
    }
    print(f"engine loop, {args.engine_steps} steps per window:")
    engine = engine_rates(runs, device, args.engine_steps)

    precision = "bf16 autocast" if cuda else "fp32"
    threads = "" if cuda else f", {torch.get_num_threads()} CPU thread(s)"
    rate = {row["model"]: row["rate"] for row in steps}
    lines = [
        f"Shapes images (64 x 64) and their reference tokens (16 x 16, K = 391); {device.type}, {precision}"
        f"{', torch.compile' if args.compile else ''}{threads}.",
        "",
        f"Training step (forward, backward, AdamW), batch {B}; the token and pixel ViTs of one size share the body "
        f"and see 7 x 7 patches. FLOPs counted by torch's FlopCounterMode (forward + backward).",
        "",
        "| model | input | GFLOP/image | images/s | achieved TFLOP/s |" + (" MFU |" if cuda else ""),
        "|---|---|---|---|---|" + ("---|" if cuda else ""),
    ]
    for row in steps:
        achieved = row["rate"] * row["flops"] / 1e12
        lines.append(f"| {row['model']} | {row['input']} | {row['flops'] / 1e9:.3f} | {row['rate']:,.1f} | "
                     f"{achieved:.3f} |" + (f" {achieved / args.peak_tflops:.1%} |" if cuda else ""))
    lines += ["", "Token step / pixel step, images/s: " + ", ".join(
        f"{size} {rate[f'tvit_{size}'] / rate[f'pvit_{size}']:.2f}" for size in sizes) +
        "; MTM step / token classification step: " + ", ".join(
        f"{size} {rate[f'mtm_{size}'] / rate[f'tvit_{size}']:.2f}" for size in sizes) + "."]
    lines += [
        "",
        f"The training engine's own loop (`seitpp.engine.train`, micro models, batch {finetune.optim.batch_size}, "
        f"a warm window of {args.engine_steps} steps): images/s and the share of the step spent on the data "
        f"(index + batch transform; goal under 5% on the token path with the plain policy).",
        "",
        "| path | model | images/s | data share |",
        "|---|---|---|---|",
        *[f"| {row['path']} | {row['model']} | {row['rate']:,.1f} | {row['data_share']:.1%} |" for row in engine],
    ]
    report(f"Training throughput ({device.type}) (benchmarks/training_throughput.py)", "\n".join(lines), args.write)


if __name__ == "__main__":
    main()
