"""Chapter 8's pictures and tables: segmentation masks in colour, and the beyond sweep's results
(`seitpp.experiments.beyond`) as text tables, each method beside its floor or chapter 6's models."""
from __future__ import annotations

import math

import matplotlib
import numpy as np
import torch

from seitpp.experiments.beyond import budgets_of, by_method
from seitpp.experiments.tables import format_table, mean_std, select


def segment_table(summary: list[dict], background: dict[str, float]) -> str:
    """Segmentation: each method's mIoU and pixel accuracy (%) at each budget, beside predicting all background."""
    rows = [["all background (no model)", "-", "-", f"{100 * background['miou']:.1f}",
             f"{100 * background['pixel_acc']:.1f}"]]
    for budget in budgets_of(summary, "segment"):
        rows += [[m, f"{int(r['train_images']):,}", f"{r['bytes_per_image']:.0f}", mean_std(r, "miou"),
                  mean_std(r, "pixel_acc")] for m, r in by_method(summary, "segment", budget).items()]
    return format_table(["method", "training images", "bytes/image", "mIoU (%)", "pixel accuracy (%)"], rows)


def transfer_table(summary: list[dict], second: dict, reference: list[dict] | None = None) -> str:
    """Top-1 (%) on the second tokenizer's tokens (`second`: its measured.json); with `reference`
    (chapter 6's sweep summary, same images and recipe), the reference tokenizer's rows beside."""
    rows = [[f"f8, K {second['codebook_size']}: {m}", f"{r['bytes_per_image']:.0f}", mean_std(r, "top1")]
            for m, r in by_method(summary, "transfer").items()]
    if reference is not None:
        rows += _chapter6_rows(reference, ("SeiT", "SeiT++ without MTM", "SeiT++"), "reference, K 391: {} (chapter 6)")
    return format_table(["tokens: method", "bytes/image", "top-1 (%)"], rows)


def _chapter6_rows(reference: list[dict], methods: tuple[str, ...], label: str) -> list[list]:
    """Chapter 6's token models at the full budget (the same images and recipe) as table rows."""
    rows = []
    for method in methods:
        ref = select(reference, "budgets", method, 1.0)
        if ref:
            rows.append([label.format(method), f"{ref[0]['bytes_per_image']:.0f}", mean_std(ref[0])])
    return rows


def inputs_table(storage: list[dict]) -> str:
    """`storage.csv` as a table, with each input's size against the reference tokens'."""
    tokens = next(r["bytes_per_image"] for r in storage if r["input"].startswith("reference tokens"))
    return format_table(["input", "bytes/image", "x reference tokens"],
                        [[r["input"], f"{r['bytes_per_image']:.0f}", f"{r['bytes_per_image'] / tokens:.2f}"]
                         for r in storage])


def dct_table(summary: list[dict], reference: list[dict] | None = None) -> str:
    """Top-1 (%) of the DCT ViT and its input's bytes per image (and, with `reference`, chapter 6's
    token models, trained on the same images with the same recipe)."""
    rows = [[f"DCT levels: {m}", f"{r['bytes_per_image']:.0f}", mean_std(r, "top1")]
            for m, r in by_method(summary, "dct").items()]
    if reference is not None:
        rows += _chapter6_rows(reference, ("SeiT", "SeiT, learned table", "SeiT++"), "tokens: {} (chapter 6)")
    return format_table(["input: method", "bytes/image", "top-1 (%)"], rows)


def findings_table(findings: list[dict]) -> str:
    """`Beyond.findings` as a table; a spread of one seed (NaN) shows as '(1 seed)'."""
    return format_table(["question", "comparison", "points", "spread", "verdict", "paper"],
                        [[f["finding"], f["comparison"], f"{f['difference']:+.1f}",
                          "(1 seed)" if math.isnan(f["spread"]) else f"{f['spread']:.1f}", f["verdict"],
                          "-" if f["paper"] is None else f"{f['paper']:+.1f} (ADE20k)"] for f in findings])


def color_masks(masks: np.ndarray | torch.Tensor) -> np.ndarray:
    """Class maps (N, Hm, Wm) -> uint8 pictures (N, Hm, Wm, 3): background black, each object class
    its own colour of matplotlib's tab20 (the same colour in every figure)."""
    palette = np.array([(0, 0, 0)] + [matplotlib.colormaps["tab20"](i)[:3] for i in range(20)]) * 255
    return palette.round().astype(np.uint8)[np.asarray(masks, dtype=np.int64) % len(palette)]


