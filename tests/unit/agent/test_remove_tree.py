"""The teardown's last step: an LB's directory goes, even when a file is created in it meanwhile."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from lbaas.agent import execute
from lbaas.agent.execute import remove_tree


def test_a_file_created_during_the_removal_is_removed_by_the_next_pass(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    d = tmp_path / "lb" / "x"
    d.mkdir(parents=True)
    (d / "haproxy.cfg").write_text("global\n")
    real = shutil.rmtree
    passes = []

    def racing_rmtree(path: Path, ignore_errors: bool = False) -> None:
        passes.append(ignore_errors)
        if len(passes) == 1:  # the access-log thread stores HAProxy's last lines as the tree goes
            for p in d.iterdir():
                p.unlink()
            (d / "access.log").write_text("Proxy l1 stopped\n")
            if not ignore_errors:
                d.rmdir()  # raises: not empty
            return
        real(path, ignore_errors=ignore_errors)

    monkeypatch.setattr(execute.shutil, "rmtree", racing_rmtree)
    remove_tree(d)
    assert not d.exists() and passes == [True, True]


def test_a_directory_that_will_not_go_raises(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    d = tmp_path / "stuck"
    d.mkdir()

    def never(path: Path, ignore_errors: bool = False) -> None:
        if not ignore_errors:
            raise OSError(39, "Directory not empty", str(path))

    monkeypatch.setattr(execute.shutil, "rmtree", never)
    with pytest.raises(OSError):
        remove_tree(d, attempts=2)
    assert d.exists()


def test_an_absent_directory_is_fine(tmp_path: Path) -> None:
    remove_tree(tmp_path / "never-made")
