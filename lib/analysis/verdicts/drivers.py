"""Chapter 7 (claim 6): start loss against flatness, which part of the start loss carries its share, SEP across explanation methods, and the attack at a fixed budget."""

from __future__ import annotations

from collections.abc import Mapping

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
    reading,
)
from lib.analysis.verdicts.sep import (
    MAX_PGD_SPREAD_POINTS,
    robustness_by_role,
    sep_order_verdicts,
)
from lib.core.errors import ConfigError
from lib.nn.kinds import NONE

# ------------------------------------------------------------------------------------------------
# chapter 7: start loss against flatness


DRIVER_VERDICTS = ("start loss", "flatness", "both", "neither", INCONCLUSIVE)


def driver_verdict(corr: pd.DataFrame, margin: float | None = None) -> str:
    """Which driver the pooled correlations (``studies.drivers.driver_correlations``) point to, read from
    the intervals alone. The L_start ~ L_end link is partly automatic (L_end = L_start (1 - r)), so the
    reading rests on the partial correlation of flatness with L_end once L_start is held fixed:
    "flatness" when its interval excludes 0 and L_start ~ L_end's does not lie above 0, "both" when both
    do (the sign of flatness's link is ``flatness_role``'s, not this word's). A "does not" needs an
    equivalence margin: "start loss" only when L_start ~ L_end lies above 0 and the partial interval lies
    inside (-margin, margin); "neither" only when both intervals lie inside it. Without a margin (None) those
    two are never said: a flatness interval that is merely not significant reads "inconclusive"."""
    c = corr.set_index("question")
    n = int(c["models"].iloc[0]) if len(c) else 0
    if n < 3:  # too few models for a rank correlation
        return INCONCLUSIVE
    s, f = c.loc["L_start ~ L_end"], c.loc["flatness ~ L_end | L_start"]
    if not all(np.isfinite([s.lo, s.hi, f.lo, f.hi])):
        return INCONCLUSIVE
    start, flat = s.lo > 0, f.lo > 0 or f.hi < 0

    def negligible(row) -> bool:
        return margin is not None and -margin < row.lo and row.hi < margin

    if flat:
        return "both" if start else "flatness"
    if negligible(f):
        if start:
            return "start loss"
        if negligible(s):
            return "neither"
    return INCONCLUSIVE


def start_loss_status(shares: Mapping, threshold: float) -> str | None:
    """The paper's "driven by the start loss" on one unit (``studies.drivers.variance_shares``: the share of
    the between-model variance of log L_end carried by log L_start, with its interval ``start_lo``,
    ``start_hi``): AGREES when the interval lies above ``threshold``, DISAGREES when it lies below it,
    INCONCLUSIVE when it contains it; None (no reading) when the share is undefined (too few rows)."""
    if not 0 < threshold < 1:
        raise ConfigError(
            f"threshold={threshold!r} is not allowed: expected a share strictly between 0 and 1"
        )
    lo, hi = float(shares["start_lo"]), float(shares["start_hi"])
    if not (np.isfinite(lo) and np.isfinite(hi)):
        return None
    return AGREES if lo > threshold else DISAGREES if hi < threshold else INCONCLUSIVE


# flatness (the column is a curvature: higher = sharper) against L_end with L_start held fixed, and against r
SHARPER_CLOSER = (
    "at fixed L_start, sharper ends closer to the target (flatter is more robust)"
)
SHARPER_FURTHER = (
    "at fixed L_start, sharper ends further from the target (sharper is more robust)"
)
NO_CLEAR_ROLE = "at fixed L_start, no clear role"
SHARPER_MORE = "sharper goes with a larger relative reduction"
SHARPER_LESS = "sharper goes with a smaller relative reduction"
NO_CLEAR_REDUCTION = "no clear link with the relative reduction"


def flatness_role(corr: pd.DataFrame) -> str:
    """Flatness's role, with its sign, from ``driver_correlations``: the partial correlation of curvature
    with L_end at fixed L_start (below 0: ``SHARPER_CLOSER``, the conventional story; above 0:
    ``SHARPER_FURTHER``; else ``NO_CLEAR_ROLE``) and its correlation with the relative reduction
    (``SHARPER_MORE``, ``SHARPER_LESS``, ``NO_CLEAR_REDUCTION``), joined by '; '. Kept apart from the
    start-loss status: it is not a verdict on the paper's claim."""
    c = corr.set_index("question")
    n = int(c["models"].iloc[0]) if len(c) else 0
    f, r = c.loc["flatness ~ L_end | L_start"], c.loc["flatness ~ rel. reduction"]
    words = {"up": SHARPER_FURTHER, "down": SHARPER_CLOSER}
    fixed = words.get(reading(f.lo, f.hi, "up", "down", n=n), NO_CLEAR_ROLE)
    words = {"up": SHARPER_MORE, "down": SHARPER_LESS}
    red = words.get(reading(r.lo, r.hi, "up", "down", n=n), NO_CLEAR_REDUCTION)
    return f"{fixed}; {red}"


# the part of log L_start that carries its share (issue 30): the MSE's scale or the scale-free distance
CARRIED_BY_SCALE = "the MSE's scale (how concentrated the maps are)"
CARRIED_BY_DISTANCE = "the scale-free distance between the maps"
CARRIED_BY_BOTH = "the scale and the distance about equally"
CARRIER_UNDECIDED = "undecided between the scale and the distance"


def scale_carrier(shares: Mapping, zone: float) -> str | None:
    """Which part of log L_start carries its share of log L_end's variance, from ``variance_shares`` with a
    concentration column (``scale_gap``: concentration's share minus the distance's, with its interval):
    the scale when the interval lies above ``zone``, the distance when below -``zone``, both when it lies
    inside (-zone, zone), else undecided; None without a concentration reading."""
    if not 0 < zone < 1:
        raise ConfigError(
            f"zone={zone!r} is not allowed: expected a share strictly between 0 and 1"
        )
    lo, hi = shares.get("scale_gap_lo", np.nan), shares.get("scale_gap_hi", np.nan)
    if not (np.isfinite(lo) and np.isfinite(hi)):
        return None
    if lo > zone:
        return CARRIED_BY_SCALE
    if hi < -zone:
        return CARRIED_BY_DISTANCE
    if -zone < lo and hi < zone:
        return CARRIED_BY_BOTH
    return CARRIER_UNDECIDED


# ------------------------------------------------------------------------------------------------
# chapter 7: SEP across explanation methods, and the attack at a fixed budget


def cross_verdicts(
    table: pd.DataFrame,
    base: str = "MAT",
    max_adv_spread_points: float = MAX_PGD_SPREAD_POINTS,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per training method of SEP: ``analysis.verdicts.robustness_by_role`` of its SEP models with the base
    models, and ``analysis.verdicts.sep_order_verdicts`` (paired, on the same models' main-table rows) per
    experiment and attacked method, each with a column ``trained_with``."""
    roles, verdict = [], []
    for method in [m for m in dict.fromkeys(table["trained_with"]) if m != NONE]:
        sub = table[table["trained_with"].isin([NONE, method])]
        r = robustness_by_role(sub)
        roles.append(r.assign(trained_with=method))
        verdict.append(
            sep_order_verdicts(sub, max_adv_spread_points, base).assign(
                trained_with=method
            )
        )
    if not roles:  # no SEP model was chosen (every lambda collapsed or moved accuracy): nothing to compare
        return (
            pd.DataFrame(columns=["role", "explanation", "trained_with"]),
            pd.DataFrame(
                columns=[
                    "experiment",
                    "explanation",
                    "pos_status",
                    "neg_status",
                    "status",
                    "trained_with",
                ]
            ),
        )
    return pd.concat(roles, ignore_index=True), pd.concat(verdict, ignore_index=True)


def budget_agreement(corr: pd.DataFrame) -> dict[str, float]:
    """Over the experiments, the share of L_end readings that say explanation robustness goes with
    classification robustness, per attack."""
    v = corr[corr["y"] == "l_end_1e-7"]
    return {
        a: float((g["reading"] == "goes with").mean())
        for a, g in v.groupby("attack", sort=False)
    }
