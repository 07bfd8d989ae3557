"""The SEP experiment over runs: the lambda sweep, the choice of SEP_pos and SEP_neg by a rule on accuracy
alone, the main table of MAT against SEP_pos and SEP_neg over seeds, and the verdict on the paper's claim.

The rule that picks SEP_pos and SEP_neg reads only classification accuracy and collapse, never explanation
robustness, so the claim under test (explanation robustness moves while classification robustness stays
fixed) cannot steer the choice. It reads them on the images ``sep.choose_on`` names: a validation split
(training-pool images the profile does not train on), so that test accuracy and the attack pairs are
untouched by the choice, or the test subset where the profile trains on the whole pool. A run collapsed
when its loss was not finite or its clean accuracy sits at chance; collapsed runs are shown as such and
left out of every mean and ranking.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from lib.analysis.verdicts import (
    accuracy_shifts,
    choice_against_test,
    choose,
    dropped_by_old_lf_rule,
    robustness_by_role,
    sep_order_verdicts,
)
from lib.core.profile import Profile
from lib.core.store import ResultStore
from lib.pipeline.calibration import (
    calibration_tasks,
    clamp_effects,
    grid_check,
    profile_calibration,
)
from lib.pipeline.evaluation import (
    eval_task_of,
    live_after_training,
    model_key,
    model_task_of,
    model_tasks,
    stored_live,
)
from lib.pipeline.explanation_attack import (
    attack_task,
    main_table,
    pair_tasks,
    relation_table,
)
from lib.pipeline.roster import (
    ChosenSlots,
    base_role,
    extra_runs,
    lambda_models,
    lambda_runs,
    lambda_splits,
    lambda_table,
    main_runs,
    sep_slots,
    study_experiments,
    trades_runs,
)
from lib.pipeline.task import Task
from lib.pipeline.training import get_model


def lambda_robustness(
    profile: Profile, store: ResultStore, device: str, sweep: pd.DataFrame
) -> pd.DataFrame:
    """``sweep`` (from ``sweep_table``) with explanation robustness on the prototype pairs for every model of
    the lambda sweep that did not collapse, for SEP's own explanation method only (cost): L_start, L_end,
    relative reduction and the rank metric (NaN for collapsed runs)."""
    live_keys = set(sweep.loc[sweep["collapsed"] == "", "key"])
    live = [r for r in lambda_models(profile) if model_key(r) in live_keys]
    cols = [
        "l_start_1e-7",
        "l_end_1e-7",
        "relative_reduction",
        "spearman_to_target",
        "label_kept",
    ]
    table = relation_table(
        profile, store, device, (profile.sep.method,), live, progress=False
    )
    return sweep.merge(table[["key", *cols]], on="key", how="left")


PAPER_DATASET = {
    "mnist": "MNIST",
    "cifar10": "CIFAR-10",
}  # our dataset names -> the paper table's


PAPER_MODEL = {"convnet": "ConvNet", "resnet18": "ResNet18"}


PAPER_ROLE = {
    "Normal": "standard",
    "MAT": "MAT",
    "SEP_pos": "SEP_pos",
    "SEP_neg": "SEP_neg",
}


def paper_blocks(csv: str) -> pd.DataFrame:
    """The paper's main table per block (dataset, model), from its means (it reports no per-pair values, so
    no interval): whether L_end ranks SEP_pos < MAT < SEP_neg (``l_end_order``), the ratios of means in the
    columns of ``verdicts.sep_order_verdicts`` (``pos_ratio`` = MAT / SEP_pos, ``neg_ratio`` = SEP_neg / MAT,
    ``neg_over_pos``) and the PGD accuracy spread of the three in points."""
    paper = pd.read_csv(csv)
    rows = []
    for (ds, model), g in paper.groupby(["dataset", "model"], sort=False):
        g = g.set_index("method")
        le = g.loc[["SEP_pos", "MAT", "SEP_neg"], "l_end_1e-7"].to_numpy()
        adv = g.loc[["SEP_pos", "MAT", "SEP_neg"], "adv_acc_pct"].to_numpy()
        rows.append(
            {
                "dataset": ds,
                "model": model,
                "l_end_order": bool(le[0] < le[1] < le[2]),
                "pos_ratio": float(le[1] / le[0]),
                "neg_ratio": float(le[2] / le[1]),
                "neg_over_pos": float(le[2] / le[0]),
                "pgd_spread_points": float(np.ptp(adv)),
            }
        )
    return pd.DataFrame(rows)


def paper_block_of(dataset: str, model: str) -> tuple[str, str] | None:
    """The paper table's (dataset, model) block for one of ours, or None (e.g. Fashion-MNIST: not in it)."""
    if dataset in PAPER_DATASET and model in PAPER_MODEL:
        return PAPER_DATASET[dataset], PAPER_MODEL[model]
    return None


def with_paper(roles: pd.DataFrame, csv: str) -> pd.DataFrame:
    """``roles`` (from ``by_role``) with the paper's L_start and L_end of the same block and role beside ours
    (the paper reports gradient maps; NaN for other methods and for blocks the paper does not have)."""
    paper = (
        pd.read_csv(csv)
        .assign(role=lambda d: d["method"].map(PAPER_ROLE))
        .set_index(["dataset", "model", "role"])
    )
    out = roles.copy()
    for col in ("l_start_1e-7", "l_end_1e-7"):
        values = []
        for r in out.itertuples():
            block = paper_block_of(r.dataset, r.model)
            key = (*block, r.role) if block else None
            values.append(
                float(paper.loc[key, col])
                if key in paper.index and r.explanation == "gradient"
                else np.nan
            )
        out[f"paper_{col}"] = values
    return out


def against_paper(verdict: pd.DataFrame, roles: pd.DataFrame, csv: str) -> pd.DataFrame:
    """Our blocks beside the paper's, long: per experiment, one row per explanation method of ours, then one
    row for the paper's block of the same dataset and architecture (gradient maps) where it has one. Ours:
    each half of the order as its paired ratio with interval and status (``pos_*``: MAT / SEP_pos, ``neg_*``:
    SEP_neg / MAT, from ``verdicts.sep_order_verdicts``); the paper's: its ratio of means, without interval
    or status (it reports means only). Then SEP_neg / SEP_pos and the PGD accuracy spread. Parts a block of
    ours cannot show (SEP_pos or SEP_neg missing) are None / NaN."""
    paper = paper_blocks(csv).set_index(["dataset", "model"])
    info = roles.drop_duplicates("experiment").set_index("experiment")[
        ["dataset", "model"]
    ]
    cols = [
        *(f"{h}_{c}" for h in ("pos", "neg") for c in ("ratio", "lo", "hi", "status")),
        "neg_over_pos",
        "pgd_spread_points",
    ]
    rows = []
    for name, g in verdict.groupby("experiment", sort=False):
        for r in g.itertuples():
            rows.append(
                {
                    "experiment": name,
                    "source": f"ours: {r.explanation}",
                    **{c: getattr(r, c) for c in cols},
                }
            )
        block = paper_block_of(*info.loc[name])
        if block in paper.index:
            p = paper.loc[block]
            rows.append(
                {
                    "experiment": name,
                    "source": f"paper: {' '.join(block)}",
                    **{c: p[c] if c in p.index else None for c in cols},
                }
            )
    return pd.DataFrame(rows, columns=["experiment", "source", *cols])


def sep_tasks(profile: Profile, store: ResultStore, device: str) -> list[Task]:
    """The SEP chapter's work: the lambda grid's calibration, the extra experiments' standard and base
    models, the lambda sweep's models and evaluations (on the validation images too when ``sep.choose_on`` is 'validation'), the extra
    experiments' prototype pairs, then the main comparison's SEP models of the later seeds (and of the
    TRADES base), their evaluations, and the prototype attacks of every model the chapter compares that the
    prototype stage does not attack. Which lambda a SEP_pos or SEP_neg model has is known
    once the sweep's evaluations are stored: until then its key is 'after upstream', and a role for which
    no lambda qualified is not needed."""
    runs = extra_runs(profile) + lambda_runs(profile)
    tasks = calibration_tasks(profile, store, device)
    tasks += [replace(t, stage="sep-models") for t in model_tasks(runs, store, device)]
    tasks += [
        eval_task_of(
            "sep-evals",
            run.label,
            lambda r=run: r,
            lambda r=run: r,
            profile.experiment(run.experiment),
            store,
            device,
        )
        for run in runs
    ]
    if "validation" in lambda_splits(
        profile
    ):  # what the choice reads: every model of the sweep
        tasks += [
            eval_task_of(
                "sep-evals",
                run.label,
                lambda r=run: r,
                lambda r=run: r,
                profile.experiment(run.experiment),
                store,
                device,
                split="validation",
            )
            for run in lambda_models(profile)
        ]
    extras = [n for n in study_experiments(profile) if n not in profile.run]
    tasks += [
        replace(t, stage="sep-pairs")
        for t in pair_tasks(profile, extras, store, device)
    ]

    slot = ChosenSlots(profile, store, device)
    first = profile.seeds[0]
    slots = sep_slots(profile)
    trained_later = [
        t for t in slots if t[1] != first or t[3] != base_role(profile)
    ]  # not in the sweep
    for stage in ("sep-main-models", "sep-main-evals"):
        for name, seed, role, family in trained_later:
            label = f"{name} {role} on {family} seed {seed}"
            run_of = lambda a=(name, seed, role, family): slot(*a)
            compute_run = lambda a=(name, seed, role, family): slot(*a, compute=True)
            if stage == "sep-main-models":
                tasks.append(
                    model_task_of(stage, label, run_of, compute_run, store, device)
                )
            else:
                tasks.append(
                    eval_task_of(
                        stage,
                        label,
                        run_of,
                        compute_run,
                        profile.experiment(name),
                        store,
                        device,
                    )
                )
    for run in lambda_runs(
        profile
    ):  # the sweep's explanation robustness, SEP's own method
        tasks.append(
            replace(
                attack_task(
                    profile,
                    run.label,
                    lambda r=run: stored_live(r, store),
                    profile.sep.method,
                    store,
                    device,
                    lambda r=run: live_after_training(r, store, device),
                ),
                stage="sep-attacks",
            )
        )
    for method in profile.prototypes.methods:
        for run in extra_runs(profile):
            tasks.append(
                replace(
                    attack_task(
                        profile, run.label, lambda r=run: r, method, store, device
                    ),
                    stage="sep-attacks",
                )
            )
        for name, seed, role, family in slots:
            args = (name, seed, role, family)
            tasks.append(
                replace(
                    attack_task(
                        profile,
                        f"{name} {role} on {family} seed {seed}",
                        lambda a=args: slot(*a),
                        method,
                        store,
                        device,
                        lambda a=args: slot(*a, compute=True),
                    ),
                    stage="sep-attacks",
                )
            )
    return tasks


@dataclass
class SepResult:
    """Every table and verdict of the SEP chapter (chapter 5), computed once.

    ``sweep``: the lambda sweep (``roster.lambda_table``) with explanation robustness on the prototype pairs
    (``lambda_robustness``); ``chosen``: SEP_pos and SEP_neg per experiment (``verdicts.choose`` on the
    images ``choose_on`` names: ``sep.choose_on``); ``against_test``: with a validation choice, the lambda
    the rule picks on the validation images beside the one it would pick on the test images
    (``verdicts.choice_against_test``; None with a test choice); ``lf_rule``: the sweep's runs that the old
    collapse rule (L_f grown 100-fold) would have dropped and that now count
    (``verdicts.dropped_by_old_lf_rule``);
    ``histories``: per experiment, the training history of each lambda run (by its label);
    ``main``: the main table, one row per (model, explanation method), MAT base; ``roles``: its
    ``verdicts.robustness_by_role`` with the paper's L_start and L_end beside (``with_paper``); ``verdicts``:
    ``verdicts.sep_order_verdicts`` of ``main`` (paired); ``paper``: the paper's blocks (``paper_blocks``); ``side``:
    our blocks beside the paper's (``against_paper``). ``calibration``: L_f and the cross-entropy at
    initialisation per experiment, method and batch-norm mode with the lambdas the profile's rule derives
    (``pipeline.calibration.profile_calibration``); ``grid``: whether the profile's grid holds them, derived
    in the mode training uses (``grid_check``); ``clamp``: per experiment, what clamping SEP's noise to
    [0, 1] does to it (``clamp_effects``). The ``trades_*`` fields are SEP on a TRADES base (None
    where the profile has none): its main table, roles, order verdicts (base TRADES) and the accuracy shifts
    of SEP_pos and SEP_neg from TRADES (``verdicts.accuracy_shifts``). ``tolerance_points``: the choice rule's
    tolerance (``sep.tolerance_points``)."""

    sweep: pd.DataFrame
    chosen: pd.DataFrame
    against_test: pd.DataFrame | None
    lf_rule: pd.DataFrame
    histories: dict[str, dict[str, list[dict]]]
    main: pd.DataFrame
    roles: pd.DataFrame
    verdicts: pd.DataFrame
    paper: pd.DataFrame
    side: pd.DataFrame
    trades_main: pd.DataFrame | None
    trades_roles: pd.DataFrame | None
    trades_verdicts: pd.DataFrame | None
    trades_shifts: pd.DataFrame | None
    tolerance_points: float
    choose_on: str = "test"
    calibration: pd.DataFrame | None = None
    grid: pd.DataFrame | None = None
    clamp: dict[str, dict[str, float]] | None = None


def lambda_histories(
    profile: Profile, store: ResultStore, device: str
) -> dict[str, dict[str, list[dict]]]:
    """Per experiment, the per-epoch training history of each lambda run (keyed by its label, in sweep
    order)."""
    out: dict[str, dict[str, list[dict]]] = {}
    for run in lambda_runs(profile):
        out.setdefault(run.experiment, {})[run.kind.label] = get_model(
            run.spec, store, device, progress=False
        ).history
    return out


def sep_comparison(
    profile: Profile,
    store: ResultStore,
    device: str,
    paper_csv: str = "paper_table.csv",
) -> SepResult:
    """The SEP chapter's chain, once: the lambda sweep and its explanation robustness, the choice of SEP_pos
    and SEP_neg, the main comparison against MAT with its order verdicts and the paper's blocks beside, and
    SEP on a TRADES base. ``paper_csv``: the paper's main table (relative to the book's folder by default)."""
    tol, on = profile.sep.tolerance_points, profile.sep.choose_on
    calibration = profile_calibration(profile, store, device)
    sweep = lambda_robustness(
        profile, store, device, lambda_table(profile, store, device)
    )
    chosen = choose(sweep, tol, on)
    main = main_table(profile, store, device, main_runs(profile, chosen))
    roles = with_paper(robustness_by_role(main), paper_csv)
    verdicts = sep_order_verdicts(main)
    trades = trades_runs(profile, chosen)
    t_main = main_table(profile, store, device, trades) if trades else None
    t_roles = robustness_by_role(t_main) if trades else None
    return SepResult(
        sweep=sweep,
        chosen=chosen,
        against_test=choice_against_test(sweep, tol) if on == "validation" else None,
        lf_rule=dropped_by_old_lf_rule(sweep, tol, on),
        histories=lambda_histories(profile, store, device),
        main=main,
        roles=roles,
        verdicts=verdicts,
        paper=paper_blocks(paper_csv),
        side=against_paper(verdicts, roles, paper_csv),
        trades_main=t_main,
        trades_roles=t_roles,
        trades_verdicts=sep_order_verdicts(t_main, base="TRADES") if trades else None,
        trades_shifts=accuracy_shifts(t_roles, "TRADES", tol) if trades else None,
        tolerance_points=tol,
        choose_on=on,
        calibration=calibration,
        grid=grid_check(calibration, profile),
        clamp=clamp_effects(profile, store, device),
    )
