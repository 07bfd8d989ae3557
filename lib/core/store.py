"""A content-addressed result store: one folder per (kind, full resolved config).

``ResultStore(root).entry(kind, config)`` names the folder ``<root>/<kind>/<hash of config>/``. The entry
keeps its config as readable ``config.json``; an entry whose stored config differs from the one asked for
is never reused. Every write goes to a temporary file in the same folder and is renamed into place, so an
interrupted run leaves either the old file or the new one, never half a file. Tensors load with
``weights_only=True``. The root is ``$RESULTS_DIR`` (default ``./results``).
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
    """One folder of the store, bound to its config."""

    def __init__(self, path: Path, kind: str, config: dict):
        self.path = path
        self.kind = kind
        self.config = config
        self.key = path.name

    def __repr__(self) -> str:
        return f"Entry({self.kind}/{self.key})"

    def ensure(self) -> Entry:
        """Create the folder and its config.json; refuse a folder that holds another config."""
        self.path.mkdir(parents=True, exist_ok=True)
        cfg_path = self.path / "config.json"
        if cfg_path.exists():
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
        else:
            atomic_write_text(
                cfg_path, json.dumps(self.config, indent=2, sort_keys=True) + "\n"
            )
        return self

    def file(self, name: str) -> Path:
        return self.path / name

    def has(self, name: str) -> bool:
        return (self.path / name).exists()

    def save_json(self, name: str, obj: Any) -> None:
        self.ensure()
        atomic_write_text(
            self.file(name),
            json.dumps(obj, indent=2, sort_keys=True, allow_nan=False) + "\n",
        )

    def load_json(self, name: str) -> Any:
        self.ensure()
        try:
            return json.loads(self.file(name).read_text())
        except json.JSONDecodeError as exc:
            raise StoreError(f"{self.file(name)} is unreadable ({exc})") from None

    def save_torch(self, name: str, obj: Any) -> None:
        self.ensure()
        atomic_torch_save(self.file(name), obj)

    def load_torch(
        self, name: str, map_location: str | torch.device | None = "cpu"
    ) -> Any:
        self.ensure()
        return torch.load(self.file(name), map_location=map_location, weights_only=True)

    def remove(self, name: str) -> None:
        path = self.file(name)
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
        if self.has(name):
            return load(name)
        result = compute()
        save(name, result)
        return result


class ResultStore:
    """The store's root folder; hands out entries keyed by the hash of (kind, config)."""

    def __init__(self, root: str | os.PathLike | None = None):
        self.root = Path(
            root if root is not None else os.environ.get("RESULTS_DIR", "./results")
        ).expanduser()

    def __repr__(self) -> str:
        return f"ResultStore({str(self.root)!r})"

    def entry(self, kind: str, config: dict) -> Entry:
        if not kind or "/" in kind or kind.startswith("."):
            raise StoreError(
                f"kind={kind!r} is not allowed: expected a plain folder name"
            )
        return Entry(self.root / kind / config_key(kind, config), kind, config)

    def entries(self, kind: str) -> list[Entry]:
        """Every entry of a kind that has a readable config."""
        out = []
        for cfg in sorted((self.root / kind).glob("*/config.json")):
            try:
                out.append(Entry(cfg.parent, kind, json.loads(cfg.read_text())))
            except json.JSONDecodeError:
                continue
        return out
