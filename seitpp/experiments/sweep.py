"""One resumable sweep runner: stages, then cells, in a pool of worker processes.

A sweep (`Sweep`) is a list of cells and what to do with them; `seitpp.experiments.reproduce` and
`seitpp.experiments.beyond` each describe one and hand it to `run`. A cell is one training run
with one seed; its `key` names its results row, and its `stage` (or None) names a run it needs
first, made once and shared by every cell that names it (an MTM pre-training, a second tokenizer).
A stage may need another stage (`Sweep.stage_needs`).

`run` prepares the data once (`Sweep.prepare`, cached under `out/work/`), skips the cells whose
rows are already in `out/results.csv`, and queues the stages those cells need, then the cells, in
order. A free worker takes the first job whose stage is done. After every finished cell it writes
`results.csv` and `summary.csv` atomically (and whatever else the sweep keeps, `Sweep.write_more`),
and calls `on_progress(rows, total)`, where the command records its provenance. An interrupted
sweep so continues where it stopped; a stage resumes from its own checkpoints.

With one worker every job runs in this process (simpler tracebacks, what the notebooks' fast mode
uses); with more, in spawned processes of one thread each, so the job functions must be
picklable: module-level functions or `functools.partial`s of them.
"""
from __future__ import annotations

import ast
import functools
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass, field, fields, replace
from multiprocessing import get_context
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from tqdm.auto import tqdm

from seitpp.experiments.tables import read_results
from seitpp.files import atomic_path, write_csv

RESULTS_FILE, SUMMARY_FILE = "results.csv", "summary.csv"


@dataclass(frozen=True)
class Sweep:
    """What the runner needs to know of one sweep. Jobs run as `run_stage(stage, work)` and
    `run_cell(cell, work) -> results row`, `work` being `out/work`."""

    name: str
    cells: list  # every cell, in the order to run them; each has `.key` and `.stage` (str or None)
    run_cell: Callable[[Any, Path], dict]
    row_key: Callable[[dict], str]  # a results row (from the CSV, too) -> the key of its cell
    summarize: Callable[[list[dict]], list[dict]]  # results rows -> summary rows
    columns: tuple[tuple[str, ...], tuple[str, ...]]  # of results.csv and summary.csv
    order: Callable[[dict], tuple]  # the sort key of results rows in results.csv
    prepare: Callable[[Path, bool], Any]  # (work, progress): render, tokenize, cache, before any job
    run_stage: Callable[[str, Path], None] | None = None
    stages: tuple[str, ...] = ()  # every stage, in the order to run them; one after the stage it needs
    stage_needs: dict[str, str] = field(default_factory=dict)
    on_stage: Callable[[str], None] | None = None  # in this process, when a stage has finished
    on_row: Callable[[dict], dict] | None = None  # in this process: a finished row -> the row to keep
    write_more: Callable[[list[dict], Path], None] | None = None  # (rows, out): other outputs, after each cell
    settings: str = ""  # the preset as text: a folder started with other settings is refused, not resumed


SETTINGS_FILE = "settings.txt"


def check_settings(sweep: Sweep, work: Path) -> None:
    """Record the sweep's settings in `work` on its first run; on a rerun, refuse other settings. Cells
    are known by method, budget and seed only, so resuming with, say, other step counts would keep
    the old cells as done and mix two sweeps in one table."""
    path = work / SETTINGS_FILE
    if not path.exists():
        with atomic_path(path) as tmp:
            tmp.write_text(sweep.settings)
    elif path.read_text() != sweep.settings:
        raise ValueError(f"{work.parent}: started with other settings than sweep {sweep.name!r} has now "
                         f"(see {path}); resume it with those, or use another --out")


def with_fields(preset, assignments: list[str]):
    """A preset dataclass with fields replaced from `FIELD=VALUE` strings (`--set` on the command line):
    values are read as Python literals where they are one (`budgets=(1.0,)`), else as text."""
    names = {f.name for f in fields(preset)}
    changes = {}
    for item in assignments:
        name, sep, text = item.partition("=")
        name = name.strip()
        if not sep or name not in names:
            raise ValueError(f"--set {item!r}: expected FIELD=VALUE with FIELD one of {', '.join(sorted(names))}")
        try:
            value = ast.literal_eval(text.strip())
        except (ValueError, SyntaxError):
            value = text.strip()
        changes[name] = tuple(value) if isinstance(value, list) else value
    return replace(preset, **changes)


def stages_for(cells: list, stages: tuple[str, ...], needs: dict[str, str]) -> list[str]:
    """The stages these cells need, with the stages those need, in the order of `stages`."""
    needed = {c.stage for c in cells if c.stage}
    while missing := {needs[s] for s in needed if s in needs} - needed:
        needed |= missing
    return [s for s in stages if s in needed]


def run(sweep: Sweep, out: str | Path, workers: int = 1, progress: bool = True,
        on_progress: Callable[[list[dict], int], None] | None = None) -> list[dict]:
    """Run every cell of `sweep` not yet in `out/results.csv` (and the stages they need) -> all rows."""
    unknown = {c.stage for c in sweep.cells if c.stage} - set(sweep.stages)
    if unknown:
        raise ValueError(f"sweep {sweep.name}: cells need stages it does not have: {sorted(unknown)}")
    out = Path(out)
    work = out / "work"
    work.mkdir(parents=True, exist_ok=True)
    check_settings(sweep, work)
    sweep.prepare(work, progress)
    results_path = out / RESULTS_FILE
    rows = read_results(results_path) if results_path.exists() else []
    done = {sweep.row_key(r) for r in rows}
    todo = [c for c in sweep.cells if c.key not in done]
    stages = stages_for(todo, sweep.stages, sweep.stage_needs)

    def report(row: dict | None = None) -> None:
        if row is not None:
            rows.append(sweep.on_row(row) if sweep.on_row else row)
        if rows:  # on a rerun too, so the summary always follows the code that summarises
            write_tables(sweep, rows, out)
            if sweep.write_more is not None:
                sweep.write_more(rows, out)
        if on_progress is not None:
            on_progress(rows, len(sweep.cells))

    report()
    # pending jobs in the order a free worker takes them: (function, stage or cell, the stage it needs)
    pending = [(sweep.run_stage, s, sweep.stage_needs.get(s)) for s in stages]
    pending += [(sweep.run_cell, c, c.stage) for c in todo]
    finished_stages = set(sweep.stages) - set(stages)
    bar = tqdm(total=len(pending), desc=f"sweep {sweep.name}", disable=not progress)

    def finish(job: tuple, result) -> None:
        if job[0] is sweep.run_stage:
            finished_stages.add(job[1])
            if sweep.on_stage is not None:
                sweep.on_stage(job[1])
        else:
            report(result)
        bar.update(1)

    def next_ready() -> tuple | None:
        return next((job for job in pending if job[2] is None or job[2] in finished_stages), None)

    if workers == 1:
        while (job := next_ready()) is not None:
            pending.remove(job)
            finish(job, job[0](job[1], work))
    else:
        with ProcessPoolExecutor(workers, mp_context=get_context("spawn")) as pool:
            running: dict[Future, tuple] = {}
            try:
                while pending or running:
                    while len(running) < workers and (job := next_ready()) is not None:
                        pending.remove(job)
                        running[pool.submit(_one_thread, job[0], job[1], work)] = job
                    completed, _ = wait(running, return_when=FIRST_COMPLETED)
                    for future in completed:
                        finish(running.pop(future), future.result())  # a failed job stops the sweep with its error
            except BaseException:
                pool.shutdown(wait=False, cancel_futures=True)
                raise
    bar.close()
    return rows


def write_tables(sweep: Sweep, rows: list[dict], out: Path) -> None:
    """`results.csv` (rows sorted in place, in the sweep's order) and `summary.csv`, each atomically."""
    rows.sort(key=sweep.order)
    write_csv(rows, out / RESULTS_FILE, sweep.columns[0])
    write_csv(sweep.summarize(rows), out / SUMMARY_FILE, sweep.columns[1])


def _one_thread(function: Callable, what, work: Path):
    """A job in a worker process: one thread, so that workers share the cores instead of fighting."""
    torch.set_num_threads(1)
    return function(what, work)


# ----------------------------------------------------------------------------------------------
# The cached arrays of a sweep (`work/data.npz` and the like)


def write_arrays(path: Path, arrays: dict[str, np.ndarray], sizes: dict[str, float]) -> dict:
    """Arrays and a byte table (name -> bytes per image) to one `.npz`, atomically -> arrays + {"bytes": sizes}."""
    table = {"bytes_keys": np.array(list(sizes)), "bytes_values": np.array(list(sizes.values()))}
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        np.savez(f, **arrays, **table)
    return arrays | table | {"bytes": sizes}


def read_arrays(path: Path) -> dict:
    """A sweep's `.npz` as arrays with its "bytes" table, read once per process (a worker runs many
    cells) and again when the file changes."""
    return _read_arrays(str(path), path.stat().st_mtime_ns)


@functools.lru_cache(maxsize=2)  # chapter 8's cells read two files in turn: both stay
def _read_arrays(path: str, mtime_ns: int) -> dict:
    with np.load(path, allow_pickle=False) as z:
        data = {k: z[k] for k in z.files}
    return data | {"bytes": dict(zip(data["bytes_keys"].tolist(), data["bytes_values"].tolist()))}
