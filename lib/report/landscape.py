"""The landscape chapter's figures and sentences (book/04_landscape.py): loss slices and surfaces around the
victims, flatness per model kind, the correlations' readings, what tracks L_end, and the claim's two parts.

Figures take the tables of ``lib.studies.landscape.landscape_result`` and return a matplotlib Figure."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from lib.analysis.stats import AGREES, DISAGREES, INCONCLUSIVE, interval_text
from lib.core.profile import Profile
from lib.report.figures import correlation_intervals
from lib.report.page import duration, percent
from lib.report.style import PAGE_WIDTH, scatter_families
from lib.studies.landscape import LOSS_NAMES

# the titles of the by-kind panels (``lib.studies.landscape.KIND_MEASURES``)
KIND_TITLES = {
    "gaussian:abs_quadratic_coefficient": "|quad.|, Gaussian",
    "gradient_sign:abs_quadratic_coefficient": "|quad.|, grad. sign",
    "spectral": "‖H‖₂",
    "frobenius": "‖H‖F",
}
KIND_LOSS_NAMES = {"ce": "CE", "expl_twin": "explanation loss (twin, 1e-7)"}
# human names of ``LandscapeResult.means`` per loss, as the chapter's two tables show them
MEAN_TABLES = {
    "CE": {
        "ce:gaussian:abs_quadratic_coefficient": "|quad.| (Gaussian)",
        "ce:spectral": "‖H‖₂",
        "ce:frobenius": "‖H‖F",
        "ce:largest": "λmax",
        "ce:smallest": "λmin",
    },
    "explanation loss": {
        "expl_twin:gaussian:abs_quadratic_coefficient": "|quad.| (Gaussian)",
        "expl_twin:spectral": "‖H‖₂",
        "expl_twin:frobenius": "‖H‖F",
        "expl_twin:largest": "λmax",
        "expl_twin:smallest": "λmin",
        "expl_twin:l0": "L(x)",
    },
}
TRACKING_COLUMNS = {
    "candidate": "candidate",
    "robustness": "robustness measure",
    "rho": "ρ",
    "lo": "95 % low",
    "hi": "95 % high",
    "clear": "interval excludes 0",
}


def settings_table(profile: Profile) -> pd.DataFrame:
    """The landscape settings of a profile, one row per setting (columns ``setting`` and ``value``)."""
    S = profile.landscape
    eps = ", ".join(
        f"{n}: {profile.experiment(n).eval.attack.eps:.4g}" for n in profile.run
    )
    rows = [
        (
            "victims per model",
            f"{S.victims} (prototype victims, one per cluster first)",
        ),
        ("grid", f"{S.points} points, t in [-{S.radius:g} eps, {S.radius:g} eps]"),
        ("eps per experiment", eps),
        (
            "directions",
            f"{S.gaussian} Gaussian (L2 norm of a sign direction), {S.sign} sign, gradient sign of each loss",
        ),
        ("explanation", S.method),
        ("softplus twin β", f"{S.softplus_beta:g}"),
        ("Lanczos", f"relative residual {S.eig_tol:g}, at most {S.eig_max_iter} HVPs"),
        ("Hutchinson", f"{S.trace_probes} Rademacher probes"),
        (
            "2-D surfaces",
            f"{S.surface_victims} victims, {S.surface_points} x {S.surface_points} grid",
        ),
    ]
    return pd.DataFrame(rows, columns=["setting", "value"])


def cost_text(curv: pd.DataFrame) -> str:
    """How long the slices and curvature took (per model, as stored) and how Lanczos fared."""
    seconds = curv.drop_duplicates("key")["seconds"]
    hvps = curv.groupby("loss")["n_hvp"].mean()
    return (
        f"Computing the slices and curvature of all {len(seconds)} models took {duration(seconds.sum())} "
        f"({seconds.mean():.1f} s per model, counted when computed; a rebuild reads the store). Lanczos met "
        f"its tolerance for {percent(curv['eig_converged'].mean())} of the victims, using on average "
        f"{hvps.get('ce', float('nan')):.0f} (CE) and {hvps.get('expl_twin', float('nan')):.0f} (explanation "
        "loss) Hessian-vector products including the trace's probes."
    )


def staircase_slices(raw: dict, rows: pd.DataFrame, softplus_beta: float) -> plt.Figure:
    """CE, the trained model's explanation loss and the twin's along the first Gaussian direction through
    victim 0, one panel per loss and one line per model of ``rows`` (columns ``key`` and ``kind``)."""
    fig, axes = plt.subplots(1, 3, figsize=(PAGE_WIDTH, 2.8))
    for _, row in rows.iterrows():
        land = raw[row["key"]]
        for ax, loss in zip(axes, ("ce", "expl", "expl_twin")):
            ax.plot(
                land["ts"].numpy(),
                land["slices"][f"{loss}|gaussian|0"][0].numpy(),
                label=row["kind"],
            )
    titles = (
        "CE (as trained)",
        "expl. loss, as trained",
        f"expl. loss, twin β={softplus_beta:g}",
    )
    for ax, title in zip(axes, titles):
        ax.set_title(title, fontsize=9)
        ax.set_xlabel("t", fontsize=9)
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    return fig


def victim_slices(raw: dict, rows: pd.DataFrame) -> plt.Figure:
    """Every victim's slice, shifted to 0 at t = 0, along the first Gaussian and the gradient-sign direction
    (rows of panels) for CE and the twin's explanation loss (columns); one colour per model of ``rows``."""
    fig, axes = plt.subplots(2, 2, figsize=(PAGE_WIDTH, 5.6), squeeze=False)
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for c, loss in enumerate(("ce", "expl_twin")):
        for r, kind in enumerate(("gaussian", "gradient_sign")):
            ax = axes[r][c]
            for k, (_, row) in enumerate(rows.iterrows()):
                land = raw[row["key"]]
                ts, v = land["ts"].numpy(), land["slices"][f"{loss}|{kind}|0"].numpy()
                v = v - v[:, [len(ts) // 2]]
                for i, curve in enumerate(v):
                    label = row["kind"] if i == 0 else None
                    ax.plot(ts, curve, color=colors[k], alpha=0.35, lw=0.8, label=label)
            name = "CE" if loss == "ce" else "expl. loss (twin, 1e-7)"
            ax.set_title(f"{name}, {kind.replace('_', '-')}", fontsize=9)
            ax.set_xlabel("t", fontsize=9)
            ax.set_ylabel("L(x + t d) − L(x)", fontsize=9)
    axes[0][0].legend(fontsize=8)
    fig.tight_layout()
    return fig


def surfaces(surfs: list[tuple[str, dict]]) -> plt.Figure:
    """Contours of CE, the trained model's and the twin's explanation loss over the plane of two directions
    around the first victim: one row per (label, ``model_surfaces``) of ``surfs``."""
    fig, axes = plt.subplots(
        len(surfs), 3, figsize=(PAGE_WIDTH, 2.6 * len(surfs)), squeeze=False
    )
    losses = (
        ("ce", "CE"),
        ("expl", "expl. (as trained)"),
        ("expl_twin", "expl. (twin)"),
    )
    for r, (label, surf) in enumerate(surfs):
        ts = surf["ts"].numpy()
        for c, (loss, title) in enumerate(losses):
            ax = axes[r][c]
            cs = ax.contourf(ts, ts, surf[loss][0].numpy().T, levels=20, cmap="viridis")
            fig.colorbar(cs, ax=ax).ax.tick_params(labelsize=8)
            ax.set_title(f"{label}: {title}", fontsize=9)
            ax.tick_params(labelsize=8)
            ax.locator_params(nbins=3)
    fig.tight_layout()
    return fig


def short_kind(kind: str) -> str:
    """'TRADES β=2' -> '2', 'standard' -> 'std': a tick label."""
    return kind.replace("TRADES β=", "").replace("standard", "std")


def flatness_by_kind(kinds: pd.DataFrame, experiment: str, loss: str) -> plt.Figure:
    """One panel per flatness measure (``KIND_TITLES``): the mean per model kind with its bootstrap interval,
    for one experiment and loss of ``LandscapeResult.kinds``."""
    fig, axes = plt.subplots(2, 2, figsize=(PAGE_WIDTH, 4.6))
    here = kinds[(kinds["experiment"] == experiment) & (kinds["loss"] == loss)]
    for ax, (measure, title) in zip(axes.flat, KIND_TITLES.items()):
        t = here[here["measure"] == measure]
        pos = np.arange(len(t))
        err = [t["mean"] - t["lo"], t["hi"] - t["mean"]]
        ax.errorbar(pos, t["mean"], yerr=err, fmt="o", capsize=3)
        ax.set_xticks(pos, [short_kind(k) for k in t["kind"]], fontsize=9)
        ax.tick_params(axis="y", labelsize=9)
        ax.set_title(title, fontsize=9)
    fig.suptitle(
        f"{experiment}, {KIND_LOSS_NAMES[loss]}: flatness per model kind", fontsize=10
    )
    fig.tight_layout()
    return fig


def flatness_intervals(corr: pd.DataFrame) -> plt.Figure:
    """The correlations of ``flatness_correlations`` against PGD accuracy, one labelled row each."""
    vs_pgd = corr[corr["against"] == "pgd_acc"]
    labels = [
        f"{r.experiment}, {LOSS_NAMES[r.loss]}: {r.measure}"
        for r in vs_pgd.itertuples()
    ]
    return correlation_intervals(vs_pgd, labels)


def readings_text(corr: pd.DataFrame, shares: dict[str, float], margin: float) -> str:
    """One bullet per experiment and loss with each measure's reading against PGD accuracy, then the shares
    of ``verdicts.reading_shares`` (``margin``: ``landscape.equivalence_rho``)."""
    lines = []
    vs_pgd = corr[corr["against"] == "pgd_acc"]
    for (name, loss), g in vs_pgd.groupby(["experiment", "loss"], sort=False):
        parts = [
            f"{r.measure}: **{r.reading}** ({interval_text(r.rho, r.lo, r.hi)})"
            for r in g.itertuples()
        ]
        lines.append(
            f"- **{name}, {LOSS_NAMES[loss]}** as PGD accuracy grows. "
            + "; ".join(parts)
            + "."
        )
    lines.append(
        f"\nOver the CE measures and experiments, {percent(shares['ce_flattens'])} of the intervals say CE "
        f"**flattens** as PGD accuracy grows and {percent(shares['ce_sharpens'])} that it sharpens. Over "
        f"the explanation-loss measures, {percent(shares['expl_flattens'])} say the explanation loss "
        f"flattens, {percent(shares['expl_sharpens'])} that it sharpens, and "
        f"{percent(shares['expl_within'])} lie inside ±{margin:g} (no more than a weak relation either way)."
    )
    return "\n".join(lines)


def tracking_scatter(joined: pd.DataFrame) -> plt.Figure:
    """Per experiment (rows): each model's L_end against its L_start and against the explanation loss's
    Hessian spectral norm, log-log, in the sweep families' markers."""
    groups = list(joined.groupby("experiment", sort=False))
    fig, axes = plt.subplots(
        len(groups), 2, figsize=(PAGE_WIDTH, 3.2 * len(groups)), squeeze=False
    )
    panels = (
        ("l_start_1e-7", "L_start (1e-7)"),
        ("expl_twin:spectral", "expl. ‖H‖₂ (twin)"),
    )
    for r, (name, g) in enumerate(groups):
        for c, (col, xlabel) in enumerate(panels):
            ax = axes[r][c]
            scatter_families(ax, g, col, "l_end_1e-7")
            ax.set(
                xscale="log",
                yscale="log",
                xlabel=xlabel,
                ylabel="L_end (1e-7)",
                title=name,
            )
            ax.tick_params(axis="x", which="both", labelsize=8, labelrotation=45)
    axes[0][0].legend(fontsize=8)
    fig.tight_layout()
    return fig


def tracking_text(track: pd.DataFrame, verdict: str) -> str:
    """The figure's caption with the correlations against L_end of L_start and of the explanation loss's
    Hessian norms per experiment, and the tracking verdict."""

    def rho_text(col: str) -> str:
        t = track[(track["x"] == col) & (track["robustness"] == "L_end")]
        return "; ".join(
            f"{r.experiment} {interval_text(r.rho, r.lo, r.hi)}" for r in t.itertuples()
        )

    return (
        f"*Figure: each model's L_end against where its attack starts (left) and against the explanation loss's "
        f"curvature (right).* Against L_end, Spearman's ρ (95 % interval) is {rho_text('l_start_1e-7')} for "
        f"L_start, {rho_text('expl_twin:spectral')} for the explanation loss's Hessian spectral norm, and "
        f'{rho_text("expl_twin:frobenius")} for its Frobenius norm. "Tracks" means an interval that excludes 0 '
        f"in every experiment. **{verdict}**"
    )


CE_PART_WORDS = {
    AGREES: "agrees (CE flattens: the interval lies below 0)",
    DISAGREES: "disagrees (CE sharpens: the interval lies above 0)",
    INCONCLUSIVE: "inconclusive (the interval holds 0)",
}


def _expl_part_words(status: str, margin: float) -> str:
    return {
        AGREES: f"agrees (the interval lies inside ±{margin:g})",
        DISAGREES: "disagrees (the explanation loss flattens: the interval lies below 0)",
        INCONCLUSIVE: f"inconclusive (the interval is not inside ±{margin:g} and does not lie "
        "below 0)",
    }[status]


def part_sentence(r, margin: float) -> str:
    """One unit (experiment and flatness measure) of ``verdicts.landscape_parts`` as a bullet: each part's
    interval and status, then the unit's status."""
    name = KIND_TITLES.get(r.flatness, r.flatness)
    if r.status is None:
        return (
            f"- **{r.experiment}, {name}:** too few models ({r.models}) for a reading."
        )
    one = (
        f"CE {interval_text(r.ce_rho, r.ce_lo, r.ce_hi)}, {CE_PART_WORDS[r.ce_status]}"
        if r.ce_status
        else "no CE reading"
    )
    two = (
        f"explanation loss {interval_text(r.expl_rho, r.expl_lo, r.expl_hi)}, "
        f"{_expl_part_words(r.expl_status, margin)}"
        if r.expl_status
        else "no explanation-loss reading"
    )
    return (
        f"- **{r.experiment}, {name}** ({r.models} models): part (1) {one}; part (2) {two}. "
        f"Status: **{r.status}**."
    )


def verdict_text(parts: pd.DataFrame, margin: float) -> str:
    """The claim's two parts per experiment and flatness measure (``verdicts.landscape_parts``), how each is
    read (``margin``: ``landscape.equivalence_rho``), and how to read the signs."""
    read = parts["status"].dropna()
    n = {s: int((read == s).sum()) for s in (AGREES, DISAGREES, INCONCLUSIVE)}
    return (
        "Per experiment and flatness measure, Spearman's ρ against PGD accuracy (95 % interval). Part (1) "
        "agrees when CE's interval lies below 0 and disagrees when it lies above. Part (2) is a 'does not' "
        f"claim, so it agrees only when the explanation loss's interval lies inside ±{margin:g} (|ρ| below "
        f"{margin:g} is a weak relation by convention) and disagrees when it lies below 0; an interval that "
        "merely holds 0 is inconclusive. A unit agrees when both parts agree and disagrees when either "
        "disagrees.\n\n"
        + "\n".join(part_sentence(r, margin) for r in parts.itertuples())
        + f"\n\nOf {len(read)} units with a reading, agreeing: {n[AGREES]}; disagreeing: "
        f"{n[DISAGREES]}; inconclusive: {n[INCONCLUSIVE]}."
        + "\n\nA positive correlation of a curvature measure with PGD accuracy means robust "
        "models are *sharper* there, a negative one that they are *flatter*. The SEP chapter changes the "
        "explanation landscape directly to test the causal direction."
    )
