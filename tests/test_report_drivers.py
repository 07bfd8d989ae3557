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
        assert f"**Verdict across models: {verdict}.** {words}" in t
        assert "the same reading gives: **neither**." in t


def verdict_row(complete, order=None, pos=None, neg=None, **kw):
    return SimpleNamespace(
        complete=complete,
        l_end_order=order,
        pos_below_base=pos,
        base_below_neg=neg,
        **kw,
    )


def test_order_text_and_order_holds_follow_the_row():
    assert text.order_text(verdict_row(True, True), "MAT") == "whole order holds"
    assert (
        text.order_text(verdict_row(True, False), "MAT") == "whole order does not hold"
    )
    assert (
        text.order_text(verdict_row(False, pos=True, neg=np.nan), "MAT")
        == "half order, SEP_pos < MAT: yes"
    )
    assert (
        text.order_text(verdict_row(False, pos=None, neg=False), "TRADES")
        == "half order, TRADES < SEP_neg: no"
    )
    assert text.order_text(verdict_row(False), "MAT") == "half order, nothing to read"
    assert sep_order_holds(verdict_row(True, True)) and not sep_order_holds(
        verdict_row(True, False)
    )
    assert sep_order_holds(verdict_row(False, pos=True, neg=np.nan))
    assert not sep_order_holds(verdict_row(False, pos=True, neg=False))


def test_cross_text_counts_and_lists_every_case():
    verdicts = pd.DataFrame(
        [
            {
                "experiment": "a",
                "trained_with": "grad",
                "explanation": "grad",
                "complete": True,
                "l_end_order": True,
                "pos_below_base": True,
                "base_below_neg": True,
            },
            {
                "experiment": "a",
                "trained_with": "grad",
                "explanation": "cross",
                "complete": True,
                "l_end_order": False,
                "pos_below_base": False,
                "base_below_neg": True,
            },
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
        verdicts=verdicts, accuracy=accuracy, base="MAT", off_holds=0, off_total=1
    )
    t = text.cross_text(result, 2.0)
    assert t.startswith(
        "**Where the trained and the attacked method differ, the readable order holds in 0 of 1"
    )
    assert "- a, trained on grad, attacked with cross: whole order does not hold." in t
    assert "a SEP_pos on grad: clean 1.0, PGD 4.0 points from MAT (beyond 2)." in t


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
        [{"experiment": "a", "complete": True, "l_end_order": True}]
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
    assert "- a: whole order holds." in t
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
            "experiment": "a",
            "explanation": "grad",
            "l_start_1e-7": start,
            "l_end_1e-7": start * 0.5,
            "relative_reduction": 0.5 + 0.01 * rng.random(n),
        }
    )
    flat = pd.DataFrame({"key": relation["key"], "expl_twin:spectral": rng.random(n)})
    r = driver_reading(relation, flat)
    assert len(r.pooled) == n and r.verdict == "start loss"
    assert r.correlations.set_index("question").loc[
        "L_start ~ L_end", "rho"
    ] == pytest.approx(1.0)
