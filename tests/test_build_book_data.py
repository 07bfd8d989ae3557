"""The book build checks its data up front: one line naming DATA_DIR and the fix when a dataset the chapters
read is missing (not one error per cell), nothing for smoke's bundled digits."""

from __future__ import annotations

import importlib.util
import struct
import sys

import numpy as np
import pytest
from conftest import PROJECT


def _build_book():
    spec = importlib.util.spec_from_file_location(
        "_book_build_book_data", PROJECT / "scripts" / "build_book.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _write_idx(root, folder: str, n: int = 20) -> None:
    """A tiny dataset in torchvision's MNIST layout (train and test files)."""
    raw = root / folder / "raw"
    raw.mkdir(parents=True)
    images = np.zeros((n, 28, 28), dtype=np.uint8)
    labels = (np.arange(n) % 10).astype(np.uint8)
    for prefix in ("train", "t10k"):
        (raw / f"{prefix}-images-idx3-ubyte").write_bytes(
            struct.pack(">IIII", 2051, n, 28, 28) + images.tobytes()
        )
        (raw / f"{prefix}-labels-idx1-ubyte").write_bytes(
            struct.pack(">II", 2049, n) + labels.tobytes()
        )


@pytest.fixture
def no_data(tmp_path, monkeypatch):
    empty = tmp_path / "no-data"
    empty.mkdir()
    monkeypatch.setenv("DATA_DIR", str(empty))
    monkeypatch.setenv("DATA_DOWNLOAD", "0")
    return empty


def test_the_book_reads_the_datasets_of_every_experiment_it_uses():
    from lib.core.profile import load_profile

    build = _build_book()
    assert build.book_datasets(load_profile("smoke")) == ["digits"]
    assert build.book_datasets(load_profile("cpu")) == ["fashion-mnist", "mnist"]
    # cifar10 is defined in cpu but not run; running it makes the book read it
    cpu_cifar = load_profile("cpu", {"run": ["mnist", "fashion-mnist", "cifar10"]})
    assert build.book_datasets(cpu_cifar) == ["cifar10", "fashion-mnist", "mnist"]
    assert build.book_datasets(load_profile("paper")) == [
        "cifar10",
        "fashion-mnist",
        "mnist",
    ]


def test_smoke_needs_no_data_dir(no_data):
    assert _build_book().check_data("smoke", {}) is None


def test_missing_data_is_one_line_naming_data_dir_and_the_fix(no_data):
    problem = _build_book().check_data("cpu", {})
    assert problem is not None and "\n" not in problem
    assert f"DATA_DIR={no_data}" in problem  # where it looked
    assert "DATA_DIR=../shared/data make book PROFILE=cpu" in problem  # the fix
    assert "'fashion-mnist' not found" in problem  # the first missing dataset
    assert "fashion-mnist, mnist" in problem  # every dataset the book needs


def test_data_in_data_dir_passes_the_check(no_data):
    build = _build_book()
    _write_idx(no_data, "MNIST")
    assert "'fashion-mnist' not found" in build.check_data("cpu", {})
    _write_idx(no_data, "FashionMNIST")
    assert build.check_data("cpu", {}) is None


def test_a_bad_override_is_its_own_one_line(no_data):
    problem = _build_book().check_data("cpu", {"seeds": [0, 0]})
    assert problem.startswith("seeds=[0, 0] is not allowed")


def test_the_build_stops_before_the_first_chapter_with_one_line(
    no_data, monkeypatch, capsys
):
    build = _build_book()

    def must_not_run(*args, **kwargs):
        raise AssertionError("a chapter ran although the data are missing")

    monkeypatch.setattr(build, "execute", must_not_run)
    monkeypatch.setattr(build, "ensure_mathjax", must_not_run)
    monkeypatch.setenv("RESULTS_DIR", str(no_data.parent / "results"))
    monkeypatch.setattr(sys, "argv", ["build_book.py", "--profile", "cpu"])
    assert build.main() == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("[book] FAILED: dataset 'fashion-mnist'")
