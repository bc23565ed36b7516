"""Fixtures shared by test files: one torch thread per test module that trains, the reference
tokenizer, two gloo processes, and the whole book built once per test session."""
import itertools
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import torch.multiprocessing as mp

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def built_book(tmp_path_factory) -> Path:
    """Build the whole book once, in fast mode, with warnings as errors -> its `_build/html` folder.
    SEITPP_BUILT_BOOK=FOLDER takes that `_build/html` folder instead, built already (e.g. to rerun the
    browser tests after changing them alone)."""
    if given := os.environ.get("SEITPP_BUILT_BOOK"):
        assert (Path(given) / "index.html").is_file(), f"SEITPP_BUILT_BOOK={given}: no index.html there"
        return Path(given)
    subprocess.run(["bash", str(ROOT / ".ci" / "vendor-js")], check=True)  # what the pages serve instead of CDNs
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
    from seitpp.tokenizers import VQTokenizer
    return VQTokenizer.load()


_ports = itertools.count()


def _as_rank(rank: int, worker, port: int, args: tuple) -> None:
    torch.set_num_threads(1)
    os.environ |= {"RANK": str(rank), "LOCAL_RANK": str(rank), "WORLD_SIZE": "2",
                   "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port)}  # as torchrun sets them
    worker(rank, *args)


@pytest.fixture
def two_gloo_processes():
    """-> run(worker, *args): worker(rank, *args) in two processes with torchrun's environment, within
    120 s; a worker's exception is raised here."""
    def run(worker, *args, timeout: float = 120) -> None:
        port = 29500 + (os.getpid() + 37 * next(_ports)) % 1000
        # fork: the workers start with everything imported (spawn would import torch twice more)
        workers = mp.start_processes(_as_rank, args=(worker, port, args), nprocs=2, join=False, start_method="fork")
        deadline = time.monotonic() + timeout
        while not workers.join(timeout=1):  # re-raises a worker's exception
            if time.monotonic() > deadline:
                for p in workers.processes:
                    p.kill()
                pytest.fail(f"the two DDP workers did not finish within {timeout} s")
    return run
