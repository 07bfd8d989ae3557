"""The book's work as a list of store entries: what each stage would compute, without computing it.

Every stage (models, evaluations, pairs, attacks, validation, landscapes, ...) turns a profile into
``Task`` objects. A task knows its store folder (``kind``), the file that marks it done, how to resolve its
store key, and how to compute itself through the same get-or-compute path the chapters use, so running a
task twice computes once. Some keys depend on an upstream result (a prototype attack is keyed by the pairs
k-means chose): such a task's key is unknown (``None``) until that result is stored, and the list says so.
Some tasks exist only for some upstream results (a SEP model of the main comparison exists only if the
lambda sweep found a lambda of its sign): such a task's config is ``NOT_NEEDED`` once that is known, and it
counts as done. Plans therefore have the same tasks, in the same order, whatever the store holds.
Tasks are listed in dependency order: running them in order never computes anything twice.
"""

from __future__ import annotations

import contextlib
import fcntl
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from lib.core.errors import USER_ERRORS
from lib.core.store import ResultStore, unwritable

NOT_NEEDED: dict = {
    "not needed": True
}  # a task's config once upstream results show it has nothing to do


@dataclass(frozen=True)
class Task:
    """One store entry a stage would compute."""

    stage: str  # e.g. "models", "evals", "pairs", "attacks", "validation", "landscapes"
    label: str  # what a person reads: "mnist TRADES β=1 seed 0"
    kind: str  # the store folder
    result: str  # the file whose presence marks the entry done
    config: Callable[
        [], dict | None
    ]  # the entry's full config; None while an upstream result is missing,
    # NOT_NEEDED once upstream results show the entry is not needed
    compute: Callable[[], Any]  # computes (or reads) the entry through the store

    def key(self, store: ResultStore) -> str | None:
        cfg = self.config()
        return (
            None
            if cfg is None or cfg is NOT_NEEDED
            else store.entry(self.kind, cfg).key
        )

    def done(self, store: ResultStore) -> bool:
        try:
            cfg = self.config()
        except (
            USER_ERRORS
        ):  # a bad setting fails the task when it runs, with its message
            return False
        return cfg is NOT_NEEDED or (
            cfg is not None and store.entry(self.kind, cfg).has(self.result)
        )

    def line(self, store: ResultStore) -> str:
        """'stage  label  kind/key  done|to do' (key 'after upstream' when not yet known)."""
        done = False
        try:
            cfg = (
                self.config()
            )  # once: the key and whether the entry is done both come from it
            if cfg is NOT_NEEDED:
                return f"{self.stage:<11} {self.label:<48} {self.kind + '/(not needed)':<30} done"
            entry = None if cfg is None else store.entry(self.kind, cfg)
            where = (
                f"{self.kind}/{entry.key}" if entry else f"{self.kind}/(after upstream)"
            )
            done = entry is not None and entry.has(self.result)
        except USER_ERRORS as exc:
            where = f"{self.kind}/(error: {exc})"
        return f"{self.stage:<11} {self.label:<48} {where:<30} {'done' if done else 'to do'}"


@contextlib.contextmanager
def entry_lock(store: ResultStore, kind: str, key: str) -> Iterator[None]:
    """An exclusive lock on one store entry across processes and machines sharing the store's file system
    (``fcntl.flock`` on ``<root>/<kind>/<key>.lock``): two workers never compute the same entry. The lock
    dies with its process, so a killed worker never leaves an entry locked."""
    path = store.root / kind / f"{key}.lock"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle = open(path, "a")
    except OSError as exc:  # a read-only or full store: one line, not a traceback
        raise unwritable(path) from exc
    with handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def run_task(task: Task, store: ResultStore) -> tuple[str, float]:
    """Compute one task under its entry's lock unless it is done (checked again inside the lock, since another
    worker may have finished it meanwhile). Returns ("done" | "computed", seconds). A task whose key is still
    unknown (its upstream is missing) is computed without a lock: its compute path creates the upstream."""
    t0 = time.perf_counter()
    if task.config() is NOT_NEEDED:
        return "not needed", 0.0
    key = task.key(store)  # a bad setting raises here, with its one-line message
    if key is None:
        task.compute()
        return "computed", time.perf_counter() - t0
    with entry_lock(store, task.kind, key):
        if task.done(store):
            return "done", time.perf_counter() - t0
        task.compute()
    return "computed", time.perf_counter() - t0


def run_tasks(tasks: list[Task], store: ResultStore) -> list[tuple[Task, Exception]]:
    """Compute every task that is not done, in order; a failing task is reported and the others go on.
    Returns the failures (task, error)."""
    failures = []
    for task in tasks:
        try:
            run_task(task, store)
        except Exception as exc:  # noqa: BLE001 - reported with its task, never swallowed
            failures.append((task, exc))
    return failures
