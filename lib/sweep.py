"""The robustness sweep: TRADES over a range of beta (plus MAT), per dataset and seed, evaluated with PGD.

``sweep_runs`` is the sweep as a list of runs, the list every later study measures by default. Every model
and every evaluation lives in the result store, so a chapter that asks for the sweep gets cached results
instantly and an interrupted sweep picks up where it stopped. Run it from the shell with
``python -m lib.sweep --profile cpu`` (the book's chapter calls the same functions).
"""
from __future__ import annotations

import time
from dataclasses import replace
from typing import Iterable, Sequence

import pandas as pd
import torch
from tqdm.std import tqdm

from .attacks import evaluate
from .components import AttackConfig, ExperimentConfig
from .config import Profile
from .data import load_dataset
from .runs import Run
from .schema import to_dict
from .store import ResultStore, config_key
from .train import RunSpec, TrainedModel, get_model
from .work import Task

EVAL_CODE_VERSION = 1
EVAL_SEED = 1234


def sweep_runs(profile: Profile, experiments: Iterable[str] | None = None) -> list[Run]:
    """The sweep's models: for each experiment (default: the profile's ``run``) and seed, every beta
    (TRADES; beta = 0 is standard training) and MAT."""
    runs = []
    for name in experiments or profile.run:
        exp = profile.experiment(name)
        for seed in profile.seeds:
            for beta in profile.sweep.betas:
                runs.append(Run(name, RunSpec(exp.data, exp.model, replace(exp.train, method="trades", beta=beta,
                                                                           seed=seed))))
            if profile.sweep.mat:
                runs.append(Run(name, RunSpec(exp.data, exp.model, replace(exp.train, method="mat", beta=0.0,
                                                                           seed=seed))))
    return runs


def first_seed(runs: Sequence[Run], profile: Profile) -> list[Run]:
    return [r for r in runs if r.seed == profile.seeds[0]]


def showcase_runs(profile: Profile, experiment: str) -> dict[str, Run]:
    """The first seed's standard model, its largest-beta TRADES model and (if swept) its MAT model, by label."""
    first = first_seed(sweep_runs(profile, [experiment]), profile)
    trades = [r for r in first if r.spec.train.method == "trades"]
    chosen = [min(trades, key=lambda r: r.spec.train.beta), max(trades, key=lambda r: r.spec.train.beta)]
    chosen += [r for r in first if r.spec.train.method == "mat"]
    return {r.kind.label: r for r in chosen}


def model_key(run: Run | RunSpec) -> str:
    """The store key of a run's model: a hash of its configuration (nothing is trained or read)."""
    spec = run.spec if isinstance(run, Run) else run
    return config_key("models", spec.store_config())


def eval_config(model_key_: str, exp: ExperimentConfig, attack: AttackConfig) -> dict:
    """What an evaluation's result depends on: the model, the test subset, the attack and a code version."""
    return {"model_key": model_key_, "data": {"name": exp.data.name, "n": exp.eval.n,
                                              "subset_seed": exp.data.subset_seed},
            "attack": to_dict(attack), "seed": EVAL_SEED, "code_version": EVAL_CODE_VERSION}


def evaluate_model(trained: TrainedModel, exp: ExperimentConfig, store: ResultStore, attack: AttackConfig,
                   progress: bool = False) -> dict:
    """Clean and PGD accuracy of a stored model on the experiment's test subset, cached in the store."""
    entry = store.entry("evals", eval_config(trained.entry.key, exp, attack)).ensure()

    def compute() -> dict:
        x, y = load_dataset(exp.data.name, "test", exp.eval.n, exp.data.subset_seed)
        torch.manual_seed(EVAL_SEED)
        t0 = time.perf_counter()
        result = evaluate(trained.model, x, y, attack, exp.eval.batch_size, progress=progress,
                          desc=f"PGD-{attack.steps}x{attack.restarts} {trained.spec.label}").as_dict()
        result["seconds"] = time.perf_counter() - t0
        return result

    return entry.get_or_compute_json("result.json", compute)


def run_sweep(profile: Profile, store: ResultStore, device: str, runs: Sequence[Run] | None = None,
              progress: bool = True) -> pd.DataFrame:
    """Train (or fetch) and evaluate every run (default: the sweep); one row per model."""
    rows = []
    for run in tqdm(runs or sweep_runs(profile), desc="robustness sweep", disable=not progress):
        exp = profile.experiment(run.experiment)
        trained = get_model(run.spec, store, device, progress=progress)
        result = evaluate_model(trained, exp, store, exp.eval.attack)
        rows.append({**run.describe(), "clean_acc": result["clean_acc"], "pgd_acc": result["pgd_acc"],
                     "train_seconds": trained.train_seconds, "eval_seconds": result["seconds"],
                     "key": trained.entry.key})
    return pd.DataFrame(rows)


def summarize(table: pd.DataFrame) -> pd.DataFrame:
    """Mean, standard deviation, min and max over seeds of clean and PGD accuracy, per experiment and kind
    (in the order the runs came); the standard deviation is missing (not 0) for a single seed."""
    return (table.groupby(["experiment", "kind"], sort=False)
            .agg(method=("method", "first"), beta=("beta", "first"), seeds=("seed", "count"),
                 clean_mean=("clean_acc", "mean"), clean_std=("clean_acc", "std"), clean_min=("clean_acc", "min"),
                 clean_max=("clean_acc", "max"), pgd_mean=("pgd_acc", "mean"),
                 pgd_std=("pgd_acc", "std"), pgd_min=("pgd_acc", "min"), pgd_max=("pgd_acc", "max"),
                 train_seconds=("train_seconds", "mean"))
            .reset_index())


def pgd_rises_with_beta(summary: pd.DataFrame, experiment: str, tolerance: float = 0.01) -> bool:
    """Whether mean PGD accuracy (a ``summarize`` table) rises with beta at every step of the sweep of
    ``experiment`` (standard training, then TRADES by increasing beta; MAT left out), a fall of at most
    ``tolerance`` (accuracy, 0.01 = one point) counting as no fall."""
    tr = summary[(summary["experiment"] == experiment) & (summary["method"] != "MAT")]
    return bool((tr["pgd_mean"].diff().dropna() >= -tolerance).all())


def most_robust(table: pd.DataFrame, profile: Profile, experiment: str) -> Run:
    """The first seed's model of ``experiment`` with the highest PGD accuracy in a ``run_sweep`` table."""
    rows = table[(table["experiment"] == experiment) & (table["seed"] == profile.seeds[0])]
    key = rows.loc[rows["pgd_acc"].idxmax(), "key"]
    by_key = {model_key(r): r for r in sweep_runs(profile, [experiment])}
    return by_key[key]


def masking_check(profile: Profile, store: ResultStore, device: str, run: Run, progress: bool = True) -> dict:
    """PGD of the evaluation against the stronger masking attack (more steps, restarts) on one model.

    A large drop from the first to the second would mean the first overstated robustness (gradient masking).
    """
    exp = profile.experiment(run.experiment)
    trained = get_model(run.spec, store, device, progress=progress)
    weak = evaluate_model(trained, exp, store, exp.eval.attack, progress)
    strong = evaluate_model(trained, exp, store, exp.eval.masking_attack, progress)
    return {**run.describe(), "clean_acc": weak["clean_acc"], "pgd_acc": weak["pgd_acc"],
            "strong_pgd_acc": strong["pgd_acc"], "weak_attack": f"PGD-{weak['steps']}",
            "strong_attack": f"PGD-{strong['steps']} x {strong['restarts']} restarts",
            "drop_points": 100 * (weak["pgd_acc"] - strong["pgd_acc"])}


# ------------------------------------------------------------------------------------------------
# the stage's work, listed without computing it


def model_tasks(runs: Sequence[Run], store: ResultStore, device: str) -> list[Task]:
    return [Task("models", r.label, "models", "model.pt", lambda r=r: r.spec.store_config(),
                 lambda r=r: get_model(r.spec, store, device, progress=False)) for r in runs]


def eval_tasks(profile: Profile, runs: Sequence[Run], store: ResultStore, device: str) -> list[Task]:
    """The PGD evaluation of every run, and the masking check of each experiment's most robust first-seed
    model (its key is known once the evaluations are stored)."""
    tasks = []
    for r in runs:
        exp = profile.experiment(r.experiment)
        tasks.append(Task("evals", r.label, "evals", "result.json",
                          lambda r=r, exp=exp: eval_config(model_key(r), exp, exp.eval.attack),
                          lambda r=r, exp=exp: evaluate_model(get_model(r.spec, store, device, progress=False),
                                                              exp, store, exp.eval.attack)))
    for name in dict.fromkeys(r.experiment for r in runs):
        exp = profile.experiment(name)
        mine = first_seed([r for r in runs if r.experiment == name], profile)

        def strongest(mine=mine, exp=exp) -> Run | None:
            accs = {}
            for r in mine:
                entry = store.entry("evals", eval_config(model_key(r), exp, exp.eval.attack))
                if not entry.has("result.json"):
                    return None
                accs[r] = entry.load_json("result.json")["pgd_acc"]
            return max(accs, key=accs.get) if accs else None

        def config(strongest=strongest, exp=exp) -> dict | None:
            r = strongest()
            return None if r is None else eval_config(model_key(r), exp, exp.eval.masking_attack)

        def compute(strongest=strongest) -> dict:
            return masking_check(profile, store, device, strongest(), progress=False)

        tasks.append(Task("masking", f"{name} most robust model (first seed)", "evals", "result.json", config,
                          compute))
    return tasks


def main(argv: list[str] | None = None) -> None:
    from .cli import load, stage_parser, user_errors

    parser = stage_parser("Train and evaluate the robustness sweep of a profile.")
    parser.add_argument("--experiment", action="append", help="restrict to these experiments (repeatable)")
    args = parser.parse_args(argv)
    t0 = time.perf_counter()
    with user_errors():
        profile, device = load(args)
        table = run_sweep(profile, ResultStore(), device, sweep_runs(profile, args.experiment))
    with pd.option_context("display.width", 200, "display.max_rows", 500):
        print(table.drop(columns=["key"]))
    print(f"sweep finished in {time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    main()
