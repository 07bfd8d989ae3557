"""Chapters 2 and 3 (claim 2): PGD accuracy over the sweep, gradient masking, the prototype measurement against all pairs, and measures that read differently."""

from __future__ import annotations

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
from lib.measure.prototypes import ROBUSTNESS_MEASURES

# ------------------------------------------------------------------------------------------------
# chapter 2: does PGD accuracy rise with beta


def pgd_rises_with_beta(
    summary: pd.DataFrame, experiment: str, tolerance: float = 0.01
) -> bool:
    """Whether mean PGD accuracy (a ``summarize`` table) rises with beta at every step of the sweep of
    ``experiment`` (standard training, then TRADES by increasing beta; MAT left out), a fall of at most
    ``tolerance`` (accuracy, 0.01 = one point) counting as no fall."""
    tr = summary[(summary["experiment"] == experiment) & (summary["family"] != "MAT")]
    return bool((tr["pgd_mean"].diff().dropna() >= -tolerance).all())


# points: a larger fall of PGD accuracy under the stronger attack suggests gradient masking
MASKING_DROP = 5.0


def masking_suspected(drop_points: float) -> bool:
    """The sweep chapter's gradient-masking rule: the stronger attack (more steps, restarts) lowering the most
    robust model's PGD accuracy by ``MASKING_DROP`` points or more suggests part of its robustness is masking
    (a drop of a few points is what more steps and restarts buy against a genuinely robust model)."""
    return not drop_points < MASKING_DROP


# ------------------------------------------------------------------------------------------------
# chapter 3: prototype pairs against all pairs; measures that disagree


def validation_verdicts(summary: pd.DataFrame) -> pd.DataFrame:
    """Per experiment and measure: the prototype estimate's median error and rank agreement against a random
    subset's, and the words for each comparison (its error is "smaller"/"larger"; it ranks the models "at
    least as well as"/"less well than" a random subset)."""
    rows = []
    for (name, measure), g in summary.groupby(["experiment", "measure"], sort=False):
        gi = g.set_index("estimator")
        pe, re_ = (
            gi.loc["prototypes", "rel_error_median"],
            gi.loc["random subset", "rel_error_median"],
        )
        pr, rr = (
            gi.loc["prototypes", "rank_rho_median"],
            gi.loc["random subset", "rank_rho_median"],
        )
        rows.append(
            {
                "experiment": name,
                "measure": measure,
                "prototype_error": pe,
                "random_error": re_,
                "prototype_rho": pr,
                "random_rho": rr,
                "error": "smaller" if pe < re_ else "larger",
                "ranking": "at least as well as" if pr >= rr else "less well than",
            }
        )
    return pd.DataFrame(rows)


def disagreements(corr: pd.DataFrame) -> list[str]:
    """The experiment-method groups whose robustness measures (against PGD accuracy) read differently."""
    v = corr[(corr["against"] == "pgd_acc") & (corr["measure"] != "l_start_1e-7")]
    return [
        f"{e}, {m} ({', '.join(f'{ROBUSTNESS_MEASURES[r.measure]}: {r.reading}' for r in g.itertuples())})"
        for (e, m), g in v.groupby(["experiment", "explanation"], sort=False)
        if g["reading"].nunique() > 1
    ]
