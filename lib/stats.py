"""Rank correlations with bootstrap intervals, grouped means with two-stage bootstrap intervals, and the one
rule that turns an interval into words. Every chapter reads its verdicts through ``reading``.

The reading rule was fixed before any result was seen: a relation is stated only when the 95 % interval
excludes 0 entirely; otherwise the book says there is no clear relation.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd
from scipy import stats

from .errors import ConfigError

NO_CLEAR = "no clear relation"
TOO_FEW = "too few models"
MIN_POINTS = 3


def spearman_ci(x, y, n_boot: int = 2000, seed: int = 0, level: float = 0.95) -> tuple[float, float, float]:
    """Spearman's rho of (x, y) and a percentile-bootstrap interval, resampling the points given (models,
    say). Resamples in which x or y is constant (rho undefined) are left out of the interval."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    if x.shape != y.shape or x.ndim != 1:
        raise ConfigError(f"y.shape={y.shape} is not allowed: expected the shape of x, {x.shape}, one-dimensional")
    if len(x) < 3:
        raise ConfigError(f"len(x)={len(x)} is not allowed: a rank correlation needs at least 3 points")
    if not (np.isfinite(x).all() and np.isfinite(y).all()):
        raise ConfigError("x, y have non-finite values: expected finite numbers (drop failed runs first)")
    rho = float(stats.spearmanr(x, y).statistic)
    idx = np.random.default_rng(seed).integers(0, len(x), (n_boot, len(x)))
    rx, ry = stats.rankdata(x[idx], axis=1), stats.rankdata(y[idx], axis=1)  # average ranks, as spearmanr
    rx -= rx.mean(1, keepdims=True)
    ry -= ry.mean(1, keepdims=True)
    denom = np.sqrt((rx * rx).sum(1) * (ry * ry).sum(1))
    ok = denom > 0
    boots = (rx * ry).sum(1)[ok] / denom[ok]
    if len(boots) == 0:
        return rho, float("nan"), float("nan")
    lo, hi = np.quantile(boots, [(1 - level) / 2, (1 + level) / 2])
    return rho, float(lo), float(hi)


def reading(lo: float, hi: float, up: str, down: str, sign: int = 1, n: int | None = None) -> str:
    """Words for an interval [lo, hi] of a signed effect: ``up`` when it lies entirely above 0 (after
    multiplying by ``sign``, so that "up" can mean "more robust" for a lower-is-better measure), ``down``
    when entirely below, "no clear relation" otherwise (an undefined interval included); "too few models"
    when ``n`` (the number of points) is below 3."""
    if sign not in (1, -1):
        raise ConfigError(f"sign={sign!r} is not allowed: expected 1 or -1")
    if n is not None and n < MIN_POINTS:
        return TOO_FEW
    a, b = sorted((sign * lo, sign * hi))
    if not (np.isfinite(a) and np.isfinite(b)):
        return NO_CLEAR
    return up if a > 0 else down if b < 0 else NO_CLEAR


def correlation_table(table: pd.DataFrame, by: Sequence[str], xs: Sequence[str], ys: Sequence[str],
                      n_boot: int = 2000, seed: int = 0) -> pd.DataFrame:
    """Spearman's rho with a bootstrap interval of every y against every x, within each group of ``by``
    (rows with a missing x or y are left out, e.g. MAT against beta); one row per (group, x, y). A group with
    fewer than 3 points (one seed and two betas, say) gets a row with missing rho and interval, so that a
    small build says "too few" instead of failing."""
    rows = []
    for key, group in table.groupby(list(by), sort=False):
        key = key if isinstance(key, tuple) else (key,)
        for x in xs:
            for y in ys:
                g = group.dropna(subset=[x, y])
                if len(g) < MIN_POINTS:
                    rho = lo = hi = float("nan")
                else:
                    rho, lo, hi = spearman_ci(g[x].to_numpy(), g[y].to_numpy(), n_boot, seed)
                rows.append({**dict(zip(by, key)), "x": x, "y": y, "n": len(g), "rho": rho, "ci_low": lo,
                             "ci_high": hi})
    return pd.DataFrame(rows)


def two_stage_bootstrap(groups: Sequence[np.ndarray], n_boot: int = 1000, seed: int = 0, level: float = 0.95
                        ) -> tuple[float, float, float]:
    """Mean of all values and a percentile interval that resamples the groups (models, seeds), then the
    values within each chosen group (victims, pairs), since values of one group are not independent."""
    groups = [np.asarray(g, float) for g in groups]
    if not groups or any(len(g) == 0 for g in groups):
        raise ConfigError("groups is not allowed: expected one or more non-empty groups of values")
    if not all(np.isfinite(g).all() for g in groups):
        raise ConfigError("groups have non-finite values: expected finite numbers (drop failed runs first)")
    rng = np.random.default_rng(seed)
    boots = np.empty(n_boot)
    for b in range(n_boot):
        chosen = rng.integers(0, len(groups), len(groups))
        boots[b] = np.concatenate([groups[i][rng.integers(0, len(groups[i]), len(groups[i]))] for i in chosen]).mean()
    lo, hi = np.quantile(boots, [(1 - level) / 2, (1 + level) / 2])
    return float(np.concatenate(groups).mean()), float(lo), float(hi)


def interval_text(rho: float, lo: float, hi: float) -> str:
    """'ρ = +0.93 [+0.78, +0.99]': a correlation with its interval, for prose."""
    return f"ρ = {rho:+.2f} [{lo:+.2f}, {hi:+.2f}]"
