"""One choice of device (`seitpp.device`): CUDA when there is one, the environment variable
SEITPP_DEVICE to override it, a clear error for a value that cannot be; every trainer, the command
line and the sweeps follow it. The CUDA tests (marked, skipped without a GPU) run the chapters' code
paths at tiny sizes on the default device: tokenizer and TokenAdapt training, MTM pre-training and
fine-tuning, tokenizing a data set, a reproduction sweep."""
import json
import math
import os
from dataclasses import replace

import pytest
import torch

from seitpp import cli
from seitpp.cli import build_parser
from seitpp.augment import GeometryDistribution, TokenAdaptConfig, train_tokenadapt
from seitpp.augment.tokenadapt_train import TokenAdaptTrainConfig
from seitpp.data import images_to_tensor, render_shapes
from seitpp.device import DEVICE_VARIABLE, default_device, resolve_device
from seitpp.engine import preset, train, with_overrides
from seitpp.experiments import reproduce
from seitpp.experiments.reproduce import METHODS, Reproduce, sweep_preset
from seitpp.tokenizers import TokenizerConfig, VQTokenizer, evaluate_tokenizer
from seitpp.tokenizers.train import TokenizerTrainConfig, train_tokenizer
from seitpp.tokens import Split, TokenStore, shapes_source, tokenize_dataset

pytestmark = pytest.mark.usefixtures("one_thread")
cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")

MICRO = TokenizerTrainConfig(model=TokenizerConfig(resolution=32, channels=(8, 16, 16), codebook_size=64),
                             num_train_images=32, steps=3, batch_size=8, crop=16, warmup_steps=1, restart_every=2)
TOKENADAPT = TokenAdaptTrainConfig(model=TokenAdaptConfig(width=32, num_heads=2), geometry=GeometryDistribution(),
                                   num_train_images=32, steps=3, batch_size=8, warmup_steps=1)
ENGINE = {"batch_size": 16, "epochs": 1, "warmup_epochs": 0.5, "log_every": 1}
BAD_VALUES = ["gpu", "cuda:x", "meta", "cpu:zero", "mps"]


@pytest.fixture
def no_variable(monkeypatch):
    monkeypatch.delenv(DEVICE_VARIABLE, raising=False)


@pytest.fixture
def without_cuda(monkeypatch):
    """This machine as one without a GPU, whatever it has."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 0)


def tiny_images(n: int = 32, resolution: int = 32) -> torch.Tensor:
    return torch.from_numpy(render_shapes(n, resolution=resolution, split="train").images)


# ----------------------------------------------------------------------------------------------
# The choice and the override (on any machine)


def test_default_is_cuda_when_there_is_one_else_the_cpu(no_variable):
    assert default_device() == torch.device("cuda" if torch.cuda.is_available() else "cpu")
    assert resolve_device(None) == default_device()


def test_default_is_the_cpu_on_a_machine_without_cuda(no_variable, without_cuda):
    assert default_device() == torch.device("cpu")


@pytest.mark.parametrize("value", ["", "auto", " AUTO "])
def test_empty_or_auto_is_the_default_choice(monkeypatch, value):
    monkeypatch.setenv(DEVICE_VARIABLE, value)
    assert default_device() == torch.device("cuda" if torch.cuda.is_available() else "cpu")


def test_the_variable_chooses_the_cpu_even_on_a_gpu_machine(monkeypatch):
    monkeypatch.setenv(DEVICE_VARIABLE, "cpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)  # as if there were a GPU
    assert default_device() == torch.device("cpu")
    assert resolve_device(None) == torch.device("cpu")


def test_an_explicit_device_wins_over_the_variable(monkeypatch):
    monkeypatch.setenv(DEVICE_VARIABLE, "not a device")  # never read when the caller names a device
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device(torch.device("cpu")) == torch.device("cpu")


@pytest.mark.parametrize("value", BAD_VALUES)
def test_a_value_that_is_not_a_device_is_named(monkeypatch, value):
    monkeypatch.setenv(DEVICE_VARIABLE, value)
    with pytest.raises(ValueError, match=rf"SEITPP_DEVICE='{value}' is not a device .*cpu, cuda or cuda:N"):
        default_device()


def test_cuda_asked_for_without_cuda_is_named(monkeypatch, without_cuda):
    monkeypatch.setenv(DEVICE_VARIABLE, "cuda")
    with pytest.raises(ValueError, match=r"SEITPP_DEVICE='cuda' asks for CUDA, but torch sees no CUDA device"):
        default_device()
    with pytest.raises(ValueError, match=r"device 'cuda:0' asks for CUDA"):
        resolve_device("cuda:0")


def test_a_gpu_that_is_not_there_is_named(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    monkeypatch.setenv(DEVICE_VARIABLE, "cuda:3")
    with pytest.raises(ValueError, match=r"SEITPP_DEVICE='cuda:3' asks for GPU 3, but this machine has 1"):
        default_device()


# ----------------------------------------------------------------------------------------------
# Every trainer, the command line and the sweeps follow it


def test_trainers_default_to_the_variable(monkeypatch):
    monkeypatch.setenv(DEVICE_VARIABLE, "cpu")
    model, history = train_tokenizer(MICRO, tiny_images(), progress=False)
    assert model.device == torch.device("cpu") and len(history) == MICRO.steps


@pytest.mark.parametrize("trainer", ["tokenizer", "tokenadapt", "engine", "sweep"])
def test_every_trainer_consults_the_variable_before_any_work(monkeypatch, tmp_path, tokenizer, trainer):
    """A bad SEITPP_DEVICE stops each of them at once, with the variable named: they all ask it."""
    monkeypatch.setenv(DEVICE_VARIABLE, "gpu")
    with pytest.raises(ValueError, match="SEITPP_DEVICE='gpu'"):
        if trainer == "tokenizer":
            train_tokenizer(MICRO, tiny_images(), progress=False)
        elif trainer == "tokenadapt":
            train_tokenadapt(TOKENADAPT, tokenizer, tiny_images(resolution=64), progress=False)
        elif trainer == "engine":
            data = Split(torch.randint(391, (16, 16, 16)), torch.randint(12, (16,)), num_classes=12,
                         codebook_size=391, source="random")
            train(with_overrides(preset("cpu-tiny", "finetune"), ENGINE), data, progress=False)
        else:
            Reproduce(sweep_preset("smoke")).run(tmp_path, progress=False)


def test_the_command_line_resolves_device_and_names_a_bad_one(monkeypatch, capsys):
    assert build_parser().parse_args(["tokenize", "--out", "x"]).device is None  # resolved in main
    with pytest.raises(SystemExit):
        cli.main(["tokenize", "--help"])
    assert "SEITPP_DEVICE" in capsys.readouterr().out
    monkeypatch.setenv(DEVICE_VARIABLE, "gpu")
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["tokenize", "--out", "never.tokens"])
    assert exit_info.value.code == 2 and "SEITPP_DEVICE='gpu' is not a device" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        cli.main(["tokenize", "--out", "never.tokens", "--device", "tpu"])
    assert "device 'tpu' is not a device" in capsys.readouterr().err


def test_a_sweep_command_runs_its_cells_on_its_device(monkeypatch, tmp_path, no_variable):
    """`reproduce --device cpu`: the cells (here or in spawned workers) see SEITPP_DEVICE=cpu while
    the sweep runs, and the provenance records it; the variable is restored afterwards."""
    seen = []

    def fake_run(self, out, workers=None, on_progress=None):
        seen.append(default_device())
        on_progress([], 0)

    monkeypatch.setattr(Reproduce, "run", fake_run)
    cli.main(["reproduce", "--preset", "smoke", "--out", str(tmp_path), "--device", "cpu"])
    assert seen == [torch.device("cpu")]
    assert json.loads((tmp_path / "provenance.json").read_text())["machine"]["device"] == "cpu"
    assert DEVICE_VARIABLE not in os.environ


# ----------------------------------------------------------------------------------------------
# The chapters' code paths on CUDA, each on the default device, at tiny sizes


def on_cuda(module: torch.nn.Module) -> bool:
    return all(p.device.type == "cuda" for p in module.parameters())


@pytest.mark.cuda
@cuda
def test_cuda_tokenizer_training(no_variable):
    assert default_device().type == "cuda"
    model, history = train_tokenizer(MICRO, tiny_images(), progress=False)  # chapter 1's call
    assert on_cuda(model) and all(math.isfinite(h["loss"]) for h in history)
    report = evaluate_tokenizer(model, images_to_tensor(render_shapes(8, resolution=32, split="test").images))
    assert math.isfinite(report.psnr) and report.codes_used > 0


@pytest.mark.cuda
@cuda
def test_cuda_tokenadapt_training_leaves_the_callers_tokenizer_on_the_cpu(no_variable):
    tokenizer = VQTokenizer.load()  # on the CPU, as chapter 3 loads it
    eval_images = images_to_tensor(render_shapes(8, split="test").images)
    model, history = train_tokenadapt(TOKENADAPT, tokenizer, tiny_images(resolution=64), eval_images=eval_images,
                                      progress=False)  # chapter 3's call
    assert on_cuda(model) and tokenizer.device.type == "cpu"
    assert all(math.isfinite(h["loss"]) for h in history) and "eval_tokenadapt" in history[-1]


@pytest.mark.cuda
@cuda
@pytest.mark.parametrize("task", ["pretrain", "finetune"])
def test_cuda_engine_runs(no_variable, tokenizer, task):
    data = Split.shapes(64, "train", tokenizer=tokenizer)  # chapter 5's MTM, chapter 6's fine-tuning
    val = Split.shapes(32, "val", tokenizer=tokenizer) if task == "finetune" else None
    result = train(with_overrides(preset("cpu-tiny", task), ENGINE), data, val, progress=False)
    assert on_cuda(result.model) and result.steps > 0
    assert all(math.isfinite(row["loss"]) for row in result.history if "loss" in row)
    if task == "finetune":
        assert 0 <= result.metrics["val_top1"] <= 1


@pytest.mark.cuda
@cuda
def test_cuda_tokenize_matches_the_cpu(no_variable, tmp_path):
    source = shapes_source(32, split="test")
    store = tokenize_dataset(source, VQTokenizer.load(device=default_device()), tmp_path / "cuda.tokens",
                             batch_size=16, progress=False)
    ids = torch.from_numpy(TokenStore.open(store).read_all().astype("int64"))
    cpu_ids = VQTokenizer.load().tokenize(source.load(0, 32))
    assert (ids == cpu_ids).float().mean() > 0.99  # a near tie may round the other way on the GPU


@pytest.mark.cuda
@cuda
def test_cuda_reproduction_sweep(no_variable, tmp_path, monkeypatch):
    monkeypatch.setattr(reproduce, "METHODS", {"SeiT": METHODS["SeiT"]})
    monkeypatch.setattr(reproduce, "ABLATION", {})
    smoke = replace(sweep_preset("smoke"), train_images=48, test_images=24, finetune_steps=2, pretrain_steps=2,
                    budgets=(1.0,), jpeg_qualities=(), downsample_factors=())
    rows = Reproduce(smoke).run(tmp_path, workers=1, progress=False)  # chapters 6 and 7, in this process
    assert len(rows) == 2 and all(0 <= float(r["acc_clean"]) <= 1 for r in rows)
