"""The words of a verdict shared by every claim: a unit's status, the claim verdicts (``analysis.claims``), the display order of roles, and counting statuses."""

from __future__ import annotations

from collections.abc import Mapping

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
)

# ------------------------------------------------------------------------------------------------
# the words of a verdict: a unit's status, a claim's verdict

# A unit (an experiment, a block, a model) agrees when its interval excludes the null in the paper's direction,
# disagrees when it excludes it the other way, and is inconclusive otherwise (AGREES, DISAGREES and
# INCONCLUSIVE are defined with the intervals, in lib.analysis.stats). A "does not" claim agrees only when its
# interval lies inside an equivalence margin fixed in the profile.
STATUSES = (AGREES, DISAGREES, INCONCLUSIVE)
# A claim's verdict ("inconclusive" is shared with the unit status of the same name) and the claim-level rule
# over model sets: lib.analysis.claims, re-exported here.
ROLE_ORDER = {
    "standard": 0,
    "SEP_pos": 1,
    "MAT": 2,
    "TRADES": 2,
    "SEP_neg": 3,
}  # display order of roles


def sorted_by_role(
    table: pd.DataFrame, groups: list[str], then: list[str] | tuple = ()
) -> pd.DataFrame:
    """``table`` with its ``groups`` in order of first appearance, then sorted by ``then`` and by role
    (``ROLE_ORDER``) inside each group: the order every per-role table of the book is shown in."""
    first = {
        k: i for i, k in enumerate(dict.fromkeys(zip(*(table[c] for c in groups))))
    }
    keyed = table.assign(
        _g=[first[k] for k in zip(*(table[c] for c in groups))],
        _r=table["role"].map(ROLE_ORDER),
    )
    return (
        keyed.sort_values(["_g", *then, "_r"], kind="stable")
        .drop(columns=["_g", "_r"])
        .reset_index(drop=True)
    )


def counts(units: Mapping[str, str | None]) -> dict[str, int]:
    """How many units agree, disagree and are inconclusive (units without a reading are not counted)."""
    read = [s for s in units.values() if s is not None]
    return {status: read.count(status) for status in STATUSES}


def tally(units: Mapping[str, str | None], status: str = AGREES) -> tuple[int, int]:
    """(units with ``status``, units with a reading)."""
    read = [s for s in units.values() if s is not None]
    return sum(s == status for s in read), len(read)


def _as_statuses(table: pd.DataFrame, columns) -> pd.DataFrame:
    """``columns`` of ``table`` as objects with None where there is no reading (pandas stores a missing
    string as NaN)."""
    for c in columns:
        table[c] = pd.Series(
            [s if isinstance(s, str) else None for s in table[c]],
            index=table.index,
            dtype=object,
        )
    return table
