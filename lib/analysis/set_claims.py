"""The paper's claims read with one answer each over model sets (``claims.read_claim``), from the tables the
studies return: each function builds the per-seed paired statistic of every model set and reads it.

- Claim 2, the sweep: per seed, Spearman's rho of L_end with PGD accuracy over that seed's sweep models.
- Claim 3, the landscape, in two parts paired per victim: (a) MAT / standard ratio of a CE flatness measure
  below 1; (b) the same ratio of the explanation loss's above a margin (it does not flatten).
- Claim 4, SEP's order: SEP_pos below the base and the base below SEP_neg in L_end (paired per pair), and
  PGD accuracy held (the per-set equivalence reading of ``verdicts.sep_order_verdicts``).
- Claim 5, SEP's curvature: SEP_pos flatter and SEP_neg sharper than the base (paired per victim).

Only the primary reading votes (the profile names it: explanation method, flatness measure, twin beta); the
others are secondary and are shown beside.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats as sps

from lib.analysis.claims import (
    NOT_TESTED,
    ClaimReading,
    join_verdicts,
    order_claim,
    read_claim,
    verdict_of,
    with_ratios,
)
from lib.analysis.stats import INCONCLUSIVE, seed_log_ratios
from lib.analysis.verdicts import half_arrays, role_pairs, victim_arrays


@dataclass(frozen=True)
class ClaimAnswer:
    """A claim's one answer: its ``verdict`` and, per part, the part's verdict and its per-set table
    (``claims.set_table`` columns, with ``ratio``, ``ratio_lo``, ``ratio_hi`` for ratio parts); ``pooled``:
    per part, the pooled (estimate, lo, hi, status) on the table's reported scale."""

    verdict: str
    parts: dict[str, tuple[str, pd.DataFrame]]
    pooled: dict[str, tuple[float, float, float, str]] = field(default_factory=dict)

    def part_verdicts(self) -> dict[str, str]:
        return {name: v for name, (v, _) in self.parts.items()}


def _ratio_part(
    blocks: Mapping[str, tuple[np.ndarray, np.ndarray]],
) -> tuple[str, pd.DataFrame, tuple[float, float, float, str]]:
    """``order_claim`` of the blocks that have data; "not tested" and an empty table without any."""
    blocks = {k: v for k, v in blocks.items() if v is not None}
    if not blocks:
        return NOT_TESTED, pd.DataFrame(), (np.nan, np.nan, np.nan, INCONCLUSIVE)
    verdict, table = order_claim(blocks)
    return verdict, table, table.attrs["pooled"]


def _answer(parts: Mapping[str, tuple[str, pd.DataFrame, tuple]]) -> ClaimAnswer:
    return ClaimAnswer(
        verdict=join_verdicts(v for v, _, _ in parts.values()),
        parts={k: (v, t) for k, (v, t, _) in parts.items()},
        pooled={k: p for k, (_, _, p) in parts.items()},
    )


def _reading_part(
    reading: ClaimReading, ratio: bool
) -> tuple[str, pd.DataFrame, tuple]:
    """A ``read_claim`` reading as a part; ``ratio``: the values were log ratios (add the ratio columns)."""
    table = with_ratios(reading.sets) if ratio else reading.sets
    est = (reading.estimate, reading.lo, reading.hi)
    pooled = (*(np.exp(est) if ratio else est), reading.pooled_status)
    return reading.verdict, table, pooled


# ------------------------------------------------------------------------------------------------
# claim 2: L_end rises with PGD accuracy over the TRADES sweep


def sweep_rho_by_seed(
    relation: pd.DataFrame, method: str, y: str = "l_end_1e-7"
) -> dict[str, np.ndarray]:
    """Per experiment, per seed: Spearman's rho of ``y`` with PGD accuracy over that seed's sweep models
    (standard, TRADES, MAT) attacked with ``method``; NaN for a seed with fewer than 3 models or a constant
    column. ``relation``: ``pipeline.explanation_attack.relation_table``."""
    out = {}
    rel = relation[relation["explanation"] == method]
    for name, g in rel.groupby("experiment", sort=False):
        rhos = []
        for _, s in g.groupby("seed", sort=True):
            s = s.dropna(subset=[y, "pgd_acc"])
            ok = len(s) >= 3 and s[y].nunique() > 1 and s["pgd_acc"].nunique() > 1
            rhos.append(
                float(sps.spearmanr(s[y], s["pgd_acc"]).statistic) if ok else np.nan
            )
        out[name] = np.asarray(rhos, float)
    return out


def sweep_claim(relation: pd.DataFrame, method: str) -> ClaimAnswer:
    """Claim 2 on the primary explanation ``method``: per seed rho of L_end with PGD accuracy, the claim-level
    rule over experiments against 0."""
    values = sweep_rho_by_seed(relation, method)
    if not values:
        return ClaimAnswer(NOT_TESTED, {})
    return _answer(
        {"L_end rises with PGD accuracy": _reading_part(read_claim(values), False)}
    )


# ------------------------------------------------------------------------------------------------
# claim 3: adversarial training flattens CE, not the explanation loss (paired per victim)


def victim_block(
    curv: pd.DataFrame,
    experiment: str,
    loss: str,
    measure: str,
    lower: str,
    higher: str,
) -> tuple[np.ndarray, np.ndarray] | None:
    """(lower, higher): (seeds, victims) arrays of ``measure`` of ``loss`` for the families ``lower`` and
    ``higher`` of one experiment (a landscape curvature table: one row per model, loss and victim; built by
    ``verdicts.victim_arrays`` with the family as the role), NaN where a victim is missing or not positive.
    None without both families."""
    g = curv[(curv["experiment"] == experiment) & (curv["loss"] == loss)]
    if not {lower, higher} <= set(g["family"]):
        return None
    arrays = victim_arrays(g.assign(role=g["family"]), measure, [lower, higher])
    a, b = (np.where(arrays[f] > 0, arrays[f], np.nan) for f in (lower, higher))
    if not (np.isfinite(a) & np.isfinite(b)).any():
        return None
    return a, b


def landscape_claim(
    curv: pd.DataFrame,
    measure: str,
    margin: float,
    ce_loss: str = "ce",
    expl_loss: str = "expl_twin",
    base: str = "standard",
    trained: str = "MAT",
) -> ClaimAnswer:
    """Claim 3 in two parts per experiment, paired per victim and seed: (a) "CE flattens": the ``trained`` /
    ``base`` ratio of ``measure`` of CE lies below 1 (``order_claim`` with the base higher); (b) "the
    explanation loss does not flatten": the same ratio of the explanation loss lies above ``margin``
    (one-sided; per seed the mean log ratio over victims, read against log ``margin``; below it: disagrees).
    The tables report the ``trained`` / ``base`` ratio."""
    names = list(dict.fromkeys(curv["experiment"]))
    ce = {n: victim_block(curv, n, ce_loss, measure, trained, base) for n in names}
    verdict, table, pooled = _ratio_part(ce)
    if len(table):  # order_claim's ratio is base / trained: report trained / base
        table = table.assign(
            ratio=1 / table["ratio"],
            ratio_lo=1 / table["ratio_hi"],
            ratio_hi=1 / table["ratio_lo"],
        )
        pooled = (1 / pooled[0], 1 / pooled[2], 1 / pooled[1], pooled[3])
    ex = {n: victim_block(curv, n, expl_loss, measure, base, trained) for n in names}
    ex = {n: seed_log_ratios(*b) for n, b in ex.items() if b is not None}
    parts = {"CE flattens": (verdict, table, pooled)}
    parts["explanation loss does not flatten"] = (
        _reading_part(read_claim(ex, np.log(margin)), True)
        if ex
        else (NOT_TESTED, pd.DataFrame(), (np.nan,) * 3 + (INCONCLUSIVE,))
    )
    return _answer(parts)


# ------------------------------------------------------------------------------------------------
# claim 4: SEP_pos < base < SEP_neg in L_end, PGD accuracy held


def sep_claim(
    blocks: Mapping[str, Mapping[str, tuple[np.ndarray, np.ndarray] | None]],
    pgd_statuses: Mapping[str, str | None],
) -> ClaimAnswer:
    """Claim 4: ``blocks`` maps each half ("SEP_pos below the base", "the base below SEP_neg") to
    {model set: (lower, higher) per-pair L_end arrays or None}; each half is ``order_claim`` over the sets.
    ``pgd_statuses``: per set, "PGD accuracy held" (the equivalence reading); that part is "reproduced" when
    every set read holds it, "not reproduced" when every one fails, "partly" when they differ, else
    "inconclusive"."""
    parts = {half: _ratio_part(b) for half, b in blocks.items()}
    read = {k: s for k, s in pgd_statuses.items() if s is not None}
    rows = pd.DataFrame({"set": list(read), "status": list(read.values())})
    parts["PGD accuracy held"] = (
        verdict_of(list(read.values())),
        rows,
        (np.nan, np.nan, np.nan, INCONCLUSIVE),
    )
    return _answer(parts)


# ------------------------------------------------------------------------------------------------
# claim 5: SEP_pos flattens, SEP_neg sharpens the explanation landscape (paired per victim)


def curvature_claim(
    victims: Mapping[str, Mapping[str, np.ndarray]], base: str
) -> ClaimAnswer:
    """Claim 5: ``victims`` maps each model set to {role: (seeds, victims) array} of the primary flatness
    (``verdicts.victim_arrays``); part "SEP_pos flatter" is ``order_claim`` of (SEP_pos, base), part "SEP_neg
    sharper" of (base, SEP_neg)."""

    def block(arrs, lower, higher):
        a, b = arrs.get(lower), arrs.get(higher)
        if a is None or b is None or not (np.isfinite(a) & np.isfinite(b)).any():
            return None
        return a, b

    return _answer(
        {
            "SEP_pos flatter": _ratio_part(
                {n: block(a, "SEP_pos", base) for n, a in victims.items()}
            ),
            "SEP_neg sharper": _ratio_part(
                {n: block(a, base, "SEP_neg") for n, a in victims.items()}
            ),
        }
    )


# ------------------------------------------------------------------------------------------------
# from the studies' tables


SEP_HALVES = ("SEP_pos below {base}", "{base} below SEP_neg")


def sep_claim_of(
    main: pd.DataFrame, verdicts: pd.DataFrame, method: str, base: str = "MAT"
) -> ClaimAnswer:
    """Claim 4 from a main table (``pipeline.explanation_attack.main_table``) and its
    ``verdicts.sep_order_verdicts`` (for PGD held), on the primary explanation ``method``."""
    names = list(dict.fromkeys(main["experiment"]))
    pos, neg = (h.format(base=base) for h in SEP_HALVES)
    blocks = {pos: {}, neg: {}}
    for n in names:
        p = {r: role_pairs(main, n, method, r) for r in ("SEP_pos", base, "SEP_neg")}
        blocks[pos][n] = half_arrays(p["SEP_pos"], p[base])
        blocks[neg][n] = half_arrays(p[base], p["SEP_neg"])
    v = verdicts[verdicts["explanation"] == method]
    pgd = {
        r.experiment: (r.pgd_status if isinstance(r.pgd_status, str) else None)
        for r in v.itertuples()
    }
    return sep_claim(blocks, pgd)


def curvature_claim_of(
    curv: pd.DataFrame,
    base: str,
    twin_beta: float,
    loss: str,
    measure: str = "spectral",
) -> ClaimAnswer:
    """Claim 5 from the per-victim curvature table of the SEP models (``studies.curvature``), at one twin
    beta, base and loss (the lambda sweep left out)."""
    g = curv[
        (curv["role"] != "lambda sweep")
        & (curv["base"] == base)
        & (curv["twin_beta"] == twin_beta)
        & (curv["loss"] == loss)
    ]
    victims = {
        n: victim_arrays(ge, measure, [base, "SEP_pos", "SEP_neg"])
        for n, ge in g.groupby("experiment", sort=False)
    }
    return curvature_claim(victims, base)
