"""The sweep runner (seitpp.experiments.sweep) on a toy sweep, and the committed sweeps' tables
written again by today's code."""
import json
import shlex
from dataclasses import dataclass, replace
from pathlib import Path

import pytest

from seitpp.experiments import (
    RESULTS_FILE,
    SUMMARY_FILE,
    Sweep,
    beyond,
    read_results,
    reproduce,
    run,
)
from seitpp.experiments.sweep import SETTINGS_FILE, stages_for, write_tables
from seitpp.files import ARTEFACTS


@dataclass(frozen=True)
class ToyCell:
    name: str
    seed: int
    stage: str | None = None

    @property
    def key(self) -> str:
        return f"{self.name}|{self.seed}"


def toy_sweep(log: list[str], cells: list[ToyCell] | None = None) -> Sweep:
    def run_stage(stage: str, work: Path) -> None:
        log.append(stage)

    def run_cell(cell: ToyCell, work: Path) -> dict:
        log.append(cell.key)
        return {"name": cell.name, "seed": cell.seed, "score": 0.5 + cell.seed / 10}

    def summarize(rows: list[dict]) -> list[dict]:
        names = dict.fromkeys(r["name"] for r in rows)
        return [{"name": n, "seeds": sum(r["name"] == n for r in rows)} for n in names]

    cells = cells or [ToyCell("a", s) for s in (0, 1)] + [ToyCell("b", s, "second") for s in (0, 1)]
    return Sweep("toy", cells, run_cell, row_key=lambda r: f"{r['name']}|{int(r['seed'])}", summarize=summarize,
                 columns=(("name", "seed", "score"), ("name", "seeds")), order=lambda r: (r["name"], r["seed"]),
                 prepare=lambda work, progress: log.append("prepare"), run_stage=run_stage,
                 stages=("first", "second"), stage_needs={"second": "first"})


def test_stages_run_before_the_cells_that_need_them_and_a_rerun_skips_what_is_done(tmp_path):
    log, progress = [], []
    rows = run(toy_sweep(log), tmp_path, progress=False, on_progress=lambda rows, total: progress.append(len(rows)))
    assert log == ["prepare", "first", "second", "a|0", "a|1", "b|0", "b|1"]
    assert progress == [0, 1, 2, 3, 4] and len(rows) == 4
    assert [r["name"] for r in read_results(tmp_path / SUMMARY_FILE)] == ["a", "b"]
    kept = [line for line in (tmp_path / RESULTS_FILE).read_text().splitlines() if line != "b,1,0.6"]
    (tmp_path / RESULTS_FILE).write_text("\n".join(kept) + "\n")  # as if the sweep had stopped before b|1
    log.clear()
    again = run(toy_sweep(log), tmp_path, progress=False)
    assert log == ["prepare", "first", "second", "b|1"] and len(again) == 4  # the stages resume themselves
    log.clear()
    run(toy_sweep(log), tmp_path, progress=False)
    assert log == ["prepare"]  # nothing left: no stage, no cell


def test_stages_for_brings_the_stages_a_stage_needs():
    cells = [ToyCell("b", 0, "third")]
    assert stages_for(cells, ("first", "second", "third"), {"third": "second", "second": "first"}) == [
        "first", "second", "third"]
    assert stages_for([ToyCell("a", 0)], ("first",), {}) == []


def test_a_cell_that_needs_an_unknown_stage_is_refused_before_anything_runs(tmp_path):
    log = []
    with pytest.raises(ValueError, match="cells need stages it does not have: \\['nowhere'\\]"):
        run(toy_sweep(log, [ToyCell("a", 0, "nowhere")]), tmp_path, progress=False)
    assert log == []


COMMITTED = {  # artefact folder -> the specification of the sweep that made it
    "reproduce-cpu": lambda out: reproduce.specification(reproduce.sweep_preset("cpu")),
    "reproduce-cpu-first": lambda out: reproduce.specification(reproduce.sweep_preset("cpu-first")),
    "reproduce-cpu-random-table": lambda out: reproduce.specification(reproduce.sweep_preset("cpu-random-table")),
    "reproduce-gpu": lambda out: reproduce.specification(reproduce.sweep_preset("gpu")),
    "beyond-cpu": lambda out: beyond.specification(beyond.beyond_preset("cpu"), out, {}),
}


@pytest.mark.parametrize("name", sorted(COMMITTED))
def test_the_committed_sweeps_tables_are_written_again_byte_for_byte(name, tmp_path):
    """The runner's writer, on a committed results.csv, writes that results.csv and its summary.csv
    again, to the byte. Every committed row is a cell of its preset (the presets have gained cells,
    the stem's row and naive warps, that the committed sweeps predate)."""
    committed = ARTEFACTS / name
    spec = COMMITTED[name](tmp_path)
    rows = read_results(committed / RESULTS_FILE)
    assert {spec.row_key(r) for r in rows} <= {c.key for c in spec.cells}
    write_tables(spec, rows, tmp_path)
    for file in (RESULTS_FILE, SUMMARY_FILE):
        assert (tmp_path / file).read_bytes() == (committed / file).read_bytes(), f"{name}/{file} differs"


def test_read_pilots_lists_each_pilots_changes_and_cells_in_order(tmp_path):
    from seitpp.experiments.tables import read_pilots
    for name, date, command in [
        ("late", "2026-12-03T02:00:00+00:00", "python -m seitpp " + shlex.join(  # as the CLI writes it
            ["reproduce", "--preset", "cpu-pilot", "--set", "classes=objects", "--set", "finetune={'lr': 2e-3}",
             "--out", "late"])),
        ("early", "2026-12-03T01:00:00+00:00", "python -m seitpp reproduce --preset cpu-pilot --out early"),
    ]:
        (tmp_path / name).mkdir()
        (tmp_path / name / "provenance.json").write_text(json.dumps({"command": command, "date": date}))
        (tmp_path / name / RESULTS_FILE).write_text(f"method,acc_clean\nSeiT,0.5\n{name},0.25\n")
    (tmp_path / "notes").mkdir()  # a folder without provenance is not a pilot
    rows = read_pilots(tmp_path)
    assert [(r["pilot"], r["method"], r["acc_clean"]) for r in rows] == [
        ("early", "SeiT", 0.5), ("early", "early", 0.25), ("late", "SeiT", 0.5), ("late", "late", 0.25)]
    assert rows[0]["changes"] == [] and rows[2]["changes"] == ["classes=objects", "finetune={'lr': 2e-3}"]


def test_a_folder_started_with_other_settings_is_refused_not_mixed(tmp_path):
    """Cells are known by name and seed only: resuming with other settings would keep the old cells."""
    log: list[str] = []
    first = replace(toy_sweep(log), settings="steps=800")
    run(first, tmp_path, progress=False)
    assert (tmp_path / "work" / SETTINGS_FILE).read_text() == "steps=800"
    run(first, tmp_path, progress=False)  # the same settings resume (nothing left to run)
    ran = list(log)
    with pytest.raises(ValueError, match="started with other settings"):
        run(replace(first, settings="steps=2400"), tmp_path, progress=False)
    assert log == ran  # refused before anything ran, even the data preparation
