"""The SEP experiment over runs: the lambda sweep, the choice of SEP_pos and SEP_neg by a rule on accuracy
alone, the main table of MAT against SEP_pos and SEP_neg over seeds, and the verdict on the paper's claim.

The rule that picks SEP_pos and SEP_neg reads only classification accuracy and collapse, never explanation
robustness, so the claim under test (explanation robustness moves while classification robustness stays
fixed) cannot steer the choice. Collapsed runs are shown as such and left out of every mean and ranking.
"""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd

from . import prototype_study as study
from .components import SepConfig
from .config import Profile
from .errors import ConfigError
from .stats import two_stage_bootstrap
from .runs import Run
from .store import ResultStore
from .sweep import evaluate_model, eval_config, first_seed, model_key, model_tasks, sweep_runs
from .train import get_model
from .work import NOT_NEEDED, Task

ROLE_ORDER = {"standard": 0, "SEP_pos": 1, "MAT": 2, "TRADES": 2, "SEP_neg": 3}


def study_experiments(profile: Profile) -> list[str]:
    """The SEP chapter's experiments: those of ``run`` with a lambda sweep, then ``sep.extra_experiments``."""
    return ([n for n in profile.sep.lambdas if n in profile.run]
            + [n for n in profile.sep.extra_experiments if n not in profile.run])


def base_role(profile: Profile) -> str:
    return "MAT" if profile.sep.base == "mat" else "TRADES"


def base_runs(profile: Profile, experiment: str, family: str | None = None) -> list[Run]:
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
    return [r for n in study_experiments(profile) if n not in profile.run
            for r in standard_runs(profile, n) + base_runs(profile, n)]


def with_sep(run: Run, lam: float, profile: Profile, method: str | None = None) -> Run:
    """``run`` trained with SEP of weight ``lam`` (explanation ``method``, default ``sep.method``)."""
    s = profile.sep
    sep = SepConfig(lam=float(lam), sigma=s.sigma, samples=s.samples, method=method or s.method)
    return Run(run.experiment, replace(run.spec, train=replace(run.spec.train, sep=sep)))


def lambda_runs(profile: Profile) -> list[Run]:
    """The lambda sweep: every lambda of each experiment on the first seed's base model."""
    out = []
    for name in study_experiments(profile):
        bases = first_seed(base_runs(profile, name), profile)
        if bases:  # no base model in the sweep (sweep.mat false, say): nothing to regularise
            out += [with_sep(bases[0], lam, profile) for lam in sorted(profile.sep.lambdas[name])]
    return out


def sweep_models(profile: Profile) -> list[Run]:
    """Every model of the lambda sweep: each swept experiment's first-seed base model (lambda = 0), then the
    lambda runs."""
    swept = lambda_runs(profile)
    bases = {r.experiment for r in swept}
    return [first_seed(base_runs(profile, n), profile)[0] for n in study_experiments(profile) if n in bases] + swept


def sweep_table(profile: Profile, store: ResultStore, device: str) -> pd.DataFrame:
    """One row per lambda (the base model as lambda = 0) of each experiment, first seed: clean and PGD
    accuracy, the last epoch's L_f (1e-7) and the collapse reason (empty when the run did not collapse)."""
    rows = []
    for run in sweep_models(profile):
        exp = profile.experiment(run.experiment)
        trained = get_model(run.spec, store, device, progress=False)
        acc = evaluate_model(trained, exp, store, exp.eval.attack)
        # the last epoch that finished a batch (a run that diverged records its last epoch with no loss)
        last = next((h for h in reversed(trained.history) if "sep_lf" in h), {})
        rows.append({**run.describe(), "lam": run.kind.lam or 0.0, "clean_acc": acc["clean_acc"],
                     "pgd_acc": acc["pgd_acc"], "l_f_1e-7": last.get("sep_lf", float("nan")) * 1e7,
                     "collapsed": trained.collapsed or "", "key": trained.entry.key})
    if not rows:
        raise ConfigError(f"sep.lambdas={dict(profile.sep.lambdas)} is not allowed: expected lambdas for at least one "
                          f"experiment of run={list(profile.run)} or sep.extra_experiments whose sweep has the base "
                          f"model (sep.base={profile.sep.base!r}; sweep.mat={profile.sweep.mat})")
    out = pd.DataFrame(rows)
    position = {n: i for i, n in enumerate(study_experiments(profile))}  # the profile's order of experiments
    return out.sort_values(["experiment", "lam"], key=lambda c: c.map(position) if c.name == "experiment" else c,
                           kind="stable").reset_index(drop=True)


def stored_live(run: Run | dict | None, store: ResultStore) -> Run | dict | None:
    """``run`` once its model is stored and did not collapse; ``NOT_NEEDED`` when it collapsed (nothing of it
    is measured); ``None`` while the model is not stored. A slot not yet decided (``None``) or not needed is
    passed through."""
    if not isinstance(run, Run):
        return run
    entry = store.entry("models", run.spec.store_config())
    if not entry.has("model.pt"):
        return None
    return NOT_NEEDED if entry.load_json("metrics.json").get("collapsed") else run


def sweep_robustness(profile: Profile, store: ResultStore, device: str, sweep: pd.DataFrame) -> pd.DataFrame:
    """``sweep`` (from ``sweep_table``) with explanation robustness on the prototype pairs for every model of
    the lambda sweep that did not collapse, for SEP's own explanation method only (cost): L_start, L_end,
    relative reduction and the rank metric (NaN for collapsed runs)."""
    live_keys = set(sweep.loc[sweep["collapsed"] == "", "key"])
    live = [r for r in sweep_models(profile) if model_key(r) in live_keys]
    cols = ["l_start_1e-7", "l_end_1e-7", "relative_reduction", "spearman_to_target", "label_kept"]
    table = study.relation_table(profile, store, device, (profile.sep.method,), live, progress=False)
    return sweep.merge(table[["key", *cols]], on="key", how="left")


def sweep_ready(profile: Profile, store: ResultStore) -> bool:
    """Whether every model and evaluation ``sweep_table`` reads is stored (so reading it computes nothing)."""
    for run in sweep_models(profile):
        exp = profile.experiment(run.experiment)
        if not (store.entry("models", run.spec.store_config()).has("model.pt")
                and store.entry("evals", eval_config(model_key(run), exp, exp.eval.attack)).has("result.json")):
            return False
    return True


def choose(sweep: pd.DataFrame, tolerance_points: float) -> pd.DataFrame:
    """Per experiment, SEP_pos and SEP_neg: the largest |lambda| of each sign that did not collapse and whose
    clean and PGD accuracy are both within ``tolerance_points`` of the base model's; None when no lambda of
    that sign qualifies."""
    rows = []
    for name, g in sweep.groupby("experiment", sort=False):
        ok = g[(g["lam"] != 0) & (g["collapsed"] == "") & _near_base(g, tolerance_points)]
        pos, neg = ok[ok["lam"] > 0]["lam"], ok[ok["lam"] < 0]["lam"]
        rows.append({"experiment": name, "SEP_pos": float(pos.max()) if len(pos) else None,
                     "SEP_neg": float(neg.min()) if len(neg) else None})
    return pd.DataFrame(rows)


def short_reason(reason: str) -> str:
    """A collapse reason short enough for a table cell: 'loss not finite (epoch 2)', 'at chance',
    'L_f grew 134-fold'; '' for a run that did not collapse."""
    if not reason:
        return ""
    if reason.startswith("non-finite loss"):
        return f"loss not finite (epoch {reason.split('epoch ')[1].split(',')[0]})"
    if reason.startswith("clean accuracy"):
        return "at chance"
    if reason.startswith("L_f exploded"):
        first, last = (float(v) for v in reason.removeprefix("L_f exploded from ").split(" to "))
        return f"L_f grew {last / first:.0f}-fold"
    return reason


def collapsed_on_lf_alone(sweep: pd.DataFrame, tolerance_points: float) -> pd.DataFrame:
    """Runs of the sweep counted as collapsed only because L_f grew past the explosion threshold
    (``lib.train.LF_EXPLOSION``) while their clean and PGD accuracy stayed within ``tolerance_points`` of the
    base model's: the rule keeps them out (it was fixed before any result), and the chapter says what a rule
    reading accuracy alone would have chosen instead."""
    rows = [g[g["collapsed"].str.startswith("L_f exploded") & _near_base(g, tolerance_points)]
            for _, g in sweep.groupby("experiment", sort=False)]
    return pd.concat(rows) if rows else sweep.iloc[:0]


def _near_base(g: pd.DataFrame, tolerance_points: float) -> pd.Series:
    """Rows of ``g`` whose clean and PGD accuracy are both within ``tolerance_points`` of the base model's
    (the row with lambda = 0)."""
    base = g[g["lam"] == 0].iloc[0]
    return (((g["clean_acc"] - base["clean_acc"]).abs() * 100 <= tolerance_points)
            & ((g["pgd_acc"] - base["pgd_acc"]).abs() * 100 <= tolerance_points))


def accuracy_shifts(roles: pd.DataFrame, base: str, tolerance_points: float) -> pd.DataFrame:
    """Per experiment, how far SEP_pos and SEP_neg move clean and PGD accuracy (points, means over seeds)
    from the ``base`` role in a ``by_role`` table, and whether both stay within ``tolerance_points``: the
    accuracy rule re-read on a base the lambdas were not chosen on."""
    acc = roles.drop_duplicates(["experiment", "role"])
    rows = []
    for name, g in acc.groupby("experiment", sort=False):
        g = g.set_index("role")
        if base not in g.index:
            continue
        for role in ("SEP_pos", "SEP_neg"):
            if role in g.index:
                d_clean = 100 * abs(g.loc[role, "clean_acc"] - g.loc[base, "clean_acc"])
                d_pgd = 100 * abs(g.loc[role, "pgd_acc"] - g.loc[base, "pgd_acc"])
                rows.append({"experiment": name, "role": role, "clean_points": d_clean, "pgd_points": d_pgd,
                             "within": bool(max(d_clean, d_pgd) <= tolerance_points)})
    return pd.DataFrame(rows, columns=["experiment", "role", "clean_points", "pgd_points", "within"])


def main_runs(profile: Profile, chosen: pd.DataFrame) -> list[tuple[str, Run]]:
    """(role, run) for the standard model, the base model (MAT), SEP_pos and SEP_neg of each experiment, every
    seed. A role whose lambda the rule did not find is left out."""
    out = []
    for row in chosen.itertuples():
        out += [("standard", r) for r in standard_runs(profile, row.experiment)]
        out += _with_roles(profile, row, base_runs(profile, row.experiment), base_role(profile))
    return out


def trades_runs(profile: Profile, chosen: pd.DataFrame) -> list[tuple[str, Run]]:
    """SEP on a TRADES base: (role, run) for the sweep's largest-beta TRADES model and the same model trained
    with the SEP_pos and SEP_neg lambdas chosen on the main base, every seed, for ``sep.trades_experiments``."""
    out = []
    for row in chosen.itertuples():
        if row.experiment in profile.sep.trades_experiments:
            out += _with_roles(profile, row, base_runs(profile, row.experiment, "TRADES"), "TRADES")
    return out


def _with_roles(profile: Profile, row, bases: list[Run], role: str) -> list[tuple[str, Run]]:
    out = []
    for base in bases:
        out.append((role, base))
        for sep_role in ("SEP_pos", "SEP_neg"):
            lam = getattr(row, sep_role)
            if lam is not None and not pd.isna(lam):
                out.append((sep_role, with_sep(base, lam, profile)))
    return out


def main_table(profile: Profile, store: ResultStore, device: str, roles: list[tuple[str, Run]],
               methods: tuple[str, ...] | None = None, budget: bool = False) -> pd.DataFrame:
    """Explanation robustness (prototype pairs, every explanation method or ``methods``; inside the budget's
    ball when ``budget``) and accuracy of every (role, run), one row per (model, method), with its role and
    collapse reason; collapsed models are listed but not attacked."""
    rows, live = [], []
    for role, run in roles:
        trained = get_model(run.spec, store, device, progress=False)
        if trained.collapsed:
            rows.append({**run.describe(), "role": role, "collapsed": trained.collapsed})
        else:
            live.append((role, run))
    table = study.relation_table(profile, store, device, methods, runs=[r for _, r in live], progress=False,
                                 budget=budget)
    role_of = {model_key(r): role for role, r in live}
    table["role"] = table["key"].map(role_of)
    table["collapsed"] = ""
    return pd.concat([table, pd.DataFrame(rows)], ignore_index=True) if rows else table


def by_role(table: pd.DataFrame, n_boot: int = 1000, seed: int = 0) -> pd.DataFrame:
    """Means over seeds per experiment, explanation method and role, with the number of seeds; L_end and the
    relative reduction also as the mean over every label-kept pair of every seed with a two-stage bootstrap
    95 % interval (seeds resampled, then pairs within each seed)."""
    live = table[table["collapsed"] == ""]
    cols = ["l_start_1e-7", "l_end_1e-7", "relative_reduction", "spearman_to_target", "label_kept", "clean_acc",
            "pgd_acc"]
    rows = []
    for (name, method, role), g in live.groupby(["experiment", "explanation", "role"], sort=False):
        row = {"experiment": name, "explanation": method, "role": role, "kind": g["kind"].iloc[0],
               "dataset": g["dataset"].iloc[0], "model": g["model"].iloc[0], **g[cols].mean().to_dict(),
               "seeds": len(g), "l_end_sd": g["l_end_1e-7"].std(), "pgd_sd": 100 * g["pgd_acc"].std()}
        for col, pairs in (("l_end", "l_end_pairs"), ("reduction", "reduction_pairs")):
            groups = [np.asarray(v, float) for v in g[pairs] if len(v)]
            _, row[f"{col}_lo"], row[f"{col}_hi"] = (two_stage_bootstrap(groups, n_boot, seed) if groups
                                                     else (np.nan,) * 3)
        rows.append(row)
    out = pd.DataFrame(rows)
    first = {v: i for i, v in enumerate(dict.fromkeys(zip(out["experiment"], out["explanation"])))}
    out["_g"] = [first[k] for k in zip(out["experiment"], out["explanation"])]
    out["_r"] = out["role"].map(ROLE_ORDER)
    return out.sort_values(["_g", "_r"], kind="stable").drop(columns=["_g", "_r"]).reset_index(drop=True)


def verdicts(roles: pd.DataFrame, max_adv_spread_points: float = 3.0, base: str = "MAT") -> pd.DataFrame:
    """Per experiment and explanation method: does L_end rank SEP_pos < base < SEP_neg (the paper's claim,
    base MAT), do the relative reduction and the rank metric (lower = more robust) rank them the other way
    round, do the L_end intervals of SEP_pos and SEP_neg overlap, and does PGD accuracy of the three stay within
    ``max_adv_spread_points``? Where SEP_pos or SEP_neg is missing (``complete`` False) the part of the order
    that can be read is still given: ``pos_below_base`` (SEP_pos < base) and ``base_below_neg`` (base <
    SEP_neg), with their L_end ratios; what cannot be read is None / NaN."""
    order = ["SEP_pos", base, "SEP_neg"]
    rows = []
    for (name, method), g in roles.groupby(["experiment", "explanation"], sort=False):
        g = g.set_index("role")
        present = [r for r in order if r in g.index]
        le = {r: float(g.loc[r, "l_end_1e-7"]) for r in present}
        row = {"experiment": name, "explanation": method, "complete": present == order,
               "missing": ", ".join(r for r in order if r not in g.index),
               "pos_below_base": le["SEP_pos"] < le[base] if {"SEP_pos", base} <= set(le) else None,
               "base_below_neg": le[base] < le["SEP_neg"] if {"SEP_neg", base} <= set(le) else None,
               "mat_over_pos": le[base] / le["SEP_pos"] if {"SEP_pos", base} <= set(le) else np.nan,
               "neg_over_mat": le["SEP_neg"] / le[base] if {"SEP_neg", base} <= set(le) else np.nan,
               "neg_over_pos": le["SEP_neg"] / le["SEP_pos"] if {"SEP_pos", "SEP_neg"} <= set(le) else np.nan,
               "pgd_spread_points": (float(100 * np.ptp(g.loc[present, "pgd_acc"].to_numpy()))
                                     if base in present and len(present) > 1 else np.nan),
               "l_end_order": None, "reduction_order": None, "rank_order": None, "pos_neg_separated": None}
        if row["complete"]:
            rr, rk = (g.loc[order, c].to_numpy() for c in ("relative_reduction", "spearman_to_target"))
            row.update({"l_end_order": row["pos_below_base"] and row["base_below_neg"],
                        "reduction_order": bool(rr[0] > rr[1] > rr[2]), "rank_order": bool(rk[0] > rk[1] > rk[2]),
                        "pos_neg_separated": (bool(g.loc["SEP_pos", "l_end_hi"] < g.loc["SEP_neg", "l_end_lo"])
                                              if "l_end_hi" in g else None)})
        row["pgd_within"] = (bool(row["pgd_spread_points"] <= max_adv_spread_points)
                             if np.isfinite(row["pgd_spread_points"]) else None)
        rows.append(row)
    return pd.DataFrame(rows)


PAPER_DATASET = {"mnist": "MNIST", "cifar10": "CIFAR-10"}  # our dataset names -> the paper table's
PAPER_MODEL = {"convnet": "ConvNet", "resnet18": "ResNet18"}
YES_NO = {True: "yes", False: "no"}
PAPER_ROLE = {"Normal": "standard", "MAT": "MAT", "SEP_pos": "SEP_pos", "SEP_neg": "SEP_neg"}


def paper_blocks(csv: str) -> pd.DataFrame:
    """The paper's main table, with the same order, ratios and spread as ``verdicts`` per block (dataset,
    model)."""
    paper = pd.read_csv(csv)
    rows = []
    for (ds, model), g in paper.groupby(["dataset", "model"], sort=False):
        g = g.set_index("method")
        le = g.loc[["SEP_pos", "MAT", "SEP_neg"], "l_end_1e-7"].to_numpy()
        adv = g.loc[["SEP_pos", "MAT", "SEP_neg"], "adv_acc_pct"].to_numpy()
        rows.append({"dataset": ds, "model": model, "l_end_order": bool(le[0] < le[1] < le[2]),
                     "pos_below_base": bool(le[0] < le[1]), "base_below_neg": bool(le[1] < le[2]),
                     "neg_over_pos": float(le[2] / le[0]), "mat_over_pos": float(le[1] / le[0]),
                     "neg_over_mat": float(le[2] / le[1]), "pgd_spread_points": float(np.ptp(adv))})
    return pd.DataFrame(rows)


def paper_block_of(dataset: str, model: str) -> tuple[str, str] | None:
    """The paper table's (dataset, model) block for one of ours, or None (e.g. Fashion-MNIST: not in it)."""
    if dataset in PAPER_DATASET and model in PAPER_MODEL:
        return PAPER_DATASET[dataset], PAPER_MODEL[model]
    return None


def with_paper(roles: pd.DataFrame, csv: str) -> pd.DataFrame:
    """``roles`` (from ``by_role``) with the paper's L_start and L_end of the same block and role beside ours
    (the paper reports gradient maps; NaN for other methods and for blocks the paper does not have)."""
    paper = pd.read_csv(csv).assign(role=lambda d: d["method"].map(PAPER_ROLE)).set_index(
        ["dataset", "model", "role"])
    out = roles.copy()
    for col in ("l_start_1e-7", "l_end_1e-7"):
        values = []
        for r in out.itertuples():
            block = paper_block_of(r.dataset, r.model)
            key = (*block, r.role) if block else None
            values.append(float(paper.loc[key, col]) if key in paper.index and r.explanation == "gradient"
                          else np.nan)
        out[f"paper_{col}"] = values
    return out


def against_paper(verdict: pd.DataFrame, roles: pd.DataFrame, csv: str) -> pd.DataFrame:
    """Our blocks beside the paper's, long: per experiment, one row per explanation method of ours, then one
    row for the paper's block of the same dataset and architecture (gradient maps) where it has one, each with
    the order of L_end (whole, and its two halves SEP_pos < MAT and MAT < SEP_neg), the L_end ratios and the
    PGD accuracy spread. Parts a block of ours cannot show (SEP_pos or SEP_neg missing) are None / NaN."""
    paper = paper_blocks(csv).set_index(["dataset", "model"])
    info = roles.drop_duplicates("experiment").set_index("experiment")[["dataset", "model"]]
    cols = ["l_end_order", "pos_below_base", "base_below_neg", "neg_over_pos", "mat_over_pos", "neg_over_mat",
            "pgd_spread_points"]
    rows = []
    for name, g in verdict.groupby("experiment", sort=False):
        for r in g.itertuples():
            rows.append({"experiment": name, "source": f"ours: {r.explanation}", **{c: getattr(r, c) for c in cols}})
        block = paper_block_of(*info.loc[name])
        if block in paper.index:
            rows.append({"experiment": name, "source": f"paper: {' '.join(block)}",
                         **paper.loc[block, cols].to_dict()})
    out = pd.DataFrame(rows, columns=["experiment", "source", *cols])
    for c in ("l_end_order", "pos_below_base", "base_below_neg"):
        out[c] = out[c].map(lambda v: YES_NO.get(v) if isinstance(v, (bool, np.bool_)) else None)
    return out


# ------------------------------------------------------------------------------------------------
# the stage's work, listed without computing it


def sep_tasks(profile: Profile, store: ResultStore, device: str) -> list[Task]:
    """The SEP chapter's work: the extra experiments' standard and base models, the lambda sweep's models and
    evaluations, the extra experiments' prototype pairs, then the main comparison's SEP models of the later
    seeds (and of the TRADES base), their evaluations, and the prototype attacks of every model the chapter
    compares that the prototype stage does not attack. Which lambda a SEP_pos or SEP_neg model has is known
    once the sweep's evaluations are stored: until then its key is 'after upstream', and a role for which
    no lambda qualified is not needed."""
    runs = extra_runs(profile) + lambda_runs(profile)
    tasks = [replace(t, stage="sep-models") for t in model_tasks(runs, store, device)]
    tasks += [eval_task_of("sep-evals", run.label, lambda r=run: r, lambda r=run: r,
                         profile.experiment(run.experiment), store, device) for run in runs]
    extras = [n for n in study_experiments(profile) if n not in profile.run]
    tasks += [replace(t, stage="sep-pairs") for t in study.pair_tasks(profile, extras, store, device)]

    slot = ChosenSlots(profile, store, device)
    first = profile.seeds[0]
    slots = sep_slots(profile)
    trained_later = [t for t in slots if t[1] != first or t[3] != base_role(profile)]  # not in the sweep
    for stage in ("sep-main-models", "sep-main-evals"):
        for name, seed, role, family in trained_later:
            label = f"{name} {role} on {family} seed {seed}"
            run_of = lambda a=(name, seed, role, family): slot(*a)
            compute_run = lambda a=(name, seed, role, family): slot(*a, compute=True)
            if stage == "sep-main-models":
                tasks.append(model_task_of(stage, label, run_of, compute_run, store, device))
            else:
                tasks.append(eval_task_of(stage, label, run_of, compute_run, profile.experiment(name), store, device))
    for run in lambda_runs(profile):  # the sweep's explanation robustness, SEP's own method
        tasks.append(replace(study.attack_task(profile, run.label, lambda r=run: stored_live(r, store),
                                               profile.sep.method, store, device,
                                               lambda r=run: live_after_training(r, store, device)),
                             stage="sep-attacks"))
    for method in profile.prototypes.methods:
        for run in extra_runs(profile):
            tasks.append(replace(study.attack_task(profile, run.label, lambda r=run: r, method, store, device),
                                 stage="sep-attacks"))
        for name, seed, role, family in slots:
            args = (name, seed, role, family)
            tasks.append(replace(study.attack_task(profile, f"{name} {role} on {family} seed {seed}",
                                                   lambda a=args: slot(*a), method, store, device,
                                                   lambda a=args: slot(*a, compute=True)), stage="sep-attacks"))
    return tasks


def sep_slots(profile: Profile, experiments: list[str] | None = None, families: tuple[str, ...] | None = None
              ) -> list[tuple[str, int, str, str]]:
    """Every SEP model of the main comparison as (experiment, seed, role, base family): SEP_pos and SEP_neg on
    the base of each swept experiment, every seed, then on the TRADES base of ``sep.trades_experiments``.
    Which lambda (if any) a slot has is known once the lambda sweep is stored (``ChosenSlots``)."""
    swept = list(dict.fromkeys(r.experiment for r in lambda_runs(profile)))  # those with a base model
    slots = [(n, s, role, base_role(profile)) for n in swept for s in profile.seeds
             for role in ("SEP_pos", "SEP_neg")]
    slots += [(n, s, role, "TRADES") for n in profile.sep.trades_experiments
              if n in swept and base_runs(profile, n, "TRADES") for s in profile.seeds for role in ("SEP_pos", "SEP_neg")]
    return [t for t in slots if (experiments is None or t[0] in experiments)
            and (families is None or t[3] in families)]


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
            if not compute and not sweep_ready(self.profile, self.store):
                return None
            self._chosen = choose(sweep_table(self.profile, self.store, self.device),
                                  self.profile.sep.tolerance_points).set_index("experiment")
        return self._chosen

    def __call__(self, name: str, seed: int, role: str, family: str, compute: bool = False,
                 method: str | None = None) -> Run | dict | None:
        c = self.chosen(compute)
        if c is None:
            return None
        lam = c.loc[name, role]
        if lam is None or pd.isna(lam):
            return NOT_NEEDED
        base = next(r for r in base_runs(self.profile, name, family) if r.seed == seed)
        return with_sep(base, lam, self.profile, method)


def live_after_training(run: Run | dict, store: ResultStore, device: str) -> Run | dict:
    """``run`` once its model is trained (training it if need be), ``NOT_NEEDED`` when it collapsed; a slot
    that is not needed is passed through."""
    if not isinstance(run, Run):
        return run
    return NOT_NEEDED if get_model(run.spec, store, device, progress=False).collapsed else run


def _config_of(run: Run | dict | None) -> dict | None:
    return run.spec.store_config() if isinstance(run, Run) else run


def _train(run: Run | dict, store: ResultStore, device: str) -> None:
    if isinstance(run, Run):
        get_model(run.spec, store, device, progress=False)


def model_task_of(stage: str, label: str, run_of, compute_run, store: ResultStore, device: str) -> Task:
    """The training of a (possibly not yet decided) run's model: ``run_of()`` gives the run, ``None`` while
    undecided or ``NOT_NEEDED``; ``compute_run()`` decides it when the task runs."""
    return Task(stage, label, "models", "model.pt", lambda: _config_of(run_of()),
                lambda: _train(compute_run(), store, device))


def eval_task_of(stage: str, label: str, run_of, compute_run, exp, store: ResultStore, device: str) -> Task:
    """The PGD evaluation of a (possibly not yet decided) run's model."""
    def config() -> dict | None:
        run = run_of()
        return eval_config(model_key(run), exp, exp.eval.attack) if isinstance(run, Run) else run

    def compute() -> None:
        run = compute_run()
        if isinstance(run, Run):
            evaluate_model(get_model(run.spec, store, device, progress=False), exp, store, exp.eval.attack)

    return Task(stage, f"{label} PGD", "evals", "result.json", config, compute)
