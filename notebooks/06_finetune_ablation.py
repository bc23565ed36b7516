# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.7
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 6. Fine-tuning: SeiT against SeiT++, piece by piece
#
# :::{admonition} What you will learn
# - how SeiT and SeiT++ differ as a handful of config fields over one fine-tuning recipe
# - how a sweep's regime is chosen on validation images before the sweep runs
# - what each of SeiT++'s parts (MTM, ColorAdapt, TokenAdapt) adds here, against the seed spread
# :::
#
# Chapters 2 to 5 built SeiT++'s parts one at a time: TokenAdapt for geometry, ColorAdapt and
# Emb-Noise for colour, masked token modeling for pre-training. This chapter trains classifiers
# with them and asks the paper's question: which part buys how much accuracy? {cite}`lee2024seitpp`
# answers with two tables on ImageNet: SeiT {cite}`park2023seit` against SeiT++ with and without
# MTM, and an ablation of the two augmentations (ViT-S on ImageNet-100: baseline 77.3%,
# + ColorAdapt 78.3%, + TokenAdapt 80.4%, both 81.4%).
#
# Here every number comes from one sweep of this package, `python -m seitpp reproduce`, which
# trains every method at three storage budgets with three seeds, plus the ablation and pixel
# baselines, and evaluates every model on clean and shifted test images. Its `cpu` preset runs in
# about two hours on two CPU cores; its results are committed with the command, machine and date,
# and this chapter reads them. First, though, one of its comparisons runs live on this page, in
# about a minute: fine-tuning from the committed MTM encoder against fine-tuning from scratch.
#
# This chapter shows:
#
# 1. a live head-to-head, MTM's encoder against no pre-training, five seeds each;
# 2. the methods as the configs that train them: what differs between them and what not;
# 3. how the sweep's regime was chosen, on validation images, before any test image was scored;
# 4. the committed results at the full budget, and what MTM learned during pre-training;
# 5. the ablation: ColorAdapt, TokenAdapt and naive warps on and off, beside the paper's numbers;
# 6. every finding of the paper judged against the spread over seeds: holds, opposite or unclear;
# 7. the first sweep, whose failures chose the stem and the table's start.
#
# Chapter 7 reads the same sweep for storage budgets, pixel baselines and robustness.

# %%
import ast
import json
import re
import statistics
import time
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np
import torch
from IPython.display import display
from myst_nb import glue

import seitpp
from seitpp.data import CLASS_SETS, render_shapes
from seitpp.device import default_device
from seitpp.engine.loop import evaluate, train
from seitpp.experiments import (SUMMARY_FILE, difference, format_table, mean_std, read_results, select,
                                top1_and_loss)
from seitpp.experiments.paper import PAPER_ABLATION, paper_budget
from seitpp.experiments.recipe import finetune_for_steps
from seitpp.experiments.reproduce import (FIRST_RESULTS, METHODS, RANDOM_TABLE_RESULTS, REFERENCE_MTM,
                                          REFERENCE_PRESET, REFERENCE_RESULTS, Reproduce, SweepCell, sweep_preset)
from seitpp.tokenizers import VQTokenizer
from seitpp.tokens import Split
from seitpp.experiments.tables import read_pilots
from seitpp.files import ARTEFACTS
from seitpp.viz import ablation_figure, budget_lines_figure, finetune_curves_figure, mtm_logs_figure

FAST = seitpp.fast_mode()
DEVICE = default_device()  # SEITPP_DEVICE if set, else CUDA if there is one, else the CPU (seitpp.device)
cpu = sweep_preset(REFERENCE_PRESET)  # the preset of the committed sweep
sweep = Reproduce(cpu)  # the experiment: its cells, recipe and findings
CHANCE = 1 / len(CLASS_SETS[cpu.classes])
print(f"fast mode: {FAST}; device: {DEVICE} (where the live runs below train)")
print(f"the committed sweep: {cpu.train_images} training images at the full budget, budgets "
      f"{[cpu.budget_images(b) for b in cpu.budgets]} images, {cpu.test_images} test images, seeds {cpu.seeds}, "
      f"{cpu.finetune_steps} fine-tuning steps per cell, {cpu.pretrain_steps} MTM steps per budget")

# %% [markdown]
# ## A live head-to-head: MTM's encoder against no pre-training
#
# The committed sweep's first question, asked live: does a classifier fine-tuned from the MTM
# encoder beat the same classifier trained from scratch? Both runs below use one recipe, the
# sweep's "SeiT + MTM" (Token-EDA on the SeiT++ stem, its table frozen at the tokenizer's codes),
# the same images, steps and seeds; the only difference is `init`. One starts from
# `seitpp/artefacts/mtm-cpu`, the MTM encoder that the sweep pre-trained on its 2,000 training
# objects (no labels), which chapter 5 scored; the other from random weights. `train(config, data,
# init=folder)` loads a saved MTM model folder as it loads a pre-training checkpoint.
#
# The regime was chosen on 400 validation objects, before any test image was scored, so that the
# comparison fits in about a minute and its two sides separate by more than their seeds do. Six
# configurations were tried, mean validation top-1 from the MTM encoder against from scratch: on
# 1,000 images for 150 steps at the sweep's rate of $2 \times 10^{-3}$, a first pilot, 19.3% and
# 18.0%, not separated; then, two seeds each unless said, on 200
# images, 150 steps gave 18.5% against 16.0% and 300 steps 19.0% against 18.8%; on 100 images,
# 12.5% against 12.5%; on 200 images for 150 steps at $4 \times 10^{-3}$, 19.6% against 15.8% (three
# seeds, the MTM runs 17.5 to 20.8%), and at $8 \times 10^{-3}$ 18.8% against 14.4% (three seeds,
# 17.8 to 19.5% and 14.0 to 14.8%): the last, with the smallest spread beside its gap, is this
# cell's. On another machine (an AMD EPYC in place of an Intel Xeon) the same three seeds per side
# came out 1.8 points apart with a seed spread of 1.9, so the cell trains five: on the validation
# objects there, 18.9% against 14.5%, spreads 1.1 and 1.4. It scores the ten models on held-out
# test objects (400 in fast mode, the sweep's 1,200 in full mode); both modes train the same runs.

# %%
LIVE_IMAGES, LIVE_STEPS, LIVE_LR, LIVE_SEEDS = 200, 150, 8e-3, (0, 1, 2, 3, 4)  # chosen on validation images
NUM_LIVE_TEST = 400 if FAST else cpu.test_images
tokenizer = VQTokenizer.load()
K = tokenizer.config.codebook_size


def token_split(n: int, split: str, name: str) -> Split:
    """The first n objects of a split, drawn as the sweep draws them and tokenized by the reference tokenizer."""
    shapes = render_shapes(n, split=split, **cpu.look)
    return Split(tokenizer.tokenize_many(shapes.images), torch.as_tensor(shapes.labels), cpu.num_classes, K, name,
                 kind="tokens")


live_train = token_split(LIVE_IMAGES, "train", "live train")  # the first 200 of the images MTM pre-trained on
live_test = token_split(NUM_LIVE_TEST, "test", "live test")
recipe = {k: v for k, v in (cpu.learned_table | METHODS["SeiT + MTM"]).items() if k != "mtm"}  # mtm: the init
starts = {"from the MTM encoder": REFERENCE_MTM, "from scratch": None}
live_top1 = {name: [] for name in starts}
t0 = time.perf_counter()
for name, init in starts.items():
    for seed in LIVE_SEEDS:
        config = finetune_for_steps(cpu.base, {**cpu.finetune, **recipe, "lr": LIVE_LR, "seed": seed}, LIVE_STEPS,
                                    LIVE_IMAGES)
        result = train(config, live_train, init=init, device=DEVICE, progress=False)
        live_top1[name].append(100 * evaluate(result.model, live_test, config, DEVICE)["val_top1"])
print(f"{len(starts) * len(LIVE_SEEDS)} runs of {result.steps} steps on {LIVE_IMAGES} images in "
      f"{time.perf_counter() - t0:.0f} s; recipe {recipe}, lr {LIVE_LR}")
display(format_table(["start", *(f"seed {s}" for s in LIVE_SEEDS), "mean", "std over seeds"],
                     [[name, *(f"{a:.1f}" for a in accs), f"{statistics.mean(accs):.1f}",
                       f"{statistics.stdev(accs):.1f}"] for name, accs in live_top1.items()],
                     caption=f"live: top-1 (%) on {NUM_LIVE_TEST} held-out test objects (chance {100 * CHANCE:.1f}%)"))
mtm_top1, scratch_top1 = (statistics.mean(live_top1[name]) for name in starts)
live_spread = max(statistics.stdev(accs) for accs in live_top1.values())  # the larger of the two seed stds
glue("ch6_live_mtm_top1", mtm_top1, display=False)
glue("ch6_live_scratch_top1", scratch_top1, display=False)
glue("ch6_live_gap", mtm_top1 - scratch_top1, display=False)
glue("ch6_live_spread", live_spread, display=False)
glue("ch6_chance", 100 * CHANCE, display=False)

# %% [markdown]
# Fine-tuned from the MTM encoder, the classifier names {glue:text}`ch6_live_mtm_top1:.1f`% of the
# test objects (mean of five seeds); from scratch, {glue:text}`ch6_live_scratch_top1:.1f`%, where
# chance is {glue:text}`ch6_chance:.1f`%. The gap, {glue:text}`ch6_live_gap:.1f` points, is to be
# read against the spread over seeds: the larger of the two standard deviations is
# {glue:text}`ch6_live_spread:.1f` points. Both are far from what the sweep's 1,800 steps reach;
# a hundred and fifty steps on 200 images show which start learns faster in this regime, not how
# far either goes. The committed sweep asks the same question at three budgets and 1,800 steps,
# below.

# %% [markdown]
# ## The methods are configs
#
# A method is a handful of fields over one fine-tuning recipe. The table prints, for each method
# of the budget table and each ablation variant, the fields that differ between them; everything
# else (model body, optimiser, schedule, crops, label smoothing) is the same for all.
#
# - **stem**: `seit` embeds each id with the tokenizer's own code vector, frozen; `seitpp` learns
#   its own 391 x 32 table. A convolution of stride 2 then makes patches. In the release it is
#   4 x 4 for SeiT and 2 x 2 for SeiT++; here both stems get the same 4 x 4 (`patch_kernel`), so
#   the methods differ only in what the paper changes, and the release's 2 x 2 stem is a labelled
#   row of its own. The learned table starts as a copy of the tokenizer's code vectors
#   (`table_init="codes"`), not from random rows as in the release, and MTM and fine-tuning keep
#   it there (`freeze_table`), but in "SeiT, learned table", whose table learns in fine-tuning to
#   show what that costs. The end of the chapter shows the first sweep that made the first choice;
#   the pilots below made the second.
# - **policy**: `seit` is Token-EDA (synonym replacement or patch swap on the ids); `seitpp` is
#   the release's policy: Emb-Noise or ColorAdapt on half the batch, then TokenAdapt's flips,
#   affine warps and crops on half of it, with the reference TokenAdapt of chapter 3.
# - **init**: the MTM encoder pre-trained (chapter 5) on the same budget's tokens, or none.

# %%
DIFFERING = ("stem", "table", "policy", "color_adapt", "token_adapt")
rows = []
shown = [c for c in sweep.cells()
         if c.seed == 0 and (c.experiment == "ablation" or c.experiment == "budgets" and c.budget == 1.0)]
for cell in shown:
    cfg = sweep.finetune_config(cell.overrides, cell.seed, cpu.budget_images(cell.budget))
    aug = cfg.augment
    flags = [aug.color_adapt, aug.token_adapt] if aug.policy == "seitpp" else ["-", "-"]  # seitpp's switches
    table = "-" if cfg.model.stem == "seit" else "frozen" if cfg.model.freeze_table else "learns"  # in fine-tuning
    rows.append([f"{cell.experiment}: {cell.method}", cfg.model.stem, table, aug.policy, *flags,
                 "MTM" if cell.stage else "-"])
display(format_table(["method", *DIFFERING, "init"], rows))
first = sweep.cells()[0]
base = sweep.finetune_config(first.overrides, first.seed, cpu.train_images)
shared = {f"{part}.{k}": v for part in ("model", "optim", "augment") for k, v in asdict(getattr(base, part)).items()
          if k in ("name", "crop", "batch_size", "lr", "weight_decay", "layer_decay", "label_smoothing", "min_scale",
                   "mixup", "cutmix", "noise")}
display(format_table(["field", "value"], list(shared.items()), caption="shared by all methods"))

# %% [markdown]
# The shared recipe is gentler than the paper's. Measured while choosing it: with the paper's
# crops (down to 8% of the grid), Mixup 0.8 and CutMix 1.0, a ViT-micro on 1,000 Shapes grids
# stayed at chance for 570 steps (10.7%, 12 classes), so every method here gets crops of at least
# 35% of the area, no label mixing, and lr 2e-3 (at 5e-3 the same model needed about twice the
# steps to reach the same accuracy). What differs is only each method's own part.

# %% tags=["hide-cell"]
PILOTS = ARTEFACTS / "pilots"
pilot_presets = {r["pilot"]: r["preset"] for r in read_pilots(PILOTS)}  # pilot -> its preset
glue("ch6_pilots", float(len(pilot_presets)), display=False)
glue("ch6_pilots_regime", float(sum(p == "cpu-pilot" for p in pilot_presets.values())), display=False)
glue("ch6_pilots_rule", float(sum(p == "cpu-val" for p in pilot_presets.values())), display=False)

# %% [markdown]
# ## The regime, chosen on validation images
#
# A sweep is only as good as its regime: how many images, how many steps, which corruptions. This
# book's first sweep (`--preset cpu-first`, the end of this chapter reads it) could not separate
# the methods: its baseline learned little (SeiT stayed under half right on 1,000 symmetric
# shapes), the corruptions barely hurt anyone, and its symmetric shapes made a flip hardly a new
# image. So the regime of the sweep that this chapter and the next read was chosen first, with
# *pilot* runs scored on the validation split, never on the test images, by what the baseline
# needs, not by which method wins:
#
# - **headroom**: SeiT at the full budget between 65 and 90% top-1: it learns, and does not saturate;
# - **budgets that bind**: the smallest budget costs accuracy without falling to chance;
# - **shifts that hurt**: noise, blur and pose severities at which SeiT loses 10 points or more;
# - **data that fit the question**: the "objects" (`seitpp.data.shapes`): twelve shapes without
#   mirror symmetry, each facing either way, so a flip keeps the class but is a new image, as a
#   flipped photograph is.
#
# Every pilot is a `reproduce` command with `--preset cpu-pilot` (the first
# {glue:text}`ch6_pilots_regime:.0f`) or `cpu-val`
# (the later ones; both one seed on the validation split) and a few `--set` changes, committed
# with its provenance; the table lists them all, in the order they ran.

# %%
pilots = sorted(read_pilots(PILOTS),
                key=lambda r: int(r["pilot"].split("-")[0][1:]))  # p1, p2, ...: numbered as they were started


def settings_changed(change: str, preset: str) -> str:
    """A --set change as what it changed: "finetune={...}" -> "finetune freeze_table=True" (the keys whose
    value differs from the pilot's preset)."""
    name, _, value = change.partition("=")
    if name not in ("finetune", "pretrain"):
        return change.replace("classes=", "")
    base = getattr(sweep_preset(preset), name)
    return ", ".join(f"{name} {k}={v!r}" for k, v in ast.literal_eval(value).items() if base.get(k) != v)


changes = {}
for r in pilots:  # the --set changes that say what a pilot varied (which methods and budgets: in the table)
    changed = [settings_changed(c, r["preset"]) for c in r["changes"]
               if not c.startswith(("methods=", "budgets=", "experiments="))]
    changes[r["pilot"]] = [c for c in changed if c]  # a dict as the preset's changes nothing
display(format_table(["pilot", "what it changed"], [[name, ", ".join(change)] for name, change in changes.items()]))
rows = [[r["pilot"].split("-")[0], r["method"], r["train_images"], r["steps"], f"{100 * r['acc_clean']:.1f}",
         f"{r['train_loss']:.2f}",
         *(f"{100 * (r['acc_clean'] - r[f'acc_{s}']):+.0f}" for s in ("noise", "blur", "pose"))] for r in pilots]
display(format_table(["pilot", "method", "images", "steps", "val top-1 %", "train loss", "noise", "blur", "pose"], rows,
                     caption=f"{len(changes)} pilot configurations, {len(pilots)} training runs, one seed each (about 3 "
                             "points of run-to-run spread); noise, blur, pose: points of top-1 lost to each shift"))

seit = [r for r in pilots if r["method"] == "SeiT" and r["budget"] == 1.0]
by_steps = [("about 800", [r for r in seit if r["steps"] < 1000]),
            ("about 1,800", [r for r in seit if 1000 <= r["steps"] <= 2000]),
            ("about 2,400", [r for r in seit if r["steps"] > 2000])]
display(format_table(["steps", "SeiT at the full budget: val top-1 of each pilot (%)"],
                     [[name, ", ".join(f"{100 * r['acc_clean']:.0f}" for r in runs)] for name, runs in by_steps]))

# %% tags=["hide-cell"]
pilot_run = {(r["pilot"].split("-")[0], r["method"], r["train_images"]): r for r in pilots}  # ("p12", method, images)
few, many = cpu.budget_images(min(cpu.budgets)), cpu.train_images  # 429 and 2,000 images
same_epochs = [100 * r["acc_clean"] for (p, _, _), r in pilot_run.items() if p in ("p13", "p15")]
glue("ch6_same_epochs_min", float(min(same_epochs)), display=False)
glue("ch6_same_epochs_max", float(max(same_epochs)), display=False)
for p, method, name in [("p12", "SeiT++ without MTM", "p12_learning"), ("p12", "SeiT", "p12_seit"),
                        ("p14", "SeiT++ without MTM", "p14_frozen"), ("p18", "SeiT++ without MTM", "p18_warm")]:
    glue(f"ch6_{name}_top1", float(100 * pilot_run[p, method, few]["acc_clean"]), display=False)
    if p == "p12":
        glue(f"ch6_{name}_loss", float(pilot_run[p, method, few]["train_loss"]), display=False)
full_three = [100 * pilot_run[p, "SeiT++ without MTM", many]["acc_clean"] for p in ("p12", "p14", "p18")]
glue("ch6_table_rule_full_min", float(min(full_three)), display=False)
glue("ch6_table_rule_full_max", float(max(full_three)), display=False)
glue("ch6_table_rule_full_range", float(max(full_three) - min(full_three)), display=False)

# %% [markdown]
# What the pilots say, read from the table:
#
# - **Steps, not images, hold SeiT back.** At the sweep's 800 steps SeiT stays far below the band
#   on the objects; three times the steps bring it into it, on 1,000 images as on 2,000.
# - **Budgets bind with 2,000 images.** On 214 images (the smallest budget of 1,000) SeiT falls
#   far; with 2,000 the smallest budget (429 images) still learns, so the budget table has room at
#   both ends.
# - **The shifts were too mild.** At noise 0.1 and blur 1 SeiT lost a few points; noise 0.25 and
#   blur 2 cost it well over 10, and a milder pose shift (sizes 0.15 to 0.25, turns up to 45
#   degrees) leaves it above chance.
# - **The learned table wants the codes** on the 4 x 4 stem as on the 2 x 2 one: from random rows
#   "SeiT, learned table" stayed near chance (pilots 4 and 5), so the sweep keeps `table_init="codes"`.
# - The plain, one-colour style ("flat") did not help SeiT++ beyond the photo style, so the
#   objects keep the photo style.
# - **MTM pays when it may not rewrite the table.** After 3,000 MTM steps on 2,000 objects,
#   fine-tuning from the encoder whose table MTM had learned ended level with no pre-training
#   (pilot 9); with the table frozen at the tokenizer's codes during MTM (`freeze_table=True`), it
#   ended several points above it (pilot 10): one seed each, so a lead to test with three, which
#   the sweep does. The kNN label probe in both MTM logs stayed close to chance, so it does not
#   predict this: what MTM learns here is not yet a class structure a nearest-neighbour vote sees.
#
# These pilots chose the images, the shifts and the steps, and the first findings sweep ran on
# them (`--preset cpu-learned-table`; chapter 7 keeps its budget table). Its smallest budget went
# the wrong way for a reason of its own: every model whose token table learned in fine-tuning
# fitted the 429 images better than SeiT and tested worse. Pilots p12 to p18 then chose how a
# budget is trained, on validation images at the full and the smallest budget (one seed,
# "SeiT++ without MTM" against SeiT), the same rule for every method:
#
# - **The same steps at every budget.** The same *epochs* (390 steps at 429 images, p13, p15)
#   left every model {glue:text}`ch6_same_epochs_min:.0f` to {glue:text}`ch6_same_epochs_max:.0f`%
#   right, and steps that grow with the square root of the budget
#   (845, p16, p17) still short; only the full 1,800 steps let the small budget learn.
# - **The learned table stays at the codes.** At 1,800 steps on 429 images, SeiT++'s table
#   learning from the first step memorised (p12: training loss {glue:text}`ch6_p12_learning_loss:.2f`,
#   SeiT's {glue:text}`ch6_p12_seit_loss:.2f`, and {glue:text}`ch6_p12_learning_top1:.0f`% right
#   against SeiT's {glue:text}`ch6_p12_seit_top1:.0f`%); frozen at the tokenizer's codes it reached
#   {glue:text}`ch6_p14_frozen_top1:.0f`% (p14), and a warm start, frozen for the first half and then
#   learning, {glue:text}`ch6_p18_warm_top1:.0f`% (p18). At the full budget the three were
#   {glue:text}`ch6_table_rule_full_range:.1f` points apart
#   ({glue:text}`ch6_table_rule_full_min:.1f`-{glue:text}`ch6_table_rule_full_max:.1f`%).
#   Frozen is the simplest that works at both ends.
#
# The choice is the `cpu` preset, `python -m seitpp reproduce --preset cpu`: 2,000 objects, those
# severities, 1,800 fine-tuning steps for every model at every budget, and a learned table that
# keeps the tokenizer's codes in fine-tuning as MTM keeps them. "SeiT, learned table" runs at
# every budget (it separates the table from the augmentation where the budgets differ), the
# ablation at the smallest budget (where an augmentation must earn its place), the release's 2 x 2
# stem at the full budget only. In all {glue:text}`ch6_pilots:.0f` pilot configurations,
# {glue:text}`ch6_pilots_regime:.0f` for the regime and {glue:text}`ch6_pilots_rule:.0f` for the rule,
# each fixed before the sweep ran, and the sweep ran once.
#
# ## The committed sweep
#
# `seitpp/artefacts/reproduce-cpu/` holds what `python -m seitpp reproduce --preset cpu` wrote:
# one row per trained model in `results.csv`, the mean and standard deviation over seeds in
# `summary.csv`, and how it was made in `provenance.json`.

# %%
provenance = json.loads((REFERENCE_RESULTS / "provenance.json").read_text())
for key in ("command", "date", "renamed"):
    if key in provenance:
        print(f"{key:>13}: {provenance[key]}")
print(f"{'compute':>13}: {provenance['metrics']['cell_seconds'] / 60:.0f} min of one-thread training and "
      "evaluation in the models below (MTM runs not included)")
print(f"{'machine':>13}: {provenance['machine']['platform']}, torch {provenance['machine']['torch']}")
summary = read_results(REFERENCE_RESULTS / SUMMARY_FILE)
done, total = provenance["metrics"]["cells_done"], provenance["metrics"]["cells_total"]
print(f"{'models':>13}: {done} of {total} trained, in {len(summary)} groups of "
      f"{'/'.join(map(str, sorted({r['seeds'] for r in summary})))} seeds")
if not provenance["metrics"]["complete"]:
    print(f"{'':>13}  the sweep is not finished: a group with fewer seeds has a less certain mean, a missing "
          "one shows as '-'; the same command completes it")

# %% [markdown]
# ## SeiT against SeiT++ at the full budget
#
# Top-1 on the 1,200 held-out test images, mean ± standard deviation over three seeds (one model
# per seed), the training loss each ended with in brackets, and the paper's ImageNet numbers at
# its full 1.4 GB beside it. The paper's SeiT row
# is a different model and schedule from ours; read the columns for their order, not their level.

# %%
full = {r["method"]: r for r in select(summary, "budgets", budget=1.0)}
display(format_table(["method", "top-1 here (%) (training loss)", "paper, ImageNet (%)"],
                     [[m, top1_and_loss(full[m]), paper_budget(m, 1.0) or "-"] for m in METHODS if m in full]))


def gap(a: str, b: str) -> list[str]:
    """[b - a, the difference in points, the two spreads combined, whether it exceeds them]."""
    d, noise = difference(full[a], full[b])
    if np.isnan(noise):
        return [f"{b} - {a}", f"{d:+.1f}", "one seed", "no spread yet"]
    return [f"{b} - {a}", f"{d:+.1f}", f"{noise:.1f}", "beyond" if abs(d) > noise else "within"]


pairs = [("SeiT", "SeiT, learned table"), ("SeiT", "SeiT + MTM"), ("SeiT", "SeiT++ without MTM"),
         ("SeiT++ without MTM", "SeiT++"), ("SeiT", "SeiT++")]
display(format_table(["comparison (b - a)", "points", "spread", "beyond or within the spread"],
                     [gap(a, b) for a, b in pairs if a in full and b in full]))

# %% tags=["hide-cell"]
results = read_results(REFERENCE_RESULTS / "results.csv")  # one row per model
seit_runs = sorted(select(results, "budgets", "SeiT", 1.0), key=lambda r: r["seed"])
seit_seeds = [100 * r["acc_clean"] for r in seit_runs]  # SeiT at the full budget, one per seed
lowest = min(seit_seeds)
below = [a - lowest for a in seit_seeds if a != lowest]  # how far the lowest seed is below each other one
glue("ch6_seit_full_top1", float(100 * full["SeiT"]["acc_clean_mean"]), display=False)
glue("ch6_seit_low_seed_min", float(min(below)), display=False)
glue("ch6_seit_low_seed_max", float(max(below)), display=False)

# %% [markdown]
# What the full budget says, read from the second table. SeiT++ is ahead of SeiT by more than the
# spread, and so is each of its parts on its own: the augmentation (SeiT++ without MTM against
# SeiT, whose frozen codes SeiT++'s stem keeps here but for a LayerNorm) and MTM (SeiT++ against
# SeiT++ without MTM, and SeiT + MTM against SeiT). A table that keeps learning in fine-tuning
# ("SeiT, learned table") is level with SeiT's frozen codes at this budget, within the spread:
# on 2,000 images it does not yet memorise (it does on fewer, below and in chapter 7). The
# release's 2 x 2 stem, with SeiT++'s policy, falls far behind: at this scale the stem matters
# more than any of SeiT++'s pieces, which is why every stem here gets the same 4 x 4 convolution.
# SeiT itself ends at {glue:text}`ch6_seit_full_top1:.0f`%, under the 65% the pilots aimed for and
# with the table's largest spread: one of its three seeds ended {glue:text}`ch6_seit_low_seed_min:.1f`
# to {glue:text}`ch6_seit_low_seed_max:.1f` points below the other two (every seed is a row of
# `results.csv`; exercise 1).
#
# ## What MTM learned
#
# Each budget's MTM run logs, every few hundred steps, its loss on masked tokens of validation
# images and a label probe: a nearest-neighbour vote (k = 20) on the frozen encoder's mean
# features, which asks whether the encoder sorts images by class without being told the labels.
# Step 0 is the random encoder; {numref}`fig-finetune-mtm` shows every logged step.

# %%
mtm_logs = {cpu.budget_images(float(path.stem.removeprefix("mtm-"))): read_results(path)  # budget's images -> log
            for path in (REFERENCE_RESULTS / "histories").glob("mtm-*.csv")}
rows = []
for n, log in sorted(mtm_logs.items(), reverse=True):
    probed = [r for r in log if r["val_probe_top1"] != ""]
    rows.append([n, log[-1]["step"], f"{log[0]['val_loss']:.2f} -> {log[-1]['val_loss']:.2f}",
                 f"{100 * probed[0]['val_probe_top1']:.1f} -> {100 * probed[-1]['val_probe_top1']:.1f}"])
display(format_table(["MTM on (images)", "steps", "masked-token loss (nats)", "label probe (%)"], rows,
                     caption="validation, at step 0 -> after the last step"))

# %% tags=["hide-input"] mystnb={"figure": {"caption": "MTM on each budget: its own objective, the masked-token loss on validation images (left), and a kNN label probe on the frozen encoder's features (right), against chance.", "name": "fig-finetune-mtm"}}
fig = mtm_logs_figure(mtm_logs, CHANCE)

# %% tags=["hide-cell"]
mtm_gains = [difference(select(summary, "budgets", a, b)[0], select(summary, "budgets", with_mtm, b)[0])[0]
             for b in cpu.budgets if b != min(cpu.budgets)
             for a, with_mtm in [("SeiT", "SeiT + MTM"), ("SeiT++ without MTM", "SeiT++")]]
glue("ch6_mtm_gain_min", float(min(mtm_gains)), display=False)  # points, the two larger budgets
glue("ch6_mtm_gain_max", float(max(mtm_gains)), display=False)

# %% [markdown]
# MTM's own objective falls steadily on every budget; the label probe moves only a few points
# above chance. What MTM learns here is not yet a class structure that a nearest-neighbour vote
# can read. It is still a better start for fine-tuning at the two larger budgets, by
# {glue:text}`ch6_mtm_gain_min:.0f` to {glue:text}`ch6_mtm_gain_max:.0f` points with either
# augmentation (the findings below). At the smallest budget it is not: "SeiT +
# MTM" (MTM's encoder fine-tuned with SeiT's Token-EDA) falls below SeiT, and SeiT++ ends level
# with SeiT++ without MTM. The next table and {numref}`fig-finetune-small-budget` say why: the
# training loss each model ends with, beside its test accuracy, and how fast each fits.

# %%
rows = []
for n, budget in zip([cpu.budget_images(b) for b in cpu.budgets], cpu.budgets):
    for method in ("SeiT", "SeiT + MTM", "SeiT++ without MTM", "SeiT++"):
        cell = select(summary, "budgets", method, budget)[0]  # the means over seeds
        rows.append([n, method, f"{cell['train_loss_mean']:.2f}", f"{100 * cell['acc_clean_mean']:.1f}"])
display(format_table(["images", "method", "final training loss", "test top-1 (%)"], rows,
                     caption="label smoothing 0.1: a perfect fit of 12 classes ends near 0.5"))

# %% tags=["hide-input"] mystnb={"figure": {"caption": "Fine-tuning on the smallest budget: the training loss of each run by step, one line per seed. A model whose loss falls furthest fits its training images best; the table above says whether it also tests best.", "name": "fig-finetune-small-budget"}}
small = min(cpu.budgets)
histories = REFERENCE_RESULTS / "histories"
curves = {m: [read_results(path) for seed in cpu.seeds
              if (path := histories / f"{SweepCell('budgets', m, seed, small).slug}.csv").exists()]
          for m in ("SeiT", "SeiT + MTM", "SeiT++ without MTM", "SeiT++")}
fig = finetune_curves_figure(curves, f"fine-tuning on {cpu.budget_images(small)} images")

# %% tags=["hide-cell"]
at_small = {m: select(summary, "budgets", m, small)[0] for m in curves}  # the means over seeds
for m, name in [("SeiT", "seit"), ("SeiT + MTM", "seit_mtm"), ("SeiT++ without MTM", "seitpp_without"),
                ("SeiT++", "seitpp")]:
    glue(f"ch6_small_{name}_loss", float(at_small[m]["train_loss_mean"]), display=False)
glue("ch6_small_mtm_drop", float(-difference(at_small["SeiT"], at_small["SeiT + MTM"])[0]), display=False)
glue("ch6_small_seitpp_spread", float(difference(at_small["SeiT++ without MTM"], at_small["SeiT++"])[1]),
     display=False)

# %% [markdown]
# On 429 images MTM's encoder fits the training images faster and further than a model without
# it: with SeiT's weak augmentation it ends at a training loss of
# {glue:text}`ch6_small_seit_mtm_loss:.2f` against SeiT's {glue:text}`ch6_small_seit_loss:.2f`, and
# tests {glue:text}`ch6_small_mtm_drop:.1f` points lower. SeiT++'s augmentations slow the fit
# ({glue:text}`ch6_small_seitpp_loss:.2f`) but do not turn the faster start into a better model: it
# ends level with SeiT++ without MTM ({glue:text}`ch6_small_seitpp_without_loss:.2f`), within a
# spread of {glue:text}`ch6_small_seitpp_spread:.1f` points. With the probe near chance, what MTM
# gives these models is a head start at fitting
# whatever they are shown, not features that separate the classes; on 2,000 images that start
# becomes accuracy, on 429 it becomes memorising. So the paper's largest MTM gain, at its smallest
# budget, does not hold here; more MTM steps or a larger encoder might change that, and the
# pilots did not test either.
#
# ## The ablation
#
# SeiT++'s policy with ColorAdapt and TokenAdapt switched on and off, three seeds each, at the
# smallest budget, where the little data leave most room for an augmentation to earn its place
# (its size is in the legend of {numref}`fig-finetune-ablation`). All start from the MTM encoder
# of that budget. "+ both" is the budget table's SeiT++ model at that budget: the same config,
# trained once. The training loss each ended with is in brackets.

# %%
ablation = sweep.ablation_rows(summary)
display(format_table(["variant", "top-1 here (%) (training loss)", "paper, ImageNet-100 (%)"],
                     [[v, top1_and_loss(r), PAPER_ABLATION.get(v, "-")] for v, r in ablation.items()]))

# %% tags=["hide-input"] mystnb={"figure": {"caption": "The ablation as gains over its baseline, in points of top-1: here (mean over seeds, bars the two rows' standard deviations combined) beside the paper's ImageNet-100 gains (it has no naive-warp row), on one axis.", "name": "fig-finetune-ablation"}}
fig = ablation_figure(ablation, PAPER_ABLATION, f"this book: {cpu.budget_images(cpu.ablation_budget)} "
                      f"images, ViT-micro, {len(cpu.seeds)} seeds")

# %%
if "baseline" in ablation:
    base = ablation["baseline"]["acc_clean_mean"]
    display(format_table(["variant", "points over the baseline, here", "paper"],
                         [[v, f"{100 * (ablation[v]['acc_clean_mean'] - base):+.1f}",
                           f"{PAPER_ABLATION[v] - PAPER_ABLATION['baseline']:+.1f}" if v in PAPER_ABLATION else "no such row"]
                          for v in list(ablation)[1:]]))

# %% [markdown]
# ## The paper's findings, judged here
#
# Each finding of the paper is a difference it reports as positive. `Reproduce.findings`
# measures the same difference on the sweep and calls it *holds* when it is positive by more than
# the spread over seeds (the two standard deviations combined), *opposite* when negative by more,
# and *unclear* otherwise. This chapter's share: MTM, SeiT++ against SeiT, and the ablation.

# %%
judged = [f for f in sweep.findings(summary) if f["finding"] not in ("more robust", "smaller budget, larger gain")]
display(format_table(["finding", "comparison", "points", "spread", "verdict"],
                     [[f["finding"], f["comparison"], f"{f['difference']:+.1f}", f"{f['spread']:.1f}", f["verdict"]]
                      for f in judged]))

# %% tags=["hide-cell"]
glue("ch6_color_over_token", float(difference(ablation["+ TokenAdapt"], ablation["+ ColorAdapt"])[0]), display=False)

# %% [markdown]
# SeiT++ beats SeiT at every budget by more than the spread, and MTM and the augmentation add up
# at every budget too (SeiT++ against SeiT + MTM). MTM's own gain holds at the two larger budgets
# and not at the smallest (the section above says why). In the ablation, on 429 images from that
# budget's MTM encoder, ColorAdapt and TokenAdapt each add points beyond the spread, and together
# more than either. Which adds more comes out the other way from the paper: ColorAdapt, by
# {glue:text}`ch6_color_over_token:.1f` points; on the pose shift, where geometry should matter most,
# the two are level within the
# spread. The naive-warp row answers the question the paper argues but does not measure for
# accuracy: the same geometry applied to the grid of ids adds less than TokenAdapt in its place,
# by a little more than the spread on clean images and within it on the pose shift. Learning the
# warp pays, but on these objects the colour statistics pay more.

# %% [markdown]
# ## The first sweep: what the stem and the table's start decided
#
# The first cpu sweep (`python -m seitpp reproduce --preset cpu-first`, committed in
# `seitpp/artefacts/reproduce-cpu-first/`) trained the same methods on 1,000 symmetric shapes for
# 800 steps, with the stems as the release has them: SeiT's frozen codes through a 4 x 4
# convolution, SeiT++'s learned table through a 2 x 2 one. A second run of it,
# `--preset cpu-random-table`, started the learned table from random rows, as the release does.
# Two choices of the sweep above come from these two runs: the matched 4 x 4 stem and the table
# that starts from the tokenizer's codes.

# %%
first_sweep = read_results(FIRST_RESULTS / SUMMARY_FILE)
random_table = read_results(RANDOM_TABLE_RESULTS / SUMMARY_FILE)
first_full = {r["method"]: r for r in select(first_sweep, "budgets", budget=1.0)}
display(format_table(["first sweep, 1,000 images", "stem", "top-1 (%)"],
                     [["SeiT", "frozen codes, 4 x 4 conv", mean_std(first_full["SeiT"])],
                      ["SeiT, learned table", "learned table, 2 x 2 conv", mean_std(first_full["SeiT, learned table"])],
                      ["SeiT++ without MTM", "learned table, 2 x 2 conv", mean_std(first_full["SeiT++ without MTM"])]]))

# %% tags=["hide-input"] mystnb={"figure": {"caption": "The first sweep's learned-table models at each budget, mean and standard deviation over seeds: the table started from the tokenizer's codes (left) or from random rows (right).", "name": "fig-finetune-first-sweep"}}
learned = ["SeiT, learned table", "SeiT + MTM", "SeiT++ without MTM", "SeiT++"]
fig = budget_lines_figure({"first sweep: table starts from the tokenizer's codes": first_sweep,
                           "first sweep: table starts from random rows": random_table}, learned, CHANCE,
                          "top-1 on held-out shapes (%)")

# %%
first_sweep_experiment = Reproduce(sweep_preset("cpu-first"))
mtm_gain = [[start, f["comparison"], f"{f['difference']:+.1f}", f"{f['spread']:.1f}", f["verdict"]]
            for start, results in [("codes", first_sweep), ("random rows", random_table)]
            for f in first_sweep_experiment.findings(results) if f["finding"] == "MTM helps"]
display(format_table(["table starts from", "MTM's gain", "points", "spread", "verdict"], mtm_gain))

# %% [markdown]
# Two lessons, both visible above and in {numref}`fig-finetune-first-sweep`. **The stem decided the first sweep.** With the release's 2 x 2
# convolution, each patch sees only its own 2 x 2 tokens, and every learned-table model trailed
# SeiT by far; "SeiT, learned table" differs from SeiT in the table *and* the convolution, and
# single-seed runs while reviewing it put the whole gap on the convolution (frozen codes with a
# 2 x 2 conv fell as far; a learned table with a 4 x 4 conv did not). So the sweep above gives
# every stem the 4 x 4 convolution and keeps the release's as a labelled row. **Where the table
# starts decides what MTM is worth.** From random rows the learned-table models stay near
# chance on their own, and MTM lifts them: it learns a table that a thousand labelled images
# cannot. From the tokenizer's codes the table already knows which codes look alike, and an
# encoder pre-trained by MTM on the same thousand images, whose table MTM had rewritten, was a
# worse start than the codes. Hence the sweep above: tables start from the codes, and MTM keeps
# them there.

# %% tags=["hide-cell"]
spread_of = {}  # (experiment, method, training images) -> the sample std of its seeds' top-1, as summary.csv has it
for r in results:
    spread_of.setdefault((r["experiment"], r["method"], r["train_images"]), []).append(100 * r["acc_clean"])
spread_of = {key: statistics.stdev(accs) for key, accs in spread_of.items() if len(accs) > 1}
seit_spread = spread_of["budgets", "SeiT", cpu.train_images]
glue("ch6_ex1_seit_spread", float(seit_spread), display=False)
for r in seit_runs:
    glue(f"ch6_ex1_seit_seed{r['seed']}", float(100 * r["acc_clean"]), display=False)
downsampled = spread_of["pixels", f"downsampled x1/{cpu.downsample_factors[0]} (PNG)", cpu.train_images]
glue("ch6_ex1_downsampled_spread", float(downsampled), display=False)
glue("ch6_ex1_downsampled_over_seit", float(downsampled - seit_spread), display=False)
glue("ch6_ex1_seitpp_small_spread", float(spread_of["budgets", "SeiT++", cpu.budget_images(small)]), display=False)
resumed = re.search(r"the other (\d+) resumed", provenance["note"])  # the cells of the run's resumed part
glue("ch6_ex3_wall_seconds", float(provenance["wall_seconds"]), display=False)
glue("ch6_ex3_resumed_cells", float(resumed.group(1)), display=False)
glue("ch6_ex3_cell_seconds", float(provenance["metrics"]["cell_seconds"]), display=False)
glue("ch6_ex3_cell_hours", float(provenance["metrics"]["cell_seconds"] / 3600), display=False)
glue("ch6_ex3_cells", float(provenance["metrics"]["cells_total"]), display=False)
glue("ch6_ex3_half_hours", float(provenance["metrics"]["cell_seconds"] / 3600 / 2), display=False)  # two threads

# %% [markdown]
# ## Summary
#
# - A method is a few config fields over one recipe; `python -m seitpp reproduce` trains them all,
#   three seeds each. Live, at the start of the chapter, 150 steps on 200 objects from the MTM
#   encoder reached {glue:text}`ch6_live_mtm_top1:.1f`% and from scratch
#   {glue:text}`ch6_live_scratch_top1:.1f`%, a gap of {glue:text}`ch6_live_gap:.1f` points against a
#   seed spread of {glue:text}`ch6_live_spread:.1f`.
# - The regime (2,000 asymmetric objects, 1,800 steps, harsher shifts) and the rule for budgets
#   (the same steps everywhere, a learned table kept at the tokenizer's codes) were chosen on
#   validation images with {glue:text}`ch6_pilots:.0f` pilots before the sweep ran once.
# - On matched 4 x 4 stems SeiT++ beats SeiT at every budget, and MTM and the augmentation add
#   up; the release's 2 x 2 stem costs more than either adds.
# - MTM, with the table kept at the tokenizer's codes, adds {glue:text}`ch6_mtm_gain_min:.0f` to
#   {glue:text}`ch6_mtm_gain_max:.0f` points at the two larger budgets; on 429 images it makes
#   models fit faster, not better, and adds nothing beyond the
#   spread (SeiT's weakly augmented model it makes memorise).
# - ColorAdapt adds more than TokenAdapt here, the paper's order reversed; TokenAdapt adds more
#   than the same warps applied to the ids.
# - The first sweep showed why these choices: the stem decided it, and MTM from the codes, with its
#   table free to drift, was a worse start than no pre-training.
#
# ## Exercises
#
# Each exercise has a hint and the result to expect, folded away until you open them, and a
# solution where the exercise is code, written to run at the end of this page. Training runs vary
# with the seed and the machine: the expected numbers say which run and size they come from.
#
# 1. The sweep's results are in `seitpp/artefacts/reproduce-cpu/results.csv`, one row per model.
#    Which method has the largest spread over seeds, and at which budget?
#
#    :::{dropdown} Hint
#    `read_results` gives the rows as dicts. Group them by experiment, method and training images,
#    and take the standard deviation of `acc_clean` over each group's seeds (the sample standard
#    deviation, as `summary.csv` does). Look at the seeds of the group on top, too.
#    :::
#
#    :::{dropdown} Expected result
#    Read from the committed sweep: SeiT at the full budget (2,000 images),
#    {glue:text}`ch6_ex1_seit_spread:.1f` points, its seeds at {glue:text}`ch6_ex1_seit_seed0:.1f`%,
#    {glue:text}`ch6_ex1_seit_seed1:.1f`% and {glue:text}`ch6_ex1_seit_seed2:.1f`%: one seed ended
#    {glue:text}`ch6_seit_low_seed_min:.1f` to {glue:text}`ch6_seit_low_seed_max:.1f` points below the
#    other two. Over every row of the file, the pixel baseline downsampled x1/4 ties it (also
#    {glue:text}`ch6_ex1_downsampled_spread:.1f` points, by {glue:text}`ch6_ex1_downsampled_over_seit:.2f`
#    more); the next token row is SeiT++ at the smallest budget,
#    {glue:text}`ch6_ex1_seitpp_small_spread:.1f` points.
#    :::
#
#    :::{dropdown} Solution
#    ```python
#    import statistics
#    from collections import defaultdict
#
#    groups = defaultdict(list)
#    for r in read_results(REFERENCE_RESULTS / "results.csv"):
#        groups[(r["experiment"], r["method"], r["train_images"])].append(100 * r["acc_clean"])
#    spreads = sorted(((statistics.stdev(a), key, a) for key, a in groups.items() if len(a) > 1), reverse=True)
#    for spread, key, accuracies in spreads[:3]:
#        print(f"{spread:.2f} points: {key}, seeds {', '.join(f'{a:.1f}' for a in accuracies)}")
#    ```
#    :::
#
# 2. In the first sweep the two stems differed in two ways: the table (frozen codes or learned)
#    and the patch convolution (4 x 4 overlapping or 2 x 2). Train "SeiT, learned table" of the
#    `cpu-first` preset again with `freeze_table=True` and with `patch_kernel=2`, each on its own:
#    which of the two differences was the gap to SeiT made of?
#
#    :::{dropdown} Hint
#    Today's "SeiT, learned table" already has the matched 4 x 4 convolution, so its two variants
#    are: the first sweep's 2 x 2 convolution with the frozen codes (`patch_kernel=2,
#    freeze_table=True`: only the convolution differs from SeiT) and the 4 x 4 one with the table
#    learning (only the table differs). A `SweepCell` with those overrides, run by
#    `Reproduce(...).run_cell`, trains and scores one model the way the sweep did; train SeiT
#    alongside, with the same seed, for a fair pair.
#    :::
#
#    :::{dropdown} Expected result
#    Measured once, seed 0, with the solution below (the first sweep's 1,000 symmetric shapes and 800
#    steps, scored on its test images): SeiT 36.3% (training loss 1.75); frozen codes through the
#    2 x 2 convolution 28.3% (2.03); the learned table through the 4 x 4 one 38.3% (1.48). The
#    2 x 2 convolution alone costs 8 points, the learned table alone none (2 points ahead, one seed):
#    the gap was the convolution's. Each cell took one to two minutes beside other jobs.
#    :::
#
#    :::{dropdown} Solution
#    ```python
#    first = Reproduce(replace(sweep_preset("cpu-first"), seeds=(0,), experiments=("budgets",)))
#    work = Path("first-sweep-work")
#    variants = {  # SeiT, then the stem's two differences from it, one at a time
#        "SeiT: frozen codes, 4 x 4": dict(policy="seit", stem="seit"),
#        "frozen codes, 2 x 2": dict(policy="seit", stem="seitpp", freeze_table=True, patch_kernel=2),
#        "learned table, 4 x 4": dict(policy="seit", stem="seitpp", freeze_table=False, patch_kernel=4),
#    }
#    for name, overrides in variants.items():
#        row = first.run_cell(SweepCell("budgets", "SeiT, learned table", 0, 1.0, None, overrides), work)
#        print(f"{name}: top-1 {row['acc_clean']:.1%} (training loss {row['train_loss']:.2f})")
#    ```
#    :::
#
# 3. Run `python -m seitpp reproduce --preset cpu --out my-run` with `--workers 1` and compare the
#    wall time against the committed `provenance.json`.
#
#    :::{dropdown} Hint
#    Read the provenance before you start: `command` (how many workers the committed run had),
#    `wall_seconds` and its `note` (which part of the run it covers), and `metrics.cell_seconds`
#    (every cell's own time, summed). With more than one worker each cell runs in its own process
#    on one thread (`seitpp.experiments.sweep`); with one, cells run one after another in the main
#    process on torch's default threads.
#    :::
#
#    :::{dropdown} Expected result
#    Not run for this page (it takes hours); what the provenance lets us expect. The committed run
#    used `--workers 2`, and its `wall_seconds` ({glue:text}`ch6_ex3_wall_seconds:,.0f` s) covers only
#    the {glue:text}`ch6_ex3_resumed_cells:.0f` cells of its resumed part, so it is no total to compare
#    with; `cell_seconds`, {glue:text}`ch6_ex3_cell_seconds:,.0f` s ({glue:text}`ch6_ex3_cell_hours:.1f`
#    hours), is the time of all {glue:text}`ch6_ex3_cells:.0f` cells, each on one thread. With
#    `--workers 1` the cells run one at a time on two threads: the run takes about
#    {glue:text}`ch6_ex3_half_hours:.1f` hours of cells if a second thread doubled a micro model's
#    speed, and {glue:text}`ch6_ex3_cell_hours:.1f` hours if it did not help at all, plus the three
#    MTM stages in both cases. Where
#    in that range it lands is how much a second thread speeds up a micro model's step, which we
#    have not measured: the exercise measures it.
#    :::
