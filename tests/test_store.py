import json
import os

import pytest
import torch

from lib.core.errors import StoreError
from lib.core.store import ResultStore, atomic_write_text, config_key


def test_key_is_stable_and_changes_with_any_field():
    cfg = {
        "data": {"name": "mnist", "n": 100},
        "train": {"lr": 0.1, "seed": 0},
        "code_version": 1,
    }
    assert config_key("models", cfg) == config_key(
        "models", json.loads(json.dumps(cfg))
    )
    reordered = {
        "train": {"seed": 0, "lr": 0.1},
        "code_version": 1,
        "data": {"n": 100, "name": "mnist"},
    }
    assert config_key("models", reordered) == config_key("models", cfg)
    variants = [
        {**cfg, "code_version": 2},
        {**cfg, "train": {"lr": 0.1, "seed": 1}},
        {**cfg, "data": {"name": "mnist", "n": 101}},
    ]
    keys = {config_key("models", v) for v in variants} | {
        config_key("evals", cfg),
        config_key("models", cfg),
    }
    assert len(keys) == 5
    with pytest.raises(StoreError, match="nan"):
        config_key("models", {"lr": float("nan")})


def test_entry_keeps_readable_config_and_refuses_a_mismatch(store):
    cfg = {"a": 1, "b": [1, 2]}
    e = store.entry("models", cfg).ensure()
    assert json.loads((e.path / "config.json").read_text()) == cfg
    (e.path / "config.json").write_text(
        json.dumps({"a": 2, "b": [1, 2]})
    )  # someone else's result
    with pytest.raises(StoreError, match="different config"):
        store.entry("models", cfg).ensure()


def test_get_or_compute_computes_once(store):
    calls = []
    e = store.entry("evals", {"x": 1})
    assert e.get_or_compute_json("r.json", lambda: calls.append(1) or {"v": 3}) == {
        "v": 3
    }
    assert store.entry("evals", {"x": 1}).get_or_compute_json(
        "r.json", lambda: calls.append(1)
    ) == {"v": 3}
    assert calls == [1]


def test_interrupted_write_leaves_the_old_file_whole(tmp_path):
    target = tmp_path / "metrics.json"
    atomic_write_text(target, "old")

    class Boom(Exception):
        pass

    from lib.core.store import _atomic_write

    def failing(f):
        f.write(b"half a fi")
        raise Boom

    with pytest.raises(Boom):
        _atomic_write(target, failing)
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == [
        "metrics.json"
    ]  # no temporary file left behind


def test_tensors_round_trip_with_weights_only(store):
    e = store.entry("models", {"k": 1})
    state = {"w": torch.arange(6.0).view(2, 3), "epoch": 3}
    e.save_torch("partial.pt", state)
    loaded = e.load_torch("partial.pt")
    assert torch.equal(loaded["w"], state["w"]) and loaded["epoch"] == 3
    torch.save(
        {"obj": os.stat_result((0,) * 10)}, e.file("evil.pt")
    )  # not a plain tensor container
    # weights_only refuses arbitrary objects, in one line naming the file and the fix
    with pytest.raises(
        StoreError,
        match=r"evil\.pt does not load \(UnpicklingError: Weights only load failed\); delete .* to "
        "recompute it$",
    ):
        e.load_torch("evil.pt")


def test_store_root_comes_from_results_dir(monkeypatch, tmp_path):
    monkeypatch.setenv("RESULTS_DIR", str(tmp_path / "r"))
    assert ResultStore().root == tmp_path / "r"
