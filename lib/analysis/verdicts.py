"""Every verdict rule of the book in one module: the chapters and the findings page call these, never a
copy. Each rule reads a table of results and returns words or flags chosen by fixed thresholds."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from types import SimpleNamespace

import numpy as np
import pandas as pd
from scipy.stats import binomtest
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
    MIN_POINTS,
    TOO_FEW,
    paired_order,
    reading,
    seed_interval,
    seed_log_ratios,
    status_of,
    two_stage_bootstrap,
)
from lib.core.errors import ConfigError
from lib.measure.prototypes import ROBUSTNESS_MEASURES
from lib.nn.kinds import NONE

# ------------------------------------------------------------------------------------------------
# the words of a verdict: a unit's status, a claim's verdict

# A unit (an experiment, a block, a model) agrees when its interval excludes the null in the paper's direction,
# disagrees when it excludes it the other way, and is inconclusive otherwise (AGREES, DISAGREES and
# INCONCLUSIVE are defined with the intervals, in lib.analysis.stats). A "does not" claim agrees only when its
# interval lies inside an equivalence margin fixed in the profile.
STATUSES = (AGREES, DISAGREES, INCONCLUSIVE)
# A claim's verdict ("inconclusive" is shared with the unit status of the same name) and the claim-level rule
# over model sets: lib.analysis.claims, re-exported here.
ROLE_ORDER = {
    "standard": 0,
    "SEP_pos": 1,
    "MAT": 2,
    "TRADES": 2,
    "SEP_neg": 3,
}  # display order of roles


def sorted_by_role(
    table: pd.DataFrame, groups: list[str], then: list[str] | tuple = ()
) -> pd.DataFrame:
    """``table`` with its ``groups`` in order of first appearance, then sorted by ``then`` and by role
    (``ROLE_ORDER``) inside each group: the order every per-role table of the book is shown in."""
    first = {
        k: i for i, k in enumerate(dict.fromkeys(zip(*(table[c] for c in groups))))
    }
    keyed = table.assign(
        _g=[first[k] for k in zip(*(table[c] for c in groups))],
        _r=table["role"].map(ROLE_ORDER),
    )
    return (
        keyed.sort_values(["_g", *then, "_r"], kind="stable")
        .drop(columns=["_g", "_r"])
        .reset_index(drop=True)
    )


def counts(units: Mapping[str, str | None]) -> dict[str, int]:
    """How many units agree, disagree and are inconclusive (units without a reading are not counted)."""
    read = [s for s in units.values() if s is not None]
    return {status: read.count(status) for status in STATUSES}


def tally(units: Mapping[str, str | None], status: str = AGREES) -> tuple[int, int]:
    """(units with ``status``, units with a reading)."""
    read = [s for s in units.values() if s is not None]
    return sum(s == status for s in read), len(read)


# ------------------------------------------------------------------------------------------------
# chapter 1: does the attack beat noise


BEATS_NOISE = 2.0  # the attack beats noise when it removes more than twice the share that noise removes


def beats_noise(attack: float, noise: float) -> bool:
    """The rule of the motivation chapter, fixed before any result: the attack moves the map towards the
    target "far more than noise" when it removes more than ``BEATS_NOISE`` times the share noise removes (a
    noise share below 0 counts as 0)."""
    return bool(attack > BEATS_NOISE * max(noise, 0.0))


def success_interval(successes: int, pairs: int) -> tuple[float, float]:
    """The 95 % Wilson interval of a success rate (``scipy.stats.binomtest``)."""
    ci = binomtest(int(successes), int(pairs)).proportion_ci(0.95, method="wilson")
    return float(ci.low), float(ci.high)


def motivation_status(
    success_rate: float,
    pairs: int,
    attack: float,
    noise: float,
    margin_lo: float | None = None,
) -> str:
    """A model's status for the motivation claim (the attack keeps the label and steers the map). It agrees
    when the Wilson interval of its success rate lies above 1/2 (most pairs end closer to the target with the
    label kept) and the attack beats noise: the pair-bootstrap interval of attack share - 2 x noise share
    lies above 0 (``margin_lo``, ``stats.beats_noise_interval``; without it, ``beats_noise`` on the point
    values); it disagrees when the interval lies below 1/2 or the attack removes no more of the distance
    than noise of its size does; otherwise it is inconclusive."""
    lo, hi = success_interval(round(success_rate * pairs), pairs)
    if hi < 0.5 or attack <= max(noise, 0.0):
        return DISAGREES
    beats = (
        beats_noise(attack, noise)
        if margin_lo is None or not np.isfinite(margin_lo)
        else margin_lo > 0
    )
    if lo > 0.5 and beats:
        return AGREES
    return INCONCLUSIVE


# ------------------------------------------------------------------------------------------------
# chapter 2: does PGD accuracy rise with beta


def pgd_rises_with_beta(
    summary: pd.DataFrame, experiment: str, tolerance: float = 0.01
) -> bool:
    """Whether mean PGD accuracy (a ``summarize`` table) rises with beta at every step of the sweep of
    ``experiment`` (standard training, then TRADES by increasing beta; MAT left out), a fall of at most
    ``tolerance`` (accuracy, 0.01 = one point) counting as no fall."""
    tr = summary[(summary["experiment"] == experiment) & (summary["family"] != "MAT")]
    return bool((tr["pgd_mean"].diff().dropna() >= -tolerance).all())


# points: a larger fall of PGD accuracy under the stronger attack suggests gradient masking
MASKING_DROP = 5.0


def masking_suspected(drop_points: float) -> bool:
    """The sweep chapter's gradient-masking rule: the stronger attack (more steps, restarts) lowering the most
    robust model's PGD accuracy by ``MASKING_DROP`` points or more suggests part of its robustness is masking
    (a drop of a few points is what more steps and restarts buy against a genuinely robust model)."""
    return not drop_points < MASKING_DROP


# ------------------------------------------------------------------------------------------------
# chapter 3: prototype pairs against all pairs; measures that disagree


def validation_verdicts(summary: pd.DataFrame) -> pd.DataFrame:
    """Per experiment and measure: the prototype estimate's median error and rank agreement against a random
    subset's, and the words for each comparison (its error is "smaller"/"larger"; it ranks the models "at
    least as well as"/"less well than" a random subset)."""
    rows = []
    for (name, measure), g in summary.groupby(["experiment", "measure"], sort=False):
        gi = g.set_index("estimator")
        pe, re_ = (
            gi.loc["prototypes", "rel_error_median"],
            gi.loc["random subset", "rel_error_median"],
        )
        pr, rr = (
            gi.loc["prototypes", "rank_rho_median"],
            gi.loc["random subset", "rank_rho_median"],
        )
        rows.append(
            {
                "experiment": name,
                "measure": measure,
                "prototype_error": pe,
                "random_error": re_,
                "prototype_rho": pr,
                "random_rho": rr,
                "error": "smaller" if pe < re_ else "larger",
                "ranking": "at least as well as" if pr >= rr else "less well than",
            }
        )
    return pd.DataFrame(rows)


def disagreements(corr: pd.DataFrame) -> list[str]:
    """The experiment-method groups whose robustness measures (against PGD accuracy) read differently."""
    v = corr[(corr["against"] == "pgd_acc") & (corr["measure"] != "l_start_1e-7")]
    return [
        f"{e}, {m} ({', '.join(f'{ROBUSTNESS_MEASURES[r.measure]}: {r.reading}' for r in g.itertuples())})"
        for (e, m), g in v.groupby(["experiment", "explanation"], sort=False)
        if g["reading"].nunique() > 1
    ]


# ------------------------------------------------------------------------------------------------
# chapter 4: the landscape's readings


def ce_part_status(lo: float, hi: float, n: int) -> str | None:
    """Part (1), adversarial training flattens CE, on the interval [lo, hi] of Spearman's rho of a CE
    flatness measure against PGD accuracy over ``n`` models: "agrees" when it lies below 0 (more robust,
    flatter), "disagrees" when above, else "inconclusive"; None with too few models."""
    word = reading(lo, hi, DISAGREES, AGREES, n=n)
    return None if word == TOO_FEW else word if word in STATUSES else INCONCLUSIVE


def expl_part_status(lo: float, hi: float, n: int, margin: float) -> str | None:
    """Part (2), adversarial training does not flatten the explanation loss, an equivalence claim on the
    interval [lo, hi] of Spearman's rho of an explanation-loss flatness measure against PGD accuracy over
    ``n`` models: "agrees" only when it lies inside (-margin, +margin) (``landscape.equivalence_rho``),
    "disagrees" when it lies below 0 (adversarial training does flatten it), else "inconclusive" (an
    interval that merely holds 0 is no evidence of no relation); None with too few models."""
    if n < MIN_POINTS:
        return None
    if not (np.isfinite(lo) and np.isfinite(hi)):
        return INCONCLUSIVE
    if -margin < lo and hi < margin:
        return AGREES
    return DISAGREES if hi < 0 else INCONCLUSIVE


def landscape_status(ce: str | None, expl: str | None) -> str | None:
    """A unit's status from its two parts (None: a part not read): "disagrees" when either disagrees,
    "agrees" when both agree, None when neither was read, else "inconclusive"."""
    ce, expl = (s if isinstance(s, str) else None for s in (ce, expl))
    if ce is None and expl is None:
        return None
    if DISAGREES in (ce, expl):
        return DISAGREES
    return AGREES if ce == expl == AGREES else INCONCLUSIVE


def reading_shares(corr: pd.DataFrame, margin: float) -> dict[str, float]:
    """Over the readings against PGD accuracy (with enough models): the share of CE measures whose interval
    says CE flattens and sharpens, and of explanation-loss measures whose interval says it flattens,
    sharpens, and lies inside +-``margin`` (no more than a weak relation)."""
    v = corr[(corr["against"] == "pgd_acc") & (corr["reading"] != TOO_FEW)]
    ce, ex = v[v["loss"] == "ce"], v[v["loss"] == "expl_twin"]

    def share(mask) -> float:
        return float(np.mean(mask)) if len(mask) else float("nan")

    return {
        "ce_flattens": share(ce["hi"] < 0),
        "ce_sharpens": share(ce["lo"] > 0),
        "expl_flattens": share(ex["hi"] < 0),
        "expl_sharpens": share(ex["lo"] > 0),
        "expl_within": share((ex["lo"] > -margin) & (ex["hi"] < margin)),
    }


LANDSCAPE_PART_COLUMNS = [
    "experiment",
    "flatness",
    "models",
    "ce_rho",
    "ce_lo",
    "ce_hi",
    "ce_status",
    "expl_rho",
    "expl_lo",
    "expl_hi",
    "expl_status",
    "status",
]


def landscape_parts(corr: pd.DataFrame, margin: float) -> pd.DataFrame:
    """The units of the landscape claim, from ``studies.landscape.flatness_correlations`` (rows against PGD
    accuracy): one per experiment and flatness measure (``flatness``: the column without its loss, e.g.
    "spectral"), with CE's and the explanation loss's rho and interval, each part's status
    (``ce_part_status``, ``expl_part_status`` with ``margin``) and the unit's (``landscape_status``). A
    measure of one loss only has the other part None."""
    v = corr[corr["against"] == "pgd_acc"]
    v = v.assign(flatness=v["column"].str.split(":", n=1).str[1])
    rows = []
    for (name, flat), g in v.groupby(["experiment", "flatness"], sort=False):
        row = {"experiment": name, "flatness": flat, "models": int(g["models"].max())}
        for loss, key in (("ce", "ce"), ("expl_twin", "expl")):
            r = g[g["loss"] == loss]
            if not len(r):
                row.update({f"{key}_{c}": np.nan for c in ("rho", "lo", "hi")})
                row[f"{key}_status"] = None
                continue
            r = r.iloc[0]
            row.update({f"{key}_{c}": float(r[c]) for c in ("rho", "lo", "hi")})
            row[f"{key}_status"] = (
                ce_part_status(r["lo"], r["hi"], int(r["models"]))
                if loss == "ce"
                else expl_part_status(r["lo"], r["hi"], int(r["models"]), margin)
            )
        row["status"] = landscape_status(row["ce_status"], row["expl_status"])
        rows.append(row)
    return _as_statuses(
        pd.DataFrame(rows, columns=LANDSCAPE_PART_COLUMNS),
        ["ce_status", "expl_status", "status"],
    )


def tracking_verdict(track: pd.DataFrame) -> str:
    """Which of the starting value and the explanation landscape's curvature tracks L_end (an interval that
    excludes 0) in every experiment. An interval that holds 0 is no evidence of no relation, so a
    candidate that does not track clearly is said to be open, not ruled out."""
    clear = track[track["robustness"] == "L_end"].groupby("x")["clear"].all()
    start = bool(clear.get("l_start_1e-7", False))
    curv = bool(
        clear.get("expl_twin:spectral", False)
        or clear.get("expl_twin:frobenius", False)
    )
    return {
        (
            True,
            False,
        ): "The starting value tracks L_end in every experiment; the curvature of the explanation "
        "landscape does not clearly track it in every experiment (an interval holds 0), which leaves its "
        "role open rather than ruled out.",
        (
            True,
            True,
        ): "Both the starting value and the curvature track L_end in every experiment, so this data "
        "cannot separate the two explanations.",
        (
            False,
            True,
        ): "The curvature of the explanation landscape tracks L_end in every experiment; the starting "
        "value does not clearly track it in every experiment (an interval holds 0).",
        (
            False,
            False,
        ): "Neither the starting value nor the curvature tracks L_end clearly in every "
        "experiment.",
    }[(start, curv)]


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


def cross_verdicts(
    table: pd.DataFrame,
    base: str = "MAT",
    max_adv_spread_points: float = MAX_PGD_SPREAD_POINTS,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per training method of SEP: ``analysis.verdicts.robustness_by_role`` of its SEP models with the base
    models, and ``analysis.verdicts.sep_order_verdicts`` (paired, on the same models' main-table rows) per
    experiment and attacked method, each with a column ``trained_with``."""
    roles, verdict = [], []
    for method in [m for m in dict.fromkeys(table["trained_with"]) if m != NONE]:
        sub = table[table["trained_with"].isin([NONE, method])]
        r = robustness_by_role(sub)
        roles.append(r.assign(trained_with=method))
        verdict.append(
            sep_order_verdicts(sub, max_adv_spread_points, base).assign(
                trained_with=method
            )
        )
    if not roles:  # no SEP model was chosen (every lambda collapsed or moved accuracy): nothing to compare
        return (
            pd.DataFrame(columns=["role", "explanation", "trained_with"]),
            pd.DataFrame(
                columns=[
                    "experiment",
                    "explanation",
                    "pos_status",
                    "neg_status",
                    "status",
                    "trained_with",
                ]
            ),
        )
    return pd.concat(roles, ignore_index=True), pd.concat(verdict, ignore_index=True)


def budget_agreement(corr: pd.DataFrame) -> dict[str, float]:
    """Over the experiments, the share of L_end readings that say explanation robustness goes with
    classification robustness, per attack."""
    v = corr[corr["y"] == "l_end_1e-7"]
    return {
        a: float((g["reading"] == "goes with").mean())
        for a, g in v.groupby("attack", sort=False)
    }


# ------------------------------------------------------------------------------------------------
# chapter 6: the curvature of SEP models

# the two halves of the curvature claim: SEP_pos flatter than the base (its curvature lower), SEP_neg sharper
CURVATURE_HALVES = (("SEP_pos", -1), ("SEP_neg", 1))


def curvature_by_role(
    curv: pd.DataFrame, measure: str = "spectral", n_boot: int = 1000, seed: int = 0
) -> pd.DataFrame:
    """Per experiment, base, twin beta, loss and role (the lambda sweep left out): the mean of ``measure`` over
    every victim of every seed, with a two-stage bootstrap 95 % interval (seeds, then victims), the seed
    count and the share of Lanczos runs that converged."""
    rows = []
    main = curv[curv["role"] != "lambda sweep"]
    for (name, base, beta, loss, role), g in main.groupby(
        ["experiment", "base", "twin_beta", "loss", "role"], sort=False
    ):
        groups = [gg[measure].to_numpy(float) for _, gg in g.groupby("key", sort=False)]
        mean, lo, hi = two_stage_bootstrap(groups, n_boot, seed)
        rows.append(
            {
                "experiment": name,
                "base": base,
                "twin_beta": beta,
                "loss": loss,
                "role": role,
                "measure": measure,
                "mean": mean,
                "lo": lo,
                "hi": hi,
                "seeds": len(groups),
                "converged": float(g["eig_converged"].mean()),
            }
        )
    return sorted_by_role(
        pd.DataFrame(rows), ["experiment", "base"], then=["twin_beta", "loss"]
    )


def _as_statuses(table: pd.DataFrame, columns) -> pd.DataFrame:
    """``columns`` of ``table`` as objects with None where there is no reading (pandas stores a missing
    string as NaN)."""
    for c in columns:
        table[c] = pd.Series(
            [s if isinstance(s, str) else None for s in table[c]],
            index=table.index,
            dtype=object,
        )
    return table


def victim_arrays(
    block: pd.DataFrame, measure: str, roles, converged_only: bool = False
) -> dict[str, np.ndarray]:
    """Per role of ``roles``, the per-victim ``measure`` of one loss as a (seeds, victims) array on the seeds
    and victims of ``block`` (the rows of one experiment, base, twin beta and loss), NaN where a role has no
    model of that seed or (``converged_only``) Lanczos did not converge there. The landscape victims are the
    same for every seed and role of an experiment, so cell (s, v) of two roles is the same victim under
    models of the same seed: the paired design ``stats.paired_order`` reads."""
    seeds = sorted(block["seed"].unique())
    victims = sorted(block["victim"].unique())
    values = block[measure].astype(float)
    if converged_only:
        values = values.where(block["eig_converged"].astype(bool))
    cells = (
        block.assign(_v=values)
        .groupby(["role", "seed", "victim"], sort=False)["_v"]
        .mean()
    )
    out = {}
    for role in roles:
        arr = np.full((len(seeds), len(victims)), np.nan)
        if role in cells.index.get_level_values(0):
            part = cells.loc[role]
            for (s, v), x in part.items():
                arr[seeds.index(s), victims.index(v)] = x
        out[role] = arr
    return out


def moves_less(
    ex_base, ex_role, ce_base, ce_role, n_boot: int = 2000, seed: int = 0
) -> tuple[float, float, float, str]:
    """Does CE move less than the explanation loss? All four are (seeds, victims) arrays of one role and its
    base on the same victims; on the cells kept in all four, each seed gives |mean log(role / base)| of the
    explanation loss minus that of CE (> 0: CE moves less), and the statistic is their mean over seeds with
    a 95 % t-interval over the seeds (``stats.seed_interval``: the seed is the unit). Returns (statistic,
    lo, hi, status): "agrees" (CE moves less) when the interval lies above 0, "disagrees" when below, else
    "inconclusive" (always with one seed); NaN and "inconclusive" when no cell is kept. ``n_boot`` and
    ``seed`` are kept for callers (before issue 30 this was a crossed bootstrap over seeds and victims)."""
    arrs = [np.asarray(a, float) for a in (ex_base, ex_role, ce_base, ce_role)]
    kept = np.logical_and.reduce([np.isfinite(a) & (a > 0) for a in arrs])
    if not kept.any():
        return float("nan"), float("nan"), float("nan"), INCONCLUSIVE
    safe = [np.where(kept, a, np.nan) for a in arrs]
    d_ex = np.abs(seed_log_ratios(safe[0], safe[1]))
    d_ce = np.abs(seed_log_ratios(safe[2], safe[3]))
    stat, lo, hi, _ = seed_interval(d_ex - d_ce)
    return float(stat), float(lo), float(hi), status_of(lo, hi)


def curvature_half(
    ex: Mapping[str, np.ndarray],
    ce: Mapping[str, np.ndarray],
    base: str,
    role: str,
    sign: int,
    n_boot: int = 2000,
    seed: int = 0,
) -> dict:
    """One half of the curvature claim on (seeds, victims) arrays per role (``victim_arrays``) of the
    explanation loss (``ex``) and CE (``ce``): ``role`` flatter than ``base`` (``sign`` -1: SEP_pos) or
    sharper (+1: SEP_neg), read with ``stats.paired_order`` (lower: the role for -1, the base for +1).
    Returns ``expl_ratio`` (geometric mean of role / base over the victims both kept) with its interval
    ``expl_lo``, ``expl_hi``; ``status`` ("agrees" when the interval excludes 1 in the half's direction,
    "disagrees" when it excludes it the other way, else "inconclusive"; None without a kept victim);
    ``ce_ratio``, ``ce_lo``, ``ce_hi`` (CE's role / base, a secondary column); ``ce_less`` and
    ``ce_less_lo``/``_hi`` (``moves_less``: |log ratio| of the explanation loss minus CE's, status as
    there); ``victims``: the (seed, victim) cells read. A half with fewer than 3 victims kept (in any seed)
    has no reading: one victim gives an interval of zero width."""
    b, r = ex[base], ex[role]
    kept = np.isfinite(b) & np.isfinite(r)
    out = {
        "expl_ratio": np.nan,
        "expl_lo": np.nan,
        "expl_hi": np.nan,
        "status": None,
        "ce_ratio": np.nan,
        "ce_lo": np.nan,
        "ce_hi": np.nan,
        "ce_less": None,
        "ce_less_lo": np.nan,
        "ce_less_hi": np.nan,
        "victims": int(kept.sum()),
    }
    if kept.any(axis=0).sum() < MIN_POINTS:
        return out
    if sign < 0:  # paired_order's ratio is base / role: invert it and its interval
        q, lo, hi, status = paired_order(r, b, n_boot, seed)
        out.update(expl_ratio=1 / q, expl_lo=1 / hi, expl_hi=1 / lo, status=status)
    else:
        q, lo, hi, status = paired_order(b, r, n_boot, seed)
        out.update(expl_ratio=q, expl_lo=lo, expl_hi=hi, status=status)
    cb, cr = ce.get(base), ce.get(role)
    if cb is not None and cr is not None and (np.isfinite(cb) & np.isfinite(cr)).any():
        q, lo, hi, _ = paired_order(cb, cr, n_boot, seed)
        out.update(ce_ratio=q, ce_lo=lo, ce_hi=hi)
        stat, lo, hi, less = moves_less(b, r, cb, cr, n_boot, seed)
        out.update(ce_less=less, ce_less_lo=lo, ce_less_hi=hi)
    return out


def curvature_status(halves: Iterable[str | None]) -> str | None:
    """A block's status from its halves' (None: a half not read): "disagrees" when a half disagrees,
    "agrees" when every half read agrees, else "inconclusive"; None when no half was read."""
    read = [h for h in halves if isinstance(h, str)]
    if not read:
        return None
    if DISAGREES in read:
        return DISAGREES
    return AGREES if all(h == AGREES for h in read) else INCONCLUSIVE


def curvature_verdicts(
    curv: pd.DataFrame,
    measure: str = "spectral",
    n_boot: int = 2000,
    seed: int = 0,
    loss: str = "expl_twin",
) -> pd.DataFrame:
    """Per experiment, base and twin beta, from the per-victim curvature table (``curvature_table``; the
    lambda sweep left out): is SEP_pos's explanation ``measure`` (of the rows whose ``loss`` is ``loss``: the
    target-free flatness "expl_change" of ``pipeline.flatness``, or the old target-dependent explanation
    loss "expl_twin", the default) below the base's and SEP_neg's above
    (``curvature_half`` on the victims both models of a seed kept), and does CE move less? Columns per
    half ``{role}_{field}`` for every field of ``curvature_half``, plus ``{role}_converged`` (the share of
    the role's explanation-loss victims whose Lanczos converged) and ``{role}_status_converged`` (the half
    re-read on converged victims only: a cell is dropped where the role's or the base's Lanczos did not
    converge); ``status`` and ``status_converged`` (``curvature_status`` of the halves) and ``changed``
    (the two differ). The CE columns are secondary: they do not enter ``status``. A missing role gives NaN
    / None; a block without its base is left out."""
    rows = []
    main = curv[curv["role"] != "lambda sweep"]
    for (name, base, beta), g in main.groupby(
        ["experiment", "base", "twin_beta"], sort=False
    ):
        roles = [base] + [role for role, _ in CURVATURE_HALVES]
        by_loss = {
            (name_, conv): victim_arrays(
                g[g["loss"] == name_], measure, roles, converged_only=conv
            )
            for name_ in (loss, "ce")
            for conv in (False, True)
        }
        ex_rows = g[g["loss"] == loss]
        if base not in set(ex_rows["role"]):
            continue
        row = {
            "experiment": name,
            "base": base,
            "twin_beta": beta,
            "measure": measure,
            "loss": loss,
        }
        halves, halves_conv = [], []
        for role, sign in CURVATURE_HALVES:
            half = curvature_half(
                by_loss[(loss, False)],
                by_loss[("ce", False)],
                base,
                role,
                sign,
                n_boot,
                seed,
            )
            conv = curvature_half(
                by_loss[(loss, True)],
                by_loss[("ce", True)],
                base,
                role,
                sign,
                n_boot,
                seed,
            )
            mine = ex_rows[ex_rows["role"] == role]["eig_converged"]
            row.update({f"{role}_{k}": v for k, v in half.items()})
            row[f"{role}_converged"] = float(mine.mean()) if len(mine) else np.nan
            row[f"{role}_status_converged"] = conv["status"]
            halves.append(half["status"])
            halves_conv.append(conv["status"])
        row["status"] = curvature_status(halves)
        row["status_converged"] = curvature_status(halves_conv)
        row["changed"] = row["status"] != row["status_converged"]
        rows.append(row)
    table = pd.DataFrame(rows)
    return _as_statuses(
        table,
        [
            c
            for c in table.columns
            if c.endswith(("status", "status_converged", "_ce_less"))
        ],
    )


def beta_dependence(verdict: pd.DataFrame) -> pd.DataFrame:
    """Per experiment and base, the status at each twin beta and whether it is the same at both."""
    rows = []
    for (name, base), g in verdict.groupby(["experiment", "base"], sort=False):
        statuses = dict(zip(g["twin_beta"], g["status"]))
        rows.append(
            {
                "experiment": name,
                "base": base,
                **{f"beta {b:g}": s for b, s in statuses.items()},
                "same": len(set(statuses.values())) == 1,
            }
        )
    return pd.DataFrame(rows)


# ------------------------------------------------------------------------------------------------
# chapter 6: start loss against flatness


DRIVER_VERDICTS = ("start loss", "flatness", "both", "neither", INCONCLUSIVE)


def driver_verdict(corr: pd.DataFrame, margin: float | None = None) -> str:
    """Which driver the pooled correlations (``studies.drivers.driver_correlations``) point to, read from
    the intervals alone. The L_start ~ L_end link is partly automatic (L_end = L_start (1 - r)), so the
    reading rests on the partial correlation of flatness with L_end once L_start is held fixed:
    "flatness" when its interval excludes 0 and L_start ~ L_end's does not lie above 0, "both" when both
    do (the sign of flatness's link is ``flatness_role``'s, not this word's). A "does not" needs an
    equivalence margin: "start loss" only when L_start ~ L_end lies above 0 and the partial interval lies
    inside (-margin, margin); "neither" only when both intervals lie inside it. Without a margin (None) those
    two are never said: a flatness interval that is merely not significant reads "inconclusive"."""
    c = corr.set_index("question")
    n = int(c["models"].iloc[0]) if len(c) else 0
    if n < 3:  # too few models for a rank correlation
        return INCONCLUSIVE
    s, f = c.loc["L_start ~ L_end"], c.loc["flatness ~ L_end | L_start"]
    if not all(np.isfinite([s.lo, s.hi, f.lo, f.hi])):
        return INCONCLUSIVE
    start, flat = s.lo > 0, f.lo > 0 or f.hi < 0

    def negligible(row) -> bool:
        return margin is not None and -margin < row.lo and row.hi < margin

    if flat:
        return "both" if start else "flatness"
    if negligible(f):
        if start:
            return "start loss"
        if negligible(s):
            return "neither"
    return INCONCLUSIVE


def start_loss_status(shares: Mapping, threshold: float) -> str | None:
    """The paper's "driven by the start loss" on one unit (``studies.drivers.variance_shares``: the share of
    the between-model variance of log L_end carried by log L_start, with its interval ``start_lo``,
    ``start_hi``): AGREES when the interval lies above ``threshold``, DISAGREES when it lies below it,
    INCONCLUSIVE when it contains it; None (no reading) when the share is undefined (too few rows)."""
    if not 0 < threshold < 1:
        raise ConfigError(
            f"threshold={threshold!r} is not allowed: expected a share strictly between 0 and 1"
        )
    lo, hi = float(shares["start_lo"]), float(shares["start_hi"])
    if not (np.isfinite(lo) and np.isfinite(hi)):
        return None
    return AGREES if lo > threshold else DISAGREES if hi < threshold else INCONCLUSIVE


# flatness (the column is a curvature: higher = sharper) against L_end with L_start held fixed, and against r
SHARPER_CLOSER = (
    "at fixed L_start, sharper ends closer to the target (flatter is more robust)"
)
SHARPER_FURTHER = (
    "at fixed L_start, sharper ends further from the target (sharper is more robust)"
)
NO_CLEAR_ROLE = "at fixed L_start, no clear role"
SHARPER_MORE = "sharper goes with a larger relative reduction"
SHARPER_LESS = "sharper goes with a smaller relative reduction"
NO_CLEAR_REDUCTION = "no clear link with the relative reduction"


def flatness_role(corr: pd.DataFrame) -> str:
    """Flatness's role, with its sign, from ``driver_correlations``: the partial correlation of curvature
    with L_end at fixed L_start (below 0: ``SHARPER_CLOSER``, the conventional story; above 0:
    ``SHARPER_FURTHER``; else ``NO_CLEAR_ROLE``) and its correlation with the relative reduction
    (``SHARPER_MORE``, ``SHARPER_LESS``, ``NO_CLEAR_REDUCTION``), joined by '; '. Kept apart from the
    start-loss status: it is not a verdict on the paper's claim."""
    c = corr.set_index("question")
    n = int(c["models"].iloc[0]) if len(c) else 0
    f, r = c.loc["flatness ~ L_end | L_start"], c.loc["flatness ~ rel. reduction"]
    words = {"up": SHARPER_FURTHER, "down": SHARPER_CLOSER}
    fixed = words.get(reading(f.lo, f.hi, "up", "down", n=n), NO_CLEAR_ROLE)
    words = {"up": SHARPER_MORE, "down": SHARPER_LESS}
    red = words.get(reading(r.lo, r.hi, "up", "down", n=n), NO_CLEAR_REDUCTION)
    return f"{fixed}; {red}"


# the part of log L_start that carries its share (issue 30): the MSE's scale or the scale-free distance
CARRIED_BY_SCALE = "the MSE's scale (how concentrated the maps are)"
CARRIED_BY_DISTANCE = "the scale-free distance between the maps"
CARRIED_BY_BOTH = "the scale and the distance about equally"
CARRIER_UNDECIDED = "undecided between the scale and the distance"


def scale_carrier(shares: Mapping, zone: float) -> str | None:
    """Which part of log L_start carries its share of log L_end's variance, from ``variance_shares`` with a
    concentration column (``scale_gap``: concentration's share minus the distance's, with its interval):
    the scale when the interval lies above ``zone``, the distance when below -``zone``, both when it lies
    inside (-zone, zone), else undecided; None without a concentration reading."""
    if not 0 < zone < 1:
        raise ConfigError(
            f"zone={zone!r} is not allowed: expected a share strictly between 0 and 1"
        )
    lo, hi = shares.get("scale_gap_lo", np.nan), shares.get("scale_gap_hi", np.nan)
    if not (np.isfinite(lo) and np.isfinite(hi)):
        return None
    if lo > zone:
        return CARRIED_BY_SCALE
    if hi < -zone:
        return CARRIED_BY_DISTANCE
    if -zone < lo and hi < zone:
        return CARRIED_BY_BOTH
    return CARRIER_UNDECIDED
