"""The data model on which the verdict rules' size, power and coverage are simulated (issue 30), shared by
``tests/test_rule_simulations.py`` (which asserts the targets) and ``benchmarks/sim_rules.py`` (which prints
the tables), and the rule those simulations replaced, kept as the reference they must reject.

Per model set: S seeds (trained models) x P pairs; log L_lower[s, p] = a_p + noise (a_p ~ N(0, 1) shared by
the seeds, noise ~ N(0, 0.3)) and log(higher / lower)[s, p] = log ratio + u_s + e_sp, with u_s ~
N(0, sd_seed) the spread between seeds and e_sp ~ N(0, 0.3) within a seed (a seed's own standard error
0.3 / sqrt(50) = 0.042, as in the shipped results: 0.01-0.07)."""

from __future__ import annotations

import numpy as np

from lib.analysis.stats import AGREES, DISAGREES, INCONCLUSIVE

PAIRS, SD_PAIR, SD_ITEM, SD_NOISE = 50, 0.3, 1.0, 0.3


def draw_blocks(
    rng: np.random.Generator, n: int, seeds: int, sd_seed: float, log_ratio: float
) -> tuple[np.ndarray, np.ndarray]:
    """n simulated datasets of one model set: (n, seeds, PAIRS) arrays (lower, higher) of a positive
    per-pair loss (module docstring)."""
    log_lower = rng.normal(0, SD_ITEM, (n, 1, PAIRS)) + rng.normal(
        0, SD_NOISE, (n, seeds, PAIRS)
    )
    u = rng.normal(0, sd_seed, (n, seeds, 1))
    e = rng.normal(0, SD_PAIR, (n, seeds, PAIRS))
    return np.exp(log_lower), np.exp(log_lower + log_ratio + u + e)


def _draw_counts(idx: np.ndarray, n: int) -> np.ndarray:
    """How often each of 0..n-1 is drawn in each row of ``idx``, as (rows, n)."""
    flat = (idx + n * np.arange(len(idx))[:, None]).ravel()
    return np.bincount(flat, minlength=len(idx) * n).reshape(len(idx), n).astype(float)


def crossed_bootstrap_order(
    lower, higher, n_boot: int = 2000, seed: int = 0
) -> tuple[float, float, float, str]:
    """``stats.paired_order`` as it was before issue 30 (main a7cf353; no NaN cells here): a percentile
    bootstrap drawing the seeds and the pairs once per replicate. With 3 seeds it reads a false "agrees"
    10-14 % of the time and covers the true ratio 75-80 %; the simulations show it, so that their checks
    can be seen to fail."""
    d = np.log(np.asarray(higher, float) / np.asarray(lower, float))
    n_seeds, n_pairs = d.shape
    rng = np.random.default_rng(seed)
    ws = _draw_counts(rng.integers(0, n_seeds, (n_boot, n_seeds)), n_seeds)
    wp = _draw_counts(rng.integers(0, n_pairs, (n_boot, n_pairs)), n_pairs)
    lo, hi = np.quantile(np.exp(((ws @ d) * wp).sum(1) / d.size), [0.025, 0.975])
    status = AGREES if lo > 1 else DISAGREES if hi < 1 else INCONCLUSIVE
    return float(np.exp(d.mean())), float(lo), float(hi), status
