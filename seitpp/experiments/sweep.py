"""One resumable sweep runner, and `Experiment`, what a sweep is to it.

An experiment (`Experiment`, subclassed once per sweep: `seitpp.experiments.reproduce`,
`seitpp.experiments.beyond`) is a list of cells and what to do with them. A cell (`Cell`) is one
training run with one seed; its `key` names its results row, and its `stage` (or None) names a run
it needs first, made once and shared by every cell that names it (an MTM pre-training, a second
tokenizer). A stage may need another stage (`Experiment.stage_needs`).

`run` prepares the data once (`Experiment.prepare`, cached under `out/work/`), skips the cells whose
rows are already in `out/results.csv`, and queues the stages those cells need, then the cells, in
order. A free worker takes the first job whose stage is done. After every finished cell it writes
`results.csv` and `summary.csv` atomically (and whatever else the experiment keeps,
`Experiment.write_more`), and calls `on_progress(rows, total)`, where the command records its
provenance. An interrupted sweep so continues where it stopped; a stage resumes from its own
checkpoints.

With one worker every job runs in this process (simpler tracebacks, what the notebooks' fast mode
uses); with more, in spawned processes of one thread each, which get a pickled copy of the
experiment: its state is its preset.
"""
from __future__ import annotations

import ast
import functools
import re
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass, fields, replace
from multiprocessing import get_context
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from tqdm.auto import tqdm

from seitpp.experiments.tables import mean_over_seeds, read_results
from seitpp.files import atomic_path, write_csv

RESULTS_FILE, SUMMARY_FILE = "results.csv", "summary.csv"


def cell_key(experiment: str, method: str, budget: float, seed: int) -> str:
    """The name of a cell, and of its results row: "experiment|method|budget|seed"."""
    return f"{experiment}|{method}|{float(budget):.4f}|{int(seed)}"


@dataclass(frozen=True)
class Cell:
    """One training run: `method` (a row of the table `experiment`) at `budget` (a share of the
    training images) with `seed`, after the stage it needs, if any."""

    experiment: str
    method: str
    seed: int
    budget: float = 1.0
    stage: str | None = None

    @property
    def key(self) -> str:
        return cell_key(self.experiment, self.method, self.budget, self.seed)

    @property
    def slug(self) -> str:
        """The key as a file name: `work/histories/<slug>.csv` holds the cell's training log."""
        return re.sub(r"[^A-Za-z0-9.]+", "-", self.key.replace("++", "pp").replace("+", "plus")).strip("-")


class Experiment:
    """A sweep: its cells and stages, how to run one, and what the rows say.

    A subclass sets the class attributes and defines `cells`, `prepare`, `run_cell` (and `run_stage`
    when it has stages) and `findings`; the rest has defaults. Its one state is `preset`, a frozen
    dataclass of sizes, so that a spawned worker gets the same experiment.
    """

    tables: tuple[str, ...] = ()  # the experiment's tables (a cell's `experiment`), in the order rows are kept
    group_by: tuple[str, ...] = ("experiment", "method")  # what one summary row averages over seeds
    metrics: tuple[str, ...] = ()  # the results columns summarised
    result_columns: tuple[str, ...] = ()
    summary_columns: tuple[str, ...] = ()
    stages: tuple[str, ...] = ()  # every stage, in the order to run them; one after the stage it needs
    stage_needs: dict[str, str] = {}

    def __init__(self, preset):
        self.preset = preset

    @property
    def name(self) -> str:
        return self.preset.name

    @property
    def settings(self) -> str:
        """The preset as text: a folder started with other settings is refused, not resumed."""
        return repr(self.preset)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.preset!r})"

    # -- what a subclass defines
    def cells(self) -> list[Cell]:
        """Every cell, in the order to run them."""
        raise NotImplementedError

    def prepare(self, work: Path, progress: bool = True) -> dict:
        """Render, tokenize and cache the data once, in `work` -> the arrays every job reads."""
        raise NotImplementedError

    def run_stage(self, stage: str, work: Path) -> None:
        """Run (or resume, or find done) one stage, into `work/<stage>`."""
        raise ValueError(f"{self.name}: unknown stage {stage!r}; stages: {self.stages}")

    def run_cell(self, cell: Cell, work: Path) -> dict:
        """Train one cell and evaluate it -> its results row."""
        raise NotImplementedError

    def findings(self, summary: list[dict]) -> list[dict]:
        """The paper's claims judged on a summary (`seitpp.experiments.tables.judged`)."""
        raise NotImplementedError

    # -- with defaults
    def summarize(self, rows: list[dict]) -> list[dict]:
        """Mean and standard deviation over seeds of every group, for each metric."""
        return mean_over_seeds(rows, self.group_by, self.metrics)

    def row_key(self, row: dict) -> str:
        """A results row (from the CSV, too) -> the key of its cell."""
        return cell_key(row["experiment"], row["method"], row.get("budget", 1.0), row["seed"])

    def order(self, row: dict) -> tuple:
        """The sort key of results rows: table, largest budget first, method, seed."""
        table = self.tables.index(row["experiment"]) if row["experiment"] in self.tables else len(self.tables)
        return table, -float(row.get("budget", 1.0)), row["method"], int(row["seed"])

    def keep(self, row: dict) -> dict:
        """In this process: a finished row -> the row to keep (an experiment may take parts out)."""
        return row

    def stage_done(self, stage: str, out: Path) -> None:
        """In this process, when a stage has finished."""

    def write_more(self, rows: list[dict], out: Path) -> None:
        """Other outputs beside the tables, after each cell."""

    def run(self, out: str | Path, workers: int | None = None, progress: bool = True,
            on_progress: Callable[[list[dict], int], None] | None = None) -> list[dict]:
        """Run every cell not yet in `out/results.csv` (and the stages they need) -> all rows (`run`)."""
        return run(self, out, workers or getattr(self.preset, "workers", 1), progress, on_progress)


SETTINGS_FILE = "settings.txt"


def check_settings(sweep: Experiment, work: Path) -> None:
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


def check_stages_kept(sweep: Experiment, done: list[Cell], stages: list[str], work: Path) -> None:
    """Refuse to train again a stage that cells already in results.csv read: a stage trained a second time
    (the work folder lost, another machine) has other weights, so the cells still to make would not share
    one stage with the cells made before them (chapter 8's committed run measured such cells apart by up
    to 10 points)."""
    made_with = set(stages_for(done, sweep.stages, sweep.stage_needs))
    lost = [s for s in stages if s in made_with and not (work / s).exists()]
    if lost:
        raise ValueError(f"{work.parent}: results.csv holds cells made with the stage(s) {', '.join(lost)}, which "
                         f"{work} no longer holds; trained again they would be other weights, mixed into the same "
                         f"groups. Restore {work}, or delete from results.csv the rows of every cell that reads "
                         f"them, and rerun: the sweep then trains the stages and makes those cells again")


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


def run(sweep: Experiment, out: str | Path, workers: int = 1, progress: bool = True,
        on_progress: Callable[[list[dict], int], None] | None = None) -> list[dict]:
    """Run every cell of `sweep` not yet in `out/results.csv` (and the stages they need) -> all rows."""
    cells = sweep.cells()
    unknown = {c.stage for c in cells if c.stage} - set(sweep.stages)
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
    todo = [c for c in cells if c.key not in done]
    stages = stages_for(todo, sweep.stages, sweep.stage_needs)
    check_stages_kept(sweep, [c for c in cells if c.key in done], stages, work)

    def report(row: dict | None = None) -> None:
        if row is not None:
            rows.append(sweep.keep(row))
        if rows:  # on a rerun too, so the summary always follows the code that summarises
            write_tables(sweep, rows, out)
            sweep.write_more(rows, out)
        if on_progress is not None:
            on_progress(rows, len(cells))

    report()
    # pending jobs in the order a free worker takes them: (method name, stage or cell, the stage it needs)
    pending = [("run_stage", s, sweep.stage_needs.get(s)) for s in stages]
    pending += [("run_cell", c, c.stage) for c in todo]
    finished_stages = set(sweep.stages) - set(stages)
    bar = tqdm(total=len(pending), desc=f"sweep {sweep.name}", disable=not progress)

    def finish(job: tuple, result) -> None:
        if job[0] == "run_stage":
            finished_stages.add(job[1])
            sweep.stage_done(job[1], out)
        else:
            report(result)
        bar.update(1)

    def next_ready() -> tuple | None:
        return next((job for job in pending if job[2] is None or job[2] in finished_stages), None)

    if workers == 1:
        while (job := next_ready()) is not None:
            pending.remove(job)
            finish(job, getattr(sweep, job[0])(job[1], work))
    else:
        with ProcessPoolExecutor(workers, mp_context=get_context("spawn")) as pool:
            running: dict[Future, tuple] = {}
            try:
                while pending or running:
                    while len(running) < workers and (job := next_ready()) is not None:
                        pending.remove(job)
                        running[pool.submit(_one_thread, sweep, job[0], job[1], work)] = job
                    completed, _ = wait(running, return_when=FIRST_COMPLETED)
                    for future in completed:
                        finish(running.pop(future), future.result())  # a failed job stops the sweep with its error
            except BaseException:
                pool.shutdown(wait=False, cancel_futures=True)
                raise
    bar.close()
    return rows


def write_tables(sweep: Experiment, rows: list[dict], out: Path) -> None:
    """`results.csv` (rows sorted in place, in the sweep's order) and `summary.csv`, each atomically."""
    rows.sort(key=sweep.order)
    write_csv(rows, out / RESULTS_FILE, sweep.result_columns)
    write_csv(sweep.summarize(rows), out / SUMMARY_FILE, sweep.summary_columns)


def _one_thread(sweep: Experiment, job: str, what, work: Path):
    """A job (`sweep.run_stage` or `sweep.run_cell`) in a worker process: one thread, so that workers
    share the cores instead of fighting."""
    torch.set_num_threads(1)
    return getattr(sweep, job)(what, work)


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
