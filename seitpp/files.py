"""Files: writing them so that a crash leaves the old file or the new one, never half of one, and
the error every reader raises for a file it cannot use, and the directory a saved model lives in."""
from __future__ import annotations

import csv
import os
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Iterator, Sequence

if TYPE_CHECKING:
    import torch

CONFIG_FILE = "config.json"  # beside the weights of every saved model
ARTEFACTS = Path(__file__).parent / "artefacts"  # the committed results: reference models, sweeps
# The MTM encoder of the committed cpu sweep's full budget (stage mtm-1.0000), exported by `export_mtm`
REFERENCE_MTM = ARTEFACTS / "mtm-cpu"


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside `path`; on success it replaces `path` in one rename.

    The temporary file lives in the same directory (a rename is atomic only within one file
    system), is fsynced before the rename, and is removed if the block raises.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        # mkstemp made the file private (0600), and writers may recreate it: give it the usual mode
        os.chmod(tmp, 0o666 & ~_umask())
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_csv(rows: Sequence[dict], path: str | Path, columns: Sequence[str] | None = None) -> None:
    """Rows as CSV, written atomically; columns in first-seen order unless given, blank where a row lacks one."""
    columns = list(columns or dict.fromkeys(k for row in rows for k in row))
    with atomic_path(path) as tmp, open(tmp, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)


def save_model(directory: str | Path, module: "torch.nn.Module", weights_file: str, config_json: str) -> Path:
    """A model directory: `weights_file` (safetensors) and `config.json`, each written atomically."""
    from safetensors.torch import save_file

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    with atomic_path(directory / weights_file) as tmp:
        save_file({k: v.detach().cpu().contiguous() for k, v in module.state_dict().items()}, str(tmp))
    with atomic_path(directory / CONFIG_FILE) as tmp:
        tmp.write_text(config_json)
    return directory


def read_model(directory: str | Path, weights_file: str, what: str) -> tuple[str, dict]:
    """(config.json text, state dict) of a directory written by `save_model`; a missing file is named."""
    from safetensors.torch import load_file

    directory = Path(directory)
    for name in (CONFIG_FILE, weights_file):
        if not (directory / name).is_file():
            raise FileNotFoundError(f"{directory / name}: missing; is {directory} a saved {what}?")
    return (directory / CONFIG_FILE).read_text(), load_file(str(directory / weights_file))


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


class FileProblem(ValueError):
    """A file that cannot be used. Carries `.path` and `.problem`; the message names both.

    Subclasses set `kind`, the start of the message ("token store", "cannot read image", ...).
    Picklable, so it survives the trip back from a DataLoader worker.
    """

    kind = "file"

    def __init__(self, path: str | Path, problem: str):
        self.path = Path(path)
        self.problem = problem
        super().__init__(f"{self.kind} {self.path}: {problem}")

    def __reduce__(self):
        return type(self), (self.path, self.problem)
