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
# # The scorecard: each finding, measured
#
# Chapters 6 to 9 test the paper's findings {cite}`lee2024seitpp` one at a time. This page puts
# every verdict of the book on one card. It trains nothing: it reads the committed results of
# three sweeps and builds the card from them each time the page runs, in fast and full mode alike.
#
# - **CPU sweep**: `python -m seitpp reproduce --preset cpu`, read by
#   [chapter 6](06_finetune_ablation.ipynb) and [chapter 7](07_budgets_robustness.ipynb).
# - **Beyond classification**: `python -m seitpp beyond --preset cpu`, read by
#   [chapter 8](08_beyond_classification.ipynb).
# - **GPU sweep**: `python -m seitpp reproduce --preset gpu`, run on an H200, read by
#   [chapter 9](09_cuda_training.ipynb). It ran before the CPU sweep's rule was chosen (its
#   learned table trains in fine-tuning), so its rows are shown apart and left out of the totals
#   until the `gpu` preset, which now follows the rule, runs again.
#
# ## How to read the card
#
# Each row is one difference between two models, *b - a*, that the paper reports as positive:
# SeiT++ minus SeiT, a variant minus the baseline, SeiT's drop under a shift minus SeiT++'s. The
# columns:
#
# - **the paper's claim**, in words;
# - **paper**: the same difference in the paper's own tables, in points (ImageNet-1k and ViT-B/16;
#   the ablation ImageNet-100 and ViT-S). A dash means the paper has no such pair of models;
#   ours are extra rows that separate one cause from another;
# - **ours**: the difference on the sweep, mean over seeds, in points;
# - **spread**: the standard deviations over seeds of the two means, combined;
# - **verdict**: *holds* when ours is positive by more than the spread, *opposite* when it is
#   negative by more than the spread, *uninformative* where both models sit within 5 points of
#   chance (the shift destroyed what either could read), *unclear* otherwise
#   (`seitpp.experiments.verdict`);
# - **why**: for a row that does not hold, what the chapter behind it measured as the cause, in a
#   line. The reasons are the one thing on the card written by hand
#   (`seitpp.experiments.scorecard.REASONS`), each for one verdict of one finding of one sweep:
#   a verdict that changes when a sweep reruns leaves its old reason behind, and a test then asks
#   for a new one;
# - **where**: the chapter section that shows the models behind the row.
#
# The paper's numbers and ours come from different data, models and schedules: compare their
# signs, not their sizes. An *unclear* verdict says the seeds disagree more than the two models
# do; it is neither a success nor a failure.

# %%
import json
from collections import Counter

from IPython.display import HTML, display

import seitpp
from seitpp.experiments import SUMMARY_FILE, format_table, read_results
from seitpp.experiments.beyond import REFERENCE_RESULTS as BEYOND_RESULTS
from seitpp.experiments.reproduce import GPU_RESULTS
from seitpp.experiments.reproduce import REFERENCE_RESULTS as CPU_RESULTS
from seitpp.experiments.scorecard import (APART, SOURCES, VERDICTS, html_table, scorecard, seed_counts,
                                         seeds_text, verdict_counts)
from seitpp.viz import scorecard_figure

FAST = seitpp.fast_mode()  # nothing here depends on it: the page only reads committed results
folders = {"CPU sweep": CPU_RESULTS, "beyond classification": BEYOND_RESULTS, "GPU sweep": GPU_RESULTS}
for source, folder in folders.items():
    provenance = json.loads((folder / "provenance.json").read_text())
    summary = read_results(folder / SUMMARY_FILE)
    done = provenance["metrics"]
    print(f"{source} ({SOURCES[source]}): {provenance['command']}\n    {provenance['date']}; "
          f"{done['cells_done']} of {done['cells_total']} models, at most {max(r['train_images'] for r in summary):,} "
          f"training images each; {seeds_text(seed_counts(summary))} per group")

# %% [markdown]
# ## The count
#
# How many of each source's comparisons hold, come out the other way, or cannot be told apart
# from the spread over seeds, and how many seeds each sweep's groups have (read from its summary):

# %%
rows = scorecard()
counts = verdict_counts(rows)
display(format_table(["source", "seeds", "comparisons", *VERDICTS],
                     [[c["source"] + ("" if c["counted"] else " (not counted)"), seeds_text(c["seeds"]),
                       c["findings"], *(c[v] for v in VERDICTS)] for c in counts]))
counted = [r for r in rows if r["counted"]]
total = Counter(r["verdict"] for r in counted)
print(f"the counted sources: {len(counted)} comparisons; " + ", ".join(f"{total[v]} {v}" for v in VERDICTS))
for source, why in APART.items():
    print(f"not counted: the {source}, {why}")

# %% [markdown]
# ## The card
#
# One row per comparison, grouped by sweep (each sweep's seeds in its header); a finding's claim is
# written once, on its first row. A row that does not hold says why; the last column links the
# section of the chapter that shows the models behind the row. The introduction's box is these
# rows, counted sweeps only, in a few lines (`seitpp.experiments.scorecard.summary_box`).

# %%
display(HTML(html_table(rows)))

# %% [markdown]
# {numref}`fig-score-card` draws the same rows. Each dot is our difference with its spread as a
# bar, coloured by its verdict; a cross is the paper's difference, where the paper has one. Right
# of the zero line is the direction the paper reports.

# %% mystnb={"figure": {"caption": "Every row of the card: our difference with its spread over seeds, coloured by verdict, and the paper's difference where it has one, one panel per sweep.", "name": "fig-score-card"}}
fig = scorecard_figure(rows)

# %% [markdown]
# ## Each finding across the sweeps
#
# A finding is tested by more than one comparison (at each budget, on each shift, on two stems)
# and, for some, by more than one sweep. Per finding and sweep: how many comparisons hold, come
# out opposite, are unclear, or are uninformative.

# %%
table = []
for finding in dict.fromkeys(r["finding"] for r in rows):
    cells = []
    for source in SOURCES:
        verdicts = Counter(r["verdict"] for r in rows if r["finding"] == finding and r["source"] == source)
        cells.append(" / ".join(str(verdicts[v]) for v in VERDICTS) if verdicts else "-")
    table.append([finding, *cells])
display(format_table(["finding", *SOURCES], table,
                     caption="comparisons that hold / come out opposite / are unclear / are uninformative, per finding and sweep"))

# %% [markdown]
# ## What the card can and cannot say
#
# - It says whether each difference the paper reports points the same way here, at the book's
#   sizes (the training images of each sweep are printed at the top of this page; micro and
#   small ViTs on the book's Shapes data), against the spread over each sweep's seeds (the count
#   above gives how many).
# - It cannot say whether the paper's ImageNet numbers are right: those need ImageNet-scale data
#   and schedules, which [chapter 9](09_cuda_training.ipynb) prepares and prices.
# - A verdict moves when the spread does: more seeds shrink the spread and can turn an *unclear*
#   into either of the others. Every row's cells are in the sweep's `results.csv`, one line per
#   model, so any verdict can be checked by hand.
#
# ## Summary
#
# - The card is computed: `seitpp.experiments.scorecard` turns each sweep's findings into rows,
#   with the paper's difference from the paper's tables in `seitpp.experiments.reproduce`.
# - The counts above sum up each sweep; the card and its links lead to the chapter that explains
#   each row.
#
# ## Exercises
#
# 1. Judge with a stricter rule: call a difference *holds* only beyond twice the spread
#    (`seitpp.experiments.verdict(d, 2 * s)`). Which verdicts change?
# 2. Add the sweep with random table rows (`seitpp.experiments.reproduce.RANDOM_TABLE_RESULTS`)
#    as a fourth source with `seitpp.experiments.scorecard.card_rows`: which findings does the
#    table's start change?
# 3. Pick one *unclear* row and estimate from `results.csv` how many seeds would make its spread
#    smaller than its difference, if the per-seed spread stayed as it is.
