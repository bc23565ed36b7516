"""The pixel CNN baseline: the cnn_<size> models, ImageFolder trees read as images (the ones tokenize sees),
and `python -m seitpp baseline` through the training engine."""
import csv
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from seitpp.cli import main
from seitpp.data import images_to_tensor, render_shapes
from seitpp.engine import preset, train, with_overrides
from seitpp.models import CNN_SIZES, create_model, reads_pixels
from seitpp.tokens import Split
from seitpp.tokens.tokenize import folder_source

pytestmark = pytest.mark.usefixtures("one_thread")

# Parameters with 12 classes, as the docstring of seitpp.models.cnn gives them
PARAMS_M = {"micro": 0.31, "tiny": 6.29, "small": 25.13, "base": 85.08}


@pytest.mark.parametrize("size", sorted(CNN_SIZES))
def test_every_cnn_size_maps_images_to_logits_and_back(size):
    model = create_model(f"cnn_{size}", num_classes=12, img_size=56, drop_path_rate=0.0, global_pool="avg")
    assert sum(p.numel() for p in model.parameters()) / 1e6 == pytest.approx(PARAMS_M[size], abs=0.01)
    x = torch.randn(2, 3, 32, 32, requires_grad=True)
    logits = model(x)
    assert logits.shape == (2, 12)
    logits.sum().backward()
    assert x.grad.shape == x.shape and model.conv1.weight.grad is not None and model.fc.weight.grad is not None
    assert model.eval()(torch.randn(1, 3, 56, 56)).shape == (1, 12)  # any image size


def test_cnn_names_what_it_cannot_do():
    assert reads_pixels("cnn_micro") and reads_pixels("pvit_tiny") and not reads_pixels("tvit_micro")
    with pytest.raises(ValueError, match="pools by averaging"):
        create_model("cnn_micro", global_pool="token")
    with pytest.raises(TypeError, match="no field"):
        create_model("cnn_micro", codebook_size=391)
    with pytest.raises(ValueError, match="float"):
        create_model("cnn_micro")(torch.zeros(1, 3, 8, 8, dtype=torch.uint8))


def write_folder(root: Path, per_class: int = 4, classes: int = 3, split: str = "train") -> Path:
    """An ImageFolder of rendered shapes: root/<class>/<i>.png, the classes' images at 72 px (resized on reading)."""
    shapes = render_shapes(per_class * 12, resolution=72, split=split)
    for label in range(classes):
        (root / f"class_{label}").mkdir(parents=True)
        for i in np.flatnonzero(shapes.labels == label)[:per_class]:
            Image.fromarray(shapes.images[i]).save(root / f"class_{label}" / f"{i}.png")
    return root


def test_an_image_folder_is_read_as_the_images_tokenize_sees(tmp_path):
    root = write_folder(tmp_path / "train")
    split = Split.from_image_folder(root, 64, progress=False)
    assert split.kind == "pixels" and split.x.shape == (12, 64, 64, 3) and split.x.dtype == torch.uint8
    assert split.num_classes == 3 and split.classes == ("class_0", "class_1", "class_2")
    assert split.targets.tolist() == [0] * 4 + [1] * 4 + [2] * 4
    seen_by_tokenize = folder_source(root, resolution=64).load(0, 12)
    assert torch.equal(images_to_tensor(split.x.numpy()), seen_by_tokenize)


def run_baseline(*args: str) -> None:
    main(["baseline", "--preset", "cpu-cnn", "--set", "batch_size=8", "--set", "log_every=1", "--device", "cpu",
          *args])


def test_baseline_command_trains_a_cnn_on_an_image_folder(tmp_path, capsys):
    train_dir, val_dir = write_folder(tmp_path / "train"), write_folder(tmp_path / "val", 2, split="val")
    out = tmp_path / "run"
    run_baseline("--data", str(train_dir), "--val", str(val_dir), "--set", "epochs=2", "--out", str(out))
    printed = capsys.readouterr().out
    assert "finetune cnn_micro: 2 steps on 12 samples x 1 process(es), val loss" in printed and "val top-1" in printed
    assert (out / "checkpoint.pt").is_file()
    rows = list(csv.DictReader((out / "history.csv").open()))
    assert [int(r["step"]) for r in rows if r["loss"]] == [1, 2] and rows[-1]["val_top1"] != ""

    run_baseline("--data", str(train_dir), "--val", str(val_dir), "--set", "epochs=2", "--out", str(out))
    assert "2 steps" in capsys.readouterr().out  # a finished run resumes at its end

    main(["evaluate", "--checkpoint", str(out), "--data", str(val_dir), "--device", "cpu"])
    report = json.loads(capsys.readouterr().out)
    assert report["samples"] == 6 and 0 <= report["val_top1"] <= 1


def test_baseline_command_takes_shapes(tmp_path, capsys):
    run_baseline("--data", "shapes:16", "--val", "shapes:8", "--set", "epochs=1", "--out", str(tmp_path / "run"))
    assert "2 steps on 16 samples" in capsys.readouterr().out


def baseline_error(tmp_path: Path, capsys, data: Path, val: Path | None = None) -> str:
    with pytest.raises(SystemExit) as exit_info:
        run_baseline("--data", str(data), *(["--val", str(val)] if val else []), "--out", str(tmp_path / "run"))
    err = capsys.readouterr().err
    assert exit_info.value.code == 1 and "Traceback" not in err
    return err


def test_baseline_names_an_empty_class_folder_and_a_corrupt_image(tmp_path, capsys):
    root = write_folder(tmp_path / "empty_class")
    (root / "class_3").mkdir()
    assert f"contain no images: {root / 'class_3'}" in baseline_error(tmp_path, capsys, root)

    root = write_folder(tmp_path / "corrupt")
    (root / "class_1" / "broken.png").write_bytes(b"not a png")
    err = baseline_error(tmp_path, capsys, root)
    assert "cannot read image" in err and str(root / "class_1" / "broken.png") in err

    train_dir, val_dir = write_folder(tmp_path / "train"), write_folder(tmp_path / "val", 2, classes=2, split="val")
    assert "differ from the training folder's" in baseline_error(tmp_path, capsys, train_dir, val_dir)
    assert f"{tmp_path / 'nowhere'}: no such image folder" in baseline_error(tmp_path, capsys, tmp_path / "nowhere")
    with pytest.raises(SystemExit):
        run_baseline("--data", str(train_dir), "--set", "model=tvit_micro", "--out", str(tmp_path / "run"))
    assert "baseline trains a pixel model" in capsys.readouterr().err


def test_cnn_learns_shapes_above_chance():
    """cpu-cnn's recipe, 5 epochs of cnn_micro on 256 Shapes images (batch 32, as the token ViT's test in
    tests/test_train.py): top-1 on the same images well above the 1/12 of chance."""
    images = Split.shapes(256, "train", kind="pixels")
    cfg = with_overrides(preset("cpu-cnn"), dict(epochs=5, eval_every=5, batch_size=32, log_every=8))
    assert cfg.optim.peak_lr == pytest.approx(1e-2 * (32 / 64) ** 0.5) and cfg.optim.layer_decay is None
    result = train(cfg, images, images, progress=False)
    assert result.steps == 40 and result.metrics["val_top1"] > 0.2, result.metrics
    assert result.history[-1]["loss"] < result.history[0]["loss"]
