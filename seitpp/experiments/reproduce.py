"""The paper's findings, measured here: storage budgets, the augmentation ablation, robustness and
pixel baselines, as one resumable sweep (`python -m seitpp reproduce --preset cpu --out DIR`).

A cell is one training run of one method at one storage budget with one seed, then its evaluation
on the clean test split and on four shifted versions of it (`seitpp.data.shifts`):

    budgets     method x budget x seed   SeiT / SeiT + MTM / SeiT++ without MTM / SeiT++
    ablation    variant x seed           at one budget: baseline, + ColorAdapt, + TokenAdapt, both
    pixels      format x seed            the pixel ViT of the same body on PNG / JPEG / downsampled images

Budgets keep the first fraction of the training images (Shapes labels cycle through the classes,
so every prefix is balanced), mirroring the paper's 1.4 / 0.8 / 0.3 GB; `steps_power` sets how
many steps each budget trains. MTM pre-trains once per budget (seed 0), on that budget's tokens
only; its fine-tuning seeds share it. TokenAdapt is the committed reference, frozen. Robustness
follows the paper: test images are corrupted in pixels, then tokenized; pixel models see the
corrupted pixels.

This module is the sweep's specification: presets, and `Reproduce`, the experiment (cells, data,
one stage, `mtm-<budget>`, one cell, the findings) that `seitpp.experiments.sweep` runs, resumably.
Beside `results.csv` and `summary.csv`: `provenance.json`, `work/histories/<cell>.csv` (each cell's
training log) and `work/mtm-<budget>/model` (each MTM stage's model, weights only: `export_mtm`).
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import torch

from seitpp.augment.registry import create_policy
from seitpp.augment.tokenadapt import TokenAdapt
from seitpp.data.shapes import render_shapes
from seitpp.data.shifts import SHIFTED_SETS
from seitpp.device import default_device
from seitpp.engine.config import TrainConfig
from seitpp.engine.export import export_mtm
from seitpp.engine.loop import COLUMNS, evaluate, train
from seitpp.errors import choose_preset
from seitpp.experiments.paper import BUDGETS, PAPER_ABLATION, paper_budget, paper_drop
from seitpp.experiments.recipe import (
    ABLATION,
    CNN_CELL,
    CODES,
    METHODS,
    MILD,
    SweepPreset,
    finetune_for_steps,
    pretrain_for_steps,
)
from seitpp.experiments.sweep import Cell, Experiment, read_arrays, write_arrays
from seitpp.experiments.tables import difference, judge_pairs, select, verdict
from seitpp.files import ARTEFACTS, REFERENCE_MTM, write_csv
from seitpp.tokenizers.vq import VQTokenizer
from seitpp.tokens.footprint import stored_pixels
from seitpp.tokens.split import Split
from seitpp.tokens.store import write_store

# The committed findings sweep (python -m seitpp reproduce --preset cpu --out seitpp/artefacts/reproduce-cpu)
# and its preset; chapters 6 and 7 and the scorecard read it
REFERENCE_RESULTS, REFERENCE_PRESET = ARTEFACTS / "reproduce-cpu", "cpu"
# The sweep before the rule, its learned table training in fine-tuning (--preset cpu-learned-table):
# chapter 7's second budget table, where the small budget memorises
LEARNED_TABLE_RESULTS, LEARNED_TABLE_PRESET = ARTEFACTS / "reproduce-cpu-learned-table", "cpu-learned-table"
# The first cpu sweep (--preset cpu-first) and the same with random table rows (--preset cpu-random-table)
FIRST_RESULTS = ARTEFACTS / "reproduce-cpu-first"
RANDOM_TABLE_RESULTS = ARTEFACTS / "reproduce-cpu-random-table"
GPU_RESULTS = ARTEFACTS / "reproduce-gpu"  # --preset gpu, run on an H200 (chapter 9)
# Each committed cpu sweep by its preset: a sweep that trains with a preset's recipe (chapter 8's) reads its cells
COMMITTED_CPU = {REFERENCE_PRESET: REFERENCE_RESULTS, LEARNED_TABLE_PRESET: LEARNED_TABLE_RESULTS,
                 "cpu-first": FIRST_RESULTS, "cpu-random-table": RANDOM_TABLE_RESULTS}
STAGE_MODEL = "model"  # every finished MTM stage exports its model to work/<stage>/model
EVAL_SETS = SHIFTED_SETS  # clean, noise, blur, sketch, pose
SHIFTS = EVAL_SETS[1:]  # robustness is the drop from clean accuracy to each of these
VAL_PROBE_START = 48_000  # MTM's label probe reads validation images from here on (pilots score the first ones)
RESULT_COLUMNS = ("experiment", "method", "budget", "train_images", "seed", "bytes_per_image", "train_bytes",
                  *(f"acc_{s}" for s in EVAL_SETS), "train_loss", "steps", "seconds")
SUMMARY_COLUMNS = ("experiment", "method", "budget", "train_images", "bytes_per_image", "train_bytes", "seeds",
                   *(f"{m}_{stat}" for m in (*(f"acc_{s}" for s in EVAL_SETS), *(f"drop_{s}" for s in SHIFTS),
                                             "train_loss") for stat in ("mean", "std")))

SWEEPS: dict[str, SweepPreset] = {
    # Seconds: the same code path as `cpu`, for tests and the notebooks' fast mode.
    "smoke": SweepPreset("smoke", train_images=96, budgets=(1.0, 0.5), test_images=48, seeds=(0,),
                         finetune_steps=4, pretrain_steps=4, finetune=dict(MILD, batch_size=16),
                         pretrain=dict(CODES, batch_size=16), jpeg_qualities=(5,), downsample_factors=(4,), workers=1,
                         probe_images=48),
    # The first cpu sweep (chapter 6 reads it where it explains a choice; chapter 8's recipe): about
    # 1.5 hours on a 2-core CPU (two cells at a time, one thread each), micro models, 3 seeds, the
    # symmetric shapes. It ran before the stems were matched: SeiT++'s stems then used the release's
    # 2 x 2 patch convolution. Named `cpu` until the `cpu` preset below replaced it.
    "cpu-first": SweepPreset("cpu-first", train_images=1000, budgets=BUDGETS, test_images=1200, seeds=(0, 1, 2),
                             finetune_steps=800, pretrain_steps=1500, finetune=dict(MILD, batch_size=32),
                             pretrain=dict(CODES, freeze_table=False)),
    # One GPU (chapter 9): ViT-S on 20 times the cpu preset's images, the budget table at the full
    # budget, sized to the GPU time a lent device gives (benchmarks/cuda_checks.sh): three seeds;
    # 1,500 MTM steps (the first run's 600 fine-tuned no better than from scratch), its label probe
    # logged from step 0; layer decay relaxed for 600-step fine-tunes (TrainConfig.effective_layer_decay);
    # the asymmetric objects. Six cells share the GPU: a small model's step is bound by kernel
    # launches. MTM's peak lr 1.5e-3 (the paper's rule is set for 400 epochs of ImageNet), its table
    # kept at the codes, as the cpu sweep's.
    "gpu": SweepPreset("gpu", train_images=20000, budgets=(1.0,), test_images=5000, seeds=(0, 1, 2),
                       finetune_steps=600, pretrain_steps=1500, base="gpu-small", pixel_model="pvit_small",
                       cnn_model="cnn_small", classes="objects",
                       finetune=dict(MILD, lr=None, batch_size=512),
                       pretrain=dict(CODES, freeze_table=True, batch_size=512, lr=1.5e-3),
                       experiments=("budgets",), workers=6, learned_table=dict(freeze_table=True)),
}
# The first cpu sweep with the release's random table rows, for MTM and fine-tuning alike (chapter 6).
SWEEPS["cpu-random-table"] = replace(SWEEPS["cpu-first"], name="cpu-random-table",
                                     finetune=dict(MILD, batch_size=32, table_init="random"),
                                     pretrain=dict(table_init="random", freeze_table=False))
# The first cpu sweep on the validation split, one seed: the first pilots (each names its --set changes).
SWEEPS["cpu-pilot"] = replace(SWEEPS["cpu-first"], name="cpu-pilot", score_split="val", seeds=(0,))
# The first findings sweep (reproduce-cpu-learned-table, made when this preset was named cpu): 2,000 objects;
# noise 0.25, blur 2 and a pose shift chosen on validation images (pilots p6-p11); 1,800 steps at
# every budget; the table learning in fine-tuning, MTM's kept at the codes (pilots 9 and 10).
SWEEPS["cpu-learned-table"] = replace(
    SWEEPS["cpu-first"], name="cpu-learned-table", classes="objects", train_images=2000, finetune_steps=1800,
    pretrain_steps=2000, pretrain=dict(CODES, freeze_table=True), noise_std=0.25, blur_sigma=2.0,
    pose_size=(0.15, 0.25), pose_rotation=45.0,
    jpeg_qualities=(5,), full_budget_only=("SeiT, learned table", "SeiT++ without MTM, release 2x2 stem"))
# The findings sweep, with the rule pilots p12-p18 chose on validation images (seed 0, the tokens of
# 2026-12-07): every budget trains the same 1,800 steps; a learned table keeps the codes in
# fine-tuning. At 429 images the same epochs left every model underfit (SeiT 21.3%, SeiT++ without
# MTM 26.2%; sqrt(budget) steps 39.4%, 35.9%); at 1,800 steps a learned table memorised (39.7%,
# training loss 0.70; SeiT 48.2%), a frozen one 61.9%, a warm start (frozen for half) 60.0%; at
# 2,000 images 67.8%, 68.6%, learned 69.2%. "SeiT, learned table" at every budget; the ablation at
# the smallest budget, where an augmentation must earn its place. About two hours on 2 cores.
SWEEPS["cpu"] = replace(SWEEPS["cpu-learned-table"], name="cpu", learned_table=dict(freeze_table=True),
                        ablation_budget=min(BUDGETS), full_budget_only=("SeiT++ without MTM, release 2x2 stem",))
# The first findings sweep on the validation split, one seed, budgets only: the pilots of the rule.
SWEEPS["cpu-val"] = replace(SWEEPS["cpu-learned-table"], name="cpu-val", score_split="val", seeds=(0,),
                            experiments=("budgets",))
def sweep_preset(name: str) -> SweepPreset:
    return choose_preset(SWEEPS, name, "sweep")


# ----------------------------------------------------------------------------------------------
# The experiment


@dataclass(frozen=True)
class SweepCell(Cell):
    overrides: dict = field(default_factory=dict)  # of the fine-tuning preset: the method's own part
    data: str = "tokens"  # or a pixel format: "png", "jpeg5", "down4", ...
    naive_warps: bool = False  # the geometric half gets naive warps of the grid in TokenAdapt's place


def mtm_stage(budget: float) -> str:  # the MTM run of a budget's tokens
    return f"mtm-{budget:.4f}"


class Reproduce(Experiment):
    """The paper's findings as one sweep over `preset` (a `SweepPreset`)."""

    tables = ("budgets", "ablation", "pixels")
    group_by = ("experiment", "method", "budget")
    metrics = (*(f"acc_{s}" for s in EVAL_SETS), *(f"drop_{s}" for s in SHIFTS), "train_loss")
    result_columns, summary_columns = RESULT_COLUMNS, SUMMARY_COLUMNS

    @property
    def stages(self) -> tuple[str, ...]:
        """One MTM stage per budget that has MTM cells, largest first."""
        return tuple(mtm_stage(b) for b in sorted({c.budget for c in self.cells() if c.stage}, reverse=True))

    def cells(self) -> list[SweepCell]:
        """Every cell of the sweep, seed by seed: an interrupted sweep holds whole seeds of every table first."""
        sweep, cells = self.preset, []
        for seed in sweep.seeds:
            for budget in sweep.budgets:
                for method, spec in METHODS.items():
                    if method not in sweep.methods or (method in sweep.full_budget_only
                                                       and budget != max(sweep.budgets)):
                        continue
                    spec = (sweep.learned_table if spec["stem"] == "seitpp" else {}) | spec
                    stage = mtm_stage(budget) if spec.pop("mtm", False) else None
                    cells.append(SweepCell("budgets", method, seed, budget, stage, spec))
            for variant, flags in ABLATION.items():
                if variant == "+ both" and sweep.ablation_budget in sweep.budgets and sweep.ablation_mtm \
                        and "budgets" in sweep.experiments:
                    continue  # the budget table's SeiT++ cell at this budget is this variant: not trained twice
                flags = dict(flags)
                naive = flags.pop("naive_warps", False)
                stage = mtm_stage(sweep.ablation_budget) if sweep.ablation_mtm else None
                cells.append(SweepCell("ablation", variant, seed, sweep.ablation_budget, stage,
                                       sweep.learned_table | dict(policy="seitpp", stem="seitpp", **flags),
                                       naive_warps=naive))
            for fmt, name in self.pixel_formats().items():
                cells.append(SweepCell("pixels", name, seed, overrides=dict(model=sweep.pixel_model), data=fmt))
            cells.append(SweepCell("pixels", "small CNN (PNG)", seed, overrides=dict(model=sweep.cnn_model, **CNN_CELL),
                                   data="png"))
        return [c for c in cells if c.experiment in sweep.experiments]

    def pixel_formats(self) -> dict[str, str]:
        """Pixel baselines: format key -> the name shown in tables."""
        formats = {"png": "pixels (PNG)"}
        formats |= {f"jpeg{q}": f"JPEG quality {q}" for q in self.preset.jpeg_qualities}
        formats |= {f"down{f}": f"downsampled x1/{f} (PNG)" for f in self.preset.downsample_factors}
        return formats

    # -- recipes
    def finetune_config(self, overrides: dict, seed: int, num_images: int) -> TrainConfig:
        """The sweep's fine-tuning recipe with a method's `overrides`, for the steps of `num_images`
        (chapter 8 trains it on other tokens)."""
        sweep = self.preset
        return finetune_for_steps(sweep.base, {**sweep.finetune, **overrides, "seed": seed},
                                  sweep.steps_at(sweep.finetune_steps, num_images), num_images)

    def pretrain_config(self, num_images: int) -> TrainConfig:
        """MTM's recipe for the steps of `num_images` (seed 0: one MTM run per budget)."""
        sweep = self.preset
        return pretrain_for_steps(sweep.base, {**sweep.pretrain, "seed": 0}, sweep.steps_at(sweep.pretrain_steps,
                                                                                              num_images), num_images)

    # -- data: rendered, tokenized and corrupted once, cached in the sweep's work folder
    def prepare(self, work: Path, progress: bool = True) -> dict:
        """Render, tokenize and corrupt everything once; arrays go to `work/data.npz` -> {name: array, "bytes": {...}}."""
        path, sweep = work / "data.npz", self.preset
        if path.exists():
            return read_arrays(path)
        tokenizer = VQTokenizer.load(device=default_device())
        train = render_shapes(sweep.train_images, split="train", progress=progress, **sweep.look)
        test, tests = sweep.evaluation_sets(sweep.test_images, progress)
        # the label probe of MTM runs reads the end of the validation split: never a scored image, and
        # not the pilots' validation images either
        probe = render_shapes(sweep.probe_images, split="val", start=VAL_PROBE_START, **sweep.look)
        data = {"codebook_size": np.array(tokenizer.config.codebook_size),
                "train_labels": train.labels, "test_labels": test.labels, "probe_labels": probe.labels,
                "train_tokens": tokenizer.tokenize_many(train.images).numpy().astype(np.int16),
                "probe_tokens": tokenizer.tokenize_many(probe.images).numpy().astype(np.int16)}
        for name, images in tests.items():
            if "pixels" in sweep.experiments:
                data[f"test_{name}_pixels"] = images
            data[f"test_{name}_tokens"] = tokenizer.tokenize_many(images).numpy().astype(np.int16)
        sizes = {}
        if "pixels" in sweep.experiments:  # the pixel baselines' training sets, and what they cost to store
            formats, sizes = stored_pixels(train.images, sweep.jpeg_qualities, sweep.downsample_factors)
            data |= {f"train_{fmt}": images for fmt, images in formats.items()}
        store = work / "train.tokens"
        write_store(store, data["train_tokens"], train.labels, codebook_size=tokenizer.config.codebook_size,
                    num_classes=sweep.num_classes, tokenizer_hash=tokenizer.fingerprint())
        sizes["tokens"] = store.stat().st_size / sweep.train_images
        return write_arrays(path, data, sizes)

    def split(self, data: dict, name: str, fmt: str, n: int | None = None) -> Split:
        """`data["<name>_<fmt>"]` (the first n) with its labels, for the engine: `fmt` "tokens" or pixels."""
        K = int(data["codebook_size"]) if fmt == "tokens" else None
        labels = data[f"{name.split('_')[0]}_labels"]
        return Split(torch.from_numpy(data[f"{name}_{fmt}"][:n]), torch.as_tensor(labels[:n]), self.preset.num_classes,
                     K, f"sweep {name} ({fmt})", kind="tokens" if K else "pixels")

    # -- one stage and one cell (in a worker process)
    def run_stage(self, stage: str, work: Path) -> None:
        """MTM on the tokens of the budget the stage names (`mtm-<budget>`), into `work/<stage>`; resumes
        from its checkpoint (a finished one trains no further). The finished model goes to
        `work/<stage>/model` (`export_mtm`)."""
        data = self.prepare(work, progress=False)
        n = self.preset.budget_images(float(stage.removeprefix("mtm-")))
        result = train(self.pretrain_config(n), self.split(data, "train", "tokens", n),
                       self.split(data, "probe", "tokens"), out_dir=work / stage, progress=False)
        write_csv(result.history, work / "histories" / f"{stage}.csv", COLUMNS)
        export_mtm(work / stage, work / stage / STAGE_MODEL, stage=stage, sweep=repr(self.preset))

    def run_cell(self, cell: SweepCell, work: Path) -> dict:
        """Train one cell and evaluate it on every test set -> its results row; its training log goes to
        `work/histories/<slug>.csv`."""
        data = self.prepare(work, progress=False)
        kind = "tokens" if cell.data == "tokens" else "pixels"
        n = self.preset.budget_images(cell.budget)
        cfg = self.finetune_config(cell.overrides, cell.seed, n)
        # pixel cells warp pixels; naive-warp cells warp the grid itself
        uses_tokenadapt = (kind == "tokens" and create_policy(cfg.augment.policy).uses_tokenadapt(cfg.augment)
                           and not cell.naive_warps)
        started = time.perf_counter()
        result = train(cfg, self.split(data, "train", cell.data, n), progress=False,
                       tokenadapt=TokenAdapt.load() if uses_tokenadapt else None,
                       init=work / cell.stage if cell.stage else None)
        device = next(result.model.parameters()).device
        row = {"experiment": cell.experiment, "method": cell.method, "budget": round(cell.budget, 4),
               "train_images": n, "seed": cell.seed, "bytes_per_image": round(data["bytes"][cell.data], 1),
               "train_bytes": round(data["bytes"][cell.data] * n), "train_loss": round(result.history[-1]["loss"], 4),
               "steps": result.steps}
        for name in EVAL_SETS:
            row[f"acc_{name}"] = round(evaluate(result.model, self.split(data, f"test_{name}", kind), cfg,
                                                device)["val_top1"], 4)
        row["seconds"] = round(time.perf_counter() - started, 1)
        write_csv(result.history, work / "histories" / f"{cell.slug}.csv", COLUMNS)
        return row

    # -- what the rows say
    def summarize(self, rows: list[dict]) -> list[dict]:
        """Mean and standard deviation over seeds of every (experiment, method, budget): accuracies, the
        drops from clean accuracy under each shift (per seed, then averaged), and the final training loss
        (beside test accuracy it shows where a small budget is memorised)."""
        rows = [r | {"budget": round(float(r["budget"]), 4)} | {
            f"drop_{name}": round(float(r["acc_clean"]) - float(r[f"acc_{name}"]), 4) for name in SHIFTS
            if r.get(f"acc_{name}") not in (None, "")} for r in rows]  # CSV text and floats alike
        return super().summarize(rows)

    def ablation_rows(self, summary: list[dict]) -> dict[str, dict]:
        """Variant -> summary row; "+ both" is the budget table's SeiT++ cell when it was not trained twice."""
        rows = {r["method"]: r for r in select(summary, "ablation")}
        if "+ both" not in rows:
            both = select(summary, "budgets", "SeiT++", self.preset.ablation_budget)
            if both:
                rows["+ both"] = both[0]
        return {v: rows[v] for v in ABLATION if v in rows}

    def findings(self, summary: list[dict]) -> list[dict]:
        """The paper's findings measured on `summary` -> rows {finding, comparison, difference, spread,
        verdict, paper}.

        Each is a difference that the paper says is positive; the verdict compares it with the spread
        over seeds (standard deviations of the two means, combined; `judge_pairs`). `paper` is the same
        difference in the paper's tables (points), None where the paper has no such pair.
        """
        sweep = self.preset
        big, small = max(sweep.budgets), min(sweep.budgets)

        def cell(method: str, budget: float = big) -> dict | None:
            rows = select(summary, "budgets", method, budget)
            return rows[0] if rows else None

        def paper(a: str, b: str, budget: float) -> float | None:
            return _minus(paper_budget(b, budget), paper_budget(a, budget))

        # SeiT++'s stem without MTM or its augmentation: the learned table with SeiT's policy, or SeiT itself where
        # the rule keeps a learned table at the tokenizer's codes (the stems then differ by a LayerNorm only), so
        # that a learning table's memorising ("SeiT, learned table" keeps learning) compares with no frozen one
        twin = "SeiT" if sweep.learned_table.get("freeze_table") else "SeiT, learned table"
        out = []
        # 1. the smaller the budget, the larger SeiT++'s gain over SeiT
        if all(cell(m, b) for m in ("SeiT", "SeiT++") for b in (big, small)):
            (g_small, s_small), (g_big, s_big) = (difference(cell("SeiT", b), cell("SeiT++", b)) for b in (small, big))
            d, s = g_small - g_big, math.hypot(s_small, s_big)
            out.append({"finding": "smaller budget, larger gain",
                        "comparison": f"(SeiT++ - SeiT) at {sweep.budget_images(small)} minus at "
                                      f"{sweep.budget_images(big)} images", "difference": round(d, 1),
                        "spread": round(s, 1), "verdict": verdict(d, s),
                        "paper": _minus(paper("SeiT", "SeiT++", small), paper("SeiT", "SeiT++", big))})
        # (finding, comparison, row a, row b, metric, the paper's b - a): b - a is what the paper says is positive
        pairs = []
        for b in sweep.budgets:  # 2. MTM helps, at every budget, on either augmentation
            n = f"({sweep.budget_images(b)} images)"
            pairs += [("MTM helps", f"SeiT + MTM - {twin} {n}", cell(twin, b), cell("SeiT + MTM", b), "acc_clean",
                       paper(twin, "SeiT + MTM", b)),
                      ("MTM helps", f"SeiT++ - SeiT++ without MTM {n}", cell("SeiT++ without MTM", b),
                       cell("SeiT++", b), "acc_clean", paper("SeiT++ without MTM", "SeiT++", b))]
        for b in sweep.budgets:  # 3. SeiT++ beats SeiT, and MTM and the augmentations add up
            n = f"({sweep.budget_images(b)} images)"
            pairs += [("SeiT++ beats SeiT", f"SeiT++ - SeiT {n}", cell("SeiT", b), cell("SeiT++", b), "acc_clean",
                       paper("SeiT", "SeiT++", b)),
                      ("MTM and augmentation add up", f"SeiT++ - SeiT + MTM {n}", cell("SeiT + MTM", b),
                       cell("SeiT++", b), "acc_clean", paper("SeiT + MTM", "SeiT++", b))]
        # 4. the ablation: each augmentation helps, TokenAdapt more than ColorAdapt, learned warps more than naive
        ablation = self.ablation_rows(summary)
        for a, b in [("baseline", "+ ColorAdapt"), ("baseline", "+ TokenAdapt"), ("baseline", "+ both"),
                     ("+ ColorAdapt", "+ TokenAdapt"), ("+ naive warps", "+ TokenAdapt")]:
            finding = {"baseline": "each augmentation helps", "+ ColorAdapt": "TokenAdapt helps more than ColorAdapt",
                       "+ naive warps": "learned warps beat naive warps"}[a]
            pairs.append((finding, f"{b} - {a}", ablation.get(a), ablation.get(b), "acc_clean",
                          _minus(PAPER_ABLATION.get(b), PAPER_ABLATION.get(a))))
        # where geometry matters: objects smaller and turned further than any training image
        pairs += [("TokenAdapt helps more than ColorAdapt", "+ TokenAdapt - + ColorAdapt (pose)",
                   ablation.get("+ ColorAdapt"), ablation.get("+ TokenAdapt"), "acc_pose", None),
                  ("learned warps beat naive warps", "+ TokenAdapt - + naive warps (pose)",
                   ablation.get("+ naive warps"), ablation.get("+ TokenAdapt"), "acc_pose", None)]
        # 5. token augmentation makes models more robust (the paper: SeiT -> SeiT++ without MTM): they lose
        # less of their clean accuracy under each shift. The difference is the other's drop minus SeiT++'s.
        for name in SHIFTS:
            paper_drops = {"SeiT": _minus(paper_drop("SeiT", name), paper_drop("SeiT++ without MTM", name))}
            pairs += [("more robust", f"drop on {name}: {other} - SeiT++ without MTM", cell("SeiT++ without MTM"),
                       cell(other), f"drop_{name}", paper_drops.get(other)) for other in dict.fromkeys(("SeiT", twin))]
        return out + judge_pairs(pairs, chance=1 / sweep.num_classes)


def _minus(b: float | None, a: float | None) -> float | None:
    return None if a is None or b is None else round(b - a, 1)
