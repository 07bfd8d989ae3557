"""Size and power, by simulation, of the rules that give the units of claims 1 and 2 their status.

Claim 1 (motivation): a model agrees when the Wilson interval of its success rate lies above 1/2 and the attack
beats noise. Claim 2 (sweep): a group agrees when the bootstrap interval of Spearman's rho between PGD accuracy
and L_end lies above 0 ("rises"). With no effect each should agree in at most 5 % of simulated datasets; with a
planted effect of a stated size, in at least 80 %."""

import numpy as np

from lib.analysis.stats import AGREES, DISAGREES, INCONCLUSIVE, reading, spearman_ci
from lib.analysis.verdicts import motivation_status

SIMULATIONS = 400


def motivation_rates(p: float, pairs: int = 20, seed: int = 0) -> dict[str, float]:
    successes = np.random.default_rng(seed).binomial(pairs, p, SIMULATIONS)
    statuses = [motivation_status(k / pairs, pairs, 0.8, 0.05) for k in successes]
    return {
        s: statuses.count(s) / SIMULATIONS for s in (AGREES, DISAGREES, INCONCLUSIVE)
    }


def test_motivation_rule_size_and_power():
    null, planted = motivation_rates(0.5), motivation_rates(0.85)
    print(
        f"\nmotivation, 20 pairs: agrees {null[AGREES]:.1%} at p = 0.5, {planted[AGREES]:.1%} at p = 0.85"
    )
    assert null[AGREES] <= 0.05 and null[DISAGREES] <= 0.05
    assert planted[AGREES] >= 0.80


def test_motivation_rule_disagrees_when_most_pairs_fail_or_noise_does_as_well():
    assert motivation_status(0.1, 20, 0.8, 0.05) == DISAGREES
    assert motivation_status(0.9, 20, 0.1, 0.2) == DISAGREES
    assert (
        motivation_status(0.9, 20, 0.3, 0.2) == INCONCLUSIVE
    )  # better than noise, not twice
    assert motivation_status(0.9, 20, 0.8, 0.05) == AGREES


def sweep_rates(rho_true: float, models: int = 14, seed: int = 0) -> dict[str, float]:
    rng = np.random.default_rng(seed)
    cov = [[1.0, rho_true], [rho_true, 1.0]]
    words = []
    for i in range(SIMULATIONS // 2):  # the bootstrap costs more: 200 datasets
        x, y = rng.multivariate_normal([0, 0], cov, models).T
        _, lo, hi = spearman_ci(x, y, n_boot=400, seed=i)
        words.append(reading(lo, hi, "rises", "falls"))
    n = len(words)
    return {w: words.count(w) / n for w in ("rises", "falls", "no clear relation")}


def test_sweep_rule_size_and_power():
    null, planted = sweep_rates(0.0), sweep_rates(0.8)
    print(
        f"\nsweep, 14 models: rises {null['rises']:.1%} with no relation, "
        f"{planted['rises']:.1%} at a true correlation of 0.8"
    )
    assert null["rises"] <= 0.05 and null["falls"] <= 0.05
    assert planted["rises"] >= 0.80
