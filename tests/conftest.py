"""Fixtures shared by test files: one torch thread per test module that trains, the reference
tokenizer, and the whole book built once per test session."""
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def built_book(tmp_path_factory) -> Path:
    """Build the whole book once, in fast mode, with warnings as errors -> its `_build/html` folder."""
    out = tmp_path_factory.mktemp("book")
    env = os.environ | {"SEITPP_FAST": "1"}
    jb = Path(sys.executable).parent / "jupyter-book"
    result = subprocess.run([str(jb), "build", "--all", "-W", "-n", "--keep-going", "--path-output", str(out), str(ROOT)],
                            env=env, capture_output=True, text=True)
    assert result.returncode == 0, f"book build failed:\n{result.stdout[-6000:]}\n{result.stderr[-6000:]}"
    return out / "_build" / "html"


@pytest.fixture(scope="module")
def one_thread():
    """Use it with `pytestmark = pytest.mark.usefixtures("one_thread")` in modules that train."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # 2 shared cores: oversubscribed threads make every step many times slower
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def tokenizer():
    """The reference tokenizer (the committed artefact)."""
    from seitpp.tokenizer import VQTokenizer
    return VQTokenizer.load()
