"""The robustness sweep: TRADES over a range of beta (plus MAT), per dataset and seed, evaluated with PGD.

Every model and every evaluation lives in the result store, so a chapter that asks for the sweep gets
cached results instantly and an interrupted sweep picks up where it stopped. Run it from the shell with
``python -m lib.sweep --profile cpu`` (the book's chapter calls the same functions).
"""
from __future__ import annotations

import time
from dataclasses import replace
from typing import Iterable

import pandas as pd
import torch
from tqdm.std import tqdm

from .attacks import evaluate
from .config import AttackConfig, ExperimentConfig, Profile, to_dict
from .data import load_dataset
from .store import ResultStore
from .train import RunSpec, TrainedModel, get_model

EVAL_CODE_VERSION = 1
EVAL_SEED = 1234


def sweep_specs(profile: Profile, experiment: str) -> list[RunSpec]:
    """The sweep's models for one experiment: every beta (TRADES, beta = 0 is standard) and MAT, every seed."""
    exp = profile.experiment(experiment)
    specs = []
    for seed in profile.seeds:
        for beta in profile.sweep.betas:
            specs.append(RunSpec(exp.data, exp.model, replace(exp.train, method="trades", beta=beta, seed=seed)))
        if profile.sweep.mat:
            specs.append(RunSpec(exp.data, exp.model, replace(exp.train, method="mat", beta=0.0, seed=seed)))
    return specs


def showcase_specs(profile: Profile, experiment: str) -> dict[str, RunSpec]:
    """The first seed's standard model, its largest-beta TRADES model and (if swept) its MAT model, by label."""
    first = [s for s in sweep_specs(profile, experiment) if s.train.seed == profile.seeds[0]]
    trades = [s for s in first if s.train.method == "trades"]
    out = {"standard": min(trades, key=lambda s: s.train.beta),
           f"TRADES β={max(profile.sweep.betas):g}": max(trades, key=lambda s: s.train.beta)}
    out.update({"MAT": s for s in first if s.train.method == "mat"})
    return out


def evaluate_model(trained: TrainedModel, exp: ExperimentConfig, store: ResultStore, attack: AttackConfig,
                   progress: bool = False) -> dict:
    """Clean and PGD accuracy of a stored model on the experiment's test subset, cached in the store."""
    config = {"model_key": trained.entry.key, "data": {"name": exp.data.name, "n": exp.eval.n,
                                                        "subset_seed": exp.data.subset_seed},
              "attack": to_dict(attack), "seed": EVAL_SEED, "code_version": EVAL_CODE_VERSION}
    entry = store.entry("evals", config).ensure()

    def compute() -> dict:
        x, y = load_dataset(exp.data.name, "test", exp.eval.n, exp.data.subset_seed)
        torch.manual_seed(EVAL_SEED)
        t0 = time.perf_counter()
        result = evaluate(trained.model, x, y, attack, exp.eval.batch_size, progress=progress,
                          desc=f"PGD-{attack.steps}x{attack.restarts} {trained.spec.label}").as_dict()
        result["seconds"] = time.perf_counter() - t0
        return result

    return entry.get_or_compute_json("result.json", compute)


def describe(spec: RunSpec) -> dict:
    t = spec.train
    return {"dataset": spec.data.name, "model": spec.model.name,
            "method": "MAT" if t.method == "mat" else ("standard" if t.beta == 0 else "TRADES"),
            "beta": t.beta if t.method == "trades" else float("nan"), "seed": t.seed}


def run_sweep(profile: Profile, store: ResultStore, device: str, experiments: Iterable[str] | None = None,
              progress: bool = True) -> pd.DataFrame:
    """Train (or fetch) and evaluate every model of the sweep; one row per model."""
    rows = []
    jobs = [(name, s) for name in (experiments or profile.run) for s in sweep_specs(profile, name)]
    for name, spec in tqdm(jobs, desc="robustness sweep", disable=not progress):
        exp = profile.experiment(name)
        trained = get_model(spec, store, device, progress=progress)
        result = evaluate_model(trained, exp, store, exp.eval.attack)
        rows.append({"experiment": name, **describe(spec), "clean_acc": result["clean_acc"], "pgd_acc": result["pgd_acc"],
                     "train_seconds": trained.train_seconds, "eval_seconds": result["seconds"],
                     "key": trained.entry.key})
    return pd.DataFrame(rows)


def masking_check(profile: Profile, store: ResultStore, device: str, experiment: str, spec: RunSpec,
                  progress: bool = True) -> dict:
    """PGD of the evaluation against the stronger masking attack (more steps, restarts) on one model.

    A large drop from the first to the second would mean the first overstated robustness (gradient masking).
    """
    exp = profile.experiment(experiment)
    trained = get_model(spec, store, device, progress=progress)
    weak = evaluate_model(trained, exp, store, exp.eval.attack, progress)
    strong = evaluate_model(trained, exp, store, exp.eval.masking_attack, progress)
    return {"experiment": experiment, **describe(spec), "clean_acc": weak["clean_acc"], "pgd_acc": weak["pgd_acc"],
            "strong_pgd_acc": strong["pgd_acc"], "weak_attack": f"PGD-{weak['steps']}",
            "strong_attack": f"PGD-{strong['steps']} x {strong['restarts']} restarts"}


def main(argv: list[str] | None = None) -> None:
    from .cli import load, stage_parser, user_errors

    parser = stage_parser("Train and evaluate the robustness sweep of a profile.")
    parser.add_argument("--experiment", action="append", help="restrict to these experiments (repeatable)")
    args = parser.parse_args(argv)
    t0 = time.perf_counter()
    with user_errors():
        profile, device = load(args)
        table = run_sweep(profile, ResultStore(), device, args.experiment)
    with pd.option_context("display.width", 200, "display.max_rows", 500):
        print(table.drop(columns=["key"]))
    print(f"sweep finished in {time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    main()


def summarize(table: pd.DataFrame) -> pd.DataFrame:
    """Mean, standard deviation, min and max over seeds of clean and PGD accuracy, per experiment and model."""
    keyed = table.assign(beta=table["beta"].fillna(-1.0))
    out = (keyed.groupby(["experiment", "method", "beta"], sort=False)
           .agg(seeds=("seed", "count"), clean_mean=("clean_acc", "mean"), clean_std=("clean_acc", "std"),
                pgd_mean=("pgd_acc", "mean"), pgd_std=("pgd_acc", "std"), pgd_min=("pgd_acc", "min"),
                pgd_max=("pgd_acc", "max"), train_seconds=("train_seconds", "mean"))
           .reset_index())
    out["beta"] = out["beta"].where(out["beta"] >= 0)
    return out
