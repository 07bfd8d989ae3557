"""The curvature chapter's figures and sentences: does SEP change the explanation landscape itself?

Every figure takes a table of ``lib.studies.curvature.curvature_result`` and returns a matplotlib Figure at
the page's width; every sentence is chosen from the numbers it is given.
"""

from __future__ import annotations

from collections.abc import Mapping

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from lib.analysis.stats import AGREES, DISAGREES, INCONCLUSIVE
from lib.report.style import PAGE_WIDTH, ROLE_COLOR

LOSS_TITLE = {
    "expl_change": "flatness (target-free)",
    "expl_twin": "old: explanation loss",
    "ce": "cross-entropy",
}  # the panels, in order, of the losses a table has


def _losses(table: pd.DataFrame) -> list[str]:
    present = set(table["loss"])
    return [loss for loss in LOSS_TITLE if loss in present]


MARKERS = "os"  # one marker per twin beta


def _scale_note(loss: str) -> str:
    return " (1e-7)" if loss != "ce" else ""


def spectral_norms_figure(spectral: pd.DataFrame) -> plt.Figure:
    """The spectral norm per role (rows of one panel), mean with its interval, at each twin beta (markers), log
    scale: one row of panels per experiment, one panel per loss present in ``LOSS_TITLE``'s order (the
    target-free flatness, the old explanation loss, CE).

    ``spectral``: ``curvature_by_role`` rows (experiment, twin_beta, loss, role, mean, lo, hi) of one base."""
    blocks = list(spectral.groupby("experiment", sort=False))
    losses = _losses(spectral)
    fig, axes = plt.subplots(
        len(blocks),
        len(losses),
        figsize=(PAGE_WIDTH, 2.4 * len(blocks)),
        squeeze=False,
        constrained_layout=True,
    )
    for (name, g), row in zip(blocks, axes):
        for ax, loss in zip(row, losses):
            for k, (beta, gb) in enumerate(g[g["loss"] == loss].groupby("twin_beta")):
                y = np.arange(len(gb)) + 0.15 * (k - 0.5)
                ax.errorbar(
                    gb["mean"],
                    y,
                    xerr=[gb["mean"] - gb["lo"], gb["hi"] - gb["mean"]],
                    fmt=MARKERS[k],
                    capsize=3,
                    label=f"twin β = {beta:g}",
                )
                ax.set_yticks(np.arange(len(gb)), gb["role"], fontsize=8)
            ax.set_xscale("log")
            ax.tick_params(axis="x", which="minor", labelsize=6, labelrotation=45)
            ax.invert_yaxis()
            ax.set_title(f"{name}: {LOSS_TITLE[loss]}", fontsize=9)
            ax.set_xlabel("spectral norm" + _scale_note(loss), fontsize=8)
            ax.tick_params(labelsize=8)
            ax.grid(alpha=0.3, axis="x")
        row[0].legend(fontsize=7)
    return fig


def lambda_curve_figure(lam: pd.DataFrame) -> plt.Figure:
    """Mean spectral norm against the SEP weight lambda (symmetric log scale, 0 = the base), one line per twin
    beta: one row of panels per experiment, one panel per loss present (``LOSS_TITLE``'s order).

    ``lam``: ``studies.curvature.lambda_curve`` (experiment, twin_beta, loss, lam, spectral)."""
    names = list(dict.fromkeys(lam["experiment"]))
    losses = _losses(lam)
    fig, axes = plt.subplots(
        len(names),
        len(losses),
        figsize=(PAGE_WIDTH, 2.5 * len(names)),
        squeeze=False,
        constrained_layout=True,
    )
    for name, row in zip(names, axes):
        g = lam[lam["experiment"] == name]
        nz = np.abs(g["lam"][g["lam"] != 0])
        for ax, loss in zip(row, losses):
            for k, (beta, gb) in enumerate(g[g["loss"] == loss].groupby("twin_beta")):
                gb = gb.sort_values("lam")
                ax.plot(
                    gb["lam"],
                    gb["spectral"],
                    MARKERS[k] + "-",
                    label=f"twin β = {beta:g}",
                )
            ax.set_xscale("symlog", linthresh=float(nz.min()) if len(nz) else 1.0)
            ax.set_yscale("log")
            ax.tick_params(axis="y", which="minor", labelsize=6)
            ax.set_title(f"{name}: {LOSS_TITLE[loss]}", fontsize=9)
            ax.set_xlabel("SEP weight λ (0 = base)", fontsize=8)
            ax.set_ylabel("spectral norm" + _scale_note(loss), fontsize=8)
            ax.tick_params(labelsize=7, labelrotation=45)
            ax.grid(alpha=0.3)
        row[0].legend(fontsize=7)
    return fig


def slices_figure(slices: pd.DataFrame) -> plt.Figure:
    """The mean 1-D slices, one line per role in its colour: one row of panels per experiment, the
    explanation loss (log scale) left and CE right.

    ``slices``: ``studies.curvature.slice_table`` rows (experiment, role, loss, t, value), roles in display
    order."""
    names = list(dict.fromkeys(slices["experiment"]))
    fig, axes = plt.subplots(
        len(names),
        2,
        figsize=(PAGE_WIDTH, 2.4 * len(names)),
        squeeze=False,
        constrained_layout=True,
    )
    for name, row in zip(names, axes):
        g = slices[slices["experiment"] == name]
        for ax, loss in zip(row, ("expl_twin", "ce")):
            for role, gr in g[g["loss"] == loss].groupby("role", sort=False):
                ax.plot(gr["t"], gr["value"], label=role, color=ROLE_COLOR[role])
        for ax, title in zip(row, ("explanation loss, twin (1e-7)", "cross-entropy")):
            ax.set_title(f"{name}: {title}", fontsize=9)
            ax.set_xlabel("step t along a Gaussian direction", fontsize=8)
            ax.tick_params(labelsize=7)
            ax.grid(alpha=0.3)
        row[0].set_yscale("log")
        row[0].tick_params(axis="y", which="minor", labelsize=6)
        row[0].legend(fontsize=7)
    return fig


def surface_figure(
    surfaces: Mapping[tuple[str, str], dict], experiment: str, beta: float
) -> plt.Figure:
    """The explanation loss on the plane of two Gaussian directions around the first victim, one panel per
    role of ``experiment``, on one shared colour scale.

    ``surfaces``: ``(experiment, role) -> {"ts": steps, "grid": values with direction 1 along x}``."""
    roles = [role for (n, role) in surfaces if n == experiment]
    fig, axes = plt.subplots(
        1,
        len(roles),
        figsize=(2.7 * len(roles), 2.6),
        squeeze=False,
        constrained_layout=True,
    )
    grids = [surfaces[(experiment, role)]["grid"] for role in roles]
    lo, hi = min(g.min() for g in grids), max(g.max() for g in grids)
    for ax, role, grid in zip(axes[0], roles, grids):
        t = surfaces[(experiment, role)]["ts"]
        im = ax.contourf(t, t, grid, levels=np.linspace(lo, hi, 21), cmap="viridis")
        ax.set_title(role, fontsize=9)
        ax.set_xlabel("direction 1", fontsize=8)
        ax.tick_params(labelsize=7)
    axes[0][0].set_ylabel("direction 2", fontsize=8)
    fig.colorbar(im, ax=axes[0].tolist(), shrink=0.85, label="expl. loss (1e-7)")
    fig.suptitle(
        f"{experiment}: explanation loss around the first victim (twin β = {beta:g})",
        fontsize=9,
    )
    return fig


def surface_experiments(surfaces: Mapping[tuple[str, str], dict]) -> list[str]:
    """The experiments of ``surfaces``, in order (one surface figure each)."""
    return list(dict.fromkeys(n for n, _ in surfaces))


HALF_WORDS = {
    ("SEP_pos", AGREES): "flatter than the base",
    ("SEP_pos", DISAGREES): "sharper than the base (against the paper)",
    ("SEP_neg", AGREES): "sharper than the base",
    ("SEP_neg", DISAGREES): "flatter than the base (against the paper)",
}  # the words of a half's status; an inconclusive half is "no clear change"
CE_LESS_WORDS = {
    AGREES: "CE moves less",
    DISAGREES: "CE moves more",
    INCONCLUSIVE: "whether CE moves less is inconclusive",
}


def ratio_text(r, role: str) -> str:
    """How ``role`` (SEP_pos or SEP_neg) moves the spectral norm from its base, from a ``curvature_verdicts``
    row: 'SEP_pos ×0.52 [0.40, 0.66] of the base: flatter than the base (agrees); CE ×0.98 [0.90, 1.07],
    CE moves less'. An interval that holds 1 says so: 'no clear change (inconclusive)'."""
    e = getattr(r, f"{role}_expl_ratio")
    if not np.isfinite(e):
        return f"no {role}"
    status = getattr(r, f"{role}_status")
    lo, hi = getattr(r, f"{role}_expl_lo"), getattr(r, f"{role}_expl_hi")
    words = HALF_WORDS.get((role, status), "no clear change")
    text = f"{role} ×{e:.3g} [{lo:.3g}, {hi:.3g}] of the base: {words} ({status})"
    c = getattr(r, f"{role}_ce_ratio")
    if np.isfinite(c):
        less = getattr(r, f"{role}_ce_less")
        text += (
            f"; CE ×{c:.3g} [{getattr(r, f'{role}_ce_lo'):.3g}, "
            f"{getattr(r, f'{role}_ce_hi'):.3g}], {CE_LESS_WORDS[less]}"
        )
    return text


def beta_text(dependence: pd.DataFrame) -> str:
    """Whether the status depends on the twin's beta (``analysis.verdicts.beta_dependence``)."""
    if dependence["same"].all():
        return (
            "The status is the same at both twin betas in every block, so it does not depend on how much the "
            "twin smooths the ReLUs."
        )
    return (
        "The status changes with the twin's beta in "
        + ", ".join(
            f"{r.experiment} (base {r.base})"
            for r in dependence[~dependence["same"]].itertuples()
        )
        + ": the curvature reading there depends on how much of the ReLU network's kinks the twin keeps."
    )


def converged_text(verdicts: pd.DataFrame) -> str:
    """Whether re-reading every block on the victims whose Lanczos converged (``status_converged`` of
    ``analysis.verdicts.curvature_verdicts``) changes its status."""
    changed = verdicts[verdicts["changed"]]
    if not len(changed):
        return (
            "Re-read on the victims whose Lanczos converged only (a victim dropped for both models where "
            "either did not converge), every block keeps its status."
        )
    return (
        "Re-read on the victims whose Lanczos converged only, the status changes in "
        + "; ".join(
            f"{r.experiment} (base {r.base}, twin β = {r.twin_beta:g}): {r.status} → "
            f"{r.status_converged or 'no reading'}"
            for r in changed.itertuples()
        )
        + ", so there the reading rests on values Lanczos did not settle."
    )


def curvature_text(
    verdicts: pd.DataFrame,
    dependence: pd.DataFrame,
    converged: Mapping[float, float],
    max_iter: int,
) -> str:
    """The chapter's reading per block (``ratio_text`` of SEP_pos and SEP_neg and the block's status), its
    beta dependence (``beta_text``), Lanczos' convergence (``converged``: share per twin beta) and whether
    the status holds on converged victims only (``converged_text``)."""
    lines = [
        f"- **{r.experiment}, base {r.base}, twin β = {r.twin_beta:g}:** "
        f"{ratio_text(r, 'SEP_pos')}; {ratio_text(r, 'SEP_neg')}. "
        f"Status: **{r.status or 'no reading'}**."
        for r in verdicts.itertuples()
    ]
    return (
        "The flatness is the target-free one: the spectral norm of G = (2/P) JᵀJ (J: the input Jacobian of "
        "the explanation map), the curvature at the victim of the explanation change MSE(I(x + δ), I(x)), "
        "what SEP penalises; no target map enters it. Each SEP model relative to its base on the same "
        "victims and seed (×1 = unchanged; each seed the geometric mean of its per-victim ratios, with a "
        "95 % t-interval over the seeds):\n"
        + "\n".join(lines)
        + "\n\nA half agrees when its interval lies on the paper's side of 1 (SEP_pos below, SEP_neg above), "
        "disagrees when it lies on the other side, and is inconclusive when it holds 1; a block agrees when "
        "every half present agrees and disagrees when one disagrees. Whether CE moves less (|log ratio| of "
        "CE below the flatness's, with its interval) is reported beside it and does not enter the "
        "status. "
        + beta_text(dependence)
        + " Lanczos met its tolerance for "
        + ", ".join(
            f"{100 * share:.0f} % of the victims at twin β = {b:g}"
            for b, share in converged.items()
        )
        + " (an unconverged value is the best estimate after the cap of "
        f"{max_iter} operator calls, a lower bound on the spectral norm). "
        + converged_text(verdicts)
    )


def old_new_table(new: pd.DataFrame, old: pd.DataFrame) -> pd.DataFrame:
    """Per experiment, base and twin beta, the block's status read on the target-free flatness (``new``) and
    on the old target-dependent Hessian (``old``; both ``analysis.verdicts.curvature_verdicts``), on every
    victim and on converged victims only, with each half's ratio and interval (text)."""
    keys = ["experiment", "base", "twin_beta"]

    def halves(r) -> str:
        return "; ".join(
            f"{role} ×{getattr(r, f'{role}_expl_ratio'):.3g} "
            f"[{getattr(r, f'{role}_expl_lo'):.3g}, {getattr(r, f'{role}_expl_hi'):.3g}]"
            for role in ("SEP_pos", "SEP_neg")
            if np.isfinite(getattr(r, f"{role}_expl_ratio"))
        )

    def part(t: pd.DataFrame, tag: str) -> pd.DataFrame:
        return pd.DataFrame(
            {
                **{k: t[k] for k in keys},
                f"{tag}_ratios": [halves(r) for r in t.itertuples()],
                f"{tag}_status": [s or "no reading" for s in t["status"]],
                f"{tag}_status_converged": [
                    s or "no reading" for s in t["status_converged"]
                ],
            }
        )

    out = part(new, "new").merge(part(old, "old"), on=keys, how="outer")
    out["group"] = [
        f"{e}, base {b}, twin β = {beta:g}"
        for e, b, beta in zip(out["experiment"], out["base"], out["twin_beta"])
    ]
    return out


def old_flatness_text(
    new: pd.DataFrame,
    old: pd.DataFrame,
    old_converged: Mapping[float, float],
    model_defined: tuple[int, int],
    method: str,
) -> str:
    """How the old reading (the target-dependent Hessian) compares with the target-free one, block by block,
    and whether G is defined on the model as trained (``model_defined``: victims defined, victims)."""
    table = old_new_table(new, old)
    same = table["new_status"] == table["old_status"]
    moved = [
        f"{r.group}: {r.old_status} → {r.new_status}"
        for r, s in zip(table.itertuples(), same)
        if not s
    ]
    text = (
        "The old flatness, the input-Hessian spectral norm of the target-dependent explanation loss "
        "MSE(I_twin(x), I(x_t)), is H = G + R with R = (2/P) Σ (I − T) ∇²I, a part that grows with the "
        "distance to the target and so with L_start. Read with the same rule, it gives the same status as "
        f"the target-free flatness in {int(same.sum())} of {len(table)} blocks"
        + (": " + "; ".join(moved) + " (old → new)." if moved else ".")
        + " Its Lanczos met its tolerance for "
        + ", ".join(
            f"{100 * share:.0f} % of the victims at twin β = {b:g}"
            for b, share in old_converged.items()
        )
        + "."
    )
    defined, total = model_defined
    if total and not defined:
        text += (
            f" On the models as trained (ReLU), the {method} map is piecewise constant in x, so its "
            "Jacobian is zero almost everywhere: G is not defined there and is not reported as 0; the "
            "twin is the only reading."
        )
    elif total:
        text += (
            f" On the models as trained, G is defined at {defined} of {total} victims (reported in the "
            "store entries)."
        )
    return text


def decomposition_display(decomposition: pd.DataFrame) -> pd.DataFrame:
    """``studies.curvature.decomposition_table`` for the page: values as text with 3 significant figures,
    the convergence share in %, and a ``group`` column (experiment, base, twin beta)."""
    t = decomposition.copy()
    for c in ("old_spectral", "g_spectral", "r_largest", "r_smallest"):
        t[c] = ["–" if pd.isna(v) else f"{v:.3g}" for v in t[c]]
    for c in ("h_trace", "g_trace", "r_trace"):
        t[c] = ["–" if pd.isna(v) else f"{v:.3g}" for v in t[c]]
    t["r_converged"] = [
        "–" if pd.isna(v) else f"{100 * v:.0f} %" for v in t["r_converged"]
    ]
    t["group"] = [
        f"{e}, base {b}, twin β = {beta:g}"
        for e, b, beta in zip(t["experiment"], t["base"], t["twin_beta"])
    ]
    return t


NORM_COLUMNS = {
    "role": "model",
    "flatness": "flatness: ‖G‖ (1e-7) [95 % CI]",
    "expl": "old: ‖H‖ of the explanation loss (1e-7) [95 % CI]",
    "ce": "cross-entropy [95 % CI]",
    "seeds": "seeds",
    "converged": "Lanczos converged (flatness / old / CE)",
}
SPECTRUM_COLUMNS = {
    "role": "model",
    "flatness_trace": "flatness tr G",
    "flatness_frobenius": "flatness ‖G‖_F",
    "expl_largest": "old λ_max(H)",
    "expl_smallest": "old λ_min(H)",
    "expl_frobenius": "old ‖H‖_F",
    "ce_frobenius": "CE Frobenius",
}
DECOMPOSITION_COLUMNS = {
    "role": "model",
    "old_spectral": "old ‖H‖",
    "g_spectral": "‖G‖ (JᵀJ)",
    "r_largest": "λ_max(R)",
    "r_smallest": "λ_min(R)",
    "h_trace": "tr H",
    "g_trace": "tr G",
    "r_trace": "tr R",
    "r_converged": "R's Lanczos converged",
}
OLD_NEW_COLUMNS = {
    "new_status": "flatness (target-free)",
    "new_status_converged": "converged only",
    "new_ratios": "ratios to the base",
    "old_status": "old Hessian",
    "old_status_converged": "old, converged only",
    "old_ratios": "old ratios to the base",
}
