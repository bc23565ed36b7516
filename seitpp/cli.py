"""The command line: `python -m seitpp <command>`. Each command is a thin shell over the package.

This module only builds the parser, from the light table below (preset names, defaults, help), and
imports neither torch nor the rest of the package: `--help` and a mistyped flag answer at once. The
work of a command is in `seitpp.commands`, imported by `main` once the arguments are read (the one
import the package makes at run time; tests/test_architecture.py holds this module to it).
"""
from __future__ import annotations

import argparse
import importlib

from seitpp import DEVICE_VARIABLE

# The preset names of each command, for `choices` and help without importing the presets;
# tests/test_cli.py checks them against the tables they name.
PRESET_NAMES = {
    "train-tokenizer": ("cpu-ref", "cpu-tiny", "gpu"),  # seitpp.tokenizers.train.PRESETS
    "train-tokenadapt": ("cpu-ref", "cpu-tiny", "gpu"),  # seitpp.augment.tokenadapt_train.PRESETS
    "pretrain": ("cpu-tiny", "gpu-small", "imagenet-vitb"),  # seitpp.engine.config.PRESETS["pretrain"]
    "finetune": ("cpu-cnn", "cpu-tiny", "gpu-cnn", "gpu-small", "imagenet-vitb"),  # ... ["finetune"]
    "segment": ("cpu-tiny",),  # ... ["segment"]
    "baseline": ("cpu-cnn", "gpu-cnn"),  # the pixel CNNs of PRESETS["finetune"]
    "reproduce": ("cpu", "cpu-first", "cpu-learned-table", "cpu-pilot", "cpu-random-table", "cpu-val", "gpu",
                  "smoke"),  # seitpp.experiments.reproduce.SWEEPS
    "beyond": ("cpu", "cpu-learned-table", "cpu-val", "live", "smoke"),  # seitpp.experiments.beyond_presets.PRESETS
}
REFERENCE = "the reference tokenizer, seitpp/artefacts/tokenizer"
SET_HELP = ("override a setting by name (repeatable), e.g. --set epochs=3 --set lr=1e-3, or by part: --set "
            "optim.lr=1e-3 (parts: model, augment, optim, run, dct); an unknown name lists them all")


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Help that shows an option's default, where it has one its help does not already state."""

    def _get_help_string(self, action: argparse.Action) -> str:
        if action.default in (None, [], False) or "default" in (action.help or ""):
            return action.help
        return super()._get_help_string(action)


def add_command(commands, name: str, help: str, run: str) -> argparse.ArgumentParser:
    """A subcommand whose help shows every option's default; `run` names its function in seitpp.commands."""
    p = commands.add_parser(name, help=help, description=help, formatter_class=HelpFormatter)
    p.set_defaults(run=run)
    return p


def add_preset(p: argparse.ArgumentParser, command: str, default: str, help: str) -> None:
    p.add_argument("--preset", default=default, choices=PRESET_NAMES[command], metavar="NAME",
                   help=f"{help}; one of {', '.join(PRESET_NAMES[command])}")


def add_device_argument(p: argparse.ArgumentParser, what: str = "where it runs") -> None:
    """`--device`, resolved in `seitpp.commands.run` by `seitpp.device.resolve_device` (the one choice of the package)."""
    p.add_argument("--device", help=f"{what}: cpu, cuda or cuda:N (default: the environment variable "
                                    f"{DEVICE_VARIABLE} if set, else cuda if there is a GPU, else cpu)")


def add_train_arguments(p: argparse.ArgumentParser, task: str) -> None:
    p.add_argument("--store", "--data", required=True,
                   help="a folder of images/ and annotations/ (ADE20k's layout), or shapes:N (N images of the "
                        "embedded dataset and their masks), tokenized on the fly" if task == "segment" else
                        "a .tokens file, or shapes:N (N images of the embedded dataset, tokenized on the fly)")
    p.add_argument("--val", help="validation data, as --store (shapes:N takes the val split)")
    add_preset(p, task, "cpu-tiny", "the training recipe (seitpp.engine.config.PRESETS)")
    p.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE", help=SET_HELP)
    p.add_argument("--out", required=True, help="output directory; an interrupted run there is resumed")
    p.add_argument("--tokenizer", help=f"the tokenizer that made the tokens (default: {REFERENCE})")
    p.add_argument("--codebook", help="instead of --tokenizer: SeiT's codebook.ckpt, the (K, 32) code vectors of "
                                      "its released ImageNet tokens")
    add_device_argument(p)
    p.set_defaults(task=task)


def add_segmentation_arguments(p: argparse.ArgumentParser, splits: tuple[str, ...] = ("--split",)) -> None:
    """How a folder of image/mask pairs is read (`seitpp.tokens.Split.from_folder`)."""
    p.add_argument("--num-classes", type=int, help="for a folder: classes, background included (ADE20k: 151)")
    for flag in splits:
        p.add_argument(flag, help="for a folder: the subfolder of images/ and annotations/ (ADE20k: training, "
                                  "validation)")
    p.add_argument("--ignore-index", type=int, help="for a folder: the mask value of unlabelled pixels (ADE20k: none)")
    p.add_argument("--resolution", type=int, default=64, help="for a folder: the side images and masks are resized to")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m seitpp", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = add_command(commands, "train-tokenizer", "train a VQ tokenizer on the embedded dataset (resumable)",
                    "cmd_train_tokenizer")
    add_preset(p, "train-tokenizer", "cpu-ref", "the tokenizer's size and schedule (seitpp.tokenizers.train)")
    p.add_argument("--out", required=True, help="output directory; an interrupted run there is resumed")
    p.add_argument("--reduce-to", type=int, default=0, help="shrink the codebook to K codes (0: keep all)")
    p.add_argument("--reduce-method", default="kmeans", choices=["kmeans", "most_used"],
                   help="k-means centroids of the codes, or the K most used codes")
    p.add_argument("--eval-images", type=int, default=2_000, help="held-out test images for PSNR and usage")
    add_device_argument(p)

    p = add_command(commands, "train-tokenadapt", "train TokenAdapt for a tokenizer on the embedded dataset "
                    "(resumable)", "cmd_train_tokenadapt")
    add_preset(p, "train-tokenadapt", "cpu-ref", "TokenAdapt's size and schedule (seitpp.augment.tokenadapt_train)")
    p.add_argument("--out", required=True, help="output directory; an interrupted run there is resumed")
    p.add_argument("--tokenizer", help=f"a saved tokenizer (default: {REFERENCE})")
    p.add_argument("--eval-images", type=int, default=1_000, help="held-out test images for the agreement table")
    p.add_argument("--steps", type=int, default=0, help="override the preset's number of steps (0: keep it)")
    add_device_argument(p)

    p = add_command(commands, "tokenize", "images (Shapes or an ImageFolder tree) -> token store (resumable)",
                    "cmd_tokenize")
    p.add_argument("--source", default="shapes", help="'shapes' (the embedded dataset) or an ImageFolder directory "
                                                      "(root/<class>/<images>)")
    p.add_argument("--out", required=True, help="the .tokens file to write; an interrupted run is resumed")
    p.add_argument("--split", default="train", choices=["train", "val", "test"],
                   help="for --source shapes: which split of the embedded dataset (its images are disjoint)")
    p.add_argument("--num-images", type=int, default=10_000, help="for --source shapes: images to tokenize")
    p.add_argument("--tokenizer", help=f"a saved tokenizer (default: {REFERENCE})")
    p.add_argument("--vqgan", help="tokenize with a taming-transformers VQGAN checkpoint (.ckpt) instead")
    p.add_argument("--resolution", type=int, default=0, help="image side in pixels (0: the tokenizer's)")
    p.add_argument("--skip-unreadable", action="store_true", help="skip (and count) unreadable images")
    p.add_argument("--batch-size", type=int, default=256, help="images tokenized at a time")
    add_device_argument(p)

    p = add_command(commands, "info", "describe a token store: size, grid, codebook, classes", "cmd_info")
    p.add_argument("store", help="a .tokens file")

    p = add_command(commands, "convert", "between our .tokens store and SeiT's release files", "cmd_convert")
    p.add_argument("source", help="a .tokens file, or a directory with SeiT's <split>-token.* files")
    p.add_argument("destination", help="a directory for SeiT's files, or a .tokens file")
    p.add_argument("--split", default="train", help="the SeiT split name (file prefix)")
    p.add_argument("--codebook-size", type=int, default=391, help="K of SeiT's tokens (when reading them)")
    p.add_argument("--tokenizer-hash", default="seit-release", help="recorded in the store made from SeiT's files")

    p = add_command(commands, "pretrain", "masked token modeling pre-training (resumable; torchrun for DDP)",
                    "cmd_train")
    add_train_arguments(p, "pretrain")

    p = add_command(commands, "finetune", "classification on tokens or pixels (resumable; torchrun for DDP)",
                    "cmd_train")
    add_train_arguments(p, "finetune")
    p.add_argument("--init", help="an MTM pre-training checkpoint (file or run directory) or saved MTM model for the "
                                  "encoder, or 'none' (from scratch). Default: for --preset cpu-tiny on tokens of "
                                  "the reference tokenizer, the committed encoder seitpp/artefacts/mtm-cpu, its "
                                  "table frozen (seitpp.engine.config.PRETRAINED); otherwise none")
    p.add_argument("--tokenadapt", help="a saved TokenAdapt for the seitpp policy (default: naive grid warps)")

    p = add_command(commands, "baseline", "a pixel CNN on the images of an ImageFolder (or shapes:N), to read "
                    "beside a token ViT's finetune (resumable; torchrun for DDP)", "cmd_baseline")
    p.add_argument("--data", "--store", dest="store", required=True,
                   help="an ImageFolder directory (root/<class>/<images>), or shapes:N (N images of the embedded "
                        "dataset)")
    p.add_argument("--val", help="validation images, as --data (shapes:N takes the val split)")
    add_preset(p, "baseline", "cpu-cnn", "cpu-cnn: cnn_micro scheduled as finetune's cpu-tiny; gpu-cnn: cnn_small "
                                         "as gpu-small")
    p.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE", help=SET_HELP)
    p.add_argument("--out", required=True, help="output directory; an interrupted run there is resumed")
    p.add_argument("--resolution", type=int, default=64,
                   help="the side images are resized to: that of the tokenizer that made the tokens to compare "
                        "with (the reference: 64), as tokenize resizes them")
    p.add_argument("--skip-unreadable", action="store_true", help="skip (and count) unreadable images")
    add_device_argument(p)

    p = add_command(commands, "segment", "semantic segmentation on tokens: shapes:N or image/mask folders in "
                    "ADE20k's layout (resumable; torchrun for DDP)", "cmd_train")
    add_train_arguments(p, "segment")
    p.add_argument("--init", help="an MTM pre-training checkpoint (file or run directory) for the encoder")
    p.add_argument("--tokenadapt", help="a saved TokenAdapt for the seitpp policy (default: naive grid warps)")
    add_segmentation_arguments(p, ("--split", "--val-split"))

    p = add_command(commands, "reproduce", "the paper's findings: budgets, ablation, robustness, pixel baselines, "
                    "all seeds (resumable)", "cmd_reproduce")
    add_preset(p, "reproduce", "cpu", "cpu: about two hours on 2 cores; gpu: one GPU; smoke: seconds, for tests "
                                      "(seitpp.experiments.reproduce.SWEEPS)")
    p.add_argument("--out", required=True, help="output directory: results.csv, summary.csv, provenance.json")
    p.add_argument("--workers", type=int, default=0, help="parallel cells (0: the preset's)")
    p.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE",
                   help="override a field of the sweep preset (repeatable), e.g. --set classes=objects "
                        "--set budgets='(1.0,)'; the provenance records the preset as run")
    add_device_argument(p, "where the cells run, recorded in the provenance")

    p = add_command(commands, "beyond", "chapter 8: segmentation, a second tokenizer and DCT inputs, all seeds "
                    "(resumable)", "cmd_beyond")
    add_preset(p, "beyond", "cpu", "cpu: about 2 hours on 2 cores; cpu-val: its segmentation on validation images (the pilot); cpu-learned-table: the first run; live: chapter 8's live segmenter; smoke: seconds, for tests")
    p.add_argument("--out", required=True, help="output directory: results.csv, summary.csv, examples.npz, "
                   "provenance.json")
    p.add_argument("--workers", type=int, default=0, help="parallel jobs (0: the preset's)")
    add_device_argument(p, "where the jobs run, recorded in the provenance")

    p = add_command(commands, "scorecard", "the committed sweeps' verdicts on the paper's findings, one line each "
                    "(chapter 95's card)", "cmd_scorecard")
    p.add_argument("--box", metavar="FILE", help="also write the introduction's box of what holds (MyST markdown), "
                   "e.g. book/holds.md, which the introduction includes")

    p = add_command(commands, "evaluate", "top-1 of a fine-tuned checkpoint on centre crops, mIoU of a segmenter",
                    "cmd_evaluate")
    p.add_argument("--checkpoint", required=True, help="a training checkpoint (file or run directory)")
    p.add_argument("--store", "--data", required=True, help="a .tokens file, or shapes:N")
    p.add_argument("--tokenizer", help=f"for shapes:N, the tokenizer to use (default: {REFERENCE})")
    add_device_argument(p)
    add_segmentation_arguments(p)

    p = add_command(commands, "predict", "the top classes of a fine-tuned classifier (finetune or baseline) for "
                    "image files", "cmd_predict")
    p.add_argument("--model", required=True, help="a finetune or baseline run (directory or checkpoint file)")
    p.add_argument("images", nargs="+", help="image files, or folders (searched recursively for images)")
    p.add_argument("--top-k", type=int, default=3, help="classes listed per image")
    p.add_argument("--tokenizer", help=f"for a token model, the tokenizer that made its training tokens (default: "
                                       f"{REFERENCE}; checked against the one the run recorded)")
    p.add_argument("--out", help="write the predictions to this .csv or .json file as well")
    add_device_argument(p)
    return parser


def main(argv: list[str] | None = None) -> None:
    parser = build_parser()
    args = parser.parse_args(argv)
    importlib.import_module("seitpp.commands").run(parser, args, argv)
