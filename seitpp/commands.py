"""What each command of `python -m seitpp` does: `seitpp.cli` reads the arguments (without importing
torch), then `run` resolves the device and calls the command's function here, turning the package's
errors about bad input into one line and exit status 1 (Ctrl-C: 130)."""
from __future__ import annotations

import argparse
import csv
import json
import math
import os
import platform
import shlex
import sys
import time
import warnings
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path

import torch

from seitpp.augment.tokenadapt import TokenAdapt, agreement, probe_thetas
from seitpp.augment.tokenadapt_train import preset as tokenadapt_preset
from seitpp.augment.tokenadapt_train import train_tokenadapt
from seitpp.checkpoint import CHECKPOINT_FILE
from seitpp.data.images import ImageFolderError, UnreadableImageError, image_files, images_to_tensor
from seitpp.data.shapes import render_shapes
from seitpp import DEVICE_VARIABLE
from seitpp.device import resolve_device
from seitpp.engine.config import PRETRAINED, TrainConfig, with_overrides
from seitpp.engine.config import preset as train_preset
from seitpp.engine.distributed import setup_distributed
from seitpp.engine.loop import evaluate_checkpoint, load_model, train
from seitpp.engine.predict import Predictor
from seitpp.errors import TrainingDiverged, TrainSetupError
from seitpp.experiments.beyond import Beyond, beyond_preset
from seitpp.experiments.reproduce import Reproduce, sweep_preset
from seitpp.experiments.scorecard import scorecard, summary_box
from seitpp.experiments.sweep import Experiment, with_fields
from seitpp.files import ARTEFACTS, FileProblem, atomic_path
from seitpp.models.cnn import reads_pixels
from seitpp.tokenizers.train import preset, train_tokenizer
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
    tokenizer = VQTokenizer.load(args.tokenizer or REFERENCE_DIR, device=args.device)
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
        tokenizer = VQTokenizer.load(args.tokenizer or REFERENCE_DIR, device=args.device)
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
    names = store.metadata.get("classes")  # as `tokenize` records them
    print(f"{store.path}\n"
          f"  images           {len(store)}\n"
          f"  classes          {store.num_classes}" + (f": {', '.join(map(str, names))}" if names else "") + "\n"
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
    kind = "pixels" if reads_pixels(config.model.name) else "tokens"
    if config.task == "segment":
        shapes = spec.startswith("shapes:")
        return load_split(spec, split if shapes else folder_split, kind, "masks", tokenizer, args.num_classes,
                          args.ignore_index, args.resolution)
    return load_split(spec, split, kind, "labels", tokenizer, resolution=getattr(args, "resolution", None) or 64)


def choose_init(args: argparse.Namespace, cfg: TrainConfig, data: Split) -> tuple[Path | str | None, TrainConfig]:
    """The encoder a run starts from and its config: --init as given ("none": from scratch); without it, for
    `finetune`, the preset's committed encoder (`PRETRAINED`) with its overrides under the user's --set, where
    it fits: the preset's own model, on tokens of the reference tokenizer the encoder was pre-trained on."""
    given = getattr(args, "init", None)
    if given is not None or args.task != "finetune" or args.preset not in PRETRAINED:
        return (None if given == "none" else given), cfg
    name, overrides = PRETRAINED[args.preset]
    base = train_preset(args.preset, args.task)
    fits = (cfg.model == base.model and data.kind == "tokens"
            and data.tokenizer_hash == VQTokenizer.load().fingerprint())
    if not fits:
        print(f"--init not given: training from scratch (the preset's encoder, seitpp/artefacts/{name}, fits only "
              "its own model on tokens of the reference tokenizer)")
        return None, cfg
    settings = ", ".join(f"{k}={v}" for k, v in overrides.items())
    print(f"starting from the committed MTM encoder seitpp/artefacts/{name} ({settings}); --init none trains from "
          "scratch")
    return ARTEFACTS / name, with_overrides(with_overrides(base, overrides), args.set)


def cmd_train(args: argparse.Namespace) -> None:
    """`pretrain`, `finetune` and `segment`: one engine (seitpp.engine); under torchrun, one process per device."""

    cfg = with_overrides(train_preset(args.preset, args.task), args.set)
    rank, world = setup_distributed(args.device)
    tokenizer = VQTokenizer.load(args.tokenizer) if args.tokenizer else None
    data = read_data(args, args.store, "train", getattr(args, "split", None), cfg, tokenizer)
    init, cfg = choose_init(args, cfg, data)
    val = read_data(args, args.val, "val", getattr(args, "val_split", None), cfg, tokenizer) if args.val else None
    tokenadapt = TokenAdapt.load(args.tokenadapt, tokenizer) if getattr(args, "tokenadapt", None) else None
    try:
        codebook = Codebook.from_seit(args.codebook).vectors().detach() if args.codebook else None
    except ValueError as err:  # it names the file and the problem
        raise TrainSetupError(str(err)) from None
    result = train(cfg, data, val, args.out, tokenizer=tokenizer, tokenadapt=tokenadapt, codebook=codebook,
                   init=init, device=args.device)
    if rank == 0:
        print_result(cfg, result, data, world, args.out)


def print_result(cfg: TrainConfig, result, data, world: int, out: str) -> None:
    """One line: the run's steps and its final validation scores, as `finetune` and `baseline` print them."""
    names = {"val_loss": "val loss", "val_top1": "val top-1", "val_miou": "val mIoU", "val_pixel_acc": "val pixels"}
    scores = "".join(f", {names[k]} {v:.4f}" for k, v in result.metrics.items() if k in names)
    print(f"{cfg.task} {cfg.model.name}: {result.steps} steps on {len(data)} samples x {world} process(es)"
          f"{scores}; checkpoint and history.csv in {out}")


def read_images(spec: str, split: str, args: argparse.Namespace) -> Split:
    """`baseline`'s --data / --val: an ImageFolder directory or shapes:N, as images."""
    if Path(spec).is_dir():
        return Split.from_image_folder(spec, args.resolution, skip_unreadable=args.skip_unreadable)
    return load_split(spec, split, "pixels", resolution=args.resolution)


def cmd_baseline(args: argparse.Namespace) -> None:
    """A pixel model (the CNN of the preset) on the images of an ImageFolder, through the same engine as
    `finetune`, so that its val top-1 can be read beside the token ViT's."""
    cfg = with_overrides(train_preset(args.preset, "finetune"), args.set)
    if not reads_pixels(cfg.model.name):
        raise TrainSetupError(f"baseline trains a pixel model (cnn_*, pvit_*), got model {cfg.model.name!r}; "
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
                      f"dataset's {preset.score_split} split (see seitpp.experiments.beyond); mean over seeds in "
                      "summary.csv")


def cmd_scorecard(args: argparse.Namespace) -> None:
    rows = scorecard()
    for r in rows:
        print(f"{r['source']:<22} {r['finding']:<40} {r['verdict']:<13} {r['comparison']}")
    if args.box:
        with atomic_path(args.box) as tmp:
            tmp.write_text(summary_box(rows) + "\n")
        print(f"wrote {args.box}")


def cmd_predict(args: argparse.Namespace) -> None:
    """The top classes of each image, one line each; with --out, a CSV or JSON file of them as well."""
    if args.out and Path(args.out).suffix not in (".csv", ".json"):
        raise TrainSetupError(f"--out {args.out}: predictions are written as .csv or .json")
    predictor = Predictor.load(args.model, args.tokenizer, args.device)
    files = image_files(args.images)
    top = predictor.predict(files, args.top_k)
    for path, classes in zip(files, top):
        print(f"{path}: " + ", ".join(f"{name} {p:.1%}" for name, p in classes))
    if args.out:
        rows = [{"image": str(path), **{f"{key}_{r}": value for r, (name, p) in enumerate(classes, 1)
                                        for key, value in (("class", name), ("probability", round(p, 4)))}}
                for path, classes in zip(files, top)]
        with atomic_path(args.out) as tmp:
            if args.out.endswith(".json"):
                tmp.write_text(json.dumps(rows, indent=2))
            else:
                with open(tmp, "w", newline="") as f:
                    writer = csv.DictWriter(f, fieldnames=list(rows[0]))
                    writer.writeheader()
                    writer.writerows(rows)
        print(f"{len(rows)} predictions written to {args.out}")


def run(parser: argparse.ArgumentParser, args: argparse.Namespace, argv: list[str] | None) -> None:
    """Run the command `seitpp.cli` parsed: bad input ends in one line and exit status 1, Ctrl-C in 130."""
    args.argv = sys.argv[1:] if argv is None else argv  # for provenance: the command as typed
    if hasattr(args, "device"):
        try:
            args.device = str(resolve_device(args.device))
        except ValueError as err:  # it names the flag's value or SEITPP_DEVICE's
            parser.error(str(err))
    # a warning is one line for a user, not the line of package source that raised it
    formatwarning, warnings.formatwarning = warnings.formatwarning, lambda message, *_: f"warning: {message}\n"
    try:
        globals()[args.run](args)
    except UnreadableImageError as err:
        hint = "; pass --skip-unreadable to skip such images (what is done so far is kept)" \
            if getattr(args, "skip_unreadable", True) is False else ""
        parser.exit(1, f"error: {err}{hint}\n")
    except (FileProblem, TokenStoreError, TokenFileError, ImageFolderError, FileNotFoundError, FileExistsError,
            TrainSetupError, TrainingDiverged) as err:
        parser.exit(1, f"error: {err}\n")  # bad input: the message names the file, a traceback adds nothing
    except KeyboardInterrupt:  # Ctrl-C: what was saved stays, and the shell's convention for SIGINT is 130
        parser.exit(130, "interrupted; run the same command again to resume (tokenize, training and the sweeps "
                         "continue from what they saved)\n")
    finally:
        warnings.formatwarning = formatwarning
