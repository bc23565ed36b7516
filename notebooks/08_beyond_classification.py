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
# # 8. Beyond classification
#
# :::{admonition} What you will learn
# - semantic segmentation from tokens, with augmentations that move masks with the tokens
# - SeiT++'s recipe on the tokens of a second, different tokenizer
# - the same ideas on JPEG's DCT coefficients instead of tokens
# :::
#
# Every chapter so far classified. A storage format earns its place only if what it stores serves
# more than one task, and if the ideas that make training on it work are not tied to one
# tokenizer. SeiT++ {cite}`lee2024seitpp` argues both: fine-tuned for semantic segmentation on
# ADE20k {cite}`zhou2017ade20k` tokens, it gains **+4.2 mIoU** over SeiT {cite}`park2023seit`
# (mIoU, mean intersection over union: per class, the pixels both the prediction and the true mask
# give that class, divided by the pixels either gives it; then the mean over classes, background
# included, in points of 100),
# and its two ingredients, masked pre-training and augmentation in the input's own space, are
# meant to apply to other compressed inputs, such as the quantised DCT coefficients that JPEG
# stores {cite}`wallace1991jpeg` and that vision transformers can read directly
# {cite}`park2023rgbnomore`.
#
# This chapter tests three such transfers on the book's Shapes images, with one sweep of the
# package, `python -m seitpp beyond` (three seeds per method, results committed):
#
# 1. **Segmentation from tokens.** Masks instead of labels: a token ViT with a light decoder,
#    tokens and masks moved by one transform, SeiT-style against SeiT++, mIoU and pixel accuracy
#    beside what predicting all background scores.
# 2. **Another tokenizer.** A second tokenizer of another kind, trained inside the sweep: coarser
#    tokens (8 x 8 pixels each) from a larger codebook (1,024 codes). Chapter 6's recipe on its
#    tokens, SeiT against SeiT++.
# 3. **DCT inputs.** JPEG's quantised 8 x 8 DCT levels as the model's input, at about the tokens'
#    storage: a DCT ViT from scratch, from masked block pre-training (the SimMIM
#    {cite}`xie2022simmim` form of MTM), and with a swap of colour statistics (ColorAdapt's form).
#
# Every row says what its input costs to store per image, since storage is the point.

# %%
import json
import re
import shutil
import tempfile
import textwrap
import time
from pathlib import Path

import numpy as np
import torch
from IPython.display import display
from myst_nb import glue

import seitpp
from seitpp.augment import TokenAdapt
from seitpp.data import CLASS_SETS, images_to_tensor, render_shapes
from seitpp.data.dct import bytes_per_image, decode, encode
from seitpp.device import default_device
from seitpp.engine import segment_policy, with_overrides
from seitpp.experiments import SUMMARY_FILE, difference, format_table, read_results, select
from seitpp.experiments.beyond import (METHODS, PAPER_SEGMENTATION_GAIN, REFERENCE_RESULTS, STORAGE_FILE, Beyond,
                                       all_background, beyond_preset, by_method, read_examples)
from seitpp.experiments.reproduce import COMMITTED_CPU
from seitpp.experiments.reproduce import sweep_preset
from seitpp.experiments.second_tokenizer import SECOND_TOKENIZER_DIR
from seitpp.files import ARTEFACTS
from seitpp.experiments.sweep import Cell
from seitpp.tokenizers import VQTokenizer, evaluate_tokenizer, psnr
from seitpp.viz import (as_uint8, color_masks, dct_table, findings_table, image_grid, inputs_table, segment_table,
                        storage_bars, transfer_table)

FAST = seitpp.fast_mode()
DEVICE = default_device()  # SEITPP_DEVICE if set, else CUDA if there is one, else the CPU (seitpp.device)
NUM_MEASURE = 48 if FAST else 1_200  # test images for the live PSNR and byte measurements
cpu = beyond_preset("cpu")
sweep = Beyond(cpu)  # the experiment: its cells, recipes and findings
look = sweep_preset(cpu.recipe).look  # chapter 6's images: its class set and style
CLASSES = CLASS_SETS[look["classes"]]
tokenizer = VQTokenizer.load()
print(f"fast mode: {FAST}; device: {DEVICE} (where the live segmenter below trains)")
print(f"the cpu preset: {cpu.train_images} training and {cpu.test_images} test images, seeds {cpu.seeds}, "
      f"{len(sweep.cells())} models, on the {look['classes']} of chapter 6's sweep; segmenters at "
      f"{', '.join(f'{cpu.budget_images(b):,}' for b in cpu.segment_budgets)} images, {cpu.segment.run.epochs} epochs "
      f"of batch {cpu.segment.optim.batch_size} at the full budget (the same steps at each), classifiers chapter 6's "
      f"recipe (its {cpu.recipe} preset), DCT at JPEG quality {cpu.dct.dct.quality}")

# %% [markdown]
# ## A live segmenter
#
# One cell of the sweep, trained on this page: the SeiT-style segmenter, through `Beyond.run_cell`,
# the code every cell of the committed run went through. In fast mode it is the `live` preset's
# cell, the `cpu` preset's segmentation at a quarter of its images (512) for 160 steps, scored on
# 200 test images; in full mode the `cpu` preset's own cell (2,000 images, 806 steps, 1,200 test
# images, about three minutes on two cores), whose seed 0 is a row of the committed run below. Its
# floor is what predicting background everywhere scores (`all_background`): the shapes cover a
# tenth of each image, so that floor's pixel accuracy is high and its mIoU low. The whole sweep,
# every experiment with its stages, runs in seconds with `--preset smoke` (the tests run it); at
# that size nothing learns, so it is not shown here.

# %%
live = Beyond(beyond_preset("live" if FAST else "cpu"))
live_dir = Path(tempfile.mkdtemp(prefix="beyond-live-"))
started = time.perf_counter()
live_data = live.prepare(live_dir, progress=False)
live_cell = next(c for c in live.cells() if c.method == "SeiT-style" and c.budget == 1.0)  # seed 0
live_row = live.run_cell(live_cell, live_dir)
floor = all_background(live_data["test_masks"])
print(f"live SeiT-style segmenter ({live.preset.name} preset): {live.preset.train_images} training images, "
      f"{live_row['steps']} steps, {time.perf_counter() - started:.0f} s")
display(format_table(["on the test images", "mIoU (%)", "pixel accuracy (%)"],
                     [[f"SeiT-style, live ({live.preset.test_images} images)", 100 * live_row["miou"],
                       100 * live_row["pixel_acc"]],
                      ["all background", 100 * floor["miou"], 100 * floor["pixel_acc"]]],
                     caption="the live segmenter beside its floor"))
glue("ch8_live_miou", float(100 * live_row["miou"]), display=False)
glue("ch8_all_background_miou", float(100 * floor["miou"]), display=False)

# %% [markdown]
# The live segmenter reaches {glue:text}`ch8_live_miou:.1f` mIoU, where all background scores
# {glue:text}`ch8_all_background_miou:.1f`: after a few hundred steps it has learned to find and
# label some of the shapes. Change `epochs` of the `live` preset's segment config (or its images)
# and rerun the cell to see how far more steps take it.

# %% [markdown]
# ## The committed sweep
#
# `seitpp/artefacts/beyond-cpu/` holds what `python -m seitpp beyond --preset cpu` wrote: one row
# per trained model in `results.csv`, means and standard deviations over seeds in `summary.csv`,
# the storage of every input in `storage.csv`, seed 0's predicted masks for a few test images in
# `examples.npz`, the second tokenizer in `tokenizer-f8/`, and how it was made in `provenance.json`.
# The run before it, with the recipe of chapter 6's first findings sweep (its learned tables train
# in fine-tuning) and segmentation at the full budget only, is committed beside it as
# `beyond-cpu-learned-table/` (`--preset cpu-learned-table`).

# %%
if not (REFERENCE_RESULTS / SUMMARY_FILE).is_file():
    raise FileNotFoundError(f"{REFERENCE_RESULTS / SUMMARY_FILE}: the committed run is missing; it is made by "
                            "python -m seitpp beyond --preset cpu --out seitpp/artefacts/beyond-cpu")
provenance = json.loads((REFERENCE_RESULTS / "provenance.json").read_text())
run_dir, shown = REFERENCE_RESULTS, beyond_preset(provenance["preset"])  # the preset the committed run used
metrics = provenance["metrics"]
print(f"committed sweep: {provenance['command']}\n  {provenance['date']}, {provenance['machine']['platform']}, "
      f"{provenance['machine']['cpus']} CPUs; {provenance['wall_seconds'] / 60:.0f} min wall; "
      f"{metrics['cells_done']} of {metrics['cells_total']} models trained"
      + ("" if metrics["complete"] else " (not finished: fewer seeds in some groups)"))
if "made_by" in provenance:  # how a run that was resumed or partly remade came about
    print(textwrap.fill(provenance["made_by"], 100, initial_indent="  ", subsequent_indent="  "))
summary = read_results(run_dir / SUMMARY_FILE)
storage = read_results(run_dir / STORAGE_FILE)
chapter6 = read_results(COMMITTED_CPU[shown.recipe] / SUMMARY_FILE)  # the same images and recipe
shown_look = sweep_preset(shown.recipe).look  # how the shown run's images are drawn

# %% [markdown]
# What each input costs to store, per training image (each image its own file or store entry, as
# chapter 1 measured), against the reference tokens ({numref}`fig-beyond-storage` on a log scale).
# A segmentation set stores its masks too, whatever the input.

# %%
display(inputs_table(storage))

# %% tags=["hide-input"] mystnb={"figure": {"caption": "Bytes per training image of every stored input of the sweep, on a log scale.", "name": "fig-beyond-storage"}}
fig = storage_bars([r["input"] for r in storage], [r["bytes_per_image"] for r in storage],
                   "bytes per training image (log scale)", ylabel="stored input",
                   title=f"storage per image, {shown.name} run ({shown.train_images} training images)", figsize=(7, 2.8))

# %% [markdown]
# ## Segmentation from tokens
#
# A Shapes image holds one object on clutter; its mask gives every pixel a class, 0 for
# background and c + 1 for an object of class c. The segmenter (`seitpp.models.TokenSegmenter`)
# is the token ViT of chapter 5 with a light decoder: each patch's features go to its 2 x 2
# tokens, each token adds its own embedding, and a 3 x 3 convolution scores the classes per token,
# upsampled to the 64 x 64 mask. Its encoder is the MTM encoder's shape key for key, so SeiT++
# can start from it.
#
# It is trained by the same engine as chapters 5 and 6: `seitpp.engine.train` with a config of task
# `"segment"` (`preset("cpu-tiny", "segment")`, also `python -m seitpp segment` on the command
# line). The engine brings the schedule, the optimiser, checkpoints, exact resume and DDP; the
# task brings three things: the model, a batch transform (`seitpp.engine.segment_policy`) and a
# per-pixel loss.
#
# Augmenting a segmentation pair means moving the tokens *and* the mask by the same transform.
# The two methods differ only in their own part:
#
# - **SeiT-style** (policy `"none"`): encoder from scratch; flips and resized crops, applied to
#   the token grid directly and to the mask (nearest), the analogue of SeiT's grid crops.
# - **SeiT++** (policy `"seitpp"`): encoder from MTM pre-trained on the same training tokens
#   (chapter 6's MTM recipe, the table kept at the codes); the release's whole geometry (flips, affine chain, resized crops) with
#   the tokens moved through TokenAdapt (chapter 3) and the mask by the same theta; before it, on
#   half of each batch, the fine-tuning policy's appearance ops: Emb-Noise, or ColorAdapt
#   (chapter 4) one batch in four. They change what tokens say, not where they are, so the masks
#   stay as they are.
#
# Both start their token table from the tokenizer's codes and, by chapter 6's rule for a learned
# table, keep it there while they train. The committed run below was made before that rule, with
# the table learning (its preset is printed with it).

# %%
for method in METHODS["segment"]:
    cfg = sweep.segment_config(Cell("segment", method, 0))
    spec = METHODS["segment"][method]
    print(f"{method:>11}: task {cfg.task}, policy {cfg.augment.policy}, affine_p {cfg.augment.affine_p}, "
          f"tokens moved by {'TokenAdapt' if spec.get('tokenadapt') else 'the grid warp'}, "
          f"encoder from {'MTM' if spec.get('stage') else 'scratch'}, table {'kept at' if cfg.model.freeze_table else 'from'} "
          f"the {cfg.model.table_init}, "
          f"{cfg.run.epochs} epochs, lr {cfg.optim.lr}")

# %% [markdown]
# {numref}`fig-beyond-augment` shows three training images, what their tokens decode to, their
# masks, and one draw of each method's augmentation. It is the very batch transform the engine
# trains with, here on the whole 16 x 16 grid to see all of it. The augmented mask must still
# cover the object in the decoded picture.

# %% mystnb={"figure": {"caption": "A segmentation pair and one augmentation of it per method: the image, its tokens decoded, its mask, then each method's augmented tokens (decoded) and augmented mask.", "name": "fig-beyond-augment"}}
train = render_shapes(3, split="train", **look)
ids = tokenizer.tokenize(images_to_tensor(train.images))  # (3, 16, 16)
masks = torch.from_numpy(train.masks)  # (3, 64, 64)
codes = tokenizer.codebook.vectors().detach()
augments = {method: segment_policy(with_overrides(sweep.segment_config(Cell("segment", method, 0)), dict(crop=16)), codes,
                                   TokenAdapt.load() if METHODS["segment"][method].get("tokenadapt") else None)
            for method in METHODS["segment"]}
columns = [train.images, as_uint8(tokenizer.decode(ids)), color_masks(masks)]  # each (3, 64, 64, 3) uint8
labels = ["image", "tokens, decoded", "mask"]
for name, augment in augments.items():
    aug_ids, aug_masks = augment(ids, masks, torch.Generator().manual_seed(3))
    columns += [as_uint8(tokenizer.decode(aug_ids)), color_masks(aug_masks)]
    labels += [f"{name}: tokens", f"{name}: mask"]
fig = image_grid([np.stack([c[i] for c in columns]) for i in range(3)],
                 row_labels=[CLASSES[i] for i in train.labels], col_labels=labels, size=1.35)

# %% [markdown]
# The results on the test split: mIoU over the 13 classes present (12 objects and background)
# and pixel accuracy, mean ± standard deviation over seeds, beside the floor every segmenter must
# beat, predicting background everywhere, computed here on the same test masks.

# %%
test_masks = render_shapes(shown.test_images, split="test", **shown_look).masks
background = all_background(test_masks)
display(segment_table(summary, background))
for gain in (f for f in sweep.findings(summary) if "(miou" in f["comparison"]):  # one per training budget
    spread = "one seed: no spread" if np.isnan(gain["spread"]) else f"spread {gain['spread']:.1f}"
    print(f"{gain['comparison']}: {gain['difference']:+.1f} mIoU points here ({spread})")
print(f"the paper, ADE20k (150 classes, ViT-B): {PAPER_SEGMENTATION_GAIN:+.1f}")

# %% [markdown]
# The first run trained its segmenters on all 2,000 images only, where the two ended level. Before
# the `cpu` preset's run, one pilot on validation images (never the test images) asked whether a
# smaller budget leaves room for what SeiT++ adds: the same 806 steps on chapter 6's smallest
# budget. Its cells, and what was decided from them:

# %%
pilot_dir = ARTEFACTS / "pilots" / "beyond" / "p19-val-segment-budgets"
display(format_table(["method", "training images", "val mIoU (%)", "train loss"],
                     [[r["method"], f"{int(r['train_images']):,}", f"{100 * r['miou']:.1f}", f"{r['train_loss']:.2f}"]
                      for r in read_results(pilot_dir / "results.csv")],
                     caption=f"pilot {pilot_dir.name}: seed 0, 1,200 validation images"))
print(textwrap.fill(json.loads((pilot_dir / "provenance.json").read_text())["note"], 100))

# %% [markdown]
# What the segmenters predict, for the first test images ({numref}`fig-beyond-masks`).

# %% tags=["hide-input"] mystnb={"figure": {"caption": "Predicted masks on the first test images: the tokens decoded, the true mask, and seed 0 of each method, in the same colours (black is background).", "name": "fig-beyond-masks"}}
examples = read_examples(run_dir)
n = len(examples["ids"])
pictures = [as_uint8(tokenizer.decode(torch.from_numpy(examples["ids"]).long())), color_masks(examples["masks"])]
pictures += [color_masks(examples[f"pred:{m}"]) for m in METHODS["segment"]]
fig = image_grid([np.stack([p[i] for p in pictures]) for i in range(n)],
                 row_labels=[CLASS_SETS[shown_look["classes"]][i] for i in examples["labels"]],
                 col_labels=["tokens, decoded", "true mask", *(f"{m} (seed 0)" for m in METHODS["segment"])], size=1.4)

# %% [markdown]
# ## Another tokenizer
#
# The reference tokenizer cuts a 64 x 64 image into 16 x 16 tokens of 4 x 4 pixels, from 391
# codes. The second one (`seitpp.experiments.second_tokenizer.F8`) has one more stride-2 level: 8 x 8 tokens of 8 x 8
# pixels, a quarter as many, from the full 1,024 codes it trains (no k-means reduction). It is
# trained inside the sweep with the same loop as the reference (`seitpp.tokenizers.train`), on the
# first training images, and kept beside the results. Both on the same test images, in numbers
# and in {numref}`fig-beyond-tokenizers`:

# %%
second = json.loads((run_dir / SECOND_TOKENIZER_DIR / "measured.json").read_text())
second_tokenizer = VQTokenizer.load(run_dir / SECOND_TOKENIZER_DIR)
test_set = render_shapes(NUM_MEASURE, split="test", **look)  # the first test images, as in the sweep
measure = images_to_tensor(test_set.images)
rows = []
for name, tok, stored in [("reference", tokenizer, next(r for r in storage if r["input"].startswith("reference"))),
                          ("f8", second_tokenizer, next(r for r in storage if r["input"].startswith("f8")))]:
    report = evaluate_tokenizer(tok, measure)
    rows.append([name, f"{tok.config.grid_size} x {tok.config.grid_size}", tok.config.codebook_size,
                 f"{report.psnr:.1f}", f"{report.usage:.0%}", f"{stored['bytes_per_image']:.0f}"])
display(format_table(["tokenizer", "grid", "codes", f"PSNR (dB, {NUM_MEASURE} test images)", "codes used",
                      "bytes/image (store)"], rows))

# %% tags=["hide-input"] mystnb={"figure": {"caption": "The same test images through both tokenizers, decoded, with the mean PSNR of each.", "name": "fig-beyond-tokenizers"}}
show = measure[:4]
with torch.no_grad():
    decoded = [show, tokenizer.decode(tokenizer.tokenize(show)),
               second_tokenizer.decode(second_tokenizer.tokenize(show))]
fig = image_grid([torch.stack([d[i] for d in decoded]) for i in range(4)],
                 row_labels=[CLASSES[i] for i in test_set.labels[:4]],
                 col_labels=["image", f"reference tokens ({psnr(decoded[1], show).mean():.0f} dB)",
                             f"f8 tokens ({psnr(decoded[2], show).mean():.0f} dB)"], size=1.5)

# %% [markdown]
# Chapter 6's recipe on the second tokenizer's tokens, unchanged but for the crop (the whole 8 x 8
# grid): SeiT with the tokenizer's frozen codes and Token-EDA; SeiT++ with its own stem, whose
# table starts at the codes and stays there in fine-tuning (chapter 6's rule), its encoder
# pre-trained by MTM on these tokens, and the release's augmentation policy. TokenAdapt exists only
# for the reference tokenizer (it is trained on one codebook, chapter 3), so SeiT++ here moves
# its geometric half directly on the grid: the naive warp of chapter 2, named in the method. With
# the committed run, SeiT and SeiT++ on the reference tokens stand beside it, from the chapter 6
# sweep of the same recipe: the same training images, test images, steps, stems and table rule
# (its `cpu` preset, the one chapters 6 and 7 read).

# %%
display(transfer_table(summary, second, chapter6))

# %% [markdown]
# ## DCT inputs
#
# JPEG stores an image as quantised 8 x 8 block DCT coefficients (`seitpp.data.dct`): colour to YCbCr,
# a DCT per block, each coefficient divided by its step in the quality's tables and rounded. The
# levels are the input here, 192 numbers per block (3 channels x 64 frequencies), one block per
# patch of a ViT with the token ViT's body. Their size depends on the quality; the sweep uses the
# quality at which they cost about what the tokens cost. {numref}`fig-beyond-dct` shows what each
# input keeps of the same images.

# %%
measured = test_set.images
tokens_bytes = next(r for r in storage if r["input"].startswith("reference"))["bytes_per_image"]
with torch.no_grad():
    token_db = float(psnr(tokenizer.decode(tokenizer.tokenize(images_to_tensor(measured))),
                          images_to_tensor(measured)).mean())
rows = [["reference tokens (sweep's store)", f"{tokens_bytes:.0f}", f"{token_db:.1f}"]]
for quality in (5, 10, 25, 50):
    levels = encode(measured, quality)
    db = float(psnr(images_to_tensor(decode(levels, quality).numpy()), images_to_tensor(measured)).mean())
    rows.append([f"DCT levels, quality {quality}" + (" (the sweep's)" if quality == cpu.dct.dct.quality else ""),
                 f"{bytes_per_image(levels):.0f}", f"{db:.1f}"])
display(format_table(["input", f"bytes/image ({NUM_MEASURE} test images)", "PSNR (dB)"], rows))

# %% tags=["hide-input"] mystnb={"figure": {"caption": "What the two inputs keep of the same test images: the image, its DCT levels at the sweep's quality decoded, and its reference tokens decoded.", "name": "fig-beyond-dct"}}
q = cpu.dct.dct.quality
show = measured[:4]
with torch.no_grad():
    panels = [show, decode(encode(show, q), q).numpy(),
              as_uint8(tokenizer.decode(tokenizer.tokenize(images_to_tensor(show))))]
fig = image_grid([np.stack([p[i] for p in panels]) for i in range(4)],
                 row_labels=[CLASSES[i] for i in test_set.labels[:4]],
                 col_labels=["image", f"DCT levels, quality {q}", "reference tokens"], size=1.5)

# %% [markdown]
# The DCT ViT trains with chapter 6's recipe (the cell below lists its steps, batch and lr) on
# random 7 x 7 block crops and mirror images, both exact on levels (a mirror flips the sign of every odd
# horizontal frequency, `seitpp.augment.dct.hflip_levels`). The two variants each add one of SeiT++'s
# ideas in the DCT's own terms:
#
# - **masked pre-training**: `MaskedDCTModel` hides half of the blocks and predicts their DC
#   levels (each block's mean colour) from the rest, SimMIM-style; the classifier starts from its
#   encoder, as SeiT++ starts from MTM's;
# - **colour swap**: `dct_color_swap` gives a share of each batch another image's statistics of
#   the Y, Cb and Cr DC maps, ColorAdapt's AdaIN-style swap on the channels that carry colour.
#
# DCT runs are runs of the book's one training engine (`seitpp.engine.train` with a DCT task),
# as every other model in the book.

# %%
for method in METHODS["dct"]:
    cfg = sweep.dct_config(Cell("dct", method, 0))
    print(f"{method:>19}: {cfg.run.epochs} epochs of batch {cfg.optim.batch_size} on {cpu.train_images:,} images, "
          f"peak lr {cfg.optim.lr}, colour swap share {cfg.dct.color_swap}, encoder from "
          f"{'masked block modeling' if METHODS['dct'][method].get('stage') else 'scratch'}")
display(dct_table(summary, chapter6))

# %% [markdown]
# ## What was measured
#
# Each question as a difference between two methods that SeiT++'s claim says is positive, in
# points, against the spread over seeds (the standard deviations of the two means, combined):
# *holds* when the difference is beyond the spread, *opposite* when it is beyond it the other
# way, *unclear* otherwise.

# %%
display(findings_table(sweep.findings(summary)))
rows = by_method(summary, "segment")
if rows:
    best = max(rows.values(), key=lambda r: r["miou_mean"])
    print(f"- every segmenter against all background: the best ({best['method']}) reaches "
          f"{100 * best['miou_mean']:.1f} mIoU and {100 * best['pixel_acc_mean']:.1f}% of pixels, all background "
          f"{100 * background['miou']:.1f} and {100 * background['pixel_acc']:.1f}%")
dct_bytes = next(r for r in storage if r["input"].startswith("DCT"))["bytes_per_image"]
masks_bytes = next(r for r in storage if r["input"].startswith("segmentation masks"))["bytes_per_image"]
print(f"- storage: DCT levels at quality {shown.dct.dct.quality} take {dct_bytes:.0f} bytes per image, the reference "
      f"tokens {tokens_bytes:.0f}, the f8 tokens {second['bytes_per_image']:.0f}; a segmentation set's masks "
      f"(PNG) add {masks_bytes:.0f}, {masks_bytes / tokens_bytes:.1f} x the reference tokens")
shutil.rmtree(live_dir)  # the live segmenter's scratch folder

# %% tags=["hide-input"]
# The numbers the next paragraph quotes, in points (glued into its sentences)
for f in Beyond(shown).findings(summary):
    if f["finding"] == "segmentation" and "(miou" in f["comparison"]:
        images = re.search(r"(\d+) images", f["comparison"]).group(1) if "images" in f["comparison"] else "2000"
        glue(f"ch8_seg_gain_{images}", float(f["difference"]), display=False)
        glue(f"ch8_seg_spread_{images}", float(f["spread"]), display=False)
transfer, dct = by_method(summary, "transfer"), by_method(summary, "dct")
for name, (a, b) in {"seitpp": ("SeiT", "SeiT++ (naive warp)"), "augment": ("SeiT", "SeiT++ without MTM (naive warp)"),
                     "mtm": ("SeiT++ without MTM (naive warp)", "SeiT++ (naive warp)")}.items():
    glue(f"ch8_f8_{name}_gain", difference(transfer[a], transfer[b], "top1")[0], display=False)
reference = {m: select(chapter6, "budgets", m, 1.0)[0] for m in ("SeiT++ without MTM", "SeiT++")}
glue("ch8_reference_mtm_gain", difference(reference["SeiT++ without MTM"], reference["SeiT++"])[0], display=False)
glue("ch8_dct_mtm_gain", difference(dct["from scratch"], dct["masked pre-training"], "top1")[0], display=False)
glue("ch8_dct_swap_gain", difference(dct["from scratch"], dct["colour swap"], "top1")[0], display=False)

# %% [markdown]
# How to read the committed verdicts. Segmentation is where SeiT++'s two pieces, MTM and
# TokenAdapt, were expected to carry over. On all 2,000 training images SeiT++ leads SeiT-style by
# {glue:text}`ch8_seg_gain_2000:+.1f` mIoU points, within the spread over seeds
# ({glue:text}`ch8_seg_spread_2000:.1f`), as the first run found at that budget
# (`beyond-cpu-learned-table`, its tables trained in fine-tuning). On 429 images, with the same
# 806 steps, it leads by {glue:text}`ch8_seg_gain_429:+.1f` (spread
# {glue:text}`ch8_seg_spread_429:.1f`), about the paper's +4.2 on ADE20k: what SeiT++ adds to a
# segmenter shows where the training images are few, as the pilot on validation images above
# suggested. Which of MTM and TokenAdapt it comes from, this sweep does not say (exercise 4). On
# the second tokenizer the classification recipe behaves as on the reference tokens, and more so:
# MTM adds {glue:text}`ch8_f8_mtm_gain:+.1f` points over the same augmentation, where chapter 6
# measured {glue:text}`ch8_reference_mtm_gain:+.1f` on the reference tokens, and the augmentation
# alone adds {glue:text}`ch8_f8_augment_gain:+.1f` over SeiT; why MTM pays more on the coarser
# tokens was not tested. On DCT levels, masked pre-training, the DCT form of MTM, adds
# {glue:text}`ch8_dct_mtm_gain:+.1f` points; the colour swap's {glue:text}`ch8_dct_swap_gain:+.1f`
# is within the spread of the from-scratch model, whose seeds lie far apart.
#
# One more thing this run measured, by accident: its stages (MTM, the second tokenizer, masked
# block modeling) were trained twice, once on each of two machines, from the same configs and
# seed, and the two trainings did not give the same weights. The cells made with the first ones
# (`replaced.csv`, beside the results) differed from the same cells made with the second ones by
# up to ten points. A sweep's spread over seeds, with one stage shared by every seed, leaves that
# variation out; the provenance above says how the committed cells came to share one.

# %% [markdown]
# ## Summary
#
# - Segmentation from tokens is one more task of the engine that pre-trains and fine-tunes
#   (`task="segment"`): one transform moves tokens and masks together (through TokenAdapt or on
#   the grid), and the token ViT's encoder, MTM's included, serves as the backbone. How far
#   SeiT++'s gain carries over is the first rows of the table above.
# - A second tokenizer with a quarter of the tokens and a larger codebook stores less per image;
#   chapter 6's recipe runs on it unchanged, except that TokenAdapt would have to be trained again.
# - JPEG's DCT levels are an input of the same kind as tokens (a grid of small integers, cheap to
#   store) on which masked pre-training and statistics swapping can be written down directly; the
#   table says which of the two helps here.
#
# ## Exercises
#
# Each exercise has a hint and the result to expect, folded away until you open them, and a
# solution where the exercise is code. Exercises 1 and 4 run at the live segmenter's size (the
# `live` preset) in a minute or three; their expected results were measured once on this book's
# 2-core CPU, on one thread beside other jobs (seed 0, the preset's 200 test images, where the
# SeiT-style cell reached 14.2 mIoU on one thread). Exercises 2 and 3 take tens of minutes and
# were not run; their expected results say what the committed run lets one expect.
#
# 1. Give SeiT-style segmentation the affine chain too (`affine_p=0.5`), moved on the grid: is
#    geometry on the grid enough, or does it need TokenAdapt?
#
#    :::{dropdown} Hint
#    A method is one entry of `SEGMENT_METHODS` (`seitpp.experiments.beyond`): its `config` is a
#    set of training-config overrides. Add a second SeiT-style entry with `affine_p=0.5`; the
#    sweep's `cells()` then has a cell for it, and `run_cell` trains and scores it like any other.
#    One seed moves mIoU by a point or more at this size, so read a difference under two points as
#    no difference.
#    :::
#
#    :::{dropdown} Expected result
#    At the live size the affine chain on the grid does not help: 13.3 mIoU against SeiT-style's
#    14.2 (pixel accuracy 90.6% against 90.8%, training loss 0.436 against 0.439), within one
#    seed's noise. Each cell took about half a minute.
#    :::
#
#    :::{dropdown} Solution
#    ```python
#    from seitpp.experiments.beyond import SEGMENT_METHODS
#
#    SEGMENT_METHODS["SeiT-style + affine"] = dict(config=dict(policy="none", affine_p=0.5))
#    small = Beyond(beyond_preset("live"))
#    work = Path(tempfile.mkdtemp())
#    small.prepare(work, progress=False)
#    for cell in small.cells():
#        if cell.method in ("SeiT-style", "SeiT-style + affine"):
#            row = small.run_cell(cell, work)
#            print(f"{cell.method}: mIoU {100 * row['miou']:.1f}, pixel accuracy {100 * row['pixel_acc']:.1f}%")
#    ```
#    :::
#
# 2. Train a TokenAdapt for the second tokenizer (`seitpp.augment.tokenadapt_train` with `out_grid=8`)
#    and rerun the transfer cells with it in place of the naive warp.
#
#    :::{dropdown} Hint
#    `train_tokenadapt` takes any `VQTokenizer`: load the committed one from
#    `REFERENCE_RESULTS / SECOND_TOKENIZER_DIR`, set the model's `codebook_size` and `code_dim` to
#    its codebook's, and `out_grid=8`, its grid. The transfer cells take a TokenAdapt the way the
#    segmentation cells do (`tokenadapt=` of `seitpp.engine.train`).
#    :::
#
#    :::{dropdown} Expected result
#    Not run for this page (a TokenAdapt run of the reference preset took 16 minutes on two cores,
#    then three fine-tuning runs a seed). What the committed run lets one expect: on the reference
#    tokens TokenAdapt beat the naive warps by a few points (chapter 6), so a gain of that order
#    over the naive-warp rows of the transfer table, small beside MTM's gain there.
#    :::
#
# 3. Make `MaskedDCTModel` predict the three lowest frequencies per channel instead of the DC
#    only (`frequencies=3`): does the classifier start better or worse?
#
#    :::{dropdown} Hint
#    The masked block modeling stage is `dct_pretrain` of the preset, and its `dct` part has
#    `dct_frequencies`: `dataclasses.replace` the preset with `dct_pretrain=with_overrides(...,
#    dict(dct_frequencies=3))`, run the `masked-dct` stage into a new work folder, then the
#    "masked pre-training" cell. Compare its first evaluations, not only its last.
#    :::
#
#    :::{dropdown} Expected result
#    Not run for this page (the stage and a fine-tuning run are about ten minutes on two cores).
#    The committed run's masked pre-training beat training from scratch by the margin in the DCT
#    table above; predicting more frequencies asks the encoder for more of each block, so expect
#    the pre-training loss to stay higher, and whether fine-tuning starts better is what the
#    exercise measures.
#    :::
#
# 4. Add "SeiT++ without MTM" to `SEGMENT_METHODS` (SeiT++'s augmentation, the encoder from
#    scratch): is segmentation's gain MTM's or the augmentation's, and is the answer chapter 6's?
#
#    :::{dropdown} Hint
#    SeiT++'s entry without its `stage` is the method: `config=dict(policy="seitpp")` and
#    `tokenadapt=True`. Run it at the live size first (TokenAdapt on every batch makes it about
#    three to five times a SeiT-style cell), then, for the answer at the committed size, the `cpu`
#    preset's cells of it (about six minutes a seed on two cores) beside the committed table.
#    :::
#
#    :::{dropdown} Expected result
#    At the live size SeiT++'s augmentation without MTM reaches 13.9 mIoU against SeiT-style's
#    14.2: at 160 steps the augmentation alone adds nothing. The cell took 163 s on one thread.
#    At the committed size, SeiT++'s gain over SeiT-style in the table above is what is left to
#    split between MTM and the augmentation.
#    :::
#
#    :::{dropdown} Solution
#    ```python
#    from seitpp.experiments.beyond import SEGMENT_METHODS
#
#    SEGMENT_METHODS["SeiT++ without MTM"] = dict(config=dict(policy="seitpp"), tokenadapt=True)
#    small = Beyond(beyond_preset("live"))
#    work = Path(tempfile.mkdtemp())
#    small.prepare(work, progress=False)
#    for cell in small.cells():
#        if cell.method in ("SeiT-style", "SeiT++ without MTM"):
#            row = small.run_cell(cell, work)
#            print(f"{cell.method}: mIoU {100 * row['miou']:.1f}, pixel accuracy {100 * row['pixel_acc']:.1f}%")
#    ```
#    :::
