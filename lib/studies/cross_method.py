"""SEP across explanation methods (issue 12, part 3): SEP trained on one explanation method and attacked
with another. Does the order SEP_pos < base < SEP_neg of the attack's final loss survive when the
regularised method and the attacked method differ?

The cross-method models are SEP on the base with the lambdas the rule chose for ``sep.method`` (the maps
are normalised before the MSE, so L_f has the same scale for every method), trained with
``drivers.cross_method`` on ``drivers.cross_experiments``, every seed. The accuracy rule is re-read on
them (``analysis.verdicts.accuracy_shifts``). Every model of the comparison (the base, SEP on ``sep.method``, SEP on
the cross method) is attacked with every method of ``drivers.cross_attacks``.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import pandas as pd

from lib.analysis.stats import DISAGREES
from lib.analysis.verdicts import accuracy_shifts, cross_verdicts, sep_order_holds
from lib.core.profile import Profile
from lib.core.store import ResultStore
from lib.pipeline.evaluation import (
    eval_task_of,
    live_after_training,
    model_task_of,
    stored_live,
)
from lib.pipeline.explanation_attack import attack_task, main_table
from lib.pipeline.landscapes import landscape_task
from lib.pipeline.roster import (
    ChosenSlots,
    base_role,
    base_runs,
    cross_models,
    sep_slots,
)
from lib.pipeline.runs import Run
from lib.pipeline.task import Task


def cross_table(
    profile: Profile,
    store: ResultStore,
    device: str,
    models: list[tuple[str, str, Run]],
) -> pd.DataFrame:
    """``pipeline.explanation_attack.main_table`` of every model of the comparison and every method of ``drivers.cross_attacks``
    (one row per model and attacked method), with the method each was trained with."""
    profile = replace(
        profile,
        prototypes=replace(
            profile.prototypes, methods=tuple(profile.drivers.cross_attacks)
        ),
    )
    table = main_table(profile, store, device, [(role, r) for _, role, r in models])
    by_label = {r.label: t for t, _, r in models}
    table["trained_with"] = [
        by_label[f"{e} {k} seed {s}"]
        for e, k, s in zip(table["experiment"], table["kind"], table["seed"])
    ]
    return table


def cross_accuracy(
    roles: pd.DataFrame, base: str, tolerance_points: float
) -> pd.DataFrame:
    """``analysis.verdicts.accuracy_shifts`` of each training method's SEP models from the base (one attacked method
    is enough: accuracy does not depend on it)."""
    out = []
    for method, g in roles.groupby("trained_with", sort=False):
        first = g[g["explanation"] == g["explanation"].iloc[0]]
        out.append(
            accuracy_shifts(first, base, tolerance_points).assign(trained_with=method)
        )
    return pd.concat(out, ignore_index=True) if out else pd.DataFrame()


@dataclass
class CrossMethodResult:
    """Everything the cross-method part shows (``cross_method_result``): ``table``, ``cross_table``; ``roles``
    and ``verdicts``, ``analysis.verdicts.cross_verdicts`` (per training method: ``robustness_by_role`` and
    the paired ``sep_order_verdicts`` per experiment and attacked method); ``accuracy``, ``cross_accuracy``;
    ``base``, the base role; of the ``off_total`` (experiment, trained, attacked) cases with the trained and
    attacked methods different, ``off_holds`` where every readable half of the order agrees
    (``analysis.verdicts.sep_order_holds``) and ``off_against`` where a half disagrees."""

    table: pd.DataFrame
    roles: pd.DataFrame
    verdicts: pd.DataFrame
    accuracy: pd.DataFrame
    base: str
    off_holds: int
    off_total: int
    off_against: int = 0


def cross_method_result(
    profile: Profile, store: ResultStore, device: str, chosen: pd.DataFrame
) -> CrossMethodResult:
    """The cross-method comparison in one call; ``chosen``: ``analysis.verdicts.choose``'s table."""
    base = base_role(profile)
    table = cross_table(profile, store, device, cross_models(profile, chosen))
    roles, verdicts = cross_verdicts(table, base=base)
    off = verdicts[verdicts["trained_with"] != verdicts["explanation"]]
    return CrossMethodResult(
        table=table,
        roles=roles,
        verdicts=verdicts,
        accuracy=cross_accuracy(roles, base, profile.sep.tolerance_points),
        base=base,
        off_holds=sum(sep_order_holds(r) for r in off.itertuples()),
        off_total=len(off),
        off_against=sum(
            DISAGREES in (r.pos_status, r.neg_status) for r in off.itertuples()
        ),
    )


def cross_tasks(profile: Profile, store: ResultStore, device: str) -> list[Task]:
    """The cross-method SEP models (every seed) and their evaluations, then the attacks of every model of the
    comparison with every method of ``drivers.cross_attacks`` that no other stage runs."""
    d = profile.drivers
    if not d.cross_experiments:
        return []
    slot = ChosenSlots(profile, store, device)
    slots = sep_slots(profile, list(d.cross_experiments), (base_role(profile),))

    def label(a: tuple, method: str | None = d.cross_method) -> str:
        return f"{a[0]} {a[2]}{f' ({method})' if method else ''} seed {a[1]}"

    def decided(
        a: tuple, method: str | None = d.cross_method
    ):  # the run, None while undecided
        return lambda: slot(*a, method=method)

    def decide(
        a: tuple, method: str | None = d.cross_method
    ):  # the run, deciding it when the task runs
        return lambda: slot(*a, compute=True, method=method)

    def stored(
        a: tuple, method: str | None = d.cross_method
    ):  # once trained, NOT_NEEDED if it collapsed
        return lambda: stored_live(slot(*a, method=method), store)

    def trained(a: tuple, method: str | None = d.cross_method):  # trains it if need be
        return lambda: live_after_training(
            slot(*a, compute=True, method=method), store, device
        )

    tasks = [
        model_task_of("cross-models", label(a), decided(a), decide(a), store, device)
        for a in slots
    ]
    tasks += [
        eval_task_of(
            "cross-evals",
            label(a),
            decided(a),
            decide(a),
            profile.experiment(a[0]),
            store,
            device,
        )
        for a in slots
    ]
    tasks += [
        landscape_task(
            profile, "cross-landscapes", label(a), stored(a), trained(a), store, device
        )
        for a in slots
    ]  # their landscapes, for the pooled analysis of the drivers
    extra = [
        m for m in d.cross_attacks if m not in profile.prototypes.methods
    ]  # others are attacked already
    for method in d.cross_attacks:
        tasks += [
            replace(
                attack_task(
                    profile, label(a), stored(a), method, store, device, trained(a)
                ),
                stage="cross-attacks",
            )
            for a in slots
        ]
        if method not in extra:
            continue
        tasks += [
            replace(
                attack_task(profile, run.label, lambda r=run: r, method, store, device),
                stage="cross-attacks",
            )
            for name in d.cross_experiments
            for run in base_runs(profile, name)
        ]
        tasks += [
            replace(
                attack_task(
                    profile,
                    label(a, None),
                    stored(a, None),
                    method,
                    store,
                    device,
                    trained(a, None),
                ),
                stage="cross-attacks",
            )
            for a in slots
        ]
    return tasks
