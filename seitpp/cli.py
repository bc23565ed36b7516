"""The command line: `python -m seitpp <command>`. Each command is a thin shell over the package."""
from __future__ import annotations

import argparse
import json
import shlex
import math
import os
import platform
import sys
import time
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path

import torch

from seitpp.augment.tokenadapt import TokenAdapt, agreement, probe_thetas
from seitpp.augment.tokenadapt_train import PRESETS as TOKENADAPT_PRESETS
from seitpp.augment.tokenadapt_train import preset as tokenadapt_preset
from seitpp.augment.tokenadapt_train import train_tokenadapt
from seitpp.checkpoint import CHECKPOINT_FILE
from seitpp.data.images import ImageFolderError, UnreadableImageError, images_to_tensor
from seitpp.data.shapes import render_shapes
from seitpp.device import DEVICE_VARIABLE, resolve_device
from seitpp.engine.config import PRESETS as TRAIN_PRESETS
from seitpp.engine.config import TrainConfig, with_overrides
from seitpp.engine.config import preset as train_preset
from seitpp.engine.distributed import setup_distributed
from seitpp.engine.loop import evaluate_checkpoint, load_model, train
from seitpp.errors import TrainingDiverged, TrainSetupError
from seitpp.experiments.beyond import PRESETS as BEYOND_PRESETS
from seitpp.experiments.beyond import Beyond, beyond_preset
from seitpp.experiments.reproduce import SWEEPS, Reproduce, sweep_preset
from seitpp.experiments.sweep import Experiment, with_fields
from seitpp.files import FileProblem, atomic_path
from seitpp.models.cnn import reads_pixels
from seitpp.tokenizers.train import PRESETS, preset, train_tokenizer
from seitpp.tokenizers.vq import (
    REFERENCE_DIR,
    Codebook,
    TokenizerReport,
    VQTokenizer,
    evaluate_tokenizer,
    reduce_codebook,
)
from seitpp.tokenizers.vqgan import load_vqgan
from seitpp.tokens.coder import TokenStoreError
from seitpp.tokens.seit_format import (
    TokenFileError,
    read_seit_split,
    seit_split_files,
    write_seit_split,
)
from seitpp.tokens.split import Split, load_split
from seitpp.tokens.store import TokenStore, write_store
from seitpp.tokens.tokenize import folder_source, shapes_source, tokenize_dataset

PROVENANCE_FILE = "provenance.json"


def machine_description(device: str) -> dict:
    """What ran a command: enough to judge a timing or reproduce a result."""
    info = {"platform": platform.platform(), "cpus": os.cpu_count(), "python": platform.python_version(),
            "torch": torch.__version__, "torch_threads": torch.get_num_threads(), "device": device}
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
    write_provenance(out, args, started, f"{args.eval_images} images of the embedded dataset's test split (seed 0)",
                     metrics)


def write_provenance(out: Path, args: argparse.Namespace, started: float, evaluation: str, metrics: dict,
                     echo: bool = True) -> None:
    """`provenance.json` beside an artefact: the command, preset, machine, date and what it measured."""
    provenance = {
        "command": "python -m seitpp " + shlex.join(args.argv),  # quoted: it runs as it is copied
        "preset": args.preset,
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": machine_description(args.device),
        "wall_seconds": round(time.perf_counter() - started, 1),
        "evaluation": evaluation,
        "metrics": metrics,
    }
    with atomic_path(out / PROVENANCE_FILE) as tmp:
        tmp.write_text(json.dumps(provenance, indent=2))
    if echo:
        print(json.dumps(provenance, indent=2))


def cmd_train_tokenadapt(args: argparse.Namespace) -> None:
    cfg = tokenadapt_preset(args.preset)
    if args.steps:
        cfg = replace(cfg, steps=args.steps)
    out = Path(args.out)
    started = time.perf_counter()
    tokenizer = VQTokenizer.load(args.tokenizer, device=args.device)
    print(f"rendering {cfg.num_train_images} training images of the embedded dataset ...")
    train = render_shapes(cfg.num_train_images, resolution=tokenizer.config.resolution, split="train", progress=True)
    test = images_to_tensor(render_shapes(args.eval_images, resolution=tokenizer.config.resolution, split="test").images)
    model, _ = train_tokenadapt(cfg, tokenizer, train.images, test[:256], out_dir=out, device=args.device)
    metrics = {name: {k: round(v, 4) for k, v in agreement(model, tokenizer, test, theta, grid).items()}
               for name, (theta, grid) in probe_thetas(len(test), cfg.geometry, cfg.out_grid).items()}
    (out / CHECKPOINT_FILE).unlink(missing_ok=True)
    write_provenance(out, args, started, f"share of ids equal to T(A(x)) on {args.eval_images} images of the "
                     "embedded dataset's test split", metrics)


def cmd_tokenize(args: argparse.Namespace) -> None:
    if args.vqgan:  # a taming-transformers checkpoint instead of one of ours
        tokenizer = load_vqgan(args.vqgan, device=args.device)
    else:
        tokenizer = VQTokenizer.load(args.tokenizer, device=args.device)
    resolution = args.resolution or tokenizer.config.resolution
    if args.source == "shapes":
        source = shapes_source(args.num_images, split=args.split, resolution=resolution)
    else:
        source = folder_source(args.source, resolution=resolution, skip_unreadable=args.skip_unreadable)
    out = tokenize_dataset(source, tokenizer, args.out, batch_size=args.batch_size)
    print_info(TokenStore.open(out))


def print_info(store: TokenStore) -> None:
    h, w = store.grid
    bytes_per_image = store.file_size / len(store)
    print(f"{store.path}\n"
          f"  images           {len(store)}\n"
          f"  classes          {store.num_classes}\n"
          f"  grid             {h} x {w} tokens\n"
          f"  codebook         {store.codebook_size} codes (log2 K = {math.log2(store.codebook_size):.2f} bits)\n"
          f"  bytes per image  {bytes_per_image:.1f} (file {store.file_size} bytes)\n"
          f"  bits per token   {8 * store.file_size / (len(store) * h * w):.3f} (whole file), "
          f"{store.bits_per_token():.3f} (coded ids)\n"
          f"  tokenizer        {store.tokenizer_hash}")


def cmd_info(args: argparse.Namespace) -> None:
    print_info(TokenStore.open(args.store))


def cmd_convert(args: argparse.Namespace) -> None:
    src, dst = Path(args.source), Path(args.destination)
    if src.is_dir():  # SeiT's files -> our store
        split = read_seit_split(src, args.split, codebook_size=args.codebook_size)
        side = math.isqrt(split.ids.shape[1])
        if side * side != split.ids.shape[1]:
            raise SystemExit(f"{src}: images of {split.ids.shape[1]} tokens are not square grids")
        write_store(dst, split.ids.reshape(-1, side, side), split.labels, codebook_size=args.codebook_size,
                    num_classes=int(split.labels.max()) + 1, tokenizer_hash=args.tokenizer_hash,
                    metadata={"converted_from": str(src), "split": args.split})
        print_info(TokenStore.open(dst))
    else:  # our store -> SeiT's files
        store = TokenStore.open(src)
        write_seit_split(dst, args.split, store.read_all(), store.labels, codebook_size=store.codebook_size)
        print(f"wrote {', '.join(str(p) for p in seit_split_files(dst, args.split))}")


def read_data(args: argparse.Namespace, spec: str, split: str, folder_split: str | None, config: TrainConfig,
              tokenizer: VQTokenizer | None):
    """A command's --store / --val for `config`'s task, as a `Split`: masks for segmentation, else labels;
    images for a pixel model (pvit_*, cnn_*), else token ids. `split` is the embedded dataset's ("train", "val")
    for shapes:N; `folder_split` a segmentation folder's subfolder (its --split / --val-split)."""
    kind = "pixels" if reads_pixels(config.model) else "tokens"
    if config.task == "segment":
        shapes = spec.startswith("shapes:")
        return load_split(spec, split if shapes else folder_split, kind, "masks", tokenizer, args.num_classes,
                          args.ignore_index, args.resolution)
    return load_split(spec, split, kind, "labels", tokenizer, resolution=getattr(args, "resolution", None) or 64)


def cmd_train(args: argparse.Namespace) -> None:
    """`pretrain`, `finetune` and `segment`: one engine (seitpp.engine); under torchrun, one process per device."""

    cfg = with_overrides(train_preset(args.preset, args.task), args.set)
    rank, world = setup_distributed(args.device)
    tokenizer = VQTokenizer.load(args.tokenizer) if args.tokenizer else None
    data = read_data(args, args.store, "train", getattr(args, "split", None), cfg, tokenizer)
    val = read_data(args, args.val, "val", getattr(args, "val_split", None), cfg, tokenizer) if args.val else None
    tokenadapt = TokenAdapt.load(args.tokenadapt, tokenizer) if getattr(args, "tokenadapt", None) else None
    try:
        codebook = Codebook.from_seit(args.codebook).vectors().detach() if args.codebook else None
    except ValueError as err:  # it names the file and the problem
        raise TrainSetupError(str(err)) from None
    result = train(cfg, data, val, args.out, tokenizer=tokenizer, tokenadapt=tokenadapt, codebook=codebook,
                   init=getattr(args, "init", None), device=args.device)
    if rank == 0:
        print_result(cfg, result, data, world, args.out)


def print_result(cfg: TrainConfig, result, data, world: int, out: str) -> None:
    """One line: the run's steps and its final validation scores, as `finetune` and `baseline` print them."""
    names = {"val_loss": "val loss", "val_top1": "val top-1", "val_miou": "val mIoU", "val_pixel_acc": "val pixels"}
    scores = "".join(f", {names[k]} {v:.4f}" for k, v in result.metrics.items() if k in names)
    print(f"{cfg.task} {cfg.model}: {result.steps} steps on {len(data)} samples x {world} process(es)"
          f"{scores}; checkpoint and history.csv in {out}")


BASELINE_PRESETS = ("cpu-cnn", "gpu-cnn")


def read_images(spec: str, split: str, args: argparse.Namespace) -> Split:
    """`baseline`'s --data / --val: an ImageFolder directory or shapes:N, as images."""
    if Path(spec).is_dir():
        return Split.from_image_folder(spec, args.resolution, skip_unreadable=args.skip_unreadable)
    return load_split(spec, split, "pixels", resolution=args.resolution)


def cmd_baseline(args: argparse.Namespace) -> None:
    """A pixel model (the CNN of the preset) on the images of an ImageFolder, through the same engine as
    `finetune`, so that its val top-1 can be read beside the token ViT's."""
    cfg = with_overrides(train_preset(args.preset, "finetune"), args.set)
    if not reads_pixels(cfg.model):
        raise TrainSetupError(f"baseline trains a pixel model (cnn_*, pvit_*), got model {cfg.model!r}; "
                              "use finetune for token models")
    rank, world = setup_distributed(args.device)
    data = read_images(args.store, "train", args)
    val = read_images(args.val, "val", args) if args.val else None
    if val is not None and None not in (data.classes, val.classes) and val.classes != data.classes:
        raise TrainSetupError(f"{val.source}: classes {list(val.classes)} differ from the training folder's "
                              f"({data.source}: {list(data.classes)}): a label would mean another class")
    result = train(cfg, data, val, args.out, device=args.device)
    if rank == 0:
        print_result(cfg, result, data, world, args.out)


def cmd_evaluate(args: argparse.Namespace) -> None:

    _, cfg = load_model(args.checkpoint)
    tokenizer = VQTokenizer.load(args.tokenizer) if args.tokenizer else None
    data = read_data(args, args.store, "val", args.split, cfg, tokenizer)
    metrics = evaluate_checkpoint(args.checkpoint, data, args.device)
    print(json.dumps({"checkpoint": args.checkpoint, "data": data.source, "samples": len(data)} | metrics, indent=2))


def run_sweep_command(args: argparse.Namespace, experiment: Experiment, evaluation: str) -> None:
    """A resumable sweep (`reproduce`, `beyond`), with the provenance rewritten after every finished
    cell, so an interrupted sweep says how far it got."""
    out = Path(args.out)
    started = time.perf_counter()

    def record(rows: list[dict], total: int) -> None:
        write_provenance(out, args, started, evaluation,
                         {"cells_done": len(rows), "cells_total": total, "complete": len(rows) == total,
                          "cell_seconds": round(sum(float(r["seconds"]) for r in rows), 1),
                          "groups": len(experiment.summarize(rows)), "sweep": experiment.settings}, echo=False)

    previous = os.environ.get(DEVICE_VARIABLE)
    os.environ[DEVICE_VARIABLE] = args.device  # the cells run there, in this process or in spawned workers
    try:
        experiment.run(out, workers=args.workers or None, on_progress=record)
    finally:
        if previous is None:
            os.environ.pop(DEVICE_VARIABLE)
        else:
            os.environ[DEVICE_VARIABLE] = previous
    print(json.dumps(json.loads((out / PROVENANCE_FILE).read_text()), indent=2))


def cmd_reproduce(args: argparse.Namespace) -> None:
    sweep = with_fields(sweep_preset(args.preset), args.set)
    run_sweep_command(args, Reproduce(sweep), f"{sweep.test_images} images of the embedded dataset's "
                      f"{sweep.score_split} split ({sweep.classes}), clean and shifted (see "
                      "seitpp.experiments.reproduce); mean over seeds in summary.csv")


def cmd_beyond(args: argparse.Namespace) -> None:
    preset = beyond_preset(args.preset)
    run_sweep_command(args, Beyond(preset), f"{preset.test_images} images of the embedded "
                      "dataset's test split (see seitpp.experiments.beyond); mean over seeds in summary.csv")


def add_device_argument(p: argparse.ArgumentParser, what: str = "where it runs") -> None:
    """`--device`, resolved in `main` by `seitpp.device.resolve_device` (the one choice of the package)."""
    p.add_argument("--device", help=f"{what}: cpu, cuda or cuda:N (default: the environment variable "
                                    f"{DEVICE_VARIABLE} if set, else cuda if there is a GPU, else cpu)")


def add_train_arguments(p: argparse.ArgumentParser, task: str) -> None:
    p.add_argument("--store", "--data", required=True,
                   help="a folder of images/ and annotations/ (ADE20k's layout), or shapes:N (N images of the "
                        "embedded dataset and their masks), tokenized on the fly" if task == "segment" else
                        "a .tokens file, or shapes:N (N images of the embedded dataset, tokenized on the fly)")
    p.add_argument("--val", help="validation data, as --store (shapes:N takes the val split)")
    p.add_argument("--preset", default="cpu-tiny", choices=sorted(TRAIN_PRESETS[task]))
    p.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE",
                   help="override a config field (repeatable), e.g. --set epochs=3 --set lr=1e-3")
    p.add_argument("--out", required=True, help="output directory; an interrupted run there is resumed")
    p.add_argument("--tokenizer", help="the tokenizer that made the tokens (default: the reference)")
    p.add_argument("--codebook", help="instead of --tokenizer: SeiT's codebook.ckpt, the (K, 32) code vectors of "
                                      "its released ImageNet tokens")
    add_device_argument(p)
    p.set_defaults(run=cmd_train, task=task)


def add_segmentation_arguments(p: argparse.ArgumentParser, splits: tuple[str, ...] = ("--split",)) -> None:
    """How a folder of image/mask pairs is read (`seitpp.tokens.Split.from_folder`)."""
    p.add_argument("--num-classes", type=int, help="for a folder: classes, background included (ADE20k: 151)")
    for flag in splits:
        p.add_argument(flag, help="for a folder: the subfolder of images/ and annotations/ (ADE20k: training, "
                                  "validation)")
    p.add_argument("--ignore-index", type=int, help="for a folder: the mask value of unlabelled pixels (ADE20k: none)")
    p.add_argument("--resolution", type=int, default=64, help="for a folder: the side images and masks are resized to")


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
    add_device_argument(p)
    p.set_defaults(run=cmd_train_tokenizer)

    p = commands.add_parser("train-tokenadapt", help="train TokenAdapt for a tokenizer on the embedded dataset (resumable)")
    p.add_argument("--preset", default="cpu-ref", choices=sorted(TOKENADAPT_PRESETS))
    p.add_argument("--out", required=True, help="output directory; an interrupted run there is resumed")
    p.add_argument("--tokenizer", default=str(REFERENCE_DIR), help="a saved tokenizer (default: the reference)")
    p.add_argument("--eval-images", type=int, default=1_000, help="held-out test images for the agreement table")
    p.add_argument("--steps", type=int, default=0, help="override the preset's number of steps (0: keep it)")
    add_device_argument(p)
    p.set_defaults(run=cmd_train_tokenadapt)

    p = commands.add_parser("tokenize", help="images (Shapes or an ImageFolder tree) -> token store (resumable)")
    p.add_argument("--source", default="shapes", help="'shapes' (the embedded dataset) or an ImageFolder directory")
    p.add_argument("--out", required=True, help="the .tokens file to write; an interrupted run is resumed")
    p.add_argument("--split", default="train", choices=["train", "val", "test"], help="Shapes split")
    p.add_argument("--num-images", type=int, default=10_000, help="Shapes images to tokenize")
    p.add_argument("--tokenizer", default=str(REFERENCE_DIR), help="a saved tokenizer (default: the reference)")
    p.add_argument("--vqgan", help="tokenize with a taming-transformers VQGAN checkpoint (.ckpt) instead")
    p.add_argument("--resolution", type=int, default=0, help="image side in pixels (default: the tokenizer's)")
    p.add_argument("--skip-unreadable", action="store_true", help="skip (and count) unreadable images")
    p.add_argument("--batch-size", type=int, default=256)
    add_device_argument(p)
    p.set_defaults(run=cmd_tokenize)

    p = commands.add_parser("info", help="describe a token store")
    p.add_argument("store")
    p.set_defaults(run=cmd_info)

    p = commands.add_parser("convert", help="between our .tokens store and SeiT's release files")
    p.add_argument("source", help="a .tokens file, or a directory with SeiT's <split>-token.* files")
    p.add_argument("destination", help="a directory for SeiT's files, or a .tokens file")
    p.add_argument("--split", default="train", help="the SeiT split name (file prefix)")
    p.add_argument("--codebook-size", type=int, default=391, help="K of SeiT's tokens (when reading them)")
    p.add_argument("--tokenizer-hash", default="seit-release", help="recorded in the store made from SeiT's files")
    p.set_defaults(run=cmd_convert)

    p = commands.add_parser("pretrain", help="masked token modeling pre-training (resumable; torchrun for DDP)")
    add_train_arguments(p, "pretrain")

    p = commands.add_parser("finetune", help="classification on tokens or pixels (resumable; torchrun for DDP)")
    add_train_arguments(p, "finetune")
    p.add_argument("--init", help="an MTM pre-training checkpoint (file or run directory) for the encoder")
    p.add_argument("--tokenadapt", help="a saved TokenAdapt for the seitpp policy (default: naive grid warps)")

    p = commands.add_parser("baseline", help="a pixel CNN on the images of an ImageFolder (or shapes:N), to read "
                            "beside a token ViT's finetune (resumable; torchrun for DDP)")
    p.add_argument("--data", "--store", dest="store", required=True,
                   help="an ImageFolder directory (root/<class>/<images>), or shapes:N (N images of the embedded "
                        "dataset)")
    p.add_argument("--val", help="validation images, as --data (shapes:N takes the val split)")
    p.add_argument("--preset", default="cpu-cnn", choices=BASELINE_PRESETS,
                   help="cpu-cnn: cnn_micro scheduled as finetune's cpu-tiny; gpu-cnn: cnn_small as gpu-small")
    p.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE",
                   help="override a config field (repeatable), e.g. --set epochs=3 --set model=cnn_tiny")
    p.add_argument("--out", required=True, help="output directory; an interrupted run there is resumed")
    p.add_argument("--resolution", type=int, default=64,
                   help="the side images are resized to: that of the tokenizer that made the tokens to compare "
                        "with (the reference: 64), as tokenize resizes them")
    p.add_argument("--skip-unreadable", action="store_true", help="skip (and count) unreadable images")
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.set_defaults(run=cmd_baseline)

    p = commands.add_parser("segment", help="semantic segmentation on tokens: shapes:N or image/mask folders in "
                            "ADE20k's layout (resumable; torchrun for DDP)")
    add_train_arguments(p, "segment")
    p.add_argument("--init", help="an MTM pre-training checkpoint (file or run directory) for the encoder")
    p.add_argument("--tokenadapt", help="a saved TokenAdapt for the seitpp policy (default: naive grid warps)")
    add_segmentation_arguments(p, ("--split", "--val-split"))

    p = commands.add_parser("reproduce", help="the paper's findings: budgets, ablation, robustness, pixel "
                            "baselines, all seeds (resumable)")
    p.add_argument("--preset", default="cpu", choices=sorted(SWEEPS),
                   help="cpu: about an hour on 2 cores; gpu: one GPU; smoke: seconds, for tests")
    p.add_argument("--out", required=True, help="output directory: results.csv, summary.csv, provenance.json")
    p.add_argument("--workers", type=int, default=0, help="parallel cells (default: the preset's)")
    p.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE",
                   help="override a field of the sweep preset (repeatable), e.g. --set classes=objects "
                        "--set budgets='(1.0,)'; the provenance records the preset as run")
    add_device_argument(p, "where the cells run, recorded in the provenance")
    p.set_defaults(run=cmd_reproduce)

    p = commands.add_parser("beyond", help="chapter 8: segmentation, a second tokenizer and DCT inputs, all seeds "
                            "(resumable)")
    p.add_argument("--preset", default="cpu", choices=sorted(BEYOND_PRESETS),
                   help="cpu: about 30 minutes on 2 cores; smoke: seconds, for tests")
    p.add_argument("--out", required=True, help="output directory: results.csv, summary.csv, examples.npz, "
                   "provenance.json")
    p.add_argument("--workers", type=int, default=0, help="parallel jobs (default: the preset's)")
    add_device_argument(p, "where the jobs run, recorded in the provenance")
    p.set_defaults(run=cmd_beyond)

    p = commands.add_parser("evaluate", help="top-1 of a fine-tuned checkpoint on centre crops, mIoU of a segmenter")
    p.add_argument("--checkpoint", required=True, help="a training checkpoint (file or run directory)")
    p.add_argument("--store", "--data", required=True, help="a .tokens file, or shapes:N")
    p.add_argument("--tokenizer", help="for shapes:N, the tokenizer to use (default: the reference)")
    add_device_argument(p)
    add_segmentation_arguments(p)
    p.set_defaults(run=cmd_evaluate)
    return parser


def main(argv: list[str] | None = None) -> None:
    parser = build_parser()
    args = parser.parse_args(argv)
    args.argv = sys.argv[1:] if argv is None else argv  # for provenance: the command as typed
    if hasattr(args, "device"):
        try:
            args.device = str(resolve_device(args.device))
        except ValueError as err:  # it names the flag's value or SEITPP_DEVICE's
            parser.error(str(err))
    try:
        args.run(args)
    except (FileProblem, TokenStoreError, TokenFileError, ImageFolderError, UnreadableImageError, FileNotFoundError,
            FileExistsError, TrainSetupError, TrainingDiverged) as err:
        parser.exit(1, f"error: {err}\n")  # bad input: the message names the file, a traceback adds nothing
    except KeyboardInterrupt:  # Ctrl-C: what was saved stays, and the shell's convention for SIGINT is 130
        parser.exit(130, "interrupted; run the same command again to resume (tokenize, training and the sweeps "
                         "continue from what they saved)\n")
