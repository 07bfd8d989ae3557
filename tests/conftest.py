"""Shared fixtures: tests never touch the network or the user's result store."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

PROJECT = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def _isolated(monkeypatch, tmp_path):
    monkeypatch.setenv("DATA_DOWNLOAD", os.environ.get("DATA_DOWNLOAD", "0"))
    monkeypatch.setenv("RESULTS_DIR", str(tmp_path / "results"))
    # no published snapshot below the store unless a test names one (lib.core.store's layers)
    monkeypatch.setenv("RESULTS_PUBLISHED", "")
    monkeypatch.setenv("TQDM_DISABLE", "1")
    torch.set_num_threads(int(os.environ.get("TEST_THREADS", "2")))
    torch.use_deterministic_algorithms(True)
    yield


@pytest.fixture
def store(tmp_path):
    from lib.core.store import ResultStore

    return ResultStore(tmp_path / "store")
