"""What each chapter costs to run: wall time, peak memory and scratch disk, in fast or full mode.

    python -m benchmarks.chapter_costs --mode fast [--chapters 01 05] [--write]   (from the repository root)

Each notebook is executed on its own, as the book build executes it (a fresh Jupyter kernel running
the `.py` source), with SEITPP_FAST set for the mode. Memory is the resident size of the kernel's
process tree, sampled every 0.2 s; scratch disk is the largest size its temporary folder (TMPDIR,
which `tempfile` uses) reached. `--write` merges the rows into `benchmarks/results/chapter_costs.csv`
(one row per chapter and mode, stamped with machine and date, so fast and full runs can be made on
different days) and its table into BENCHMARKS.md; the book's "Reproduce at home" page reads the CSV.
"""
from __future__ import annotations

import argparse
import csv
import os
import tempfile
import threading
import time
from datetime import date
from pathlib import Path

import jupytext
import psutil
from nbclient import NotebookClient

from benchmarks.common import machine, report
from seitpp.files import write_csv

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "chapter_costs.csv"
COLUMNS = ("chapter", "mode", "seconds", "peak_memory_mb", "scratch_disk_mb", "machine", "date")


class Peak:
    """Samples, in a thread, the RSS of a process tree and the size of a folder; keeps the largest."""

    def __init__(self, folder: Path, every: float = 0.2):
        self.folder, self.every = folder, every
        self.memory = self.disk = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> "Peak":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        me = psutil.Process()
        while not self._stop.wait(self.every):
            kernels = me.children(recursive=True)
            self.memory = max(self.memory, sum(_rss(p) for p in kernels))
            self.disk = max(self.disk, sum(f.stat().st_size for f in self.folder.rglob("*") if f.is_file()))


def _rss(process: psutil.Process) -> int:
    try:
        return process.memory_info().rss
    except psutil.Error:  # it ended between listing and asking
        return 0


def run_chapter(path: Path, fast: bool) -> dict:
    """Execute one notebook in a fresh kernel -> its row of COLUMNS."""
    notebook = jupytext.read(path)
    with tempfile.TemporaryDirectory(prefix="chapter-") as scratch:
        env = {"SEITPP_FAST": "1" if fast else "0", "TMPDIR": scratch}
        saved = {k: os.environ.get(k) for k in env}
        os.environ.update(env)  # the kernel inherits this process's environment
        try:
            client = NotebookClient(notebook, timeout=None, kernel_name="python3",
                                    resources={"metadata": {"path": str(path.parent)}})
            with Peak(Path(scratch)) as peak:
                start = time.perf_counter()
                client.execute()
                seconds = time.perf_counter() - start
        finally:
            for k, v in saved.items():
                if v is None:
                    del os.environ[k]
                else:
                    os.environ[k] = v
    return {"chapter": path.stem, "mode": "fast" if fast else "full", "seconds": round(seconds, 1),
            "peak_memory_mb": round(peak.memory / 2**20), "scratch_disk_mb": round(peak.disk / 2**20, 1),
            "machine": machine(), "date": date.today().isoformat()}


def merge(rows: list[dict], path: Path = RESULTS) -> list[dict]:
    """The CSV's rows with `rows` replacing those of the same chapter and mode, sorted."""
    kept = []
    if path.exists():
        with open(path, newline="") as f:
            kept = list(csv.DictReader(f))
    new = {(r["chapter"], r["mode"]) for r in rows}
    merged = [r for r in kept if (r["chapter"], r["mode"]) not in new] + rows
    return sorted(merged, key=lambda r: (r["chapter"], r["mode"] != "fast"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mode", choices=("fast", "full"), default="fast")
    parser.add_argument("--chapters", nargs="*", help="notebook name prefixes, e.g. 01 05 (default: all)")
    parser.add_argument("--write", action="store_true", help=f"merge into {RESULTS.relative_to(ROOT)} and BENCHMARKS.md")
    args = parser.parse_args()
    notebooks = sorted((ROOT / "notebooks").glob("*.py"))
    if args.chapters:
        notebooks = [p for p in notebooks if p.stem.startswith(tuple(args.chapters))]
        if not notebooks:
            raise SystemExit(f"no notebook in notebooks/ starts with {args.chapters}")
    rows = []
    for path in notebooks:
        rows.append(run_chapter(path, args.mode == "fast"))
        print(f"{path.stem}: {rows[-1]['seconds']} s, {rows[-1]['peak_memory_mb']} MB", flush=True)
        if args.write:  # after every chapter: an interrupted run keeps what it measured
            RESULTS.parent.mkdir(parents=True, exist_ok=True)
            write_csv(merge(rows), RESULTS, COLUMNS)
    table = merge(rows) if args.write else rows  # BENCHMARKS.md shows every measured chapter, not just this run's
    lines = ["| chapter | mode | seconds | peak memory (MB) | scratch disk (MB) | date |", "|---|---|---|---|---|---|"]
    lines += [f"| {r['chapter']} | {r['mode']} | {r['seconds']} | {r['peak_memory_mb']} | {r['scratch_disk_mb']} | "
              f"{r['date']} |" for r in table]
    report("Chapter costs (benchmarks/chapter_costs.py)",
           "Each notebook executed alone in a fresh kernel; memory of the kernel's processes sampled every "
           "0.2 s; scratch disk is the peak size of its temporary folder.\n\n" + "\n".join(lines), args.write)


if __name__ == "__main__":
    main()
