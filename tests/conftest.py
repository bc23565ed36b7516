"""Fixtures shared by test files: the whole book, built once per test session."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

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
