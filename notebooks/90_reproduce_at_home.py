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
# # Reproduce at home
#
# Every number in this book is computed by code you can run. This page says what running it
# costs: time, memory and disk for each chapter in fast mode (small sizes, what the book build and
# CI use) and in full mode (the sizes the text is about), and for the long runs whose results are
# committed (the reference tokenizer, TokenAdapt's weights, the reproduction sweep). Every figure
# below is read from a measurement, not written by hand: the chapter costs come from
# `python -m benchmarks.chapter_costs --mode fast --write` (and `--mode full`), the long runs from
# the provenance file each run writes next to its results, and the disk sizes are measured on this
# page.
#
# The two commands of the README build the book (`bash .ci/book`) and run the tests
# (`bash .ci/test`); `SEITPP_FAST=0 bash .ci/book` builds it in full mode.

# %%
import json
import os
import platform
import sys
from pathlib import Path

import numpy as np
import torch
from IPython.display import display

import seitpp
from seitpp.device import default_device
from seitpp.experiments import format_table, read_results
from seitpp.viz import chapter_times_figure

ROOT = Path.cwd().parent  # notebooks run in notebooks/
ARTEFACTS = Path(seitpp.__file__).parent / "artefacts"
COSTS = ROOT / "benchmarks" / "results" / "chapter_costs.csv"
print(f"this machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, Python "
      f"{platform.python_version()}, torch {torch.__version__}, CUDA {'yes' if torch.cuda.is_available() else 'no'}; "
      f"device: {default_device()} (SEITPP_DEVICE overrides it)")


def folder_bytes(path: Path) -> int:
    """Bytes of every file under `path` (links not followed)."""
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file() and not f.is_symlink())


# %% [markdown]
# ## Each chapter, fast and full
#
# Each notebook executed on its own in a fresh kernel, as the book build runs it. "Peak memory" is
# the resident size of the kernel's processes (sampled every 0.2 s); "scratch disk" the largest
# size its temporary folder reached (checkpoints of the runs a chapter trains live there and are
# deleted afterwards). The table's caption names the machines and dates of the measurements;
# {numref}`fig-home-chapter-times` draws the times.

# %%
costs = read_results(COSTS)
chapters = sorted({r["chapter"] for r in costs} | {p.stem for p in (ROOT / "notebooks").glob("*.py")})
by = {(r["chapter"], r["mode"]): r for r in costs}


def cell(chapter: str, mode: str, key: str) -> str:
    """One measurement of the CSV as text, or "not measured yet"."""
    row = by.get((chapter, mode))
    if row is None:
        return "not measured yet"
    return _duration(row[key]) if key == "seconds" else f"{row[key]:,.0f}"


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    return f"{seconds / 60:.1f} min" if seconds < 7200 else f"{seconds / 3600:.1f} h"


display(format_table(["chapter", "fast: time", "fast: memory (MB)", "full: time", "full: memory (MB)", "full: disk (MB)"],
                     [[c, cell(c, "fast", "seconds"), cell(c, "fast", "peak_memory_mb"), cell(c, "full", "seconds"),
                       cell(c, "full", "peak_memory_mb"), cell(c, "full", "scratch_disk_mb")] for c in chapters],
                     caption="measured on " + "; ".join(sorted({f"{r['machine']} ({r['mode']}, {r['date']})" for r in costs}))))

# %% tags=["hide-input"] mystnb={"figure": {"caption": "Wall time to execute each chapter in fast and in full mode, on a log scale; a missing bar is a mode not measured yet.", "name": "fig-home-chapter-times"}}
seconds = {mode: [by[(c, mode)]["seconds"] if (c, mode) in by else np.nan for c in chapters]  # NaN: not measured yet
           for mode in ("fast", "full")}
fig = chapter_times_figure(chapters, seconds)

# %% [markdown]
# ## Your build
#
# The book build records how long each notebook took to execute on *your* machine, in the mode it
# was built in (fast, unless `SEITPP_FAST=0`):
#
# ```{nb-exec-table}
# ```

# %% [markdown]
# ## The long runs behind the committed results
#
# Some results take longer than a book build should: they are made once by one command each, and
# committed with the command, machine and date. The chapters load them (and retrain small versions
# live in fast mode). Rerunning a command reproduces its folder; each is resumable.

# %%
runs, committed_total = [], 0
for folder in sorted(p for p in ARTEFACTS.iterdir() if (p / "provenance.json").is_file()):
    prov = json.loads((folder / "provenance.json").read_text())
    m = prov["machine"]
    committed = sum(f.stat().st_size for f in folder.rglob("*")  # work/ holds caches, not committed
                    if f.is_file() and "work" not in f.relative_to(folder).parts)
    committed_total += committed
    cpus = f"{m['cpus']} CPUs" if "cpus" in m else f"{m['platform'].split('-')[0]} (CPUs not recorded)"
    # an export (mtm-cpu) took no time of its own: its run is part of the sweep its command names
    took = _duration(prov["wall_seconds"]) if "wall_seconds" in prov else "within its sweep"
    runs.append([folder.name, prov["command"], took,
                 f"{cpus}, {m['device']}, {m['torch_threads']} threads", prov.get("date", prov.get("exported", ""))[:10],
                 f"{committed / 1e6:.1f} MB" if committed >= 100_000 else f"{committed / 1e3:.0f} kB"])
display(format_table(["result", "the command that makes it"], [[r[0], r[1]] for r in runs]))
display(format_table(["result", "time", "machine", "date", "committed"], [[r[0], *r[2:]] for r in runs]))

# %% [markdown]
# ## Disk
#
# The Python environment is the big item (torch alone is most of it); the data of every chapter
# are generated on the fly (the embedded Shapes dataset) or committed, and small.

# %%
environment = folder_bytes(Path(sys.prefix))
repository = sum(folder_bytes(ROOT / d) for d in ("seitpp", "notebooks", "book", "tests", "benchmarks"))
print(f"Python environment ({sys.prefix}): {environment / 1e9:.2f} GB")
print(f"the repository's code, notebooks and committed results: {repository / 1e6:.1f} MB")
print(f"of which the long runs' committed results (seitpp/artefacts): {committed_total / 1e6:.1f} MB")

# %% [markdown]
# ## What was measured
#
# The tables above are the measurements: per chapter, fast-mode times of seconds to about a minute
# on 2 CPU cores; the full modes and the long runs take minutes to hours, and the environment is
# the main disk cost. A chapter marked "not measured yet" has not had its full mode timed by
# `python -m benchmarks.chapter_costs --mode full --write`.
