"""Launch commands of chapter 9: their argv, a real torchrun launch of two processes, resume,
the measured step rate, and the same runs on CUDA (marked, skipped without a GPU)."""
import os
import subprocess
import sys

import pytest
import torch

from seitpp.checkpoint import CHECKPOINT_FILE
from seitpp.engine import (
    as_shell,
    load_model,
    measure_step_rate,
    preset,
    train_command,
)
from seitpp.tokens import Split, write_store

pytestmark = pytest.mark.usefixtures("one_thread")
TINY = {"batch_size": 16, "epochs": 1, "warmup_epochs": 0, "log_every": 2}


@pytest.fixture(scope="module")
def store(tokenizer, tmp_path_factory):
    grids = Split.shapes(64, "train", tokenizer=tokenizer)
    path = tmp_path_factory.mktemp("launch") / "train.tokens"
    write_store(path, grids.x.numpy().astype("uint16"), grids.targets.numpy(), codebook_size=391,
                num_classes=grids.num_classes, tokenizer_hash=grids.tokenizer_hash)
    return path


def run(argv: list[str]) -> subprocess.CompletedProcess:
    if argv[0] == "torchrun":  # the console script of torch.distributed.run, through this interpreter
        argv = [sys.executable, "-m", "torch.distributed.run", *argv[1:]]
    env = os.environ | {"OMP_NUM_THREADS": "1"}
    result = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    return result


def test_commands_name_every_option_and_check_them():
    one = train_command("finetune", "train.tokens", "ft", "imagenet-vitb", val="val.tokens", init="mtm",
                        tokenadapt="ta", overrides={"epochs": 5})
    assert one[:4] == [sys.executable, "-m", "seitpp", "finetune"]
    assert as_shell(one) == ("python -m seitpp finetune --store train.tokens --preset imagenet-vitb --out ft "
                             "--val val.tokens --init mtm --tokenadapt ta --set epochs=5")
    eight = train_command("pretrain", "a b.tokens", "mtm", "imagenet-vitb", nproc=8)
    assert as_shell(eight).startswith("torchrun --standalone --nproc_per_node=8 -m seitpp pretrain --store 'a b.tokens'")
    with pytest.raises(ValueError, match="--init is a fine-tuning option"):
        train_command("pretrain", "s", "o", "cpu-tiny", init="mtm")
    with pytest.raises(ValueError, match="task must be"):
        train_command("evaluate", "s", "o", "cpu-tiny")


def test_torchrun_two_processes_then_the_same_command_resumes(store, tmp_path):
    out = tmp_path / "mtm"
    argv = train_command("pretrain", store, out, "cpu-tiny", nproc=2, device="cpu", overrides=TINY)
    first = run(argv)
    ckpt = torch.load(out / CHECKPOINT_FILE, weights_only=False)
    assert ckpt["world_size"] == 2 and ckpt["step"] == 64 // 16
    assert "x 2 process(es)" in first.stdout
    run(argv)  # finished: the rerun loads the checkpoint and trains no further step
    again = torch.load(out / CHECKPOINT_FILE, weights_only=False)
    assert again["step"] == ckpt["step"] and all(torch.equal(again["model"][k], v) for k, v in ckpt["model"].items())


def test_seit_release_files_train_with_their_codebook_ckpt(store, tokenizer, tmp_path):
    """SeiT's files -> our store (as `convert` makes it, no tokenizer known) -> fine-tuning with the
    seitpp policy, whose embedding ops take their codes from SeiT's `codebook.ckpt`."""
    seit, converted, ckpt = tmp_path / "seit", tmp_path / "converted.tokens", tmp_path / "codebook.ckpt"
    run([sys.executable, "-m", "seitpp", "convert", str(store), str(seit), "--split", "train"])
    run([sys.executable, "-m", "seitpp", "convert", str(seit), str(converted), "--split", "train"])
    torch.save(tokenizer.codebook.vectors().detach().clone(), ckpt)  # a bare (391, 32) tensor, as the release's
    out = tmp_path / "ft"
    run(train_command("finetune", converted, out, "cpu-tiny", codebook=ckpt, device="cpu", overrides=TINY))
    assert torch.load(out / CHECKPOINT_FILE, weights_only=False)["step"] == 64 // 16
    ckpt.write_bytes(b"not a checkpoint")
    argv = train_command("finetune", converted, tmp_path / "bad", "cpu-tiny", codebook=ckpt, device="cpu",
                         overrides=TINY)
    failed = subprocess.run(argv, capture_output=True, text=True, env=os.environ | {"OMP_NUM_THREADS": "1"})
    assert failed.returncode != 0 and f"{ckpt}: not a readable torch checkpoint" in failed.stderr
    assert "Traceback" not in failed.stderr


def test_step_rate_gives_epoch_hours():
    rate = measure_step_rate(preset("cpu-tiny", "finetune"), 391, 12, batch=4, device="cpu", seconds=0.2)
    assert rate.images_per_s > 0 and rate.gflops_per_image > 0 and rate.mfu is None
    assert rate.epoch_hours(int(rate.images_per_s * 3600)) == pytest.approx(1.0, rel=1e-3)
    assert rate.epoch_hours(int(rate.images_per_s * 3600), processes=4) == pytest.approx(0.25, rel=1e-3)


# ----------------------------------------------------------------------------------------------
# CUDA: the launch as chapter 9 runs it on a GPU box


cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


@pytest.mark.cuda
@cuda
def test_cuda_finetune_from_mtm_with_tokenadapt_then_evaluate(store, tmp_path):
    from seitpp.augment import REFERENCE_DIR
    mtm, ft = tmp_path / "mtm", tmp_path / "ft"
    run(train_command("pretrain", store, mtm, "cpu-tiny", device="cuda", overrides=TINY))
    run(train_command("finetune", store, ft, "cpu-tiny", val=store, init=mtm, tokenadapt=REFERENCE_DIR,
                      device="cuda", overrides=TINY))
    model, config = load_model(ft, device="cuda")
    assert next(model.parameters()).device.type == "cuda" and config.augment.policy == "seitpp"
    result = run([sys.executable, "-m", "seitpp", "evaluate", "--checkpoint", str(ft), "--store", str(store),
                  "--device", "cuda"])
    assert '"val_top1"' in result.stdout and '"samples": 64' in result.stdout


@pytest.mark.cuda
@cuda
def test_cuda_step_rate_reports_mfu_on_a_known_gpu():
    rate = measure_step_rate(preset("imagenet-vitb", "finetune"), 391, 1000, batch=64, device="cuda", seconds=1.0)
    assert rate.images_per_s > 100 and 80 < rate.gflops_per_image < 130  # ViT-B/16 at 14 x 14 patches: 3 x 35
    if any(name in torch.cuda.get_device_name() for name in ("H100", "H200", "A100")):
        assert 0 < rate.mfu < 1
