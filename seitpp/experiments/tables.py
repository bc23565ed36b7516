"""Reading a sweep's CSVs and turning them into the book's tables and verdicts.

Shared by both sweeps (`seitpp.experiments.reproduce`, `seitpp.experiments.beyond`) and by the
chapters that show them. A results row is one cell (one method, one seed); a summary row is one
group of cells over seeds, with `<metric>_mean` and `<metric>_std` for every metric it has.
Accuracies and the like are fractions in [0, 1]; tables and differences show them in %.

A table is a `Table`: the padded text that `print` shows, and in a notebook (`display(table)`) an
HTML table in a box of its own that scrolls sideways when it is wider than the page.
"""
from __future__ import annotations

import csv
import html
import json
import math
import re
import shlex
import statistics
from pathlib import Path


def read_results(path: str | Path) -> list[dict]:
    """Rows of a results or summary CSV, numbers as floats (ints where whole)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such results file")
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    if not rows:
        raise ValueError(f"{path}: no rows")
    return [{k: _number(v) for k, v in row.items()} for row in rows]


def read_pilots(root: str | Path) -> list[dict]:
    """The pilot sweeps under `root` (one folder each, made by `python -m seitpp reproduce ... --out
    root/NAME`), oldest first -> one row per cell: the pilot's name, its preset and the `--set` changes it
    ran with (from its provenance.json), and the cell's results row."""
    pilots = []
    for folder in Path(root).iterdir():
        if not (folder / "provenance.json").is_file():
            continue
        provenance = json.loads((folder / "provenance.json").read_text())
        changes = [_unquoted(part.removeprefix("set ")) for part in provenance["command"].split(" --")
                   if part.startswith("set ")]
        pilots.append((provenance["date"], folder.name, provenance["preset"], changes,
                       read_results(folder / "results.csv")))
    return [{"pilot": name, "preset": preset, "changes": changes} | row
            for _, name, preset, changes, rows in sorted(pilots) for row in rows]


def _unquoted(text: str) -> str:
    """A shell word as it was typed: quotes removed where the text is one quoted word."""
    try:
        words = shlex.split(text)
    except ValueError:
        return text
    return words[0] if len(words) == 1 else text


def _number(text: str):
    try:
        value = float(text)
    except ValueError:
        return text
    return int(value) if value.is_integer() and "." not in text else value


def mean_over_seeds(rows: list[dict], group_by: tuple[str, ...], metrics: tuple[str, ...]) -> list[dict]:
    """One row per group of `rows` with equal `group_by` fields: those fields, the training set's size
    and storage (from its first row), the number of seeds, and `<metric>_mean` / `<metric>_std` of
    every metric the group has values for (one seed has no spread: NaN)."""
    groups: dict[tuple, list[dict]] = {}
    for r in rows:
        groups.setdefault(tuple(r[f] for f in group_by), []).append(r)
    summary = []
    for key, group in groups.items():
        s = dict(zip(group_by, key)) | {f: group[0][f] for f in ("train_images", "bytes_per_image", "train_bytes")}
        s["seeds"] = len(group)
        for metric in metrics:
            values = [float(r[metric]) for r in group if r.get(metric) not in (None, "")]
            if values:
                s[f"{metric}_mean"] = round(statistics.mean(values), 4)
                s[f"{metric}_std"] = round(statistics.stdev(values), 4) if len(values) > 1 else math.nan
        summary.append(s)
    return summary


def select(summary: list[dict], experiment: str, method: str | None = None, budget: float | None = None) -> list[dict]:
    """The summary rows of one experiment (and method, and budget), largest budget first (rows
    without a budget keep their order)."""
    rows = [r for r in summary if r["experiment"] == experiment and (method is None or r["method"] == method)
            and (budget is None or abs(float(r["budget"]) - budget) < 1e-3)]
    return sorted(rows, key=lambda r: -float(r.get("budget", 0)))


def mean_std(row: dict, metric: str = "acc_clean") -> str:
    """'73.1 ± 1.2': a summary row's `metric` in % ('73.1 (1 seed)' with no spread)."""
    std = row[f"{metric}_std"]
    spread = "(1 seed)" if math.isnan(std) else f"± {100 * std:.1f}"
    return f"{100 * row[f'{metric}_mean']:.1f} {spread}"


def top1_and_loss(row: dict) -> str:
    """'64.4 ± 2.7 (1.61)': a summary row's clean top-1 (`mean_std`) and, in brackets, the training loss it
    ended with, mean over seeds, so that a model that memorised shows beside one that generalised."""
    return f"{mean_std(row)} ({row['train_loss_mean']:.2f})"


class Table(str):
    """A results table: the plain text that `print` shows, and an HTML table in a notebook.

    It is a `str` (the text of `format_table`), so it prints, searches and compares as text. A
    notebook that displays it (`IPython.display.display(table)`) gets `_repr_html_`: a <table> in a
    <div class="seitpp-table"> that scrolls sideways when the table is wider than the page
    (book/_static/tables.css styles it: smaller type, numbers right-aligned, verdicts shaded).
    Outside IPython, `display` prints the text.
    """

    header: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    caption: str | None

    def __new__(cls, text: str, header=(), rows=(), caption: str | None = None) -> "Table":
        table = super().__new__(cls, text)
        table.header, table.rows, table.caption = tuple(header), tuple(tuple(r) for r in rows), caption
        return table

    def _repr_html_(self) -> str:
        columns = [[r[i] for r in self.rows] for i in range(len(self.header))]
        kinds = ["num" if i > 0 and _is_numeric(c) else "long" if max(map(len, c), default=0) > 24 else ""
                 for i, c in enumerate(columns)]  # numbers right-aligned; long text kept wide enough to read

        def cell(tag: str, text: str, i: int) -> str:
            classes = [kinds[i]] * bool(kinds[i]) + [f"verdict-{text}"] * (text in VERDICTS)
            attribute = f' class="{" ".join(classes)}"' if classes else ""
            return f"<{tag}{attribute}>{html.escape(text)}</{tag}>"

        lines = ['<div class="seitpp-table" style="overflow-x:auto">', "<table>"]
        if self.caption:
            lines.append(f"<caption>{html.escape(self.caption)}</caption>")
        lines.append("<thead><tr>" + "".join(cell("th", h, i) for i, h in enumerate(self.header)) + "</tr></thead>")
        lines.append("<tbody>")
        lines += ["<tr>" + "".join(cell("td", c, i) for i, c in enumerate(r)) + "</tr>" for r in self.rows]
        return "\n".join([*lines, "</tbody>", "</table>", "</div>"])

    def captioned(self, caption: str) -> "Table":
        """The same table under a caption."""
        return format_table(list(self.header), [list(r) for r in self.rows], caption)

    def _repr_pretty_(self, printer, cycle: bool) -> None:
        printer.text(str(self))  # IPython's plain-text view: the table, not a quoted string


_NUMBER = re.compile(r"[+\-−]?\d")  # a cell that starts as a number: 73.1 ± 1.2, +4.0, 1,200, 12 s
_EMPTY = ("", "-", "–", "n/a")


def _is_numeric(column: list[str]) -> bool:
    """Whether a column holds numbers (dashes allowed, at least one number): it is right-aligned."""
    filled = [c for c in column if c not in _EMPTY]
    return bool(filled) and all(_NUMBER.match(c) for c in filled)


VERDICTS = ("holds", "opposite", "unclear", "uninformative")  # what `judge_pairs` says; a Table tints them
#                                                                (book/_static/tables.css)


def format_table(header: list[str], rows: list[list], caption: str | None = None) -> Table:
    """A plain-text table, columns padded to their widest cell, under its caption if it has one;
    a notebook displays it as HTML (`Table`)."""
    cells = [[str(c) for c in header]] + [[str(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths)))
             for r in cells]
    text = "\n".join([*([f"{caption}:"] if caption else []), lines[0], "-" * len(lines[0]), *lines[1:]])
    return Table(text, cells[0], cells[1:], caption)


def difference(a: dict, b: dict, metric: str = "acc_clean") -> tuple[float, float]:
    """(b - a, the spread of that difference) of two summary rows' `metric`, in points: the means'
    difference, and the two standard deviations combined."""
    d = 100 * (b[f"{metric}_mean"] - a[f"{metric}_mean"])
    return d, 100 * math.hypot(a[f"{metric}_std"], b[f"{metric}_std"])


def gain_by_budget(summary: list[dict], a: str, b: str, budgets: tuple[float, ...], metric: str = "acc_clean"
                   ) -> list[str]:
    """What method b adds over method a in the budget table at each of `budgets`, in points with the spread
    of the difference ('+4.4 ± 1.2'; '+4.4' for one seed; '-' where a cell is missing)."""
    cells = []
    for budget in budgets:
        ra, rb = select(summary, "budgets", a, budget=budget), select(summary, "budgets", b, budget=budget)
        if not (ra and rb):
            cells.append("-")
            continue
        d, spread = difference(ra[0], rb[0], metric)
        cells.append(f"{d:+.1f}" if math.isnan(spread) else f"{d:+.1f} ± {spread:.1f}")
    return cells


def verdict(difference: float, spread: float) -> str:
    """'holds' when the paper's direction (a positive difference) is beyond the spread of seeds,
    'opposite' when the other direction is, else 'unclear'."""
    if difference > spread:
        return "holds"
    return "opposite" if difference < -spread else "unclear"


def judged(comparison: str, a: dict, b: dict, metric: str = "acc_clean") -> dict:
    """{comparison, difference, spread, verdict} of b against a, rounded to 0.1 point."""
    d, s = difference(a, b, metric)
    return {"comparison": comparison, "difference": round(d, 1), "spread": round(s, 1), "verdict": verdict(d, s)}


CHANCE_BAND = 0.05  # a shift at which both models score within 5 points of chance tells nothing about either


def judge_pairs(pairs: list[tuple], chance: float | None = None) -> list[dict]:
    """[(finding, comparison, summary row a, row b, metric, the paper's b - a or None)] -> one findings
    row {finding, comparison, difference, spread, verdict, paper} per pair whose rows both have
    `metric` (a missing cell, or a summary written before a test set existed, is skipped). A drop
    (`drop_<shift>`) at which both models sit within CHANCE_BAND of `chance` is "uninformative"."""
    out = []
    for finding, comparison, a, b, metric, paper in pairs:
        if a is None or b is None or any(r.get(f"{metric}_mean") in (None, "") for r in (a, b)):
            continue
        row = {"finding": finding} | judged(comparison, a, b, metric) | {"paper": paper}
        shifted = f"acc_{metric.removeprefix('drop_')}_mean"
        if chance is not None and metric.startswith("drop_") and all(r[shifted] - chance < CHANCE_BAND for r in (a, b)):
            row["verdict"] = "uninformative"
        out.append(row)
    return out
