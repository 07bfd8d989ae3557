"""Chapter 4 (claim 3): the landscape readings over the sweep (flatness against PGD accuracy, secondary to ``analysis.set_claims.landscape_claim``) and what tracks L_end."""

from __future__ import annotations

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
    TOO_FEW,
    reading,
)
from lib.analysis.verdicts.words import STATUSES, _as_statuses

# ------------------------------------------------------------------------------------------------
# chapter 4: the landscape's readings


def ce_part_status(lo: float, hi: float, n: int) -> str | None:
    """Part (1), adversarial training flattens CE, on the interval [lo, hi] of Spearman's rho of a CE
    flatness measure against PGD accuracy over ``n`` models: "agrees" when it lies below 0 (more robust,
    flatter), "disagrees" when above, else "inconclusive"; None with too few models."""
    word = reading(lo, hi, DISAGREES, AGREES, n=n)
    return None if word == TOO_FEW else word if word in STATUSES else INCONCLUSIVE


def expl_part_status(lo: float, hi: float, n: int, margin: float) -> str | None:
    """Part (2), adversarial training does not flatten the explanation loss, an equivalence claim on the
    interval [lo, hi] of Spearman's rho of an explanation-loss flatness measure against PGD accuracy over
    ``n`` models: "agrees" only when it lies inside (-margin, +margin) (``landscape.equivalence_rho``),
    "disagrees" when it lies below 0 (adversarial training does flatten it), else "inconclusive" (an
    interval that merely holds 0 is no evidence of no relation); None with too few models."""
    if n < MIN_POINTS:
        return None
    if not (np.isfinite(lo) and np.isfinite(hi)):
        return INCONCLUSIVE
    if -margin < lo and hi < margin:
        return AGREES
    return DISAGREES if hi < 0 else INCONCLUSIVE


def landscape_status(ce: str | None, expl: str | None) -> str | None:
    """A unit's status from its two parts (None: a part not read): "disagrees" when either disagrees,
    "agrees" when both agree, None when neither was read, else "inconclusive"."""
    ce, expl = (s if isinstance(s, str) else None for s in (ce, expl))
    if ce is None and expl is None:
        return None
    if DISAGREES in (ce, expl):
        return DISAGREES
    return AGREES if ce == expl == AGREES else INCONCLUSIVE


def reading_shares(corr: pd.DataFrame, margin: float) -> dict[str, float]:
    """Over the readings against PGD accuracy (with enough models): the share of CE measures whose interval
    says CE flattens and sharpens, and of explanation-loss measures whose interval says it flattens,
    sharpens, and lies inside +-``margin`` (no more than a weak relation)."""
    v = corr[(corr["against"] == "pgd_acc") & (corr["reading"] != TOO_FEW)]
    ce, ex = v[v["loss"] == "ce"], v[v["loss"] == "expl_twin"]

    def share(mask) -> float:
        return float(np.mean(mask)) if len(mask) else float("nan")

    return {
        "ce_flattens": share(ce["hi"] < 0),
        "ce_sharpens": share(ce["lo"] > 0),
        "expl_flattens": share(ex["hi"] < 0),
        "expl_sharpens": share(ex["lo"] > 0),
        "expl_within": share((ex["lo"] > -margin) & (ex["hi"] < margin)),
    }


LANDSCAPE_PART_COLUMNS = [
    "experiment",
    "flatness",
    "models",
    "ce_rho",
    "ce_lo",
    "ce_hi",
    "ce_status",
    "expl_rho",
    "expl_lo",
    "expl_hi",
    "expl_status",
    "status",
]


def landscape_parts(corr: pd.DataFrame, margin: float) -> pd.DataFrame:
    """The units of the landscape claim, from ``studies.landscape.flatness_correlations`` (rows against PGD
    accuracy): one per experiment and flatness measure (``flatness``: the column without its loss, e.g.
    "spectral"), with CE's and the explanation loss's rho and interval, each part's status
    (``ce_part_status``, ``expl_part_status`` with ``margin``) and the unit's (``landscape_status``). A
    measure of one loss only has the other part None."""
    v = corr[corr["against"] == "pgd_acc"]
    v = v.assign(flatness=v["column"].str.split(":", n=1).str[1])
    rows = []
    for (name, flat), g in v.groupby(["experiment", "flatness"], sort=False):
        row = {"experiment": name, "flatness": flat, "models": int(g["models"].max())}
        for loss, key in (("ce", "ce"), ("expl_twin", "expl")):
            r = g[g["loss"] == loss]
            if not len(r):
                row.update({f"{key}_{c}": np.nan for c in ("rho", "lo", "hi")})
                row[f"{key}_status"] = None
                continue
            r = r.iloc[0]
            row.update({f"{key}_{c}": float(r[c]) for c in ("rho", "lo", "hi")})
            row[f"{key}_status"] = (
                ce_part_status(r["lo"], r["hi"], int(r["models"]))
                if loss == "ce"
                else expl_part_status(r["lo"], r["hi"], int(r["models"]), margin)
            )
        row["status"] = landscape_status(row["ce_status"], row["expl_status"])
        rows.append(row)
    return _as_statuses(
        pd.DataFrame(rows, columns=LANDSCAPE_PART_COLUMNS),
        ["ce_status", "expl_status", "status"],
    )


def tracking_verdict(track: pd.DataFrame) -> str:
    """Which of the starting value and the explanation landscape's curvature tracks L_end (an interval that
    excludes 0) in every experiment. An interval that holds 0 is no evidence of no relation, so a
    candidate that does not track clearly is said to be open, not ruled out."""
    clear = track[track["robustness"] == "L_end"].groupby("x")["clear"].all()
    start = bool(clear.get("l_start_1e-7", False))
    curv = bool(
        clear.get("expl_twin:spectral", False)
        or clear.get("expl_twin:frobenius", False)
    )
    return {
        (
            True,
            False,
        ): "The starting value tracks L_end in every experiment; the curvature of the explanation "
        "landscape does not clearly track it in every experiment (an interval holds 0), which leaves its "
        "role open rather than ruled out.",
        (
            True,
            True,
        ): "Both the starting value and the curvature track L_end in every experiment, so this data "
        "cannot separate the two explanations.",
        (
            False,
            True,
        ): "The curvature of the explanation landscape tracks L_end in every experiment; the starting "
        "value does not clearly track it in every experiment (an interval holds 0).",
        (
            False,
            False,
        ): "Neither the starting value nor the curvature tracks L_end clearly in every "
        "experiment.",
    }[(start, curv)]
