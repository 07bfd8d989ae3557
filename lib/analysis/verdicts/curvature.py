"""Chapter 6 (claim 5): the curvature of the SEP models against their base per block, paired per victim and read at the seed level."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import numpy as np
import pandas as pd

from lib.analysis.claims import NOT_REPRODUCED as NOT_REPRODUCED
from lib.analysis.claims import NOT_TESTED as NOT_TESTED
from lib.analysis.claims import PARTLY as PARTLY
from lib.analysis.claims import REPRODUCED as REPRODUCED
from lib.analysis.claims import VERDICTS as VERDICTS
from lib.analysis.claims import join_verdicts as join_verdicts
from lib.analysis.claims import order_claim as order_claim
from lib.analysis.claims import read_claim as read_claim
from lib.analysis.claims import verdict_of as verdict_of
from lib.analysis.stats import (
    AGREES,
    DISAGREES,
    INCONCLUSIVE,
    MIN_POINTS,
    paired_order,
    seed_interval,
    seed_log_ratios,
    status_of,
    two_stage_bootstrap,
)
from lib.analysis.verdicts.words import _as_statuses, sorted_by_role

# ------------------------------------------------------------------------------------------------
# chapter 6: the curvature of SEP models

# the two halves of the curvature claim: SEP_pos flatter than the base (its curvature lower), SEP_neg sharper
CURVATURE_HALVES = (("SEP_pos", -1), ("SEP_neg", 1))


def curvature_by_role(
    curv: pd.DataFrame, measure: str = "spectral", n_boot: int = 1000, seed: int = 0
) -> pd.DataFrame:
    """Per experiment, base, twin beta, loss and role (the lambda sweep left out): the mean of ``measure`` over
    every victim of every seed, with a two-stage bootstrap 95 % interval (seeds, then victims), the seed
    count and the share of Lanczos runs that converged."""
    rows = []
    main = curv[curv["role"] != "lambda sweep"]
    for (name, base, beta, loss, role), g in main.groupby(
        ["experiment", "base", "twin_beta", "loss", "role"], sort=False
    ):
        groups = [gg[measure].to_numpy(float) for _, gg in g.groupby("key", sort=False)]
        mean, lo, hi = two_stage_bootstrap(groups, n_boot, seed)
        rows.append(
            {
                "experiment": name,
                "base": base,
                "twin_beta": beta,
                "loss": loss,
                "role": role,
                "measure": measure,
                "mean": mean,
                "lo": lo,
                "hi": hi,
                "seeds": len(groups),
                "converged": float(g["eig_converged"].mean()),
            }
        )
    return sorted_by_role(
        pd.DataFrame(rows), ["experiment", "base"], then=["twin_beta", "loss"]
    )


def victim_arrays(
    block: pd.DataFrame, measure: str, roles, converged_only: bool = False
) -> dict[str, np.ndarray]:
    """Per role of ``roles``, the per-victim ``measure`` of one loss as a (seeds, victims) array on the seeds
    and victims of ``block`` (the rows of one experiment, base, twin beta and loss), NaN where a role has no
    model of that seed or (``converged_only``) Lanczos did not converge there. The landscape victims are the
    same for every seed and role of an experiment, so cell (s, v) of two roles is the same victim under
    models of the same seed: the paired design ``stats.paired_order`` reads."""
    seeds = sorted(block["seed"].unique())
    victims = sorted(block["victim"].unique())
    values = block[measure].astype(float)
    if converged_only:
        values = values.where(block["eig_converged"].astype(bool))
    cells = (
        block.assign(_v=values)
        .groupby(["role", "seed", "victim"], sort=False)["_v"]
        .mean()
    )
    out = {}
    for role in roles:
        arr = np.full((len(seeds), len(victims)), np.nan)
        if role in cells.index.get_level_values(0):
            part = cells.loc[role]
            for (s, v), x in part.items():
                arr[seeds.index(s), victims.index(v)] = x
        out[role] = arr
    return out


def moves_less(
    ex_base, ex_role, ce_base, ce_role, n_boot: int = 2000, seed: int = 0
) -> tuple[float, float, float, str]:
    """Does CE move less than the explanation loss? All four are (seeds, victims) arrays of one role and its
    base on the same victims; on the cells kept in all four, each seed gives |mean log(role / base)| of the
    explanation loss minus that of CE (> 0: CE moves less), and the statistic is their mean over seeds with
    a 95 % t-interval over the seeds (``stats.seed_interval``: the seed is the unit). Returns (statistic,
    lo, hi, status): "agrees" (CE moves less) when the interval lies above 0, "disagrees" when below, else
    "inconclusive" (always with one seed); NaN and "inconclusive" when no cell is kept. ``n_boot`` and
    ``seed`` are kept for callers (before issue 30 this was a crossed bootstrap over seeds and victims)."""
    arrs = [np.asarray(a, float) for a in (ex_base, ex_role, ce_base, ce_role)]
    kept = np.logical_and.reduce([np.isfinite(a) & (a > 0) for a in arrs])
    if not kept.any():
        return float("nan"), float("nan"), float("nan"), INCONCLUSIVE
    safe = [np.where(kept, a, np.nan) for a in arrs]
    d_ex = np.abs(seed_log_ratios(safe[0], safe[1]))
    d_ce = np.abs(seed_log_ratios(safe[2], safe[3]))
    stat, lo, hi, _ = seed_interval(d_ex - d_ce)
    return float(stat), float(lo), float(hi), status_of(lo, hi)


def curvature_half(
    ex: Mapping[str, np.ndarray],
    ce: Mapping[str, np.ndarray],
    base: str,
    role: str,
    sign: int,
    n_boot: int = 2000,
    seed: int = 0,
) -> dict:
    """One half of the curvature claim on (seeds, victims) arrays per role (``victim_arrays``) of the
    explanation loss (``ex``) and CE (``ce``): ``role`` flatter than ``base`` (``sign`` -1: SEP_pos) or
    sharper (+1: SEP_neg), read with ``stats.paired_order`` (lower: the role for -1, the base for +1).
    Returns ``expl_ratio`` (geometric mean of role / base over the victims both kept) with its interval
    ``expl_lo``, ``expl_hi``; ``status`` ("agrees" when the interval excludes 1 in the half's direction,
    "disagrees" when it excludes it the other way, else "inconclusive"; None without a kept victim);
    ``ce_ratio``, ``ce_lo``, ``ce_hi`` (CE's role / base, a secondary column); ``ce_less`` and
    ``ce_less_lo``/``_hi`` (``moves_less``: |log ratio| of the explanation loss minus CE's, status as
    there); ``victims``: the (seed, victim) cells read. A half with fewer than 3 victims kept (in any seed)
    has no reading: one victim gives an interval of zero width."""
    b, r = ex[base], ex[role]
    kept = np.isfinite(b) & np.isfinite(r)
    out = {
        "expl_ratio": np.nan,
        "expl_lo": np.nan,
        "expl_hi": np.nan,
        "status": None,
        "ce_ratio": np.nan,
        "ce_lo": np.nan,
        "ce_hi": np.nan,
        "ce_less": None,
        "ce_less_lo": np.nan,
        "ce_less_hi": np.nan,
        "victims": int(kept.sum()),
    }
    if kept.any(axis=0).sum() < MIN_POINTS:
        return out
    if sign < 0:  # paired_order's ratio is base / role: invert it and its interval
        q, lo, hi, status = paired_order(r, b, n_boot, seed)
        out.update(expl_ratio=1 / q, expl_lo=1 / hi, expl_hi=1 / lo, status=status)
    else:
        q, lo, hi, status = paired_order(b, r, n_boot, seed)
        out.update(expl_ratio=q, expl_lo=lo, expl_hi=hi, status=status)
    cb, cr = ce.get(base), ce.get(role)
    if cb is not None and cr is not None and (np.isfinite(cb) & np.isfinite(cr)).any():
        q, lo, hi, _ = paired_order(cb, cr, n_boot, seed)
        out.update(ce_ratio=q, ce_lo=lo, ce_hi=hi)
        stat, lo, hi, less = moves_less(b, r, cb, cr, n_boot, seed)
        out.update(ce_less=less, ce_less_lo=lo, ce_less_hi=hi)
    return out


def curvature_status(halves: Iterable[str | None]) -> str | None:
    """A block's status from its halves' (None: a half not read): "disagrees" when a half disagrees,
    "agrees" when every half read agrees, else "inconclusive"; None when no half was read."""
    read = [h for h in halves if isinstance(h, str)]
    if not read:
        return None
    if DISAGREES in read:
        return DISAGREES
    return AGREES if all(h == AGREES for h in read) else INCONCLUSIVE


def curvature_verdicts(
    curv: pd.DataFrame,
    measure: str = "spectral",
    n_boot: int = 2000,
    seed: int = 0,
    loss: str = "expl_twin",
) -> pd.DataFrame:
    """Per experiment, base and twin beta, from the per-victim curvature table (``curvature_table``; the
    lambda sweep left out): is SEP_pos's explanation ``measure`` (of the rows whose ``loss`` is ``loss``: the
    target-free flatness "expl_change" of ``pipeline.flatness``, or the old target-dependent explanation
    loss "expl_twin", the default) below the base's and SEP_neg's above
    (``curvature_half`` on the victims both models of a seed kept), and does CE move less? Columns per
    half ``{role}_{field}`` for every field of ``curvature_half``, plus ``{role}_converged`` (the share of
    the role's explanation-loss victims whose Lanczos converged) and ``{role}_status_converged`` (the half
    re-read on converged victims only: a cell is dropped where the role's or the base's Lanczos did not
    converge); ``status`` and ``status_converged`` (``curvature_status`` of the halves) and ``changed``
    (the two differ). The CE columns are secondary: they do not enter ``status``. A missing role gives NaN
    / None; a block without its base is left out."""
    rows = []
    main = curv[curv["role"] != "lambda sweep"]
    for (name, base, beta), g in main.groupby(
        ["experiment", "base", "twin_beta"], sort=False
    ):
        roles = [base] + [role for role, _ in CURVATURE_HALVES]
        by_loss = {
            (name_, conv): victim_arrays(
                g[g["loss"] == name_], measure, roles, converged_only=conv
            )
            for name_ in (loss, "ce")
            for conv in (False, True)
        }
        ex_rows = g[g["loss"] == loss]
        if base not in set(ex_rows["role"]):
            continue
        row = {
            "experiment": name,
            "base": base,
            "twin_beta": beta,
            "measure": measure,
            "loss": loss,
        }
        halves, halves_conv = [], []
        for role, sign in CURVATURE_HALVES:
            half = curvature_half(
                by_loss[(loss, False)],
                by_loss[("ce", False)],
                base,
                role,
                sign,
                n_boot,
                seed,
            )
            conv = curvature_half(
                by_loss[(loss, True)],
                by_loss[("ce", True)],
                base,
                role,
                sign,
                n_boot,
                seed,
            )
            mine = ex_rows[ex_rows["role"] == role]["eig_converged"]
            row.update({f"{role}_{k}": v for k, v in half.items()})
            row[f"{role}_converged"] = float(mine.mean()) if len(mine) else np.nan
            row[f"{role}_status_converged"] = conv["status"]
            halves.append(half["status"])
            halves_conv.append(conv["status"])
        row["status"] = curvature_status(halves)
        row["status_converged"] = curvature_status(halves_conv)
        row["changed"] = row["status"] != row["status_converged"]
        rows.append(row)
    table = pd.DataFrame(rows)
    return _as_statuses(
        table,
        [
            c
            for c in table.columns
            if c.endswith(("status", "status_converged", "_ce_less"))
        ],
    )


def beta_dependence(verdict: pd.DataFrame) -> pd.DataFrame:
    """Per experiment and base, the status at each twin beta and whether it is the same at both."""
    rows = []
    for (name, base), g in verdict.groupby(["experiment", "base"], sort=False):
        statuses = dict(zip(g["twin_beta"], g["status"]))
        rows.append(
            {
                "experiment": name,
                "base": base,
                **{f"beta {b:g}": s for b, s in statuses.items()},
                "same": len(set(statuses.values())) == 1,
            }
        )
    return pd.DataFrame(rows)
