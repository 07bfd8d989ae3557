"""One answer per claim: the claim-level rule over model sets (a dataset and an architecture), each read at the
level of the seed (the trained model, the unit of replication).

A claim is read on per-seed values of one paired statistic per model set, on a scale where the claim's
direction is "up" from a null (for an order, log(higher / lower) of each seed's pairs against 0). Per set: the
mean over seeds, its Student-t interval and p-value (``stats.seed_interval``); the sets' p-values are
corrected together (Holm, ``stats.holm``), and a set agrees when its corrected p is below 5 % with its mean
above the null, disagrees when below the null, and is inconclusive otherwise (one seed: always). Over sets:
the pooled estimate (the t-interval over every seed of every set: exact when the sets share one effect, wider
when they differ) and a one-way ANOVA of the seeds' values across sets (heterogeneity beyond chance).

The verdict (``claim_verdict``): "partly" only when the sets genuinely differ (some agree and some disagree,
or the ANOVA finds heterogeneity and some set agrees), never for one agreement among inconclusive sets;
otherwise the pooled interval decides ("reproduced" above the null, "not reproduced" below, "inconclusive"
when it holds the null). A claim of several parts (both halves of an order, say) joins its parts'
verdicts with ``join_verdicts``. Rules fixed on 2026-12-08 (issue 30), after the shipped ``cpu`` results and a
review of them had been seen; see the findings page's history of the rules.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.stats import f_oneway

from lib.analysis.stats import (
    AGREES,
    DISAGREES,
    INCONCLUSIVE,
    holm,
    seed_interval,
    seed_log_ratios,
    status_of,
)
from lib.core.errors import ConfigError

REPRODUCED, PARTLY, NOT_REPRODUCED, NOT_TESTED = (
    "reproduced",
    "partly",
    "not reproduced",
    "not tested",
)
VERDICTS = (REPRODUCED, PARTLY, NOT_REPRODUCED, INCONCLUSIVE, NOT_TESTED)
ALPHA = 0.05  # family-wise level of the per-set statuses and level of the heterogeneity test
SET_COLUMNS = ["set", "seeds", "estimate", "lo", "hi", "p", "p_holm", "status"]


@dataclass(frozen=True)
class ClaimReading:
    """A claim read over model sets: ``verdict``; the pooled ``estimate`` with its interval ``lo``, ``hi``
    and ``pooled_status``; ``heterogeneity_p`` (one-way ANOVA across sets, NaN with fewer than two sets of
    two seeds); ``sets``: per set its seeds, estimate, 95 % interval, p, Holm-corrected p and status (on the
    scale the values were given, e.g. log ratios; ``null`` is that scale's null)."""

    verdict: str
    estimate: float
    lo: float
    hi: float
    pooled_status: str
    heterogeneity_p: float
    null: float
    sets: pd.DataFrame

    def statuses(self) -> dict[str, str | None]:
        """Per set, its status (None: no seed read)."""
        return {
            r.set: (r.status if isinstance(r.status, str) else None)
            for r in self.sets.itertuples()
        }


def set_table(values: Mapping[str, Iterable[float]], null: float = 0.0) -> pd.DataFrame:
    """Per model set (``values``: set name -> per-seed values, NaN for a seed not read): seeds, mean,
    95 % t-interval, p against ``null`` and the Holm-corrected p over the sets that have one, and the status
    (module docstring). A set without a seed has status None."""
    rows = []
    for name, v in values.items():
        v = np.asarray(list(v) if not isinstance(v, np.ndarray) else v, float).ravel()
        mean, lo, hi, p = seed_interval(v - null)
        rows.append(
            {
                "set": name,
                "seeds": int(np.isfinite(v).sum()),
                "estimate": mean + null,
                "lo": lo + null,
                "hi": hi + null,
                "p": p,
            }
        )
    table = pd.DataFrame(rows, columns=SET_COLUMNS[:-2])
    ok = table["p"].notna().to_numpy()
    adjusted = np.full(len(table), np.nan)
    if ok.any():
        adjusted[ok] = holm(table["p"].to_numpy()[ok])
    table["p_holm"] = adjusted
    statuses = [
        None
        if r.seeds == 0
        else INCONCLUSIVE
        if not np.isfinite(r.p_holm) or r.p_holm >= ALPHA
        else AGREES
        if r.estimate > null
        else DISAGREES
        for r in table.itertuples()
    ]
    # object dtype: pandas would store a missing status (a set without seeds) as NaN in a string column
    table["status"] = pd.Series(statuses, index=table.index, dtype=object)
    return table


def verdict_of(statuses: Iterable[str | None]) -> str:
    """The verdict of a claim read on units that are not model sets
    (the motivation's models): units without a reading (None) are
    left out; none left: "not tested". Every unit agrees: "reproduced";
    every unit disagrees: "not reproduced"; some agree and some
    disagree: "partly" (the units differ). Anything else, e.g. one
    agreement among inconclusive units: "inconclusive"."""
    read = [s for s in statuses if s is not None]
    words = (AGREES, DISAGREES, INCONCLUSIVE)
    for s in read:
        if s not in words:
            raise ConfigError(
                f"status={s!r} is not allowed: expected one of {words} or None"
            )
    if not read:
        return NOT_TESTED
    agree, disagree = read.count(AGREES), read.count(DISAGREES)
    if agree == len(read):
        return REPRODUCED
    if disagree == len(read):
        return NOT_REPRODUCED
    return PARTLY if agree and disagree else INCONCLUSIVE


def claim_verdict(
    statuses: Iterable[str | None], pooled: str, heterogeneous: bool
) -> str:
    """The claim's verdict from its sets' statuses (after Holm),
    the pooled status and whether the sets differ beyond chance
    (the module docstring). Lines kept short: the page shows it."""
    read = [s for s in statuses if s is not None]
    if not read:
        return NOT_TESTED
    agree, disagree = AGREES in read, DISAGREES in read
    if (agree and disagree) or (heterogeneous and agree):
        return PARTLY
    if heterogeneous:
        return NOT_REPRODUCED if disagree else INCONCLUSIVE
    if pooled == AGREES:
        return PARTLY if disagree else REPRODUCED
    if pooled == DISAGREES:
        return PARTLY if agree else NOT_REPRODUCED
    return INCONCLUSIVE


def read_claim(
    values: Mapping[str, Iterable[float]], null: float = 0.0
) -> ClaimReading:
    """The claim-level rule on per-seed values per model set (``set_table``, the pooled t-interval over
    every seed, the ANOVA across sets, ``claim_verdict``)."""
    if not values:
        raise ConfigError(
            "values={} is not allowed: expected one or more model sets of per-seed values"
        )
    values = {k: np.asarray(list(v), float).ravel() for k, v in values.items()}  # once
    sets = set_table(values, null)
    arrays = list(values.values())
    arrays = [a[np.isfinite(a)] for a in arrays]
    every = np.concatenate(arrays) if arrays else np.array([])
    mean, lo, hi, _ = seed_interval(every - null) if len(every) else (np.nan,) * 4
    pooled = status_of(lo, hi)
    tested = [a for a in arrays if len(a) >= 2]
    het_p = float("nan")
    if len(tested) >= 2 and any(np.ptp(a) > 0 for a in tested):
        het_p = float(f_oneway(*tested).pvalue)
    verdict = claim_verdict(
        sets["status"], pooled, bool(np.isfinite(het_p) and het_p < ALPHA)
    )
    return ClaimReading(
        verdict=verdict,
        estimate=mean + null,
        lo=lo + null,
        hi=hi + null,
        pooled_status=pooled,
        heterogeneity_p=het_p,
        null=null,
        sets=sets,
    )


def order_claim(
    blocks: Mapping[str, tuple[np.ndarray, np.ndarray]],
) -> tuple[str, pd.DataFrame]:
    """The claim-level rule for an order ("higher lies above lower" in every model set): ``blocks`` maps a
    model set's name to (lower, higher), (seeds, pairs) arrays of a positive per-pair loss on the same pairs
    (NaN: not kept). Each seed gives its mean log ratio over its kept pairs (``stats.seed_log_ratios``);
    ``read_claim`` reads them. Returns the claim's verdict and the per-set table with the ratios (``ratio``,
    ``ratio_lo``, ``ratio_hi``: exp of the log scale) beside the log-scale columns; the pooled ratio is the
    table's attribute ``pooled`` (ratio, lo, hi, status) and the heterogeneity p its ``heterogeneity_p``."""
    reading = read_claim(
        {
            name: seed_log_ratios(lower, higher)
            for name, (lower, higher) in blocks.items()
        }
    )
    table = with_ratios(reading.sets)
    table.attrs["pooled"] = (
        float(np.exp(reading.estimate)),
        float(np.exp(reading.lo)),
        float(np.exp(reading.hi)),
        reading.pooled_status,
    )
    table.attrs["heterogeneity_p"] = reading.heterogeneity_p
    return reading.verdict, table


def with_ratios(sets: pd.DataFrame) -> pd.DataFrame:
    """A ``set_table`` of log ratios with the ratios beside: ``ratio``, ``ratio_lo``, ``ratio_hi``."""
    return sets.assign(
        ratio=np.exp(sets["estimate"]),
        ratio_lo=np.exp(sets["lo"]),
        ratio_hi=np.exp(sets["hi"]),
    )


def join_verdicts(parts: Iterable[str]) -> str:
    """A claim of several parts (each a verdict): "reproduced" when every part is; "not reproduced" when a
    part is not and none is reproduced or partly; "partly" when some part is reproduced or partly and
    another is not reproduced, or a part is itself partly; "inconclusive" otherwise (one part reproduced
    and another inconclusive is not yet the claim); "not tested" when no part was tested."""
    read = [p for p in parts if p != NOT_TESTED]
    for p in read:
        if p not in VERDICTS:
            raise ConfigError(
                f"verdict={p!r} is not allowed: expected one of {VERDICTS}"
            )
    if not read:
        return NOT_TESTED
    if all(p == REPRODUCED for p in read):
        return REPRODUCED
    some = any(p in (REPRODUCED, PARTLY) for p in read)
    if PARTLY in read or (some and NOT_REPRODUCED in read):
        return PARTLY
    return NOT_REPRODUCED if NOT_REPRODUCED in read else INCONCLUSIVE
