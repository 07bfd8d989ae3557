import struct

import numpy as np
import pytest
import torch

from lib.core.errors import ConfigError, DataNotFoundError
from lib.nn.data import balanced_subset, load_dataset


def _write_idx(raw, prefix, images, labels):
    raw.mkdir(parents=True, exist_ok=True)
    n, h, w = images.shape
    (raw / f"{prefix}-images-idx3-ubyte").write_bytes(
        struct.pack(">IIII", 2051, n, h, w) + images.tobytes()
    )
    (raw / f"{prefix}-labels-idx1-ubyte").write_bytes(
        struct.pack(">II", 2049, n) + labels.tobytes()
    )


@pytest.mark.parametrize(
    "name, folder", [("mnist", "MNIST"), ("fashion-mnist", "FashionMNIST")]
)
def test_idx_loader_reads_tiny_files_exactly(tmp_path, monkeypatch, name, folder):
    rng = np.random.default_rng(0)
    imgs = rng.integers(0, 256, size=(20, 28, 28), dtype=np.uint8)
    labels = np.arange(20, dtype=np.uint8) % 10
    _write_idx(tmp_path / folder / "raw", "train", imgs, labels)
    _write_idx(tmp_path / folder / "raw", "t10k", imgs[:10], labels[:10])
    monkeypatch.setenv("DATA_DIR", str(tmp_path))
    x, y = load_dataset(name, "train")
    assert (
        x.dtype == torch.float32
        and y.dtype == torch.int64
        and x.shape == (20, 1, 28, 28)
    )
    assert torch.equal(x[3, 0], torch.from_numpy(imgs[3].astype(np.float32) / 255))
    assert y.tolist() == labels.tolist()
    xs, ys = load_dataset(name, "train", n=10, seed=1)
    assert sorted(ys.tolist()) == list(range(10))  # balanced: one image per class
    assert load_dataset(name, "test")[0].shape[0] == 10


def test_missing_data_offline_names_dataset_folder_and_env(tmp_path, monkeypatch):
    monkeypatch.setenv("DATA_DIR", str(tmp_path / "nowhere"))
    monkeypatch.setenv("DATA_DOWNLOAD", "0")
    with pytest.raises(DataNotFoundError) as err:
        load_dataset("mnist")
    msg = str(err.value)
    assert (
        "'mnist'" in msg and "nowhere" in msg and "DATA_DIR" in msg and "\n" not in msg
    )
    with pytest.raises(DataNotFoundError, match="'cifar10'"):
        load_dataset("cifar10")


def test_cifar_falls_back_to_the_npz_subset(tmp_path, monkeypatch):
    rng = np.random.default_rng(0)
    (tmp_path / "cifar10").mkdir()
    x_tr = rng.integers(0, 256, size=(30, 32, 32, 3), dtype=np.uint8)
    np.savez(
        tmp_path / "cifar10" / "cifar10.npz",
        x_train=x_tr,
        y_train=np.arange(30) % 10,
        x_test=x_tr[:10],
        y_test=np.arange(10),
        class_names=np.array(["c"] * 10),
    )
    monkeypatch.setenv("DATA_DIR", str(tmp_path))
    x, y = load_dataset("cifar10", "train")
    assert x.shape == (30, 3, 32, 32)
    assert torch.equal(
        x[5, :, 2, 7], torch.from_numpy(x_tr[5, 2, 7].astype(np.float32) / 255)
    )


def test_digits_split_is_fixed_disjoint_and_in_range():
    x1, y1 = load_dataset("digits", "train")
    x2, _ = load_dataset("digits", "train")
    xt, yt = load_dataset("digits", "test")
    assert torch.equal(x1, x2) and x1.shape[1:] == (1, 8, 8)
    assert len(y1) + len(yt) == 1797 and 0 <= x1.min() and x1.max() <= 1
    train_rows = {tuple(r) for r in x1.flatten(1).tolist()}
    assert sum(tuple(r) in train_rows for r in xt.flatten(1).tolist()) < 0.05 * len(
        yt
    )  # digits has a few duplicates


def test_balanced_subset_is_seeded_and_balanced():
    y = np.repeat(np.arange(10), 50)
    a, b, c = (
        balanced_subset(y, 95, 0),
        balanced_subset(y, 95, 0),
        balanced_subset(y, 95, 1),
    )
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    counts = np.bincount(y[a], minlength=10)
    assert counts.sum() == 95 and counts.max() - counts.min() <= 1


@pytest.mark.parametrize(
    "kwargs, fragment",
    [
        ({"name": "svhn"}, "dataset='svhn'"),
        ({"name": "digits", "split": "val"}, "split='val'"),
        ({"name": "digits", "n": -3}, "n=-3"),
        ({"name": "digits", "n": 10**6}, "n=1000000"),
    ],
)
def test_bad_arguments_are_refused(kwargs, fragment):
    with pytest.raises(ConfigError, match=fragment):
        load_dataset(**kwargs)
