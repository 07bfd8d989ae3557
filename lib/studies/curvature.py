"""Does SEP change the explanation landscape itself? The input-Hessian of the explanation loss and of the
cross-entropy at the landscape victims of the SEP chapter's models (standard, the base, SEP_pos, SEP_neg, the
lambda sweep), on the softplus twin at two smoothings, with intervals over seeds and victims (issue 12,
part 1).

The twin's beta decides how much of the ReLU network's kinks the curvature sees: beta 10 is the landscape
chapter's (where the attack's smoothing starts), ``drivers.second_beta`` a sharper twin (where it ends).
Curvature at the first beta is read from the landscape entries (``lib.pipeline.landscapes``), with slices, so
SEP models get the landscape chapter's full treatment; at the second beta only the curvature is computed
(store kind ``curvatures``). Collapsed models are never measured.

THE flatness of the verdicts is the target-free one (issue 19, item 4; ``lib.pipeline.flatness``, store kind
``flatness``): the spectral norm of G = (2/P) J^T J, the curvature of the explanation change
MSE(I(x + delta), I(x)) at delta = 0, what SEP penalises. The old Hessian of the target-dependent
explanation loss (H = G + R, R growing with the distance to the target, so tied to L_start) stays as a
secondary reading (``old_verdicts``) with its G and R parts apart (``decomposition``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from lib.analysis.verdicts import (
    ROLE_ORDER,
    beta_dependence,
    curvature_by_role,
    curvature_verdicts,
    sorted_by_role,
)
from lib.core.profile import Profile
from lib.core.store import ResultStore
from lib.pipeline.evaluation import live_after_training, model_key, stored_live
from lib.pipeline.flatness import (
    CHANGE,
    MODEL,
    as_curvature_rows,
    flatness_table,
    flatness_task,
)
from lib.pipeline.landscapes import (
    CURVATURE_MEASURES,
    betas,
    curvature_table,
    landscape_task,
    model_landscape,
    model_surfaces,
)
from lib.pipeline.roster import (
    ChosenSlots,
    base_role,
    base_runs,
    chapter_model_slots,
    chapter_models,
    sep_slots,
    sweep_runs,
)
from lib.pipeline.runs import Run
from lib.pipeline.task import Task
from lib.pipeline.training import get_model

SLICE_ROLES = (
    "SEP_pos",
    "MAT",
    "TRADES",
    "SEP_neg",
)  # the models whose slices and surfaces the chapter shows
SLICE_LOSSES = ("expl_twin", "ce")


@dataclass
class CurvatureResult:
    """Everything the curvature chapter shows (``curvature_result``).

    ``models``: ``chapter_models``' (base, role, run); ``curvature``: the per-victim ``curvature_table``;
    ``spectral``: ``curvature_by_role`` of the spectral norm (mean, lo, hi per experiment, base, twin beta,
    loss and role); ``verdicts``: ``curvature_verdicts`` (paired ratios with intervals and the status per
    experiment, base and twin beta, on every victim and on converged victims only); ``beta_dependence``:
    ``beta_dependence`` of the verdicts (column ``same``); ``norms`` and
    ``spectrum``: ``summary_tables``; ``lambda_curve``: ``lambda_curve``; ``converged``: the share of victims
    whose Lanczos met its tolerance, per twin beta; ``slices``: the mean 1-D slices (``slice_table``);
    ``surfaces``: the explanation loss around the first victim (``(experiment, role) -> {"ts", "grid"}``);
    ``betas``: the two twin betas; ``base``: the base role; ``first_seed``.

    The flatness read is the target-free one (``curvature`` rows of loss ``CHANGE``); ``old_verdicts``,
    ``old_beta_dependence`` and ``old_converged``: the same readings of the old target-dependent Hessian
    (loss "expl_twin"), secondary; ``decomposition``: ``decomposition_table``; ``model_defined``: (victims
    where G is defined on the model as trained, victims measured)."""

    models: list[tuple[str, str, Run]]
    curvature: pd.DataFrame
    spectral: pd.DataFrame
    verdicts: pd.DataFrame
    beta_dependence: pd.DataFrame
    norms: pd.DataFrame
    spectrum: pd.DataFrame
    lambda_curve: pd.DataFrame
    converged: dict[float, float]
    slices: pd.DataFrame
    surfaces: dict[tuple[str, str], dict]
    betas: tuple[float, float]
    base: str
    first_seed: int
    old_verdicts: pd.DataFrame | None = None
    old_beta_dependence: pd.DataFrame | None = None
    old_converged: dict[float, float] | None = None
    decomposition: pd.DataFrame | None = None
    model_defined: tuple[int, int] = (0, 0)

    @property
    def base_spectral(self) -> pd.DataFrame:
        """``spectral`` on the base role only (what the chapter's spectral-norm figure shows)."""
        return self.spectral[self.spectral["base"] == self.base]

    @property
    def all_beta_independent(self) -> bool:
        return bool(self.beta_dependence["same"].all())


def curvature_result(
    profile: Profile,
    store: ResultStore,
    device: str,
    chosen: pd.DataFrame,
    models: list[tuple[str, str, Run]] | None = None,
) -> CurvatureResult:
    """The curvature chapter's results in one call: ``chosen`` is ``analysis.verdicts.choose``'s table (the
    SEP chapter's choice), ``models`` its ``chapter_models`` (computed when not given)."""
    if models is None:
        models = chapter_models(profile, chosen, store, device)
    first, base = profile.seeds[0], base_role(profile)
    curv, spectral, verdicts, flat = curvature_study(profile, store, device, models)
    old = curvature_verdicts(curv, "spectral", loss="expl_twin")
    norms, spectrum = summary_tables(curv)
    slices, surfaces = slice_table(profile, store, device, models)
    on_model = flat[flat["net"] == MODEL]
    return CurvatureResult(
        models=models,
        curvature=curv,
        spectral=spectral,
        verdicts=verdicts,
        beta_dependence=beta_dependence(verdicts),
        norms=norms,
        spectrum=spectrum,
        lambda_curve=lambda_curve(curv, first, base),
        converged=converged_shares(curv, CHANGE),
        old_converged=converged_shares(curv, "expl_twin"),
        old_verdicts=old,
        old_beta_dependence=beta_dependence(old),
        decomposition=decomposition_table(curv),
        model_defined=(int(on_model["defined"].sum()), len(on_model)),
        slices=slices,
        surfaces=surfaces,
        betas=betas(profile),
        base=base,
        first_seed=first,
    )


def slice_table(
    profile: Profile,
    store: ResultStore,
    device: str,
    models: list[tuple[str, str, Run]],
) -> tuple[pd.DataFrame, dict[tuple[str, str], dict]]:
    """For the first seed's base, SEP_pos and SEP_neg models on the base role (display order): the mean over
    Gaussian directions and victims of each loss's 1-D slice (rows experiment, role, loss, t, value), and the
    explanation loss (twin) on the plane of the first two directions around the first victim
    (``(experiment, role) -> {"ts": steps, "grid": values with direction 1 along x}``)."""
    first, base = profile.seeds[0], base_role(profile)
    chosen = [
        (role, r)
        for b, role, r in models
        if r.seed == first and b == base and role in SLICE_ROLES
    ]
    rows, surfaces = [], {}
    for name in dict.fromkeys(r.experiment for _, r in chosen):
        for role, run in sorted(
            [m for m in chosen if m[1].experiment == name],
            key=lambda m: ROLE_ORDER[m[0]],
        ):
            trained = get_model(run.spec, store, device, progress=False)
            land = model_landscape(profile, name, trained, store, device)
            ts = land["ts"].numpy()
            for loss in SLICE_LOSSES:
                curves = [
                    v
                    for k, v in land["slices"].items()
                    if k.startswith(f"{loss}|gaussian|")
                ]
                mean = np.mean([c.numpy().mean(0) for c in curves], axis=0)
                rows += [
                    {
                        "experiment": name,
                        "role": role,
                        "loss": loss,
                        "t": float(t),
                        "value": float(v),
                    }
                    for t, v in zip(ts, mean)
                ]
            surf = model_surfaces(profile, name, trained, store, device)
            surfaces[(name, role)] = {
                "ts": surf["ts"].numpy(),
                "grid": surf["expl_twin"][0].numpy().T,
            }
    return pd.DataFrame(
        rows, columns=["experiment", "role", "loss", "t", "value"]
    ), surfaces


def lambda_curve(
    curv: pd.DataFrame, first_seed: int, base: str = "MAT"
) -> pd.DataFrame:
    """The lambda sweep's curvature: per experiment, twin beta, loss and lambda (0: the base model), the mean
    spectral norm over the victims of the first seed's model on ``base``."""
    g = curv[
        (curv["seed"] == first_seed)
        & (curv["base"] == base)
        & (curv["role"] != "standard")
    ]
    g = g.assign(lam=g["lam"].fillna(0.0).astype(float))
    return (
        g.groupby(["experiment", "twin_beta", "loss", "lam"], sort=False)["spectral"]
        .mean()
        .reset_index()
    )


def curvature_tasks(profile: Profile, store: ResultStore, device: str) -> list[Task]:
    """The landscape of every SEP-chapter model the landscape stage does not cover, the curvature of every
    SEP-chapter model at the second twin beta, its target-free flatness (``pipeline.flatness``) at both twin
    betas, and the surfaces of the first seed's base, SEP_pos and
    SEP_neg models."""
    swept = {model_key(r) for r in sweep_runs(profile)}
    tasks = []
    models = chapter_model_slots(profile, store, device)
    for m in models:
        if m.run is None or model_key(m.run) not in swept:
            tasks.append(
                landscape_task(
                    profile,
                    "sep-landscapes",
                    m.label,
                    m.run_of,
                    m.compute_run,
                    store,
                    device,
                )
            )
    tasks += [
        landscape_task(
            profile,
            "sep-curvatures",
            m.label,
            m.run_of,
            m.compute_run,
            store,
            device,
            beta=profile.drivers.second_beta,
        )
        for m in models
    ]
    tasks += [  # the target-free flatness of every SEP-chapter model at both twin betas
        flatness_task(
            profile, "sep-flatness", m.label, m.run_of, m.compute_run, store, device, b
        )
        for m in models
        for b in betas(profile)
    ]
    slot = ChosenSlots(profile, store, device)
    first = profile.seeds[0]
    surfaced = sep_slots(
        profile, families=(base_role(profile),)
    )  # only experiments with a lambda sweep
    for name in dict.fromkeys(a[0] for a in surfaced):
        tasks += [
            landscape_task(
                profile,
                "sep-surfaces",
                r.label,
                lambda r=r: r,
                lambda r=r: r,
                store,
                device,
                surface=True,
            )
            for r in base_runs(profile, name)
            if r.seed == first
        ]
    for a in [a for a in surfaced if a[1] == first]:
        tasks.append(
            landscape_task(
                profile,
                "sep-surfaces",
                f"{a[0]} {a[2]} seed {first}",
                lambda a=a: stored_live(slot(*a), store),
                lambda a=a: live_after_training(slot(*a, compute=True), store, device),
                store,
                device,
                surface=True,
            )
        )
    return tasks


def curvature_study(
    profile: Profile,
    store: ResultStore,
    device: str,
    models: list[tuple[str, str, Run]],
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """The part's results in one call (the chapter and the findings page share it): the per-victim
    ``curvature_table`` of ``models`` (``chapter_models``) with the target-free flatness's twin rows
    appended (loss ``CHANGE``, ``pipeline.flatness.as_curvature_rows``), ``by_role`` of the spectral norm,
    ``curvature_verdicts`` of the target-free spectral norm (paired by seed and victim, on every victim and
    on the converged ones only), and the ``flatness_table`` itself (twin and model rows)."""
    curv = curvature_table(profile, store, device, models)
    flat = flatness_table(profile, store, device, models, betas(profile))
    curv = pd.concat([curv, as_curvature_rows(flat)], ignore_index=True)
    spectral = curvature_by_role(curv, "spectral")
    return curv, spectral, curvature_verdicts(curv, "spectral", loss=CHANGE), flat


def converged_shares(curv: pd.DataFrame, loss: str) -> dict[float, float]:
    """Per twin beta, the share of ``loss``'s per-victim rows whose Lanczos met its tolerance."""
    rows = curv[curv["loss"] == loss]
    return {
        float(b): float(g["eig_converged"].astype(bool).mean())
        for b, g in rows.groupby("twin_beta")
    }


DECOMPOSITION_PARTS = (  # (column, loss of the rows it is read from, measure)
    ("old_spectral", "expl_twin", "spectral"),
    ("g_spectral", CHANGE, "spectral"),
    ("r_largest", CHANGE, "r_largest"),
    ("r_smallest", CHANGE, "r_smallest"),
    ("h_trace", CHANGE, "h_trace"),
    ("g_trace", CHANGE, "trace"),
    ("r_trace", CHANGE, "r_trace"),
)


def decomposition_table(curv: pd.DataFrame) -> pd.DataFrame:
    """The old flatness taken apart, per experiment, base, twin beta and role (the lambda sweep left out),
    means over every victim of every seed: the old Hessian's spectral norm ``old_spectral`` (||H||), the
    target-free ``g_spectral`` (||G||), R = H - G's extreme eigenvalues ``r_largest``, ``r_smallest``, and
    the traces ``h_trace`` = ``g_trace`` + ``r_trace`` (shared probes); ``r_converged``: the share of
    victims whose Lanczos on R converged. (Spectral norms do not add: ||H|| <= ||G|| + ||R||.)"""
    keys = ["experiment", "base", "twin_beta", "role"]
    main = curv[curv["role"] != "lambda sweep"]
    out = None
    for col, loss, measure in DECOMPOSITION_PARTS:
        part = (
            main[main["loss"] == loss]
            .groupby(keys, sort=False)[measure]
            .mean()
            .rename(col)
        )
        out = part.to_frame() if out is None else out.join(part, how="outer")
    conv = (
        main[main["loss"] == CHANGE]
        .groupby(keys, sort=False)["r_converged"]
        .apply(lambda v: float(v.astype(bool).mean()))
        .rename("r_converged")
    )
    out = out.join(conv, how="left").reset_index()
    return sorted_by_role(out, ["experiment", "base"], then=["twin_beta"])


def summary_tables(curv: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Two readable tables per experiment, base and twin beta (column ``group``): the spectral norm of the
    target-free flatness (``flatness``), of the old target-dependent explanation loss (``expl``, secondary)
    and of CE, each with its interval (text, 3 significant figures), the seed count and the share of victims
    whose Lanczos converged (``converged``: 'flatness / old / CE'); and the extreme eigenvalues and
    Frobenius norm of the old explanation loss, the target-free flatness's trace and Frobenius norm and CE's
    Frobenius norm (means). A loss without rows (e.g. no flatness entries) gives empty cells."""
    keys = ["experiment", "base", "twin_beta", "role"]
    parts = {  # each measure on the rows that have it (G's smallest eigenvalue is not measured)
        m: curvature_by_role(curv[curv[m].notna()], m)
        for m in CURVATURE_MEASURES + ("trace",)
    }
    spec = parts["spectral"].assign(
        text=[
            f"{m:.3g} [{lo:.3g}, {hi:.3g}]"
            for m, lo, hi in zip(
                parts["spectral"]["mean"],
                parts["spectral"]["lo"],
                parts["spectral"]["hi"],
            )
        ]
    )
    first = spec[keys + ["seeds"]].drop_duplicates(keys)
    conv = []
    for loss, col in ((CHANGE, "flatness"), ("expl_twin", "expl"), ("ce", "ce")):
        part = spec[spec["loss"] == loss][keys + ["text", "converged"]]
        first = first.merge(
            part.rename(columns={"text": col, "converged": f"conv_{col}"}),
            on=keys,
            how="left",
        )
        conv.append(f"conv_{col}")
    first["converged"] = [
        " / ".join("–" if pd.isna(v) else f"{100 * v:.0f} %" for v in vals)
        for vals in zip(*(first.pop(c) for c in conv))
    ]
    second = spec[keys].drop_duplicates()
    for m, loss, col in (
        ("largest", "expl_twin", "expl_largest"),
        ("smallest", "expl_twin", "expl_smallest"),
        ("frobenius", "expl_twin", "expl_frobenius"),
        ("trace", CHANGE, "flatness_trace"),
        ("frobenius", CHANGE, "flatness_frobenius"),
        ("frobenius", "ce", "ce_frobenius"),
    ):
        p = parts[m]
        second = second.merge(
            p[p["loss"] == loss][keys + ["mean"]].rename(columns={"mean": col}),
            on=keys,
            how="left",
        )
    for t in (first, second):
        t["group"] = [
            f"{e}, base {b}, twin β = {beta:g}"
            for e, b, beta in zip(t["experiment"], t["base"], t["twin_beta"])
        ]
        for c in [c for c in t.columns if c.startswith(("expl_", "ce_", "flatness_"))]:
            t[c] = ["–" if pd.isna(v) else f"{v:.3g}" for v in t[c]]
        for c in ("flatness", "expl", "ce"):
            if c in t.columns:
                t[c] = t[c].fillna("–")
    return first.reset_index(drop=True), second.reset_index(drop=True)
