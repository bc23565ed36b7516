"""The reproduction sweep: cells, data, resume, summaries, the command (smoke preset: seconds)."""
import csv
import json
from dataclasses import replace

import numpy as np
import pytest

from seitpp.cli import main
from seitpp.tokenizers import VQTokenizer
from seitpp.data import render_shapes
from seitpp.experiments import RESULTS_FILE, SUMMARY_FILE, read_results
from seitpp.data import corrupt
from seitpp.experiments.reproduce import ABLATION, EVAL_SETS, METHODS, Reproduce, sweep_preset
from seitpp.tokens import downsampled, jpeg_roundtrip

SMOKE = replace(sweep_preset("smoke"), train_images=48, test_images=24, finetune_steps=2, pretrain_steps=2,
                probe_images=24)


@pytest.fixture(scope="module")
def swept(tmp_path_factory):
    out = tmp_path_factory.mktemp("sweep")
    return out, Reproduce(SMOKE).run(out, progress=False)


def test_cells_cover_every_experiment_once():
    cells = Reproduce(SMOKE).cells()
    keys = [c.key for c in cells]
    assert len(keys) == len(set(keys))
    budget_cells = [c for c in cells if c.experiment == "budgets"]
    assert len(budget_cells) == len(METHODS) * len(SMOKE.budgets) * len(SMOKE.seeds)
    assert {c.method for c in cells if c.experiment == "ablation"} == set(ABLATION)
    assert all((c.stage is not None) == (c.method in ("SeiT + MTM", "SeiT++")) for c in budget_cells)
    # in the cpu preset the ablation budget is a table budget: "+ both" is the SeiT++ cell, not run twice
    cpu = sweep_preset("cpu")
    assert "+ both" not in {c.method for c in Reproduce(cpu).cells() if c.experiment == "ablation"}


def test_a_sweep_trains_only_its_experiments_and_keeps_each_cells_log(swept, tmp_path):
    from seitpp.engine import COLUMNS
    gpu = sweep_preset("gpu")
    assert {c.experiment for c in Reproduce(gpu).cells()} == {"budgets"}
    assert len(Reproduce(gpu).cells()) == len(METHODS) * len(gpu.budgets) * len(gpu.seeds)
    budgets_only = replace(SMOKE, experiments=("budgets",), budgets=(1.0,))
    rows = Reproduce(budgets_only).run(tmp_path, progress=False)
    assert {r["experiment"] for r in rows} == {"budgets"} and len(rows) == len(METHODS)
    with np.load(tmp_path / "work" / "data.npz") as data:  # no pixel copies for a sweep without pixel cells
        assert not any(key.startswith("train_png") or key.endswith("_pixels") for key in data.files)
    out, _ = swept
    logs = sorted((out / "work" / "histories").glob("*.csv"))
    stages = {f"mtm-{c.budget:.4f}" for c in Reproduce(SMOKE).cells() if c.stage}
    assert {p.stem for p in logs} == {c.slug for c in Reproduce(SMOKE).cells()} | stages
    with open(logs[0], newline="") as f:
        log = list(csv.DictReader(f))
    assert tuple(log[0]) == COLUMNS and int(log[-1]["step"]) == SMOKE.finetune_steps
    for stage in stages:  # MTM's log starts with the random encoder's label probe, on validation images
        with open(out / "work" / "histories" / f"{stage}.csv", newline="") as f:
            log = list(csv.DictReader(f))
        assert log[0]["step"] == "0" and log[0]["loss"] == ""  # before the first step
        assert all(0 <= float(row["val_probe_top1"]) <= 1 for row in (log[0], log[-1]))


def test_every_mtm_stage_exports_its_finished_model_weights_only(swept, tmp_path):
    import torch

    from seitpp.checkpoint import read_checkpoint
    from seitpp.engine.export import export_mtm
    from seitpp.experiments.reproduce import STAGE_MODEL
    from seitpp.models import MaskedTokenModel
    out, _ = swept
    stages = sorted({c.stage for c in Reproduce(SMOKE).cells() if c.stage})
    for stage in stages:
        run_dir = out / "work" / stage
        ckpt = read_checkpoint(run_dir)
        model = MaskedTokenModel.load(run_dir / STAGE_MODEL)
        assert model.state_dict().keys() == ckpt["model"].keys()
        assert all(torch.equal(v, ckpt["model"][k]) for k, v in model.state_dict().items())
        assert {p.name for p in (run_dir / STAGE_MODEL).iterdir()} == {"config.json", "mtm.safetensors",
                                                                        "provenance.json"}
        provenance = json.loads((run_dir / STAGE_MODEL / "provenance.json").read_text())
        assert provenance["stage"] == stage and provenance["steps"] == ckpt["step"] > 0
        assert provenance["exported_by"].endswith("export_mtm")
        config = json.loads((run_dir / STAGE_MODEL / "config.json").read_text())
        assert config["training"]["config"]["task"] == "pretrain"
    # a run that has not finished is not a finished model
    ckpt = read_checkpoint(out / "work" / stages[0])
    torch.save(ckpt | {"epoch": ckpt["epoch"] / 2, "step": ckpt["step"] // 2}, tmp_path / "checkpoint.pt")
    with pytest.raises(ValueError, match="unfinished"):
        export_mtm(tmp_path, tmp_path / "model")
    assert not (tmp_path / "model").exists()


def test_methods_can_be_trained_at_the_full_budget_only():
    sweep = replace(SMOKE, full_budget_only=("SeiT++ without MTM, release 2x2 stem",))
    released = [c for c in Reproduce(sweep).cells() if c.method == "SeiT++ without MTM, release 2x2 stem"]
    assert [c.budget for c in released] == [1.0] * len(sweep.seeds)
    assert {c.budget for c in Reproduce(sweep).cells() if c.method == "SeiT"} == set(sweep.budgets)
    with pytest.raises(ValueError, match="unknown method"):
        replace(SMOKE, full_budget_only=("SeiT+++",))


def test_learned_tables_start_from_codes_except_in_the_random_table_preset():
    cpu, random_rows = Reproduce(sweep_preset("cpu-first")), Reproduce(sweep_preset("cpu-random-table"))
    cell = next(c for c in cpu.cells() if c.method == "SeiT++ without MTM")
    assert cpu.finetune_config(cell.overrides, 0, 100).model.table_init == "codes"
    assert cpu.pretrain_config(100).model.table_init == "codes"
    assert random_rows.finetune_config(cell.overrides, 0, 100).model.table_init == "random"
    assert random_rows.pretrain_config(100).model.table_init == "random"
    # the cpu-tiny pretrain preset keeps the table at the codes; the first sweep's MTM let it learn
    assert not cpu.pretrain_config(100).model.freeze_table and not random_rows.pretrain_config(100).model.freeze_table
    assert Reproduce(sweep_preset("cpu")).pretrain_config(100).model.freeze_table
    cpu, random_rows = cpu.preset, random_rows.preset
    differs = [f for f in ("finetune", "pretrain") if getattr(cpu, f) != getattr(random_rows, f)]
    assert replace(random_rows, name="cpu-first", finetune=cpu.finetune, pretrain=cpu.pretrain) == cpu and differs


def test_the_sweeps_table_rule_reaches_every_learned_table_and_no_other():
    """The cpu preset freezes learned tables in fine-tuning; "SeiT, learned table" keeps its own rule,
    SeiT's frozen codes and the pixel models have no table to freeze; every cell's config is valid."""
    sweep = Reproduce(sweep_preset("cpu"))
    frozen = {(c.experiment, c.method): sweep.finetune_config(c.overrides, c.seed, 100).model.freeze_table
              for c in sweep.cells()}
    assert frozen[("budgets", "SeiT++ without MTM")] and frozen[("ablation", "baseline")]
    assert not frozen[("budgets", "SeiT, learned table")]
    assert not frozen[("budgets", "SeiT")] and not frozen[("pixels", "pixels (PNG)")]
    assert {c.budget for c in sweep.cells() if c.method == "SeiT, learned table"} == set(sweep.preset.budgets)
    assert sweep.preset.ablation_budget == min(sweep.preset.budgets)


def test_every_cell_trains_the_same_number_of_steps():
    cpu = sweep_preset("cpu")
    for budget in cpu.budgets:
        cell = next(c for c in Reproduce(cpu).cells() if c.budget == budget and c.method == "SeiT")
        n = cpu.budget_images(budget)
        cfg = Reproduce(cpu).finetune_config(cell.overrides, cell.seed, n)
        steps = cfg.run.epochs * (n // cfg.optim.batch_size)
        assert cpu.finetune_steps <= steps < cpu.finetune_steps + n // cfg.optim.batch_size


def test_sweep_writes_one_row_per_cell_with_every_evaluation(swept):
    out, rows = swept
    assert len(rows) == len(Reproduce(SMOKE).cells())
    on_disk = read_results(out / RESULTS_FILE)
    assert len(on_disk) == len(rows)
    for r in on_disk:
        for name in EVAL_SETS:
            assert 0.0 <= r[f"acc_{name}"] <= 1.0
        assert r["train_bytes"] == pytest.approx(r["bytes_per_image"] * r["train_images"], rel=1e-2)
    summary = read_results(out / SUMMARY_FILE)
    assert {s["seeds"] for s in summary} == {len(SMOKE.seeds)}
    by = {s["method"]: s for s in summary if s["experiment"] == "pixels"}
    # tokens are far smaller than any pixel format, and JPEG q5 / downsampling far smaller than PNG
    tokens = next(s for s in summary if s["experiment"] == "budgets")["bytes_per_image"]
    assert tokens < by["JPEG quality 5"]["bytes_per_image"] < by["pixels (PNG)"]["bytes_per_image"]
    assert by["downsampled x1/4 (PNG)"]["bytes_per_image"] < by["pixels (PNG)"]["bytes_per_image"] / 4


def test_resume_runs_only_the_missing_cells(swept, tmp_path):
    out, rows = swept
    copy = tmp_path / "resumed"
    copy.mkdir()
    (copy / "work").symlink_to(out / "work")  # the cached data and MTM runs
    kept = [r for r in read_results(out / RESULTS_FILE) if not (r["method"] == "SeiT" and r["seed"] == 0)]
    with open(copy / RESULTS_FILE, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(kept[0]))
        writer.writeheader()
        writer.writerows(kept)
    again = Reproduce(SMOKE).run(copy, progress=False)
    assert len(again) == len(rows)
    redone = {(r["method"], r["budget"]) for r in again if r["method"] == "SeiT"}
    assert len(redone) == len(SMOKE.budgets)
    first = {(r["experiment"], r["method"], r["budget"], r["seed"]): r["acc_clean"] for r in rows}
    for r in again:  # training is deterministic: a re-run cell gets the numbers it had
        assert first[(r["experiment"], r["method"], r["budget"], r["seed"])] == pytest.approx(r["acc_clean"])


def test_summary_mean_and_spread():
    rows = [{"experiment": "budgets", "method": "SeiT", "budget": 1.0, "train_images": 10, "seed": s,
             "bytes_per_image": 1.0, "train_bytes": 10, **{f"acc_{n}": a for n in EVAL_SETS}}
            for s, a in enumerate([0.5, 0.7, 0.6])]
    (s,) = Reproduce(SMOKE).summarize(rows)
    assert s["seeds"] == 3 and s["acc_clean_mean"] == pytest.approx(0.6) and s["acc_clean_std"] == pytest.approx(0.1)
    (one,) = Reproduce(SMOKE).summarize(rows[:1])
    assert np.isnan(one["acc_clean_std"])  # one seed has no spread, not a spread of zero


def test_corruptions_and_pixel_formats():
    images = render_shapes(6, split="test").images
    noisy, blurred = corrupt(images, "noise", SMOKE.noise_std), corrupt(images, "blur", SMOKE.blur_sigma)
    assert noisy.shape == blurred.shape == images.shape and noisy.dtype == np.uint8
    diff = np.abs(noisy.astype(int) - images.astype(int))
    assert 10 < diff.mean() < 40  # sigma 0.1 of the range: about 20 grey levels
    # blur removes high frequencies: neighbouring pixels become more alike
    def roughness(x):
        return np.abs(np.diff(x.astype(float), axis=1)).mean()
    assert roughness(blurred) < 0.7 * roughness(images)
    with pytest.raises(ValueError, match="unknown corruption"):
        corrupt(images, "fog", 1.0)
    q5, size5 = jpeg_roundtrip(images, 5)
    q75, size75 = jpeg_roundtrip(images, 75)
    assert size5 < size75 and q5.shape == images.shape
    assert np.abs(q5.astype(int) - images).mean() > np.abs(q75.astype(int) - images).mean()
    small, size = downsampled(images, 4)
    assert small.shape == images.shape and size < size5 * 4


def test_read_results_names_the_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such results file"):
        read_results(tmp_path / "missing.csv")
    empty = tmp_path / "empty.csv"
    empty.write_text("experiment,method\n")
    with pytest.raises(ValueError, match="empty.csv: no rows"):
        read_results(empty)


def test_unknown_sweep_preset():
    with pytest.raises(ValueError, match="unknown sweep preset"):
        sweep_preset("huge")


def test_reproduce_command_writes_provenance(tmp_path, monkeypatch):
    import seitpp.experiments.reproduce as reproduce
    monkeypatch.setitem(reproduce.SWEEPS, "smoke", replace(SMOKE, budgets=(1.0,), jpeg_qualities=(),
                                                            downsample_factors=()))
    monkeypatch.setattr(reproduce, "METHODS", {"SeiT": METHODS["SeiT"]})
    monkeypatch.setattr(reproduce, "ABLATION", {})
    out = tmp_path / "run"
    main(["reproduce", "--preset", "smoke", "--out", str(out)])
    provenance = json.loads((out / "provenance.json").read_text())
    assert provenance["command"] == f"python -m seitpp reproduce --preset smoke --out {out}"
    assert provenance["preset"] == "smoke"
    assert provenance["metrics"]["cells_done"] == provenance["metrics"]["cells_total"] == 3
    assert provenance["metrics"]["complete"] is True
    rows = read_results(out / RESULTS_FILE)  # SeiT, and the pixel ViT and the small CNN on PNG pixels
    assert sorted(r["method"] for r in rows) == ["SeiT", "pixels (PNG)", "small CNN (PNG)"]


def test_a_pilot_on_the_objects_scores_the_validation_split_and_the_pose_shift(tmp_path, monkeypatch):
    """`--set` changes the preset's fields; the objects class set, scored on validation images with
    the pose-shifted set beside the others, and the provenance says what ran."""
    import seitpp.experiments.reproduce as reproduce
    monkeypatch.setitem(reproduce.SWEEPS, "smoke", replace(SMOKE, jpeg_qualities=(), downsample_factors=()))
    out = tmp_path / "pilot"
    main(["reproduce", "--preset", "smoke", "--out", str(out), "--set", "classes=objects", "--set", "score_split=val",
          "--set", "budgets=(1.0,)", "--set", "methods=('SeiT',)", "--set", "experiments=('budgets',)"])
    rows = read_results(out / RESULTS_FILE)
    assert [r["method"] for r in rows] == ["SeiT"] and 0 <= rows[0]["acc_pose"] <= 1
    provenance = json.loads((out / "provenance.json").read_text())
    assert "classes='objects'" in provenance["metrics"]["sweep"] and "val split (objects)" in provenance["evaluation"]
    with np.load(out / "work" / "data.npz") as data:  # the objects, scored on validation images
        expected = VQTokenizer.load().tokenize_many(render_shapes(SMOKE.test_images, split="val", classes="objects").images)
        np.testing.assert_array_equal(data["test_clean_tokens"], expected.numpy())
    with pytest.raises(ValueError, match="expected FIELD=VALUE"):
        main(["reproduce", "--preset", "smoke", "--out", str(out), "--set", "colours=many"])


def test_figures_and_tables_from_a_summary(swept):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from seitpp.experiments import format_table, mean_std, select
    from seitpp.experiments.paper import PAPER_BUDGET_GB, PAPER_BUDGETS
    from seitpp.viz import budget_figure, storage_frontier_figure
    out, _ = swept
    summary = read_results(out / SUMMARY_FILE)
    fig = budget_figure(summary, PAPER_BUDGETS, PAPER_BUDGET_GB, chance=1 / 12)
    assert [ax.get_xlabel() for ax in fig.axes] == ["training set stored as tokens (kB)",
                                                    "training set stored as tokens (GB)"]
    assert all(ax.get_ylabel() for ax in fig.axes)
    frontier = storage_frontier_figure(summary, chance=1 / 12)
    left = frontier.axes[0]
    assert left.get_xscale() == "log" and all(ax.get_xlabel() and ax.get_ylabel() for ax in frontier.axes)
    plt.close("all")
    # the frontier never goes down: more bytes can always do what fewer did
    (line,) = [ln for ln in left.get_lines() if ln.get_label() == "frontier"]
    assert np.all(np.diff(line.get_ydata()) >= 0) and np.all(np.diff(line.get_xdata()) >= 0)
    rows = select(summary, "budgets", "SeiT")
    assert [r["budget"] for r in rows] == sorted((r["budget"] for r in rows), reverse=True)
    assert set(Reproduce(SMOKE).ablation_rows(summary)) == set(ABLATION)
    assert mean_std({"acc_clean_mean": 0.7312, "acc_clean_std": 0.012}) == "73.1 ± 1.2"
    assert mean_std({"acc_clean_mean": 0.7312, "acc_clean_std": float("nan")}) == "73.1 (1 seed)"
    text = format_table(["a", "bb"], [["x", 1], ["yyy", 22]])
    assert text.splitlines() == ["a    bb", "-------", "x     1", "yyy  22"]


def test_findings_judge_differences_against_the_spread():
    from seitpp.experiments import verdict
    assert verdict(3.0, 1.0) == "holds" and verdict(-3.0, 1.0) == "opposite" and verdict(0.5, 1.0) == "unclear"
    sweep = replace(SMOKE, budgets=(1.0, 0.5), ablation_budget=0.5)

    def row(experiment, method, budget, acc, std=0.01):
        return {"experiment": experiment, "method": method, "budget": budget, "train_images": 1, "seeds": 3,
                "bytes_per_image": 1, "train_bytes": 1,
                **{f"acc_{n}_mean": acc for n in EVAL_SETS}, **{f"acc_{n}_std": std for n in EVAL_SETS}}
    # a world where the paper is right: SeiT++'s gain grows as the budget shrinks
    summary = [row("budgets", "SeiT", 1.0, 0.70), row("budgets", "SeiT++", 1.0, 0.75),
               row("budgets", "SeiT", 0.5, 0.50), row("budgets", "SeiT++", 0.5, 0.65),
               row("ablation", "baseline", 0.5, 0.50), row("ablation", "+ ColorAdapt", 0.5, 0.505),
               row("ablation", "+ TokenAdapt", 0.5, 0.60)]
    judged = {(f["finding"], f["comparison"]): f for f in Reproduce(sweep).findings(summary)}
    (budget,) = [f for (name, _), f in judged.items() if name == "smaller budget, larger gain"]
    assert budget["difference"] == pytest.approx(10.0) and budget["verdict"] == "holds"
    assert judged[("each augmentation helps", "+ ColorAdapt - baseline")]["verdict"] == "unclear"
    assert judged[("TokenAdapt helps more than ColorAdapt", "+ TokenAdapt - + ColorAdapt")]["verdict"] == "holds"
    # "+ both" comes from the budget table's SeiT++ at the ablation budget: 65% against 50%
    assert judged[("each augmentation helps", "+ both - baseline")]["difference"] == pytest.approx(15.0)
    # comparisons whose cells are missing are left out, not guessed
    assert not [f for f in judged.values() if f["finding"] == "MTM helps"]
