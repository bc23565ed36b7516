"""`python -m seitpp tokenize / info / convert`: a real kill and resume, and format conversion."""
import contextlib
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


def test_tokenize_at_another_resolution_makes_the_grid_of_that_resolution(tmp_path, capsys):
    from PIL import Image

    rng = np.random.default_rng(0)
    (tmp_path / "photos" / "cats").mkdir(parents=True)
    for i in range(2):
        Image.fromarray(rng.integers(0, 255, (80, 100, 3), dtype=np.uint8)).save(tmp_path / "photos" / "cats" / f"{i}.png")
    main(["tokenize", "--source", str(tmp_path / "photos"), "--out", str(tmp_path / "p.tokens"), "--resolution", "128",
          "--device", "cpu"])
    store = TokenStore.open(tmp_path / "p.tokens")
    assert store.grid == (32, 32) and store.metadata["resolution"] == 128  # 4 x 4 pixels a token, as at 64
    ids = store.read_all()
    assert ids.shape == (2, 32, 32) and len(np.unique(ids)) > 8  # every row written, not a zero-filled tail
    with pytest.raises(SystemExit):  # a side the tokenizer's 4 x 4 pixels a token cannot tile: one line, no store
        main(["tokenize", "--source", str(tmp_path / "photos"), "--out", str(tmp_path / "q.tokens"), "--resolution",
              "66", "--device", "cpu"])
    assert "use a multiple of 4" in capsys.readouterr().err and not (tmp_path / "q.tokens").exists()


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


def _photo_folder(root, per_class: int = 5):
    """cats/0..4.png, dogs/0..4.png of random pixels: 10 images."""
    from PIL import Image

    rng = np.random.default_rng(1)
    for cls in ("cats", "dogs"):
        (root / cls).mkdir(parents=True)
        for i in range(per_class):
            Image.fromarray(rng.integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(root / cls / f"{i}.png")
    return root


@pytest.mark.parametrize("fix", ["skip", "delete"])
def test_a_run_stopped_by_an_unreadable_image_resumes_once_it_is_skipped_or_deleted(tmp_path, fix):
    """The bad image stops the run after the batches before it (progress kept); either natural fix
    resumes from there and gives the store a clean run gives, not "another job"."""
    from seitpp.data import UnreadableImageError
    from seitpp.tokens.tokenize import folder_source, tokenize_dataset

    photos = _photo_folder(tmp_path / "photos")
    (photos / "dogs" / "3.png").write_bytes(b"not a png")  # image 8 of 10: batches 0-3 and 4-7 finish first
    tokenizer, out = VQTokenizer.load(), tmp_path / "p.tokens"
    with pytest.raises(UnreadableImageError, match="3.png"):
        tokenize_dataset(folder_source(photos), tokenizer, out, batch_size=4, progress=False)
    assert json.loads((tmp_path / "p.tokens.partial" / "progress.json").read_text())["done"] == 8
    if fix == "delete":
        (photos / "dogs" / "3.png").unlink()
    with pytest.warns(UserWarning, match="skipped 1 unreadable") if fix == "skip" else contextlib.nullcontext():
        tokenize_dataset(folder_source(photos, skip_unreadable=fix == "skip"), tokenizer, out, batch_size=4,
                         progress=False)
    (photos / "dogs" / "3.png").unlink(missing_ok=True)
    clean = tokenize_dataset(folder_source(photos), tokenizer, tmp_path / "clean.tokens", batch_size=4, progress=False)
    resumed, fresh = TokenStore.open(out), TokenStore.open(clean)
    assert len(resumed) == 9 and np.array_equal(resumed.read_all(), fresh.read_all())
    assert resumed.labels.tolist() == fresh.labels.tolist()


def test_a_resume_whose_finished_images_changed_is_refused_with_what_changed(tmp_path):
    """The same number of images, but one already tokenized is gone and another came: its ids would
    belong to another file, so the run refuses, names both and says how to start over."""
    from seitpp.tokens.tokenize import folder_source, tokenize_dataset

    photos = _photo_folder(tmp_path / "photos")
    (photos / "dogs" / "4.png").write_bytes(b"not a png")
    tokenizer, out = VQTokenizer.load(), tmp_path / "p.tokens"
    with pytest.raises(Exception, match="4.png"):
        tokenize_dataset(folder_source(photos), tokenizer, out, batch_size=4, progress=False)  # 8 done
    (photos / "cats" / "1.png").rename(photos / "cats" / "9.png")
    with pytest.raises(FileExistsError, match=r"gone: cats/1.png; new: cats/9.png.*rm -r"):
        tokenize_dataset(folder_source(photos, skip_unreadable=True), tokenizer, out, batch_size=4, progress=False)


def test_the_unreadable_image_error_suggests_skipping_and_the_warning_is_one_line(tmp_path, capsys):
    photos = _photo_folder(tmp_path / "photos")
    (photos / "dogs" / "0.png").write_bytes(b"not a png")
    with pytest.raises(SystemExit) as exit_info:
        main(["tokenize", "--source", str(photos), "--out", str(tmp_path / "q.tokens"), "--device", "cpu"])
    err = capsys.readouterr().err
    assert exit_info.value.code == 1 and "0.png" in err and "--skip-unreadable" in err
    result = subprocess.run([sys.executable, "-m", "seitpp", "tokenize", "--source", str(photos), "--out",
                             str(tmp_path / "q.tokens"), "--device", "cpu", "--skip-unreadable"],
                            capture_output=True, text=True, check=True)  # pytest would catch the warning in-process
    err = result.stderr
    warning = [line for line in err.splitlines() if "skipped 1 unreadable" in line]
    assert warning and warning[0].startswith("warning: ") and "warnings.warn" not in err
