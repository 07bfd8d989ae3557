"""The book's work as tasks: a run fills the store once, a second run computes nothing, the Ray engine (two
workers on this machine) computes exactly the entries and numbers the local engine does, and a failing task
is reported by label while the others go on."""

import json
import os
import subprocess
import sys

import pytest
import torch
from conftest import PROJECT

TINY = [
    "--set",
    "seeds=[0]",
    "--set",
    "sweep.betas=[0.0, 1.0]",
    "--set",
    "sweep.mat=false",
    "--set",
    "threads=1",
    "--set",
    "experiments.digits.train.epochs=1",
    "--set",
    "experiments.digits.eval.n=120",
    "--set",
    "prototypes.n_clusters=3",
    "--set",
    "prototypes.victims_per_cluster=2",
    "--set",
    "prototypes.steps=10",
    "--set",
    "manipulation.steps=10",
    "--set",
    "manipulation.pairs=6",
    "--set",
    "prototypes.validation.n_images=4",
    "--set",
    "prototypes.validation.n_clusters=2",
    "--set",
    "prototypes.validation.victims_per_cluster=1",
    "--set",
    "prototypes.validation.targets_per_victim=1",
    "--set",
    "prototypes.validation.timing_pairs=[2]",
    "--set",
    "prototypes.validation.timing_steps=2",
    "--set",
    "landscape.victims=3",
    "--set",
    "landscape.points=5",
    "--set",
    "landscape.surface_points=5",
    "--set",
    "landscape.gaussian=1",
    "--set",
    "landscape.eig_max_iter=5",
    "--set",
    "landscape.trace_probes=2",
]


def tasks(results: str, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "RESULTS_DIR": results, "TQDM_DISABLE": "1"}
    return subprocess.run(
        [sys.executable, "-m", "lib.plan", "--profile", "smoke", *TINY, *args],
        cwd=PROJECT,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )


def stored(root):
    return sorted(
        str(p.relative_to(root))
        for p in root.rglob("*")
        if p.suffix in (".pt", ".json")
    )


def test_local_then_rerun_computes_nothing(tmp_path):
    first = tasks(str(tmp_path / "s"), "--engine", "local")
    assert first.returncode == 0, first.stdout + first.stderr
    assert "computed" in first.stdout
    listing = tasks(str(tmp_path / "s"), "--list")
    assert not [
        line for line in listing.stdout.splitlines()[:-1] if line.endswith("to do")
    ]
    assert listing.stdout.rstrip().endswith("done, 0 to do")
    again = tasks(str(tmp_path / "s"), "--engine", "local")
    assert again.returncode == 0 and "computed" not in again.stdout
    # the run log holds one record per computed entry and one per run that computed; --times reads it back
    records = [
        json.loads(line)
        for line in (tmp_path / "s" / "plan-log.jsonl").read_text().splitlines()
    ]
    runs = [r for r in records if "wall_seconds" in r]
    assert all(r["finished"] >= r["run"] for r in records if "stage" in r)
    n_computed = first.stdout.count(": computed in ")
    assert len(records) - len(runs) == n_computed
    assert [r["computed"] for r in runs] == [
        n_computed
    ]  # the rerun computed nothing, logged nothing
    times = tasks(str(tmp_path / "s"), "--times")
    assert times.returncode == 0, times.stderr
    assert f"{n_computed} entries computed" in times.stdout
    assert "models" in times.stdout and "engine local" in times.stdout


def test_ray_with_two_workers_matches_local_bit_for_bit(tmp_path):
    pytest.importorskip("ray")
    local, ray_ = tmp_path / "local", tmp_path / "ray"
    assert tasks(str(local), "--engine", "local").returncode == 0
    out = tasks(str(ray_), "--engine", "ray", "--workers", "2")
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    files = stored(local)
    assert files == stored(ray_) and any(f.endswith("model.pt") for f in files)
    for f in files:
        if f.endswith("model.pt"):
            a, b = (
                torch.load(local / f, weights_only=True),
                torch.load(ray_ / f, weights_only=True),
            )
            assert all(torch.equal(a[k], b[k]) for k in a), f


def test_a_failing_task_is_reported_and_the_others_go_on(tmp_path):
    # a pool larger than the test subset makes every validation task fail; everything else must still be done
    out = tasks(
        str(tmp_path / "s"),
        "--engine",
        "local",
        "--set",
        "prototypes.validation.n_images=500",
    )
    assert out.returncode == 1
    assert "FAILED [validation] digits standard seed 0 all pairs" in out.stdout
    assert "n_images=500" in out.stdout
    listing = tasks(
        str(tmp_path / "s"), "--list", "--set", "prototypes.validation.n_images=500"
    )
    lines = [
        line for line in listing.stdout.splitlines()[:-1] if line.endswith("to do")
    ]
    assert lines and all(line.startswith("validation") for line in lines)


def test_a_killed_run_is_read_as_interrupted_with_its_task_time(tmp_path):
    from lib.core.store import ResultStore
    from lib.plan import RUN_LOG, describe_run, read_log

    def task(run, key, seconds):
        return {"run": run, "stage": "models", "label": key, "kind": "models"} | {
            "key": key,
            "seconds": seconds,
        }

    closing = {"run": "B", "computed": 1, "wall_seconds": 7200.0, "engine": "ray"}
    closing |= {"workers": 2, "threads": 1, "peak_memory_mib": 900.0, "failed": 0}
    # run A was killed after two entries (no closing record); run B recomputed one of them and finished
    log = [task("A", "k1", 1800.0), task("A", "k2", 3600.0), task("B", "k2", 60.0)]
    store = ResultStore(tmp_path / "s")
    store.root.mkdir(parents=True)
    (store.root / RUN_LOG).write_text(
        "".join(json.dumps(r) + "\n" for r in [*log, closing])
    )
    tasks_, runs = read_log(store)
    assert sorted((t["key"], t["run"]) for t in tasks_) == [("k1", "A"), ("k2", "B")]
    assert [r["run"] for r in runs] == ["A", "B"]
    assert runs[0] == {
        "run": "A",
        "computed": 2,
        "task_seconds": 5400.0,
        "wall_seconds": None,
        "interrupted": True,
        "wall_at_least": None,  # this log's task records carry no finishing times
    }
    assert "interrupted" in describe_run(
        runs[0]
    ) and "1.50 h of task time" in describe_run(runs[0])
    assert "wall 2.00 h" in describe_run(runs[1])


def test_a_killed_run_with_finishing_times_gets_a_lower_bound_on_its_wall_time(
    tmp_path,
):
    from lib.core.store import ResultStore
    from lib.plan import RUN_LOG, describe_run, read_log

    start = "2026-01-01T23:00:00"
    log = [
        {"run": start, "stage": "models", "label": k, "kind": "models", "key": k}
        | {"seconds": 600.0, "finished": end}
        for k, end in (("k1", "2026-01-02T00:45:00"), ("k2", "2026-01-01T23:30:00"))
    ]
    store = ResultStore(tmp_path / "s")
    store.root.mkdir(parents=True)
    (store.root / RUN_LOG).write_text("".join(json.dumps(r) + "\n" for r in log))
    (run,) = read_log(store)[1]
    assert run["wall_at_least"] == 6300.0  # start to the last task, across midnight
    assert "wall time is at least 1.75 h" in describe_run(run)
