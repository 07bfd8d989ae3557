"""The store reads through published snapshots: a published entry is read with nothing written, writes go to
the writable root and shadow the snapshot, a withheld file counts as present and is recomputed on demand
(model weights: retrained and checked against the published hash), and the trace names what was read."""

import json

import pytest
import torch
from test_train import _spec

from lib.core.errors import StoreError
from lib.core.store import WITHHELD_SUFFIX, ResultStore, file_sha256
from lib.pipeline.training import get_model
from lib.publish import check_limits, copy_entry, read_trace


def _files(root):
    return sorted(
        p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()
    )


def test_published_entry_is_read_without_writing_and_a_write_shadows_it(tmp_path):
    snapshot = ResultStore(tmp_path / "snap", published=[])
    snapshot.entry("evals", {"x": 1}).save_json("result.json", {"acc": 0.5})
    store = ResultStore(tmp_path / "mine", published=[tmp_path / "snap"])
    entry = store.entry("evals", {"x": 1}).ensure()
    assert entry.has("result.json") and entry.load_json("result.json") == {"acc": 0.5}
    assert entry.get_or_compute_json("result.json", lambda: 1 / 0) == {"acc": 0.5}
    assert not (tmp_path / "mine").exists()  # reading wrote nothing
    entry.save_json("result.json", {"acc": 0.75})  # a user's recomputation
    assert store.entry("evals", {"x": 1}).load_json("result.json") == {"acc": 0.75}
    assert snapshot.entry("evals", {"x": 1}).load_json("result.json") == {"acc": 0.5}
    missing = store.entry("evals", {"x": 2})
    assert not missing.has("result.json") and missing.published is None
    assert [e.key for e in store.entries("evals")] == [entry.key]


def test_a_published_entry_with_another_config_is_refused(tmp_path):
    snapshot = ResultStore(tmp_path / "snap", published=[])
    entry = snapshot.entry("evals", {"x": 1})
    entry.save_json("result.json", {"acc": 0.5})
    (entry.path / "config.json").write_text(json.dumps({"x": 3}))
    store = ResultStore(tmp_path / "mine", published=[tmp_path / "snap"])
    with pytest.raises(StoreError, match="different config"):
        store.entry("evals", {"x": 1}).load_json("result.json")


def test_the_layers_come_from_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("RESULTS_PUBLISHED", f"{tmp_path / 'a'}:{tmp_path / 'b'}")
    assert ResultStore().published == [tmp_path / "a", tmp_path / "b"]
    monkeypatch.setenv("RESULTS_PUBLISHED", "")
    assert ResultStore().published == []


def test_withheld_weights_count_as_present_and_are_retrained_bit_identically(
    tmp_path, capsys
):
    full = ResultStore(tmp_path / "full", published=[])
    spec = _spec(epochs=1)
    trained = get_model(spec, full, "cpu", progress=False)
    source = full.entry("models", spec.store_config())
    # publish it without its weights
    copy_entry(source, tmp_path / "snap", keep_weights=False, keep_images=False)
    snap = tmp_path / "snap" / "models" / source.key
    assert not (snap / "model.pt").exists()
    record = json.loads((snap / ("model.pt" + WITHHELD_SUFFIX)).read_text())
    assert record["sha256"] == file_sha256(source.path / "model.pt")

    store = ResultStore(tmp_path / "mine", published=[tmp_path / "snap"])
    entry = store.entry("models", spec.store_config())
    assert entry.has("model.pt") and entry.withheld("model.pt") == record
    with pytest.raises(StoreError, match="withheld"):
        entry.load_torch("model.pt")
    lazy = get_model(spec, store, "cpu", progress=False)
    assert lazy.history == trained.history and not (tmp_path / "mine").exists()
    weights = lazy.model.state_dict()  # first use: trained again into the writable root
    assert "bit-identical to the published ones" in capsys.readouterr().out
    for name, tensor in trained.model.state_dict().items():
        assert torch.equal(weights[name], tensor), name
    assert (tmp_path / "mine" / "models" / source.key / "model.pt").exists()


def test_a_kept_model_and_images_are_copied_and_others_left_out(tmp_path):
    full = ResultStore(tmp_path / "full", published=[])
    attack = full.entry("manipulations", {"a": 1})
    attack.save_torch(
        "result.pt", {"x_adv": torch.ones(3, 1, 8, 8), "l_end": torch.ones(3)}
    )
    attack.save_json("timing.json", {"seconds": 1.0})
    copy_entry(attack, tmp_path / "slim", keep_weights=False, keep_images=False)
    copy_entry(attack, tmp_path / "whole", keep_weights=False, keep_images=True)
    slim = ResultStore(tmp_path / "x", published=[tmp_path / "slim"])
    whole = ResultStore(tmp_path / "x", published=[tmp_path / "whole"])
    assert set(slim.entry("manipulations", {"a": 1}).load_torch("result.pt")) == {
        "l_end"
    }
    assert set(whole.entry("manipulations", {"a": 1}).load_torch("result.pt")) == {
        "x_adv",
        "l_end",
    }
    assert _files(tmp_path / "slim") == [
        f"manipulations/{attack.key}/{n}"
        for n in ("config.json", "result.pt", "timing.json")
    ]


def test_the_trace_names_every_look_up_and_the_weights_loaded(tmp_path, monkeypatch):
    monkeypatch.setenv("STORE_TRACE", str(tmp_path / "trace.txt"))
    store = ResultStore(tmp_path / "s", published=[])
    e = store.entry("models", {"m": 1})
    e.save_torch("model.pt", {"w": torch.zeros(1)})
    e.has("metrics.json")
    e.load_torch("model.pt")
    store.entry("evals", {"m": 1}).has("result.json")
    entries, weights = read_trace(tmp_path / "trace.txt")
    assert entries == {("models", e.key), ("evals", store.entry("evals", {"m": 1}).key)}
    assert weights == {e.key}


def test_size_limits_fail_with_the_file_and_the_limit():
    check_limits({"a": 1 << 20, "b": 2 << 20})
    with pytest.raises(
        StoreError, match=r"store/x is 6\.0 MB: at most 5\.0 MB per file"
    ):
        check_limits({"store/x": 6 << 20})
    with pytest.raises(StoreError, match=r"31\.0 MB: at most 30\.0 MB in all"):
        check_limits({f"f{i}": 1 << 20 for i in range(31)})
