"""The documented tokenizer command, end to end on the fast preset."""
import json

import numpy as np
import pytest

from seitpp.augment import TokenAdapt
import seitpp.commands as commands
from seitpp.cli import main
from seitpp.tokenizers import VQTokenizer
from seitpp.tokens import write_seit_split


def test_train_tokenizer_command_writes_model_and_provenance(tmp_path, capsys):
    out = tmp_path / "tok"
    main(["train-tokenizer", "--preset", "cpu-tiny", "--out", str(out), "--reduce-to", "64", "--eval-images", "50",
          "--device", "cpu"])
    provenance = json.loads((out / "provenance.json").read_text())
    assert provenance["preset"] == "cpu-tiny" and provenance["command"].startswith("python -m seitpp")
    assert provenance["metrics"]["reduced"]["codebook_size"] == 64
    assert provenance["metrics"]["full"]["codebook_size"] == 256
    assert VQTokenizer.load(out).config.codebook_size == 64
    assert VQTokenizer.load(out / "full").config.codebook_size == 256
    assert not (out / "full" / "checkpoint.pt").exists()  # resume state is removed once the model is saved
    assert (out / "full" / "history.csv").read_text().count("\n") == 101  # header + one row per step


def test_unknown_preset_is_refused(capsys):
    with pytest.raises(SystemExit):
        main(["train-tokenizer", "--preset", "nope", "--out", "x"])
    assert "invalid choice" in capsys.readouterr().err


def test_train_tokenadapt_command_writes_model_and_provenance(tmp_path):
    out = tmp_path / "ta"
    main(["train-tokenadapt", "--preset", "cpu-tiny", "--steps", "3", "--out", str(out), "--eval-images", "16",
          "--device", "cpu"])
    provenance = json.loads((out / "provenance.json").read_text())
    assert provenance["preset"] == "cpu-tiny" and "train-tokenadapt" in provenance["command"]
    assert set(provenance["metrics"]) == {"hflip (14 x 14)", "zoom 0.75 (14 x 14)", "rotate 15 (14 x 14)",
                                          "training distribution (14 x 14)", "hflip (full grid)"}
    assert all(set(m) == {"tokenadapt", "naive", "pixels"} for m in provenance["metrics"].values())
    model = TokenAdapt.load(out, tokenizer=VQTokenizer.load())
    assert model.config.width == 64
    assert not (out / "checkpoint.pt").exists()
    assert (out / "history.csv").read_text().count("\n") == 4  # header + one row per step


def test_info_and_convert_name_a_directory_given_for_a_file(tmp_path, capsys):
    """A directory where a .tokens file is expected: one line naming it (exit 1), not an IsADirectoryError."""
    folder = tmp_path / "folder"
    folder.mkdir()
    with pytest.raises(SystemExit) as exit_info:
        main(["info", str(folder)])
    err = capsys.readouterr().err
    assert exit_info.value.code == 1 and "Traceback" not in err
    assert f"token store {folder}: a directory, not a .tokens file" in err

    seit = tmp_path / "seit"  # SeiT's files -> a store, where the store's path is a directory
    write_seit_split(seit, "train", np.array([[1, 2, 3, 4]]), [0])
    with pytest.raises(SystemExit) as exit_info:
        main(["convert", str(seit), str(folder)])
    assert exit_info.value.code == 1 and f"{folder}: a directory, not a .tokens file" in capsys.readouterr().err

    (seit / "train-label.txt").unlink()  # SeiT's files, one of them a directory
    (seit / "train-label.txt").mkdir()
    with pytest.raises(SystemExit) as exit_info:
        main(["convert", str(seit), str(tmp_path / "out.tokens")])
    assert exit_info.value.code == 1 and "train-label.txt: a directory, not a file" in capsys.readouterr().err


def test_an_unknown_model_is_one_line_and_ctrl_c_exits_130_without_a_traceback(tmp_path, capsys, monkeypatch):
    with pytest.raises(SystemExit) as exit_info:
        main(["finetune", "--store", "shapes:16", "--preset", "cpu-tiny", "--set", "model=unknown",
              "--out", str(tmp_path / "a")])
    err = capsys.readouterr().err
    assert exit_info.value.code == 1 and "Traceback" not in err
    assert "error: config: model must be one of cnn_base" in err and "got 'unknown'" in err

    def interrupted(args):
        raise KeyboardInterrupt
    monkeypatch.setattr(commands, "cmd_info", interrupted)
    with pytest.raises(SystemExit) as exit_info:
        main(["info", str(tmp_path / "any.tokens")])
    assert exit_info.value.code == 130
    assert capsys.readouterr().err == ("interrupted; run the same command again to resume (tokenize, training and the "
                                       "sweeps continue from what they saved)\n")


def test_a_folder_where_a_file_is_expected_is_said_before_any_work(tmp_path, capsys, monkeypatch):
    """`finetune --store FOLDER` says how to make the store; `tokenize --out FOLDER` fails before the first
    image is tokenized; `info` on a missing file names it without an errno."""
    folder = tmp_path / "my_photos"
    folder.mkdir()
    with pytest.raises(SystemExit) as exit_info:
        main(["finetune", "--store", str(folder), "--out", str(tmp_path / "run"), "--device", "cpu"])
    err = capsys.readouterr().err
    assert exit_info.value.code == 1 and "Traceback" not in err
    assert "a folder, not a token store" in err and f"tokenize --source {folder} --out my_photos.tokens" in err

    def never(*args, **kwargs):
        raise AssertionError("tokenized although --out is a folder")
    monkeypatch.setattr(VQTokenizer, "tokenize", never)
    with pytest.raises(SystemExit) as exit_info:
        main(["tokenize", "--num-images", "4", "--out", str(folder), "--device", "cpu"])
    assert exit_info.value.code == 1 and f"token store {folder}: a directory, not a .tokens file" in capsys.readouterr().err

    with pytest.raises(SystemExit) as exit_info:
        main(["info", str(tmp_path / "missing.tokens")])
    err = capsys.readouterr().err
    assert exit_info.value.code == 1 and err == f"error: {tmp_path / 'missing.tokens'}: no such token store\n"


def test_finetune_cpu_tiny_starts_from_the_committed_encoder_unless_told_otherwise(tmp_path, capsys):
    """Without --init, `finetune --preset cpu-tiny` on reference tokens starts from seitpp/artefacts/mtm-cpu
    with its table frozen (PRETRAINED); --init none, another model or a --set of the user's own say otherwise."""
    from seitpp.checkpoint import read_checkpoint
    from seitpp.files import REFERENCE_MTM

    def run(name: str, *extra: str) -> dict:
        main(["finetune", "--store", "shapes:24", "--preset", "cpu-tiny", "--set", "epochs=1", "--set", "batch_size=8",
              "--out", str(tmp_path / name), "--device", "cpu", *extra])
        return read_checkpoint(tmp_path / name)

    default = run("default")
    assert default["init"] == str(REFERENCE_MTM) and default["config"]["model"]["freeze_table"] is True
    assert "starting from the committed MTM encoder seitpp/artefacts/mtm-cpu (freeze_table=True)" in capsys.readouterr().out
    scratch = run("scratch", "--init", "none")
    assert scratch["init"] is None and scratch["config"]["model"]["freeze_table"] is False
    mine = run("mine", "--set", "freeze_table=False")  # the user's --set wins over the encoder's overrides
    assert mine["init"] == str(REFERENCE_MTM) and mine["config"]["model"]["freeze_table"] is False
    capsys.readouterr()
    other = run("other", "--set", "model=tvit_tiny")  # not the encoder's model: from scratch, and it says why
    assert other["init"] is None and "training from scratch" in capsys.readouterr().out
