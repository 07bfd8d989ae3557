"""Chapter 5 (claim 4): choosing SEP_pos and SEP_neg by accuracy, explanation robustness per role, and the SEP order per block, read at the seed level."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd
from scipy.stats import t as student_t

from lib.analysis.claims import NOT_REPRODUCED as NOT_REPRODUCED
from lib.analysis.claims import NOT_TESTED as NOT_TESTED
from lib.analysis.claims import PARTLY as PARTLY
from lib.analysis.claims import REPRODUCED as REPRODUCED
from lib.analysis.claims import VERDICTS as VERDICTS
from lib.analysis.claims import join_verdicts as join_verdicts
from lib.analysis.claims import order_claim as order_claim
from lib.analysis.claims import read_claim as read_claim
from lib.analysis.claims import verdict_of as verdict_of
from lib.analysis.stats import (
    AGREES,
    DISAGREES,
    INCONCLUSIVE,
    paired_order,
    two_stage_bootstrap,
)
from lib.analysis.verdicts.words import sorted_by_role
from lib.core.errors import ConfigError

# ------------------------------------------------------------------------------------------------
# chapter 5: choosing SEP_pos / SEP_neg by accuracy, and the SEP order

MAX_PGD_SPREAD_POINTS = 3.0  # "classification robustness held": PGD accuracy of SEP_pos, base, SEP_neg within this


def _read(status) -> bool:
    """Whether ``status`` is a reading (one of STATUSES), not None / NaN."""
    return isinstance(status, str)


def sep_order_holds(r) -> bool:
    """Whether every half of SEP's order that a ``sep_order_verdicts`` row can read agrees (its paired interval
    lies above 1: SEP_pos below the base, the base below SEP_neg); False when no half can be read. PGD
    accuracy is not part of it (the cross-method page re-reads the accuracy rule apart)."""
    halves = [s for s in (r.pos_status, r.neg_status) if _read(s)]
    return bool(halves) and all(s == AGREES for s in halves)


def sep_block_status(row) -> str | None:
    """The status of one block (a row of ``sep_order_verdicts``) for the paper's SEP claim, from the paired
    readings of its halves (SEP_pos below the base, the base below SEP_neg) and of PGD accuracy held. It
    agrees when every half it can read agrees and PGD accuracy is held (``pgd_status`` agrees); it disagrees
    when a half disagrees (L_end ordered against the paper, the interval excluding 1 the other way);
    otherwise (a half inconclusive, or PGD accuracy not shown to be held) it is inconclusive. A block that
    lacks SEP_pos or SEP_neg is read on the half it has; with neither half it has no reading (None)."""
    halves = [s for s in (row.pos_status, row.neg_status) if _read(s)]
    if not halves:
        return None
    if DISAGREES in halves:
        return DISAGREES
    if all(s == AGREES for s in halves) and row.pgd_status == AGREES:
        return AGREES
    return INCONCLUSIVE


SPLIT_COLUMNS = {
    "test": ("clean_acc", "pgd_acc"),
    "validation": ("val_clean_acc", "val_pgd_acc"),
}  # the lambda table's clean and PGD accuracy columns on each split the choice can read


def choose(
    sweep: pd.DataFrame,
    tolerance_points: float,
    on: str = "test",
    collapsed: str = "collapsed",
) -> pd.DataFrame:
    """Per experiment, SEP_pos and SEP_neg: the largest |lambda| of each sign that did not collapse (column
    ``collapsed`` empty) and whose clean and PGD accuracy on the images ``on`` ('test' or 'validation',
    ``SPLIT_COLUMNS``) are both within ``tolerance_points`` of the base model's; None when no lambda of that
    sign qualifies."""
    rows = []
    for name, g in sweep.groupby("experiment", sort=False):
        ok = g[
            (g["lam"] != 0) & (g[collapsed] == "") & _near_base(g, tolerance_points, on)
        ]
        pos, neg = ok[ok["lam"] > 0]["lam"], ok[ok["lam"] < 0]["lam"]
        rows.append(
            {
                "experiment": name,
                "SEP_pos": float(pos.max()) if len(pos) else None,
                "SEP_neg": float(neg.min()) if len(neg) else None,
            }
        )
    return pd.DataFrame(rows)


def _near_base(g: pd.DataFrame, tolerance_points: float, on: str = "test") -> pd.Series:
    """Rows of ``g`` whose clean and PGD accuracy on the images ``on`` are both within ``tolerance_points``
    of the base model's (the row with lambda = 0)."""
    if on not in SPLIT_COLUMNS:
        raise ConfigError(
            f"on={on!r} is not allowed: expected one of {tuple(SPLIT_COLUMNS)}"
        )
    clean, pgd = SPLIT_COLUMNS[on]
    base = g[g["lam"] == 0].iloc[0]
    return ((g[clean] - base[clean]).abs() * 100 <= tolerance_points) & (
        (g[pgd] - base[pgd]).abs() * 100 <= tolerance_points
    )


def choice_against_test(sweep: pd.DataFrame, tolerance_points: float) -> pd.DataFrame:
    """Per experiment and role (SEP_pos, SEP_neg), the lambda the rule picks on the validation images (the
    book's choice; collapse read on them, column ``collapsed``) beside the one it would pick on the test
    images (collapse read on those, column ``collapsed_test``), and whether they are the same (two missing
    lambdas count as the same). ``sweep``: a lambda table with validation columns."""
    on_val = choose(sweep, tolerance_points, "validation").set_index("experiment")
    on_test = choose(
        sweep, tolerance_points, "test", collapsed="collapsed_test"
    ).set_index("experiment")
    rows = []
    for name in on_val.index:
        for role in ("SEP_pos", "SEP_neg"):
            v, t = on_val.loc[name, role], on_test.loc[name, role]
            v = None if v is None or pd.isna(v) else float(v)
            t = None if t is None or pd.isna(t) else float(t)
            rows.append(
                {
                    "experiment": name,
                    "role": role,
                    "validation": v,
                    "test": t,
                    "same": v == t,
                }
            )
    return pd.DataFrame(
        rows, columns=["experiment", "role", "validation", "test", "same"]
    )


# the old collapse rule: L_f grown 100-fold from the first epoch to the last
OLD_LF_GROWTH = 100.0


def dropped_by_old_lf_rule(
    sweep: pd.DataFrame, tolerance_points: float, on: str = "test"
) -> pd.DataFrame:
    """Runs of the sweep that the old collapse rule (L_f grown more than ``OLD_LF_GROWTH``-fold, column
    ``lf_growth``) would have dropped and that now count (not collapsed: finite loss, clean accuracy above
    chance), with ``within`` (clean and PGD accuracy on the images ``on`` within ``tolerance_points`` of the
    base model's) and ``chosen`` (the rule picked it as SEP_pos or SEP_neg)."""
    if "lf_growth" not in sweep.columns:
        return sweep.iloc[:0].assign(within=[], chosen=[])
    chosen = choose(sweep, tolerance_points, on).set_index("experiment")
    rows = []
    for name, g in sweep.groupby("experiment", sort=False):
        near = _near_base(g, tolerance_points, on)
        picked = {v for v in chosen.loc[name] if v is not None and not pd.isna(v)}
        hit = g[
            (g["lam"] != 0) & (g["collapsed"] == "") & (g["lf_growth"] > OLD_LF_GROWTH)
        ]
        rows.append(hit.assign(within=near[hit.index], chosen=hit["lam"].isin(picked)))
    return pd.concat(rows) if rows else sweep.iloc[:0].assign(within=[], chosen=[])


def accuracy_shifts(
    roles: pd.DataFrame, base: str, tolerance_points: float
) -> pd.DataFrame:
    """Per experiment, how far SEP_pos and SEP_neg move clean and PGD accuracy (points, means over seeds)
    from the ``base`` role in a ``by_role`` table, and whether both stay within ``tolerance_points``: the
    accuracy rule re-read on a base the lambdas were not chosen on."""
    acc = roles.drop_duplicates(["experiment", "role"])
    rows = []
    for name, g in acc.groupby("experiment", sort=False):
        g = g.set_index("role")
        if base not in g.index:
            continue
        for role in ("SEP_pos", "SEP_neg"):
            if role in g.index:
                d_clean = 100 * abs(g.loc[role, "clean_acc"] - g.loc[base, "clean_acc"])
                d_pgd = 100 * abs(g.loc[role, "pgd_acc"] - g.loc[base, "pgd_acc"])
                rows.append(
                    {
                        "experiment": name,
                        "role": role,
                        "clean_points": d_clean,
                        "pgd_points": d_pgd,
                        "within": bool(max(d_clean, d_pgd) <= tolerance_points),
                    }
                )
    return pd.DataFrame(
        rows, columns=["experiment", "role", "clean_points", "pgd_points", "within"]
    )


def robustness_by_role(
    table: pd.DataFrame, n_boot: int = 1000, seed: int = 0
) -> pd.DataFrame:
    """Means over seeds per experiment, explanation method and role, with the number of seeds; L_end and the
    relative reduction also as the mean over every label-kept pair of every seed with a two-stage bootstrap
    95 % interval (seeds resampled, then pairs within each seed)."""
    live = table[table["collapsed"] == ""]
    cols = [
        "l_start_1e-7",
        "l_end_1e-7",
        "relative_reduction",
        "spearman_to_target",
        "label_kept",
        "clean_acc",
        "pgd_acc",
    ]
    rows = []
    for (name, method, role), g in live.groupby(
        ["experiment", "explanation", "role"], sort=False
    ):
        row = {
            "experiment": name,
            "explanation": method,
            "role": role,
            "kind": g["kind"].iloc[0],
            "dataset": g["dataset"].iloc[0],
            "model": g["model"].iloc[0],
            **g[cols].mean().to_dict(),
            "seeds": len(g),
            "l_end_sd": g["l_end_1e-7"].std(),
            "pgd_sd": 100 * g["pgd_acc"].std(),
        }
        for col, pairs in (("l_end", "l_end_pairs"), ("reduction", "reduction_pairs")):
            groups = [np.asarray(v, float) for v in g[pairs] if len(v)]
            _, row[f"{col}_lo"], row[f"{col}_hi"] = (
                two_stage_bootstrap(groups, n_boot, seed) if groups else (np.nan,) * 3
            )
        rows.append(row)
    return sorted_by_role(pd.DataFrame(rows), ["experiment", "explanation"])


def _pairs_by_seed(g: pd.DataFrame) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """seed -> (pair indices, L_end per pair) of one role's rows of a main table (``l_end_pairs`` holds the
    label-kept pairs only, ``pair_index`` their indices into the experiment's pairs; without ``pair_index``
    the pairs are taken as 0, 1, ...)."""
    out = {}
    for r in g.to_dict("records"):
        v = np.asarray(r["l_end_pairs"], float).ravel()
        idx = r.get("pair_index")
        idx = (
            np.arange(len(v))
            if idx is None or (np.ndim(idx) == 0 and pd.isna(idx))
            else np.asarray(idx, int).ravel()
        )
        out[int(r["seed"])] = (idx, v)
    return out


def half_arrays(lower: dict, higher: dict) -> tuple[np.ndarray, np.ndarray] | None:
    """Two roles' per-pair L_end (from ``_pairs_by_seed``) as (seeds, pairs) arrays on the seeds both have,
    NaN where a pair was not kept: the input of ``stats.paired_order`` and of ``claims.order_claim``; None
    when no (seed, pair) is kept by both."""
    seeds = sorted(set(lower) & set(higher))
    n = 1 + max(
        (
            int(i.max())
            for d in (lower, higher)
            for s in seeds
            for i in [d[s][0]]
            if len(i)
        ),
        default=-1,
    )
    if not seeds or n == 0:
        return None
    a, b = np.full((len(seeds), n), np.nan), np.full((len(seeds), n), np.nan)
    for k, s in enumerate(seeds):
        a[k, lower[s][0]], b[k, higher[s][0]] = lower[s][1], higher[s][1]
    if not (np.isfinite(a) & np.isfinite(b)).any():
        return None
    return a, b


def role_pairs(
    table: pd.DataFrame, experiment: str, method: str, role: str
) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """seed -> (pair indices, L_end per pair) of one role of one experiment and explanation method of a main
    table (collapsed models left out); empty when the role has no model there."""
    live = table[table["collapsed"] == ""] if "collapsed" in table else table
    g = live[
        (live["experiment"] == experiment)
        & (live["explanation"] == method)
        & (live["role"] == role)
    ]
    return _pairs_by_seed(g) if len(g) else {}


def _paired_half(
    lower: dict, higher: dict, n_boot: int, seed: int
) -> tuple[float, float, float, str | None]:
    """``stats.paired_order`` of two roles' per-pair L_end (``half_arrays``); NaN and None when no (seed,
    pair) is kept by both."""
    arrays = half_arrays(lower, higher)
    if arrays is None:
        return np.nan, np.nan, np.nan, None
    return paired_order(*arrays, n_boot, seed)


def _pgd_shift(
    sep: pd.DataFrame, base: pd.DataFrame, margin: float
) -> tuple[float, float, float, str | None]:
    """PGD accuracy of a SEP role minus the base's of the same seed, in points: the mean over the seeds both
    have, its 90 % t-interval over seeds (two one-sided tests at 5 %), and whether it is held: "agrees" when
    the interval lies inside ±``margin``, "disagrees" when it lies wholly outside, "inconclusive" when it
    straddles a bound or when one seed leaves no interval. Seeds that differ by the same amount give an
    interval of that amount (no spread to read)."""
    a = sep.groupby("seed")["pgd_acc"].mean()
    b = base.groupby("seed")["pgd_acc"].mean()
    d = (100 * (a - b)).dropna().to_numpy()
    if not len(d):
        return np.nan, np.nan, np.nan, None
    mean = float(d.mean())
    if len(d) < 2:
        return mean, np.nan, np.nan, INCONCLUSIVE
    half = float(student_t.ppf(0.95, len(d) - 1) * d.std(ddof=1) / np.sqrt(len(d)))
    lo, hi = mean - half, mean + half
    margin += 1e-9  # a difference of exactly the margin is inside it (points come from float accuracies)
    status = (
        AGREES
        if -margin <= lo and hi <= margin
        else DISAGREES
        if lo > margin or hi < -margin
        else INCONCLUSIVE
    )
    return mean, lo, hi, status


def sep_order_verdicts(
    table: pd.DataFrame,
    max_adv_spread_points: float = MAX_PGD_SPREAD_POINTS,
    base: str = "MAT",
    n_boot: int = 2000,
    seed: int = 0,
) -> pd.DataFrame:
    """The paper's SEP order read from paired comparisons, per experiment and explanation method (a block).

    ``table``: a main table (``pipeline.explanation_attack.main_table``: one row per model and explanation
    method, with ``role``, ``seed``, ``pgd_acc`` and the per-pair ``l_end_pairs`` / ``pair_index``);
    collapsed models are left out. Each half of the order is read with ``stats.paired_order`` on the pairs
    both of its models kept, seed by seed (a SEP model is trained from the base of its seed): ``pos_*``,
    SEP_pos below the base (``pos_ratio`` = geometric mean of base / SEP_pos, its interval ``pos_lo``,
    ``pos_hi`` and ``pos_status``: "agrees" when the interval lies above 1); ``neg_*``, the base below SEP_neg
    (``neg_ratio`` = SEP_neg / base). ``neg_over_pos`` is the paired geometric mean of SEP_neg / SEP_pos
    (no interval). "Classification robustness held" is an equivalence reading: for each SEP role, the mean
    over seeds of its PGD accuracy minus the base's (points) with a 90 % t-interval over seeds (one seed:
    no interval, "inconclusive")
    (``pgd_pos_*``, ``pgd_neg_*``); held ("agrees") when the interval lies inside ±``max_adv_spread_points``,
    not held when it lies outside, "inconclusive" when it straddles a bound; ``pgd_status`` joins the roles
    (any not held: "disagrees"; all held: "agrees"; else "inconclusive") and ``pgd_within`` says it as
    True / False / None. ``pgd_spread_points``: the range of the roles' mean PGD accuracy (points, as the
    paper's table gives it). ``status``: ``sep_block_status``. Where SEP_pos or SEP_neg is missing
    (``complete`` False, ``missing`` names it) its half is NaN / None."""
    order = ["SEP_pos", base, "SEP_neg"]
    live = table[table["collapsed"] == ""] if "collapsed" in table else table
    rows = []
    for (name, method), g in live.groupby(["experiment", "explanation"], sort=False):
        present = [r for r in order if (g["role"] == r).any()]
        by_role = {r: g[g["role"] == r] for r in present}
        pairs = {r: _pairs_by_seed(by_role[r]) for r in present}
        row = {
            "experiment": name,
            "explanation": method,
            "complete": present == order,
            "missing": ", ".join(r for r in order if r not in present),
            "seeds": int(by_role[base]["seed"].nunique()) if base in present else 0,
        }
        for half, lower, higher in (("pos", "SEP_pos", base), ("neg", base, "SEP_neg")):
            ratio = (
                _paired_half(pairs[lower], pairs[higher], n_boot, seed)
                if {lower, higher} <= set(present)
                else (np.nan, np.nan, np.nan, None)
            )
            row.update(
                dict(
                    zip([f"{half}_{c}" for c in ("ratio", "lo", "hi", "status")], ratio)
                )
            )
        row["neg_over_pos"] = (
            _paired_half(pairs["SEP_pos"], pairs["SEP_neg"], 1, seed)[0]
            if row["complete"]
            else np.nan
        )
        means = [by_role[r]["pgd_acc"].mean() for r in present]
        row["pgd_spread_points"] = (
            float(100 * np.ptp(means))
            if base in present and len(present) > 1
            else np.nan
        )
        pgd = []
        for half, role in (("pos", "SEP_pos"), ("neg", "SEP_neg")):
            shift = (
                _pgd_shift(by_role[role], by_role[base], max_adv_spread_points)
                if {role, base} <= set(present)
                else (np.nan, np.nan, np.nan, None)
            )
            row.update(
                dict(
                    zip(
                        [f"pgd_{half}_{c}" for c in ("points", "lo", "hi", "status")],
                        shift,
                    )
                )
            )
            pgd += [shift[3]] if _read(shift[3]) else []
        row["pgd_status"] = (
            None
            if not pgd
            else DISAGREES
            if DISAGREES in pgd
            else AGREES
            if all(s == AGREES for s in pgd)
            else INCONCLUSIVE
        )
        row["pgd_within"] = {AGREES: True, DISAGREES: False}.get(row["pgd_status"])
        row["status"] = sep_block_status(SimpleNamespace(**row))
        rows.append(row)
    return pd.DataFrame(rows)
