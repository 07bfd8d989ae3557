"""Datasets as in-memory tensors: ``x`` float32 in [0, 1] of shape (N, C, H, W), ``y`` int64.

The data folder is ``$DATA_DIR`` (default ``./data``). torchvision downloads where the network allows;
offline and missing gives one clear error. Set ``DATA_DOWNLOAD=0`` to never try the network.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from torchvision import datasets

from lib.core.errors import ConfigError, DataNotFoundError
from lib.core.settings import DATASETS

CIFAR10_NPZ = Path("cifar10") / "cifar10.npz"


DIGITS_TEST_FRACTION = 0.25


DATASET_SHAPES = {
    "digits": (1, 8, 8),
    "mnist": (1, 28, 28),
    "fashion-mnist": (1, 28, 28),
    "cifar10": (3, 32, 32),
}


NUM_CLASSES = {name: 10 for name in DATASETS}


def data_dir() -> Path:
    return Path(os.environ.get("DATA_DIR", "./data")).expanduser()


def _download_allowed() -> bool:
    return os.environ.get("DATA_DOWNLOAD", "1").strip().lower() not in (
        "0",
        "false",
        "no",
        "off",
    )


def _missing(name: str, root: Path, detail: str) -> DataNotFoundError:
    return DataNotFoundError(
        f"dataset {name!r} not found in {root.resolve()} ({detail}) and could not be downloaded; "
        f"put it there or point DATA_DIR at a folder that has it (DATA_DIR={os.environ.get('DATA_DIR', '<unset>')})"
    )


def _load_digits(split: str) -> tuple[np.ndarray, np.ndarray]:

    d = load_digits()
    x = (d.images / 16.0).astype(np.float32)[:, None]
    y = d.target.astype(np.int64)
    x_tr, x_te, y_tr, y_te = train_test_split(
        x, y, test_size=DIGITS_TEST_FRACTION, stratify=y, random_state=0
    )
    return (x_tr, y_tr) if split == "train" else (x_te, y_te)


def _load_idx_dataset(
    name: str, split: str, root: Path
) -> tuple[np.ndarray, np.ndarray]:

    cls = datasets.MNIST if name == "mnist" else datasets.FashionMNIST
    train = split == "train"
    try:
        ds = cls(root=str(root), train=train, download=False)
    except RuntimeError as exc:
        if not _download_allowed():
            raise _missing(
                name,
                root,
                f"expected {cls.__name__}/raw/*-ubyte; downloads disabled by DATA_DOWNLOAD",
            ) from exc
        try:
            ds = cls(root=str(root), train=train, download=True)
        except Exception as exc:  # network errors come in many types
            raise _missing(
                name,
                root,
                f"expected {cls.__name__}/raw/*-ubyte; download failed: {type(exc).__name__}",
            ) from None
    x = ds.data.numpy().astype(np.float32)[:, None] / 255.0
    return x, ds.targets.numpy().astype(np.int64)


def _load_cifar10(split: str, root: Path) -> tuple[np.ndarray, np.ndarray]:

    train = split == "train"
    ds = None
    try:
        ds = datasets.CIFAR10(root=str(root), train=train, download=False)
    except RuntimeError:
        npz = root / CIFAR10_NPZ
        if not npz.exists() and _download_allowed():
            try:
                ds = datasets.CIFAR10(root=str(root), train=train, download=True)
            except Exception:
                ds = None
        if ds is None:
            if not npz.exists():
                raise _missing(
                    "cifar10", root, f"expected cifar-10-batches-py/ or {CIFAR10_NPZ}"
                ) from None
            with np.load(npz) as f:
                x_raw, y_raw = (
                    (f["x_train"], f["y_train"])
                    if train
                    else (f["x_test"], f["y_test"])
                )
            x = x_raw.astype(np.float32).transpose(0, 3, 1, 2) / 255.0
            return x, y_raw.astype(np.int64).reshape(-1)
    x = ds.data.astype(np.float32).transpose(0, 3, 1, 2) / 255.0
    return x, np.asarray(ds.targets, dtype=np.int64)


def balanced_subset(y: np.ndarray, n: int, seed: int) -> np.ndarray:
    """Indices of a seeded, class-balanced subset of size ``n`` (classes differ by at most one image)."""
    classes = np.unique(y)
    rng = np.random.default_rng(seed)
    per_class = np.full(len(classes), n // len(classes))
    per_class[rng.permutation(len(classes))[: n % len(classes)]] += 1
    picked = []
    for c, k in zip(classes, per_class):
        pool = np.flatnonzero(y == c)
        if k > len(pool):
            raise ConfigError(
                f"n={n} is not allowed: class {c} has only {len(pool)} images (a balanced subset needs {k})"
            )
        picked.append(rng.choice(pool, size=k, replace=False))
    return np.sort(np.concatenate(picked))


def _load_split(name: str, split: str) -> tuple[np.ndarray, np.ndarray]:
    root = data_dir()
    if name == "digits":
        return _load_digits(split)
    if name in ("mnist", "fashion-mnist"):
        return _load_idx_dataset(name, split, root)
    return _load_cifar10(split, root)


def validation_indices(
    y: np.ndarray, n_train: int | None, n: int, seed: int
) -> np.ndarray:
    """Indices into the training pool (labels ``y``) of the validation images: a seeded, class-balanced
    subset of size ``n`` of the images that the training subset ``balanced_subset(y, n_train, seed)`` does
    not contain. ``n_train`` None (training on the whole pool) leaves no image: a ``ConfigError``."""
    if n_train is None:
        raise ConfigError(
            "data.n_train=None is not allowed for a validation split: the profile trains on every image of "
            "the training pool, so none is left to validate on (set data.n_train to a number, or "
            "sep.choose_on to 'test')"
        )
    if isinstance(n, bool) or not isinstance(n, int) or n <= 0:
        raise ConfigError(
            f"n={n!r} is not allowed for a validation split: expected a positive integer"
        )
    if n_train >= len(y):
        raise ConfigError(
            f"data.n_train={n_train} is not allowed for a validation split: the training pool has "
            f"{len(y)} images, so none is left to validate on"
        )
    train = balanced_subset(y, n_train, seed)
    rest = np.setdiff1d(np.arange(len(y)), train)
    try:
        picked = balanced_subset(y[rest], n, seed)
    except ConfigError as exc:
        raise ConfigError(
            f"eval.n={n} is not allowed for a validation split with data.n_train={n_train}: the "
            f"{len(rest)} training-pool images left out of training cannot give a balanced subset of "
            f"{n} ({exc})"
        ) from None
    return rest[picked]


def load_validation(
    name: str, n_train: int | None, n: int, seed: int = 0
) -> tuple[torch.Tensor, torch.Tensor]:
    """The validation images of an experiment: ``n`` class-balanced images of ``name``'s training pool
    that its training subset (``n_train`` images chosen with ``seed``) does not contain, chosen with
    ``seed`` (``validation_indices``). Disjoint from the training subset and from the test split."""
    if name not in DATASETS:
        raise ConfigError(
            f"dataset={name!r} is not allowed: expected one of {DATASETS}"
        )
    x, y = _load_split(name, "train")
    idx = validation_indices(y, n_train, n, seed)
    return torch.from_numpy(np.ascontiguousarray(x[idx])), torch.from_numpy(
        np.ascontiguousarray(y[idx])
    )


def load_dataset(
    name: str, split: str = "train", n: int | None = None, seed: int = 0
) -> tuple[torch.Tensor, torch.Tensor]:
    """Load a dataset split as tensors; ``n`` takes a class-balanced subset chosen with ``seed``.

    ``digits`` is scikit-learn's bundled 8x8 set, split 75/25 with a fixed stratified split.
    ``cifar10`` falls back to ``$DATA_DIR/cifar10/cifar10.npz`` (the first 10,000 training and 1,000 test
    images of the official order) when torchvision's files are absent and cannot be downloaded.
    """
    if name not in DATASETS:
        raise ConfigError(
            f"dataset={name!r} is not allowed: expected one of {DATASETS}"
        )
    if split not in ("train", "test"):
        raise ConfigError(f"split={split!r} is not allowed: expected 'train' or 'test'")
    if n is not None and (isinstance(n, bool) or not isinstance(n, int) or n <= 0):
        raise ConfigError(
            f"n={n!r} is not allowed: expected a positive integer or None (all)"
        )
    x, y = _load_split(name, split)
    if n is not None:
        if n > len(y):
            raise ConfigError(
                f"n={n} is not allowed: {name} {split} has {len(y)} images here"
            )
        idx = balanced_subset(y, n, seed)
        x, y = x[idx], y[idx]
    return torch.from_numpy(np.ascontiguousarray(x)), torch.from_numpy(
        np.ascontiguousarray(y)
    )
