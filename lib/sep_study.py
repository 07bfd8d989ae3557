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
from .runs import Run
from .store import ResultStore
from .sweep import evaluate_model, eval_config, first_seed, model_key, sweep_runs
from .train import get_model
from .work import Task

ROLES = ("SEP_pos", "MAT", "SEP_neg")


def base_runs(profile: Profile, experiment: str) -> list[Run]:
    """The base models of the robustness sweep (MAT, or the largest-beta TRADES model), one per seed."""
    family = "MAT" if profile.sep.base == "mat" else "TRADES"
    runs = [r for r in sweep_runs(profile, [experiment]) if r.kind.family == family]
    if family == "TRADES":
        top = max(r.spec.train.beta for r in runs)
        runs = [r for r in runs if r.spec.train.beta == top]
    return runs


def with_sep(run: Run, lam: float, profile: Profile) -> Run:
    s = profile.sep
    sep = SepConfig(lam=float(lam), sigma=s.sigma, samples=s.samples, method=s.method)
    return Run(run.experiment, replace(run.spec, train=replace(run.spec.train, sep=sep)))


def lambda_runs(profile: Profile) -> list[Run]:
    """The lambda sweep: every lambda of each experiment on the first seed's base model."""
    out = []
    for name, lams in profile.sep.lambdas.items():
        bases = first_seed(base_runs(profile, name), profile) if name in profile.run else []
        if bases:  # no base model in the sweep (sweep.mat false, say): nothing to regularise
            out += [with_sep(bases[0], lam, profile) for lam in sorted(lams)]
    return out


def sweep_table(profile: Profile, store: ResultStore, device: str) -> pd.DataFrame:
    """One row per lambda (the base model as lambda = 0) of each experiment, first seed: clean and PGD
    accuracy, the last epoch's L_f (1e-7) and the collapse reason (empty when the run did not collapse)."""
    rows = []
    swept = lambda_runs(profile)
    bases = {r.experiment for r in swept}
    for run in [first_seed(base_runs(profile, n), profile)[0] for n in profile.sep.lambdas if n in bases] + swept:
        exp = profile.experiment(run.experiment)
        trained = get_model(run.spec, store, device, progress=False)
        acc = evaluate_model(trained, exp, store, exp.eval.attack)
        last = trained.history[-1] if trained.history else {}
        rows.append({**run.describe(), "lam": run.kind.lam or 0.0, "clean_acc": acc["clean_acc"],
                     "pgd_acc": acc["pgd_acc"], "l_f_1e-7": last.get("sep_lf", float("nan")) * 1e7,
                     "collapsed": trained.collapsed or "", "key": trained.entry.key})
    if not rows:
        raise ConfigError(f"sep.lambdas={dict(profile.sep.lambdas)} is not allowed: expected lambdas for at least one "
                          f"experiment of run={list(profile.run)} whose sweep has the base model "
                          f"(sep.base={profile.sep.base!r}; sweep.mat={profile.sweep.mat})")
    return pd.DataFrame(rows).sort_values(["experiment", "lam"], kind="stable").reset_index(drop=True)


def choose(sweep: pd.DataFrame, tolerance_points: float) -> pd.DataFrame:
    """Per experiment, SEP_pos and SEP_neg: the largest |lambda| of each sign that did not collapse and whose
    clean and PGD accuracy are both within ``tolerance_points`` of the base model's; None when no lambda of
    that sign qualifies."""
    rows = []
    for name, g in sweep.groupby("experiment", sort=False):
        base = g[g["lam"] == 0].iloc[0]
        ok = g[(g["lam"] != 0) & (g["collapsed"] == "")
               & ((g["clean_acc"] - base["clean_acc"]).abs() * 100 <= tolerance_points)
               & ((g["pgd_acc"] - base["pgd_acc"]).abs() * 100 <= tolerance_points)]
        pos, neg = ok[ok["lam"] > 0]["lam"], ok[ok["lam"] < 0]["lam"]
        rows.append({"experiment": name, "SEP_pos": float(pos.max()) if len(pos) else None,
                     "SEP_neg": float(neg.min()) if len(neg) else None})
    return pd.DataFrame(rows)


def main_runs(profile: Profile, chosen: pd.DataFrame) -> list[tuple[str, Run]]:
    """(role, run) for MAT, SEP_pos and SEP_neg of each experiment, every seed."""
    out = []
    for row in chosen.itertuples():
        for base in base_runs(profile, row.experiment):
            out.append(("MAT", base))
            for role in ("SEP_pos", "SEP_neg"):
                lam = getattr(row, role)
                if lam is not None and not pd.isna(lam):
                    out.append((role, with_sep(base, lam, profile)))
    return out


def main_table(profile: Profile, store: ResultStore, device: str, chosen: pd.DataFrame) -> pd.DataFrame:
    """Explanation robustness (prototype pairs, every explanation method) and accuracy of every model of the
    main comparison, one row per (model, method), with its role and collapse reason; collapsed models are
    listed but not attacked."""
    roles = main_runs(profile, chosen)
    rows, live = [], []
    for role, run in roles:
        trained = get_model(run.spec, store, device, progress=False)
        if trained.collapsed:
            rows.append({**run.describe(), "role": role, "collapsed": trained.collapsed})
        else:
            live.append((role, run))
    table = study.relation_table(profile, store, device, runs=[r for _, r in live], progress=False)
    role_of = {model_key(r): role for role, r in live}
    table["role"] = table["key"].map(role_of)
    table["collapsed"] = ""
    return pd.concat([table, pd.DataFrame(rows)], ignore_index=True) if rows else table


def by_role(table: pd.DataFrame) -> pd.DataFrame:
    """Means over seeds per experiment, explanation method and role, with the number of seeds."""
    live = table[table["collapsed"] == ""]
    cols = ["l_start_1e-7", "l_end_1e-7", "relative_reduction", "spearman_to_target", "label_kept", "clean_acc",
            "pgd_acc"]
    agg = {c: (c, "mean") for c in cols}
    agg.update({"kind": ("kind", "first"), "seeds": ("seed", "count"), "l_end_sd": ("l_end_1e-7", "std")})
    out = live.groupby(["experiment", "explanation", "role"], sort=False).agg(**agg).reset_index()
    order = {r: i for i, r in enumerate(ROLES)}
    return out.sort_values(["experiment", "explanation", "role"], key=lambda c: c.map(order) if c.name == "role"
                           else c.map({v: i for i, v in enumerate(dict.fromkeys(c))}), kind="stable")


def verdicts(roles: pd.DataFrame, max_adv_spread_points: float = 3.0) -> pd.DataFrame:
    """Per experiment and explanation method: does L_end rank SEP_pos < MAT < SEP_neg (the paper's claim), do
    the relative reduction and the rank metric (lower = more robust) rank them the other way round, and does
    PGD accuracy of the three stay within ``max_adv_spread_points``?"""
    rows = []
    for (name, method), g in roles.groupby(["experiment", "explanation"], sort=False):
        g = g.set_index("role")
        if not set(ROLES) <= set(g.index):
            rows.append({"experiment": name, "explanation": method, "complete": False})
            continue
        le, rr, rk = (g.loc[list(ROLES), c].to_numpy() for c in ("l_end_1e-7", "relative_reduction",
                                                                  "spearman_to_target"))
        spread = 100 * (g.loc[list(ROLES), "pgd_acc"].max() - g.loc[list(ROLES), "pgd_acc"].min())
        rows.append({"experiment": name, "explanation": method, "complete": True,
                     "l_end_order": bool(le[0] < le[1] < le[2]), "reduction_order": bool(rr[0] > rr[1] > rr[2]),
                     "rank_order": bool(rk[0] > rk[1] > rk[2]), "pgd_spread_points": float(spread),
                     "pgd_within": bool(spread <= max_adv_spread_points),
                     "neg_over_pos": float(le[2] / le[0]), "mat_over_pos": float(le[1] / le[0])})
    return pd.DataFrame(rows)


def paper_blocks(csv: str) -> pd.DataFrame:
    """The paper's main table, with the same ratios and spread as ``verdicts`` per block (dataset, model)."""
    paper = pd.read_csv(csv)
    rows = []
    for (ds, model), g in paper.groupby(["dataset", "model"], sort=False):
        g = g.set_index("method")
        le = g.loc[["SEP_pos", "MAT", "SEP_neg"], "l_end_1e-7"].to_numpy()
        adv = g.loc[["SEP_pos", "MAT", "SEP_neg"], "adv_acc_pct"].to_numpy()
        rows.append({"dataset": ds, "model": model, "l_end_order": bool(le[0] < le[1] < le[2]),
                     "neg_over_pos": float(le[2] / le[0]), "mat_over_pos": float(le[1] / le[0]),
                     "pgd_spread_points": float(np.ptp(adv))})
    return pd.DataFrame(rows)


# ------------------------------------------------------------------------------------------------
# the stage's work, listed without computing it


def sep_tasks(profile: Profile, store: ResultStore, device: str) -> list[Task]:
    """The lambda sweep's models and evaluations, then the main comparison's SEP models of every seed (their
    lambdas are known once the sweep's evaluations are stored)."""
    tasks = []
    for run in lambda_runs(profile):
        exp = profile.experiment(run.experiment)
        tasks.append(Task("sep-models", run.label, "models", "model.pt", lambda r=run: r.spec.store_config(),
                          lambda r=run: get_model(r.spec, store, device, progress=False)))
        tasks.append(Task("sep-evals", run.label, "evals", "result.json",
                          lambda r=run, e=exp: eval_config(model_key(r), e, e.eval.attack),
                          lambda r=run, e=exp: evaluate_model(get_model(r.spec, store, device, progress=False), e,
                                                              store, e.eval.attack)))
    return tasks
