"""The robustness sweep: TRADES over a range of beta (plus MAT), per dataset and seed, evaluated with PGD.

``sweep_runs`` is the sweep as a list of runs, the list every later study measures by default. Every model
and every evaluation lives in the result store, so a chapter that asks for the sweep gets cached results
instantly and an interrupted sweep picks up where it stopped. Run it from the shell with
``python -m lib.studies.sweep --profile cpu`` (the book's chapter calls the same functions).
``sweep_result`` gathers every table and verdict the chapter shows in one ``SweepResult``.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

import pandas as pd
from tqdm.std import tqdm

from lib.analysis.verdicts import masking_suspected, pgd_rises_with_beta
from lib.core.profile import Profile
from lib.core.store import ResultStore
from lib.pipeline.cli import load, stage_parser, user_errors
from lib.pipeline.evaluation import eval_config, evaluate_model, model_key
from lib.pipeline.roster import first_seed, sweep_runs
from lib.pipeline.runs import Run
from lib.pipeline.task import Task
from lib.pipeline.training import get_model


def run_sweep(
    profile: Profile,
    store: ResultStore,
    device: str,
    runs: Sequence[Run] | None = None,
    progress: bool = True,
) -> pd.DataFrame:
    """Train (or fetch) and evaluate every run (default: the sweep); one row per model."""
    rows = []
    for run in tqdm(
        runs or sweep_runs(profile), desc="robustness sweep", disable=not progress
    ):
        exp = profile.experiment(run.experiment)
        trained = get_model(run.spec, store, device, progress=progress)
        result = evaluate_model(trained, exp, store, exp.eval.attack)
        rows.append(
            {
                **run.describe(),
                "clean_acc": result["clean_acc"],
                "pgd_acc": result["pgd_acc"],
                "train_seconds": trained.train_seconds,
                "eval_seconds": result["seconds"],
                "key": trained.entry.key,
            }
        )
    return pd.DataFrame(rows)


def summarize(table: pd.DataFrame) -> pd.DataFrame:
    """Mean, standard deviation, min and max over seeds of clean and PGD accuracy, per experiment and kind
    (in the order the runs came); the standard deviation is missing (not 0) for a single seed."""
    return (
        table.groupby(["experiment", "kind"], sort=False)
        .agg(
            family=("family", "first"),
            beta=("beta", "first"),
            seeds=("seed", "count"),
            clean_mean=("clean_acc", "mean"),
            clean_std=("clean_acc", "std"),
            clean_min=("clean_acc", "min"),
            clean_max=("clean_acc", "max"),
            pgd_mean=("pgd_acc", "mean"),
            pgd_std=("pgd_acc", "std"),
            pgd_min=("pgd_acc", "min"),
            pgd_max=("pgd_acc", "max"),
            train_seconds=("train_seconds", "mean"),
        )
        .reset_index()
    )


def most_robust(table: pd.DataFrame, profile: Profile, experiment: str) -> Run:
    """The first seed's model of ``experiment`` with the highest PGD accuracy in a ``run_sweep`` table."""
    rows = table[
        (table["experiment"] == experiment) & (table["seed"] == profile.seeds[0])
    ]
    key = rows.loc[rows["pgd_acc"].idxmax(), "key"]
    by_key = {model_key(r): r for r in sweep_runs(profile, [experiment])}
    return by_key[key]


def masking_check(
    profile: Profile, store: ResultStore, device: str, run: Run, progress: bool = True
) -> dict:
    """PGD of the evaluation against the stronger masking attack (more steps, restarts) on one model.

    A large drop from the first to the second would mean the first overstated robustness (gradient masking).
    """
    exp = profile.experiment(run.experiment)
    trained = get_model(run.spec, store, device, progress=progress)
    weak = evaluate_model(trained, exp, store, exp.eval.attack, progress)
    strong = evaluate_model(trained, exp, store, exp.eval.masking_attack, progress)
    return {
        **run.describe(),
        "clean_acc": weak["clean_acc"],
        "pgd_acc": weak["pgd_acc"],
        "strong_pgd_acc": strong["pgd_acc"],
        "weak_attack": f"PGD-{weak['steps']}",
        "strong_attack": f"PGD-{strong['steps']} x {strong['restarts']} restarts",
        "drop_points": 100 * (weak["pgd_acc"] - strong["pgd_acc"]),
    }


def settings_table(profile: Profile) -> pd.DataFrame:
    """One row per experiment of the profile: every training and evaluation setting, warm-ups included."""
    rows = []
    for name in profile.run:
        e = profile.experiment(name)
        t = e.train
        rows.append(
            {
                "experiment": name,
                "train images": e.data.n_train or "all",
                "test images": e.eval.n or "all",
                "model": f"{e.model.name} (width {e.model.width})",
                "epochs": t.epochs,
                "batch": t.batch_size,
                "lr (peak, cosine)": t.lr,
                "lr warm-up (epochs)": t.warmup_epochs,
                "eps": round(t.attack.eps, 4),
                "eps warm-up (epochs)": t.eps_warmup_epochs,
                "train attack": f"PGD-{t.attack.steps}, step {t.attack.step_size:.4g}",
                "eval attack": f"PGD-{e.eval.attack.steps}, step {e.eval.attack.step_size:.4g}",
                "augmentation": "crop + flip" if t.augment else "none",
            }
        )
    return pd.DataFrame(rows).set_index("experiment")


def first_seed_histories(
    profile: Profile, store: ResultStore, device: str, experiment: str
) -> dict:
    """The training history (one dict per epoch) of each first-seed model of ``experiment``, by label."""
    return {
        r.kind.label: get_model(r.spec, store, device, progress=False).history
        for r in first_seed(sweep_runs(profile, [experiment]), profile)
    }


@dataclass
class SweepResult:
    """Every table and verdict of the sweep chapter."""

    settings: pd.DataFrame  # ``settings_table``: one row per experiment
    table: pd.DataFrame  # ``run_sweep``: one row per model
    summary: pd.DataFrame  # ``summarize``: per experiment and kind, over seeds
    pgd_rises: dict[str, bool]  # per experiment: ``pgd_rises_with_beta``
    histories: dict[
        str, dict[str, list[dict]]
    ]  # per experiment: ``first_seed_histories``
    checks: (
        pd.DataFrame
    )  # per experiment: ``masking_check`` of the most robust first-seed model
    worst_drop: float  # the largest drop (points) under the stronger attack
    masking: bool  # ``masking_suspected(worst_drop)``


def sweep_result(
    profile: Profile, store: ResultStore, device: str, progress: bool = False
) -> SweepResult:
    """The sweep chapter's chain: train (or fetch) and evaluate the sweep, summarise over seeds, the training
    histories and the gradient-masking check of each experiment's most robust model."""
    table = run_sweep(profile, store, device, progress=progress)
    summary = summarize(table)
    checks = pd.DataFrame(
        [
            masking_check(
                profile,
                store,
                device,
                most_robust(table, profile, name),
                progress=progress,
            )
            for name in profile.run
        ]
    )
    worst = float(checks["drop_points"].max())
    return SweepResult(
        settings=settings_table(profile),
        table=table,
        summary=summary,
        pgd_rises={name: pgd_rises_with_beta(summary, name) for name in profile.run},
        histories={
            name: first_seed_histories(profile, store, device, name)
            for name in profile.run
        },
        checks=checks,
        worst_drop=worst,
        masking=masking_suspected(worst),
    )


def eval_tasks(
    profile: Profile, runs: Sequence[Run], store: ResultStore, device: str
) -> list[Task]:
    """The PGD evaluation of every run, and the masking check of each experiment's most robust first-seed
    model (its key is known once the evaluations are stored)."""
    tasks = []
    for r in runs:
        exp = profile.experiment(r.experiment)
        tasks.append(
            Task(
                "evals",
                r.label,
                "evals",
                "result.json",
                lambda r=r, exp=exp: eval_config(model_key(r), exp, exp.eval.attack),
                lambda r=r, exp=exp: evaluate_model(
                    get_model(r.spec, store, device, progress=False),
                    exp,
                    store,
                    exp.eval.attack,
                ),
            )
        )
    for name in dict.fromkeys(r.experiment for r in runs):
        exp = profile.experiment(name)
        mine = first_seed([r for r in runs if r.experiment == name], profile)

        def strongest(mine=mine, exp=exp) -> Run | None:
            accs = {}
            for r in mine:
                entry = store.entry(
                    "evals", eval_config(model_key(r), exp, exp.eval.attack)
                )
                if not entry.has("result.json"):
                    return None
                accs[r] = entry.load_json("result.json")["pgd_acc"]
            return max(accs, key=accs.get) if accs else None

        def config(strongest=strongest, exp=exp) -> dict | None:
            r = strongest()
            return (
                None
                if r is None
                else eval_config(model_key(r), exp, exp.eval.masking_attack)
            )

        def compute(strongest=strongest) -> dict:
            return masking_check(profile, store, device, strongest(), progress=False)

        tasks.append(
            Task(
                "masking",
                f"{name} most robust model (first seed)",
                "evals",
                "result.json",
                config,
                compute,
            )
        )
    return tasks


def main(argv: list[str] | None = None) -> None:

    parser = stage_parser("Train and evaluate the robustness sweep of a profile.")
    parser.add_argument(
        "--experiment",
        action="append",
        help="restrict to these experiments (repeatable)",
    )
    args = parser.parse_args(argv)
    t0 = time.perf_counter()
    with user_errors():
        profile, device = load(args)
        table = run_sweep(
            profile, ResultStore(), device, sweep_runs(profile, args.experiment)
        )
    with pd.option_context("display.width", 200, "display.max_rows", 500):
        print(table.drop(columns=["key"]))
    print(f"sweep finished in {time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    main()
