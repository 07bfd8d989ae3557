"""Statistics with known answers: rank correlations and their intervals, partial rank correlations, rank
agreement between two columns, the reading rule, grouped tables and the two-stage bootstrap."""

import numpy as np
import pandas as pd
import pytest
from conftest import PROJECT
from scipy import stats

from lib.analysis.stats import (
    correlation_table,
    interval_text,
    partial_spearman,
    rank_agreement,
    reading,
    spearman_ci,
    two_stage_bootstrap,
)
from lib.core.errors import ConfigError


def test_spearman_ci_of_a_monotone_relation_is_one():
    x = np.arange(10.0)
    rho, lo, hi = spearman_ci(x, x**3)
    assert (
        rho == pytest.approx(1.0)
        and lo == pytest.approx(1.0)
        and hi == pytest.approx(1.0)
    )
    rho, lo, hi = spearman_ci(x, -x)
    assert rho == pytest.approx(-1.0) and hi == pytest.approx(-1.0)
    rng = np.random.default_rng(0)
    rho, lo, hi = spearman_ci(rng.normal(size=40), rng.normal(size=40))
    assert lo < rho < hi and lo < 0 < hi
    with pytest.raises(ConfigError, match="len"):
        spearman_ci(x[:2], x[:2])
    with pytest.raises(ConfigError, match="non-finite"):
        spearman_ci(np.array([1.0, np.nan, 3.0]), x[:3])


def test_reading_needs_the_whole_interval_on_one_side():
    assert reading(0.1, 0.9, "rises", "falls") == "rises"
    assert reading(-0.9, -0.1, "rises", "falls") == "falls"
    assert reading(-0.1, 0.9, "rises", "falls") == "no clear relation"
    # for a lower-is-better measure a negative correlation means "rises"
    assert reading(-0.9, -0.1, "rises", "falls", sign=-1) == "rises"
    assert reading(float("nan"), float("nan"), "rises", "falls") == "no clear relation"
    with pytest.raises(ConfigError, match="sign=2"):
        reading(0, 1, "a", "b", sign=2)
    assert interval_text(0.5, 0.25, 0.75) == "ρ = +0.50 [+0.25, +0.75]"


def test_correlation_table_groups_and_drops_missing_x():
    t = pd.DataFrame(
        {
            "g": ["a"] * 6 + ["b"] * 6,
            "x": list(range(6)) * 2,
            "y": list(range(6)) + list(range(6, 0, -1)),
            "beta": [0, 1, 2, 3, 4, None] * 2,
        }
    )
    c = correlation_table(t, ["g"], ["x", "beta"], ["y"]).set_index(["g", "x"])
    assert c.loc[("a", "x"), "rho"] == pytest.approx(1) and c.loc[
        ("b", "x"), "rho"
    ] == pytest.approx(-1)
    assert c.loc[("a", "beta"), "n"] == 5  # the row without beta (MAT, say) is left out
    few = correlation_table(t.head(2), ["g"], ["x"], ["y"]).iloc[0]
    assert (
        few["n"] == 2
        and np.isnan(few["rho"])
        and reading(few["lo"], few["hi"], "a", "b", n=2) == "too few models"
    )


def test_two_stage_bootstrap_brackets_the_mean_and_widens_with_between_group_spread():
    tight = [np.array([1.0, 1.1, 0.9]), np.array([1.0, 1.05, 0.95])]
    spread = [np.array([0.0, 0.1, -0.1]), np.array([2.0, 2.1, 1.9])]
    m, lo, hi = two_stage_bootstrap(tight)
    assert m == pytest.approx(1.0) and lo <= m <= hi
    m2, lo2, hi2 = two_stage_bootstrap(spread)
    assert (hi2 - lo2) > 5 * (hi - lo)
    with pytest.raises(ConfigError, match="non-finite"):
        two_stage_bootstrap([np.array([1.0, np.nan])])


def test_human_table_names_columns_blanks_repeated_keys_and_dashes_missing_values():
    from lib.report.page import duration, human_table

    t = pd.DataFrame(
        {
            "e": ["a", "a", "b"],
            "k": ["x", "y", "x"],
            "v": [1.23456, None, 3.0],
            "n": [2.0, 3.0, 4.0],
        }
    )
    shown = human_table(
        t,
        {"e": "experiment", "k": "model", "v": "value", "n": "pairs"},
        digits={"n": 0},
        index=["experiment", "model"],
    ).data
    assert list(shown.columns) == ["experiment", "model", "value", "pairs"]
    assert shown["experiment"].tolist() == ["a", "", "b"] and shown[
        "model"
    ].tolist() == ["x", "y", "x"]
    assert shown["value"].tolist() == ["1.235", "—", "3.000"] and shown[
        "pairs"
    ].tolist() == ["2", "3", "4"]
    assert (
        duration(0.04 * 60) == "2.4 s"
        and duration(300) == "5.0 min"
        and duration(7200) == "2.0 h"
    )


def test_partial_spearman_removes_a_common_driver_but_keeps_a_direct_link():
    rng = np.random.default_rng(0)
    z = rng.normal(size=300)
    x, y = z + 0.1 * rng.normal(size=300), z + 0.1 * rng.normal(size=300)
    assert stats.spearmanr(x, y).statistic > 0.9
    rho, lo, hi = partial_spearman(x, y, z)
    assert abs(rho) < 0.15 and lo <= rho <= hi and lo < 0 < hi
    y2 = x + 0.3 * rng.normal(size=300)
    rho, lo, hi = partial_spearman(
        x, y2, [rng.normal(size=300)]
    )  # an irrelevant control
    assert rho > 0.8 and lo <= rho <= hi and lo > 0.8


def test_partial_spearman_matches_the_one_control_formula_and_handles_several_controls():
    rng = np.random.default_rng(1)
    z1, z2, e1, e2 = rng.normal(size=(4, 200))
    x, y = z1 + z2 + 0.2 * e1, z1 + z2 + 0.2 * e2
    r = lambda u, v: stats.spearmanr(u, v).statistic
    rxy, rxz, ryz = r(x, y), r(x, z1), r(y, z1)
    assert partial_spearman(x, y, z1, n_boot=10)[0] == pytest.approx(
        (rxy - rxz * ryz) / np.sqrt((1 - rxz**2) * (1 - ryz**2))
    )
    assert partial_spearman(x, y, z1, n_boot=10)[0] > 0.6  # z2 still drives both
    # the driver as the second of two controls is removed too, whether given as a list or a (k, n) array
    w = rng.normal(size=200)
    x, y = z1 + 0.1 * e1, z1 + 0.1 * e2
    assert partial_spearman(x, y, [w], n_boot=10)[0] > 0.9
    both = partial_spearman(x, y, [w, z1], n_boot=200)
    assert abs(both[0]) < 0.15 and both == partial_spearman(
        x, y, np.stack([w, z1]), n_boot=200
    )


def test_partial_spearman_with_no_controls_is_spearman_and_rejects_bad_input():
    rng = np.random.default_rng(2)
    x, y = rng.normal(size=30), rng.normal(size=30)
    assert partial_spearman(x, y, [])[0] == pytest.approx(
        stats.spearmanr(x, y).statistic
    )
    assert partial_spearman(x, y, np.empty((0, 30)))[0] == pytest.approx(
        stats.spearmanr(x, y).statistic
    )
    rho, lo, hi = partial_spearman(
        np.arange(5.0), np.arange(5.0) ** 2, []
    )  # constant resamples left out
    assert rho == pytest.approx(1) and lo == pytest.approx(1)
    with pytest.raises(ConfigError, match="y.shape"):
        partial_spearman(x, y[:-1], [])
    with pytest.raises(ConfigError, match="controls.shape"):
        partial_spearman(x, y, x[:-1])
    with pytest.raises(ConfigError, match="len.x.=4 .* 2 controls needs at least 5"):
        partial_spearman(x[:4], y[:4], [x[:4], y[:4]])
    with pytest.raises(ConfigError, match="non-finite"):
        partial_spearman(x, y, np.where(x > 0, np.nan, x))
    with pytest.raises(ConfigError, match="n_boot=0"):
        partial_spearman(x, y, [], n_boot=0)
    with pytest.raises(ConfigError, match="level=1"):
        partial_spearman(x, y, [], level=1)


def test_rank_agreement_counts_orders_pairs_and_positions():
    rows = [
        (
            "p",
            [1, 2, 3],
            [10, 20, 30],
        ),  # same order: 1 of 1, pairs 3 of 3, positions 3 of 3
        (
            "q",
            [1, 2, 3],
            [20, 10, 30],
        ),  # first two swapped: 0, pairs 2 of 3, positions 1 of 3
        (
            "r",
            [1, 2, 3, 4],
            [4, 3, 2, 1],
        ),  # reversed: 0, pairs 0 of 6, positions 0 of 4
        ("s", [1, 1, 2], [5, 5, 9]),
    ]  # tied by both: 1, pairs 3 of 3, positions 3 of 3
    t = pd.DataFrame(
        [
            {"g": g, "m": f"m{i}", "a": a, "b": b}
            for g, xa, xb in rows
            for i, (a, b) in enumerate(zip(xa, xb))
        ]
    )
    expected = {"order": (2, 4), "pairs": (8, 15), "positions": (7, 13)}
    for mode, counts in expected.items():
        assert rank_agreement(t, ["g"], "m", "a", "b", mode) == counts
        assert (
            rank_agreement(t.sample(frac=1, random_state=0), ["g"], "m", "a", "b", mode)
            == counts
        )
    untied = t.assign(
        b=t["b"].where((t["g"] != "s") | (t["m"] != "m1"), 6)
    )  # s: a ties m0, m1, b does not
    assert rank_agreement(untied, ["g"], "m", "a", "b", "pairs") == (7, 15)
    assert rank_agreement(untied, ["g"], "m", "a", "b", "positions") == (5, 13)
    with pytest.raises(ConfigError, match="mode='all'"):
        rank_agreement(t, ["g"], "m", "a", "b", "all")
    with pytest.raises(ConfigError, match="columns=\\['c'\\]"):
        rank_agreement(t, ["g"], "m", "a", "c")
    with pytest.raises(ConfigError, match="m='m0'"):
        rank_agreement(t.assign(m="m0"), ["g"], "m", "a", "b")
    with pytest.raises(ConfigError, match="non-finite"):
        rank_agreement(t.assign(a=np.nan), ["g"], "m", "a", "b")


def test_rank_agreement_on_the_paper_table_gives_22_of_24_as_positions():
    # The paper says its four methods rank the same by L_start as by L_end "in 22 of 24 cells". By hand: the
    # order (ascending) is SEP_pos < Normal < MAT < SEP_neg on MNIST and CIFAR-10 ConvNet, Normal < SEP_pos <
    # MAT < SEP_neg on TinyImageNet, by both columns; on CIFAR-10 ResNet18 L_start gives SEP_pos < Normal
    # (11.962 < 13.982) but L_end Normal < SEP_pos (6.130 < 7.958). So one block of 6 disagrees, one pair of
    # 36, and two (block, method) cells of 24: the paper's 22 of 24 counts rank positions.
    paper = pd.read_csv(PROJECT / "book" / "paper_table.csv")
    args = (paper, ["dataset", "model"], "method", "l_start_1e-7", "l_end_1e-7")
    assert rank_agreement(*args, mode="order") == (5, 6)
    assert rank_agreement(*args, mode="pairs") == (35, 36)
    assert rank_agreement(*args, mode="positions") == (22, 24)
    differ = [
        key
        for key, g in paper.groupby(["dataset", "model"])
        if rank_agreement(
            g, ["dataset", "model"], "method", "l_start_1e-7", "l_end_1e-7"
        )
        != (1, 1)
    ]
    assert differ == [("CIFAR-10", "ResNet18")]
