"""Chapter 1 (claim 1): does the attack keep the label and steer the map, and does it beat noise of its size."""

from __future__ import annotations

import numpy as np
from scipy.stats import binomtest

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
)

# ------------------------------------------------------------------------------------------------
# chapter 1: does the attack beat noise


BEATS_NOISE = 2.0  # the attack beats noise when it removes more than twice the share that noise removes


def beats_noise(attack: float, noise: float) -> bool:
    """The rule of the motivation chapter, fixed before any result: the attack moves the map towards the
    target "far more than noise" when it removes more than ``BEATS_NOISE`` times the share noise removes (a
    noise share below 0 counts as 0)."""
    return bool(attack > BEATS_NOISE * max(noise, 0.0))


def success_interval(successes: int, pairs: int) -> tuple[float, float]:
    """The 95 % Wilson interval of a success rate (``scipy.stats.binomtest``)."""
    ci = binomtest(int(successes), int(pairs)).proportion_ci(0.95, method="wilson")
    return float(ci.low), float(ci.high)


def motivation_status(
    success_rate: float,
    pairs: int,
    attack: float,
    noise: float,
    margin_lo: float | None = None,
) -> str:
    """A model's status for the motivation claim (the attack keeps the label and steers the map). It agrees
    when the Wilson interval of its success rate lies above 1/2 (most pairs end closer to the target with the
    label kept) and the attack beats noise: the pair-bootstrap interval of attack share - 2 x noise share
    lies above 0 (``margin_lo``, ``stats.beats_noise_interval``; without it, ``beats_noise`` on the point
    values); it disagrees when the interval lies below 1/2 or the attack removes no more of the distance
    than noise of its size does; otherwise it is inconclusive."""
    lo, hi = success_interval(round(success_rate * pairs), pairs)
    if hi < 0.5 or attack <= max(noise, 0.0):
        return DISAGREES
    beats = (
        beats_noise(attack, noise)
        if margin_lo is None or not np.isfinite(margin_lo)
        else margin_lo > 0
    )
    if lo > 0.5 and beats:
        return AGREES
    return INCONCLUSIVE
