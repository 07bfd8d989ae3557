"""The fixed-budget comparison with known answers: a ball that holds the attack back shows as a higher L_end
and is counted; PGD accuracy that rises with L_end reads 'goes with' for either attack."""

import numpy as np
import pandas as pd

from lib.analysis.verdicts import budget_agreement
from lib.studies.budget import bounded_vs_unbounded, robustness_correlations


def tables(n: int = 12):
    acc = np.linspace(0.1, 0.9, n)
    unbounded = pd.DataFrame(
        {
            "key": [f"m{i}" for i in range(n)],
            "experiment": "mnist",
            "explanation": "gradient",
            "pgd_acc": acc,
            "l_end_1e-7": 100 * acc,
            "relative_reduction": 1 - acc / 2,
        }
    )
    bounded = unbounded.copy()
    bounded["l_end_1e-7"] = (
        np.where(np.arange(n) < n // 2, 1.5, 1.0) * unbounded["l_end_1e-7"]
    )
    bounded["pgd_acc"] = acc
    return unbounded, bounded


def test_a_ball_that_holds_the_attack_back_is_counted():
    u, b = tables()
    row = bounded_vs_unbounded(u, b).iloc[0]
    assert row["models"] == 12 and row["held_back"] == 0.5
    assert row["l_end_budget"] > row["l_end"]


def test_pgd_accuracy_that_rises_with_l_end_goes_with_it_under_both_attacks():
    u, b = tables(20)
    b["l_end_1e-7"] = 100 * b["pgd_acc"]  # the same monotone relation inside the ball
    corr = robustness_correlations(u, b)
    l_end = corr[corr["y"] == "l_end_1e-7"].set_index("attack")
    assert (l_end["reading"] == "goes with").all()
    red = corr[corr["y"] == "relative_reduction"].set_index(
        "attack"
    )  # reduction falls: also robust
    assert red.loc["unbounded", "reading"] == "goes with"
    assert budget_agreement(corr) == {"unbounded": 1.0, "fixed budget": 1.0}
