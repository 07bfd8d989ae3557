"""Size, power and coverage of the seed-level rules of issue 30, by simulation (fast, seeded versions of
``benchmarks/sim_rules.py``, which prints the full tables).

Data model (the real data's structure): per model set, S seeds x 50 pairs; log L_lower = a_p + noise and
log(higher / lower) = mu + u_s + e_sp, with u_s ~ N(0, sd_seed) the spread between seeds and
e_sp ~ N(0, 0.3) within a seed (a seed's own standard error 0.042). The issue's targets: false "agrees" and
false "disagrees" each <= 5 %, coverage of 95 % intervals >= 90 %, and with no effect in any model set a
claim "reproduced" or "partly" <= 5 %. A rate is allowed 3 Monte-Carlo standard errors above 5 %
(``limit``); the rules' measured rates are about 2.5 % (one block) and 3-4 % (a claim).

The tests can fail: ``test_the_old_crossed_bootstrap_fails_the_same_checks`` runs the rule used before
issue 30 (a percentile bootstrap over 3 seeds and 50 pairs, main a7cf353) through the same checks; at a
seed sd of 0.2-0.5 it reads false "agrees" 10-14 % of the time and covers the true ratio 75-80 %.
"""

import math
from collections import Counter
from functools import cache

import numpy as np
import pytest
from scipy import stats

from lib.analysis.claims import (
    NOT_REPRODUCED,
    PARTLY,
    REPRODUCED,
    join_verdicts,
    order_claim,
    read_claim,
)
from lib.analysis.rule_simulation import (
    PAIRS,
    SD_PAIR,
    crossed_bootstrap_order,
    draw_blocks,
)
from lib.analysis.stats import (
    AGREES,
    DISAGREES,
    paired_order,
    seed_log_ratios,
)

CELLS = [(sd, s) for sd in (0.0, 0.2, 0.5) for s in (3, 5, 10)]
N_BLOCK = 1000  # datasets per cell for one block (paired_order: ~0.25 ms each)
N_CLAIM = (
    400  # datasets per cell for a claim over 3 model sets (order_claim: ~3.5 ms each)
)


def limit(n: int, rate: float = 0.05, z: float = 3.0) -> float:
    """The largest observed rate over n datasets still consistent with a true rate of ``rate``."""
    return rate + z * math.sqrt(rate * (1 - rate) / n)


def draw(rng, n: int, seeds: int, sd_seed: float, ratio: float):
    """n datasets of one model set at a true ``ratio`` (``rule_simulation.draw_blocks``)."""
    return draw_blocks(rng, n, seeds, sd_seed, math.log(ratio))


def rng_for(*key) -> np.random.Generator:
    return np.random.default_rng([30, *(round(1000 * k) for k in key)])


RULES = {"t over seeds": paired_order, "old crossed bootstrap": crossed_bootstrap_order}


@cache
def block_outcomes(rule: str, sd_seed: float, seeds: int, ratio: float, n: int):
    """(statuses, whether each interval holds the true ratio) of one block over n datasets."""
    lower, higher = draw(rng_for(1, sd_seed, seeds, ratio), n, seeds, sd_seed, ratio)
    out = [RULES[rule](lower[i], higher[i]) for i in range(n)]
    return np.array([o[3] for o in out]), np.array([o[1] <= ratio <= o[2] for o in out])


def size_and_coverage_problems(rule: str, sd_seed: float, seeds: int, n: int):
    """The issue's targets for one block, as a list of the ones missed (empty: all met)."""
    problems = []
    statuses, covered = block_outcomes(rule, sd_seed, seeds, 1.0, n)
    for word in (AGREES, DISAGREES):
        rate = (statuses == word).mean()
        if rate > limit(n):
            problems.append(f"false {word} {rate:.1%} > {limit(n):.1%}")
    for ratio in (1.0, 1.3):
        cov = block_outcomes(rule, sd_seed, seeds, ratio, n)[1].mean()
        if cov < 0.90:
            problems.append(f"coverage at ratio {ratio} {cov:.1%} < 90 %")
    return problems


@pytest.mark.parametrize("sd_seed, seeds", CELLS)
def test_paired_order_size_and_coverage(sd_seed, seeds):
    assert size_and_coverage_problems("t over seeds", sd_seed, seeds, N_BLOCK) == []


@pytest.mark.parametrize("sd_seed", [0.2, 0.5])
def test_the_old_crossed_bootstrap_fails_the_same_checks(sd_seed):
    """The checks above can fail: the rule they replaced misses them at 3 seeds (issue 30: false agrees
    10 % at sd 0.2 and 14 % at 0.5, coverage about 75 %)."""
    problems = size_and_coverage_problems("old crossed bootstrap", sd_seed, 3, N_BLOCK)
    assert any(p.startswith("false agrees") for p in problems)
    assert any(p.startswith("coverage at ratio 1.0") for p in problems)


def test_paired_order_power_rises_with_seeds_as_the_t_test_says():
    """At a true ratio of 1.3 and a seed sd of 0.2, the share of datasets that agree matches the
    noncentral t (the t-interval is exact under this model) and rises with the seeds; at a ratio of 2
    with 10 seeds the order is nearly always found."""
    sigma = math.hypot(
        0.2, SD_PAIR / math.sqrt(PAIRS)
    )  # sd of one seed's mean log ratio
    powers = []
    for seeds in (3, 5, 10):
        statuses, _ = block_outcomes("t over seeds", 0.2, seeds, 1.3, N_BLOCK)
        power = (statuses == AGREES).mean()
        nc = math.log(1.3) * math.sqrt(seeds) / sigma
        expected = stats.nct.sf(stats.t.ppf(0.975, seeds - 1), seeds - 1, nc)
        assert abs(power - expected) <= 4 * math.sqrt(
            expected * (1 - expected) / N_BLOCK
        )
        powers.append(power)
    assert powers[0] < powers[1] < powers[2]  # about 25 %, 60 %, 94 %
    statuses, _ = block_outcomes("t over seeds", 0.2, 10, 2.0, N_BLOCK)
    assert (statuses == AGREES).mean() >= 0.90


# ------------------------------------------------------------------------------------------------
# the claim-level rule over model sets


@cache
def claim_verdicts(sd_seed: float, seeds: int, ratios: tuple, n: int) -> tuple:
    """order_claim's verdicts over n datasets of len(ratios) model sets (set k at true ratio ratios[k])."""
    rng = rng_for(2, sd_seed, seeds, *ratios)
    data = [draw(rng, n, seeds, sd_seed, r) for r in ratios]
    return tuple(
        order_claim({f"set{k}": (lo[i], hi[i]) for k, (lo, hi) in enumerate(data)})[0]
        for i in range(n)
    )


NULL3 = (1.0, 1.0, 1.0)


@pytest.mark.parametrize("sd_seed, seeds", CELLS)
def test_order_claim_no_effect_in_any_set_is_rarely_reproduced_or_partly(
    sd_seed, seeds
):
    """The old rule ("partly" as soon as one of three units agrees, each read by the crossed bootstrap)
    said "partly" in about half of such claims at a seed sd of 0.3 (issue 30, point 4)."""
    c = Counter(claim_verdicts(sd_seed, seeds, NULL3, N_CLAIM))
    assert (c[REPRODUCED] + c[PARTLY]) / N_CLAIM <= limit(N_CLAIM)
    assert c[NOT_REPRODUCED] / N_CLAIM <= limit(N_CLAIM)


def test_order_claim_no_effect_over_all_cells():
    """The nine cells together (3600 claims): the rate is then pinned down to about +-1 %."""
    verdicts = [v for sd, s in CELLS for v in claim_verdicts(sd, s, NULL3, N_CLAIM)]
    c, n = Counter(verdicts), len(verdicts)
    assert (c[REPRODUCED] + c[PARTLY]) / n <= limit(n)
    assert c[NOT_REPRODUCED] / n <= limit(n)


def test_join_of_two_null_halves_is_rarely_reproduced_or_partly():
    """Two independent claims with no effect (consecutive null datasets), joined as one claim's parts."""
    joined = []
    for sd, s in CELLS:
        v = claim_verdicts(sd, s, NULL3, N_CLAIM)
        joined += [join_verdicts([v[i], v[i + 1]]) for i in range(0, len(v), 2)]
    c, n = Counter(joined), len(joined)
    assert (c[REPRODUCED] + c[PARTLY]) / n <= limit(n)


def test_order_claim_power_with_the_effect_in_every_set():
    verdicts = claim_verdicts(0.2, 5, (1.3, 1.3, 1.3), N_CLAIM)
    assert Counter(verdicts)[REPRODUCED] / N_CLAIM >= 0.85  # about 96 %


# ------------------------------------------------------------------------------------------------
# the one-sided margin rule ("does not": the ratio's lower bound above 0.5)

MARGIN = 0.5


@cache
def margin_readings(sd_seed: float, seeds: int, ratio: float, n: int):
    """(verdicts, share of sets agreeing) of read_claim against null log 0.5 over 3 model sets."""
    rng = rng_for(3, sd_seed, seeds, ratio)
    data = [draw(rng, n, seeds, sd_seed, ratio) for _ in range(3)]
    verdicts, set_agrees = [], []
    for i in range(n):
        reading = read_claim(
            {
                f"set{k}": seed_log_ratios(lo[i], hi[i])
                for k, (lo, hi) in enumerate(data)
            },
            null=math.log(MARGIN),
        )
        verdicts.append(reading.verdict)
        set_agrees.append((reading.sets["status"] == AGREES).mean())
    return Counter(verdicts), float(np.mean(set_agrees))


@pytest.mark.parametrize("sd_seed, seeds", [(0.0, 10), (0.2, 5), (0.5, 3)])
def test_margin_rule_at_the_margin_rarely_agrees(sd_seed, seeds):
    c, set_agrees = margin_readings(sd_seed, seeds, MARGIN, N_CLAIM)
    assert (c[REPRODUCED] + c[PARTLY]) / N_CLAIM <= limit(N_CLAIM)
    assert set_agrees <= limit(N_CLAIM)


def test_margin_rule_power_when_the_ratio_is_one():
    c, set_agrees = margin_readings(0.2, 5, 1.0, N_CLAIM)
    assert c[REPRODUCED] / N_CLAIM >= 0.85  # about 95 %
    assert set_agrees >= 0.95  # about 100 %
