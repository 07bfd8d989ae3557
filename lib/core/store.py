"""A content-addressed result store: one folder per (kind, full resolved config).

``ResultStore(root).entry(kind, config)`` names the folder ``<root>/<kind>/<hash of config>/``. The entry
keeps its config as readable ``config.json``; an entry whose stored config differs from the one asked for
is never reused. Every write goes to a temporary file in the same folder and is renamed into place, so an
interrupted run leaves either the old file or the new one, never half a file. Tensors load with
``weights_only=True``. The root is ``$RESULTS_DIR`` (default ``./results``).

**Published layers.** Below the writable root the store reads, never writes, published snapshots of
results (``published/<profile>/store`` in the repository; ``$RESULTS_PUBLISHED`` names others, separated by
``os.pathsep``, and an empty value turns them off). A file is read from the writable root when it is there,
else from the first published layer that holds the entry; every write goes to the writable root. Reading a
published entry writes nothing. A snapshot may *withhold* a heavy file (model weights): the entry then holds
``<name>.withheld.json`` with the file's SHA-256 and size, ``has(name)`` is true (the result exists), and
``withheld(name)`` gives that record so a caller can recompute the file into the writable root when it is
really needed (``pipeline.training.get_model`` does, lazily, and checks the hash).

**Checked files.** A published layer's ``manifest.json`` (beside its ``store/`` folder, written by
``lib.publish``) records the SHA-256 of every shipped file; every read from the layer checks it, and a file
that differs, is missing or is not recorded is one ``StoreError`` line naming the file and the fix (restore
the snapshot). A ``model.pt`` written into the writable root gets ``model.pt.sha256`` beside it and is
checked on every load (fix: delete the entry to recompute it). A file recomputed over a withheld record must
match the record's SHA-256: one that differs (another machine, thread count or library version) is refused
unless ``$ACCEPT_RETRAINED=1``, which marks it (``<name>.retrained.json``, listed by ``retrained_here``) so
the book's banner names it. A file that does not load (truncated, not a tensor container) is one line too.
Stored results are otherwise trusted as written: a hand-edited JSON in the writable root is read as is.

**Killed runs and read-only stores.** A write goes to ``.<name>.<pid>@<host>.tmp`` first; the next write
into the same folder removes the temporary files of processes that are gone (same host, pid not alive) or
older than ``STALE_TMP_SECONDS`` (any host), never a live worker's. A write into a store that cannot be
written (read-only, full) is one ``StoreError`` line naming the file and ``RESULTS_DIR``.

``$STORE_TRACE`` names a file to which every look-up appends a line ``has|read kind/key/name``: what a run
of the book reads, which ``lib.publish`` uses to choose what to publish.
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
import os
import platform
import re
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from lib.core.errors import StoreError

KEY_LENGTH = 16
WITHHELD_SUFFIX = ".withheld.json"
HASH_SUFFIX = ".sha256"  # beside a hashed file of the writable root: its SHA-256
RETRAINED_SUFFIX = (
    ".retrained.json"  # beside a recomputed file that differs from its withheld record
)
HASHED = ("model.pt",)  # the files whose SHA-256 the writable root records and checks
ACCEPT_RETRAINED = "ACCEPT_RETRAINED"  # "1": use recomputed files that differ from the published record
STALE_TMP_SECONDS = (
    3600  # a temporary file this old belongs to no running write (writes take seconds)
)
TMP_NAME = re.compile(r"^\.(?P<name>.+)\.(?P<pid>\d+)(?:@(?P<host>[^/]*))?\.tmp$")
PROJECT_ROOT = Path(__file__).resolve().parents[2]


def default_published() -> list[Path]:
    """The published layers: ``$RESULTS_PUBLISHED`` when set (``os.pathsep``-separated; empty = none),
    else every ``published/*/store`` folder of the repository, in name order."""
    env = os.environ.get("RESULTS_PUBLISHED")
    if env is not None:
        return [Path(p).expanduser() for p in env.split(os.pathsep) if p]
    return sorted(p for p in (PROJECT_ROOT / "published").glob("*/store") if p.is_dir())


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@functools.lru_cache(maxsize=16)
def _manifest_hashes(manifest: Path, mtime_ns: int) -> dict[str, str] | None:
    try:
        return json.loads(manifest.read_text()).get("sha256")
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise StoreError(
            f"{manifest} is unreadable ({exc}); restore the published snapshot (re-clone it, or "
            f"`git checkout -- {manifest.parent}`)"
        ) from None


def layer_hashes(layer: Path) -> dict[str, str] | None:
    """The SHA-256 of every file of a published layer, by its path from the snapshot's folder
    (``store/<kind>/<key>/<name>``), from ``manifest.json`` beside ``layer``; None when the snapshot records
    none (written before hashes were recorded, or a test's bare layer)."""
    manifest = layer.parent / "manifest.json"
    try:
        mtime = manifest.stat().st_mtime_ns
    except FileNotFoundError:
        return None
    return _manifest_hashes(manifest, mtime)


def retrained_here(root: Path) -> list[dict]:
    """The records of the files recomputed into the writable root ``root`` that differ from the published
    record and were accepted with ``$ACCEPT_RETRAINED=1`` (what the book's banner lists)."""
    out = []
    for marker in sorted(Path(root).glob(f"*/*/*{RETRAINED_SUFFIX}")):
        try:
            out.append(json.loads(marker.read_text()))
        except (OSError, json.JSONDecodeError):
            continue
    return out


def canonical_json(obj: Any) -> str:
    """Deterministic JSON for hashing: sorted keys, no whitespace, non-finite numbers refused."""

    def check(o: Any) -> None:
        if isinstance(o, float) and not math.isfinite(o):
            raise StoreError(
                f"config value {o!r} is not allowed in a store key: expected finite numbers"
            )
        if isinstance(o, dict):
            for v in o.values():
                check(v)
        elif isinstance(o, (list, tuple)):
            for v in o:
                check(v)

    check(obj)
    return json.dumps(obj, sort_keys=True, separators=(",", ":"))


def config_key(kind: str, config: dict) -> str:
    return hashlib.sha256(
        canonical_json({"kind": kind, "config": config}).encode()
    ).hexdigest()[:KEY_LENGTH]


def unwritable(path: Path) -> StoreError:
    """The one line for a write that the file system refused (read-only store, disk full)."""
    root = os.environ.get("RESULTS_DIR", "./results")
    return StoreError(
        f"{path} cannot be written: the store is not writable here; point RESULTS_DIR "
        f"(now {root}) at a writable folder"
    )


def _atomic_write(path: Path, write: Callable[[Any], None]) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}@{socket.gethostname()}.tmp")
    try:
        with open(tmp, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        raise unwritable(path) from exc
    finally:
        if tmp.exists():
            tmp.unlink()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's live process
        return True
    return True


def stale_temporary(folder: Path, now: float | None = None) -> list[Path]:
    """The temporary files of ``folder`` that no running write owns: written on this host by a process
    that is gone, or older than ``STALE_TMP_SECONDS`` (a write on another host sharing the store is judged
    by age only, since its pid means nothing here)."""
    now = time.time() if now is None else now
    host, out = socket.gethostname(), []
    for path in folder.glob(".*.tmp") if folder.is_dir() else ():
        match = TMP_NAME.match(path.name)
        if match is None:
            continue
        try:
            age = now - path.stat().st_mtime
        except FileNotFoundError:  # its write just finished
            continue
        here = match["host"] in (None, host)
        if age > STALE_TMP_SECONDS or (here and not _alive(int(match["pid"]))):
            out.append(path)
    return out


def remove_stale_temporary(folder: Path) -> int:
    """Remove what ``stale_temporary`` finds (a killed run's leftovers); returns how many."""
    removed = 0
    for path in stale_temporary(folder):
        path.unlink(missing_ok=True)
        removed += 1
    return removed


def atomic_write_text(path: Path, text: str) -> None:
    _atomic_write(Path(path), lambda f: f.write(text.encode()))


def atomic_torch_save(path: Path, obj: Any) -> None:
    _atomic_write(Path(path), lambda f: torch.save(obj, f))


def git_commit() -> str | None:
    """The project's current commit, for provenance only (it is not part of any key)."""
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=Path(__file__).parent,
            capture_output=True,
            text=True,
            timeout=5,
        )
        return out.stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None


class Entry:
    """One folder of the store, bound to its config: ``path`` in the writable root, and ``published``, the
    same folder in the first published layer that holds it (or None)."""

    def __init__(
        self, path: Path, kind: str, config: dict, published: Path | None = None
    ):
        self.path = path
        self.kind = kind
        self.config = config
        self.key = path.name
        self.published = published

    def __repr__(self) -> str:
        return f"Entry({self.kind}/{self.key})"

    def _check_config(self, folder: Path) -> None:
        cfg_path = folder / "config.json"
        if folder == self.published:
            self._check_published("config.json")
        try:
            stored = json.loads(cfg_path.read_text())
        except json.JSONDecodeError as exc:
            raise StoreError(
                f"{cfg_path} is unreadable ({exc}); delete the entry to recompute it"
            ) from None
        if canonical_json(stored) != canonical_json(self.config):
            raise StoreError(
                f"{cfg_path} holds a different config than the one asked for; "
                f"it is not reused (delete the entry to recompute it)"
            )

    def ensure(self) -> Entry:
        """Check the stored config of the entry wherever it exists; create the writable folder and its
        config.json only when no layer holds the entry yet (reading a published entry writes nothing)."""
        if (self.path / "config.json").exists():
            self._check_config(self.path)
        elif self.published is not None:
            self._check_config(self.published)
        else:
            self._writable()
        return self

    def make_writable(self) -> None:
        """Create the writable folder now: one ``StoreError`` line at once when the store cannot be written,
        before a long computation (retraining a withheld model) that would fail at its first write."""
        self._writable()

    def _writable(self) -> None:
        """The writable folder with its config.json, for a write (a killed run's temporary files in it are
        removed first)."""
        try:
            self.path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise unwritable(self.path) from exc
        remove_stale_temporary(self.path)
        if (self.path / "config.json").exists():
            self._check_config(self.path)
        else:
            atomic_write_text(
                self.path / "config.json",
                json.dumps(self.config, indent=2, sort_keys=True) + "\n",
            )

    def _trace(self, name: str, op: str) -> None:
        trace = os.environ.get("STORE_TRACE")
        if trace:
            with open(trace, "a") as handle:
                handle.write(f"{op} {self.kind}/{self.key}/{name}\n")

    def file(self, name: str) -> Path:
        """Where ``name`` is read from: the writable root when there, else the published layer when there,
        else the writable root (where it would be written)."""
        mine = self.path / name
        if not mine.exists() and self.published is not None:
            theirs = self.published / name
            if theirs.exists():
                return theirs
        return mine

    def withheld(self, name: str) -> dict | None:
        """The published record ({"sha256", "bytes"}) of a file the snapshot withholds, when the file itself
        is in no layer; else None."""
        if (self.path / name).exists():
            return None
        return self._withheld_record(name)

    def _withheld_record(self, name: str) -> dict | None:
        if self.published is None:
            return None
        marker = self.published / (name + WITHHELD_SUFFIX)
        if not marker.exists():
            return None
        self._check_published(marker.name)
        return json.loads(marker.read_text())

    def _recorded(self, name: str) -> str | None:
        """The SHA-256 the published layer's manifest records for ``name`` of this entry, if any."""
        if self.published is None:
            return None
        layer = self.published.parent.parent
        hashes = layer_hashes(layer)
        return None if hashes is None else hashes.get(self._published_name(name))

    def _published_name(self, name: str) -> str:
        return f"{self.published.parent.parent.name}/{self.kind}/{self.key}/{name}"

    def has(self, name: str) -> bool:
        """Whether the result ``name`` exists in some layer (a withheld published file counts, and so does a
        shipped file the manifest records, so that its absence is reported when it is read)."""
        self._trace(name, "has")
        return (
            self.file(name).exists()
            or self.withheld(name) is not None
            or self._recorded(name) is not None
        )

    def _restore_hint(self) -> str:
        snapshot = self.published.parent.parent.parent
        return (
            f"restore the published snapshot (re-clone it, or `git checkout -- {snapshot}` in a clone); "
            "never edit its files"
        )

    def _check_published(self, name: str) -> None:
        """``name`` of the published layer against the SHA-256 its manifest records (no manifest: not
        checked)."""
        layer = self.published.parent.parent
        hashes = layer_hashes(layer)
        if hashes is None:
            return
        path, manifest = self.published / name, layer.parent / "manifest.json"
        expected = hashes.get(self._published_name(name))
        if expected is None:
            raise StoreError(
                f"{path} is not recorded in {manifest}: the snapshot holds a file it did not publish; "
                + self._restore_hint()
            )
        actual = file_sha256(path)
        if actual != expected:
            raise StoreError(
                f"{path} ({path.stat().st_size} bytes, SHA-256 {actual[:12]}) differs from the SHA-256 "
                f"{manifest} records ({expected[:12]}): the shipped file or its record is damaged; "
                + self._restore_hint()
            )

    def _check_written(self, name: str, label: str | None = None) -> None:
        """``name`` of the writable root against the SHA-256 recorded when it was written (a file of
        ``HASHED``), then against the published record it recomputes (a withheld file)."""
        path = self.path / name
        sidecar = self.path / (name + HASH_SUFFIX)
        if sidecar.exists():
            expected, actual = sidecar.read_text().strip(), file_sha256(path)
            if actual != expected:
                raise StoreError(
                    f"{path} ({path.stat().st_size} bytes, SHA-256 {actual[:12]}) differs from the SHA-256 "
                    f"recorded when it was written ({sidecar}: {expected[:12]}): the file is damaged; "
                    f"delete {self.path} to recompute it"
                )
        record = self._withheld_record(name)
        if record is not None:
            self._check_recomputed(name, record, label or f"{self.kind}/{self.key}")

    def check_recomputed(self, name: str, label: str) -> bool:
        """After ``name`` was recomputed over the published record that withholds it: True when it is
        bit-identical to the record, False when it differs and ``$ACCEPT_RETRAINED=1`` accepts it (it is
        then marked ``<name>.retrained.json`` with ``label``); else ``StoreError``."""
        record = self._withheld_record(name)
        return record is None or self._check_recomputed(name, record, label)

    def _check_recomputed(self, name: str, record: dict, label: str) -> bool:
        path = self.path / name
        mine = file_sha256(path)
        if mine == record["sha256"]:
            return True
        marker = self.path / (name + RETRAINED_SUFFIX)
        if marker.exists() and json.loads(marker.read_text()).get("sha256") == mine:
            return False
        if os.environ.get(ACCEPT_RETRAINED) == "1":
            note = {
                "label": label,
                "entry": f"{self.kind}/{self.key}/{name}",
                "sha256": mine,
                "published_sha256": record["sha256"],
                "machine": platform.platform(),
                "torch": torch.__version__,
                "threads": torch.get_num_threads(),
                "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            }
            atomic_write_text(marker, json.dumps(note, indent=2) + "\n")
            return False
        raise StoreError(
            f"{path} ({label}) was recomputed here and differs from the published one (SHA-256 "
            f"{mine[:12]} against {record['sha256'][:12]} in {self.published / (name + WITHHELD_SUFFIX)}), "
            f"so results computed from it would not be the published ones; set {ACCEPT_RETRAINED}=1 to "
            f"use it anyway (the book's banner then names it), or delete {path} to compute it again"
        )

    def save_json(self, name: str, obj: Any) -> None:
        self._writable()
        atomic_write_text(
            self.path / name,
            json.dumps(obj, indent=2, sort_keys=True, allow_nan=False) + "\n",
        )

    def _readable(self, name: str) -> Path:
        """Where ``name`` is read from, checked (published: against the manifest; written here: against its
        recorded SHA-256 or the withheld record it recomputes)."""
        self.ensure()
        self._trace(name, "read")
        path = self.file(name)
        if not path.exists() and self.withheld(name) is not None:
            raise StoreError(
                f"{self.kind}/{self.key}/{name} is withheld by the published snapshot "
                f"({self.published}); it is recomputed into {self.path.parent.parent} when needed"
            )
        if not path.exists() and self._recorded(name) is not None:
            missing = self.published / name
            raise StoreError(
                f"{missing} is missing, but {self.published.parent.parent.parent / 'manifest.json'} "
                f"records it: {self._restore_hint()}"
            )
        if path.exists() and path.parent == self.published:
            self._check_published(name)
        elif path.exists():
            self._check_written(name)
        return path

    def _fix(self, path: Path) -> str:
        """How to repair an unreadable file: restore a published one, recompute one written here."""
        if path.parent == self.published:
            return self._restore_hint()
        return f"delete {self.path} to recompute it"

    def load_json(self, name: str) -> Any:
        path = self._readable(name)
        try:
            return json.loads(path.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise StoreError(
                f"{path} is unreadable ({exc}); {self._fix(path)}"
            ) from None

    def save_torch(self, name: str, obj: Any) -> None:
        """Save with torch.save; a file of ``HASHED`` gets its SHA-256 beside it (``<name>.sha256``)."""
        self._writable()
        atomic_torch_save(self.path / name, obj)
        if name in HASHED:
            sha = file_sha256(self.path / name)
            atomic_write_text(self.path / (name + HASH_SUFFIX), sha + "\n")

    def load_torch(
        self, name: str, map_location: str | torch.device | None = "cpu"
    ) -> Any:
        """Load with ``weights_only=True`` after the checks of ``_readable``; a file that does not load
        (truncated, not a plain tensor container) is one ``StoreError`` line naming it and the fix."""
        path = self._readable(name)
        try:
            return torch.load(path, map_location=map_location, weights_only=True)
        except FileNotFoundError:
            raise
        except Exception as exc:  # torch raises several types for a damaged file
            reason = (str(exc).strip().splitlines() or [""])[0].split(". ")[0][:160]
            raise StoreError(
                f"{path} does not load ({type(exc).__name__}: {reason}); {self._fix(path)}"
            ) from None

    def remove(self, name: str) -> None:
        """Remove ``name`` (and its recorded SHA-256) from the writable root (published layers are never
        changed)."""
        for path in (self.path / name, self.path / (name + HASH_SUFFIX)):
            if path.exists():
                path.unlink()

    def get_or_compute_json(self, name: str, compute: Callable[[], Any]) -> Any:
        """Return the stored JSON result, computing and storing it first when absent."""
        return self._get_or_compute(name, compute, self.load_json, self.save_json)

    def get_or_compute_torch(self, name: str, compute: Callable[[], Any]) -> Any:
        """As ``get_or_compute_json`` for tensors (saved with torch.save, loaded with weights_only=True)."""
        return self._get_or_compute(name, compute, self.load_torch, self.save_torch)

    def _get_or_compute(
        self, name: str, compute: Callable[[], Any], load: Callable, save: Callable
    ) -> Any:
        if self.file(name).exists() or self._recorded(name) is not None:
            return load(
                name
            )  # a shipped file that is missing is reported, not recomputed
        result = compute()
        save(name, result)
        return result


class ResultStore:
    """The store's root folder; hands out entries keyed by the hash of (kind, config)."""

    def __init__(
        self,
        root: str | os.PathLike | None = None,
        published: list[str | os.PathLike] | None = None,
    ):
        self.root = Path(
            root if root is not None else os.environ.get("RESULTS_DIR", "./results")
        ).expanduser()
        self.published = (
            default_published()
            if published is None
            else [Path(p).expanduser() for p in published]
        )

    def __repr__(self) -> str:
        return f"ResultStore({str(self.root)!r})"

    def entry(self, kind: str, config: dict) -> Entry:
        if not kind or "/" in kind or kind.startswith("."):
            raise StoreError(
                f"kind={kind!r} is not allowed: expected a plain folder name"
            )
        key = config_key(kind, config)
        published = next(
            (
                layer / kind / key
                for layer in self.published
                if (layer / kind / key / "config.json").exists()
            ),
            None,
        )
        return Entry(self.root / kind / key, kind, config, published)

    def entry_by_key(self, kind: str, key: str) -> Entry | None:
        """The entry ``kind/key`` from its stored config, in the writable root or a published layer; None when
        no layer holds it."""
        for layer in [self.root, *self.published]:
            cfg = layer / kind / key / "config.json"
            if cfg.exists():
                return self.entry(kind, json.loads(cfg.read_text()))
        return None

    def entries(self, kind: str) -> list[Entry]:
        """Every entry of a kind that has a readable config, in the writable root or a published layer
        (each key once)."""
        out, seen = [], set()
        for layer in [self.root, *self.published]:
            for cfg in sorted((layer / kind).glob("*/config.json")):
                if cfg.parent.name in seen:
                    continue
                try:
                    out.append(self.entry(kind, json.loads(cfg.read_text())))
                except (json.JSONDecodeError, StoreError):
                    continue
                seen.add(cfg.parent.name)
        return out
