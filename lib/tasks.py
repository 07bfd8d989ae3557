"""Every store entry the book needs for a profile, in dependency order, listed or computed.

``plan(profile, store, device)`` asks each stage for its tasks (``lib.work.Task``) without computing
anything: models, evaluations and the masking check, the motivation attacks, prototype pairs, prototype
attacks, validation, timing and the short-attack check, landscapes and surfaces. From the shell::

    python -m lib.tasks --profile smoke --list     # one line per task: stage, label, store key, done or to do
    python -m lib.tasks --profile smoke            # compute what is missing, in order

A second run computes nothing. Keys that depend on an upstream result (the pairs k-means chose) show as
"(after upstream)" until that result is stored.
"""
from __future__ import annotations

import time

from . import landscape_study, motivation, prototype_study, sweep
from .config import Profile
from .store import ResultStore
from .work import Task, run_tasks


def plan(profile: Profile, store: ResultStore, device: str) -> list[Task]:
    """The book's tasks for ``profile``, stage by stage in dependency order."""
    runs = sweep.sweep_runs(profile)
    experiments = list(profile.run)
    return (sweep.model_tasks(runs, store, device) + sweep.eval_tasks(profile, runs, store, device)
            + motivation.attack_tasks(profile, store, device)
            + prototype_study.pair_tasks(profile, experiments, store, device)
            + prototype_study.attack_tasks(profile, runs, store, device)
            + prototype_study.validation_tasks(profile, store, device)
            + landscape_study.landscape_tasks(profile, runs, store, device))


def main(argv: list[str] | None = None) -> None:
    from .cli import load, stage_parser, user_errors

    parser = stage_parser("List or compute every store entry the book needs for a profile.")
    parser.add_argument("--list", action="store_true", help="print the tasks and whether each is done")
    args = parser.parse_args(argv)
    t0 = time.perf_counter()
    with user_errors():
        profile, device = load(args)
        store = ResultStore()
        tasks = plan(profile, store, device)
        if args.list:
            for task in tasks:
                print(task.line(store))
            done = sum(t.done(store) for t in tasks)
            print(f"{len(tasks)} tasks, {done} done, {len(tasks) - done} to do")
            return
        failures = run_tasks(tasks, store)
    for task, exc in failures:
        print(f"FAILED {task.stage} {task.label}: {type(exc).__name__}: {exc}")
    print(f"{len(tasks)} tasks checked in {time.perf_counter() - t0:.0f} s; {len(failures)} failed")
    if failures:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
