"""The curvature chapter's figures and sentences: does SEP change the explanation landscape itself?

Every figure takes a table of ``lib.studies.curvature.curvature_result`` and returns a matplotlib Figure at
the page's width; every sentence is chosen from the numbers it is given.
"""

from __future__ import annotations

from collections.abc import Mapping

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from lib.report.style import PAGE_WIDTH, ROLE_COLOR

LOSS_TITLE = {"expl_twin": "explanation loss", "ce": "cross-entropy"}
MARKERS = "os"  # one marker per twin beta


def _scale_note(loss: str) -> str:
    return " (1e-7)" if loss != "ce" else ""


def spectral_norms_figure(spectral: pd.DataFrame) -> plt.Figure:
    """The input-Hessian spectral norm per role (rows of one panel), mean with its interval, at each twin beta
    (markers), log scale: one row of panels per experiment, the explanation loss left and CE right.

    ``spectral``: ``curvature_by_role`` rows (experiment, twin_beta, loss, role, mean, lo, hi) of one base."""
    blocks = list(spectral.groupby("experiment", sort=False))
    fig, axes = plt.subplots(
        len(blocks),
        2,
        figsize=(PAGE_WIDTH, 2.4 * len(blocks)),
        squeeze=False,
        constrained_layout=True,
    )
    for (name, g), row in zip(blocks, axes):
        for ax, loss in zip(row, LOSS_TITLE):
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
            ax.set_xlabel("Hessian spectral norm" + _scale_note(loss), fontsize=8)
            ax.tick_params(labelsize=8)
            ax.grid(alpha=0.3, axis="x")
        row[0].legend(fontsize=7)
    return fig


def lambda_curve_figure(lam: pd.DataFrame) -> plt.Figure:
    """Mean spectral norm against the SEP weight lambda (symmetric log scale, 0 = the base), one line per twin
    beta: one row of panels per experiment, the explanation loss left and CE right.

    ``lam``: ``studies.curvature.lambda_curve`` (experiment, twin_beta, loss, lam, spectral)."""
    names = list(dict.fromkeys(lam["experiment"]))
    fig, axes = plt.subplots(
        len(names),
        2,
        figsize=(PAGE_WIDTH, 2.5 * len(names)),
        squeeze=False,
        constrained_layout=True,
    )
    for name, row in zip(names, axes):
        g = lam[lam["experiment"] == name]
        nz = np.abs(g["lam"][g["lam"] != 0])
        for ax, loss in zip(row, LOSS_TITLE):
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
        for ax, loss in zip(row, LOSS_TITLE):
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


def ratio_text(r, role: str) -> str:
    """How ``role`` (SEP_pos or SEP_neg) moves the spectral norm from its base, from a
    ``curvature_verdicts`` row: 'SEP_pos flattens the explanation loss ×0.52 (intervals apart), CE ×0.98'."""
    e, c = getattr(r, f"{role}_expl_ratio"), getattr(r, f"{role}_ce_ratio")
    if not np.isfinite(e):
        return f"no {role}"
    word = "flattens" if e < 1 else "sharpens"
    apart = getattr(r, f"{role}_apart")
    return (
        f"{role} {word} the explanation loss ×{e:.2f} "
        f"({'intervals apart' if apart else 'intervals overlap'}), CE ×{c:.2f}"
    )


def beta_text(dependence: pd.DataFrame) -> str:
    """Whether the reading depends on the twin's beta (``analysis.verdicts.beta_dependence``)."""
    if dependence["same"].all():
        return (
            "The reading is the same at both twin betas in every block, so it does not depend on how much the "
            "twin smooths the ReLUs."
        )
    return (
        "The reading changes with the twin's beta in "
        + ", ".join(
            f"{r.experiment} (base {r.base})"
            for r in dependence[~dependence["same"]].itertuples()
        )
        + ": the curvature reading there depends on how much of the ReLU network's kinks the twin keeps."
    )


def curvature_text(
    verdicts: pd.DataFrame,
    dependence: pd.DataFrame,
    converged: Mapping[float, float],
    max_iter: int,
) -> str:
    """The chapter's reading per block (``ratio_text`` of SEP_pos and SEP_neg and the verdict's reading), its
    beta dependence (``beta_text``) and Lanczos' convergence (``converged``: share per twin beta)."""
    lines = [
        f"- **{r.experiment}, base {r.base}, twin β = {r.twin_beta:g}:** "
        f"{ratio_text(r, 'SEP_pos')}; {ratio_text(r, 'SEP_neg')}. Reading: **{r.reading}**."
        for r in verdicts.itertuples()
    ]
    return (
        "The spectral norm of each SEP model relative to its base (×1 = unchanged):\n"
        + "\n".join(lines)
        + "\n\n"
        + beta_text(dependence)
        + " 'As intended' means every SEP model present moves the explanation loss's curvature its way and the "
        "cross-entropy's less (in log ratio). Lanczos met its tolerance for "
        + ", ".join(
            f"{100 * share:.0f} % of the victims at twin β = {b:g}"
            for b, share in converged.items()
        )
        + " (an unconverged value is the best estimate after the cap of "
        f"{max_iter} HVPs, a lower bound on the spectral norm)."
    )


NORM_COLUMNS = {
    "role": "model",
    "expl": "explanation loss (1e-7) [95 % CI]",
    "ce": "cross-entropy [95 % CI]",
    "seeds": "seeds",
}
SPECTRUM_COLUMNS = {
    "role": "model",
    "expl_largest": "expl. λ_max",
    "expl_smallest": "expl. λ_min",
    "expl_frobenius": "expl. Frobenius",
    "ce_frobenius": "CE Frobenius",
}
