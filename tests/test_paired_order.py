"""The order of two paired losses (``paired_order``), read at the seed level: a tiny example worked by hand,
NaN cells dropped from both roles, the status words, the interval as the Student-t interval over the seeds'
mean log ratios, each bad input, and its size, power and coverage measured on simulated data with shared
seed and pair effects (``tests/test_rule_simulations.py`` adds a spread between seeds in the ratio itself)."""

from functools import cache

import numpy as np
import pytest
from scipy.stats import t as student_t

from lib.analysis import verdicts
from lib.analysis.stats import AGREES, DISAGREES, INCONCLUSIVE, paired_order
from lib.core.errors import ConfigError

# ------------------------------------------------------------------------------------------------
# known answers


def test_a_tiny_example_worked_by_hand():
    lower = np.array([[1.0, 2.0], [4.0, 1.0]])
    higher = np.array(
        [[2.0, 2.0], [4.0, 8.0]]
    )  # ratios 2, 1, 1, 8: geometric mean 16 ** (1/4) = 2
    ratio, lo, hi, status = paired_order(lower, higher)
    assert ratio == pytest.approx(2.0)
    assert lo <= ratio <= hi
    assert status in (AGREES, INCONCLUSIVE)


def test_a_cell_missing_in_either_role_is_dropped_from_both():
    lower = np.array([[1.0, 2.0], [4.0, 1.0]])
    higher = np.array([[2.0, 2.0], [4.0, 8.0]])
    # once cell (0, 1) is dropped: seed 0 has ratio 2, seed 1 ratios 1 and 8 (geometric mean 8 ** 0.5),
    # and the seeds weigh the same: 2 ** ((1 + 1.5) / 2)
    expected = 2.0**1.25
    lower_nan, higher_nan = lower.copy(), higher.copy()
    lower_nan[0, 1] = higher_nan[0, 1] = np.nan
    assert paired_order(lower_nan, higher)[0] == pytest.approx(expected)
    assert paired_order(lower, higher_nan)[0] == pytest.approx(expected)
    # the loss left in the other role at a dropped cell counts nowhere, whatever it is
    lower_big = lower.copy()
    lower_big[0, 1] = 1000.0
    same = paired_order(lower_nan, higher_nan, seed=3)
    assert paired_order(lower, higher_nan, seed=3) == same
    assert paired_order(lower_big, higher_nan, seed=3) == same


def test_the_status_words():
    lower = np.exp(np.random.default_rng(0).normal(size=(3, 20)))
    assert paired_order(lower, 2 * lower) == (
        pytest.approx(2.0),
        pytest.approx(2.0),
        pytest.approx(2.0),
        AGREES,
    )
    assert paired_order(lower, 0.5 * lower)[3] == DISAGREES
    assert (
        paired_order(lower, lower)[3] == INCONCLUSIVE
    )  # interval [1, 1] is not above 1
    noisy = lower * np.exp(np.random.default_rng(1).normal(0, 0.5, lower.shape))
    ratio, lo, hi, status = paired_order(lower, noisy)
    assert lo < 1 < hi and status == INCONCLUSIVE
    assert (AGREES, DISAGREES, INCONCLUSIVE) == ("agrees", "disagrees", "inconclusive")
    # the verdict rules read the same words, defined once, in stats
    assert verdicts.AGREES is AGREES and verdicts.DISAGREES is DISAGREES
    assert verdicts.STATUSES == (AGREES, DISAGREES, INCONCLUSIVE)


def test_the_interval_is_a_t_interval_over_the_seeds_mean_log_ratios():
    """Each seed's value is its mean log ratio over the pairs kept in both roles; the interval is exp of the
    95 % Student-t interval over those values (df = seeds - 1), computed here outright."""
    rng = np.random.default_rng(5)
    lower = np.exp(rng.normal(size=(4, 15)) + rng.normal(size=(1, 15)))
    higher = lower * np.exp(
        0.2 + rng.normal(0, 0.4, (4, 15)) + rng.normal(0, 0.3, (4, 1))
    )
    lower[rng.random(lower.shape) < 0.2] = np.nan
    higher[rng.random(higher.shape) < 0.2] = np.nan
    d = np.log(higher) - np.log(lower)  # NaN wherever either role is NaN
    per_seed = np.nanmean(d, axis=1)
    half = student_t.ppf(0.975, 3) * per_seed.std(ddof=1) / 2  # sqrt(4 seeds) = 2
    ratio, lo, hi, _ = paired_order(lower, higher)
    assert ratio == pytest.approx(np.exp(per_seed.mean()), rel=1e-12)
    assert (lo, hi) == pytest.approx(
        (np.exp(per_seed.mean() - half), np.exp(per_seed.mean() + half)), rel=1e-12
    )


def test_one_seed_has_no_interval_and_more_pairs_do_not_replace_seeds():
    rng = np.random.default_rng(0)
    lower = np.exp(rng.normal(size=(1, 500)))
    ratio, lo, hi, status = paired_order(lower, 3 * lower)
    assert ratio == pytest.approx(3.0) and np.isnan(lo) and np.isnan(hi)
    assert (
        status == INCONCLUSIVE
    )  # one trained model says nothing about the spread between models
    # the example (per-seed ratios 1.01, 5.30, 1.76): the bootstrap read [1.06, 5.26], "agrees"
    ratio, lo, hi, status = paired_order(np.ones((3, 1)), [[1.01], [5.30], [1.76]])
    assert (ratio, lo, hi) == pytest.approx((2.112, 0.2596, 17.18), rel=1e-3)
    assert status == INCONCLUSIVE


@pytest.mark.parametrize(
    "lower, higher, n_boot, names",
    [
        (np.ones(5), np.ones(5), 10, "lower.shape=(5,)"),
        (np.ones((2, 3)), np.ones((2, 4)), 10, "higher.shape=(2, 4)"),
        ([[1.0, 0.0]], [[1.0, 1.0]], 10, "lower=0.0"),
        ([[1.0, 1.0]], [[1.0, -2.0]], 10, "higher=-2.0"),
        ([[1.0, np.inf]], [[1.0, 1.0]], 10, "lower=inf"),
        ([[1.0, 1.0]], [[1.0, 1.0]], 0, "n_boot=0"),
        ([[1.0, 1.0]], [[1.0, 1.0]], 2.5, "n_boot=2.5"),
        ([[np.nan, 1.0]], [[1.0, np.nan]], 10, "kept cells=0"),
    ],
)
def test_bad_input_is_refused_in_one_line(lower, higher, n_boot, names):
    with pytest.raises(ConfigError) as caught:
        paired_order(lower, higher, n_boot)
    message = str(caught.value)
    assert message.startswith(names) and "is not allowed: expected" in message
    assert "\n" not in message


# ------------------------------------------------------------------------------------------------
# size, power and coverage by simulation

N_DATASETS, N_BOOT, N_SEEDS, N_PAIRS, NAN_RATE = 200, 2000, 3, 50, 0.1


def simulate(
    rng: np.random.Generator, true_ratio: float
) -> tuple[np.ndarray, np.ndarray]:
    """One dataset: log loss = mu + seed effect (sd 0.3) + pair effect (sd 1, the same pairs for both
    roles and every seed) + log(true_ratio) for ``higher`` + noise (sd 0.3); 10 % of cells NaN per role."""
    shape = (N_SEEDS, N_PAIRS)
    shared = 0.5 + rng.normal(0, 0.3, (N_SEEDS, 1)) + rng.normal(0, 1.0, (1, N_PAIRS))
    lower = np.exp(shared + rng.normal(0, 0.3, shape))
    higher = np.exp(shared + np.log(true_ratio) + rng.normal(0, 0.3, shape))
    lower[rng.random(shape) < NAN_RATE] = np.nan
    higher[rng.random(shape) < NAN_RATE] = np.nan
    return lower, higher


@cache
def outcomes(true_ratio: float) -> tuple[np.ndarray, np.ndarray]:
    """(statuses, whether the interval holds the true ratio) over the simulated datasets."""
    rng = np.random.default_rng(2024)
    statuses, covered = [], []
    for i in range(N_DATASETS):
        _, lo, hi, status = paired_order(*simulate(rng, true_ratio), N_BOOT, seed=i)
        statuses.append(status)
        covered.append(lo <= true_ratio <= hi)
    return np.array(statuses), np.array(covered)


def test_size_no_effect_rarely_reads_as_an_order():
    statuses, _ = outcomes(1.0)
    agrees, disagrees = (statuses == AGREES).mean(), (statuses == DISAGREES).mean()
    print(
        f"\npaired_order size (true ratio 1, {N_DATASETS} datasets, n_boot={N_BOOT}): "
        f"agrees {agrees:.1%}, disagrees {disagrees:.1%}"
    )
    assert agrees <= 0.05 and disagrees <= 0.05


def test_power_a_ratio_of_1_3_reads_as_agrees():
    statuses, _ = outcomes(1.3)
    power = (statuses == AGREES).mean()
    print(
        f"\npaired_order power (true ratio 1.3, {N_DATASETS} datasets, n_boot={N_BOOT}): "
        f"agrees {power:.1%}"
    )
    assert power >= 0.80


@pytest.mark.parametrize("true_ratio", [1.0, 1.3])
def test_coverage_the_interval_holds_the_true_ratio(true_ratio):
    _, covered = outcomes(true_ratio)
    print(
        f"\npaired_order coverage (true ratio {true_ratio}, {N_DATASETS} datasets, "
        f"n_boot={N_BOOT}, nominal 95 %): {covered.mean():.1%}"
    )
    assert covered.mean() >= 0.90
