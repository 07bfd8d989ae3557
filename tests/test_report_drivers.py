"""The drivers chapter's figure, tables and sentences with known answers, and the lib pieces they read: the
paper's "22 of 24" recomputed once, SEP's order read per row, the reading of start loss against flatness."""

import matplotlib

matplotlib.use("Agg")

from pathlib import Path
from types import SimpleNamespace

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

from lib.analysis.verdicts import sep_order_holds
from lib.report import drivers as text
from lib.studies.drivers import (
    FLATNESS,
    PAPER_COUNT,
    PaperAgreement,
    driver_reading,
    paper_start_agreement,
)

PROJECT = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def test_pooled_figure_has_three_panels_and_one_scatter_per_experiment():
    rng = np.random.default_rng(0)
    pooled = pd.DataFrame(
        {
            "experiment": ["a"] * 5 + ["b"] * 4,
            **{
                c: rng.random(9)
                for c in (
                    "l_start_1e-7_pct",
                    "l_end_1e-7_pct",
                    "flatness_pct",
                    "relative_reduction_pct",
                )
            },
        }
    )
    fig = text.pooled_figure(pooled)
    assert len(fig.axes) == 3
    assert [ax.get_title() for ax in fig.axes] == [t for _, _, t in text.POOLED_PANELS]
    assert all(len(ax.collections) == 2 for ax in fig.axes)
    assert [len(c.get_offsets()) for c in fig.axes[0].collections] == [5, 4]
    assert (
        fig.axes[0].get_xlabel() == "l_start (rank)"
        and fig.axes[2].get_ylabel() == "relative_reduction (rank)"
    )
    assert [t.get_text() for t in fig.axes[0].get_legend().get_texts()] == ["a", "b"]


def corr_table(part: tuple[float, float, float], raw_lo: float = 0.2) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {"question": "flatness ~ L_end", "rho": 0.4, "lo": raw_lo, "hi": 0.6},
            {
                "question": "flatness ~ L_end | L_start",
                "rho": part[0],
                "lo": part[1],
                "hi": part[2],
            },
        ]
    )


def test_direction_flips_with_the_partial_correlation():
    assert "ends *closer* to the target" in text.direction(
        "Across models", corr_table((-0.5, -0.7, -0.3))
    )
    assert "opposite of the raw correlation's direction" in text.direction(
        "x", corr_table((-0.5, -0.7, -0.3))
    )
    assert "opposite" not in text.direction(
        "x", corr_table((-0.5, -0.7, -0.3), raw_lo=-0.1)
    )
    assert "still ends further" in text.direction("x", corr_table((0.5, 0.3, 0.7)))
    assert "no clear direction" in text.direction("x", corr_table((0.0, -0.2, 0.2)))
    assert text.direction("Across pairs", corr_table((0.0, -0.2, 0.2))).startswith(
        " Across pairs, curvature"
    )


def test_the_paper_count_is_recomputed_from_its_table():
    a = paper_start_agreement(pd.read_csv(PROJECT / "book" / "paper_table.csv"))
    assert a.positions == PAPER_COUNT == (22, 24)
    assert a.matches_paper and a.blocks == 6 and a.block_size == 4
    assert a.order[1] == 6 and a.pairs[1] == 36


def test_paper_start_agreement_has_known_answers_on_a_tiny_table():
    paper = pd.DataFrame(
        {
            "dataset": ["d"] * 3 + ["e"] * 3,
            "model": ["m"] * 6,
            "method": ["x", "y", "z"] * 2,
            "l_start_1e-7": [1, 2, 3, 1, 2, 3],
            "l_end_1e-7": [1, 2, 3, 2, 1, 3],
        }
    )
    a = paper_start_agreement(paper)
    assert (a.positions, a.order, a.pairs, a.blocks, a.block_size) == (
        (4, 6),
        (1, 2),
        (5, 6),
        2,
        3,
    )
    assert not a.matches_paper


def test_agreement_text_flips_with_the_count():
    same = PaperAgreement((22, 24), (5, 6), (35, 36), 6, 4)
    other = PaperAgreement((20, 24), (5, 6), (35, 36), 6, 4)
    assert (
        "**22 of 24** (the paper's count, so this is how it counted)"
        in text.agreement_text(same)
    )
    assert "**20 of 24** (the paper says 22 of 24)" in text.agreement_text(other)
    assert "6 blocks have 4 models each" in text.agreement_text(same)


def test_drivers_text_reads_each_verdict_in_words():
    a = PaperAgreement((22, 24), (5, 6), (35, 36), 6, 4)
    corr = corr_table((0.0, -0.2, 0.2))
    for verdict, words in text.DRIVER_READING.items():
        t = text.drivers_text(a, verdict, "neither", corr, corr)
        assert f"**Correlation reading across models: {verdict}.** {words}" in t
        assert "the same reading gives: **neither**." in t


def verdict_row(pos=None, neg=None, **kw):
    """A ``sep_order_verdicts`` row with the statuses of its halves (ratio 2 [1.5, 2.5] where read)."""
    half = {
        f"{h}_{c}": (v if s is not None else np.nan)
        for h, s in (("pos", pos), ("neg", neg))
        for c, v in (("ratio", 2.0), ("lo", 1.5), ("hi", 2.5))
    }
    return SimpleNamespace(
        complete=pos is not None and neg is not None,
        pos_status=pos,
        neg_status=neg,
        **half,
        **kw,
    )


def test_order_holds_follows_the_statuses_of_the_halves():
    assert sep_order_holds(verdict_row("agrees", "agrees"))
    assert not sep_order_holds(verdict_row("agrees", "inconclusive"))
    assert sep_order_holds(verdict_row("agrees", None))
    assert not sep_order_holds(verdict_row("agrees", "disagrees"))
    assert not sep_order_holds(verdict_row())


def test_cross_text_counts_and_lists_every_case():
    verdicts = pd.DataFrame(
        [
            {
                "experiment": "a",
                "trained_with": "grad",
                "explanation": e,
                **vars(verdict_row(pos, neg)),
            }
            for e, pos, neg in (
                ("grad", "agrees", "agrees"),
                ("cross", "disagrees", "inconclusive"),
            )
        ]
    )
    accuracy = pd.DataFrame(
        [
            {
                "experiment": "a",
                "role": "SEP_pos",
                "trained_with": "grad",
                "clean_points": 1.0,
                "pgd_points": 4.0,
                "within": False,
            }
        ]
    )
    result = SimpleNamespace(
        verdicts=verdicts,
        accuracy=accuracy,
        base="MAT",
        off_holds=0,
        off_total=1,
        off_against=1,
    )
    t = text.cross_text(result, 2.0)
    assert t.startswith(
        "**Where the trained and the attacked method differ, every readable half of the order agrees "
        "(paired 95 % interval of the L_end ratio above 1) in 0 of 1 cases, and a half disagrees in 1**"
    )
    assert (
        "- a, trained on cross, attacked with" not in t
        and "- a, trained on grad, attacked with cross: SEP_pos < MAT: disagrees (MAT / SEP_pos = "
        "2.00 [1.50, 2.50]); MAT < SEP_neg: inconclusive (SEP_neg / MAT = 2.00 [1.50, 2.50])."
        in t
    )
    assert "a SEP_pos on grad: clean 1.0, PGD 4.0 points from MAT (beyond 2)." in t
    assert "in part" not in t


def test_cross_display_and_interval_columns():
    roles = pd.DataFrame(
        {
            "experiment": ["a"],
            "trained_with": ["grad"],
            "l_end_1e-7": [3.0],
            "l_end_lo": [2.0],
            "l_end_hi": [4.5],
            "pgd_acc": [0.25],
        }
    )
    shown = text.cross_display(roles).iloc[0]
    assert (shown["l_end"], shown["pgd"], shown["group"]) == (
        "3.0 [2.0, 4.5]",
        25.0,
        "a, SEP trained on grad",
    )
    corr = pd.DataFrame(
        {"rho": [0.5], "lo": [0.1], "hi": [0.9], "y": ["relative_reduction"]}
    )
    shown = text.robustness_display(corr).iloc[0]
    assert shown["measure"] == "rel. reduction" and "0.5" in shown["interval"]


def test_held_back_and_budget_texts_follow_their_input():
    t = text.held_back_text(40, 0.01, 0.4, {"a": 0.1, "b": 0.3})
    assert (
        "40 Adam steps of 0.01 move a pixel by about 0.4" in t and "a: 0.1, b: 0.3" in t
    )
    verdicts = pd.DataFrame(
        [{"experiment": "a", **vars(verdict_row("agrees", None)), "status": "agrees"}]
    )
    t = text.budget_text(
        {"unbounded": 1.0, "fixed budget": 0.5},
        2,
        verdicts,
        "MAT",
        "flatness",
        "start loss",
    )
    assert (
        "in 100% of the 2 swept experiments without a ball and in 50% with the budget fixed"
        in t
    )
    assert (
        "- a: SEP_pos < MAT: agrees (MAT / SEP_pos = 2.00 [1.50, 2.50]); block agrees."
        in t
    )
    assert (
        "**Verdict on the drivers inside the ball: flatness** (without the ball: start loss)."
        in t
    )
    assert "in 0% of the 2" in text.budget_text({}, 2, verdicts, "MAT", "both", "both")


def test_driver_reading_pools_and_reads_a_built_in_link():
    rng = np.random.default_rng(0)
    n = 40
    start = rng.random(n)
    relation = pd.DataFrame(
        {
            "key": [f"k{i}" for i in range(n)],
            # the shares are read per seed (the unit), then over seeds
            "seed": np.arange(n) % 2,
            "experiment": "a",
            "explanation": "grad",
            "l_start_1e-7": start,
            "l_end_1e-7": start * 0.5,
            "relative_reduction": 0.5 + 0.01 * rng.random(n),
        }
    )
    flat = pd.DataFrame({"key": relation["key"], FLATNESS: rng.random(n)})
    r = driver_reading(relation, flat)
    assert len(r.pooled) == n and r.verdict == "inconclusive"
    row = r.shares.iloc[0]
    assert row.start == pytest.approx(1.0) and row.status == "agrees"
    assert (
        0 < row.identity_gap < 0.02
    )  # the table's reduction is not the mean losses' one
    assert r.flatness_role.startswith("at fixed L_start, no clear role")
    t = text.ball_text(r)
    assert "log L_start carries 100% [100%, 100%]" in t and "**agrees**" in t
    assert (
        "Correlation reading: **inconclusive**" in t
        and "differs from it by up to 0.01" in t
    )
    assert r.correlations.set_index("question").loc[
        "L_start ~ L_end", "rho"
    ] == pytest.approx(1.0)


def share_rows(statuses) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                "level": level,
                "start": 0.7,
                "start_lo": lo,
                "start_hi": hi,
                "r": 0.3,
                "r_lo": 1 - hi,
                "r_hi": 1 - lo,
                "rows": 30,
                "identity_gap": 0.0,
                "threshold": 0.5,
                "status": status,
            }
            for level, (lo, hi, status) in statuses.items()
        ]
    )


def test_drivers_text_reads_the_shares_and_the_signed_role_apart():
    a = PaperAgreement((22, 24), (5, 6), (35, 36), 6, 4)
    corr = corr_table((0.0, -0.2, 0.2))
    shares = share_rows(
        {
            "across models": (0.55, 0.85, "agrees"),
            "across pairs within a model": (0.2, 0.6, "inconclusive"),
        }
    )
    t = text.drivers_text(
        a, "inconclusive", "both", corr, corr, shares, "role A; red A", "role B; red B"
    )
    assert (
        "Across models, log L_start carries 70% [55%, 85%] of the variance of log L_end and "
        "log(1 − r) 30% [15%, 45%] (30 rows; threshold 50%): the interval lies above the threshold, "
        "so the paper's claim **agrees**" in t
    )
    assert "across pairs within a model, log L_start carries 70% [20%, 60%]" in t
    assert "contains the threshold: **inconclusive**" in t
    assert "**Correlation reading across models: inconclusive.** Curvature's link" in t
    assert "Across models: role A; red A. Across pairs: role B; red B." in t
    assert "differs from it" not in t  # no gap to report
    none = share_rows({"across models": (np.nan, np.nan, None)})
    assert (
        "Across models: too few rows to read a share: **no reading**"
        in text.shares_text(none)
    )
