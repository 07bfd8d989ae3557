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

``$STORE_TRACE`` names a file to which every look-up appends a line ``has|read kind/key/name``: what a run
of the book reads, which ``lib.publish`` uses to choose what to publish.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from lib.core.errors import StoreError

KEY_LENGTH = 16
WITHHELD_SUFFIX = ".withheld.json"
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


def _atomic_write(path: Path, write: Callable[[Any], None]) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


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

    def _writable(self) -> None:
        """The writable folder with its config.json, for a write."""
        self.path.mkdir(parents=True, exist_ok=True)
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
        if (self.path / name).exists() or self.published is None:
            return None
        marker = self.published / (name + WITHHELD_SUFFIX)
        return json.loads(marker.read_text()) if marker.exists() else None

    def has(self, name: str) -> bool:
        """Whether the result ``name`` exists in some layer (a withheld published file counts)."""
        self._trace(name, "has")
        return self.file(name).exists() or self.withheld(name) is not None

    def save_json(self, name: str, obj: Any) -> None:
        self._writable()
        atomic_write_text(
            self.path / name,
            json.dumps(obj, indent=2, sort_keys=True, allow_nan=False) + "\n",
        )

    def _readable(self, name: str) -> Path:
        self.ensure()
        self._trace(name, "read")
        path = self.file(name)
        if not path.exists() and self.withheld(name) is not None:
            raise StoreError(
                f"{self.kind}/{self.key}/{name} is withheld by the published snapshot "
                f"({self.published}); it is recomputed into {self.path.parent.parent} when needed"
            )
        return path

    def load_json(self, name: str) -> Any:
        path = self._readable(name)
        try:
            return json.loads(path.read_text())
        except json.JSONDecodeError as exc:
            raise StoreError(f"{path} is unreadable ({exc})") from None

    def save_torch(self, name: str, obj: Any) -> None:
        self._writable()
        atomic_torch_save(self.path / name, obj)

    def load_torch(
        self, name: str, map_location: str | torch.device | None = "cpu"
    ) -> Any:
        path = self._readable(name)
        return torch.load(path, map_location=map_location, weights_only=True)

    def remove(self, name: str) -> None:
        """Remove ``name`` from the writable root (published layers are never changed)."""
        path = self.path / name
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
        if self.file(name).exists():
            return load(name)
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
