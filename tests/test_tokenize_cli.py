"""`python -m seitpp tokenize / info / convert`: a real kill and resume, and format conversion."""
import json
import re
import subprocess
import sys
import time

import numpy as np
import pytest

from seitpp.cli import main
from seitpp.tokenizers import VQTokenizer
from seitpp.tokens import TokenStore, read_seit_split

TOKENIZE = [sys.executable, "-m", "seitpp", "tokenize", "--num-images", "600", "--batch-size", "30", "--device", "cpu"]


def wait_for_progress(path, at_least: int, timeout: float = 120.0) -> None:
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if path.exists():
            try:
                if json.loads(path.read_text())["done"] >= at_least:
                    return
            except (json.JSONDecodeError, KeyError):
                pass  # never happens with atomic writes, but a test must not hang on it
        time.sleep(0.05)
    raise TimeoutError(f"{path} did not reach {at_least} images")


@pytest.fixture(scope="module")
def straight_store(tmp_path_factory):
    out = tmp_path_factory.mktemp("straight") / "train.tokens"
    subprocess.run(TOKENIZE + ["--out", str(out)], check=True, capture_output=True)
    return out


def test_killed_tokenize_resumes_to_an_identical_store(straight_store, tmp_path):
    out = tmp_path / "train.tokens"
    partial = tmp_path / "train.tokens.partial"
    proc = subprocess.Popen(TOKENIZE + ["--out", str(out)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_for_progress(partial / "progress.json", at_least=150)
    proc.kill()  # SIGKILL: no cleanup of any kind
    proc.wait()
    assert not out.exists() and partial.exists()
    done = json.loads((partial / "progress.json").read_text())["done"]
    assert 150 <= done < 600
    subprocess.run(TOKENIZE + ["--out", str(out)], check=True, capture_output=True)
    assert out.read_bytes() == straight_store.read_bytes()
    assert not partial.exists()


def test_store_holds_the_tokens_of_the_reference_tokenizer(straight_store):
    from seitpp.data import images_to_tensor, render_shapes

    store = TokenStore.open(straight_store)
    tokenizer = VQTokenizer.load()
    assert len(store) == 600 and store.grid == (16, 16) and store.codebook_size == 391
    assert store.tokenizer_hash == tokenizer.fingerprint()
    x = images_to_tensor(render_shapes(30, split="train", start=90).images)
    assert np.array_equal(store.read_all()[90:120], tokenizer.tokenize(x).numpy())
    assert np.array_equal(store.labels[:13], np.arange(13) % 12)


def test_info_prints_the_numbers(straight_store, capsys):
    main(["info", str(straight_store)])
    out = capsys.readouterr().out
    assert "images           600" in out and "16 x 16" in out and "391 codes" in out and "bits per token" in out


def test_convert_round_trips_through_seit_files(straight_store, tmp_path, capsys):
    main(["convert", str(straight_store), str(tmp_path / "seit"), "--split", "train"])
    seit = read_seit_split(tmp_path / "seit", "train")
    store = TokenStore.open(straight_store)
    assert np.array_equal(seit.ids.reshape(-1, 16, 16), store.read_all())
    assert np.array_equal(seit.labels, store.labels)
    main(["convert", str(tmp_path / "seit"), str(tmp_path / "back.tokens"), "--split", "train"])
    back = TokenStore.open(tmp_path / "back.tokens")
    assert np.array_equal(back.read_all(), store.read_all()) and np.array_equal(back.labels, store.labels)
    main(["convert", str(tmp_path / "back.tokens"), str(tmp_path / "seit2"), "--split", "train"])
    for name in ("train-token.data.bin.gz", "train-token.index.npy.gz", "train-label.txt"):
        assert (tmp_path / "seit" / name).read_bytes() == (tmp_path / "seit2" / name).read_bytes()


def test_a_partial_run_of_another_job_is_not_mixed_in(tmp_path):
    out = tmp_path / "x.tokens"
    partial = tmp_path / "x.tokens.partial"
    partial.mkdir()
    (partial / "progress.json").write_text(json.dumps({"source": "something else", "done": 30}))
    result = subprocess.run(TOKENIZE + ["--out", str(out)], capture_output=True, text=True)
    assert result.returncode != 0 and "another job" in result.stderr


def test_tokenize_an_image_folder(tmp_path, capsys):
    from PIL import Image

    rng = np.random.default_rng(0)
    for cls in ("cats", "dogs"):
        (tmp_path / "photos" / cls).mkdir(parents=True)
        for i in range(3):
            Image.fromarray(rng.integers(0, 255, (80, 100, 3), dtype=np.uint8)).save(tmp_path / "photos" / cls / f"{i}.png")
    main(["tokenize", "--source", str(tmp_path / "photos"), "--out", str(tmp_path / "p.tokens"), "--device", "cpu"])
    store = TokenStore.open(tmp_path / "p.tokens")
    assert len(store) == 6 and store.num_classes == 2 and store.grid == (16, 16)
    assert store.labels.tolist() == [0, 0, 0, 1, 1, 1] and store.metadata["classes"] == ["cats", "dogs"]
    assert re.search(r"tokenized 6 images in [\d.]+ s: [\d,.]+ images/s on cpu", capsys.readouterr().out)
    (tmp_path / "photos" / "dogs" / "broken.png").write_bytes(b"not a png")
    with pytest.raises(SystemExit):
        main(["tokenize", "--source", str(tmp_path / "photos"), "--out", str(tmp_path / "q.tokens"), "--device", "cpu"])
    assert "broken.png" in capsys.readouterr().err


def test_tokenize_with_a_taming_vqgan_checkpoint(tmp_path, capsys):
    from seitpp.tokenizers.vqgan import (
        VQGANConfig,
        VQGANTokenizer,
        load_vqgan,
        save_vqgan_checkpoint,
    )
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    ckpt = save_vqgan_checkpoint(VQGANTokenizer(VQGANConfig.cpu_tiny()).eval(), tmp_path / "vqgan.ckpt")
    out = tmp_path / "vq.tokens"
    main(["tokenize", "--vqgan", str(ckpt), "--num-images", "8", "--out", str(out), "--device", "cpu"])
    store = TokenStore.open(out)
    vqgan = load_vqgan(ckpt)
    assert store.grid == (vqgan.config.grid_size,) * 2 and store.codebook_size == 64
    assert store.tokenizer_hash == vqgan.fingerprint()
    assert "vq.tokens" in capsys.readouterr().out
    # a damaged checkpoint is a one-line error naming the file, not a traceback
    bad = tmp_path / "bad.ckpt"
    bad.write_bytes(ckpt.read_bytes()[:200])
    with pytest.raises(SystemExit) as exit_info:
        main(["tokenize", "--vqgan", str(bad), "--num-images", "2", "--out", str(tmp_path / "x.tokens")])
    assert exit_info.value.code == 1
    assert "bad.ckpt" in capsys.readouterr().err
