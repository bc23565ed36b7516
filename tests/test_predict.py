"""Using a trained model on your own images: `predict` (command and Python), class names carried by the
run, `info`'s class names, and a command line that answers `--help` without importing torch."""
import csv
import json
import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image

from seitpp.augment.tokenadapt_train import PRESETS as TOKENADAPT_PRESETS
from seitpp.cli import PRESET_NAMES, build_parser, main
from seitpp.data import SHAPE_CLASSES, images_to_tensor, render_shapes
from seitpp.engine import PRESETS as TRAIN_PRESETS
from seitpp.engine import Predictor, load_run, predict
from seitpp.errors import TrainSetupError
from seitpp.experiments.beyond import PRESETS as BEYOND_PRESETS
from seitpp.experiments.reproduce import SWEEPS
from seitpp.models.cnn import reads_pixels
from seitpp.tokenizers import VQTokenizer
from seitpp.tokenizers.train import PRESETS as TOKENIZER_PRESETS

NUM_IMAGES = 12
FAST = ["--set", "epochs=2", "--set", "batch_size=8", "--set", "log_every=1", "--device", "cpu"]


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    """An ImageFolder of Shapes test images, PNG, one folder per class -> (root, labels by file name)."""
    root = tmp_path_factory.mktemp("photos")
    shapes = render_shapes(NUM_IMAGES, split="test")
    for i, (image, label) in enumerate(zip(shapes.images, shapes.labels)):
        folder = root / SHAPE_CLASSES[label]
        folder.mkdir(exist_ok=True)
        Image.fromarray(image).save(folder / f"{i:03d}.png")
    return root


@pytest.fixture(scope="module")
def runs(photos, tmp_path_factory):
    """A token model (tokenize -> finetune) and a pixel CNN (baseline) trained on `photos` for a few steps."""
    out = tmp_path_factory.mktemp("runs")
    main(["tokenize", "--source", str(photos), "--out", str(out / "photos.tokens"), "--device", "cpu"])
    main(["finetune", "--store", str(out / "photos.tokens"), "--out", str(out / "tokens"), *FAST])
    main(["baseline", "--data", str(photos), "--out", str(out / "pixels"), *FAST])
    return out


def test_a_run_records_its_class_names_and_info_prints_them(runs, photos, capsys):
    classes = sorted(p.name for p in photos.iterdir())
    for run in ("tokens", "pixels"):
        _, _, data = load_run(runs / run)
        assert data["classes"] == classes
    main(["info", str(runs / "photos.tokens")])
    assert f"classes          {len(classes)}: {', '.join(classes)}" in capsys.readouterr().out


@pytest.mark.parametrize("run", ["tokens", "pixels"])
def test_predict_gives_what_the_model_computes_on_its_evaluation_inputs(runs, photos, run):
    """The top class of each file is the argmax of the model on the centre crop the run evaluates,
    computed here from the images directly; the probabilities are a distribution."""
    predictor = Predictor.load(runs / run)
    files = sorted(photos.rglob("*.png"))
    top = predictor.predict(files, k=2)
    images = np.stack([np.asarray(Image.open(f)) for f in files])  # already 64 x 64: decoded as they are
    x = torch.from_numpy(images)
    if not reads_pixels(predictor.task.config.model.name):
        x = VQTokenizer.load().tokenize(images_to_tensor(images))
    with torch.no_grad():
        logits = predictor.model(predictor.task.eval_inputs(x))
    expected = [predictor.classes[i] for i in logits.argmax(1).tolist()]
    assert [t[0][0] for t in top] == expected
    assert all(len(t) == 2 and 1 >= t[0][1] >= t[1][1] >= 0 for t in top)
    assert predict(runs / run, [photos], k=1) == [t[:1] for t in top]  # a folder, in one call


def test_predict_command_writes_every_image_with_class_names(runs, photos, tmp_path, capsys):
    main(["predict", "--model", str(runs / "tokens"), str(photos), "--top-k", "2", "--out", str(tmp_path / "p.csv")])
    out = capsys.readouterr().out
    rows = list(csv.DictReader(open(tmp_path / "p.csv")))
    assert len(rows) == NUM_IMAGES and f"{NUM_IMAGES} predictions written" in out
    assert set(rows[0]) == {"image", "class_1", "probability_1", "class_2", "probability_2"}
    assert {r["class_1"] for r in rows} <= set(SHAPE_CLASSES)
    main(["predict", "--model", str(runs / "pixels"), str(photos), "--out", str(tmp_path / "p.json")])
    assert len(json.loads((tmp_path / "p.json").read_text())) == NUM_IMAGES


def test_predict_refuses_another_tokenizer_and_a_run_that_is_not_a_classifier(runs, tmp_path, capsys):
    other = tmp_path / "other"
    VQTokenizer(VQTokenizer.load().config).save(other)  # same shape, other (random) weights
    with pytest.raises(TrainSetupError, match="pass the tokenizer that made the training store"):
        Predictor.load(runs / "tokens", tokenizer=other)
    with pytest.raises(SystemExit) as exit_info:
        main(["predict", "--model", str(tmp_path / "nothing"), str(tmp_path)])
    assert exit_info.value.code == 1 and "Traceback" not in capsys.readouterr().err


def test_the_parser_knows_every_preset_by_name():
    """cli.PRESET_NAMES (the parser's light copy) is the tables' names."""
    assert PRESET_NAMES["train-tokenizer"] == tuple(sorted(TOKENIZER_PRESETS))
    assert PRESET_NAMES["train-tokenadapt"] == tuple(sorted(TOKENADAPT_PRESETS))
    for task in ("pretrain", "finetune", "segment"):
        assert PRESET_NAMES[task] == tuple(sorted(TRAIN_PRESETS[task]))
    assert set(PRESET_NAMES["baseline"]) == {n for n, c in TRAIN_PRESETS["finetune"].items() if reads_pixels(c.model.name)}
    assert PRESET_NAMES["reproduce"] == tuple(sorted(SWEEPS)) and PRESET_NAMES["beyond"] == tuple(sorted(BEYOND_PRESETS))


def test_help_and_argument_errors_come_without_importing_torch():
    probe = ("import sys\nfrom seitpp.cli import main\n"
             "for argv in (['--help'], ['finetune', '--help'], ['finetune']):\n"
             "    try:\n        main(argv)\n    except SystemExit as e:\n        print('exit', e.code)\n"
             "print(sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'timm', 'numpy', 'seitpp')))\n")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    lines = done.stdout.strip().splitlines()
    assert lines[-1] == "['seitpp', 'seitpp.cli']", lines[-1]
    assert "(default: cpu-tiny)" in done.stdout and "exit 0" in done.stdout
    assert "exit 2" in done.stdout and "the following arguments are required: --store" in done.stderr


def test_every_option_of_every_command_has_help():
    parser = build_parser()
    commands = next(a for a in parser._actions if a.dest == "command").choices
    missing = [f"{name} {a.option_strings or a.dest}" for name, p in commands.items() for a in p._actions
               if a.help is None]
    assert not missing, missing
