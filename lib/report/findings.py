"""The book's closing page: each claim of the paper beside the paper's own evidence, ours, and a verdict.

A claim is one function of plain inputs (the tables the studies return, the paper's table) that returns a
row ``{"claim", "paper", "ours", "verdict", "detail", "units"}``: short cells for the page's table, a paragraph
(``detail``) whose every sentence is chosen from the numbers, and the status of each unit the claim was read
on (``units``: an experiment, an experiment and explanation method, a model). A unit ``agrees`` when its
interval excludes the null in the paper's direction, ``disagrees`` when it excludes it the other way, and is
``inconclusive`` otherwise (a "does not" claim agrees only inside an equivalence margin fixed in the profile);
a unit without a reading (too few models, a model the rule did not choose) has none and is left out. ``verdict_of`` turns the statuses into the
verdict by one rule, the same for every claim, so no verdict is typed anywhere. A new claim is a new function
whose row joins the list the page shows (``findings_table``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from lib.analysis.set_claims import (
    ClaimAnswer,
    curvature_claim_of,
    landscape_claim,
    sep_claim_of,
    sweep_claim,
)
from lib.analysis.stats import TOO_FEW, interval_text
from lib.analysis.verdicts import (
    AGREES,
    BEATS_NOISE,
    CARRIED_BY_SCALE,
    DISAGREES,
    INCONCLUSIVE,
    MAX_PGD_SPREAD_POINTS,
    STATUSES,
    VERDICTS,
    counts,
    landscape_parts,
    motivation_status,
    sep_block_status,
    tally,
    verdict_of,
)
from lib.core.errors import ConfigError
from lib.core.profile import Profile
from lib.core.store import ResultStore
from lib.measure.prototypes import ROBUSTNESS_MEASURES
from lib.pipeline.explanation_attack import relation_table
from lib.pipeline.flatness import CHANGE
from lib.pipeline.roster import chapter_models
from lib.report.landscape import KIND_TITLES
from lib.report.page import human_table
from lib.report.sep import order_halves, pgd_text
from lib.studies.curvature import curvature_result
from lib.studies.drivers import drivers_result, paper_start_agreement
from lib.studies.landscape import landscape_result
from lib.studies.motivation import motivation_result
from lib.studies.prototypes import correlations, validation_result
from lib.studies.sep import sep_comparison
from lib.studies.sweep import sweep_result

ROW_KEYS = ("claim", "paper", "ours", "verdict", "detail", "units")


def finding(
    claim: str,
    paper: str,
    ours: str,
    units: Mapping[str, str | None],
    detail: str,
    answer: ClaimAnswer | None = None,
) -> dict:
    """A row of the page. Its verdict is the claim-level rule's (``answer``: one answer over model sets,
    ``analysis.set_claims``) or, for a claim whose units are not model sets, ``verdict_of`` the units'
    statuses; the detail ends with the status of each unit (``status_line``)."""
    line = status_line(units)
    return {
        "claim": claim,
        "paper": paper,
        "ours": ours,
        "verdict": answer.verdict if answer is not None else verdict_of(units.values()),
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


def answer_units(answer: ClaimAnswer) -> dict[str, str | None]:
    """Per part and model set, its status after the family-wise correction: '<set> (<part>)' -> status
    (a part read on one model set only is named by its set)."""
    units = {}
    for part, (_, table) in answer.parts.items():
        for r in table.itertuples():
            units[f"{r.set} ({part})"] = r.status if isinstance(r.status, str) else None
    return units


def _ratio(v: float, lo: float, hi: float) -> str:
    return f"×{v:.3g} [{lo:.3g}, {hi:.3g}]"


def answer_text(answer: ClaimAnswer, what: Mapping[str, str] | None = None) -> str:
    """The claim-level reading in sentences: per part, its verdict, the pooled estimate over every seed of
    every model set with its 95 % interval, and per set the seed-level estimate, its interval and its
    status after Holm's correction. ``what``: per part, what its ratio is (e.g. 'base / SEP_pos')."""
    lines = []
    for part, (verdict, table) in answer.parts.items():
        if not len(table):
            lines.append(f"- **{part}**: not tested (no model set has both models).")
            continue
        pooled = answer.pooled.get(part)
        if "estimate" not in table.columns:  # a condition read per set (PGD held)
            per = "; ".join(f"{r.set}: {r.status}" for r in table.itertuples())
            lines.append(f"- **{part}: {verdict}** (per set: {per}).")
            continue
        ratio = "ratio" in table.columns
        label = f" ({what[part]})" if what and part in what else ""
        per = "; ".join(
            f"{r.set} "
            + (
                _ratio(r.ratio, r.ratio_lo, r.ratio_hi)
                if ratio
                else f"{r.estimate:+.2f} [{r.lo:+.2f}, {r.hi:+.2f}]"
            )
            + f" over {r.seeds} seeds, {r.status}"
            for r in table.itertuples()
        )
        pool = (
            (
                f"pooled {_ratio(*pooled[:3])}"
                if ratio
                else f"pooled {pooled[0]:+.2f} [{pooled[1]:+.2f}, {pooled[2]:+.2f}]"
            )
            if pooled is not None and np.isfinite(pooled[0])
            else "no pooled estimate"
        )
        lines.append(f"- **{part}{label}: {verdict}**; {pool}; per model set: {per}.")
    return "\n".join(lines)


def alternative_text(alternatives: Mapping[str, ClaimAnswer] | None) -> str:
    """'Under <setting> (the stated alternative) the claim reads **<verdict>**.' for each alternative
    setting, so that a verdict that depends on a setting says so ('' without alternatives)."""
    return "".join(
        f"Under {name} (the stated alternative, which does not vote) the claim reads **{a.verdict}** "
        f"({'; '.join(f'{p}: {v}' for p, v in a.part_verdicts().items())}). "
        for name, a in (alternatives or {}).items()
    )


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
    """The rows as the page's table: a claim number, then claim, paper, ours, how many units agree,
    disagree and are inconclusive, and the verdict."""
    for r in rows:
        missing = [k for k in ROW_KEYS if k not in r]
        if missing:
            raise ConfigError(
                f"row keys {missing} missing: expected a row from a claim function ({ROW_KEYS})"
            )
    return pd.DataFrame(
        [
            {
                "number": i + 1,
                **{k: r[k] for k in ROW_KEYS[:3]},
                **counts(r["units"]),
                "verdict": r["verdict"],
            }
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
    attack_removed, noise_removed, beats_noise, pairs). Units: the models, each read by
    ``analysis.verdicts.motivation_status`` (the success rate's Wilson interval against 1/2, and the attack
    against noise of its size)."""
    units, lines = {}, []
    for r in evidence.itertuples():
        margin_lo = getattr(r, "margin_lo", None)
        units[r.model] = motivation_status(
            r.success_rate, r.pairs, r.attack_removed, r.noise_removed, margin_lo
        )
        lines.append(
            f"{r.model}: {_pct(r.success_rate)} of {r.pairs} pairs, {_pct(r.attack_removed)} / "
            f"{_pct(r.noise_removed)}"
            + (
                f", margin {_pct(r.margin)} [{_pct(r.margin_lo)}, {_pct(r.margin_hi)}]"
                if margin_lo is not None and np.isfinite(margin_lo)
                else ""
            )
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
            f"size removes, and the margin attack share − {BEATS_NOISE:g} × noise share with its 95 % "
            "interval (pairs resampled): " + "; ".join(lines) + ". "
        )
        if agree == n:
            detail += (
                "On every model the success rate's 95 % interval lies above 1/2 and the margin's interval "
                f"lies above 0 (the attack removes more than {BEATS_NOISE:g} times the share noise "
                "removes): the label is kept while the map is steered."
            )
        else:
            c = counts(units)
            detail += (
                "The success rate's 95 % interval lies above 1/2 and the attack beats noise (more than "
                f"{BEATS_NOISE:g} times its share) on {agree} of {n} models; "
                f"{c[DISAGREES]} disagree (most pairs fail, or the attack does no better than noise) and "
                f"{c[INCONCLUSIVE]} are inconclusive."
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
    answer: ClaimAnswer | None = None,
    method: str = "gradient",
    alternatives: Mapping[str, ClaimAnswer] | None = None,
) -> dict:
    """Across the TRADES sweep, explanation robustness (L_end) rises with classification robustness
    (chapters 2 and 3; the paper's claim as reviewers quote it, and its table has MAT above Normal).

    ``corr``: ``studies.prototypes.correlations`` (rows against PGD accuracy are read). Units: the (experiment,
    explanation method) groups. A group agrees when L_end "rises" with PGD accuracy by the library's reading
    rule (the 95 % interval of Spearman's rho lies above 0); it disagrees when L_end "falls" (the interval lies
    below 0); "no clear relation" (the interval holds 0) is inconclusive; with too few models it has no
    reading. The relative reduction and the rank metric, which remove
    the starting distance's scale, are reported beside it but do not change the status. ``pgd_rises``: per
    experiment, whether PGD accuracy rises with beta (``analysis.verdicts.pgd_rises_with_beta``); ``validation``:
    ``analysis.verdicts.validation_verdicts`` over ``validation_summary`` tables; both only add sentences.
    ``answer``: the claim read at the level of the seed (``analysis.set_claims.sweep_claim`` on the primary
    explanation ``method``): when given, it decides the verdict and its model sets are the units; the
    correlations over every model of a group are then secondary readings."""
    primary = method  # the loop below names each group's method ``method``
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
            if r["reading"] == "falls"
            else INCONCLUSIVE
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
                else f"; it falls clearly in {counts(units)[DISAGREES]} and the interval holds 0 "
                f"(inconclusive) in {counts(units)[INCONCLUSIVE]}."
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
    if answer is not None:
        pooled = answer.pooled.get(next(iter(answer.parts), ""), (np.nan,) * 4)
        ours = (
            f"per-seed ρ of L_end with PGD accuracy ({primary}): pooled {pooled[0]:+.2f} "
            f"[{pooled[1]:+.2f}, {pooled[2]:+.2f}]"
            if np.isfinite(pooled[0])
            else "no reading"
        )
        parts.insert(
            0,
            "One answer over model sets, with the seed as the unit: per seed, Spearman's ρ of L_end with "
            f"PGD accuracy over that seed's sweep models ({primary} maps), then a t-interval over the seeds "
            "of each model set, Holm's correction across sets and the pooled interval over every seed:\n\n"
            + answer_text(answer)
            + "\n\n"
            + alternative_text(alternatives)
            + "Secondary readings (they do not vote), ρ over every model of a group, seeds pooled:",
        )
        units = answer_units(answer)
    return finding(
        "L_end rises with classification robustness over the TRADES sweep",
        f"reported by reviewers; MAT above Normal in L_end in {mat} of {blocks} blocks",
        ours,
        units,
        " ".join(parts),
        answer,
    )


def claim_landscape(
    corr: pd.DataFrame,
    margin: float,
    tracking_text: str | None = None,
    answer: ClaimAnswer | None = None,
    flatten_margin: float = 0.5,
    measure: str = "spectral",
) -> dict:
    """Adversarial training flattens the classification (CE) landscape but not the explanation-loss landscape
    (chapter 4).

    ``corr``: ``studies.landscape.flatness_correlations`` of the sweep's models. Units: the experiments and
    flatness measures (``analysis.verdicts.landscape_parts``). Part (1), CE flattens, agrees when the
    interval of Spearman's rho (CE flatness against PGD accuracy) lies below 0 and disagrees when above;
    part (2), the explanation loss does not flatten, agrees only when its interval lies inside +-``margin``
    (``landscape.equivalence_rho``) and disagrees when it lies below 0; otherwise a part is inconclusive. A
    unit agrees when both parts agree, disagrees when either disagrees, and is inconclusive otherwise;
    with too few models it has no reading. ``tracking_text``: ``analysis.verdicts.tracking_verdict``, added
    as a sentence. ``answer`` (``analysis.set_claims.landscape_claim``): the claim in two parts per model
    set, paired per victim and seed (MAT / standard ratio of the Hessian ``measure``; the explanation part
    one-sided against ``flatten_margin``); when given it decides the verdict and the correlations above are
    secondary readings."""
    parts = landscape_parts(corr, margin)
    units = {
        f"{r.experiment} ({KIND_TITLES.get(r.flatness, r.flatness)})": r.status
        for r in parts.itertuples()
    }
    read = parts[parts["status"].notna()]
    c = counts(units)
    n = sum(c.values())

    def part_counts(col: str) -> str:
        s = read[col]
        return (
            f"{int((s == AGREES).sum())} agree, {int((s == DISAGREES).sum())} disagree, "
            f"{int((s == INCONCLUSIVE).sum())} inconclusive"
        )

    ours = (
        "no reading"
        if not n
        else f"CE flattens: {part_counts('ce_status')}; expl. loss within ±{margin:g}: "
        f"{part_counts('expl_status')} (of {n} units)"
    )
    lines = [
        f"{unit}: CE {interval_text(r.ce_rho, r.ce_lo, r.ce_hi)} {r.ce_status}, explanation loss "
        f"{interval_text(r.expl_rho, r.expl_lo, r.expl_hi)} {r.expl_status}"
        for unit, r in zip(units, parts.itertuples())
        if r.status is not None and r.ce_status and r.expl_status
    ]
    detail = (
        "Flatness measures (slices' quadratic coefficients, Hessian spectral and Frobenius norms) against "
        "PGD accuracy over the sweep's models, Spearman's ρ with a 95 % interval; part (1) agrees when CE's "
        "interval lies below 0 (robust models flatter), part (2) when the explanation loss's lies inside "
        f"±{margin:g} (an equivalence margin: |ρ| < {margin:g} is a weak relation by convention), and part "
        "(2) disagrees when it lies below 0: " + "; ".join(lines or ["none"]) + ". "
    )
    if not n:
        detail += "No experiment has enough models for a reading."
    elif c[AGREES] == n:
        detail += (
            "In every unit CE flattens and the explanation loss's relation is no more than weak, as the "
            "paper says."
        )
    else:
        detail += (
            f"Of {n} units, agreeing (both parts agree): {c[AGREES]}; disagreeing: "
            f"{c[DISAGREES]}; inconclusive: {c[INCONCLUSIVE]}."
        )
    if tracking_text:
        detail += f" Whether the landscape tracks L_end (chapter 4): {tracking_text}"
    if answer is not None:
        parts_v = answer.part_verdicts()
        ours = "; ".join(f"{p}: {v}" for p, v in parts_v.items()) + (
            f" (MAT / standard, {measure} norm, paired per victim)"
        )
        detail = (
            "One answer per part over the model sets, paired per victim and seed: the MAT / standard ratio "
            f"of the input Hessian's {measure} norm at the same victim (softplus twin), per seed the "
            "geometric mean over the victims, then a t-interval over the seeds; part (a) agrees when the "
            "CE ratio's interval lies below 1, part (b) when the explanation loss's lies above "
            f"{flatten_margin:g} (flattened by less than a factor {1 / flatten_margin:g}), and disagrees "
            "when it lies below:\n\n"
            + answer_text(answer, {p: "MAT / standard" for p in answer.parts})
            + "\n\nSecondary readings (they do not vote): "
            + detail
        )
        units = answer_units(answer)
    return finding(
        "Adversarial training flattens the CE landscape, not the explanation loss's",
        "one random direction per victim, judged by eye",
        ours,
        units,
        detail,
        answer,
    )


def claim_sep(
    verdicts: pd.DataFrame,
    roles: pd.DataFrame,
    blocks: pd.DataFrame,
    trades_verdicts: pd.DataFrame | None = None,
    answer: ClaimAnswer | None = None,
    method: str = "gradient",
    alternatives: Mapping[str, ClaimAnswer] | None = None,
) -> dict:
    """SEP moves explanation robustness with classification robustness held: L_end ranks SEP_pos < MAT <
    SEP_neg while PGD accuracy stays within 3 points (chapter 5).

    ``verdicts``: ``analysis.verdicts.sep_order_verdicts`` (paired, from the main table); ``roles``:
    ``analysis.verdicts.robustness_by_role`` of the same models (for the L_end means shown); ``blocks``:
    ``studies.sep.paper_blocks``. Units: the (experiment, explanation method) blocks, with the status of
    ``analysis.verdicts.sep_block_status``: each half of the order (SEP_pos < MAT, MAT < SEP_neg) is read
    from the paired geometric-mean ratio of L_end over the seeds and pairs both models kept, its 95 %
    interval above 1 agreeing and below 1 disagreeing; PGD accuracy is held when each SEP role's difference
    from MAT (mean over seeds, 90 % t-interval) lies inside ±3 points. A block agrees when every half it
    can read agrees and PGD accuracy is held, disagrees when a half disagrees, and is inconclusive
    otherwise; a block that lacks SEP_pos or SEP_neg is read on the half it has; with neither it has no
    reading. ``trades_verdicts`` (SEP on a TRADES base, ours, not the paper's) only adds a sentence.
    ``answer`` (``analysis.set_claims.sep_claim_of`` on the primary explanation ``method``): one answer over
    the model sets, each half of the order and PGD held as parts; when given it decides the verdict and the
    blocks above (every method) are secondary readings."""
    units, lines, ratios = {}, [], []
    idx = roles.set_index(["experiment", "explanation", "role"]) if len(roles) else None

    def l_end(name, method, role) -> str:
        key = (name, method, role)
        if idx is None or key not in idx.index:
            return f"no {role}"
        return f"{role} {idx.loc[key, 'l_end_1e-7']:.1f}"

    for r in verdicts.itertuples():
        unit = f"{r.experiment} ({r.explanation})"
        units[unit] = sep_block_status(r)
        means = ", ".join(
            l_end(r.experiment, r.explanation, role)
            for role in ("SEP_pos", "MAT", "SEP_neg")
        )
        halves = order_halves(r)
        if r.complete:
            ratios.append(r.neg_over_pos)
        lines.append(
            f"- {unit}, L_end means {means}: "
            + ("; ".join(halves) if halves else "no half of the order can be read")
            + ("" if r.complete else f" (no {r.missing} met the chapter's rule)")
            + f"; {pgd_text(r)}; **block {units[unit] or 'not read'}**."
        )
    c, n = counts(units), sum(counts(units).values())
    p_order, p_n = int(blocks["l_end_order"].sum()), len(blocks)
    names = ", ".join(f"{r.dataset} {r.model}" for r in blocks.itertuples())
    paper = (
        f"in the blocks tested here ({names}): order of means in {p_order} of {p_n}; PGD spread ≤ "
        f"{blocks['pgd_spread_points'].max():.1f} pts; SEP_neg/SEP_pos "
        f"{_span(blocks['neg_over_pos'], _times, '×')}"
        if p_n
        else "no block of the paper's table is tested here"
    )
    ours = (
        "no reading"
        if not n
        else f"paired order agrees, PGD held, in {c[AGREES]} of {n} blocks"
        + (f"; SEP_neg/SEP_pos {_span(ratios, _times, '×')}" if ratios else "")
    )
    if not n:
        detail = "No block has SEP_pos or SEP_neg beside MAT: there is nothing to read."
    else:
        detail = (
            "Each half of the order as the paired ratio of L_end (geometric mean over the seeds and pairs "
            "both models kept per seed, 95 % t-interval over the seeds), with "
            f"PGD accuracy held when each SEP role is within ±{MAX_PGD_SPREAD_POINTS:g} points of MAT "
            "(90 % interval over seeds):\n\n"
            + "\n".join(lines)
            + f"\n\nOf {n} blocks, {c[AGREES]} agree, {c[DISAGREES]} disagree and {c[INCONCLUSIVE]} are "
            f"inconclusive; the paper's means have the order in {p_order} of {p_n} (it gives no "
            "intervals)."
        )
    if trades_verdicts is not None and len(trades_verdicts):
        t = counts(
            {
                str(i): sep_block_status(r)
                for i, r in enumerate(trades_verdicts.itertuples())
            }
        )
        detail += (
            f" On a TRADES base (our extension, not the paper's), of {sum(t.values())} blocks "
            f"{t[AGREES]} agree, {t[DISAGREES]} disagree and {t[INCONCLUSIVE]} are inconclusive."
        )
    if answer is not None:
        ours = "; ".join(f"{p}: {v}" for p, v in answer.part_verdicts().items())
        detail = (
            f"One answer over the model sets on {method} maps, with the seed as the unit: per seed the "
            "geometric mean over the pairs both models kept of the ratio of L_end, a t-interval over the "
            "seeds of each set, Holm's correction across sets, the pooled interval over every seed; PGD "
            "accuracy held per set as below:\n\n"
            + answer_text(
                answer,
                {p: "higher / lower L_end" for p in list(answer.parts)[:2]},
            )
            + "\n\n"
            + alternative_text(alternatives)
            + "Secondary readings per block (every explanation method; they do not vote):\n\n"
            + detail
        )
        units = answer_units(answer)
    return finding(
        "SEP: L_end ranks SEP_pos < MAT < SEP_neg, classification robustness held",
        paper,
        ours,
        units,
        detail,
        answer,
    )


def claim_curvature(
    verdicts: pd.DataFrame,
    first_beta: float,
    old_verdicts: pd.DataFrame | None = None,
    answers: Mapping[float, ClaimAnswer] | None = None,
) -> dict:
    """SEP changes the explanation landscape itself: SEP_pos flattens and SEP_neg sharpens its curvature
    at the victims while CE's moves less (chapter 6).

    ``verdicts``: ``analysis.verdicts.curvature_verdicts`` of the target-free flatness (the spectral norm
    of G = (2/P) J^T J, ``pipeline.flatness``) per experiment, base and twin beta; ``old_verdicts``: the
    same rule on the old target-dependent Hessian, reported in a sentence only. Units: the
    (experiment, base) blocks at the landscape chapter's twin beta ``first_beta``, with the block's
    ``status``: each half (SEP_pos below the base, SEP_neg above it) is read from the interval of the paired
    ratio on the same victims and seeds; a block agrees when every half present agrees, disagrees when one
    disagrees, and is inconclusive otherwise. Whether CE moves less, the status on converged victims only
    and the status at the other twin beta only add sentences. ``answers``: per twin beta, the claim read over
    the model sets (``analysis.set_claims.curvature_claim_of``, MAT base); when given, the one at
    ``first_beta`` (the primary setting) decides the verdict and the other is stated beside it."""
    main = verdicts[verdicts["twin_beta"] == first_beta]
    units = {f"{r.experiment} (base {r.base})": r.status for r in main.itertuples()}
    lines = []
    for r in main.itertuples():
        moves = [
            f"{role} ×{getattr(r, f'{role}_expl_ratio'):.3g} "
            f"[{getattr(r, f'{role}_expl_lo'):.3g}, {getattr(r, f'{role}_expl_hi'):.3g}] "
            f"{getattr(r, f'{role}_status')} (CE ×{getattr(r, f'{role}_ce_ratio'):.3g}"
            + (
                ", moves less)"
                if getattr(r, f"{role}_ce_less") == AGREES
                else ", moves more)"
                if getattr(r, f"{role}_ce_less") == DISAGREES
                else ")"
            )
            for role in ("SEP_pos", "SEP_neg")
            if np.isfinite(getattr(r, f"{role}_expl_ratio"))
        ]
        lines.append(f"{r.experiment} (base {r.base}): " + ", ".join(moves))
    others = verdicts[verdicts["twin_beta"] != first_beta]
    same = [
        (r.experiment, r.base)
        for r in others.itertuples()
        if main[(main["experiment"] == r.experiment) & (main["base"] == r.base)][
            "status"
        ]
        .eq(r.status)
        .all()
    ]
    c = counts(units)
    n = sum(c.values())
    ours = (
        "no reading"
        if not n
        else f"agrees in {c[AGREES]}, disagrees in {c[DISAGREES]}, inconclusive in "
        f"{c[INCONCLUSIVE]} of {n} blocks"
    )
    detail = (
        "The target-free flatness (the spectral norm of G = (2/P) JᵀJ, the curvature of the explanation "
        "change at the victim, which SEP penalises; no target map involved) of SEP_pos and SEP_neg relative "
        "to their base, paired by seed and victim (per seed the geometric mean over the victims, 95 % t-interval over the seeds; "
        f"softplus twin, β = {first_beta:g}; CE's ratio in brackets, 'moves less' when its |log ratio| "
        "lies below the flatness's by its interval): "
        + "; ".join(lines or ["none"])
        + "."
    )
    changed = main[main["changed"]]
    detail += (
        " On victims whose Lanczos converged only, every block keeps its status."
        if not len(changed)
        else " On victims whose Lanczos converged only, the status changes in "
        + ", ".join(
            f"{r.experiment} (base {r.base}: {r.status} → {r.status_converged or 'no reading'})"
            for r in changed.itertuples()
        )
        + "."
    )
    if len(others):
        detail += f" At the other twin β the status is the same in {len(same)} of {len(others)} blocks."
    if old_verdicts is not None and len(old_verdicts):
        old = counts(
            {
                f"{r.experiment} (base {r.base})": r.status
                for r in old_verdicts[
                    old_verdicts["twin_beta"] == first_beta
                ].itertuples()
            }
        )
        detail += (
            " The old reading, the input Hessian of the target-dependent explanation loss (tied to the "
            f"start loss), agrees in {old[AGREES]}, disagrees in {old[DISAGREES]} and is inconclusive in "
            f"{old[INCONCLUSIVE]} blocks."
        )
    answer = answers.get(first_beta) if answers else None
    if answer is not None:
        alt = {b: a.verdict for b, a in answers.items() if b != first_beta}
        ours = (
            "; ".join(f"{p}: {v}" for p, v in answer.part_verdicts().items())
            + f" (twin β = {first_beta:g})"
            + "".join(f"; at β = {b:g}: {v}" for b, v in alt.items())
        )
        detail = (
            "One answer over the model sets (MAT base), with the seed as the unit: per seed the geometric "
            "mean over the victims of the ratio of the target-free flatness (spectral norm of G), a "
            "t-interval over the seeds of each set, Holm's correction across sets and the pooled interval "
            f"over every seed, at the primary twin β = {first_beta:g}:\n\n"
            + answer_text(
                answer,
                {
                    "SEP_pos flatter": "base / SEP_pos",
                    "SEP_neg sharper": "SEP_neg / base",
                },
            )
            + "\n\n"
            + "".join(
                f"The verdict depends on the twin's β only if this differs: at β = {b:g} (the stated "
                f"alternative) the claim reads **{v}** "
                f"({'; '.join(f'{p}: {pv}' for p, pv in answers[b].part_verdicts().items())}). "
                for b, v in alt.items()
            )
            + "Secondary readings per block (they do not vote): "
            + detail
        )
        units = answer_units(answer)
    return finding(
        "SEP changes the explanation landscape itself (curvature of the explanation change)",
        "v2: a Hessian analysis confirms it; form not stated",
        ours,
        units,
        detail,
        answer,
    )


def claim_start_loss(
    shares: pd.DataFrame,
    correlations: pd.DataFrame,
    paper: pd.DataFrame,
    role: str = "",
    pair_role: str = "",
    scale_shares: Mapping | None = None,
    carrier: str | None = None,
    scale_models: int = 0,
) -> dict:
    """Explanation robustness as the attack measures it is driven mainly by the start loss (chapter 7).

    ``shares``: ``studies.drivers.share_table`` (one row per level: across models, across the pairs within a
    model), log L_start's share of the variance of log L_end with its interval and its status
    (``analysis.verdicts.start_loss_status``: agrees when the interval lies above the profile's threshold,
    disagrees below, else inconclusive). Units: those levels. ``correlations``: ``driver_correlations`` over
    the pooled models, shown; ``role``, ``pair_role``: ``analysis.verdicts.flatness_role``, reported with its
    sign beside the claim, never merged into a unit's status. ``scale_shares`` (``studies.drivers.variance_shares``
    with a concentration column, over ``scale_models`` model rows) and ``carrier``
    (``analysis.verdicts.scale_carrier``): the start loss's share taken apart into the MSE's scale and the
    scale-free distance, stated beside the claim."""
    units = {
        r.level: (r.status if isinstance(r.status, str) else None)
        for r in shares.itertuples()
    }

    def share(r) -> str:
        if not np.isfinite(r.start_lo):
            return f"{r.level}: no reading"
        return (
            f"{r.level}: {r.start:.0%} [{r.start_lo:.0%}, {r.start_hi:.0%}] of the variance of log L_end "
            f"carried by log L_start, {r.r:.0%} [{r.r_lo:.0%}, {r.r_hi:.0%}] by log(1 − r) "
            f"({r.rows} rows; each seed's share, then a t-interval over "
            f"{getattr(r, 'seeds', 0)} seeds)"
        )

    threshold = float(shares["threshold"].iloc[0]) if len(shares) else float("nan")
    ours = (
        "; ".join(
            f"{r.level}: start-loss share "
            + (
                f"{r.start:.0%} [{r.start_lo:.0%}, {r.start_hi:.0%}]"
                if np.isfinite(r.start_lo)
                else "not read"
            )
            for r in shares.itertuples()
        )
        + f" (threshold {threshold:.0%})"
    )
    levels = "; ".join(share(r) for r in shares.itertuples())
    c = correlations.set_index("question")
    shown = [
        f"{q}: {interval_text(*c.loc[q, ['rho', 'lo', 'hi']])}"
        for q in (
            "flatness ~ L_end | L_start",
            "flatness ~ rel. reduction",
        )
        if q in c.index
    ]
    detail = (
        "Within experiment and method, log L_end = log L_start + log(1 − r) (r := 1 − L_end / L_start of "
        "a model's mean losses, so the identity is exact); the claim agrees on a level when the interval of "
        f"log L_start's share lies above {threshold:.0%}, disagrees when it lies below. "
        + levels[:1].upper()
        + levels[1:]
        + "."
        + (
            " Flatness's role (the target-free flatness ‖G‖), read apart from the claim (curvature: higher = "
            "sharper). Across models ("
            + "; ".join(shown)
            + f"): {role}."
            + (f" Across pairs: {pair_role}." if pair_role else "")
            if role
            else ""
        )
    )
    if scale_shares and np.isfinite(scale_shares.get("concentration", np.nan)):
        sh = scale_shares

        def pct(name: str) -> str:
            return f"{sh[name]:.0%} [{sh[f'{name}_lo']:.0%}, {sh[f'{name}_hi']:.0%}]"

        ours += f"; of it, scale {pct('concentration')}, distance {pct('distance')}"
        detail += (
            " **The scale of the loss taken apart.** The MSE of two maps that sum to 1 is their "
            "concentration c = (ΣI_v² + ΣI_t²)/P times a scale-free distance d = MSE / c "
            "(1 − 2⟨I_v, I_t⟩ / (ΣI_v² + ΣI_t²)), so log L_end = log c + log d + log(1 − r). Across the "
            f"{scale_models} models whose weights ship with the results (the first seed's; within "
            f"experiment and method), the variance of log L_end is carried {pct('concentration')} by the "
            f"concentration, {pct('distance')} by the scale-free distance and {pct('r')} by r: the start "
            f"loss's share is carried by {carrier or 'no reading'}."
            + (
                " A large start-loss share therefore says first that the MSE's scale differs between "
                "models, not that their explanations start further apart."
                if carrier == CARRIED_BY_SCALE
                else ""
            )
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


def primary_readings(profile: Profile) -> tuple[str, str, float]:
    """The readings that vote, named in the profile: the attack's explanation method, the flatness measure
    of claim 3 and its margin."""
    return (
        profile.manipulation.method,
        profile.landscape.flatness_measure,
        profile.landscape.flatten_margin,
    )


def sweep_finding(
    profile: Profile,
    relation: pd.DataFrame,
    paper: pd.DataFrame,
    validation: pd.DataFrame | None = None,
    pgd_rises: Mapping[str, bool] | None = None,
) -> dict:
    """Claim 2's row from the prototype chapter's relation table (the same call for chapter 3 and this
    page)."""
    method = primary_readings(profile)[0]
    return claim_sweep(
        correlations(relation),
        paper,
        validation=validation,
        pgd_rises=pgd_rises,
        answer=sweep_claim(relation, method),
        method=method,
        alternatives={
            f"{m} maps": sweep_claim(relation, m)
            for m in profile.prototypes.methods
            if m != method
        },
    )


def landscape_finding(profile: Profile, land) -> dict:
    """Claim 3's row from ``studies.landscape.landscape_result`` (chapter 4 and this page)."""
    _, measure, margin = primary_readings(profile)
    return claim_landscape(
        land.corr,
        profile.landscape.equivalence_rho,
        land.verdict,
        answer=landscape_claim(land.curv, measure, margin),
        flatten_margin=margin,
        measure=measure,
    )


def sep_finding(profile: Profile, sep) -> dict:
    """Claim 4's row from ``studies.sep.sep_comparison`` (chapter 5 and this page)."""
    method = primary_readings(profile)[0]
    tested = {
        src.removeprefix("paper: ")
        for src in sep.side["source"]
        if src.startswith("paper: ")
    }
    blocks = sep.paper[(sep.paper["dataset"] + " " + sep.paper["model"]).isin(tested)]
    return claim_sep(
        sep.verdicts,
        sep.roles,
        blocks,
        sep.trades_verdicts,
        answer=sep_claim_of(sep.main, sep.verdicts, method),
        method=method,
        alternatives={
            f"{m} maps": sep_claim_of(sep.main, sep.verdicts, m)
            for m in dict.fromkeys(sep.main["explanation"])
            if m != method
        },
    )


def curvature_finding(profile: Profile, curvature) -> dict:
    """Claim 5's row from ``studies.curvature.curvature_result`` (chapter 6 and this page): the primary
    twin beta is the landscape chapter's, the stated alternative ``drivers.second_beta``."""
    return claim_curvature(
        curvature.verdicts,
        profile.landscape.softplus_beta,
        curvature.old_verdicts,
        answers={
            b: curvature_claim_of(curvature.curvature, "MAT", b, CHANGE)
            for b in (profile.landscape.softplus_beta, profile.drivers.second_beta)
        },
    )


def start_loss_finding(drivers, paper: pd.DataFrame) -> dict:
    """Claim 6's row from ``studies.drivers.drivers_result`` (chapter 7 and this page)."""
    return claim_start_loss(
        drivers.shares,
        drivers.correlations,
        paper,
        drivers.flatness_role,
        drivers.pair_flatness_role,
        drivers.scale_shares,
        drivers.scale_carrier,
        0 if drivers.scale is None else len(drivers.scale),
    )


def claim_closing(row: Mapping) -> str:
    """A chapter's closing verdict: the claim and the verdict of its row on the findings page, from the same
    function, so the two cannot disagree."""
    return (
        f"**The claim, as the findings page reads it: {row['claim']}. Verdict: {row['verdict']}.** "
        f"{row['detail']}"
    )


def book_findings(
    profile: Profile,
    store: ResultStore,
    device: str,
    paper_csv: str = "paper_table.csv",
) -> list[dict]:
    """One row per claim of the paper, each read from the result function of the study that answers it
    (nothing is re-derived here): the motivation attacks, the sweep, the prototype attack and its validation,
    the landscape, the SEP comparison, the SEP models' curvature and the start-loss analysis. On a store the
    chapters filled, this trains and attacks nothing. ``paper_csv``: the paper's main table. The chapters
    close with the same row functions (``sweep_finding`` ... ``start_loss_finding``)."""
    paper = pd.read_csv(paper_csv)
    sweep = sweep_result(profile, store, device)
    # the prototype chapter's two inputs to claim 2 only (not its clusters, timing and checks)
    relation = relation_table(profile, store, device, progress=False)
    land = landscape_result(profile, store, device)
    sep = sep_comparison(profile, store, device, paper_csv)
    models = chapter_models(
        profile, sep.chosen, store, device
    )  # shared by the two SEP-model studies
    curvature = curvature_result(profile, store, device, sep.chosen, models)
    drivers = drivers_result(profile, store, device, sep.chosen, models)
    return [
        claim_motivation(motivation_result(profile, store, device).evidence),
        sweep_finding(
            profile,
            relation,
            paper,
            validation_result(profile, store, device).verdicts,
            sweep.pgd_rises,
        ),
        landscape_finding(profile, land),
        sep_finding(profile, sep),
        curvature_finding(profile, curvature),
        start_loss_finding(drivers, paper),
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
    """The findings table as the page shows it: human column names, the units' statuses in one narrow
    column ("agree / disagree / inconclusive"), the short texts wrapped within their column, the verdict on
    one line in bold."""
    shown = table.assign(
        units=[
            f"{a} / {d} / {i}"
            for a, d, i in zip(table[AGREES], table[DISAGREES], table[INCONCLUSIVE])
        ]
    )
    return human_table(
        shown,
        {
            "number": "#",
            "claim": "claim",
            "paper": "the paper",
            "ours": "ours",
            "units": "units: agree / disagree / inconclusive",
            "verdict": "verdict",
        },
        digits={"number": 0},
    ).set_table_styles(
        [
            {
                "selector": "td, th",
                "props": [("white-space", "normal"), ("vertical-align", "top")],
            },
            {"selector": "td:nth-child(2)", "props": [("min-width", "11em")]},
            {"selector": "td:nth-child(5)", "props": [("text-align", "center")]},
            {
                "selector": "td:nth-child(6)",
                "props": [("white-space", "nowrap"), ("font-weight", "bold")],
            },
        ],
        overwrite=False,
    )
