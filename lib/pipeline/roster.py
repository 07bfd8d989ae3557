"""Which models the book has, in one place: the robustness (beta) sweep, the showcase models, the SEP
chapter's lambda sweep and the SEP_pos / SEP_neg slots chosen from it, the TRADES-base and cross-method SEP
models, and every live model of the book."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import replace

import pandas as pd

from lib.analysis.verdicts import choose
from lib.core.errors import ConfigError
from lib.core.profile import Profile
from lib.core.settings import SepConfig
from lib.core.store import ResultStore
from lib.nn.data import NUM_CLASSES
from lib.nn.kinds import NONE
from lib.pipeline.evaluation import (
    ModelSlot,
    eval_config,
    evaluate_model,
    live_after_training,
    model_key,
    stored_live,
    unique_live,
)
from lib.pipeline.runs import Run
from lib.pipeline.task import NOT_NEEDED
from lib.pipeline.training import RunSpec, at_chance, chance_reason, get_model

# ------------------------------------------------------------------------------------------------
# the robustness (beta) sweep and its showcase models


def sweep_runs(profile: Profile, experiments: Iterable[str] | None = None) -> list[Run]:
    """The sweep's models: for each experiment (default: the profile's ``run``) and seed, every beta
    (TRADES; beta = 0 is standard training) and MAT."""
    runs = []
    for name in experiments or profile.run:
        exp = profile.experiment(name)
        for seed in profile.seeds:
            for beta in profile.sweep.betas:
                runs.append(
                    Run(
                        name,
                        RunSpec(
                            exp.data,
                            exp.model,
                            replace(exp.train, method="trades", beta=beta, seed=seed),
                        ),
                    )
                )
            if profile.sweep.mat:
                runs.append(
                    Run(
                        name,
                        RunSpec(
                            exp.data,
                            exp.model,
                            replace(exp.train, method="mat", beta=0.0, seed=seed),
                        ),
                    )
                )
    return runs


def first_seed(runs: Sequence[Run], profile: Profile) -> list[Run]:
    return [r for r in runs if r.seed == profile.seeds[0]]


def showcase_runs(profile: Profile, experiment: str) -> dict[str, Run]:
    """The first seed's standard model, its largest-beta TRADES model and (if swept) its MAT model, by label."""
    first = first_seed(sweep_runs(profile, [experiment]), profile)
    trades = [r for r in first if r.spec.train.method == "trades"]
    chosen = [
        min(trades, key=lambda r: r.spec.train.beta),
        max(trades, key=lambda r: r.spec.train.beta),
    ]
    chosen += [r for r in first if r.spec.train.method == "mat"]
    return {r.kind.label: r for r in chosen}


def motivation_runs(profile: Profile) -> dict[str, Run]:
    return showcase_runs(profile, profile.run[0])


def reference_run(profile: Profile, experiment: str) -> Run:
    """The standard (beta = 0) model of the first seed: the network whose features define the clusters."""
    for run in first_seed(sweep_runs(profile, [experiment]), profile):
        if run.kind.family == "standard":
            return run
    raise ConfigError(
        f"sweep.betas={list(profile.sweep.betas)} has no 0: the prototype clustering needs the "
        f"standard (beta = 0) model of experiment {experiment!r}"
    )


def validation_experiments(profile: Profile) -> tuple[str, ...]:
    """The experiments the prototypes are validated on (default: the first of ``run``)."""
    return profile.prototypes.validation.experiments or (profile.run[0],)


def validation_runs(profile: Profile, experiment: str) -> list[Run]:
    """The models the validation attacks: the first seed's sweep models of the experiment."""
    return first_seed(sweep_runs(profile, [experiment]), profile)


# ------------------------------------------------------------------------------------------------
# the SEP chapter: its experiments, bases and the lambda sweep


def study_experiments(profile: Profile) -> list[str]:
    """The SEP chapter's experiments: those of ``run`` with a lambda sweep, then ``sep.extra_experiments``."""
    return [n for n in profile.sep.lambdas if n in profile.run] + [
        n for n in profile.sep.extra_experiments if n not in profile.run
    ]


def base_role(profile: Profile) -> str:
    return "MAT" if profile.sep.base == "mat" else "TRADES"


def base_runs(
    profile: Profile, experiment: str, family: str | None = None
) -> list[Run]:
    """The base models of the robustness sweep (MAT, or the largest-beta TRADES model), one per seed."""
    family = family or base_role(profile)
    runs = [r for r in sweep_runs(profile, [experiment]) if r.kind.family == family]
    if family == "TRADES" and runs:
        top = max(r.spec.train.beta for r in runs)
        runs = [r for r in runs if r.spec.train.beta == top]
    return runs


def standard_runs(profile: Profile, experiment: str) -> list[Run]:
    return [r for r in sweep_runs(profile, [experiment]) if r.kind.family == "standard"]


def extra_runs(profile: Profile) -> list[Run]:
    """The standard and base models of ``sep.extra_experiments`` (not in the robustness sweep), every seed."""
    return [
        r
        for n in study_experiments(profile)
        if n not in profile.run
        for r in standard_runs(profile, n) + base_runs(profile, n)
    ]


def with_sep(run: Run, lam: float, profile: Profile, method: str | None = None) -> Run:
    """``run`` trained with SEP of weight ``lam`` (explanation ``method``, default ``sep.method``)."""
    s = profile.sep
    sep = SepConfig(
        lam=float(lam), sigma=s.sigma, samples=s.samples, method=method or s.method
    )
    return Run(
        run.experiment, replace(run.spec, train=replace(run.spec.train, sep=sep))
    )


def lambda_runs(profile: Profile) -> list[Run]:
    """The lambda sweep: every lambda of each experiment on the first seed's base model."""
    out = []
    for name in study_experiments(profile):
        bases = first_seed(base_runs(profile, name), profile)
        if (
            bases
        ):  # no base model in the sweep (sweep.mat false, say): nothing to regularise
            out += [
                with_sep(bases[0], lam, profile)
                for lam in sorted(profile.sep.lambdas[name])
            ]
    return out


def lambda_models(profile: Profile) -> list[Run]:
    """Every model of the lambda sweep: each swept experiment's first-seed base model (lambda = 0), then the
    lambda runs."""
    swept = lambda_runs(profile)
    bases = {r.experiment for r in swept}
    return [
        first_seed(base_runs(profile, n), profile)[0]
        for n in study_experiments(profile)
        if n in bases
    ] + swept


def _collapse_on(
    trained_reason: str | None, lam: float, acc: float, classes: int, where: str
) -> str:
    """A sweep run's collapse as a split reads it: the model's own record (non-finite loss, monitor accuracy
    at chance), else clean accuracy at chance on the split's images (SEP runs only); '' when live."""
    if trained_reason:
        return trained_reason
    if lam != 0 and at_chance(acc, classes):
        return chance_reason(acc, classes, f"on the {where} images")
    return ""


def lambda_table(profile: Profile, store: ResultStore, device: str) -> pd.DataFrame:
    """One row per lambda (the base model as lambda = 0) of each experiment, first seed: clean and PGD
    accuracy on the test subset (``clean_acc``, ``pgd_acc``) and, when ``sep.choose_on`` is 'validation', on
    the validation images (``val_clean_acc``, ``val_pgd_acc``); the last epoch's L_f (1e-7) and its growth
    over training (``lf_growth``: last / first epoch, a column, not a reason to drop); and the collapse
    reason (empty when live): the model's record (non-finite loss, monitor accuracy at chance) or clean
    accuracy within ``CHANCE_MARGIN`` of chance on the images the choice reads. With a validation choice,
    ``collapsed_test`` is the same reading on the test images (what a choice on them would have read)."""
    on = profile.sep.choose_on
    rows = []
    for run in lambda_models(profile):
        exp = profile.experiment(run.experiment)
        trained = get_model(run.spec, store, device, progress=False)
        acc = evaluate_model(trained, exp, store, exp.eval.attack)
        # the last epoch that finished a batch (a run that diverged records its last epoch with no loss)
        last = next((h for h in reversed(trained.history) if "sep_lf" in h), {})
        first = trained.history[0].get("sep_lf") if trained.history else None
        lam = run.kind.lam or 0.0
        classes = NUM_CLASSES[exp.data.name]
        row = {
            **run.describe(),
            "lam": lam,
            "clean_acc": acc["clean_acc"],
            "pgd_acc": acc["pgd_acc"],
        }
        if on == "validation":
            val = evaluate_model(
                trained, exp, store, exp.eval.attack, split="validation"
            )
            row |= {"val_clean_acc": val["clean_acc"], "val_pgd_acc": val["pgd_acc"]}
        lf = last.get("sep_lf", float("nan"))
        row |= {
            "l_f_1e-7": lf * 1e7,
            "lf_growth": lf / first if first else float("nan"),
            "collapsed": _collapse_on(
                trained.collapsed,
                lam,
                row["val_clean_acc" if on == "validation" else "clean_acc"],
                classes,
                on,
            ),
        }
        if on == "validation":
            row["collapsed_test"] = _collapse_on(
                trained.collapsed, lam, row["clean_acc"], classes, "test"
            )
        rows.append({**row, "key": trained.entry.key})
    if not rows:
        raise ConfigError(
            f"sep.lambdas={dict(profile.sep.lambdas)} is not allowed: expected lambdas for at least one "
            f"experiment of run={list(profile.run)} or sep.extra_experiments whose sweep has the base "
            f"model (sep.base={profile.sep.base!r}; sweep.mat={profile.sweep.mat})"
        )
    out = pd.DataFrame(rows)
    position = {
        n: i for i, n in enumerate(study_experiments(profile))
    }  # the profile's order of experiments
    return out.sort_values(
        ["experiment", "lam"],
        key=lambda c: c.map(position) if c.name == "experiment" else c,
        kind="stable",
    ).reset_index(drop=True)


def lambda_splits(profile: Profile) -> tuple[str, ...]:
    """The images the lambda sweep is evaluated on: the test subset, and the validation images when the
    choice reads them (``sep.choose_on``)."""
    return (
        ("test", "validation") if profile.sep.choose_on == "validation" else ("test",)
    )


def lambda_ready(profile: Profile, store: ResultStore) -> bool:
    """Whether every model and evaluation ``lambda_table`` reads is stored (so reading it computes
    nothing): the test evaluations, and the validation ones when the choice reads them."""
    for run in lambda_models(profile):
        exp = profile.experiment(run.experiment)
        if not store.entry("models", run.spec.store_config()).has("model.pt"):
            return False
        for split in lambda_splits(profile):
            config = eval_config(model_key(run), exp, exp.eval.attack, split)
            if not store.entry("evals", config).has("result.json"):
                return False
    return True


# ------------------------------------------------------------------------------------------------
# SEP_pos and SEP_neg: chosen from the lambda sweep (analysis.verdicts.choose)


def chosen_lambdas(profile: Profile, store: ResultStore, device: str) -> pd.DataFrame:
    """SEP_pos and SEP_neg per experiment: the lambda the accuracy rule (``analysis.verdicts.choose``) picks
    from the lambda sweep on the images ``sep.choose_on`` names (trained and evaluated when missing)."""
    return choose(
        lambda_table(profile, store, device),
        profile.sep.tolerance_points,
        profile.sep.choose_on,
    )


def main_runs(profile: Profile, chosen: pd.DataFrame) -> list[tuple[str, Run]]:
    """(role, run) for the standard model, the base model (MAT), SEP_pos and SEP_neg of each experiment, every
    seed. A role whose lambda the rule did not find is left out."""
    out = []
    for row in chosen.itertuples():
        out += [("standard", r) for r in standard_runs(profile, row.experiment)]
        out += _with_roles(
            profile, row, base_runs(profile, row.experiment), base_role(profile)
        )
    return out


def trades_runs(profile: Profile, chosen: pd.DataFrame) -> list[tuple[str, Run]]:
    """SEP on a TRADES base: (role, run) for the sweep's largest-beta TRADES model and the same model trained
    with the SEP_pos and SEP_neg lambdas chosen on the main base, every seed, for ``sep.trades_experiments``."""
    out = []
    for row in chosen.itertuples():
        if row.experiment in profile.sep.trades_experiments:
            out += _with_roles(
                profile, row, base_runs(profile, row.experiment, "TRADES"), "TRADES"
            )
    return out


def _with_roles(
    profile: Profile, row, bases: list[Run], role: str
) -> list[tuple[str, Run]]:
    out = []
    for base in bases:
        out.append((role, base))
        for sep_role in ("SEP_pos", "SEP_neg"):
            lam = getattr(row, sep_role)
            if lam is not None and not pd.isna(lam):
                out.append((sep_role, with_sep(base, lam, profile)))
    return out


def sep_slots(
    profile: Profile,
    experiments: list[str] | None = None,
    families: tuple[str, ...] | None = None,
) -> list[tuple[str, int, str, str]]:
    """Every SEP model of the main comparison as (experiment, seed, role, base family): SEP_pos and SEP_neg on
    the base of each swept experiment, every seed, then on the TRADES base of ``sep.trades_experiments``.
    Which lambda (if any) a slot has is known once the lambda sweep is stored (``ChosenSlots``)."""
    swept = list(
        dict.fromkeys(r.experiment for r in lambda_runs(profile))
    )  # those with a base model
    slots = [
        (n, s, role, base_role(profile))
        for n in swept
        for s in profile.seeds
        for role in ("SEP_pos", "SEP_neg")
    ]
    slots += [
        (n, s, role, "TRADES")
        for n in profile.sep.trades_experiments
        if n in swept and base_runs(profile, n, "TRADES")
        for s in profile.seeds
        for role in ("SEP_pos", "SEP_neg")
    ]
    return [
        t
        for t in slots
        if (experiments is None or t[0] in experiments)
        and (families is None or t[3] in families)
    ]


class ChosenSlots:
    """The run of a SEP slot (experiment, seed, role, base family), from the lambda the rule chose: ``None``
    while the lambda sweep is not stored (unless ``compute``: then it is read, training what is missing),
    ``NOT_NEEDED`` when no lambda of that role's sign qualified. The choice is read once per instance (one
    plan), so listing many tasks reads the sweep once."""

    def __init__(self, profile: Profile, store: ResultStore, device: str):
        self.profile, self.store, self.device = profile, store, device
        self._chosen: pd.DataFrame | None = None

    def chosen(self, compute: bool = False) -> pd.DataFrame | None:
        if self._chosen is None:
            if not compute and not lambda_ready(self.profile, self.store):
                return None
            self._chosen = chosen_lambdas(
                self.profile, self.store, self.device
            ).set_index("experiment")
        return self._chosen

    def __call__(
        self,
        name: str,
        seed: int,
        role: str,
        family: str,
        compute: bool = False,
        method: str | None = None,
    ) -> Run | dict | None:
        c = self.chosen(compute)
        if c is None:
            return None
        lam = c.loc[name, role]
        if lam is None or pd.isna(lam):
            return NOT_NEEDED
        base = next(r for r in base_runs(self.profile, name, family) if r.seed == seed)
        return with_sep(base, lam, self.profile, method)


def chapter_models(
    profile: Profile, chosen: pd.DataFrame, store: ResultStore, device: str
) -> list[tuple[str, str, Run]]:
    """(base, role, run) for every live model the SEP chapter trained or compared: per experiment the standard
    and base models (every seed), SEP_pos and SEP_neg (every seed), the lambda sweep (first seed, role
    'lambda sweep'), all with base ``sep.base``'s role ('MAT'); then the TRADES base and its SEP models (base
    'TRADES'). ``chosen``: ``analysis.verdicts.choose``'s table. Collapsed models are left out."""
    main = [(base_role(profile), role, r) for role, r in main_runs(profile, chosen)]
    seen = {model_key(r) for _, _, r in main}
    main += [
        (base_role(profile), "lambda sweep", r)
        for r in lambda_runs(profile)
        if model_key(r) not in seen
    ]
    main += [("TRADES", role, r) for role, r in trades_runs(profile, chosen)]
    return [
        (b, role, r)
        for b, role, r in main
        if not get_model(r.spec, store, device, progress=False).collapsed
    ]


def chapter_model_slots(
    profile: Profile, store: ResultStore, device: str, lambda_sweep: bool = True
) -> list[ModelSlot]:
    """A ``ModelSlot`` for every model of the SEP chapter: the standard and base models of each
    experiment (every seed; the TRADES base where SEP is also trained on it), the lambda sweep (first
    seed; left out unless ``lambda_sweep``) and SEP_pos / SEP_neg (every seed), each ``None`` while
    undecided and ``NOT_NEEDED`` when it collapsed or no lambda qualified."""
    slot = ChosenSlots(profile, store, device)
    known = []
    for name in study_experiments(profile):
        known += standard_runs(profile, name) + base_runs(profile, name)
        if name in profile.sep.trades_experiments and base_role(profile) != "TRADES":
            known += base_runs(profile, name, "TRADES")
    known += lambda_runs(profile) if lambda_sweep else []
    out = [
        ModelSlot(
            r.label,
            lambda r=r: stored_live(r, store),
            lambda r=r: live_after_training(r, store, device),
            r,
        )
        for r in known
    ]
    first = profile.seeds[0]
    for args in sep_slots(profile):
        if lambda_sweep and args[1] == first and args[3] == base_role(profile):
            continue  # the first seed's SEP_pos / SEP_neg on the base are lambda-sweep models
        out.append(
            ModelSlot(
                f"{args[0]} {args[2]} on {args[3]} seed {args[1]}",
                lambda a=args: stored_live(slot(*a), store),
                lambda a=args: live_after_training(
                    slot(*a, compute=True), store, device
                ),
                None,
            )
        )
    return out


# ------------------------------------------------------------------------------------------------
# later chapters: cross-method SEP, the fixed-budget attack, every live model of the book


def cross_models(profile: Profile, chosen: pd.DataFrame) -> list[tuple[str, str, Run]]:
    """(trained with, role, run) for the comparison of each cross experiment, every seed: the base model
    ('none'), SEP_pos and SEP_neg trained with ``sep.method`` and with ``drivers.cross_method``; a role
    whose lambda the rule did not find is left out. ``chosen``: ``analysis.verdicts.choose``'s table."""
    d, out = profile.drivers, []
    c = chosen.set_index("experiment") if "experiment" in chosen.columns else chosen
    for name in d.cross_experiments:
        for base in base_runs(profile, name):
            out.append((NONE, base_role(profile), base))
            for method in (profile.sep.method, d.cross_method):
                for role in ("SEP_pos", "SEP_neg"):
                    lam = c.loc[name, role]
                    if lam is not None and not pd.isna(lam):
                        out.append((method, role, with_sep(base, lam, profile, method)))
    return out


def budget_runs(
    profile: Profile, chosen: pd.DataFrame, store: ResultStore, device: str
) -> list[Run]:
    """The models ``budget_tasks`` attacks, live ones only: the robustness sweep, then the SEP chapter's main
    comparison (standard, base, SEP_pos, SEP_neg, and the TRADES base with its SEP models), every seed."""
    runs = sweep_runs(profile) + [
        r for _, r in main_runs(profile, chosen) + trades_runs(profile, chosen)
    ]
    return unique_live(runs, store, device)


def book_models(
    profile: Profile,
    chosen: pd.DataFrame,
    models: list[tuple[str, str, Run]],
    store: ResultStore,
    device: str,
) -> list[Run]:
    """Every live model of the book, once: the robustness sweep, the SEP chapter's models (standard, base,
    SEP_pos, SEP_neg, the lambda sweep, the TRADES base and its SEP models) and the cross-method SEP models.
    ``models``: the SEP chapter's (``pipeline.roster.chapter_models``). Each has a prototype attack for
    ``sep.method`` and a landscape."""
    cross = [
        r
        for t, _, r in cross_models(profile, chosen)
        if t == profile.drivers.cross_method
    ]
    return unique_live(
        sweep_runs(profile) + [r for _, _, r in models] + cross, store, device
    )
