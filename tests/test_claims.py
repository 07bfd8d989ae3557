"""Known answers of the seed-level rules (issue 30): ``stats.seed_interval``, ``status_of``,
``seed_log_ratios`` and ``paired_order`` worked by hand, and ``analysis.claims``: the verdict's truth table,
joining the verdicts of a claim's parts, the Holm correction of the per-set statuses on a hand-computed
example, and ``order_claim`` / ``read_claim`` on hand-made arrays (one-seed sets, NaN seeds, bad input)."""

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from lib.analysis.claims import (
    INCONCLUSIVE,
    NOT_REPRODUCED,
    NOT_TESTED,
    PARTLY,
    REPRODUCED,
    VERDICTS,
    claim_verdict,
    join_verdicts,
    order_claim,
    read_claim,
    set_table,
)
from lib.analysis.stats import (
    AGREES,
    DISAGREES,
    paired_order,
    seed_interval,
    seed_log_ratios,
    status_of,
)
from lib.core.errors import ConfigError

A, D, U = AGREES, DISAGREES, INCONCLUSIVE  # U: undecided (inconclusive)

# ------------------------------------------------------------------------------------------------
# stats: the seed-level interval and the order of two paired losses


def test_seed_interval_of_three_values_worked_by_hand():
    # mean 2, sd 1, se 1/sqrt(3); with 2 degrees of freedom the t quantile and tail have closed forms:
    # t_q = (2q - 1) / sqrt(2 q (1 - q)), P(T > t) = (1 - t / sqrt(t^2 + 2)) / 2
    q = 0.975
    t_q = (2 * q - 1) / math.sqrt(2 * q * (1 - q))  # 4.302653
    half = t_q / math.sqrt(3)
    t = 2 * math.sqrt(3)
    p = 1 - t / math.sqrt(t * t + 2)
    assert seed_interval([1.0, 2.0, 3.0]) == pytest.approx(
        (2.0, 2 - half, 2 + half, p), rel=1e-9
    )
    assert seed_interval([1.0, 2.0, 3.0])[1:3] == pytest.approx(
        (-0.48414, 4.48414), abs=1e-5
    )
    # a narrower level, and NaN seeds left out
    mean, lo, hi, _ = seed_interval([1.0, np.nan, 2.0, 3.0], level=0.5)
    assert (mean, hi - mean) == pytest.approx(
        (2.0, stats.t.ppf(0.75, 2) / math.sqrt(3))
    )
    assert lo == pytest.approx(2 * mean - hi)


def test_seed_interval_degenerate_cases():
    assert all(math.isnan(x) for x in seed_interval([]))
    assert all(math.isnan(x) for x in seed_interval([np.nan, np.nan]))
    mean, lo, hi, p = seed_interval(
        [0.7]
    )  # one seed: no spread between models, no interval
    assert mean == 0.7 and math.isnan(lo) and math.isnan(hi) and math.isnan(p)
    assert seed_interval([0.5, 0.5, 0.5]) == (0.5, 0.5, 0.5, 0.0)
    assert seed_interval([0.0, 0.0]) == (0.0, 0.0, 0.0, 1.0)
    with pytest.raises(ConfigError, match="infinite"):
        seed_interval([1.0, np.inf])
    for level in (0, 1, 1.5):
        with pytest.raises(ConfigError, match="level="):
            seed_interval([1.0, 2.0], level=level)


def test_status_of_an_interval():
    assert status_of(0.1, 0.2) == A
    assert status_of(-0.2, -0.1) == D
    assert status_of(-0.1, 0.1) == U
    assert status_of(0.0, 0.1) == U  # touching the null is not above it
    assert status_of(float("nan"), 0.1) == U
    assert status_of(-0.6, -0.5, null=math.log(0.5)) == A  # a shifted null (a margin)
    assert status_of(-0.8, -0.6, null=math.log(0.5)) == U


def test_seed_log_ratios_worked_by_hand():
    lower = np.array([[1.0, 2.0], [4.0, 1.0], [np.nan, 1.0]])
    higher = np.array([[2.0, 2.0], [4.0, 8.0], [3.0, np.nan]])
    got = seed_log_ratios(lower, higher)
    assert got[:2] == pytest.approx([math.log(2) / 2, math.log(8) / 2])
    assert math.isnan(got[2])  # no pair kept in both roles


def test_paired_order_on_the_issue_example():
    """Issue 30: mnist-resnet18 grad x input, SEP_neg half, per-seed ratios 1.01, 5.30, 1.76 (one pair
    each): the crossed bootstrap said [1.06, 5.26] "agrees"; the t-interval over the seeds is [0.26, 17.2]."""
    ratios = np.array([1.01, 5.30, 1.76])
    ratio, lo, hi, status = paired_order(np.ones((3, 1)), ratios[:, None])
    logs = np.log(ratios)
    half = stats.t.ppf(0.975, 2) * logs.std(ddof=1) / math.sqrt(3)
    assert ratio == pytest.approx(np.prod(ratios) ** (1 / 3))  # 2.112
    assert (lo, hi) == pytest.approx(
        (math.exp(logs.mean() - half), math.exp(logs.mean() + half))
    )
    assert (round(ratio, 2), round(lo, 2), round(hi, 1)) == (2.11, 0.26, 17.2)
    assert status == U


def test_paired_order_reads_seed_means_not_pairs():
    """More pairs make a seed's value precise, never the interval narrower than the seeds allow: the
    same seed means spread over 1 or 40 pairs give the same interval."""
    rng = np.random.default_rng(0)
    per_seed = np.array([0.1, 0.5, -0.2])
    wiggle = rng.normal(0, 0.3, (3, 40))
    wiggle -= wiggle.mean(
        1, keepdims=True
    )  # every seed's mean log ratio stays per_seed
    lower = np.exp(rng.normal(size=(3, 40)))
    many = paired_order(lower, lower * np.exp(per_seed[:, None] + wiggle))
    one = paired_order(np.ones((3, 1)), np.exp(per_seed)[:, None])
    assert many[:3] == pytest.approx(one[:3], rel=1e-9)
    assert many[3] == one[3]


def test_paired_order_one_seed_is_inconclusive():
    lower = np.ones((1, 5))
    ratio, lo, hi, status = paired_order(lower, 3 * lower)
    assert ratio == pytest.approx(3.0) and math.isnan(lo) and math.isnan(hi)
    assert status == U


# ------------------------------------------------------------------------------------------------
# claims: the verdict's truth table


@pytest.mark.parametrize(
    "statuses, pooled, heterogeneous, expected",
    [
        # nothing read
        ([], U, False, NOT_TESTED),
        ([None, None], U, False, NOT_TESTED),
        # sets genuinely differ: partly, whatever the pooled interval says
        ([A, D, U], U, False, PARTLY),
        ([A, D], A, False, PARTLY),
        ([A, D], D, True, PARTLY),
        ([A, U, U], U, True, PARTLY),  # heterogeneity with an agreement
        ([A, A, U], A, True, PARTLY),
        # one agreement among inconclusive sets is not "partly"
        ([A, U, U], U, False, INCONCLUSIVE),
        (
            [A, U, U],
            D,
            False,
            PARTLY,
        ),  # ... but against a disagreeing pooled interval it is
        ([A, U, None], A, False, REPRODUCED),  # a set without a seed does not count
        # heterogeneity without an agreement
        ([U, U, U], A, True, INCONCLUSIVE),
        ([D, U, U], U, True, NOT_REPRODUCED),
        ([D, D, U], D, True, NOT_REPRODUCED),
        # homogeneous: the pooled interval decides
        ([U, U, U], A, False, REPRODUCED),  # pooled agrees without disagreement
        ([A, A, A], A, False, REPRODUCED),
        ([U, D, U], A, False, PARTLY),  # pooled agrees, a set disagrees
        ([U, U, U], D, False, NOT_REPRODUCED),
        ([D, D], D, False, NOT_REPRODUCED),
        ([U, A], D, False, PARTLY),
        ([U, U, U], U, False, INCONCLUSIVE),
        ([D, U, U], U, False, INCONCLUSIVE),
        ([U], U, False, INCONCLUSIVE),
    ],
)
def test_claim_verdict_truth_table(statuses, pooled, heterogeneous, expected):
    assert claim_verdict(statuses, pooled, heterogeneous) == expected


R, P, N, T = REPRODUCED, PARTLY, NOT_REPRODUCED, NOT_TESTED


@pytest.mark.parametrize(
    "parts, expected",
    [
        ([], T),
        ([T, T], T),
        ([R], R),
        ([R, R], R),
        ([R, T], R),  # a part not tested is left out
        ([R, U], U),  # one part reproduced, another inconclusive: not yet the claim
        ([R, N], P),
        ([P, U], P),
        ([P, R], P),
        ([P, N], P),
        ([N, U], N),
        ([N, N], N),
        ([U, U], U),
        ([U, T], U),
    ],
)
def test_join_verdicts_table(parts, expected):
    assert join_verdicts(parts) == expected


def test_join_verdicts_refuses_an_unknown_word():
    with pytest.raises(ConfigError, match="verdict='yes' is not allowed"):
        join_verdicts([R, "yes"])
    assert VERDICTS == (R, P, N, U, T)


# ------------------------------------------------------------------------------------------------
# claims: the per-set table and Holm


def values_with_p(p: float, sign: float = 1.0, scale: float = 0.1) -> np.ndarray:
    """Three seed values whose t-test of "mean 0" has two-sided p-value exactly ``p``: mean t * se with
    offsets (-1, 0, 1) * scale (sd = scale, se = scale / sqrt(3))."""
    t = stats.t.isf(p / 2, 2)
    return sign * t * scale / math.sqrt(3) + scale * np.array([-1.0, 0.0, 1.0])


def test_set_table_holm_worked_by_hand():
    # raw p 0.01, 0.04, 0.03. Holm: sorted 0.01, 0.03, 0.04 times 3, 2, 1 -> 0.03, 0.06, 0.04, made
    # non-decreasing -> 0.03, 0.06, 0.06. So only the first set stays below 5 %.
    table = set_table(
        {
            "a": values_with_p(0.01),
            "b": values_with_p(0.04),
            "c": values_with_p(0.03, sign=-1),
        }
    )
    assert list(table.columns) == [
        "set",
        "seeds",
        "estimate",
        "lo",
        "hi",
        "p",
        "p_holm",
        "status",
    ]
    assert table["p"].tolist() == pytest.approx([0.01, 0.04, 0.03], rel=1e-9)
    assert table["p_holm"].tolist() == pytest.approx([0.03, 0.06, 0.06], rel=1e-9)
    assert table["status"].tolist() == [A, U, U]  # b and c were below 5 % before Holm
    assert table["seeds"].tolist() == [3, 3, 3]
    # Holm acting: a disagreeing set below 5 % after correction, and a set whose raw p is already large
    table = set_table(
        {
            "a": values_with_p(0.001),
            "b": values_with_p(0.02, sign=-1),
            "c": values_with_p(0.5),
        }
    )
    assert table["p_holm"].tolist() == pytest.approx([0.003, 0.04, 0.5], rel=1e-9)
    assert table["status"].tolist() == [A, D, U]


def test_set_table_against_a_shifted_null_and_missing_seeds():
    null = math.log(0.5)
    v = values_with_p(0.01) + null
    table = set_table({"a": v, "b": [np.nan, np.nan], "c": [1.0]}, null=null)
    a = table.iloc[0]
    assert a.estimate == pytest.approx(v.mean()) and a.p == pytest.approx(0.01)
    assert a.lo < a.estimate < a.hi and a.lo > null and a.status == A
    b, c = table.iloc[1], table.iloc[2]
    # no seed: no status. NOTE (minor, claims.set_table): the docstring says None, but with pandas 3 a
    # column of strings and None is inferred as a string column and the None comes back as NaN (a table
    # whose every set is empty keeps None). claim_verdict skips only None, so it sees the NaN as a read
    # status; verdicts do not change (NaN is neither agrees nor disagrees, and a claim with any other
    # set is read anyway), and ClaimReading.statuses() maps it back to None.
    assert b.seeds == 0 and pd.isna(b.status)
    assert claim_verdict(table["status"], U, False) == INCONCLUSIVE
    assert c.seeds == 1 and math.isnan(c.p) and c.status == U  # one seed: inconclusive
    assert a.p_holm == pytest.approx(0.01)  # the family is the sets with a p-value: one


# ------------------------------------------------------------------------------------------------
# claims: read_claim and order_claim on hand-made arrays


def block(ratio: float, seeds: int = 3, pairs: int = 20, jitter: float = 1e-3, seed=0):
    """(lower, higher) with higher / lower = ratio in every seed and pair, times a tiny jitter."""
    rng = np.random.default_rng(seed)
    lower = np.exp(rng.normal(size=(seeds, pairs)))
    return lower, lower * ratio * np.exp(rng.normal(0, jitter, (seeds, pairs)))


def test_order_claim_ratio_two_everywhere_is_reproduced():
    verdict, table = order_claim({"mnist": block(2.0), "fashion": block(2.0, seed=1)})
    assert verdict == REPRODUCED
    assert table["status"].tolist() == [A, A]
    assert table["ratio"].tolist() == pytest.approx([2.0, 2.0], rel=1e-3)
    for col, log_col in (("ratio", "estimate"), ("ratio_lo", "lo"), ("ratio_hi", "hi")):
        assert table[col].tolist() == pytest.approx(np.exp(table[log_col]).tolist())
    ratio, lo, hi, status = table.attrs["pooled"]
    assert ratio == pytest.approx(2.0, rel=1e-3) and lo < ratio < hi and status == A
    het = stats.f_oneway(
        seed_log_ratios(*block(2.0)), seed_log_ratios(*block(2.0, seed=1))
    )
    assert table.attrs["heterogeneity_p"] == pytest.approx(het.pvalue)


def test_order_claim_sets_that_differ_are_partly_and_a_reversed_order_is_not_reproduced():
    assert order_claim({"a": block(2.0), "b": block(0.5, seed=1)})[0] == PARTLY
    verdict, table = order_claim({"a": block(0.5), "b": block(0.5, seed=1)})
    assert verdict == NOT_REPRODUCED and table["status"].tolist() == [D, D]
    # exactly equal losses: every interval is [1, 1], which is not above 1
    lower = block(1.0, jitter=0.0)[0]
    assert order_claim({"a": (lower, lower)})[0] == INCONCLUSIVE


def test_one_seed_sets_are_inconclusive():
    # one set of one seed: no interval anywhere
    verdict, table = order_claim({"a": block(2.0, seeds=1)})
    assert verdict == INCONCLUSIVE and table["status"].tolist() == [U]
    # the issue's per-seed ratios as three one-seed sets: each set inconclusive, and the pooled
    # interval over the three seeds is the issue's [0.26, 17.2]
    ratios = (1.01, 5.30, 1.76)
    verdict, table = order_claim(
        {f"s{k}": (np.ones((1, 1)), np.array([[r]])) for k, r in enumerate(ratios)}
    )
    assert verdict == INCONCLUSIVE and table["status"].tolist() == [U, U, U]
    pooled = table.attrs["pooled"]
    assert (round(pooled[1], 2), round(pooled[2], 1), pooled[3]) == (0.26, 17.2, U)
    assert math.isnan(table.attrs["heterogeneity_p"])  # no set has two seeds


def test_nan_seeds_are_ignored():
    lower, higher = block(1.5, seeds=4, jitter=0.05)
    kept = order_claim({"a": (lower[:3], higher[:3]), "b": block(1.2, seed=2)})
    lower[3] = np.nan  # the fourth seed was not read
    with_nan = order_claim({"a": (lower, higher), "b": block(1.2, seed=2)})
    assert with_nan[0] == kept[0]
    assert with_nan[1].equals(kept[1])
    assert with_nan[1].attrs == kept[1].attrs
    # read_claim: NaN entries in the per-seed values are the same as no entries
    a = read_claim({"x": [0.1, 0.3, np.nan, 0.2], "y": [0.2, np.nan, 0.25]})
    b = read_claim({"x": [0.1, 0.3, 0.2], "y": [0.2, 0.25]})
    assert (a.verdict, a.estimate, a.lo, a.hi) == (b.verdict, b.estimate, b.lo, b.hi)
    assert a.sets["seeds"].tolist() == [3, 2]


def test_read_claim_with_a_margin_is_one_sided():
    """A "does not" rule: per-seed log ratios against null log 0.5 agree when the interval's lower bound
    is above the margin, even with the ratio itself below 1."""
    margin = math.log(0.5)
    values = {"a": margin + 0.3 + values_with_p(0.5, scale=0.02)}
    reading = read_claim(values, null=margin)
    assert reading.verdict == REPRODUCED and reading.lo > margin
    assert reading.estimate < 0  # the ratio is below 1, yet above the margin
    assert reading.statuses() == {"a": A}
    at_margin = read_claim({"a": margin + values_with_p(0.5)}, null=margin)
    assert at_margin.verdict == INCONCLUSIVE and at_margin.lo < margin < at_margin.hi


def test_read_claim_reading_fields():
    reading = read_claim({"a": [0.5, 0.6, 0.7], "b": [0.4, 0.5, 0.6], "c": [np.nan]})
    assert reading.verdict == REPRODUCED and reading.pooled_status == A
    every = np.array([0.5, 0.6, 0.7, 0.4, 0.5, 0.6])
    assert (reading.estimate, reading.lo, reading.hi) == pytest.approx(
        seed_interval(every)[:3]
    )
    assert reading.heterogeneity_p == pytest.approx(
        stats.f_oneway([0.5, 0.6, 0.7], [0.4, 0.5, 0.6]).pvalue
    )
    assert reading.statuses() == {"a": A, "b": A, "c": None}
    assert reading.null == 0.0


def test_read_claim_accepts_one_shot_iterables():
    lists = read_claim({"a": [0.5, 0.6, 0.7], "b": [0.4, 0.5, 0.6]})
    iters = read_claim({"a": iter([0.5, 0.6, 0.7]), "b": iter([0.4, 0.5, 0.6])})
    assert (iters.verdict, iters.estimate) == (lists.verdict, lists.estimate)


def test_empty_input_is_refused():
    with pytest.raises(ConfigError, match="values=\\{\\} is not allowed"):
        read_claim({})
    with pytest.raises(ConfigError, match="is not allowed"):
        order_claim({})
    # a set with no kept cell at all gives no seed value and no status; the claim is not tested
    nan = np.full((2, 3), np.nan)
    verdict, table = order_claim({"a": (nan, nan)})
    assert verdict == NOT_TESTED and table["seeds"].tolist() == [0]
