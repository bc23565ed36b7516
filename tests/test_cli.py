"""The documented tokenizer command, end to end on the fast preset."""
import json

import pytest

from seitpp.cli import main
from seitpp.tokenizer import VQTokenizer


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
