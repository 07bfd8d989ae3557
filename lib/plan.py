"""Every store entry the book needs for a profile, in dependency order, listed or computed, in one
process or on Ray.

``plan(profile, store, device)`` asks each stage for its tasks (``lib.pipeline.task.Task``) without computing
anything: models, evaluations and the masking check, the motivation attacks, prototype pairs, prototype
attacks, validation, timing and the short-attack check, landscapes and surfaces, the SEP chapter's
models and their curvature and flatness, the cross-method models, the pooled models' flatness and the
fixed-budget attacks. From the shell::

    python -m lib.plan --profile smoke --list                   # stage, label, store key, done or to do
    python -m lib.plan --profile smoke                          # compute what is missing, here
    python -m lib.plan --profile cpu --engine ray --workers 2 --set threads=1
    python -m lib.plan --profile paper --engine ray --address auto --gpus-per-task 0.25
    python -m lib.plan --profile cpu --times                    # where the time went (from the run log)

Stages run in order; inside a stage the engine runs tasks side by side. Each task computes exactly its own
store entry under a per-entry file lock, so two workers never compute the same entry and a second run
computes nothing. A task gives the same numbers on either engine at the same thread count: a Ray worker
loads the same profile, sets up the same runtime (threads, determinism) and runs the same code. A killed
worker leaves a resumable partial entry (training checkpoints every epoch). A failing task is reported with
its label and error, the others go on, and the run exits non-zero at the end.

Every computed task and every run is appended to ``<RESULTS_DIR>/plan-log.jsonl`` (stage, label, kind, key,
seconds; a run's engine, workers, threads, wall time and peak memory), so ``--times`` prints the measured
per-stage and per-kind table of the work, and the wall time of each run, without recomputing anything.
"""

from __future__ import annotations

import json
import os
import resource
import time
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import ray

from lib.core.profile import Profile, load_profile, setup_runtime
from lib.core.store import ResultStore
from lib.pipeline.cli import overrides_of, stage_parser, user_errors
from lib.pipeline.evaluation import model_tasks
from lib.pipeline.explanation_attack import attack_tasks, pair_tasks
from lib.pipeline.landscapes import landscape_tasks
from lib.pipeline.roster import sweep_runs
from lib.pipeline.task import Task, run_task
from lib.studies import motivation
from lib.studies.budget import budget_tasks
from lib.studies.cross_method import cross_tasks
from lib.studies.curvature import curvature_tasks
from lib.studies.drivers import flatness_tasks
from lib.studies.prototypes import validation_tasks
from lib.studies.sep import sep_tasks
from lib.studies.sweep import eval_tasks

ENGINES = ("local", "ray")


def plan(profile: Profile, store: ResultStore, device: str) -> list[Task]:
    """The book's tasks for ``profile``, stage by stage in dependency order."""
    runs = sweep_runs(profile)
    experiments = list(profile.run)
    return (
        model_tasks(runs, store, device)
        + eval_tasks(profile, runs, store, device)
        + motivation.attack_tasks(profile, store, device)
        + pair_tasks(profile, experiments, store, device)
        + attack_tasks(profile, runs, store, device)
        + validation_tasks(profile, store, device)
        + landscape_tasks(profile, runs, store, device)
        + sep_tasks(profile, store, device)
        + curvature_tasks(profile, store, device)
        + cross_tasks(profile, store, device)
        + flatness_tasks(profile, store, device)
        + budget_tasks(profile, store, device)
    )


def stages(tasks: list[Task]) -> list[list[int]]:
    """Task indices grouped by stage, in plan order."""
    order: dict[str, list[int]] = {}
    for i, t in enumerate(tasks):
        order.setdefault(t.stage, []).append(i)
    return list(order.values())


RUN_LOG = "plan-log.jsonl"
TIME_FORMAT = "%Y-%m-%dT%H:%M:%S"  # a run's id (its start) and each task's finishing time, local time


def _append(store: ResultStore, record: Mapping[str, Any]) -> None:
    """One JSON line in the store's run log (appends are atomic for lines this short on local disks)."""
    store.root.mkdir(parents=True, exist_ok=True)
    with open(store.root / RUN_LOG, "a") as handle:
        handle.write(json.dumps(dict(record), ensure_ascii=False) + "\n")


def _say(
    task: Task,
    status: str,
    seconds: float,
    store: ResultStore | None = None,
    run: str | None = None,
) -> None:
    """Print a task's outcome; a computed task also goes to the run log (``RUN_LOG``) of ``store``."""
    print(f"[{task.stage}] {task.label}: {status} in {seconds:.1f} s", flush=True)
    if store is not None and status == "computed":
        _append(
            store,
            {
                "run": run,
                "stage": task.stage,
                "label": task.label,
                "kind": task.kind,
                "key": task.key(store),
                "seconds": round(seconds, 3),
                "finished": time.strftime(TIME_FORMAT),
            },
        )


def peak_memory_mib() -> float:
    """The largest resident set of this process or any of its reaped children, in MiB (Linux units); Ray
    workers are the raylet's children, not ours, so on Ray this is the driver's peak only."""
    kib = max(
        resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
        resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss,
    )
    return kib / 1024


def read_log(store: ResultStore) -> tuple[list[dict], list[dict]]:
    """The run log's task records (the latest per store key: a recomputed entry counts once) and run
    records, oldest first; empty lists when the store has no log."""
    path = store.root / RUN_LOG
    if not path.exists():
        return [], []
    records = [json.loads(line) for line in path.read_text().splitlines() if line]
    runs = [r for r in records if "wall_seconds" in r]
    latest = {(r["kind"], r["key"] or r["label"]): r for r in records if "stage" in r}
    return list(latest.values()), sorted(
        runs + interrupted_runs(records, runs), key=lambda r: r["run"]
    )


def interrupted_runs(records: list[dict], runs: list[dict]) -> list[dict]:
    """A run record (``wall_seconds`` None, ``interrupted`` True) for every run that logged tasks but never
    its own closing record (killed): its computed count and task time are known, its wall time is not. Task
    records that carry their finishing time give ``wall_at_least``: the seconds from the run's start (its id)
    to its last logged task, a lower bound on its wall time (None for older logs)."""
    finished = {r["run"] for r in runs}
    open_runs: dict[str, dict] = {}
    for r in records:
        if "stage" in r and r["run"] not in finished:
            entry = open_runs.setdefault(
                r["run"],
                {
                    "run": r["run"],
                    "computed": 0,
                    "task_seconds": 0.0,
                    "wall_seconds": None,
                    "interrupted": True,
                    "last": None,
                },
            )
            entry["computed"] += 1
            entry["task_seconds"] += r["seconds"]
            if "finished" in r:
                entry["last"] = max(entry["last"] or r["finished"], r["finished"])
    out = []
    for entry in open_runs.values():
        last = entry.pop("last")
        entry["wall_at_least"] = (
            None if last is None else _seconds_between(entry["run"], last)
        )
        out.append(entry)
    return out


def _seconds_between(start: str, end: str) -> float:
    """Seconds from ``start`` to ``end``, both in ``TIME_FORMAT``."""
    t0, t1 = (datetime.strptime(t, TIME_FORMAT) for t in (start, end))
    return (t1 - t0).total_seconds()


def describe_run(r: dict) -> str:
    """One line about a run record of ``read_log``: engine, workers, threads, computed, wall time; an
    interrupted run says what is known of its wall time."""
    if r.get("interrupted"):
        wall = (
            "its wall time and peak memory are unknown"
            if r.get("wall_at_least") is None
            else f"its wall time is at least {r['wall_at_least'] / 3600:.2f} h (start to last logged "
            "task) and its peak memory is unknown"
        )
        return (
            f"run {r['run']}: {r['computed']} computed ({r['task_seconds'] / 3600:.2f} h of task time), "
            f"interrupted: no closing record, so {wall}"
        )
    return (
        f"run {r['run']}: {r['computed']} computed, wall {r['wall_seconds'] / 3600:.2f} h, engine "
        f"{r['engine']}, workers {r['workers']}, threads {r['threads']}, peak memory "
        f"{r['peak_memory_mib']:.0f} MiB, {r['failed']} failed"
    )


def time_table(tasks: list[dict], by: str) -> list[tuple[str, int, float, float]]:
    """(name, computed tasks, hours, share of the total) per ``by`` ("stage" or "kind"), in first-seen
    order, from ``read_log``'s task records."""
    sums: dict[str, list[float]] = {}
    for r in tasks:
        entry = sums.setdefault(r[by], [0, 0.0])
        entry[0] += 1
        entry[1] += r["seconds"]
    total = sum(v[1] for v in sums.values()) or 1.0
    return [(k, int(n), sec / 3600, sec / total) for k, (n, sec) in sums.items()]


def print_times(store: ResultStore) -> None:
    """``--times``: the per-stage and per-kind compute time of every logged entry, and each run's wall
    time, engine and peak memory."""
    tasks, runs = read_log(store)
    if not tasks:
        print(f"no run log in {store.root} (it is written by runs of lib.plan)")
        return
    for by in ("stage", "kind"):
        print(f"{by:<16} {'tasks':>6} {'hours':>7} {'share':>6}")
        for name, n, hours, share in time_table(tasks, by):
            print(f"{name:<16} {n:>6} {hours:>7.2f} {100 * share:>5.0f}%")
        print()
    hours = sum(r["seconds"] for r in tasks) / 3600
    print(f"{len(tasks)} entries computed, {hours:.2f} h of task time in all")
    for r in runs:
        print(describe_run(r))


def run_local(
    profile: Profile, store: ResultStore, device: str, run: str | None = None
) -> list[tuple[Task, str]]:
    """Compute every missing task in this process, in order; returns the failures (task, error)."""
    tasks, failures = plan(profile, store, device), []
    for task in tasks:
        if task.done(store):
            continue
        try:
            _say(task, *run_task(task, store), store, run)
        except Exception as exc:  # noqa: BLE001 - reported with its task, never swallowed
            failures.append((task, f"{type(exc).__name__}: {exc}"))
            print(
                f"[{task.stage}] {task.label}: FAILED: {type(exc).__name__}: {exc}",
                flush=True,
            )
    return failures


def _ray_worker(
    profile_name: str,
    overrides: Mapping[str, Any],
    results_dir: str,
    index: int,
    label: str,
) -> tuple[int, str, float, str | None]:
    """Runs on a Ray worker: rebuild the same plan with this worker's device and run task ``index``."""
    profile = load_profile(profile_name, overrides)
    device = setup_runtime(profile)
    store = ResultStore(results_dir)
    task = plan(profile, store, device)[index]
    if task.label != label:
        return (
            index,
            "failed",
            0.0,
            f"plan mismatch: task {index} is {task.label!r}, expected {label!r}",
        )
    try:
        status, seconds = run_task(task, store)
        return index, status, seconds, None
    except Exception as exc:  # noqa: BLE001 - sent back to the driver, which reports it
        return index, "failed", 0.0, f"{type(exc).__name__}: {exc}"


def run_ray(
    profile_name: str,
    overrides: Mapping[str, Any],
    store: ResultStore,
    workers: int | None,
    address: str | None,
    gpus_per_task: float,
    run: str | None = None,
) -> list[tuple[Task, str]]:
    """Compute every missing task on Ray, stage by stage; at most ``workers`` tasks at once (on a local
    cluster also its CPU count). Returns the failures (task, error)."""

    profile = load_profile(profile_name, overrides)
    device = setup_runtime(profile)
    env = {
        k: os.environ[k]
        for k in (
            "DATA_DIR",
            "DATA_DOWNLOAD",
            "CUBLAS_WORKSPACE_CONFIG",
            "RESULTS_PUBLISHED",
            "STORE_TRACE",
        )
        if k in os.environ
    }
    runtime_env = {
        "env_vars": {
            **env,
            "RESULTS_DIR": str(store.root.resolve()),
            "TQDM_DISABLE": "1",
        }
    }
    tasks = plan(profile, store, device)
    if all(t.done(store) for t in tasks):
        return []  # nothing to compute: no cluster to start
    if address:
        ray.init(address=address, runtime_env=runtime_env, log_to_driver=False)
    else:
        # by default one worker per `threads` cores of this machine, so the cores are not oversubscribed
        workers = workers or max(1, (os.cpu_count() or 1) // profile.threads)
        ray.init(
            num_cpus=workers,
            runtime_env=runtime_env,
            log_to_driver=False,
            include_dashboard=False,
        )
    remote = ray.remote(num_cpus=1, num_gpus=gpus_per_task, max_retries=0)(_ray_worker)
    failures = []
    limit = workers or int(ray.cluster_resources().get("CPU", 1))
    try:
        for group in stages(tasks):
            todo = [i for i in group if not tasks[i].done(store)]
            pending: list = []
            while todo or pending:
                while todo and len(pending) < limit:
                    i = todo.pop(0)
                    pending.append(
                        remote.remote(
                            profile_name,
                            dict(overrides),
                            str(store.root.resolve()),
                            i,
                            tasks[i].label,
                        )
                    )
                ready, pending = ray.wait(pending, num_returns=1)
                index, status, seconds, error = ray.get(ready[0])
                if error:
                    failures.append((tasks[index], error))
                    print(
                        f"[{tasks[index].stage}] {tasks[index].label}: FAILED: {error}",
                        flush=True,
                    )
                else:
                    _say(tasks[index], status, seconds, store, run)
    finally:
        ray.shutdown()
    return failures


def main(argv: list[str] | None = None) -> None:

    parser = stage_parser(
        "List or compute every store entry the book needs for a profile."
    )
    parser.add_argument(
        "--list", action="store_true", help="print the tasks and whether each is done"
    )
    parser.add_argument(
        "--times",
        action="store_true",
        help="print the measured time per stage and kind from the store's run log",
    )
    parser.add_argument("--engine", choices=ENGINES, default="local")
    parser.add_argument(
        "--workers",
        type=int,
        help="tasks at once on Ray (default: a local cluster's cores / the profile's threads; "
        "on --address, the cluster's CPUs)",
    )
    parser.add_argument(
        "--address",
        help="a running Ray cluster ('auto' or host:port); default: start one here",
    )
    parser.add_argument(
        "--gpus-per-task",
        type=float,
        default=0.0,
        help="GPU share of each Ray task, e.g. 0.25",
    )
    args = parser.parse_args(argv)
    t0 = time.perf_counter()
    with user_errors():
        if args.workers is not None and args.workers < 1:
            raise SystemExit(
                f"error: --workers={args.workers} is not allowed: expected an integer >= 1"
            )
        if (
            not 0 <= args.gpus_per_task <= 1
            and not float(args.gpus_per_task).is_integer()
        ):
            raise SystemExit(
                f"error: --gpus-per-task={args.gpus_per_task} is not allowed: expected a fraction in "
                f"[0, 1] or a whole number"
            )
        overrides = overrides_of(args)
        profile = load_profile(args.profile, overrides)
        device = setup_runtime(profile)
        store = ResultStore()
        if args.times:
            print_times(store)
            return
        if args.list:
            tasks = plan(profile, store, device)
            for task in tasks:
                print(task.line(store))
            done = sum(t.done(store) for t in tasks)
            print(f"{len(tasks)} tasks, {done} done, {len(tasks) - done} to do")
            return
        run = time.strftime(TIME_FORMAT)
        workers = args.workers or (
            None if args.address else max(1, (os.cpu_count() or 1) // profile.threads)
        )
        if args.engine == "ray":
            failures = run_ray(
                args.profile,
                overrides,
                store,
                workers,
                args.address,
                args.gpus_per_task,
                run,
            )
        else:
            failures = run_local(profile, store, device, run)
        computed = sum(r["run"] == run for r in read_log(store)[0])
        if computed or failures:  # a run that found everything stored leaves no trace
            _append(
                store,
                {
                    "run": run,
                    "profile": args.profile,
                    "engine": args.engine,
                    "workers": workers if args.engine == "ray" else 1,
                    "threads": profile.threads,
                    "computed": computed,
                    "failed": len(failures),
                    "wall_seconds": round(time.perf_counter() - t0, 1),
                    "peak_memory_mib": round(peak_memory_mib(), 1),
                },
            )
    for task, error in failures:
        print(f"FAILED [{task.stage}] {task.label}: {error}")
    print(
        f"store filled for profile {args.profile!r} with engine {args.engine} in {time.perf_counter() - t0:.1f} s; "
        f"{len(failures)} task(s) failed"
    )
    if failures:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
