"""The drivers chapter's figures, table columns and sentences: what drives explanation robustness (start loss
against flatness, the paper's "22 of 24", SEP across explanation methods, the attack at a fixed budget).

Every figure returns a matplotlib Figure at the page's width; every sentence is chosen from the numbers it is
given (results of ``lib.studies.drivers``, ``cross_method`` and ``budget``).
"""

from __future__ import annotations

from collections.abc import Mapping

import matplotlib.pyplot as plt
import pandas as pd

from lib.analysis.stats import interval_text
from lib.report.sep import order_halves
from lib.report.style import PAGE_WIDTH

POOLED_PANELS = (  # (x, y, title) of the pooled scatter's panels
    ("l_start_1e-7_pct", "l_end_1e-7_pct", "L_start vs L_end"),
    ("flatness_pct", "l_end_1e-7_pct", "flatness ‖G‖ vs L_end"),
    ("flatness_pct", "relative_reduction_pct", "flatness ‖G‖ vs rel. reduction"),
)

DRIVER_READING = {  # what each ``analysis.verdicts.driver_verdict`` means, in words
    "start loss": "L_start goes with L_end and curvature's link with L_end once L_start is held fixed lies "
    "inside the equivalence margin.",
    "flatness": "Curvature goes with L_end even with L_start held fixed (its sign below), and L_start does "
    "not clearly go with L_end.",
    "both": "L_start goes with L_end (partly by construction) and curvature goes with L_end with L_start "
    "held fixed (its sign below): the word says which links are clear, not which way curvature acts.",
    "neither": "Neither L_start nor curvature (with L_start held fixed) goes with L_end beyond the "
    "equivalence margin.",
    "inconclusive": "Curvature's link with L_end once L_start is held fixed is not significant, which is not "
    "evidence that it is absent: the correlations alone cannot say which drives L_end (the L_start ~ L_end "
    "link is partly automatic, and no equivalence margin is set).",
}
STATUS_WORDS = {  # a start-loss status (``analysis.verdicts.start_loss_status``) in words
    "agrees": "the interval lies above the threshold, so the paper's claim **agrees**",
    "disagrees": "the interval lies below the threshold, so the paper's claim **disagrees**",
    "inconclusive": "the interval contains the threshold: **inconclusive**",
    None: "too few rows to read a share: **no reading**",
}

CORRELATION_COLUMNS = {
    "question": "correlation (ranks within experiment)",
    "interval": "Spearman ρ [95 % CI]",
    "models": "models",
}
PAIR_CORRELATION_COLUMNS = {
    "question": "correlation (ranks within model)",
    "interval": "Spearman ρ [95 % CI]",
    "models": "pairs",
}
BALL_CORRELATION_COLUMNS = {
    "question": "correlation",
    "interval": "Spearman ρ [95 % CI]",
    "models": "models",
}
WITHIN_COLUMNS = {
    "experiment": "experiment",
    "models": "models",
    "median_rho_l_end": "median ρ(L_start, L_end)",
    "positive_l_end": "share of models > 0",
    "median_rho_reduction": "median ρ(L_start, rel. red.)",
    "positive_reduction": "share of models > 0 (rel. red.)",
}
WITHIN_DIGITS = {
    "models": 0,
    "median_rho_l_end": 2,
    "positive_l_end": 2,
    "median_rho_reduction": 2,
    "positive_reduction": 2,
}
CROSS_COLUMNS = {
    "explanation": "attacked with",
    "role": "model",
    "l_end": "L_end [95 % CI]",
    "pgd": "PGD acc. (%)",
    "seeds": "seeds",
}
COMPARISON_COLUMNS = {
    "experiment": "experiment",
    "models": "models",
    "l_end": "L_end, no ball",
    "l_end_budget": "L_end, ball",
    "reduction": "rel. red., no ball",
    "reduction_budget": "rel. red., ball",
    "held_back": "share held back",
}
COMPARISON_DIGITS = {
    "models": 0,
    "l_end": 1,
    "l_end_budget": 1,
    "reduction": 3,
    "reduction_budget": 3,
    "held_back": 2,
}
ROBUSTNESS_COLUMNS = {
    "attack": "attack",
    "measure": "against PGD acc.",
    "interval": "Spearman ρ [95 % CI]",
    "reading": "reading",
    "n": "models",
}
BALL_ROLE_COLUMNS = {
    "role": "model",
    "l_end": "L_end, ball [95 % CI]",
    "seeds": "seeds",
}
MEASURE_NAME = {"l_end_1e-7": "L_end", "relative_reduction": "rel. reduction"}


def pooled_figure(pooled: pd.DataFrame) -> plt.Figure:
    """Three scatters of the pooled percentile ranks, one colour per experiment: L_start against L_end,
    flatness against L_end and flatness against the relative reduction (``studies.drivers.pooled_models``)."""
    fig, axes = plt.subplots(
        1, len(POOLED_PANELS), figsize=(PAGE_WIDTH, 2.8), constrained_layout=True
    )
    for ax, (x, y, title) in zip(axes, POOLED_PANELS):
        for name, g in pooled.groupby("experiment", sort=False):
            ax.scatter(g[x], g[y], s=10, label=name, alpha=0.7)
        ax.set_title(title, fontsize=9)
        ax.set_xlabel(x.replace("_1e-7", "").replace("_pct", " (rank)"), fontsize=8)
        ax.set_ylabel(y.replace("_1e-7", "").replace("_pct", " (rank)"), fontsize=8)
        ax.tick_params(labelsize=7)
    axes[0].legend(fontsize=6)
    return fig


def with_intervals(corr: pd.DataFrame, lo: str = "lo", hi: str = "hi") -> pd.DataFrame:
    """``corr`` with a column ``interval``: 'rho [lo, hi]' (``stats.interval_text``) of each row."""
    return corr.assign(
        interval=[
            interval_text(r, a, b) for r, a, b in zip(corr["rho"], corr[lo], corr[hi])
        ]
    )


def l_end_text(roles: pd.DataFrame) -> list[str]:
    """'mean [lo, hi]' of L_end (1e-7) per row of a ``robustness_by_role`` table."""
    return [
        f"{m:.1f} [{lo:.1f}, {hi:.1f}]"
        for m, lo, hi in zip(roles["l_end_1e-7"], roles["l_end_lo"], roles["l_end_hi"])
    ]


def cross_display(roles: pd.DataFrame) -> pd.DataFrame:
    """The cross-method ``roles`` as the page shows them: L_end with its interval, PGD accuracy in %, and a
    ``group`` per experiment and training method (empty when no SEP model was chosen)."""
    if not len(roles):
        return roles.assign(l_end=[], pgd=[], group=[])
    return roles.assign(
        l_end=l_end_text(roles),
        pgd=100 * roles["pgd_acc"],
        group=[
            f"{e}, SEP trained on {t}"
            for e, t in zip(roles["experiment"], roles["trained_with"])
        ],
    )


def robustness_display(corr: pd.DataFrame) -> pd.DataFrame:
    """``studies.budget.robustness_correlations`` with its interval and the measure's name."""
    return with_intervals(corr, "lo", "hi").assign(measure=corr["y"].map(MEASURE_NAME))


def direction(level: str, table: pd.DataFrame) -> str:
    """The sign of curvature's link with L_end once L_start is held fixed, against the raw link's, from
    ``driver_correlations`` (' Across models, curvature with L_start held fixed: ..., so ...')."""
    c = table.set_index("question")
    part, raw = c.loc["flatness ~ L_end | L_start"], c.loc["flatness ~ L_end"]
    text = f" {level}, curvature with L_start held fixed: {interval_text(part.rho, part.lo, part.hi)}, "
    if part.hi < 0:
        return text + (
            "so with the start held fixed a sharper explanation landscape ends *closer* to the target "
            "(less robust)"
            + (
                ", the opposite of the raw correlation's direction."
                if raw.lo > 0
                else "."
            )
        )
    if part.lo > 0:
        return (
            text
            + "so with the start held fixed a sharper landscape still ends further from the target."
        )
    return text + "no clear direction once the start is held fixed."


def agreement_text(a) -> str:
    """The paper's "22 of 24" recomputed by three readings (``studies.drivers.PaperAgreement``)."""
    p = a.paper_count
    return (
        f"Rank positions that agree: **{a.positions[0]} of {a.positions[1]}**"
        + (
            " (the paper's count, so this is how it counted)"
            if a.matches_paper
            else f" (the paper says {p[0]} of {p[1]})"
        )
        + f"; whole orders that agree: {a.order[0]} of {a.order[1]} blocks; "
        f"pairs of methods ordered the same way: {a.pairs[0]} of {a.pairs[1]}. The paper's "
        f"{a.blocks} blocks have {a.block_size} models each, and the "
        "identity L_end = L_start (1 − r) makes agreement expected whenever the relative reductions are "
        "similar."
    )


def share_text(row) -> str:
    """One level of ``studies.drivers.share_table`` in words: log L_start's share of log L_end's variance
    with its interval, the rest carried by log(1 - r), and the status against the threshold."""
    status = row.status if isinstance(row.status, str) else None
    if status is None:
        return f"{row.level}: {STATUS_WORDS[None]}"
    return (
        f"{row.level}, log L_start carries {row.start:.0%} [{row.start_lo:.0%}, {row.start_hi:.0%}] of "
        f"the variance of log L_end and log(1 − r) {row.r:.0%} [{row.r_lo:.0%}, {row.r_hi:.0%}] "
        f"({row.rows} rows; threshold {row.threshold:.0%}): {STATUS_WORDS[status]}"
    )


def shares_text(shares: pd.DataFrame) -> str:
    """The start-loss claim read from the variance shares (``studies.drivers.share_table``), every level,
    with how r is defined so that the identity holds exactly."""
    gaps = shares["identity_gap"].dropna()
    gap = (
        f" (the tables' relative reduction, a mean over pairs, differs from it by up to {gaps.max():.2f})"
        if len(gaps) and gaps.max() > 1e-9
        else ""
    )
    levels = "; ".join(share_text(r) for r in shares.itertuples())
    return (
        "**The paper's claim, read so that it can fail.** log L_end = log L_start + log(1 − r), each part "
        "demeaned within experiment and method (pairs: within their model); a model's r is "
        "1 − L_end / L_start of its mean losses, so that the identity holds exactly"
        + gap
        + ". "
        + levels[:1].upper()
        + levels[1:]
        + "."
    )


def drivers_text(
    agreement,
    verdict: str,
    pair_verdict: str,
    corr: pd.DataFrame,
    pair_corr: pd.DataFrame,
    shares: pd.DataFrame | None = None,
    role: str = "",
    pair_role: str = "",
) -> str:
    """The part's closing paragraph: the paper's count (``agreement_text``), the start-loss claim from the
    variance shares (``shares_text``, when ``shares`` is given), the correlation verdict across models and
    across pairs in words (``DRIVER_READING``), and flatness's role with its sign at both levels
    (``analysis.verdicts.flatness_role``: ``role``, ``pair_role``; ``direction``), read apart from the
    claim."""
    return (
        agreement_text(agreement)
        + ("" if shares is None else "\n\n" + shares_text(shares))
        + f"\n\n**Correlation reading across models: {verdict}.** "
        + DRIVER_READING[verdict]
        + f" **Across the pairs of a model** (landscape victims only) the same reading gives: **{pair_verdict}**."
        + (
            "\n\n**Flatness's role** (curvature: higher = sharper; not a verdict on the claim). Across "
            f"models: {role}. Across pairs: {pair_role}."
            if role
            else ""
        )
        + direction("Across models", corr)
        + direction("Across pairs", pair_corr)
    )


def old_new_correlations(corr: pd.DataFrame, old: pd.DataFrame) -> pd.DataFrame:
    """The flatness questions of ``driver_correlations`` side by side: with the target-free flatness
    (``corr``, column ``new``) and with the old target-dependent Hessian (``old``, column ``old``), each as
    'rho [lo, hi]'."""
    keep = [q for q in corr["question"] if q.startswith("flatness")]
    new = with_intervals(corr).set_index("question")
    was = with_intervals(old).set_index("question")
    return pd.DataFrame(
        {
            "question": keep,
            "new": [new.loc[q, "interval"] for q in keep],
            "old": [was.loc[q, "interval"] for q in keep],
            "models": [int(new.loc[q, "models"]) for q in keep],
        }
    )


OLD_NEW_CORRELATION_COLUMNS = {
    "question": "correlation (ranks within experiment)",
    "new": "flatness ‖G‖ (target-free): ρ [95 % CI]",
    "old": "old ‖H‖ (towards the target): ρ [95 % CI]",
    "models": "models",
}


def old_flatness_text(
    verdict: str,
    old_verdict: str,
    role: str,
    old_role: str,
    links: pd.DataFrame,
    pair: tuple[str, str, str, str] | None = None,
) -> str:
    """The target-free flatness against the old one in the pooled analysis: how tied each is to L_start
    (``studies.drivers.start_links``: rho with L_start's rank), and the correlation reading and
    flatness's role with each (the old one secondary); ``pair``: (verdict, old verdict, role, old role)
    across the pairs of a model, when given."""
    by = links.set_index("flatness")

    def link(name: str) -> str:
        r = by.loc[name]
        return interval_text(r.rho, r.lo, r.hi)

    return (
        "**The flatness read here is target-free** (‖G‖, G = (2/P) JᵀJ: the curvature of the explanation "
        "change at the victim, what SEP penalises). The old reading, the input-Hessian spectral norm of the "
        "explanation loss towards the target (‖H‖, H = G + R with a part R that grows with the distance to "
        "the target), is kept as a secondary reading. Rank correlation with L_start across models: "
        f"target-free {link('flatness')}, old {link('old')}. With the old flatness the correlation "
        f"reading is **{old_verdict}** (target-free: **{verdict}**) and flatness's role reads: {old_role} "
        f"(target-free: {role})."
        + (
            f" Across the pairs of a model, the old flatness reads **{pair[1]}** (target-free: "
            f"**{pair[0]}**); its role: {pair[3]} (target-free: {pair[2]})."
            if pair
            else ""
        )
    )


def ball_text(reading) -> str:
    """Start loss and flatness inside the ball (``studies.drivers.DriverReading``): the share, its status
    and flatness's role."""
    return (
        shares_text(reading.shares)
        + f" Correlation reading: **{reading.verdict}**; flatness's role: {reading.flatness_role}."
    )


def cross_text(result, tolerance_points: float) -> str:
    """The cross-method reading (``studies.cross_method.CrossMethodResult``): the off-diagonal counts (every
    readable half agrees; a half disagrees), the order per case with each half's paired ratio, interval and
    status, and the accuracy rule re-read on every SEP model."""
    base = result.base
    if not len(result.verdicts):
        return (
            "**Nothing to compare across methods:** the SEP chapter's rule chose no λ in any experiment (each "
            "model collapsed or moved PGD accuracy beyond the tolerance), so no cross-method SEP model exists."
        )
    lines = [
        f"- {r.experiment}, trained on {r.trained_with}, attacked with {r.explanation}: "
        + ("; ".join(order_halves(r, base)) or "nothing to read")
        + "."
        for r in result.verdicts.itertuples()
    ]
    acc_lines = [
        f"{r.experiment} {r.role} on {r.trained_with}: clean {r.clean_points:.1f}, PGD {r.pgd_points:.1f} points "
        f"from {base} ({'within' if r.within else 'beyond'} {tolerance_points:g})"
        for r in result.accuracy.itertuples()
    ]
    return (
        f"**Where the trained and the attacked method differ, every readable half of the order agrees (paired "
        f"95 % interval of the L_end ratio above 1) in {result.off_holds} of {result.off_total} cases, and a "
        f"half disagrees in {result.off_against}**; the others are inconclusive.\n"
        + "\n".join(lines)
        + "\n\nThe accuracy rule re-read on every SEP model: "
        + "; ".join(acc_lines)
        + "."
    )


def held_back_text(
    steps: int, lr: float, reach: float, eps: Mapping[str, float]
) -> str:
    """The footnote of the bounded-against-unbounded table: what "held back" means, how far the attack can
    move a pixel, and the balls' radii."""
    return (
        '*"Held back": the share of models whose L_end inside the ball is more than 1 % above the unbounded '
        f"attack's. {steps} Adam steps of {lr:g} move a pixel by about {reach:.2g} in "
        "all when each step has the learning rate's size (Adam's steps can be larger); the experiments' ε: "
        + ", ".join(f"{n}: {e:g}" for n, e in eps.items())
        + ".*"
    )


def budget_text(
    agreement: Mapping[str, float],
    n_experiments: int,
    verdicts: pd.DataFrame,
    base: str,
    ball_verdict: str,
    verdict: str,
) -> str:
    """The fixed-budget closing paragraph: how often L_end goes with classification robustness with and
    without the ball (``analysis.verdicts.budget_agreement``), SEP's order inside the ball per experiment, and
    the drivers' verdict inside the ball beside the one without it. SEP's order is read per experiment from
    its paired halves (``sep_order_verdicts``), with the block's status."""
    lines = [
        f"- {r.experiment}: "
        + ("; ".join(order_halves(r, base)) or "nothing to read")
        + (f"; block {r.status}" if isinstance(r.status, str) else "")
        + "."
        for r in verdicts.itertuples()
    ]
    return (
        "Explanation robustness (L_end) goes with classification robustness over the sweep in "
        f"{agreement.get('unbounded', 0):.0%} of the {n_experiments} swept experiments without a ball "
        f"and in {agreement.get('fixed budget', 0):.0%} with the budget fixed. SEP's order inside the ball:\n"
        + "\n".join(lines)
        + f"\n\n**Verdict on the drivers inside the ball: {ball_verdict}** (without the ball: {verdict})."
    )
