"""Explanation robustness at a fixed budget (issue 12, part 4, beyond the paper).

The reference attack has no ball: how far its final loss stays from the target mixes how far the maps start
apart with how far the input may travel. Here the same attack runs inside the L-inf ball of the
experiment's PGD radius (``pipeline.explanation_attack.budget_eps``), the ball in which classification robustness is
measured, on the robustness sweep and the SEP chapter's models, for ``sep.method`` (cost). The questions are
those of the unbounded attack: does classification robustness go with explanation robustness across the
sweep, does SEP order the models, and (``drivers_study``) does flatness or the start loss explain it?
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import pandas as pd

from lib.analysis.stats import correlation_table, reading
from lib.analysis.verdicts import (
    budget_agreement,
    robustness_by_role,
    sep_order_verdicts,
)
from lib.core.profile import Profile
from lib.core.store import ResultStore
from lib.pipeline.evaluation import model_key
from lib.pipeline.explanation_attack import (
    attack_task,
    budget_eps,
    main_table,
    relation_table,
)
from lib.pipeline.roster import (
    base_role,
    budget_runs,
    chapter_model_slots,
    main_runs,
    sweep_runs,
)
from lib.pipeline.runs import Run
from lib.pipeline.task import Task


def budget_relation(
    profile: Profile, store: ResultStore, device: str, runs: list[Run]
) -> pd.DataFrame:
    """``pipeline.explanation_attack.relation_table`` of ``runs`` for ``sep.method``, inside the budget's ball."""
    return relation_table(
        profile, store, device, (profile.sep.method,), runs, progress=False, budget=True
    )


def bounded_vs_unbounded(
    unbounded: pd.DataFrame, bounded: pd.DataFrame
) -> pd.DataFrame:
    """Per experiment: mean L_end and relative reduction of the same models under both attacks, and the share
    of models whose bounded L_end is above the unbounded one by more than 1 % (the ball held the attack
    back)."""
    cols = ["key", "explanation", "l_end_1e-7", "relative_reduction"]
    both = unbounded[["experiment", *cols]].merge(
        bounded[cols], on=["key", "explanation"], suffixes=("", "_budget")
    )
    rows = []
    for name, g in both.groupby("experiment", sort=False):
        rows.append(
            {
                "experiment": name,
                "models": len(g),
                "l_end": g["l_end_1e-7"].mean(),
                "l_end_budget": g["l_end_1e-7_budget"].mean(),
                "reduction": g["relative_reduction"].mean(),
                "reduction_budget": g["relative_reduction_budget"].mean(),
                "held_back": float(
                    (g["l_end_1e-7_budget"] > 1.01 * g["l_end_1e-7"]).mean()
                ),
            }
        )
    return pd.DataFrame(rows)


def robustness_correlations(
    unbounded: pd.DataFrame, bounded: pd.DataFrame
) -> pd.DataFrame:
    """Spearman's rho (bootstrap interval over models) of PGD accuracy with L_end and with the relative
    reduction per experiment, for the unbounded and the bounded attack, with the reading ('goes with' /
    'goes against' classification robustness, read so that higher L_end and lower reduction are more
    robust, or 'no clear relation')."""
    out = []
    for attack, table in (("unbounded", unbounded), ("fixed budget", bounded)):
        corr = correlation_table(
            table, ["experiment"], ["pgd_acc"], ["l_end_1e-7", "relative_reduction"]
        )
        corr["attack"] = attack
        out.append(corr)
    corr = pd.concat(out, ignore_index=True)
    sign = corr["y"].map({"l_end_1e-7": 1, "relative_reduction": -1})
    corr["reading"] = [
        reading(r.lo, r.hi, "goes with", "goes against", sign=int(s), n=r.n)
        for r, s in zip(corr.itertuples(), sign)
    ]
    return corr


@dataclass
class BudgetResult:
    """Everything the fixed-budget part shows (``budget_result``), for ``sep.method``.

    ``bounded``: ``budget_relation`` of ``budget_runs``; ``unbounded``: the same models' rows of the unbounded
    relation table; ``comparison``: ``bounded_vs_unbounded``; ``robustness``: ``robustness_correlations`` over
    the robustness sweep; ``agreement``: ``analysis.verdicts.budget_agreement`` of it (share per attack);
    ``roles`` and ``verdicts``: ``robustness_by_role`` and ``sep_order_verdicts`` (paired, base
    ``roster.base_role``) of the SEP chapter's main comparison inside the ball; ``eps``: the ball's radius
    per experiment; ``reach``: steps times learning rate of the attack (how far a pixel moves when each step
    has the learning rate's size)."""

    bounded: pd.DataFrame
    unbounded: pd.DataFrame
    comparison: pd.DataFrame
    robustness: pd.DataFrame
    agreement: dict[str, float]
    roles: pd.DataFrame
    verdicts: pd.DataFrame
    eps: dict[str, float]
    reach: float


def budget_result(
    profile: Profile,
    store: ResultStore,
    device: str,
    chosen: pd.DataFrame,
    relation: pd.DataFrame,
) -> BudgetResult:
    """The fixed-budget comparison in one call: ``chosen``, ``analysis.verdicts.choose``'s table; ``relation``,
    the unbounded attack's relation table of (at least) the same models (``drivers_result``'s)."""
    bounded = budget_relation(
        profile, store, device, budget_runs(profile, chosen, store, device)
    )
    unbounded = relation[relation["key"].isin(set(bounded["key"]))]
    swept = {model_key(r) for r in sweep_runs(profile)}
    robustness = robustness_correlations(
        unbounded[unbounded["key"].isin(swept)], bounded[bounded["key"].isin(swept)]
    )
    main = main_table(
        profile,
        store,
        device,
        main_runs(profile, chosen),
        methods=(profile.sep.method,),
        budget=True,
    )
    roles = robustness_by_role(main)
    return BudgetResult(
        bounded=bounded,
        unbounded=unbounded,
        comparison=bounded_vs_unbounded(unbounded, bounded),
        robustness=robustness,
        agreement=budget_agreement(robustness),
        roles=roles,
        verdicts=sep_order_verdicts(main, base=base_role(profile)),
        eps={n: budget_eps(profile, n) for n in dict.fromkeys(bounded["experiment"])},
        reach=profile.prototypes.steps * profile.prototypes.lr,
    )


def budget_tasks(profile: Profile, store: ResultStore, device: str) -> list[Task]:
    """The bounded attack (``sep.method``) of every model of the robustness sweep and of the SEP chapter's
    main comparison (standard, base, SEP_pos and SEP_neg on every seed; the lambda sweep left out, cost)."""
    if not profile.drivers.budget:
        return []
    method = profile.sep.method
    runs = sweep_runs(profile)
    swept = {model_key(r) for r in runs}
    tasks = [
        replace(
            attack_task(
                profile, r.label, lambda r=r: r, method, store, device, budget=True
            ),
            stage="budget-attacks",
        )
        for r in runs
    ]
    for m in chapter_model_slots(profile, store, device, lambda_sweep=False):
        if m.run is None or model_key(m.run) not in swept:
            tasks.append(
                replace(
                    attack_task(
                        profile,
                        m.label,
                        m.run_of,
                        method,
                        store,
                        device,
                        m.compute_run,
                        budget=True,
                    ),
                    stage="budget-attacks",
                )
            )
    return tasks
