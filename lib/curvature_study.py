"""Does SEP change the explanation landscape itself? The input-Hessian of the explanation loss and of the
cross-entropy at the landscape victims of the SEP chapter's models (standard, the base, SEP_pos, SEP_neg, the
lambda sweep), on the softplus twin at two smoothings, with intervals over seeds and victims (issue 12,
part 1).

The twin's beta decides how much of the ReLU network's kinks the curvature sees: beta 10 is the landscape
chapter's (where the attack's smoothing starts), ``drivers.second_beta`` a sharper twin (where it ends).
Curvature at the first beta is read from the landscape entries (``lib.landscape_study``), with slices, so
SEP models get the landscape chapter's full treatment; at the second beta only the curvature is computed
(store kind ``curvatures``). Collapsed models are never measured.
"""
from __future__ import annotations

import time
from dataclasses import replace
from typing import Callable, NamedTuple

import numpy as np
import pandas as pd
import torch

from . import prototype_study as study
from .config import Profile
from .curvature import ce_loss_fn, explanation_loss_fn
from .landscape_study import (curvature_rows, landscape_config, landscape_tables, landscape_victims, loss_setup,
                              model_landscape, model_surfaces, victims_from)
from .runs import Run
from .sep_study import (ChosenSlots, base_role, base_runs, lambda_runs, live_after_training, main_runs, sep_slots,
                        standard_runs, stored_live, study_experiments, trades_runs)
from .stats import two_stage_bootstrap
from .store import ResultStore
from .sweep import model_key, sweep_runs
from .train import TrainedModel, get_model
from .work import NOT_NEEDED, Task

MEASURES = ("spectral", "largest", "smallest", "frobenius")
AS_INTENDED, PARTLY, AGAINST, NOT_TESTED = "as intended", "partly", "against", "not tested"  # the readings
ROLE_ORDER = {"standard": 0, "SEP_pos": 1, "MAT": 2, "TRADES": 2, "SEP_neg": 3}

RunOf = Callable[[], "Run | dict | None"]


class ModelSlot(NamedTuple):
    """A model of a stage's work: its label, ``run_of()`` (the run once decided and stored, ``None`` before,
    ``NOT_NEEDED`` when it collapsed or no lambda qualified), ``compute_run()`` (decides it, training what
    is missing) and ``run`` when it is known without reading the store (else None)."""

    label: str
    run_of: RunOf
    compute_run: RunOf
    run: Run | None


def with_beta(profile: Profile, beta: float) -> Profile:
    """``profile`` with the landscape twin's softplus beta set to ``beta``."""
    return replace(profile, landscape=replace(profile.landscape, softplus_beta=float(beta)))


def betas(profile: Profile) -> tuple[float, float]:
    return profile.landscape.softplus_beta, profile.drivers.second_beta


def compute_curvature(trained: TrainedModel, x: torch.Tensor, y: torch.Tensor, x_t: torch.Tensor,
                      profile: Profile) -> dict:
    """``curvature_rows`` of CE and the explanation loss on the profile's twin (no slices)."""
    s = profile.landscape
    _, twin, labels, target_maps, _ = loss_setup(trained.model, x, y, x_t, profile)
    rows = curvature_rows(ce_loss_fn(twin, y), explanation_loss_fn(twin, target_maps, s.method, labels=labels), x, s)
    return {"curvature": rows}


def curvature_config(profile: Profile, experiment: str, key: str, vi: np.ndarray, ti: np.ndarray, beta: float
                     ) -> dict:
    return landscape_config(with_beta(profile, beta), experiment, key, vi, ti)


def model_curvature(profile: Profile, experiment: str, trained: TrainedModel, beta: float, store: ResultStore,
                    device: str) -> list[dict]:
    """Per loss and victim, the curvature rows of one model at twin ``beta``: from the landscape entry at the
    landscape chapter's beta, else from a ``curvatures`` entry (computed and stored if missing)."""
    if beta == profile.landscape.softplus_beta:
        return model_landscape(profile, experiment, trained, store, device)["curvature"]
    vi, ti = landscape_victims(profile, experiment, store, device)
    entry = store.entry("curvatures", curvature_config(profile, experiment, trained.entry.key, vi, ti, beta)).ensure()

    def compute() -> dict:
        x_all, y_all = study.test_images(profile, experiment)
        t0 = time.perf_counter()
        out = compute_curvature(trained, x_all[vi].to(device), y_all[vi].to(device), x_all[ti].to(device),
                                with_beta(profile, beta))
        out["seconds"] = time.perf_counter() - t0
        return out

    return entry.get_or_compute_torch("curvature.pt", compute)["curvature"]


# ------------------------------------------------------------------------------------------------
# which models


def chapter_models(profile: Profile, chosen: pd.DataFrame, store: ResultStore, device: str
                   ) -> list[tuple[str, str, Run]]:
    """(base, role, run) for every live model the SEP chapter trained or compared: per experiment the standard
    and base models (every seed), SEP_pos and SEP_neg (every seed), the lambda sweep (first seed, role
    'lambda sweep'), all with base ``sep.base``'s role ('MAT'); then the TRADES base and its SEP models (base
    'TRADES'). ``chosen``: ``sep_study.choose``'s table. Collapsed models are left out."""
    main = [(base_role(profile), role, r) for role, r in main_runs(profile, chosen)]
    seen = {model_key(r) for _, _, r in main}
    main += [(base_role(profile), "lambda sweep", r) for r in lambda_runs(profile) if model_key(r) not in seen]
    main += [("TRADES", role, r) for role, r in trades_runs(profile, chosen)]
    return [(b, role, r) for b, role, r in main if not get_model(r.spec, store, device, progress=False).collapsed]


def curvature_table(profile: Profile, store: ResultStore, device: str, models: list[tuple[str, str, Run]]
                    ) -> pd.DataFrame:
    """One row per (model, twin beta, loss, victim): the run's fields, its base and role, the twin's beta and
    the curvature measures (1e-7 for the explanation loss)."""
    rows = []
    for base, role, run in models:
        trained = get_model(run.spec, store, device, progress=False)
        for beta in betas(profile):
            for r in model_curvature(profile, run.experiment, trained, beta, store, device):
                rows.append({**run.describe(), "base": base, "role": role, "twin_beta": beta, **r,
                             "key": trained.entry.key})
    return pd.DataFrame(rows)


def by_role(curv: pd.DataFrame, measure: str = "spectral", n_boot: int = 1000, seed: int = 0) -> pd.DataFrame:
    """Per experiment, base, twin beta, loss and role (the lambda sweep left out): the mean of ``measure`` over
    every victim of every seed, with a two-stage bootstrap 95 % interval (seeds, then victims), the seed
    count and the share of Lanczos runs that converged."""
    rows = []
    main = curv[curv["role"] != "lambda sweep"]
    for (name, base, beta, loss, role), g in main.groupby(["experiment", "base", "twin_beta", "loss", "role"],
                                                          sort=False):
        groups = [gg[measure].to_numpy(float) for _, gg in g.groupby("key", sort=False)]
        mean, lo, hi = two_stage_bootstrap(groups, n_boot, seed)
        rows.append({"experiment": name, "base": base, "twin_beta": beta, "loss": loss, "role": role,
                     "measure": measure,
                     "mean": mean, "lo": lo, "hi": hi, "seeds": len(groups),
                     "converged": float(g["eig_converged"].mean())})
    out = pd.DataFrame(rows)
    out["_r"] = out["role"].map(ROLE_ORDER)
    first = {n: i for i, n in enumerate(dict.fromkeys(zip(out["experiment"], out["base"])))}
    out["_g"] = [first[k] for k in zip(out["experiment"], out["base"])]
    return out.sort_values(["_g", "twin_beta", "loss", "_r"], kind="stable").drop(columns=["_g", "_r"]
                                                                                  ).reset_index(drop=True)


def verdicts(roles: pd.DataFrame) -> pd.DataFrame:
    """Per experiment, base and twin beta: does SEP_pos flatten (explanation-loss curvature below the base's) and
    SEP_neg sharpen (above), are the intervals apart, by what factor does each move the explanation loss's
    and the CE's curvature, and does CE move less than the explanation loss (the ratio closer to 1 in log
    terms) for every SEP role present? Missing roles give None / NaN."""
    rows = []
    for (name, base, beta), g in roles.groupby(["experiment", "base", "twin_beta"], sort=False):
        ex = g[g["loss"] == "expl_twin"].set_index("role")
        ce = g[g["loss"] == "ce"].set_index("role")
        if base not in ex.index:
            continue
        row = {"experiment": name, "base": base, "twin_beta": beta}
        moves = []
        for role, sign in (("SEP_pos", -1), ("SEP_neg", 1)):
            if role not in ex.index:
                row.update({f"{role}_expl_ratio": np.nan, f"{role}_ce_ratio": np.nan, f"{role}_intended": None,
                            f"{role}_apart": None})
                continue
            r_ex = ex.loc[role, "mean"] / ex.loc[base, "mean"]
            r_ce = ce.loc[role, "mean"] / ce.loc[base, "mean"]
            apart = (ex.loc[role, "hi"] < ex.loc[base, "lo"]) if sign < 0 else (ex.loc[role, "lo"] > ex.loc[base, "hi"])
            row.update({f"{role}_expl_ratio": r_ex, f"{role}_ce_ratio": r_ce,
                        f"{role}_intended": bool(np.sign(np.log(r_ex)) == sign), f"{role}_apart": bool(apart)})
            moves.append(abs(np.log(r_ce)) < abs(np.log(r_ex)))
        row["ce_moves_less"] = bool(all(moves)) if moves else None
        intended = [row[f"{r}_intended"] for r in ("SEP_pos", "SEP_neg") if row[f"{r}_intended"] is not None]
        row["reading"] = reading(intended, row["ce_moves_less"])
        rows.append(row)
    return pd.DataFrame(rows)


def reading(intended: list[bool], ce_moves_less: bool | None) -> str:
    """'as intended' when every SEP role present moves the explanation loss's curvature its way and CE
    moves less; 'partly' when some do; 'against' when none does; 'not tested' without a SEP role."""
    if not intended:
        return NOT_TESTED
    if all(intended) and ce_moves_less:
        return AS_INTENDED
    return PARTLY if any(intended) else AGAINST


def beta_dependence(verdict: pd.DataFrame) -> pd.DataFrame:
    """Per experiment and base, the reading at each twin beta and whether it is the same at both."""
    rows = []
    for (name, base), g in verdict.groupby(["experiment", "base"], sort=False):
        readings = dict(zip(g["twin_beta"], g["reading"]))
        rows.append({"experiment": name, "base": base, **{f"beta {b:g}": r for b, r in readings.items()},
                     "same": len(set(readings.values())) == 1})
    return pd.DataFrame(rows)


def lambda_curve(curv: pd.DataFrame, first_seed: int, base: str = "MAT") -> pd.DataFrame:
    """The lambda sweep's curvature: per experiment, twin beta, loss and lambda (0: the base model), the mean
    spectral norm over the victims of the first seed's model on ``base``."""
    g = curv[(curv["seed"] == first_seed) & (curv["base"] == base) & (curv["role"] != "standard")]
    g = g.assign(lam=g["lam"].fillna(0.0).astype(float))
    return g.groupby(["experiment", "twin_beta", "loss", "lam"], sort=False)["spectral"].mean().reset_index()


# ------------------------------------------------------------------------------------------------
# the stage's work, listed without computing it


def chapter_model_slots(profile: Profile, store: ResultStore, device: str, lambda_sweep: bool = True
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
    out = [ModelSlot(r.label, lambda r=r: stored_live(r, store), lambda r=r: live_after_training(r, store, device), r)
           for r in known]
    first = profile.seeds[0]
    for args in sep_slots(profile):
        if lambda_sweep and args[1] == first and args[3] == base_role(profile):
            continue  # the first seed's SEP_pos / SEP_neg on the base are lambda-sweep models
        out.append(ModelSlot(f"{args[0]} {args[2]} on {args[3]} seed {args[1]}",
                             lambda a=args: stored_live(slot(*a), store),
                             lambda a=args: live_after_training(slot(*a, compute=True), store, device), None))
    return out



def landscape_task(profile: Profile, stage: str, label: str, run_of: RunOf, compute_run: RunOf,
                   store: ResultStore, device: str, beta: float | None = None, surface: bool = False) -> Task:
    """The landscape (``beta`` None), the curvature at twin ``beta`` or the surfaces (``surface``) of a
    possibly undecided model, keyed by the model and the landscape victims once both are stored."""
    def config() -> dict | None:
        run = run_of()
        if not isinstance(run, Run):
            return run
        pairs = study.stored_pairs(profile, run.experiment, store)
        if pairs is None:
            return None
        vi, ti = victims_from(pairs, profile.landscape.victims, run.experiment)
        if surface:
            k = profile.landscape.surface_victims
            return landscape_config(profile, run.experiment, model_key(run), vi[:k], ti[:k])
        return curvature_config(profile, run.experiment, model_key(run), vi, ti,
                                profile.landscape.softplus_beta if beta is None else beta)

    def compute() -> None:
        run = compute_run()
        if isinstance(run, Run):
            trained = get_model(run.spec, store, device, progress=False)
            if surface:
                model_surfaces(profile, run.experiment, trained, store, device)
            elif beta is None:
                landscape_tables(profile, store, device, [run], progress=False)
            else:
                model_curvature(profile, run.experiment, trained, beta, store, device)

    kind, file = (("surfaces", "surfaces.pt") if surface else ("landscapes", "landscape.pt") if beta is None
                  else ("curvatures", "curvature.pt"))
    suffix = " surfaces" if surface else "" if beta is None else f" twin β={beta:g}"
    return Task(stage, label + suffix, kind, file, config, compute)


def curvature_tasks(profile: Profile, store: ResultStore, device: str) -> list[Task]:
    """The landscape of every SEP-chapter model the landscape stage does not cover, the curvature of every
    SEP-chapter model at the second twin beta, and the surfaces of the first seed's base, SEP_pos and
    SEP_neg models."""
    swept = {model_key(r) for r in sweep_runs(profile)}
    tasks = []
    models = chapter_model_slots(profile, store, device)
    for m in models:
        if m.run is None or model_key(m.run) not in swept:
            tasks.append(landscape_task(profile, "sep-landscapes", m.label, m.run_of, m.compute_run, store, device))
    tasks += [landscape_task(profile, "sep-curvatures", m.label, m.run_of, m.compute_run, store, device,
                             beta=profile.drivers.second_beta) for m in models]
    slot = ChosenSlots(profile, store, device)
    first = profile.seeds[0]
    surfaced = sep_slots(profile, families=(base_role(profile),))  # only experiments with a lambda sweep
    for name in dict.fromkeys(a[0] for a in surfaced):
        tasks += [landscape_task(profile, "sep-surfaces", r.label, lambda r=r: r, lambda r=r: r, store, device,
                                 surface=True) for r in base_runs(profile, name) if r.seed == first]
    for a in [a for a in surfaced if a[1] == first]:
        tasks.append(landscape_task(profile, "sep-surfaces", f"{a[0]} {a[2]} seed {first}",
                                    lambda a=a: stored_live(slot(*a), store),
                                    lambda a=a: live_after_training(slot(*a, compute=True), store, device), store, device,
                                    surface=True))
    return tasks


def curvature_study(profile: Profile, store: ResultStore, device: str, models: list[tuple[str, str, Run]]
                    ) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """The part's results in one call (the chapter and the findings page share it): the per-victim
    ``curvature_table`` of ``models`` (``chapter_models``), ``by_role`` of the spectral norm, and
    ``verdicts``."""
    curv = curvature_table(profile, store, device, models)
    spectral = by_role(curv, "spectral")
    return curv, spectral, verdicts(spectral)


def summary_tables(curv: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Two readable tables per experiment, base and twin beta (column ``group``): the spectral norm of the
    explanation loss and of CE with its interval (text, 3 significant figures) and the seed count; and the
    extreme eigenvalues and Frobenius norm of the explanation loss and the Frobenius norm of CE (means)."""
    keys = ["experiment", "base", "twin_beta", "role"]
    parts = {m: by_role(curv, m) for m in MEASURES}
    spec = parts["spectral"].assign(text=[f"{m:.3g} [{lo:.3g}, {hi:.3g}]" for m, lo, hi in
                                          zip(parts["spectral"]["mean"], parts["spectral"]["lo"],
                                              parts["spectral"]["hi"])])
    first = spec[spec["loss"] == "expl_twin"][keys + ["text", "seeds"]].rename(columns={"text": "expl"})
    first = first.merge(spec[spec["loss"] == "ce"][keys + ["text"]].rename(columns={"text": "ce"}), on=keys)
    second = parts["largest"][parts["largest"]["loss"] == "expl_twin"][keys + ["mean"]].rename(
        columns={"mean": "expl_largest"})
    for m, loss, col in (("smallest", "expl_twin", "expl_smallest"), ("frobenius", "expl_twin", "expl_frobenius"),
                         ("frobenius", "ce", "ce_frobenius")):
        p = parts[m]
        second = second.merge(p[p["loss"] == loss][keys + ["mean"]].rename(columns={"mean": col}), on=keys)
    for t in (first, second):
        t["group"] = [f"{e}, base {b}, twin β = {beta:g}" for e, b, beta in zip(t["experiment"], t["base"],
                                                                                t["twin_beta"])]
        for c in [c for c in t.columns if c.startswith(("expl_", "ce_"))]:
            t[c] = [f"{v:.3g}" for v in t[c]]
    return first, second
