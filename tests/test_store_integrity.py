"""Files the store reads are checked: a shipped file against the SHA-256 its snapshot's manifest records, a
model written here against the hash recorded beside it, a withheld model's retrained weights against the
published record (refused unless ``ACCEPT_RETRAINED=1``, which marks them for the banner). Each damage is one
``StoreError`` line naming the file and the fix; a killed run's temporary files are removed by the next
write into their folder, a live writer's never; a store that cannot be written is one line."""

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from test_train import _spec

from lib.core.errors import StoreError
from lib.core.profile import load_profile
from lib.core.store import (
    HASH_SUFFIX,
    RETRAINED_SUFFIX,
    STALE_TMP_SECONDS,
    ResultStore,
    file_sha256,
    retrained_here,
)
from lib.pipeline.training import get_model
from lib.publish import MANIFEST, copy_entry, damaged_files, record_hashes
from lib.report.page import banner

WEIGHTS = {"w": torch.arange(4096, dtype=torch.float32), "b": torch.ones(3)}


def _snapshot(tmp_path: Path) -> tuple[Path, str]:
    """A published snapshot of one model entry (weights and metrics) with hashes recorded; its key."""
    snap = tmp_path / "snap"
    entry = ResultStore(snap / "store", published=[]).entry("models", {"m": 1})
    entry.save_torch("model.pt", WEIGHTS)
    entry.save_json("metrics.json", {"history": []})
    (entry.path / ("model.pt" + HASH_SUFFIX)).unlink()  # publish leaves it out
    (snap / MANIFEST).write_text(json.dumps({"profile": "fake"}))
    record_hashes(snap)
    return snap, entry.key


def _load(tmp_path: Path, snap: Path):
    store = ResultStore(tmp_path / "mine", published=[snap / "store"])
    return store.entry("models", {"m": 1}).load_torch("model.pt")


def _flip(path: Path, n: int = 64) -> None:
    data = bytearray(path.read_bytes())
    middle = len(data) // 2
    data[middle : middle + n] = bytes(b ^ 0xFF for b in data[middle : middle + n])
    path.write_bytes(bytes(data))


def test_a_shipped_file_is_checked_against_the_manifest(tmp_path):
    snap, key = _snapshot(tmp_path)
    shipped = snap / "store" / "models" / key / "model.pt"
    assert torch.equal(_load(tmp_path, snap)["w"], WEIGHTS["w"])  # intact: loads
    assert damaged_files(snap) == []
    damaged = rf"{shipped} \(\d+ bytes, SHA-256 \w{{12}}\) differs from the SHA-256 {snap / MANIFEST} records"
    restore = rf"restore the published snapshot \(re-clone it, or `git checkout -- {snap}` in a clone\)"
    original = shipped.read_bytes()
    recorded = json.loads((snap / MANIFEST).read_text())["sha256"]
    assert recorded[f"store/models/{key}/model.pt"] == file_sha256(shipped)

    shipped.write_bytes(original[: len(original) // 2])  # truncated
    with pytest.raises(StoreError, match=damaged + r" \(\w{12}\): .*" + restore):
        _load(tmp_path, snap)
    assert damaged_files(snap) == [
        f"{shipped}: SHA-256 {file_sha256(shipped)[:12]} differs from the recorded "
        f"{recorded[f'store/models/{key}/model.pt'][:12]}"
    ]

    shipped.write_bytes(original)
    _flip(shipped)  # 64 bytes flipped: torch would load it silently
    with pytest.raises(StoreError, match=damaged):
        _load(tmp_path, snap)

    shipped.write_bytes(original)  # the file intact, its record wrong
    manifest = json.loads((snap / MANIFEST).read_text())
    manifest["sha256"][f"store/models/{key}/model.pt"] = "0" * 64
    (snap / MANIFEST).write_text(json.dumps(manifest))
    with pytest.raises(StoreError, match=damaged + r" \(000000000000\)"):
        _load(tmp_path, snap)

    shipped.unlink()  # missing: reported, never recomputed silently
    store = ResultStore(tmp_path / "mine", published=[snap / "store"])
    assert store.entry("models", {"m": 1}).has("model.pt")
    with pytest.raises(
        StoreError,
        match=rf"{shipped} is missing, but {snap / MANIFEST} records it: " + restore,
    ):
        _load(tmp_path, snap)
    assert damaged_files(snap) == [f"{shipped}: missing (recorded)"]
    metrics = snap / "store" / "models" / key / "metrics.json"
    metrics.unlink()  # a shipped result that is missing is not recomputed either
    with pytest.raises(StoreError, match=rf"{metrics} is missing, but"):
        store.entry("models", {"m": 1}).get_or_compute_json("metrics.json", dict)
    assert not (tmp_path / "mine").exists()


def test_an_unrecorded_file_and_a_second_recording_are_refused(tmp_path):
    snap, key = _snapshot(tmp_path)
    extra = snap / "store" / "models" / key / "extra.json"
    extra.write_text("{}")
    store = ResultStore(tmp_path / "mine", published=[snap / "store"])
    with pytest.raises(
        StoreError, match=rf"{extra} is not recorded in {snap / MANIFEST}"
    ):
        store.entry("models", {"m": 1}).load_json("extra.json")
    assert damaged_files(snap) == [f"{extra}: not recorded in {snap / MANIFEST}"]
    with pytest.raises(
        StoreError, match="already records the SHA-256 of its files; publish again"
    ):
        record_hashes(snap)  # never a way to make a damaged snapshot pass


def test_a_model_written_here_is_checked_against_its_recorded_hash(store):
    e = store.entry("models", {"m": 2})
    e.save_torch("model.pt", WEIGHTS)
    sidecar = e.path / ("model.pt" + HASH_SUFFIX)
    assert sidecar.read_text().strip() == file_sha256(e.path / "model.pt")
    assert torch.equal(e.load_torch("model.pt")["b"], WEIGHTS["b"])
    _flip(e.path / "model.pt")
    with pytest.raises(
        StoreError,
        match=rf"model\.pt \(\d+ bytes, SHA-256 \w+\) differs from the SHA-256 recorded when it was "
        rf"written \({sidecar}: \w+\): the file is damaged; delete {e.path} to recompute it$",
    ):
        e.load_torch("model.pt")
    # a file without a recorded hash (an older store) that does not load: one line, not torch's traceback
    sidecar.unlink()
    data = (e.path / "model.pt").read_bytes()
    (e.path / "model.pt").write_bytes(data[: len(data) // 3])
    with pytest.raises(
        StoreError,
        match=rf"model\.pt does not load \(\w+: .+\); delete {e.path} to recompute it$",
    ):
        e.load_torch("model.pt")
    e.remove("model.pt")
    assert not (e.path / "model.pt").exists()


def _network(spec, store: ResultStore) -> torch.nn.Module:
    """The model's network: loading it (or retraining it) is what the checks guard."""
    return get_model(spec, store, "cpu", progress=False).model


def _withheld_snapshot(tmp_path: Path, spec) -> Path:
    """A snapshot that withholds ``spec``'s weights and records another machine's SHA-256 for them."""
    full = ResultStore(tmp_path / "full", published=[])
    get_model(spec, full, "cpu", progress=False)
    source = full.entry("models", spec.store_config())
    copy_entry(source, tmp_path / "snap", keep_weights=False, keep_images=False)
    marker = tmp_path / "snap" / "models" / source.key / "model.pt.withheld.json"
    record = json.loads(marker.read_text())
    marker.write_text(json.dumps({**record, "sha256": "ab" * 32}))
    return tmp_path / "snap"


def test_retrained_weights_that_differ_are_refused_unless_accepted(
    tmp_path, monkeypatch, capsys
):
    spec = _spec(epochs=1)
    snap = _withheld_snapshot(tmp_path, spec)
    monkeypatch.setenv("RESULTS_DIR", str(tmp_path / "mine"))
    store = ResultStore(tmp_path / "mine", published=[snap])
    refused = (
        rf"model\.pt \({spec.label}\) was recomputed here and differs from the published one \(SHA-256 "
        r"\w{12} against abababababab in .*model\.pt\.withheld\.json\), so results computed from it would "
        r"not be the published ones; set ACCEPT_RETRAINED=1 to use it anyway \(the book's banner then "
        r"names it\), or delete .*model\.pt to compute it again$"
    )
    with pytest.raises(StoreError, match=refused):
        _network(spec, store)
    assert "training it again" in capsys.readouterr().out
    # the retrained file is kept but still refused, without training again
    with pytest.raises(
        StoreError, match=refused.replace(rf"\({spec.label}\)", r"\(models/\w+\)")
    ):
        _network(spec, store)
    assert "training it again" not in capsys.readouterr().out
    profile = load_profile("smoke")
    assert "Recomputed on this machine" not in banner(profile, "cpu").data

    monkeypatch.setenv("ACCEPT_RETRAINED", "1")
    assert isinstance(_network(spec, store), torch.nn.Module)
    marked = retrained_here(tmp_path / "mine")
    assert [m["label"] for m in marked] == [
        f"models/{store.entry('models', spec.store_config()).key}"
    ]
    assert marked[0]["published_sha256"] == "ab" * 32
    monkeypatch.delenv("ACCEPT_RETRAINED")
    _network(spec, store)  # marked: accepted from now on
    text = banner(profile, "cpu").data
    assert "Recomputed on this machine" in text and marked[0]["label"] in text
    monkeypatch.setenv(
        "ACCEPT_RETRAINED", "1"
    )  # accepting differences never accepts a damaged file
    _flip(store.entry("models", spec.store_config()).path / "model.pt")
    with pytest.raises(
        StoreError, match="differs from the SHA-256 recorded when it was written"
    ):
        _network(spec, store)


def test_a_retrained_model_is_marked_with_its_label(tmp_path, monkeypatch, capsys):
    spec = _spec(epochs=1)
    snap = _withheld_snapshot(tmp_path, spec)
    monkeypatch.setenv("ACCEPT_RETRAINED", "1")
    store = ResultStore(tmp_path / "mine", published=[snap])
    _network(spec, store)
    assert "used because ACCEPT_RETRAINED=1" in capsys.readouterr().out
    entry = store.entry("models", spec.store_config())
    note = json.loads((entry.path / ("model.pt" + RETRAINED_SUFFIX)).read_text())
    assert note["label"] == spec.label and note["sha256"] == file_sha256(
        entry.path / "model.pt"
    )


def refuse_mkdir_under(monkeypatch, root: Path) -> None:
    """Make every folder under ``root`` uncreatable, as on a read-only file system (the tests run as root,
    so chmod would not stop a write)."""
    real_mkdir = Path.mkdir

    def read_only(self, *args, **kwargs):
        if str(self).startswith(str(root)):
            raise PermissionError(13, "Permission denied", str(self))
        return real_mkdir(self, *args, **kwargs)

    monkeypatch.setattr(Path, "mkdir", read_only)


def test_a_read_only_store_is_one_line_before_retraining(tmp_path, monkeypatch, capsys):
    spec = _spec(epochs=1)
    full = ResultStore(tmp_path / "full", published=[])
    get_model(spec, full, "cpu", progress=False)
    copy_entry(
        full.entry("models", spec.store_config()), tmp_path / "snap", False, False
    )
    monkeypatch.setenv("RESULTS_DIR", str(tmp_path / "ro"))
    store = ResultStore(tmp_path / "ro", published=[tmp_path / "snap"])
    refuse_mkdir_under(monkeypatch, tmp_path / "ro")
    with pytest.raises(
        StoreError,
        match=rf"{tmp_path / 'ro'}/models/\w+ cannot be written: the store is not writable here; point "
        rf"RESULTS_DIR \(now {tmp_path / 'ro'}\) at a writable folder$",
    ):
        _network(spec, store)
    assert (
        "training it again" not in capsys.readouterr().out
    )  # refused before any training


def test_a_failed_write_into_an_unwritable_file_is_one_line(tmp_path, monkeypatch):
    store = ResultStore(tmp_path / "s", published=[])
    e = store.entry("evals", {"x": 1})
    e.save_json("result.json", {"a": 1})

    def full_disk(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", full_disk)
    with pytest.raises(StoreError, match=r"result\.json cannot be written"):
        e.save_json("result.json", {"a": 2})
    assert e.load_json("result.json") == {"a": 1}
    assert not list(e.path.glob(".*.tmp"))


def _dead_pid() -> int:
    done = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
    )
    return int(done.stdout)


def test_a_killed_runs_temporary_files_are_removed_by_the_next_write(tmp_path):
    store = ResultStore(tmp_path / "s", published=[])
    e = store.entry("models", {"m": 3})
    e.save_json("metrics.json", {"history": []})
    host, dead, alive = socket.gethostname(), _dead_pid(), os.getpid()
    names = {
        "dead": f".model.pt.{dead}@{host}.tmp",
        "legacy": f".partial.pt.{dead}.tmp",  # written before the host was part of the name
        "alive": f".model.pt.{alive}@{host}.tmp",  # a live writer (a Ray worker on this machine)
        "elsewhere": f".model.pt.{dead}@another-node.tmp",  # a pid of another machine: judged by age
        "old": f".metrics.json.{alive}@another-node.tmp",
        "other": ".notes.tmp",  # not the store's
    }
    for name in names.values():
        (e.path / name).write_bytes(b"")
    old = (e.path / names["old"]).stat().st_mtime - STALE_TMP_SECONDS - 10
    os.utime(e.path / names["old"], (old, old))
    e.save_json(
        "metrics.json", {"history": [1]}
    )  # the next run's write into the folder
    left = {p.name for p in e.path.glob(".*")}
    assert left == {names["alive"], names["elsewhere"], names["other"]}


def test_the_entry_lock_of_a_read_only_store_is_one_line(tmp_path, monkeypatch):
    """``lib.plan`` takes an entry's lock before computing it: on a store it cannot write, that is the
    same one line, not a raw OSError."""
    from lib.pipeline.task import entry_lock

    monkeypatch.setenv("RESULTS_DIR", str(tmp_path / "ro"))
    store = ResultStore(tmp_path / "ro", published=[])
    refuse_mkdir_under(monkeypatch, tmp_path / "ro")
    with pytest.raises(
        StoreError, match=r"abc\.lock cannot be written: the store is not writable"
    ):
        with entry_lock(store, "models", "abc"):
            pass
