"""Every estimator of the book: rank correlations with bootstrap intervals, grouped means with two-stage
bootstrap intervals, the seed-level interval (a Student-t interval over per-seed values: the trained model is
the unit of replication) and the order of two losses paired by seed and pair read through it, and the rules
that turn an interval into words (``reading``, ``status_of``).

The reading rule was fixed before any result was seen: a relation is stated only when the 95 % interval
excludes 0 entirely; otherwise the book says there is no clear relation.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import stats

from lib.core.errors import ConfigError

NO_CLEAR = "no clear relation"


TOO_FEW = "too few models"


MIN_POINTS = 3


# the words of ``paired_order``: the interval of the ratio lies above 1, below 1, or across it
AGREES, DISAGREES, INCONCLUSIVE = "agrees", "disagrees", "inconclusive"


def spearman_ci(
    x, y, n_boot: int = 2000, seed: int = 0, level: float = 0.95
) -> tuple[float, float, float]:
    """Spearman's rho of (x, y) and a percentile-bootstrap interval, resampling the points given (models,
    say). Resamples in which x or y is constant (rho undefined) are left out of the interval."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    if x.shape != y.shape or x.ndim != 1:
        raise ConfigError(
            f"y.shape={y.shape} is not allowed: expected the shape of x, {x.shape}, one-dimensional"
        )
    if len(x) < 3:
        raise ConfigError(
            f"len(x)={len(x)} is not allowed: a rank correlation needs at least 3 points"
        )
    if not (np.isfinite(x).all() and np.isfinite(y).all()):
        raise ConfigError(
            "x, y have non-finite values: expected finite numbers (drop failed runs first)"
        )
    rho = float(stats.spearmanr(x, y).statistic)
    idx = np.random.default_rng(seed).integers(0, len(x), (n_boot, len(x)))
    rx, ry = (
        stats.rankdata(x[idx], axis=1),
        stats.rankdata(y[idx], axis=1),
    )  # average ranks, as spearmanr
    rx -= rx.mean(1, keepdims=True)
    ry -= ry.mean(1, keepdims=True)
    denom = np.sqrt((rx * rx).sum(1) * (ry * ry).sum(1))
    ok = denom > 0
    boots = (rx * ry).sum(1)[ok] / denom[ok]
    if len(boots) == 0:
        return rho, float("nan"), float("nan")
    lo, hi = np.quantile(boots, [(1 - level) / 2, (1 + level) / 2])
    return rho, float(lo), float(hi)


def check_bootstrap(n_boot: object, level: object) -> None:
    """Refuse a bootstrap size below 1 or a level outside (0, 1), one line naming the value."""
    if not (isinstance(n_boot, (int, np.integer)) and n_boot >= 1):
        raise ConfigError(
            f"n_boot={n_boot!r} is not allowed: expected an integer of at least 1"
        )
    if not 0 < level < 1:
        raise ConfigError(
            f"level={level!r} is not allowed: expected a number strictly between 0 and 1"
        )


def reading(
    lo: float, hi: float, up: str, down: str, sign: int = 1, n: int | None = None
) -> str:
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


def correlation_table(
    table: pd.DataFrame,
    by: Sequence[str],
    xs: Sequence[str],
    ys: Sequence[str],
    n_boot: int = 2000,
    seed: int = 0,
) -> pd.DataFrame:
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
                    rho, lo, hi = spearman_ci(
                        g[x].to_numpy(), g[y].to_numpy(), n_boot, seed
                    )
                rows.append(
                    {
                        **dict(zip(by, key)),
                        "x": x,
                        "y": y,
                        "n": len(g),
                        "rho": rho,
                        "lo": lo,
                        "hi": hi,
                    }
                )
    return pd.DataFrame(rows)


def two_stage_bootstrap(
    groups: Sequence[np.ndarray], n_boot: int = 1000, seed: int = 0, level: float = 0.95
) -> tuple[float, float, float]:
    """Mean of all values and a percentile interval that resamples the groups (models, seeds), then the
    values within each chosen group (victims, pairs), since values of one group are not independent."""
    groups = [np.asarray(g, float) for g in groups]
    if not groups or any(len(g) == 0 for g in groups):
        raise ConfigError(
            "groups is not allowed: expected one or more non-empty groups of values"
        )
    if not all(np.isfinite(g).all() for g in groups):
        raise ConfigError(
            "groups have non-finite values: expected finite numbers (drop failed runs first)"
        )
    rng = np.random.default_rng(seed)
    boots = np.empty(n_boot)
    for b in range(n_boot):
        chosen = rng.integers(0, len(groups), len(groups))
        boots[b] = np.concatenate(
            [groups[i][rng.integers(0, len(groups[i]), len(groups[i]))] for i in chosen]
        ).mean()
    lo, hi = np.quantile(boots, [(1 - level) / 2, (1 + level) / 2])
    return float(np.concatenate(groups).mean()), float(lo), float(hi)


def seed_interval(values, level: float = 0.95) -> tuple[float, float, float, float]:
    """The mean of per-seed values (one number per trained model or seed: the unit of replication) with
    its Student-t interval over the seeds and the two-sided p-value of "the mean is 0", as (mean, lo, hi,
    p). NaN values (a seed without a reading) are left out; with fewer than 2 seeds left the interval and
    p are NaN, since one model says nothing about the spread between models. Seeds with equal values give
    an interval of zero width at that value (p 0, or 1 at 0)."""
    v = np.asarray(values, float).ravel()
    if not 0 < level < 1:
        raise ConfigError(
            f"level={level!r} is not allowed: expected a number strictly between 0 and 1"
        )
    v = v[~np.isnan(v)]
    if not np.isfinite(v).all():
        raise ConfigError(
            "values have infinite entries: expected finite per-seed values, or NaN for a seed not read"
        )
    if not len(v):
        return (float("nan"),) * 4
    mean = float(v.mean())
    if len(v) < 2:
        return mean, float("nan"), float("nan"), float("nan")
    se = float(v.std(ddof=1) / np.sqrt(len(v)))
    if se == 0:
        return mean, mean, mean, float(mean == 0)
    half = float(stats.t.ppf((1 + level) / 2, len(v) - 1) * se)
    p = float(2 * stats.t.sf(abs(mean) / se, len(v) - 1))
    return mean, mean - half, mean + half, p


def holm(pvalues) -> np.ndarray:
    """Holm's step-down adjusted p-values (family-wise error): sorted ascending, the i-th (from 0) of m is
    multiplied by m - i, made non-decreasing, capped at 1, and returned in the input order. Written out
    because statsmodels' ``multipletests`` runs ``gc.collect()`` on every call (50-250 ms once torch is
    loaded), a cost every claim reading would pay."""
    p = np.asarray(pvalues, float).ravel()
    if not (np.isfinite(p).all() and ((0 <= p) & (p <= 1)).all()):
        raise ConfigError(
            f"pvalues={p.tolist()!r} is not allowed: expected p-values in [0, 1]"
        )
    order = np.argsort(p, kind="stable")
    scaled = np.maximum.accumulate(p[order] * (len(p) - np.arange(len(p))))
    out = np.empty_like(p)
    out[order] = np.minimum(scaled, 1.0)
    return out


def status_of(lo: float, hi: float, null: float = 0.0) -> str:
    """The status of an interval [lo, hi] against ``null`` in the claim's direction (up): "agrees" when it
    lies above, "disagrees" when below, "inconclusive" when it holds the null or is undefined."""
    if not (np.isfinite(lo) and np.isfinite(hi)):
        return INCONCLUSIVE
    return AGREES if lo > null else DISAGREES if hi < null else INCONCLUSIVE


def _paired_arrays(lower, higher) -> tuple[np.ndarray, np.ndarray]:
    """``lower`` and ``higher`` as checked (seeds, pairs) float arrays of positive losses (NaN: not kept)."""
    try:
        lo_arr, hi_arr = np.asarray(lower, float), np.asarray(higher, float)
    except (TypeError, ValueError):
        raise ConfigError(
            "lower, higher is not allowed: expected (seeds, pairs) arrays of numbers"
        ) from None
    if lo_arr.ndim != 2:
        raise ConfigError(
            f"lower.shape={lo_arr.shape} is not allowed: expected two dimensions, (seeds, pairs)"
        )
    if hi_arr.shape != lo_arr.shape:
        raise ConfigError(
            f"higher.shape={hi_arr.shape} is not allowed: expected the shape of lower, {lo_arr.shape}"
        )
    for name, a in (("lower", lo_arr), ("higher", hi_arr)):
        bad = a[~np.isnan(a) & ~((a > 0) & np.isfinite(a))]
        if bad.size:
            raise ConfigError(
                f"{name}={float(bad[0])!r} is not allowed: expected positive finite losses, or NaN for a "
                f"pair not kept"
            )
    return lo_arr, hi_arr


def seed_log_ratios(lower, higher) -> np.ndarray:
    """Per seed (row), the mean over the pairs kept in both arrays of log(higher / lower): the paired
    statistic of one trained model (the log of its geometric-mean ratio); NaN for a seed with no kept
    pair. ``lower``, ``higher``: (seeds, pairs) arrays of a positive per-pair loss, NaN where not kept."""
    lo_arr, hi_arr = _paired_arrays(lower, higher)
    kept = ~(np.isnan(lo_arr) | np.isnan(hi_arr))
    d = np.where(
        kept, np.log(np.where(kept, hi_arr, 1.0) / np.where(kept, lo_arr, 1.0)), 0.0
    )
    n = kept.sum(1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(n > 0, d.sum(1) / np.maximum(n, 1), np.nan)


def paired_order(
    lower, higher, n_boot: int = 2000, seed: int = 0
) -> tuple[float, float, float, str]:
    """Whether ``higher`` is above ``lower``, read at the level of the seed: both are (seeds, pairs)
    arrays of a per-pair loss measured on the same pairs (NaN: a pair not kept; a cell NaN in either array
    is dropped from both). Each seed (a trained model, the unit that varies) gives one paired statistic,
    the mean over its kept pairs of log(higher / lower) (``seed_log_ratios``); the ratio is exp of their
    mean over seeds (a geometric mean of the seeds' geometric-mean ratios) and its 95 % interval is exp of
    the Student-t interval over the seeds (``seed_interval``). Returns (ratio, lo, hi, words): "agrees"
    when the interval lies above 1, "disagrees" when below, "inconclusive" otherwise, and always with one
    seed (no interval). The pairs enter only through each seed's mean: more pairs make a seed's value
    precise, never the interval narrower than the spread between seeds allows. ``n_boot`` and ``seed`` are
    checked and kept for callers; the t-interval draws nothing (before issue 30 this was a crossed
    bootstrap over seeds and pairs, which with 3 seeds covered the true ratio about 75 % of the time)."""
    if not (isinstance(n_boot, (int, np.integer)) and n_boot >= 1):
        raise ConfigError(
            f"n_boot={n_boot!r} is not allowed: expected an integer of at least 1"
        )
    per_seed = seed_log_ratios(lower, higher)
    if np.isnan(per_seed).all():
        raise ConfigError(
            "kept cells=0 is not allowed: expected at least one (seed, pair) that is not NaN in "
            "lower nor in higher"
        )
    mean, lo, hi, _ = seed_interval(per_seed)
    status = status_of(lo, hi)
    return float(np.exp(mean)), float(np.exp(lo)), float(np.exp(hi)), status


def beats_noise_interval(
    start,
    attack,
    noise,
    factor: float = 2.0,
    n_boot: int = 2000,
    seed: int = 0,
    level: float = 0.95,
) -> tuple[float, float, float]:
    """How far the attack's share of the distance removed exceeds ``factor`` times noise's, with a
    percentile interval that resamples the pairs of one model (the unit of this claim is the model, and
    its pairs are the replicates): ``start``, ``attack``, ``noise`` are per-pair distances to the target
    (the victim unchanged, after the attack, after noise of the attack's size); a share is
    1 - mean(after) / mean(start) and a noise share below 0 counts as 0. Returns (value, lo, hi)."""
    check_bootstrap(n_boot, level)
    arr = [np.asarray(a, float).ravel() for a in (start, attack, noise)]
    if len({len(a) for a in arr}) != 1 or not len(arr[0]):
        raise ConfigError(
            f"start, attack, noise have lengths {[len(a) for a in arr]}: expected one value per pair in each"
        )
    if not all(np.isfinite(a).all() for a in arr):
        raise ConfigError(
            "start, attack, noise have non-finite values: expected finite distances"
        )

    def margin(idx) -> np.ndarray:
        s, a, n = (x[idx].mean(-1) for x in arr)
        return (1 - a / s) - factor * np.maximum(1 - n / s, 0.0)

    value = float(margin(np.arange(len(arr[0]))))
    idx = np.random.default_rng(seed).integers(0, len(arr[0]), (n_boot, len(arr[0])))
    lo, hi = np.quantile(margin(idx), [(1 - level) / 2, (1 + level) / 2])
    return value, float(lo), float(hi)


SHARE_LEVEL = 0.95  # the variance shares' bootstrap interval


def log_parts(table: pd.DataFrame) -> pd.DataFrame:
    """``table`` (columns ``l_start_1e-7``, ``l_end_1e-7``) with the parts of log L_end = log L_start +
    log(1 - r): ``log_l_start``, ``log_l_end``, ``log_keep`` (= log L_end - log L_start) and ``r_exact`` (=
    1 - L_end / L_start). On a model's row L_start and L_end are means over its pairs, and the table's
    ``relative_reduction`` is the mean of the pairs' reductions, which does not satisfy the identity
    exactly; ``r_exact`` is the model's r defined so that it does (the reduction of the mean loss), and
    ``identity_gap`` is |r_exact - relative_reduction| (0 on a pair's row). Rows with a non-positive loss
    get NaN parts."""
    ls = table["l_start_1e-7"].to_numpy(float)
    le = table["l_end_1e-7"].to_numpy(float)
    ok = (ls > 0) & (le > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        log_ls = np.where(ok, np.log(np.where(ok, ls, 1.0)), np.nan)
        log_le = np.where(ok, np.log(np.where(ok, le, 1.0)), np.nan)
        r = 1 - le / ls
    out = table.assign(
        log_l_start=log_ls, log_l_end=log_le, log_keep=log_le - log_ls, r_exact=r
    )
    if "concentration_1e-7" in table.columns:  # log L_start = log c + log d
        c = table["concentration_1e-7"].to_numpy(float)
        with np.errstate(divide="ignore", invalid="ignore"):
            log_c = np.where(c > 0, np.log(np.where(c > 0, c, 1.0)), np.nan)
        out["log_concentration"] = log_c
        out["log_distance"] = log_ls - log_c
    if "relative_reduction" in table.columns:
        out["identity_gap"] = np.abs(r - table["relative_reduction"].to_numpy(float))
    return out


def variance_shares(
    table: pd.DataFrame,
    within: Sequence[str] = ("experiment", "explanation"),
    cluster: Sequence[str] | None = None,
    strata: Sequence[str] | None = None,
    n_boot: int = 2000,
    seed: int = 0,
    level: float = SHARE_LEVEL,
) -> dict:
    """How much of the variance of log L_end across the rows of ``table`` (models, or pairs) is carried by
    log L_start and how much by log(1 - r) (``log_parts``; r := 1 - L_end / L_start, so the identity is
    exact per row). With a column ``concentration_1e-7`` (the MSE's scale, ``measure.metrics.concentration``)
    log L_start is taken apart further into log concentration + log d (d: the scale-free distance), and
    ``concentration``, ``distance`` (summing to ``start``) and ``r`` sum to 1, each with ``_lo``/``_hi``
    from the same replicates. Every part is demeaned within the groups ``within`` first (datasets differ in scale;
    for pairs, ``within`` = the model), then ``start`` = Cov(log L_start, log L_end) / Var(log L_end) and
    ``r`` = Cov(log(1 - r), log L_end) / Var(log L_end), which sum to 1 (either may fall outside [0, 1]
    when the two parts go against each other). Percentile-bootstrap intervals (``start_lo``, ``start_hi``,
    ``r_lo``, ``r_hi``) resample the ``cluster``s (default: the rows) with replacement within each of the
    ``strata`` (default: the ``within`` groups, so each group keeps its size) and re-demean every replicate:
    for pairs, ``cluster`` = (experiment, pair) and ``strata`` = experiment draw the shared pairs once for
    every model (a crossed design). ``rows``, ``groups``, ``clusters``: the counts read; ``identity_gap``:
    the largest |r_exact - relative_reduction| (``log_parts``). Shares are NaN with fewer than 3 rows beyond
    the groups (nothing left to vary)."""
    check_bootstrap(n_boot, level)
    within = list(within)
    cluster = list(cluster) if cluster is not None else None
    strata = list(strata) if strata is not None else within
    parts = log_parts(table)
    parts = parts[np.isfinite(parts["log_l_end"])].reset_index(drop=True)
    group = (
        parts.groupby(within, sort=False).ngroup().to_numpy()
        if within
        else np.zeros(len(parts), int)
    )
    clus = (
        parts.groupby(cluster, sort=False).ngroup().to_numpy()
        if cluster
        else np.arange(len(parts))
    )
    n, n_groups = len(parts), int(group.max(initial=-1)) + 1
    n_clusters = int(clus.max(initial=-1)) + 1
    gap = (
        float(parts["identity_gap"].max())
        if "identity_gap" in parts.columns and n
        else float("nan")
    )
    out = {
        "start": float("nan"),
        "start_lo": float("nan"),
        "start_hi": float("nan"),
        "r": float("nan"),
        "r_lo": float("nan"),
        "r_hi": float("nan"),
        "rows": n,
        "groups": n_groups,
        "clusters": n_clusters,
        "identity_gap": gap,
    }
    if n - n_groups < 3:
        return out
    y = parts["log_l_end"].to_numpy(float)
    scaled = "log_concentration" in parts.columns and bool(
        np.isfinite(parts["log_concentration"]).all()
    )
    # the parts whose shares are read: log L_start, and log concentration when it is at hand
    xs = np.stack(
        [parts["log_l_start"].to_numpy(float)]
        + ([parts["log_concentration"].to_numpy(float)] if scaled else [])
    )
    onehot = np.zeros((n, n_groups))
    onehot[np.arange(n), group] = 1.0

    def shares(
        w: np.ndarray,
    ) -> np.ndarray:  # w: (b, n) row weights -> (parts, b) shares
        wsum = w @ onehot
        with np.errstate(divide="ignore", invalid="ignore"):
            my = np.nan_to_num((w * y) @ onehot / wsum)[:, group]
            yd = y - my
            out = []
            for a in xs:
                ma = np.nan_to_num((w * a) @ onehot / wsum)[:, group]
                out.append((w * (a - ma) * yd).sum(1) / (w * yd * yd).sum(1))
            return np.stack(out)

    point = shares(np.ones((1, n)))[:, 0]
    start = float(point[0])
    # which clusters each stratum holds, and each cluster's stratum
    stratum_of = (
        parts.groupby(strata, sort=False).ngroup().to_numpy()
        if strata
        else np.zeros(n, int)
    )
    cl_stratum = np.zeros(n_clusters, int)
    cl_stratum[clus] = stratum_of
    rng = np.random.default_rng(seed)
    boots = []
    for done in range(0, n_boot, 250):  # in blocks, to bound the (b, n) weights
        b = min(250, n_boot - done)
        counts = np.zeros((b, n_clusters))
        for s in np.unique(cl_stratum):
            members = np.flatnonzero(cl_stratum == s)
            counts[:, members] = rng.multinomial(
                len(members), np.full(len(members), 1 / len(members)), size=b
            )
        boots.append(shares(counts[:, clus]))
    boots = np.concatenate(boots, axis=1)
    boots = boots[:, np.isfinite(boots).all(0)]
    q = ((1 - level) / 2, (1 + level) / 2)
    if boots.shape[1]:
        lo, hi = np.quantile(boots[0], q)
        out.update(start_lo=float(lo), start_hi=float(hi), r_lo=1 - hi, r_hi=1 - lo)
    out.update(start=start, r=1 - start)
    if scaled:
        out["concentration"], out["distance"] = float(point[1]), start - float(point[1])
        out["scale_gap"] = out["concentration"] - out["distance"]
        for name, v in (
            ("concentration", boots[1]),
            ("distance", boots[0] - boots[1]),
            ("scale_gap", 2 * boots[1] - boots[0]),
        ):
            lo, hi = np.quantile(v, q) if len(v) else (np.nan, np.nan)
            out[f"{name}_lo"], out[f"{name}_hi"] = float(lo), float(hi)
    return out


def seed_variance_shares(
    table: pd.DataFrame, seed_column: str = "seed", level: float = 0.95, **kwargs
) -> dict:
    """``variance_shares`` read at the level of the seed: the start-loss share of each seed's rows alone
    (its models, or its models' pairs; ``kwargs`` as for ``variance_shares``), then the mean over seeds with
    its Student-t interval (``seed_interval``): the models of one seed come from one draw of the training
    randomness, so the seeds, not the rows, are the replicates. Returns the keys of ``variance_shares``
    (``start``, ``start_lo``, ``start_hi``, ``r``, ``r_lo``, ``r_hi``, ``rows``, ``groups``, ``clusters``,
    ``identity_gap``) with ``seeds`` and ``per_seed`` (seed -> start share) added; the interval is NaN with
    fewer than two seeds that have a share."""
    if seed_column not in table.columns:
        raise ConfigError(
            f"seed_column={seed_column!r} is not allowed: expected a column of the table, "
            f"{sorted(table.columns)}"
        )
    per_seed = {
        s: variance_shares(sub, n_boot=1, **kwargs)["start"]
        for s, sub in table.groupby(seed_column, sort=True)
    }
    values = np.array([v for v in per_seed.values() if np.isfinite(v)])
    start, lo, hi, _ = seed_interval(values, level) if len(values) else (np.nan,) * 4
    whole = variance_shares(table, n_boot=1, **kwargs)
    return {
        **whole,
        "start": start,
        "start_lo": lo,
        "start_hi": hi,
        "r": 1 - start,
        "r_lo": 1 - hi,
        "r_hi": 1 - lo,
        "seeds": len(values),
        "per_seed": per_seed,
    }


def interval_text(rho: float, lo: float, hi: float) -> str:
    """'ρ = +0.93 [+0.78, +0.99]': a correlation with its interval, for prose."""
    return f"ρ = {rho:+.2f} [{lo:+.2f}, {hi:+.2f}]"


def _partial_rank_corr(rx: np.ndarray, ry: np.ndarray, rc: np.ndarray) -> float:
    """Pearson correlation of the residuals of ranks ``rx`` and ``ry`` regressed on the control ranks ``rc``
    (shape (k, n)) plus an intercept; nan when a residual is all zero (x or y constant, or fixed by the
    controls), since the correlation is then undefined."""
    design = np.column_stack([np.ones(len(rx)), rc.T])
    both = np.column_stack([rx, ry])
    res = both - design @ np.linalg.lstsq(design, both, rcond=None)[0]
    ss = (res * res).sum(0)
    total = ((both - both.mean(0)) ** 2).sum(0)
    if not ((total > 0) & (ss > 1e-12 * total)).all():
        return float("nan")
    return float((res[:, 0] * res[:, 1]).sum() / np.sqrt(ss[0] * ss[1]))


def partial_spearman(
    x, y, controls, n_boot: int = 2000, seed: int = 0, level: float = 0.95
) -> tuple[float, float, float]:
    """Spearman's partial rho of (x, y) given ``controls`` (one 1-D array, or k of them as a sequence or a
    (k, n) array; an empty list gives plain Spearman's rho), with a percentile-bootstrap interval resampling
    the points. It tells whether x and y still go together once a shared driver (model size, say) is held
    fixed: the ranks of x and y are regressed on the ranks of the controls and the residuals correlated.
    Resamples in which rho is undefined (a residual all zero) are left out of the interval."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    if x.shape != y.shape or x.ndim != 1:
        raise ConfigError(
            f"y.shape={y.shape} is not allowed: expected the shape of x, {x.shape}, one-dimensional"
        )
    n = len(x)
    try:
        c = np.asarray(controls, float)
    except ValueError:
        raise ConfigError(
            "controls is not allowed: expected one array, or equally long arrays, of numbers"
        ) from None
    c = c.reshape(0, n) if c.size == 0 else c[None, :] if c.ndim == 1 else c
    if c.ndim != 2 or c.shape[1] != n:
        raise ConfigError(
            f"controls.shape={np.shape(controls)} is not allowed: expected ({n},) or (k, {n}), "
            f"one row per control, as long as x"
        )
    k = len(c)
    if n < k + 3:
        raise ConfigError(
            f"len(x)={n} is not allowed: a partial rank correlation with {k} controls needs at "
            f"least {k + 3} points"
        )
    if not (np.isfinite(x).all() and np.isfinite(y).all() and np.isfinite(c).all()):
        raise ConfigError(
            "x, y, controls have non-finite values: expected finite numbers (drop failed runs first)"
        )
    check_bootstrap(n_boot, level)
    rho = _partial_rank_corr(
        stats.rankdata(x), stats.rankdata(y), stats.rankdata(c, axis=1)
    )
    idx = np.random.default_rng(seed).integers(0, n, (n_boot, n))
    rx, ry = (
        stats.rankdata(x[idx], axis=1),
        stats.rankdata(y[idx], axis=1),
    )  # average ranks, as spearmanr
    rc = stats.rankdata(c[:, idx], axis=2)
    boots = np.array(
        [_partial_rank_corr(rx[i], ry[i], rc[:, i]) for i in range(n_boot)]
    )
    boots = boots[np.isfinite(boots)]
    if len(boots) == 0:
        return rho, float("nan"), float("nan")
    lo, hi = np.quantile(boots, [(1 - level) / 2, (1 + level) / 2])
    return rho, float(lo), float(hi)


AGREEMENT_MODES = ("order", "pairs", "positions")


def rank_agreement(
    table: pd.DataFrame,
    block: Sequence[str],
    item: str,
    a: str,
    b: str,
    mode: str = "order",
) -> tuple[int, int]:
    """How often ranking the items (methods, say) of each group of ``block`` columns by column ``a`` agrees
    with ranking them by ``b``, as (agreeing, total), to check a claim like "the methods rank the same by
    L_start as by L_end". ``mode`` says what is counted: "order", groups whose whole ordering is identical;
    "pairs", pairs of items within a group that both columns order the same way; "positions", (group, item)
    cells whose rank position is the same by both. Ties get average ranks, so a pair tied by both columns
    agrees and one tied by only one does not."""
    if mode not in AGREEMENT_MODES:
        raise ConfigError(
            f"mode={mode!r} is not allowed: expected one of {', '.join(AGREEMENT_MODES)}"
        )
    block = [block] if isinstance(block, str) else list(block)
    missing = [col for col in [*block, item, a, b] if col not in table.columns]
    if missing:
        raise ConfigError(
            f"columns={missing} is not allowed: expected columns of the table, {list(table.columns)}"
        )
    values = table[[a, b]].to_numpy(float)
    if not np.isfinite(values).all():
        raise ConfigError(
            f"{a}, {b} have missing or non-finite values: expected finite numbers in every row"
        )
    groups = table.groupby(block, sort=False, dropna=False) if block else [((), table)]
    agree = total = 0
    for key, g in groups:
        if g[item].duplicated().any():
            raise ConfigError(
                f"{item}={g[item][g[item].duplicated()].iloc[0]!r} is not allowed: expected each "
                f"{item} once per group of {block} (twice in {key!r})"
            )
        ra, rb = (
            stats.rankdata(g[a].to_numpy(float)),
            stats.rankdata(g[b].to_numpy(float)),
        )
        if mode == "order":
            agree, total = agree + int((ra == rb).all()), total + 1
        elif mode == "positions":
            agree, total = agree + int((ra == rb).sum()), total + len(g)
        else:
            i, j = np.triu_indices(len(g), 1)
            agree += int((np.sign(ra[i] - ra[j]) == np.sign(rb[i] - rb[j])).sum())
            total += len(i)
    return agree, total
