"""The book's closing page: each claim of the paper beside the paper's own evidence, ours, and a verdict.

A claim is one function of plain inputs (the tables the studies return, the paper's table) that returns a
row ``{"claim", "paper", "ours", "verdict", "detail", "units"}``: short cells for the page's table, a paragraph
(``detail``) whose every sentence is chosen from the numbers, and the status of each unit the claim was read
on (``units``: an experiment, an experiment and explanation method, a model). A unit's status says whether it
``agrees`` with the paper's direction, ``agrees in part`` or ``disagrees``; a unit without a reading (too few
models, a model the rule did not choose) has none and is left out. ``verdict_of`` turns the statuses into the
verdict by one rule, the same for every claim, so no verdict is typed anywhere. A new claim is a new function
whose row joins the list the page shows (``findings_table``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from lib.analysis.stats import TOO_FEW, interval_text
from lib.analysis.verdicts import (
    AGAINST,
    AGREES,
    AS_INTENDED,
    BEATS_NOISE,
    DISAGREES,
    IN_PART,
    MAX_PGD_SPREAD_POINTS,
    NOT_TESTED,
    PARTLY,
    STATUSES,
    VERDICTS,
    landscape_parts,
    sep_block_status,
    tally,
    verdict_of,
)
from lib.core.errors import ConfigError
from lib.core.profile import Profile
from lib.core.store import ResultStore
from lib.measure.prototypes import ROBUSTNESS_MEASURES
from lib.pipeline.roster import chapter_models
from lib.report.page import human_table
from lib.report.sep import order_halves
from lib.studies.curvature import curvature_result
from lib.studies.drivers import drivers_result, paper_start_agreement
from lib.studies.landscape import landscape_result
from lib.studies.motivation import motivation_result
from lib.studies.prototypes import prototype_result
from lib.studies.sep import sep_comparison
from lib.studies.sweep import sweep_result

ROW_KEYS = ("claim", "paper", "ours", "verdict", "detail", "units")


def finding(
    claim: str, paper: str, ours: str, units: Mapping[str, str | None], detail: str
) -> dict:
    """A row of the page: the verdict is always ``verdict_of`` the units' statuses, and the detail ends with
    the status of each unit (``status_line``)."""
    line = status_line(units)
    return {
        "claim": claim,
        "paper": paper,
        "ours": ours,
        "verdict": verdict_of(units.values()),
        "detail": detail + (f" {line}" if line else ""),
        "units": dict(units),
    }


def status_line(units: Mapping[str, str | None]) -> str:
    """'Units (4): agrees: a, b; disagrees: c; no reading: d.' ('' without units), so that a verdict can be
    traced to its units."""
    shown = [
        f"{status or 'no reading'}: {', '.join(u for u, s in units.items() if s == status)}"
        for status in (*STATUSES, None)
        if status in units.values()
    ]
    return f"Units ({len(units)}): " + "; ".join(shown) + "." if shown else ""


def pending(claim: str, paper: str, where: str) -> dict:
    """A claim whose evidence is not in the book yet: no unit, so "not tested"."""
    return finding(
        claim,
        paper,
        f"not measured yet ({where})",
        {},
        f"No evidence in this book yet: it is to come from {where}.",
    )


def findings_table(rows: Sequence[Mapping]) -> pd.DataFrame:
    """The rows as the page's table: a claim number, then claim, paper, ours and verdict."""
    for r in rows:
        missing = [k for k in ROW_KEYS if k not in r]
        if missing:
            raise ConfigError(
                f"row keys {missing} missing: expected a row from a claim function ({ROW_KEYS})"
            )
    return pd.DataFrame(
        [
            {"number": i + 1, **{k: r[k] for k in ROW_KEYS[:4]}}
            for i, r in enumerate(rows)
        ]
    )


def _pct(v: float) -> str:
    return "—" if v is None or not np.isfinite(v) else f"{100 * v:.0f}\u00a0%"


def _span(
    values: Iterable[float],
    fmt=lambda x: f"{100 * x:.0f}",
    unit: str = "\u00a0%",
    sep: str = "–",
) -> str:
    """'62 %' when the values agree once formatted, else '41–95 %' (lowest to highest; ``sep`` between)."""
    v = [float(x) for x in values if x is not None and np.isfinite(x)]
    if not v:
        return "—"
    lo, hi = fmt(min(v)), fmt(max(v))
    return f"{lo}{unit}" if lo == hi else f"{lo}{sep}{hi}{unit}"


def _times(v: float) -> str:
    return f"{v:.1f}" if v < 10 else f"{v:.0f}"


def paper_mat_above_normal(paper: pd.DataFrame) -> tuple[int, int]:
    """(blocks of the paper's table whose MAT model has a higher L_end than its Normal model, blocks)."""
    wide = paper.pivot_table(
        index=["dataset", "model"], columns="method", values="l_end_1e-7", sort=False
    )
    return int((wide["MAT"] > wide["Normal"]).sum()), len(wide)


def paper_start_text(paper: pd.DataFrame) -> str:
    """The paper's evidence that the start loss drives L_end, recomputed from its table."""
    agree, cells = paper_start_agreement(paper).positions
    return f"L_start ranks like L_end in {agree} of {cells} cells"


def claim_motivation(evidence: pd.DataFrame) -> dict:
    """A crafted perturbation keeps the label and steers the explanation map to a target (chapter 1).

    ``evidence``: ``motivation.evidence_table`` (one row per attacked model: success_rate, label_kept,
    attack_removed, noise_removed, beats_noise, pairs). Units: the models. A model agrees when most of its
    pairs succeed (success rate above 1/2: the map ends closer to the target with the label kept) and the
    attack beats noise of its size by the chapter's rule (``motivation.beats_noise``); it agrees in part when
    only one of the two holds; it disagrees when neither does."""
    units, lines = {}, []
    for r in evidence.itertuples():
        most = r.success_rate > 0.5
        units[r.model] = (
            AGREES
            if most and r.beats_noise
            else IN_PART
            if most or r.beats_noise
            else DISAGREES
        )
        lines.append(
            f"{r.model}: {_pct(r.success_rate)} of {r.pairs} pairs, {_pct(r.attack_removed)} / "
            f"{_pct(r.noise_removed)}"
        )
    agree, n = tally(units)
    ours = (
        "no model attacked"
        if not n
        else f"success {_span(evidence['success_rate'])}; distance removed: attack "
        f"{_span(evidence['attack_removed'])}, noise {_span(evidence['noise_removed'])}"
    )
    if not n:
        detail = "No model was attacked: there is nothing to read."
    else:
        detail = (
            "Per model of the motivation chapter, the pairs that end closer to the target with the label "
            "kept, then the share of the distance to the target map that the attack / noise of the same "
            "size removes: " + "; ".join(lines) + ". "
        )
        if agree == n:
            detail += (
                f"On every model most pairs succeed and the attack removes more than {BEATS_NOISE:g} times "
                "the share noise removes: the label is kept while the map is steered."
            )
        else:
            weak = [m for m, s in units.items() if s != AGREES]
            detail += (
                f"Most pairs succeed and the attack beats noise (more than {BEATS_NOISE:g} times its share) "
                f"on {agree} of {n} models; not on {', '.join(weak)}."
            )
    return finding(
        "A perturbation that keeps the label steers the map to a target",
        "premise (Dombrowski et al. 2019); no number",
        ours,
        units,
        detail,
    )


def claim_sweep(
    corr: pd.DataFrame,
    paper: pd.DataFrame,
    validation: pd.DataFrame | None = None,
    pgd_rises: Mapping[str, bool] | None = None,
) -> dict:
    """Across the TRADES sweep, explanation robustness (L_end) rises with classification robustness
    (chapters 2 and 3; the paper's claim as reviewers quote it, and its table has MAT above Normal).

    ``corr``: ``studies.prototypes.correlations`` (rows against PGD accuracy are read). Units: the (experiment,
    explanation method) groups. A group agrees when L_end "rises" with PGD accuracy by the library's reading
    rule (the 95 % interval of Spearman's rho lies above 0); it disagrees when L_end "falls" or shows "no clear
    relation"; with too few models it has no reading. The relative reduction and the rank metric, which remove
    the starting distance's scale, are reported beside it but do not change the status. ``pgd_rises``: per
    experiment, whether PGD accuracy rises with beta (``analysis.verdicts.pgd_rises_with_beta``); ``validation``:
    ``analysis.verdicts.validation_verdicts`` over ``validation_summary`` tables; both only add sentences."""
    v = corr[corr["against"] == "pgd_acc"]
    units, lines, l_end_rhos = {}, [], []
    for (name, method), g in v.groupby(["experiment", "explanation"], sort=False):
        g = g.set_index("measure")
        if "l_end_1e-7" not in g.index:
            continue
        r = g.loc["l_end_1e-7"]
        unit = f"{name} ({method})"
        units[unit] = (
            None
            if r["reading"] == TOO_FEW
            else AGREES
            if r["reading"] == "rises"
            else DISAGREES
        )
        if units[unit] is None:
            lines.append(
                f"- {unit}: too few models ({int(r['models'])}) for a reading."
            )
            continue
        l_end_rhos.append(r["rho"])
        others = [
            f"{ROBUSTNESS_MEASURES[m]}: {g.loc[m, 'reading']}"
            for m in ("relative_reduction", "spearman_to_target")
            if m in g.index
        ]
        lines.append(
            f"- {unit}, {int(r['models'])} models: L_end **{r['reading']}** "
            f"({interval_text(r['rho'], r['lo'], r['hi'])})"
            + (f"; by the scale-free measures: {'; '.join(others)}" if others else "")
            + "."
        )
    agree, n = tally(units)
    mat, blocks = paper_mat_above_normal(paper)
    ours = (
        "no reading"
        if not n
        else f"L_end rises in {agree} of {n} groups (ρ {_span(l_end_rhos, lambda x: f'{x:+.2f}', '', ' to ')})"
    )
    parts = []
    if pgd_rises:
        flat = [e for e, ok in pgd_rises.items() if not ok]
        parts.append(
            f"PGD accuracy rises with β at every step in {len(pgd_rises) - len(flat)} of {len(pgd_rises)} "
            "experiments"
            + (f" (not in {', '.join(flat)})" if flat else "")
            + ", so the sweep grades "
            + (
                "classification robustness as intended."
                if not flat
                else "classification robustness only in part; the correlations below use PGD accuracy itself."
            )
        )
    if not n:
        parts.append("No group has enough models for a reading.")
    else:
        parts.append(
            "Spearman's ρ of each measure with PGD accuracy over the sweep's models, per experiment and "
            "explanation method (95 % bootstrap interval):\n\n"
            + "\n".join(lines)
            + "\n\n"
        )
        parts.append(
            f"L_end rises clearly with PGD accuracy in {agree} of {n} groups"
            + (
                ", as the paper reports."
                if agree == n
                else "; in the others the interval does not lie above 0."
                if agree
                else ": in none does the interval lie above 0."
            )
        )
        start = v[(v["measure"] == "l_start_1e-7") & (v["reading"] != TOO_FEW)]
        if len(start):
            rises = int((start["reading"] == "rises").sum())
            parts.append(
                f"L_start, the distance before any attack, rises with PGD accuracy in {rises} of "
                f"{len(start)} groups"
                + (
                    ": there a higher L_end can come from a higher starting point "
                    "(the start-loss claim below)."
                    if rises
                    else "."
                )
            )
    if validation is not None and len(validation):
        worse = validation[validation["ranking"] != "at least as well as"]
        rhos = _span(validation["prototype_rho"], lambda x: f"{x:.2f}", "", " to ")
        parts.append(
            f"The prototype measurement ranks the validation models like all pairs with median ρ {rhos}, "
            f"at least as well as a random subset of the same size in {len(validation) - len(worse)} of "
            f"{len(validation)} comparisons"
            + (
                " (less well for "
                + ", ".join(
                    [
                        f"{r.experiment}, {ROBUSTNESS_MEASURES.get(r.measure, r.measure)}"
                        for r in worse.itertuples()
                    ]
                )
                + ")."
                if len(worse)
                else "."
            )
        )
    return finding(
        "L_end rises with classification robustness over the TRADES sweep",
        f"reported by reviewers; MAT above Normal in L_end in {mat} of {blocks} blocks",
        ours,
        units,
        " ".join(parts),
    )


def claim_landscape(corr: pd.DataFrame, tracking_text: str | None = None) -> dict:
    """Adversarial training flattens the classification (CE) landscape but not the explanation-loss landscape
    (chapter 4).

    ``corr``: ``studies.landscape.flatness_correlations`` of the sweep's models. Units: the experiments. Part
    (1), CE flattens with PGD accuracy, holds when every CE measure with a reading "flattens" and holds in part
    when some do; part (2), the explanation loss does not flatten, holds when no explanation-loss measure
    "flattens". An experiment agrees when both parts hold, disagrees when part (1) does not hold even in part
    and part (2) does not hold, and agrees in part otherwise; without a reading of either loss it has none.
    ``tracking_text``: ``analysis.verdicts.tracking_verdict``, added as a sentence."""
    parts = landscape_parts(corr)
    v = corr[corr["against"] == "pgd_acc"]
    units, lines = {}, []
    for r in parts.itertuples():
        if not (r.ce_n and r.expl_n):
            units[r.experiment] = None
            lines.append(f"{r.experiment}: too few models for a reading")
            continue
        one = 2 if r.ce_flattens == r.ce_n else 1 if r.ce_flattens else 0
        two = r.expl_flattens == 0
        units[r.experiment] = (
            AGREES
            if one == 2 and two
            else DISAGREES
            if one == 0 and not two
            else IN_PART
        )
        line = (
            f"{r.experiment}: CE flattens by {r.ce_flattens} of {r.ce_n} measures, the explanation loss by "
            f"{r.expl_flattens} of {r.expl_n}"
            + (f" (it sharpens by {r.expl_sharpens})" if r.expl_sharpens else "")
        )
        spectral = v[
            (v["experiment"] == r.experiment)
            & v["column"].isin(["ce:spectral", "expl_twin:spectral"])
        ]
        if len(spectral) == 2 and spectral["rho"].notna().all():
            s = spectral.set_index("loss")
            line += (
                "; the Hessian spectral norm against PGD accuracy: CE "
                f"{interval_text(*s.loc['ce', ['rho', 'lo', 'hi']])}, explanation loss "
                f"{interval_text(*s.loc['expl_twin', ['rho', 'lo', 'hi']])}"
            )
        lines.append(line)
    agree, n = tally(units)
    read = parts[(parts["ce_n"] > 0) & (parts["expl_n"] > 0)]
    ours = (
        "no reading"
        if not n
        else f"CE flattens by {int(read['ce_flattens'].sum())} of {int(read['ce_n'].sum())} readings; "
        f"expl. loss by {int(read['expl_flattens'].sum())} of {int(read['expl_n'].sum())}"
    )
    detail = (
        "Flatness measures (slices' quadratic coefficients, Hessian spectral and Frobenius norms) against "
        "PGD accuracy over the sweep's models, read by the rule of chapter 4 (an interval below 0: "
        "flattens): " + "; ".join(lines) + ". "
    )
    if not n:
        detail += "No experiment has enough models for a reading."
    elif agree == n:
        detail += (
            "In every experiment CE flattens by every measure and the explanation loss by none, as the "
            "paper says."
        )
    else:
        ce_ok = [r.experiment for r in read.itertuples() if r.ce_flattens == r.ce_n]
        ex_ok = [r.experiment for r in read.itertuples() if r.expl_flattens == 0]
        detail += (
            f"CE flattens by every measure in {len(ce_ok)} of {n} experiments, and the explanation loss "
            f"flattens by no measure in {len(ex_ok)} of {n}."
        )
    if tracking_text:
        detail += f" Whether the landscape tracks L_end (chapter 4): {tracking_text}"
    return finding(
        "Adversarial training flattens the CE landscape, not the explanation loss's",
        "one random direction per victim, judged by eye",
        ours,
        units,
        detail,
    )


def claim_sep(
    verdicts: pd.DataFrame,
    roles: pd.DataFrame,
    blocks: pd.DataFrame,
    trades_verdicts: pd.DataFrame | None = None,
) -> dict:
    """SEP moves explanation robustness with classification robustness held: L_end ranks SEP_pos < MAT <
    SEP_neg while PGD accuracy stays within 3 points (chapter 5).

    ``verdicts``: ``analysis.verdicts.sep_order_verdicts`` of ``roles`` (``analysis.verdicts.robustness_by_role``, for the L_end intervals);
    ``blocks``: ``studies.sep.paper_blocks``. Units: the (experiment, explanation method) blocks. A block with
    SEP_pos and SEP_neg agrees when both halves of the order hold (SEP_pos < MAT, MAT < SEP_neg) and PGD
    accuracy of the three spans at most 3 points; it disagrees when neither half holds; it agrees in part
    otherwise. A block that lacks SEP_pos or SEP_neg (no lambda met the chapter's rule) agrees in part when the
    half it can show holds and disagrees when it does not; with neither it has no reading. ``trades_verdicts``
    (SEP on a TRADES base, ours, not the paper's) only adds a sentence."""
    units, lines, ratios = {}, [], []
    idx = roles.set_index(["experiment", "explanation", "role"]) if len(roles) else None

    def l_end(name, method, role) -> str:
        key = (name, method, role)
        if idx is None or key not in idx.index:
            return f"no {role}"
        r = idx.loc[key]
        return (
            f"{role} {r['l_end_1e-7']:.1f} [{r['l_end_lo']:.1f}, {r['l_end_hi']:.1f}]"
        )

    for r in verdicts.itertuples():
        unit = f"{r.experiment} ({r.explanation})"
        units[unit] = sep_block_status(r)
        values = ", ".join(
            l_end(r.experiment, r.explanation, role)
            for role in ("SEP_pos", "MAT", "SEP_neg")
        )
        if r.complete:
            ratios.append(r.neg_over_pos)
            lines.append(
                f"- {unit}: L_end {values}; the order {'holds' if r.l_end_order else 'does not hold'}, "
                f"PGD accuracy spans {r.pgd_spread_points:.1f} points, and the intervals of SEP_pos and "
                f"SEP_neg {'are apart' if r.pos_neg_separated else 'overlap'}."
            )
        else:
            shown = order_halves(r, ratios=False)
            lines.append(
                f"- {unit}: L_end {values}; no {r.missing} met the chapter's rule"
                + (
                    f", so only half the order can be read ({'; '.join(shown)})."
                    if shown
                    else ", so no part of the order can be read."
                )
            )
    agree, n = tally(units)
    p_order, p_n = int(blocks["l_end_order"].sum()), len(blocks)
    paper = (
        f"order in {p_order} of {p_n} blocks; PGD spread ≤ {blocks['pgd_spread_points'].max():.1f} pts; "
        f"SEP_neg/SEP_pos {_span(blocks['neg_over_pos'], _times, '×')}"
    )
    ours = (
        "no reading"
        if not n
        else f"order, PGD held, in {agree} of {n} blocks"
        + (f"; SEP_neg/SEP_pos {_span(ratios, _times, '×')}" if ratios else "")
    )
    parts = []
    if not n:
        parts.append(
            "No block has SEP_pos or SEP_neg beside MAT: there is nothing to read."
        )
    else:
        parts.append(
            "L_end (1e-7, 95 % two-stage bootstrap interval over seeds and pairs) per block:\n\n"
            + "\n".join(lines)
            + "\n\n"
        )
        complete = verdicts[verdicts["complete"]]
        parts.append(
            f"The order holds with PGD accuracy within {MAX_PGD_SPREAD_POINTS:g} points in {agree} of {n} "
            f"blocks"
            + (
                f" ({len(complete)} with both SEP_pos and SEP_neg)"
                if len(complete) < n
                else ""
            )
            + f"; the paper has it in {p_order} of {p_n}."
        )
        if len(complete):
            apart = sum(bool(x) for x in complete["pos_neg_separated"])
            parts.append(
                f"The L_end intervals of SEP_pos and SEP_neg are apart in {apart} of {len(complete)} "
                "complete blocks"
                + (
                    ": elsewhere the two are not told apart at this number of seeds and pairs."
                    if apart < len(complete)
                    else "."
                )
            )
    if trades_verdicts is not None and len(trades_verdicts):
        tv = trades_verdicts[trades_verdicts["complete"]]
        held = sum(bool(r.l_end_order and r.pgd_within) for r in tv.itertuples())
        parts.append(
            f"On a TRADES base (our extension, not the paper's), the order holds with PGD accuracy held "
            f"in {held} of {len(tv)} complete blocks."
        )
    return finding(
        "SEP: L_end ranks SEP_pos < MAT < SEP_neg, classification robustness held",
        paper,
        ours,
        units,
        " ".join(parts),
    )


CURVATURE_STATUS = {
    AS_INTENDED: AGREES,
    PARTLY: IN_PART,
    AGAINST: DISAGREES,
    NOT_TESTED: None,
}


def claim_curvature(verdicts: pd.DataFrame, first_beta: float) -> dict:
    """SEP changes the explanation-loss landscape itself: SEP_pos flattens and SEP_neg sharpens its curvature
    at the victims while CE's moves less (chapter 6).

    ``verdicts``: ``analysis.verdicts.curvature_verdicts`` (per experiment, base and twin beta). Units: the (experiment,
    base) blocks at the landscape chapter's twin beta ``first_beta``; a block's reading "as intended" agrees,
    "partly" agrees in part, "against" disagrees. Whether the reading is the same at the other twin beta
    only adds a sentence."""
    main = verdicts[verdicts["twin_beta"] == first_beta]
    units = {
        f"{r.experiment} (base {r.base})": CURVATURE_STATUS[r.reading]
        for r in main.itertuples()
    }
    lines = []
    for r in main.itertuples():
        moves = [
            f"{role} ×{getattr(r, f'{role}_expl_ratio'):.2g} (CE ×{getattr(r, f'{role}_ce_ratio'):.2g})"
            for role in ("SEP_pos", "SEP_neg")
            if np.isfinite(getattr(r, f"{role}_expl_ratio"))
        ]
        lines.append(f"{r.experiment} (base {r.base}): " + ", ".join(moves))
    others = verdicts[verdicts["twin_beta"] != first_beta]
    same = [
        (r.experiment, r.base)
        for r in others.itertuples()
        if main[(main["experiment"] == r.experiment) & (main["base"] == r.base)][
            "reading"
        ]
        .eq(r.reading)
        .all()
    ]
    agree, n = tally(units)
    ours = "no reading" if not n else f"as intended in {agree} of {n} blocks"
    detail = (
        "The explanation loss's input-Hessian spectral norm of SEP_pos and SEP_neg relative to their base "
        f"(softplus twin, β = {first_beta:g}; CE's in brackets): "
        + "; ".join(lines or ["none"])
        + "."
    )
    if len(others):
        detail += f" At the other twin β the reading is the same in {len(same)} of {len(others)} blocks."
    return finding(
        "SEP changes the explanation landscape itself (input-Hessian curvature)",
        "v2: a Hessian analysis confirms it; form not stated",
        ours,
        units,
        detail,
    )


DRIVER_STATUS = {
    "start loss": AGREES,
    "both": IN_PART,
    "flatness": DISAGREES,
    "neither": DISAGREES,
}


def claim_start_loss(
    correlations: pd.DataFrame, verdict: str, pair_verdict: str, paper: pd.DataFrame
) -> dict:
    """Explanation robustness as the attack measures it is driven mainly by the start loss (chapter 7).

    ``correlations``: ``studies.drivers.driver_correlations`` over the pooled models; ``verdict`` and
    ``pair_verdict``: ``analysis.verdicts.driver_verdict`` across models and across the pairs within each model.
    Units: those two levels; "start loss" agrees, "both" agrees in part, "flatness" and "neither" disagree."""
    units = {
        "across models": DRIVER_STATUS[verdict],
        "across pairs within a model": DRIVER_STATUS[pair_verdict],
    }
    c = correlations.set_index("question")
    shown = [
        f"{q}: {interval_text(*c.loc[q, ['rho', 'lo', 'hi']])}"
        for q in (
            "L_start ~ L_end",
            "flatness ~ L_end | L_start",
            "L_start ~ rel. reduction",
        )
        if q in c.index
    ]
    n = int(c["models"].iloc[0]) if len(c) else 0
    ours = f"across models: {verdict}; within models: {pair_verdict}"
    detail = (
        f"Over {n} models of the book, ranks within each experiment: "
        + "; ".join(shown)
        + ". The identity "
        "L_end = L_start (1 − r) makes the first correlation automatic in part; the partial correlation "
        "asks whether flatness adds anything once L_start is held fixed."
    )
    return finding(
        "Explanation robustness is driven by the start loss",
        paper_start_text(paper),
        ours,
        units,
        detail,
    )


# ------------------------------------------------------------------------------------------------
# the page: every claim read from the studies' results


def book_findings(
    profile: Profile,
    store: ResultStore,
    device: str,
    paper_csv: str = "paper_table.csv",
) -> list[dict]:
    """One row per claim of the paper, each read from the result function of the study that answers it
    (nothing is re-derived here): the motivation attacks, the sweep, the prototype attack and its validation,
    the landscape, the SEP comparison, the SEP models' curvature and the start-loss analysis. On a store the
    chapters filled, this trains and attacks nothing. ``paper_csv``: the paper's main table."""
    paper = pd.read_csv(paper_csv)
    sweep = sweep_result(profile, store, device)
    prototypes = prototype_result(profile, store, device)
    land = landscape_result(profile, store, device)
    sep = sep_comparison(profile, store, device, paper_csv)
    models = chapter_models(
        profile, sep.chosen, store, device
    )  # shared by the two SEP-model studies
    curvature = curvature_result(profile, store, device, sep.chosen, models)
    drivers = drivers_result(profile, store, device, sep.chosen, models)
    return [
        claim_motivation(motivation_result(profile, store, device).evidence),
        claim_sweep(
            prototypes.correlations,
            paper,
            validation=prototypes.validation.verdicts,
            pgd_rises=sweep.pgd_rises,
        ),
        claim_landscape(land.corr, land.verdict),
        claim_sep(sep.verdicts, sep.roles, sep.paper, sep.trades_verdicts),
        claim_curvature(curvature.verdicts, profile.landscape.softplus_beta),
        claim_start_loss(
            drivers.correlations, drivers.verdict, drivers.pair_verdict, paper
        ),
    ]


def verdict_counts(table: pd.DataFrame, profile: Profile) -> str:
    """The sentence above the findings table: the profile that built it and how many claims got each verdict."""
    counts = table["verdict"].value_counts()
    return (
        f"Built with the `{profile.name}` profile ({len(profile.seeds)} seed(s); experiments "
        f"{', '.join(profile.run)}). Verdicts: "
        + "; ".join(f"{v}: {counts[v]}" for v in VERDICTS if v in counts)
        + "."
    )


def findings_view(table: pd.DataFrame):
    """The findings table as the page shows it: human column names, the short texts wrapped within their
    column, the verdict on one line in bold."""
    return human_table(
        table,
        {
            "number": "#",
            "claim": "claim",
            "paper": "the paper",
            "ours": "ours",
            "verdict": "verdict",
        },
        digits={"number": 0},
    ).set_table_styles(
        [
            {
                "selector": "td",
                "props": [("white-space", "normal"), ("vertical-align", "top")],
            },
            {"selector": "td:nth-child(2)", "props": [("min-width", "14em")]},
            {
                "selector": "td:nth-child(5)",
                "props": [("white-space", "nowrap"), ("font-weight", "bold")],
            },
        ],
        overwrite=False,
    )
