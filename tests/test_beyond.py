"""Chapter 8's sweep (seitpp.experiments.beyond): the smoke preset end to end, resume, summaries and
tables, the command, and the DCT recipe's exact augmentations (seitpp.augment.dct).

The sweep runs once per module on a smoke preset cut further (a few dozen images, a handful of
steps, one thread), so the file stays well under a minute on 2 shared cores.
"""
import csv
import json
from dataclasses import replace

import numpy as np
import pytest
import torch

import seitpp.experiments.beyond as beyond
from seitpp.augment.dct import hflip_levels, random_block_crops
from seitpp.cli import main
from seitpp.data import SHAPE_CLASSES, render_shapes
from seitpp.data.dct import encode
from seitpp.experiments import RESULTS_FILE, SUMMARY_FILE, read_results
from seitpp.experiments.beyond import (
    EXPERIMENTS,
    METHODS,
    STAGE_NEEDS,
    STORAGE_FILE,
    Beyond,
    all_background,
    beyond_preset,
    read_examples,
)
from seitpp.experiments.sweep import Cell, stages_for
from seitpp.viz import dct_table, findings_table, inputs_table, segment_table, transfer_table

SMOKE = replace(beyond_preset("smoke"), train_images=32, test_images=16, examples=3)

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def swept(tmp_path_factory):
    out = tmp_path_factory.mktemp("beyond")
    return out, Beyond(SMOKE).run(out, progress=False)


def _forbid_training(monkeypatch):
    def refuse(*args):
        raise AssertionError(f"a finished sweep trained again: {args[1]}")
    monkeypatch.setattr(Beyond, "run_cell", refuse)
    monkeypatch.setattr(Beyond, "run_stage", refuse)


# ----------------------------------------------------------------------------------------------
# Cells and stages


def test_cells_cover_every_method_and_seed_once_and_name_their_stages():
    cpu = beyond_preset("cpu")
    experiment = Beyond(cpu)
    cells, stages = experiment.cells(), experiment.stages
    per_seed = len(METHODS["segment"]) * len(cpu.segment_budgets) + len(METHODS["transfer"]) + len(METHODS["dct"])
    assert len({c.key for c in cells}) == len(cells) == len(cpu.seeds) * per_seed
    assert [c.seed for c in cells] == sorted(c.seed for c in cells)  # seed by seed
    assert stages_for(cells, stages, STAGE_NEEDS) == ["tokenizer-f8", "mtm-reference", "mtm-reference-0.2143",
                                                      "masked-dct", "mtm-f8"]
    by_key = {c.key: c for c in cells}
    # a cell that needs MTM on the second tokenizer also brings the tokenizer it is trained on
    assert stages_for([by_key["transfer|SeiT++ (naive warp)|1.0000|0"]], stages, STAGE_NEEDS) == [
        "tokenizer-f8", "mtm-f8"]
    # SeiT++'s segmenter at the small budget starts from MTM on that budget's images only
    assert stages_for([by_key["segment|SeiT++|0.2143|0"]], stages, STAGE_NEEDS) == ["mtm-reference-0.2143"]
    assert stages_for([by_key["segment|SeiT-style|1.0000|0"], by_key["dct|colour swap|1.0000|1"]], stages,
                      STAGE_NEEDS) == []
    # the pilot: segmentation alone, on validation images
    pilot = beyond_preset("cpu-val")
    assert pilot.score_split == "val" and {c.experiment for c in Beyond(pilot).cells()} == {"segment"}
    with pytest.raises(ValueError, match="unknown beyond preset 'huge'"):
        beyond_preset("huge")


def test_transfer_cells_use_chapter_6s_recipe_on_the_whole_second_grid():
    cpu = beyond_preset("cpu")
    experiment = Beyond(cpu)
    seit = experiment.transfer_config(Cell("transfer", "SeiT", 2), 8)
    plus = experiment.transfer_config(Cell("transfer", "SeiT++ (naive warp)", 2), 8)
    assert experiment.transfer_config(Cell("transfer", "SeiT++ without MTM (naive warp)", 2), 8) == plus
    assert (seit.augment.policy, seit.model.stem, plus.augment.policy, plus.model.stem) == \
        ("seit", "seit", "seitpp", "seitpp")
    assert seit.model.crop == plus.model.crop == 8 and seit.run.seed == plus.run.seed == 2
    assert seit.optim.lr == 2e-3 and seit.model.table_init == plus.model.table_init == "codes"
    assert seit.augment.mixup == 0.0
    assert seit.run.epochs * (cpu.train_images // seit.optim.batch_size) >= 800  # reproduce's cpu steps
    # chapter 6's rule for a learned table (the seitpp stem): it keeps the codes in fine-tuning
    assert plus.model.freeze_table and not seit.model.freeze_table


def test_segmenters_train_the_same_steps_at_every_budget_with_the_table_rule():
    cpu = beyond_preset("cpu")
    experiment = Beyond(cpu)
    for method in METHODS["segment"]:
        full, small = (experiment.segment_config(Cell("segment", method, 0, b)) for b in (1.0, min(cpu.segment_budgets)))
        steps = [c.run.epochs * (cpu.budget_images(b) // c.optim.batch_size)
                 for c, b in ((full, 1.0), (small, min(cpu.segment_budgets)))]
        assert steps[0] == 806 and 806 <= steps[1] < 806 + cpu.budget_images(min(cpu.segment_budgets)) // 32
        assert small.run.warmup_epochs / small.run.epochs == pytest.approx(full.run.warmup_epochs / full.run.epochs)
        assert full.model.freeze_table and small.model.freeze_table and full.model.table_init == "codes"


# ----------------------------------------------------------------------------------------------
# The sweep, end to end


def test_sweep_writes_one_row_per_cell_with_its_metrics_and_storage(swept):
    out, rows = swept
    on_disk = read_results(out / RESULTS_FILE)
    assert len(on_disk) == len(rows) == len(Beyond(SMOKE).cells())
    for r in on_disk:
        metrics = ("miou", "pixel_acc") if r["experiment"] == "segment" else ("top1",)
        assert all(0.0 <= r[m] <= 1.0 for m in metrics)
        assert all(r[m] == "" for m in beyond.METRICS if m not in metrics)  # blank, not zero
        assert r["bytes_per_image"] > 0 and r["train_bytes"] == pytest.approx(r["bytes_per_image"] * r["train_images"],
                                                                              abs=1)
        assert r["train_images"] == (16 if r["budget"] == 0.5 else 32)
    bytes_of = {r["experiment"]: r["bytes_per_image"] for r in on_disk}
    data = np.load(out / "work" / "data.npz")
    table = dict(zip(data["bytes_keys"].tolist(), data["bytes_values"].tolist()))
    assert bytes_of["segment"] == pytest.approx(table["tokens"], abs=0.1)
    assert bytes_of["dct"] == pytest.approx(table["dct"], abs=0.1)
    # 8 x 8 tokens of a 64-code book take fewer bytes than 16 x 16 of 391, and both fewer than PNG
    assert bytes_of["transfer"] < bytes_of["segment"] < table["png"]
    second = json.loads((out / "tokenizer-f8" / "measured.json").read_text())
    assert second["codebook_size"] == 64 and second["grid"] == [8, 8]
    assert second["bytes_per_image"] == bytes_of["transfer"]
    assert (out / "tokenizer-f8" / "tokenizer.safetensors").is_file()


def test_examples_hold_seed_0s_predicted_masks_for_the_first_test_images(swept):
    out, _ = swept
    ex = read_examples(out)
    test = render_shapes(SMOKE.examples, split="test")
    assert ex["ids"].shape == (3, 16, 16) and np.array_equal(ex["masks"], test.masks)
    for method in METHODS["segment"]:
        assert ex[f"pred:{method}"].shape == (3, 64, 64) and ex[f"pred:{method}"].max() < len(SHAPE_CLASSES) + 1
    with pytest.raises(FileNotFoundError, match="no such examples file"):
        read_examples(out / "work")


def test_a_finished_sweep_trains_nothing_and_rewrites_the_same_results(swept, monkeypatch):
    out, rows = swept
    before = (out / RESULTS_FILE).read_text()
    _forbid_training(monkeypatch)
    again = Beyond(SMOKE).run(out, progress=False)
    assert len(again) == len(rows) and (out / RESULTS_FILE).read_text() == before


def test_a_missing_cell_is_trained_again_with_the_same_numbers(swept, tmp_path, monkeypatch):
    out, _ = swept
    copy = tmp_path / "resumed"
    copy.mkdir()
    (copy / "work").symlink_to(out / "work")  # the cached data and stages
    rows = read_results(out / RESULTS_FILE)
    kept = [r for r in rows if r["experiment"] != "dct" or r["method"] != "colour swap"]
    with open(copy / RESULTS_FILE, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(kept[0]))
        writer.writeheader()
        writer.writerows(kept)
    trained = []
    real = Beyond.run_cell
    monkeypatch.setattr(Beyond, "run_stage", lambda *args: pytest.fail("stages are done"))
    monkeypatch.setattr(Beyond, "run_cell",
                        lambda self, cell, *args: trained.append(cell.key) or real(self, cell, *args))
    again = Beyond(SMOKE).run(copy, progress=False)
    assert trained == ["dct|colour swap|1.0000|0"] and len(again) == len(rows)
    redone = next(r for r in again if r["method"] == "colour swap")
    assert redone["top1"] == next(r for r in rows if r["method"] == "colour swap")["top1"]  # deterministic


def test_summary_means_and_spreads_per_metric():
    rows = [{"experiment": "segment", "method": "SeiT++", "budget": 1.0, "seed": s, "train_images": 10, "bytes_per_image": 2.0,
             "train_bytes": 20, "miou": m, "pixel_acc": 0.9, "top1": ""} for s, m in enumerate([0.2, 0.4, 0.3])]
    (s,) = Beyond(SMOKE).summarize(rows)
    assert s["seeds"] == 3 and s["miou_mean"] == pytest.approx(0.3) and s["miou_std"] == pytest.approx(0.1)
    assert s["pixel_acc_std"] == 0.0 and "top1_mean" not in s  # no top-1 for a segmenter
    (one,) = Beyond(SMOKE).summarize(rows[:1])
    assert np.isnan(one["miou_std"])  # one seed has no spread


def test_tables_from_a_summary(swept):
    out, _ = swept
    summary = read_results(out / SUMMARY_FILE)
    background = all_background(render_shapes(SMOKE.test_images, split="test").masks)
    text = segment_table(summary, background)
    assert "all background (no model)" in text and all(m in text for m in METHODS["segment"])
    second = json.loads((out / "tokenizer-f8" / "measured.json").read_text())
    assert all(m in transfer_table(summary, second) for m in METHODS["transfer"])
    text = dct_table(summary)
    assert all(f"DCT levels: {m}" in text for m in METHODS["dct"])
    storage = read_results(out / STORAGE_FILE)
    assert [r["input"] for r in storage] == ["pixels (PNG)", "DCT levels (JPEG quality 10)",
                                             "reference tokens (16x16, K 391)", "f8 tokens (8x8, K 64)",
                                             "segmentation masks (PNG)"]
    assert "x reference tokens" in inputs_table(storage)
    judged = Beyond(SMOKE).findings(summary)
    assert judged[0]["comparison"] == "SeiT++ - SeiT-style (miou, 32 images)" and judged[0]["paper"] == 4.2
    assert judged[1]["comparison"] == "SeiT++ - SeiT-style (miou, 16 images)"  # each segmentation budget
    assert len(judged) == 8 and {f["finding"] for f in judged} == {"segmentation", "another tokenizer", "DCT inputs"}
    assert all(f["verdict"] == "unclear" for f in judged)  # one seed: no spread, nothing is beyond it
    assert "+4.2 (ADE20k)" in findings_table(judged)


def test_all_background_baseline_on_hand_made_masks():
    masks = np.zeros((2, 4, 4), dtype=np.uint8)
    masks[:, :2, :2] = 3  # a quarter of each mask is object class 2
    scores = all_background(masks, num_classes=13)
    assert scores["pixel_acc"] == pytest.approx(0.75)
    assert scores["miou"] == pytest.approx((0.75 + 0.0) / 2)  # background IoU 0.75, the object's 0


def test_beyond_command_writes_provenance(swept, tmp_path, monkeypatch):
    out, rows = swept
    run = tmp_path / "run"
    run.mkdir()
    (run / "work").symlink_to(out / "work")
    for name in (RESULTS_FILE, "examples.npz"):
        (run / name).write_bytes((out / name).read_bytes())
    monkeypatch.setitem(beyond.PRESETS, "smoke", SMOKE)
    _forbid_training(monkeypatch)
    main(["beyond", "--preset", "smoke", "--out", str(run)])
    provenance = json.loads((run / "provenance.json").read_text())
    assert provenance["command"] == f"python -m seitpp beyond --preset smoke --out {run}"
    assert provenance["preset"] == "smoke" and provenance["metrics"]["complete"] is True
    assert provenance["metrics"]["cells_done"] == provenance["metrics"]["cells_total"] == len(rows)


# ----------------------------------------------------------------------------------------------
# The DCT recipe: exact augmentations on levels, a deterministic loop


@pytest.fixture(scope="module")
def levels() -> tuple[torch.Tensor, torch.Tensor, np.ndarray]:
    shapes = render_shapes(32, split="train")
    return encode(shapes.images, 10), torch.from_numpy(shapes.labels), shapes.images


def test_mirroring_levels_is_encoding_the_mirrored_images(levels):
    x, _, images = levels
    assert torch.equal(hflip_levels(x), encode(np.ascontiguousarray(images[:, :, ::-1]), 10))
    assert torch.equal(hflip_levels(hflip_levels(x)), x)


def test_random_block_crops_are_slices(levels):
    x, _, _ = levels
    crops = random_block_crops(x[:6], 7, torch.Generator().manual_seed(0))
    assert crops.shape == (6, 192, 7, 7) and crops.dtype == x.dtype
    for crop, full in zip(crops, x[:6]):
        assert any(torch.equal(crop, full[:, i:i + 7, j:j + 7]) for i in range(2) for j in range(2))
    with pytest.raises(ValueError, match="a 9 x 9 crop does not fit 8 x 8 blocks"):
        random_block_crops(x, 9)
