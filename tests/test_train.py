"""The training engine: schedule, policies, learning, exact resume after a kill, NaN guard, DDP, errors, CLI.

Everything runs the micro models on a few hundred real token grids (Shapes through the reference
tokenizer) with one thread per process, so that the file stays well under a minute on 2 cores.
"""
import math
import os
import signal
import subprocess
import sys
import time
from dataclasses import replace

import pytest
import torch

import seitpp.engine.classify as classify
import seitpp.engine.loop as engine_loop
from seitpp.augment import (
    POLICIES,
    PixelPolicy,
    Policy,
    TokenAdapt,
    TokenAdaptConfig,
    TokenAugmentation,
    register_policy,
)
from seitpp.checkpoint import CHECKPOINT_FILE
from seitpp.cli import main
from seitpp.engine import (
    COLUMNS,
    HISTORY_FILE,
    PRESETS,
    TIMING_COLUMNS,
    Finetune,
    Task,
    TrainConfig,
    load_pretrained_encoder,
    pixel_crop,
    preset,
    setup_distributed,
    token_policy,
    train,
    with_overrides,
)
from seitpp.engine.config import PRETRAINED
from seitpp.engine.export import export_mtm
from seitpp.errors import TrainingDiverged, TrainSetupError
from seitpp.files import ARTEFACTS
from seitpp.schedule import lr_at
from seitpp.tokens import Split, write_store

NUM_CLASSES = 12
# cpu-tiny at test size: 256 grids, batches of 32
SMALL = dict(batch_size=32, epochs=2, warmup_epochs=0.5, log_every=2)
PAPER_MIXING = dict(mixup=0.8, cutmix=1.0)  # cpu-tiny mixes no labels; the policy tests turn the paper's on


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def grids(tokenizer):
    """256 training grids (16 x 16 ids of the reference tokenizer, 12 classes) as a Split."""
    return Split.shapes(256, "train", tokenizer=tokenizer)


@pytest.fixture(scope="module")
def store(grids, tmp_path_factory):
    path = tmp_path_factory.mktemp("store") / "train.tokens"
    write_store(path, grids.x.numpy().astype("uint16"), grids.targets.numpy(), codebook_size=391,
                num_classes=NUM_CLASSES, tokenizer_hash=grids.tokenizer_hash)
    return path


def tiny(task: str = "finetune", **changes) -> TrainConfig:
    return with_overrides(preset("cpu-tiny", task), SMALL | changes)


def same_state(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


# ----------------------------------------------------------------------------------------------
# Recipes and schedule


def test_schedule_warms_up_linearly_then_follows_a_cosine_to_the_floor():
    peak, floor, total, warm = 1e-3, 1e-5, 111, 10
    lrs = [lr_at(s, total, warm, peak, floor) for s in range(total)]
    assert lrs[0] == pytest.approx(peak / warm) and lrs[warm - 1] == pytest.approx(peak)
    assert all(b - a == pytest.approx(peak / warm) for a, b in zip(lrs[:warm - 1], lrs[1:warm]))
    assert lrs[warm] == pytest.approx(peak)  # the cosine starts at the peak ...
    assert lrs[-1] == pytest.approx(floor)  # ... and ends on the floor at the last step
    assert lrs[warm + 50] == pytest.approx((peak + floor) / 2)  # half-way down at half-way
    assert all(a >= b for a, b in zip(lrs[warm:], lrs[warm + 1:]))


def test_presets_carry_the_papers_recipes_and_overrides_parse():
    mtm, ft = preset("imagenet-vitb", "pretrain"), preset("imagenet-vitb", "finetune")
    assert (mtm.run.epochs, mtm.run.warmup_epochs, mtm.optim.batch_size, mtm.optim.betas, mtm.optim.weight_decay) == \
        (400, 40, 4096, (0.9, 0.95), 0.05)
    assert mtm.optim.peak_lr == pytest.approx(1.5e-4 * 4096 / 256) and mtm.augment.min_scale == 0.2
    assert ft.optim.peak_lr == pytest.approx(1e-3 * math.sqrt(ft.optim.batch_size) / 8)
    assert (ft.run.epochs, ft.run.warmup_epochs, ft.optim.layer_decay, ft.optim.weight_decay, ft.model.drop_path,
            ft.augment.min_scale, ft.augment.label_smoothing, ft.model.global_pool, ft.model.crop) == \
        (100, 5, 0.65, 0.1, 0.1, 0.08, 0.1, "avg", 28)
    assert set(PRESETS["pretrain"]) == set(PRESETS["finetune"]) - {"cpu-cnn", "gpu-cnn"} == \
        {"cpu-tiny", "gpu-small", "imagenet-vitb"}  # the CNN baseline's presets: tests/test_cnn_baseline.py
    cfg = with_overrides(preset("cpu-tiny"), ["epochs=3", "lr=1e-3", "policy=none", "layer_decay=None",
                                              "betas=(0.9, 0.95)", "color_adapt=false", "min_lr=0"])
    assert (cfg.run.epochs, cfg.optim.peak_lr, cfg.augment.policy, cfg.optim.layer_decay, cfg.optim.betas,
            cfg.augment.color_adapt, cfg.optim.min_lr) == (3, 1e-3, "none", None, (0.9, 0.95), False, 0.0)
    assert with_overrides(cfg, ["warmup_epochs=0.5"]).run.warmup_epochs == 0.5  # the preset wrote 1, a float field
    # layer decay is the paper's over the paper's schedule (100 epochs of ImageNet-1k at batch 1024),
    # relaxed towards none for shorter runs
    assert ft.optim.effective_layer_decay(125_114) == ft.optim.effective_layer_decay(10**7) == pytest.approx(0.65)
    assert ft.optim.effective_layer_decay(300) == pytest.approx(1 - 0.35 * 300 / 125_114)
    assert with_overrides(ft, ["layer_decay_steps=None"]).optim.effective_layer_decay(300) == 0.65
    assert mtm.optim.effective_layer_decay(300) is None
    assert isinstance(with_overrides(cfg, ["warmup_epochs=2"]).run.warmup_epochs, float)
    with pytest.raises(TrainSetupError, match="no field"):
        with_overrides(cfg, ["epoch=3"])
    with pytest.raises(TrainSetupError, match="epochs: expected int"):
        with_overrides(cfg, ["epochs=three"])
    with pytest.raises(TrainSetupError, match="policy"):
        with_overrides(cfg, ["policy=seitpp2"])
    with pytest.raises(TrainSetupError, match="pre-training uses plain crops"):
        with_overrides(preset("cpu-tiny", "pretrain"), dict(policy="seitpp"))


# ----------------------------------------------------------------------------------------------
# Augmentation policies


@pytest.mark.parametrize("changes", [
    dict(policy="seitpp"), dict(policy="seitpp", tokenadapt=True), dict(policy="seitpp", color_adapt=False),
    dict(policy="seitpp", token_adapt=False), dict(policy="seit"), dict(policy="none"), dict(policy="none", cutmix=0.0),
])
def test_policy_gives_crops_of_valid_ids_and_soft_labels(grids, tokenizer, changes):
    changes = dict(changes)
    ta = None
    if changes.pop("tokenadapt", False):
        torch.manual_seed(0)
        ta = TokenAdapt(tokenizer.codebook, TokenAdaptConfig(width=32, num_heads=2)).eval()
    cfg = tiny(**(PAPER_MIXING | changes))
    policy = token_policy(cfg, NUM_CLASSES, tokenizer.codebook.vectors().detach(), ta)
    ids, labels = grids.x[:32], grids.targets[:32]
    kinds = set()
    for seed in range(6):  # Mixup (one-hot mixtures) or CutMix (ids), drawn per batch
        x, y = policy(ids, labels, torch.Generator().manual_seed(seed))
        again = policy(ids, labels, torch.Generator().manual_seed(seed))
        assert torch.equal(x, again[0]) and torch.equal(y, again[1])  # seeded: repeatable
        S = cfg.model.crop
        if x.is_floating_point():
            assert x.shape == (32, 391, S, S) and x.min() >= 0
            assert torch.allclose(x.sum(1), torch.ones(32, S, S))
        else:
            assert x.shape == (32, S, S) and x.dtype == torch.int64
            assert 0 <= int(x.min()) and int(x.max()) < 391
        kinds.add(x.dtype)
        assert y.shape == (32, NUM_CLASSES) and torch.allclose(y.sum(1), torch.ones(32))
        if changes.get("cutmix", 1.0) == 0.0:
            assert torch.equal(y.argmax(1), labels)  # no mixing: the labels pass through
    mixup_possible = changes.get("policy") == "seitpp" and changes.get("token_adapt", True)
    assert kinds == ({torch.int64, torch.float32} if mixup_possible else {torch.int64})


def test_seitpp_policy_changes_tokens_and_mixes_labels(grids, tokenizer):
    policy = token_policy(tiny(**PAPER_MIXING), NUM_CLASSES, tokenizer.codebook.vectors().detach())
    x, y = policy(grids.x[:64], grids.targets[:64], torch.Generator().manual_seed(0))
    ids = x.argmax(1) if x.is_floating_point() else x
    assert (ids != grids.x[:64, 1:15, 1:15]).float().mean() > 0.3  # crops, warps, noise, colour move most tokens
    assert (y.max(1).values < 1).any()  # CutMix mixed some labels


def test_pixel_path_crops_to_the_token_models_patch_grid():
    images = Split.shapes(64, "train", kind="pixels")
    cfg = tiny(model="pvit_micro", epochs=1)
    aug = cfg.augment
    x, y = PixelPolicy(NUM_CLASSES, pixel_crop(cfg), min_scale=aug.min_scale, mixup=aug.mixup, cutmix=aug.cutmix)(
        images.x[:8], images.targets[:8], torch.Generator().manual_seed(0))
    assert x.shape == (8, 3, 56, 56) and x.dtype == torch.float32 and y.shape == (8, NUM_CLASSES)
    result = train(cfg, images, images, progress=False)  # the same engine, on pixels
    assert result.model.config.img_size == 56 and result.steps == 2 and "val_top1" in result.metrics


# ----------------------------------------------------------------------------------------------
# Learning


def test_the_optimiser_gets_the_layer_decay_of_the_runs_length(grids, monkeypatch):
    seen = []
    make = engine_loop.create_optimizer_v2

    def keep(model, *args, **kwargs):
        seen.append(kwargs["layer_decay"])
        return make(model, *args, **kwargs)

    monkeypatch.setattr(engine_loop, "create_optimizer_v2", keep)
    cfg = tiny(epochs=1, policy="none", layer_decay=0.5, layer_decay_steps=16)
    train(cfg, grids, progress=False)  # 8 steps: halfway to the schedule the decay is set for
    assert seen == [pytest.approx(0.75)]


def test_finetune_fits_its_training_grids(grids):
    """Five epochs of cpu-tiny (the full seitpp policy, naive warps) on 256 grids: top-1 on their
    centre crops well above chance (1/12). Held-out accuracy needs thousands of grids (chapter 5).
    From random table rows: in 40 steps the codes' start is slower (14% against 46% here), though it
    ends far ahead over the sweep's 800 (chapter 6's pilots)."""
    cfg = tiny(epochs=5, lr=5e-3, log_every=8, table_init="random")
    result = train(cfg, grids, grids, progress=False)
    assert result.metrics["val_top1"] > 0.2
    assert result.history[-1]["loss"] < result.history[0]["loss"]
    assert result.steps == 5 * 256 // 32 and not result.model.training


def test_mtm_pretraining_loss_decreases_and_reports_a_label_probe_from_step_0(grids):
    cfg = tiny("pretrain", epochs=3, log_every=4, lr=5e-3)
    result = train(cfg, grids, grids, progress=False)
    start, rows = result.history[0], result.history[1:]
    assert start["step"] == 0 and "loss" not in start  # the random encoder, evaluated before any step
    assert start["val_loss"] > 5 and 0 < start["val_probe_top1"] <= 1
    losses = [row["loss"] for row in rows]  # means over 4 steps, noisy step to step
    assert sum(losses[-2:]) / 2 < losses[0] - 0.2, losses
    assert "val_top1" not in result.metrics and result.metrics["val_loss"] < losses[0]
    assert 0 < result.metrics["val_probe_top1"] <= 1


def test_knn_probe_is_leave_one_out_and_reads_class_structure():
    g = torch.Generator().manual_seed(0)
    labels = torch.arange(4).repeat_interleave(30)  # 4 classes of 30
    centres = torch.randn(4, 16, generator=g) * 5
    clustered = centres[labels] + torch.randn(120, 16, generator=g)
    assert classify.knn_top1(clustered, labels) == 1.0
    noise = torch.randn(120, 16, generator=g)
    assert classify.knn_top1(noise, labels) < 0.45  # chance is 0.25
    # every sample has an exact twin of the other class: a probe that counted the sample itself
    # would be right every time; leaving it out, its twin outvotes it (k = 1)
    twins = torch.cat([clustered, clustered])
    twin_labels = torch.cat([labels, (labels + 1) % 4])
    assert classify.knn_top1(twins, twin_labels, k=1) == 0.0
    assert classify.knn_top1(clustered, labels, chunk=7) == classify.knn_top1(clustered, labels)


@pytest.mark.parametrize("task", ["pretrain", "finetune"])
def test_freeze_table_keeps_the_tables_start(grids, tokenizer, task):
    cfg = tiny(task, epochs=1, table_init="codes", freeze_table=True)
    result = train(cfg, grids, progress=False, tokenizer=tokenizer)
    stem = result.model.get_submodule("encoder.patch_embed" if task == "pretrain" else "patch_embed")
    torch.testing.assert_close(stem.table(), tokenizer.codebook.vectors().detach(), rtol=0, atol=0)
    assert not stem.codes.weight.requires_grad
    with pytest.raises(TrainSetupError, match="freeze_table applies to the learned table"):
        tiny("finetune", stem="seit", freeze_table=True)


def test_table_warmup_holds_the_table_for_its_share_of_the_steps_then_lets_it_learn(grids, tokenizer):
    """A warm start: with table_warmup 0.5 of 2 epochs, the table is still the codes after the first
    epoch (its checkpoint) and has moved after the second; the rest of the model learns throughout."""
    cfg = tiny("finetune", epochs=2, table_init="codes", table_warmup=0.5)
    tables = []
    real = engine_loop.train_one_epoch

    def after_each_epoch(task, cfg, learner, *args, **kwargs):
        real(task, cfg, learner, *args, **kwargs)
        tables.append(learner.module.get_submodule("patch_embed").table().detach().clone())

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(engine_loop, "train_one_epoch", after_each_epoch)
        train(cfg, grids, progress=False, tokenizer=tokenizer)
    codes = tokenizer.codebook.vectors().detach()
    torch.testing.assert_close(tables[0], codes, rtol=0, atol=0)
    assert not torch.equal(tables[1], codes)
    for bad in (dict(table_warmup=1.0), dict(table_warmup=0.5, freeze_table=True), dict(table_warmup=0.5, stem="seit")):
        with pytest.raises(TrainSetupError, match="table_warmup must be a share"):
            tiny("finetune", **bad)


@pytest.mark.parametrize("task", ["pretrain", "finetune"])
def test_table_init_codes_starts_the_learned_table_from_the_tokenizer(grids, tokenizer, task, monkeypatch):
    tables = []
    build = Task.build_model

    def build_and_keep_the_table(self, *args, **kwargs):
        model, model_args = build(self, *args, **kwargs)
        stem = model.get_submodule("encoder.patch_embed" if task == "pretrain" else "patch_embed")
        tables.append(stem.table().detach().clone())
        return model, model_args

    monkeypatch.setattr(Task, "build_model", build_and_keep_the_table)
    train(tiny(task, epochs=1, table_init="codes"), grids, progress=False, tokenizer=tokenizer)
    torch.testing.assert_close(tables[0], tokenizer.codebook.vectors().detach(), rtol=0, atol=0)
    with pytest.raises(TrainSetupError, match="table_init must be one of"):
        tiny(task, table_init="zeros")


# ----------------------------------------------------------------------------------------------
# Exact resume, NaN guard


FINETUNE = [sys.executable, "-m", "seitpp", "finetune", "--preset", "cpu-tiny", "--set", "batch_size=32",
            "--set", "epochs=2", "--set", "checkpoint_every=3", "--set", "log_every=2"]


def test_killed_run_resumes_to_bitwise_the_same_weights_and_metrics(store, tmp_path):
    """SIGKILL a CLI run after its first checkpoint, resume it; compare with a run never interrupted."""
    env = os.environ | {"OMP_NUM_THREADS": "1"}  # one thread, as in this process: the same float sums
    command = FINETUNE + ["--store", str(store), "--val", str(store), "--device", "cpu", "--out", str(tmp_path / "run")]
    killed = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    ckpt = tmp_path / "run" / CHECKPOINT_FILE
    deadline = time.monotonic() + 120
    while not ckpt.exists() and time.monotonic() < deadline and killed.poll() is None:
        time.sleep(0.02)
    assert killed.poll() is None, "the run ended before it could be killed"
    killed.send_signal(signal.SIGKILL)  # no cleanup of any kind
    killed.wait()
    at_kill = torch.load(ckpt, weights_only=False)["step"]
    assert 0 < at_kill < 16
    resumed = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    # meanwhile the same run, uninterrupted, in this process (what the CLI does, minus argparse)
    # (finetune --preset cpu-tiny starts from the committed encoder, its overrides under the --set ones)
    encoder, overrides = PRETRAINED["cpu-tiny"]
    cfg = with_overrides(with_overrides(preset("cpu-tiny"), overrides),
                         [a for a in FINETUNE[FINETUNE.index("--set"):] if a != "--set"])
    data = Split.from_store(store)
    train(cfg, data, data, tmp_path / "straight", device="cpu", progress=False, init=ARTEFACTS / encoder)
    assert resumed.wait() == 0, resumed.stderr.read().decode()[-2000:]

    a = torch.load(tmp_path / "straight" / CHECKPOINT_FILE, weights_only=False)
    b = torch.load(ckpt, weights_only=False)
    assert a["step"] == b["step"] == 16
    assert same_state(a["model"], b["model"])
    assert all(same_state(a["optimizer"]["state"][k], b["optimizer"]["state"][k]) for k in a["optimizer"]["state"])
    strip = lambda h: [{k: v for k, v in row.items() if k not in TIMING_COLUMNS} for row in h]  # noqa: E731
    assert strip(a["history"]) == strip(b["history"])
    assert sum("val_top1" in row for row in a["history"]) == 2  # one evaluation per epoch
    header = (tmp_path / "run" / HISTORY_FILE).read_text().splitlines()[0]
    assert header == ",".join(COLUMNS)


def test_non_finite_loss_stops_and_keeps_the_last_good_checkpoint(grids, tmp_path, monkeypatch):
    calls = []
    real = classify.soft_cross_entropy

    def poisoned(logits, target, smoothing=0.0):
        calls.append(1)
        loss = real(logits, target, smoothing)
        return loss * math.inf if len(calls) == 6 else loss  # step 5

    monkeypatch.setattr(classify, "soft_cross_entropy", poisoned)
    with pytest.raises(TrainingDiverged, match="loss is (inf|nan) at step 5"):
        train(tiny(checkpoint_every=2), grids, out_dir=tmp_path, progress=False)
    ckpt = torch.load(tmp_path / CHECKPOINT_FILE, weights_only=False)
    assert ckpt["step"] == 4 and all(torch.isfinite(v).all() for v in ckpt["model"].values())
    monkeypatch.setattr(classify, "soft_cross_entropy", real)
    with pytest.raises(TrainingDiverged, match="at step 1"):  # lr = inf: the first update breaks the weights
        train(tiny(lr=math.inf), grids, progress=False)


# ----------------------------------------------------------------------------------------------
# Two processes (gloo)


def _ddp_worker(rank: int, data: Split, out: str) -> None:
    assert setup_distributed() == (rank, 2)  # as under torchrun
    result = train(tiny(epochs=1), data, data, out_dir=out, device="cpu", progress=False)
    torch.save({"model": result.model.state_dict(), "val_top1": result.metrics["val_top1"]},
               os.path.join(out, f"rank{rank}.pt"))
    torch.distributed.destroy_process_group()


def test_two_gloo_processes_end_with_identical_weights(grids, tmp_path, two_gloo_processes):
    data = Split(grids.x[:128], grids.targets[:128], NUM_CLASSES, 391, "ddp", grids.tokenizer_hash)
    two_gloo_processes(_ddp_worker, data, str(tmp_path))
    r0, r1 = (torch.load(tmp_path / f"rank{r}.pt", weights_only=False) for r in (0, 1))
    assert same_state(r0["model"], r1["model"]) and r0["val_top1"] == r1["val_top1"]
    ckpt = torch.load(tmp_path / CHECKPOINT_FILE, weights_only=False)  # written by rank 0 alone
    assert ckpt["world_size"] == 2 and ckpt["step"] == 4 and same_state(ckpt["model"], r0["model"])


# ----------------------------------------------------------------------------------------------
# Errors before the first step


def test_setup_errors_name_the_file_and_the_value(grids, store, tmp_path):
    data = Split.from_store(store)
    with pytest.raises(TrainSetupError, match=r"391 codes, the codebook given has shape \(10, 32\)"):
        train(tiny(), data, codebook=torch.zeros(10, 32), progress=False)
    with pytest.raises(TrainSetupError, match="the tokenizer or its codebook, not both"):
        train(tiny(), data, codebook=torch.zeros(391, 32), tokenizer=object(), progress=False)
    with pytest.raises(TrainSetupError, match=f"{store}.*391 codes.*codebook_size 512"):
        train(tiny(codebook_size=512), data, progress=False)
    with pytest.raises(TrainSetupError, match=f"{store}: 16 x 16 token grids are smaller than the 18 x 18 crop"):
        train(tiny(crop=18), data, progress=False)
    with pytest.raises(TrainSetupError, match=f"{store}: 12 classes, but the config sets num_classes 10"):
        train(tiny(num_classes=10), data, progress=False)
    other = Split(grids.x[:40], grids.targets[:40] % 5, 5, 391, "val.tokens")
    with pytest.raises(TrainSetupError, match="val.tokens: num_classes 5 differs"):
        train(tiny(), data, other, progress=False)
    with pytest.raises(FileNotFoundError, match="nothing.pt: no such pre-training"):
        train(tiny(), data, init=tmp_path / "nothing.pt", progress=False)
    with pytest.raises(TrainSetupError, match="reads images, the data are tokens"):
        train(tiny(model="pvit_micro"), data, progress=False)
    with pytest.raises(TrainSetupError, match="do not fit a codebook of 300"):
        Split(grids.x, grids.targets, NUM_CLASSES, 300, "small.tokens")


def test_a_config_refuses_epochs_that_are_not_whole():
    with pytest.raises(TrainSetupError, match=r"epochs must be a whole number >= 1, got 12\.5"):
        replace(preset("cpu-tiny", "segment").run, epochs=12.5)  # a sweep preset once did; the loop cannot run it
    with pytest.raises(TrainSetupError, match="config field epochs: expected int, got 12.5"):
        with_overrides(preset("cpu-tiny", "segment"), dict(epochs=12.5))


def test_cli_reports_errors_without_a_traceback(store, tmp_path, capsys):
    for argv, message in [
        (["finetune", "--store", str(tmp_path / "missing.tokens")], "missing.tokens: no such token store"),
        (["finetune", "--store", str(store), "--set", "crop=18"], "smaller than the 18 x 18 crop"),
        (["finetune", "--store", str(store), "--init", str(tmp_path / "no-run")], "no-run: no such pre-training"),
        (["pretrain", "--store", str(store), "--set", "epochs=0"], "epochs must be a whole number >= 1, got 0"),
        (["pretrain", "--store", str(store), "--set", "epochs=2.5"], "config field epochs: expected int, got 2.5"),
    ]:
        with pytest.raises(SystemExit) as exit_info:
            main(argv + ["--out", str(tmp_path / "run")])
        assert exit_info.value.code == 1
        err = capsys.readouterr().err
        assert err.startswith("error: ") and message in err and "Traceback" not in err


def test_cli_pretrain_finetune_evaluate(store, tokenizer, tmp_path, capsys):
    common = ["--store", str(store), "--preset", "cpu-tiny", "--set", "batch_size=32", "--set", "epochs=1",
              "--set", "log_every=2", "--device", "cpu"]
    main(["pretrain", *common, "--out", str(tmp_path / "mtm")])
    torch.manual_seed(0)  # an untrained TokenAdapt: what matters here is that it loads and runs
    untrained = TokenAdapt(tokenizer.codebook, TokenAdaptConfig(width=32, num_heads=2), tokenizer.fingerprint())
    untrained.save(tmp_path / "ta")
    main(["finetune", *common, "--val", str(store), "--init", str(tmp_path / "mtm" / CHECKPOINT_FILE),
          "--tokenadapt", str(tmp_path / "ta"), "--out", str(tmp_path / "ft")])
    assert "finetune tvit_micro: 8 steps on 256 samples" in capsys.readouterr().out
    main(["evaluate", "--checkpoint", str(tmp_path / "ft"), "--store", str(store), "--device", "cpu"])
    report = capsys.readouterr().out
    assert '"samples": 256' in report and '"val_top1"' in report
    rows = (tmp_path / "ft" / HISTORY_FILE).read_text().splitlines()
    assert rows[0] == ",".join(COLUMNS) and len(rows) == 1 + 4  # log_every 2 over 8 steps
    ft = torch.load(tmp_path / "ft" / CHECKPOINT_FILE, weights_only=False)
    assert ft["config"]["run"]["epochs"] == 1 and ft["init"].endswith(CHECKPOINT_FILE)
    # --init put the pre-trained encoder into the classifier; only the head starts fresh
    encoder = torch.load(tmp_path / "mtm" / CHECKPOINT_FILE, weights_only=False)["model"]
    fresh, _ = Finetune(preset("cpu-tiny")).build_model(Split.shapes(12, tokenizer=tokenizer))
    missing = load_pretrained_encoder(fresh, tmp_path / "mtm")
    assert missing and all(k.startswith(("head.", "fc_norm.")) for k in missing)
    assert all(torch.equal(v, encoder[f"encoder.{k}"]) for k, v in fresh.state_dict().items() if k not in missing)
    # a saved MTM model (what export_mtm writes, as the committed artefacts/mtm-cpu) starts an encoder the same way
    export_mtm(tmp_path / "mtm", tmp_path / "saved")
    again, _ = Finetune(preset("cpu-tiny")).build_model(Split.shapes(12, tokenizer=tokenizer))
    assert load_pretrained_encoder(again, tmp_path / "saved") == missing
    assert all(torch.equal(v, fresh.state_dict()[k]) for k, v in again.state_dict().items() if k not in missing)


class UpsideDown(TokenAugmentation):
    """A toy op on ids: the grid turned upside down. It counts the batches it saw."""

    def __init__(self):
        self.batches = 0

    def apply(self, z: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
        self.batches += 1
        return z.flip(-2)


def test_a_new_augmentation_is_one_op_and_one_registry_entry(grids, tokenizer):
    """Register a policy around the toy op and train with it: nothing in the engine changes."""
    op = UpsideDown()
    register_policy(Policy("upside-down", "the grid upside down, then crops", on_ids=lambda codes, augment: op))
    try:
        result = train(tiny(policy="upside-down", epochs=1), grids, progress=False, tokenizer=tokenizer)
        assert op.batches == result.steps == 256 // 32
        assert math.isfinite(result.history[-1]["loss"])
        with pytest.raises(TrainSetupError, match="moves no token without its mask.*policy 'upside-down' does"):
            tiny("segment", policy="upside-down")
        with pytest.raises(ValueError, match="'upside-down' is registered already"):
            register_policy(Policy("upside-down", "again"))
    finally:
        del POLICIES["upside-down"]
    with pytest.raises(TrainSetupError, match=r"policy must be one of \('none', 'seit', 'seitpp'\), got 'upside-down'"):
        tiny(policy="upside-down")
