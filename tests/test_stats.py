"""Statistics with known answers: rank correlations and their intervals, the reading rule, grouped tables
and the two-stage bootstrap."""
import numpy as np
import pandas as pd
import pytest

from lib.errors import ConfigError
from lib.stats import correlation_table, interval_text, reading, spearman_ci, two_stage_bootstrap


def test_spearman_ci_of_a_monotone_relation_is_one():
    x = np.arange(10.0)
    rho, lo, hi = spearman_ci(x, x ** 3)
    assert rho == pytest.approx(1.0) and lo == pytest.approx(1.0) and hi == pytest.approx(1.0)
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
    t = pd.DataFrame({"g": ["a"] * 6 + ["b"] * 6, "x": list(range(6)) * 2,
                      "y": list(range(6)) + list(range(6, 0, -1)), "beta": [0, 1, 2, 3, 4, None] * 2})
    c = correlation_table(t, ["g"], ["x", "beta"], ["y"]).set_index(["g", "x"])
    assert c.loc[("a", "x"), "rho"] == pytest.approx(1) and c.loc[("b", "x"), "rho"] == pytest.approx(-1)
    assert c.loc[("a", "beta"), "n"] == 5  # the row without beta (MAT, say) is left out
    few = correlation_table(t.head(2), ["g"], ["x"], ["y"]).iloc[0]
    assert few["n"] == 2 and np.isnan(few["rho"]) and reading(few["ci_low"], few["ci_high"], "a", "b", n=2) == "too few models"


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
    from lib.book import duration, human_table

    t = pd.DataFrame({"e": ["a", "a", "b"], "k": ["x", "y", "x"], "v": [1.23456, None, 3.0], "n": [2.0, 3.0, 4.0]})
    shown = human_table(t, {"e": "experiment", "k": "model", "v": "value", "n": "pairs"}, digits={"n": 0},
                        index=["experiment", "model"]).data
    assert list(shown.columns) == ["experiment", "model", "value", "pairs"]
    assert shown["experiment"].tolist() == ["a", "", "b"] and shown["model"].tolist() == ["x", "y", "x"]
    assert shown["value"].tolist() == ["1.235", "—", "3.000"] and shown["pairs"].tolist() == ["2", "3", "4"]
    assert duration(0.04 * 60) == "2.4 s" and duration(300) == "5.0 min" and duration(7200) == "2.0 h"
