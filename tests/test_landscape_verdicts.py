"""Size and power of the landscape rule by simulation (known answers). Models' flatness and PGD accuracy are
drawn from a bivariate normal whose Spearman correlation is planted; the interval is ``stats.spearman_ci``'s
(models resampled). Part (1), CE flattens, agrees when the interval lies below 0; part (2), the explanation
loss does not flatten, is an equivalence claim that agrees only when the interval lies inside +-margin
(``landscape.equivalence_rho``, 0.3). Rates are printed (pytest -s)."""

import numpy as np
import pandas as pd

from lib.analysis.stats import AGREES, DISAGREES, INCONCLUSIVE, spearman_ci
from lib.analysis.verdicts import (
    ce_part_status,
    expl_part_status,
    landscape_parts,
    landscape_status,
    reading_shares,
)
from lib.core.profile import LandscapeSettings

MARGIN = LandscapeSettings().equivalence_rho
SIMS, N_BOOT = 200, 500
BIG = 150  # "enough models" for the equivalence part


def intervals(spearman: float, n: int, seed: int = 0, sims: int = SIMS) -> np.ndarray:
    """``SIMS`` (lo, hi) intervals of Spearman's rho for ``n`` models with a planted Spearman correlation
    (bivariate normal with Pearson r = 2 sin(pi rho / 6))."""
    rng = np.random.default_rng(seed)
    r = 2 * np.sin(np.pi * spearman / 6)
    cov = [[1, r], [r, 1]]
    out = []
    for _ in range(sims):
        x, y = rng.multivariate_normal([0, 0], cov, n).T
        out.append(spearman_ci(x, y, N_BOOT, 0)[1:])
    return np.array(out)


def share(statuses, status: str) -> float:
    return float(np.mean([s == status for s in statuses]))


def test_ce_part_size_and_power_at_the_cpu_model_count():
    n = 21  # cpu: 3 seeds x 7 models per experiment
    null = [ce_part_status(lo, hi, n) for lo, hi in intervals(0.0, n)]
    flat = [ce_part_status(lo, hi, n) for lo, hi in intervals(-0.7, n, 1)]
    rates = {
        "no effect: agrees": share(null, AGREES),
        "no effect: disagrees": share(null, DISAGREES),
        "rho -0.7: agrees": share(flat, AGREES),
    }
    print(f"\nlandscape CE part, {n} models: {rates}")
    assert rates["no effect: agrees"] <= 0.05 and rates["no effect: disagrees"] <= 0.05
    assert rates["rho -0.7: agrees"] >= 0.8


def test_expl_part_equivalence_needs_enough_models():
    rates = {}
    for n, rhos in ((21, (0.0, -0.6, 0.6)), (BIG, (0.0, -0.3, -0.6, 0.6))):
        for rho in rhos:
            st = [
                expl_part_status(lo, hi, n, MARGIN)
                for lo, hi in intervals(rho, n, 2, 100)
            ]
            rates[(n, rho)] = (share(st, AGREES), share(st, DISAGREES))
    print(
        f"\nlandscape expl. part (agrees, disagrees) by (models, rho), margin {MARGIN}: {rates}"
    )
    assert rates[(BIG, 0.0)][0] >= 0.8  # no relation, enough models: shown to be weak
    assert rates[(BIG, -0.3)][0] <= 0.05  # at the margin: the equivalence test's size
    for n in (21, BIG):
        for rho in (-0.6, 0.6):
            assert rates[(n, rho)][0] <= 0.05  # a strong relation is never read as none
        assert rates[(n, 0.0)][1] <= 0.05  # no relation rarely reads "flattens"
    assert rates[(BIG, -0.6)][1] >= 0.8  # it does flatten: disagrees
    assert rates[(21, 0.0)][0] <= 0.05  # 21 models cannot show a relation is weak


def test_part_and_unit_rules():
    assert ce_part_status(-0.9, -0.1, 10) == AGREES
    assert ce_part_status(0.1, 0.9, 10) == DISAGREES
    assert ce_part_status(-0.5, 0.5, 10) == INCONCLUSIVE
    assert ce_part_status(-0.9, -0.1, 2) is None
    assert expl_part_status(-0.2, 0.25, 50, 0.3) == AGREES
    assert expl_part_status(-0.2, 0.35, 50, 0.3) == INCONCLUSIVE
    assert expl_part_status(-0.9, -0.1, 50, 0.3) == DISAGREES
    assert (
        expl_part_status(0.4, 0.9, 50, 0.3) == INCONCLUSIVE
    )  # sharpens: not "no relation"
    assert expl_part_status(np.nan, np.nan, 50, 0.3) == INCONCLUSIVE
    assert landscape_status(AGREES, AGREES) == AGREES
    assert landscape_status(AGREES, INCONCLUSIVE) == INCONCLUSIVE
    assert landscape_status(DISAGREES, AGREES) == DISAGREES
    assert landscape_status(AGREES, None) == INCONCLUSIVE
    assert landscape_status(None, float("nan")) is None


def corr(ce: tuple, expl: tuple, models: int = 30) -> pd.DataFrame:
    rows = []
    for loss, (rho, lo, hi) in (("ce", ce), ("expl_twin", expl)):
        for m in ("spectral", "gaussian:abs_quadratic_coefficient"):
            rows.append(
                {
                    "experiment": "digits",
                    "against": "pgd_acc",
                    "column": f"{loss}:{m}",
                    "loss": loss,
                    "models": models,
                    "rho": rho,
                    "lo": lo,
                    "hi": hi,
                    "reading": "x",
                }
            )
    t = pd.DataFrame(rows)
    return pd.concat([t, t.assign(against="beta")], ignore_index=True)


def test_landscape_parts_one_unit_per_experiment_and_measure():
    p = landscape_parts(corr((-0.8, -0.9, -0.6), (0.0, -0.2, 0.2)), 0.3)
    assert list(p["flatness"]) == ["spectral", "gaussian:abs_quadratic_coefficient"]
    assert list(p["status"]) == [AGREES, AGREES] and p["models"].tolist() == [30, 30]
    p = landscape_parts(corr((-0.8, -0.9, -0.6), (-0.5, -0.8, -0.2)), 0.3)
    assert (
        list(p["expl_status"]) == [DISAGREES] * 2
        and list(p["status"]) == [DISAGREES] * 2
    )
    p = landscape_parts(corr((-0.1, -0.6, 0.4), (0.0, -0.5, 0.5)), 0.3)
    assert list(p["status"]) == [INCONCLUSIVE] * 2
    p = landscape_parts(corr((-0.8, -0.9, -0.6), (0.0, -0.2, 0.2), models=2), 0.3)
    assert p["status"].tolist() == [None, None]
    s = reading_shares(corr((-0.8, -0.9, -0.6), (0.0, -0.2, 0.2)), 0.3)
    assert (
        s["ce_flattens"] == 1.0
        and s["expl_within"] == 1.0
        and s["expl_flattens"] == 0.0
    )
