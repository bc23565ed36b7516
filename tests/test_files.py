"""Atomic writes: a failure inside the block leaves the old file untouched and no temporary behind."""
import os
import stat

import pytest

from seitpp.files import atomic_path


def test_success_replaces_the_file_with_the_usual_mode(tmp_path):
    target = tmp_path / "sub" / "out.txt"
    with atomic_path(target) as tmp:
        assert tmp.parent == target.parent and tmp != target
        tmp.write_text("new")
    assert target.read_text() == "new"
    mask = os.umask(0)
    os.umask(mask)
    assert stat.S_IMODE(target.stat().st_mode) == 0o666 & ~mask
    assert list(target.parent.iterdir()) == [target]


def test_failure_keeps_the_old_file_and_cleans_up(tmp_path):
    target = tmp_path / "out.txt"
    target.write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text("half of the new")
            raise RuntimeError("crash mid-write")
    assert target.read_text() == "old"
    assert list(tmp_path.iterdir()) == [target]


def test_write_csv_unions_columns_and_leaves_blanks(tmp_path):
    from seitpp.files import write_csv

    path = tmp_path / "log.csv"
    write_csv([{"step": 1, "loss": 2.0}, {"step": 2, "loss": 1.5, "eval": 0.4}], path)
    assert path.read_text().splitlines() == ["step,loss,eval", "1,2.0,", "2,1.5,0.4"]
    write_csv([{"b": 1}], path, columns=["a", "b"])
    assert path.read_text().splitlines() == ["a,b", ",1"]
    assert not list(tmp_path.glob("*.tmp*"))  # nothing left behind by the atomic write
