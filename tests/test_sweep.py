"""The sweep runner (seitpp.experiments.sweep) on a toy sweep, and the committed sweeps' tables
written again by today's code."""
import json
import shlex
from dataclasses import dataclass
from pathlib import Path

import pytest

from seitpp.experiments import (
    RESULTS_FILE,
    SUMMARY_FILE,
    Beyond,
    Cell,
    Experiment,
    Reproduce,
    beyond,
    read_results,
    reproduce,
    run,
)
from seitpp.experiments.sweep import SETTINGS_FILE, stages_for, write_tables
from seitpp.files import ARTEFACTS


@dataclass(frozen=True)
class ToyPreset:
    name: str = "toy"
    steps: int = 800


class Toy(Experiment):
    """Cells a and b with seeds 0 and 1; b needs stage "second", which needs "first". Every job logs its name."""

    tables = ("toy",)
    result_columns = ("experiment", "method", "seed", "score")
    summary_columns = ("method", "seeds")
    stages, stage_needs = ("first", "second"), {"second": "first"}

    def __init__(self, log: list[str], cells: list[Cell] | None = None, preset: ToyPreset = ToyPreset()):
        super().__init__(preset)
        self.log = log
        self.toy_cells = cells or [Cell("toy", "a", s) for s in (0, 1)] + [Cell("toy", "b", s, stage="second")
                                                                          for s in (0, 1)]

    def cells(self) -> list[Cell]:
        return self.toy_cells

    def prepare(self, work: Path, progress: bool = True) -> None:
        self.log.append("prepare")

    def run_stage(self, stage: str, work: Path) -> None:
        self.log.append(stage)
        (work / stage).mkdir(exist_ok=True)

    def run_cell(self, cell: Cell, work: Path) -> dict:
        self.log.append(f"{cell.method}|{cell.seed}")
        return {"experiment": "toy", "method": cell.method, "seed": cell.seed, "score": 0.5 + cell.seed / 10}

    def summarize(self, rows: list[dict]) -> list[dict]:
        methods = dict.fromkeys(r["method"] for r in rows)
        return [{"method": m, "seeds": sum(r["method"] == m for r in rows)} for m in methods]


def test_stages_run_before_the_cells_that_need_them_and_a_rerun_skips_what_is_done(tmp_path):
    log, progress = [], []
    rows = Toy(log).run(tmp_path, progress=False, on_progress=lambda rows, total: progress.append(len(rows)))
    assert log == ["prepare", "first", "second", "a|0", "a|1", "b|0", "b|1"]
    assert progress == [0, 1, 2, 3, 4] and len(rows) == 4
    summary = read_results(tmp_path / SUMMARY_FILE)
    assert [(r["method"], r["seeds"]) for r in summary] == [("a", 2), ("b", 2)]
    kept = [line for line in (tmp_path / RESULTS_FILE).read_text().splitlines() if line != "toy,b,1,0.6"]
    (tmp_path / RESULTS_FILE).write_text("\n".join(kept) + "\n")  # as if the sweep had stopped before b|1
    log.clear()
    again = Toy(log).run(tmp_path, progress=False)
    assert log == ["prepare", "first", "second", "b|1"] and len(again) == 4  # the stages resume themselves
    log.clear()
    run(Toy(log), tmp_path, progress=False)
    assert log == ["prepare"]  # nothing left: no stage, no cell


def test_a_lost_stage_that_made_cells_is_refused_not_trained_again(tmp_path):
    """With b|0 made and work/second gone, b|1 would read a second, retrained stage: refused, nothing runs."""
    log = []
    Toy(log).run(tmp_path, progress=False)
    kept = [line for line in (tmp_path / RESULTS_FILE).read_text().splitlines() if line != "toy,b,1,0.6"]
    (tmp_path / RESULTS_FILE).write_text("\n".join(kept) + "\n")
    (tmp_path / "work" / "second").rmdir()
    log.clear()
    with pytest.raises(ValueError, match="made with the stage\\(s\\) second, which .* no longer holds"):
        Toy(log).run(tmp_path, progress=False)
    assert log == ["prepare"]
    without = [line for line in kept if not line.startswith("toy,b,")]  # the fix the message names
    (tmp_path / RESULTS_FILE).write_text("\n".join(without) + "\n")
    Toy(log).run(tmp_path, progress=False)
    assert log[-4:] == ["first", "second", "b|0", "b|1"]


def test_stages_for_brings_the_stages_a_stage_needs():
    cells = [Cell("toy", "b", 0, stage="third")]
    assert stages_for(cells, ("first", "second", "third"), {"third": "second", "second": "first"}) == [
        "first", "second", "third"]
    assert stages_for([Cell("toy", "a", 0)], ("first",), {}) == []


def test_a_cell_that_needs_an_unknown_stage_is_refused_before_anything_runs(tmp_path):
    log = []
    with pytest.raises(ValueError, match="cells need stages it does not have: \\['nowhere'\\]"):
        Toy(log, [Cell("toy", "a", 0, stage="nowhere")]).run(tmp_path, progress=False)
    assert log == []


COMMITTED = {  # artefact folder -> the experiment that made it
    "reproduce-cpu": Reproduce(reproduce.sweep_preset(reproduce.REFERENCE_PRESET)),
    "reproduce-cpu-learned-table": Reproduce(reproduce.sweep_preset(reproduce.LEARNED_TABLE_PRESET)),
    "reproduce-cpu-first": Reproduce(reproduce.sweep_preset("cpu-first")),
    "reproduce-cpu-random-table": Reproduce(reproduce.sweep_preset("cpu-random-table")),
    "reproduce-gpu": Reproduce(reproduce.sweep_preset("gpu")),
    "beyond-cpu": Beyond(beyond.beyond_preset("cpu")),
    "beyond-cpu-learned-table": Beyond(beyond.beyond_preset("cpu-learned-table")),
}


@pytest.mark.parametrize("name", sorted(COMMITTED))
def test_the_committed_sweeps_tables_are_written_again_byte_for_byte(name, tmp_path):
    """The runner's writer, on a committed results.csv, writes that results.csv and its summary.csv
    again, to the byte. Every committed row is a cell of its preset (the presets have gained cells,
    the stem's row and naive warps, that the committed sweeps predate)."""
    committed = ARTEFACTS / name
    spec = COMMITTED[name]
    rows = read_results(committed / RESULTS_FILE)
    assert {spec.row_key(r) for r in rows} <= {c.key for c in spec.cells()}
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
        (tmp_path / name / "provenance.json").write_text(json.dumps({"command": command, "date": date,
                                                                       "preset": "cpu-pilot"}))
        (tmp_path / name / RESULTS_FILE).write_text(f"method,acc_clean\nSeiT,0.5\n{name},0.25\n")
    (tmp_path / "notes").mkdir()  # a folder without provenance is not a pilot
    rows = read_pilots(tmp_path)
    assert [(r["pilot"], r["method"], r["acc_clean"]) for r in rows] == [
        ("early", "SeiT", 0.5), ("early", "early", 0.25), ("late", "SeiT", 0.5), ("late", "late", 0.25)]
    assert rows[0]["changes"] == [] and rows[2]["changes"] == ["classes=objects", "finetune={'lr': 2e-3}"]
    assert {r["preset"] for r in rows} == {"cpu-pilot"}


def test_a_folder_started_with_other_settings_is_refused_not_mixed(tmp_path):
    """Cells are known by name and seed only: resuming with other settings would keep the old cells."""
    log: list[str] = []
    first = Toy(log)
    first.run(tmp_path, progress=False)
    assert (tmp_path / "work" / SETTINGS_FILE).read_text() == "ToyPreset(name='toy', steps=800)"
    first.run(tmp_path, progress=False)  # the same settings resume (nothing left to run)
    ran = list(log)
    with pytest.raises(ValueError, match="started with other settings"):
        Toy(log, preset=ToyPreset(steps=2400)).run(tmp_path, progress=False)
    assert log == ran  # refused before anything ran, even the data preparation


def test_every_committed_provenance_is_json_with_its_command():
    for path in sorted(ARTEFACTS.rglob("provenance.json")):
        provenance = json.loads(path.read_text())  # a merge's conflict markers would fail here, not in a chapter
        assert provenance["command"].startswith("python -m seitpp"), path
