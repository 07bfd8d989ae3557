"""Every verdict rule of the book in one module: the chapters and the findings page call these, never a
copy. Each rule reads a table of results and returns words or flags chosen by fixed thresholds."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import numpy as np
import pandas as pd

from lib.analysis.stats import (
    AGREES,
    DISAGREES,
    TOO_FEW,
    reading,
    two_stage_bootstrap,
)
from lib.core.errors import ConfigError
from lib.measure.prototypes import ROBUSTNESS_MEASURES
from lib.nn.kinds import NONE

# ------------------------------------------------------------------------------------------------
# the words of a verdict: a unit's status, a claim's verdict

REPRODUCED, PARTLY, NOT_REPRODUCED, NOT_TESTED = (
    "reproduced",
    "partly",
    "not reproduced",
    "not tested",
)
VERDICTS = (REPRODUCED, PARTLY, NOT_REPRODUCED, NOT_TESTED)
IN_PART = "agrees in part"  # AGREES and DISAGREES come from lib.analysis.stats
STATUSES = (AGREES, IN_PART, DISAGREES)
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


def verdict_of(statuses: Iterable[str | None]) -> str:
    """The one verdict rule (lines kept short: the page shows this source).

    Units without a reading (None) are left out. With no unit left the
    claim is "not tested"; when every unit agrees, "reproduced"; when every
    unit disagrees (none agrees, even in part), "not reproduced"; otherwise
    "partly"."""
    read = [s for s in statuses if s is not None]
    for s in read:
        if s not in STATUSES:
            raise ConfigError(
                f"status={s!r} is not allowed: expected one of {STATUSES} or None"
            )
    if not read:
        return NOT_TESTED
    if all(s == AGREES for s in read):
        return REPRODUCED
    if all(s == DISAGREES for s in read):
        return NOT_REPRODUCED
    return PARTLY


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


def reading_shares(corr: pd.DataFrame) -> dict[str, float]:
    """Over the readings against PGD accuracy: the share that say CE flattens, the explanation loss
    flattens, and the explanation loss sharpens."""
    v = corr[corr["against"] == "pgd_acc"]
    ce, ex = v[v["loss"] == "ce"]["reading"], v[v["loss"] == "expl_twin"]["reading"]
    return {
        "ce_flattens": float((ce == "flattens").mean()),
        "expl_flattens": float((ex == "flattens").mean()),
        "expl_sharpens": float((ex == "sharpens").mean()),
    }


def landscape_parts(corr: pd.DataFrame) -> pd.DataFrame:
    """Per experiment, from ``studies.landscape.flatness_correlations`` (readings against PGD accuracy, those
    with too few models left out): how many CE measures flatten, and how many explanation-loss measures
    flatten and sharpen, out of how many with a reading."""
    v = corr[(corr["against"] == "pgd_acc") & (corr["reading"] != TOO_FEW)]
    rows = []
    for name in dict.fromkeys(corr["experiment"]):
        g = v[v["experiment"] == name]
        ce, ex = g[g["loss"] == "ce"]["reading"], g[g["loss"] == "expl_twin"]["reading"]
        rows.append(
            {
                "experiment": name,
                "ce_flattens": int((ce == "flattens").sum()),
                "ce_n": len(ce),
                "expl_flattens": int((ex == "flattens").sum()),
                "expl_sharpens": int((ex == "sharpens").sum()),
                "expl_n": len(ex),
            }
        )
    return pd.DataFrame(
        rows,
        columns=[
            "experiment",
            "ce_flattens",
            "ce_n",
            "expl_flattens",
            "expl_sharpens",
            "expl_n",
        ],
    )


def tracking_verdict(track: pd.DataFrame) -> str:
    """Which of the starting value and the explanation landscape's curvature tracks L_end in every experiment."""
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
        ): "The starting value tracks L_end in every experiment and the curvature of the "
        "explanation landscape does not: by this evidence the prototype measure reflects how far "
        "apart the maps start more than how flat the landscape is.",
        (
            True,
            True,
        ): "Both the starting value and the curvature track L_end in every experiment, so this data "
        "cannot separate the two explanations.",
        (
            False,
            True,
        ): "The curvature of the explanation landscape tracks L_end in every experiment and the "
        "starting value does not.",
        (
            False,
            False,
        ): "Neither the starting value nor the curvature tracks L_end clearly in every "
        "experiment.",
    }[(start, curv)]


# ------------------------------------------------------------------------------------------------
# chapter 5: choosing SEP_pos / SEP_neg by accuracy, and the SEP order

MAX_PGD_SPREAD_POINTS = 3.0  # "classification robustness held": PGD accuracy of SEP_pos, base, SEP_neg within this


def sep_order_holds(r) -> bool:
    """Whether SEP's readable order holds in a ``sep_order_verdicts`` row: the whole order when the row is
    complete, else every half of it that can be read (SEP_pos below the base, the base below SEP_neg)."""
    if r.complete:
        return bool(r.l_end_order)
    return all(
        bool(v)
        for v in (r.pos_below_base, r.base_below_neg)
        if v is not None and not pd.isna(v)
    )


def sep_block_status(row) -> str | None:
    """The status of one block (a row of ``sep_order_verdicts``) for the paper's SEP claim. A block with
    SEP_pos and SEP_neg agrees when both halves of the order hold (SEP_pos < base, base < SEP_neg) and PGD
    accuracy is held; it disagrees when neither half holds; it agrees in part otherwise. A block that lacks
    SEP_pos or SEP_neg agrees in part when the half it can show holds and disagrees when it does not; with
    neither it has no reading (None)."""
    halves = [
        h
        for h in (row.pos_below_base, row.base_below_neg)
        if h is not None and not pd.isna(h)
    ]
    if not halves:
        return None
    if not row.complete:
        return IN_PART if all(halves) else DISAGREES
    if all(halves) and row.pgd_within:
        return AGREES
    return DISAGREES if not any(halves) else IN_PART


def choose(sweep: pd.DataFrame, tolerance_points: float) -> pd.DataFrame:
    """Per experiment, SEP_pos and SEP_neg: the largest |lambda| of each sign that did not collapse and whose
    clean and PGD accuracy are both within ``tolerance_points`` of the base model's; None when no lambda of
    that sign qualifies."""
    rows = []
    for name, g in sweep.groupby("experiment", sort=False):
        ok = g[
            (g["lam"] != 0) & (g["collapsed"] == "") & _near_base(g, tolerance_points)
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


def _near_base(g: pd.DataFrame, tolerance_points: float) -> pd.Series:
    """Rows of ``g`` whose clean and PGD accuracy are both within ``tolerance_points`` of the base model's
    (the row with lambda = 0)."""
    base = g[g["lam"] == 0].iloc[0]
    return ((g["clean_acc"] - base["clean_acc"]).abs() * 100 <= tolerance_points) & (
        (g["pgd_acc"] - base["pgd_acc"]).abs() * 100 <= tolerance_points
    )


def collapsed_on_lf_alone(sweep: pd.DataFrame, tolerance_points: float) -> pd.DataFrame:
    """Runs of the sweep counted as collapsed only because L_f grew past the explosion threshold
    (``lib.pipeline.training.LF_EXPLOSION``) while their clean and PGD accuracy stayed within ``tolerance_points`` of the
    base model's: the rule keeps them out (it was fixed before any result), and the chapter says what a rule
    reading accuracy alone would have chosen instead."""
    rows = [
        g[
            g["collapsed"].str.startswith("L_f exploded")
            & _near_base(g, tolerance_points)
        ]
        for _, g in sweep.groupby("experiment", sort=False)
    ]
    return pd.concat(rows) if rows else sweep.iloc[:0]


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


def sep_order_verdicts(
    roles: pd.DataFrame,
    max_adv_spread_points: float = MAX_PGD_SPREAD_POINTS,
    base: str = "MAT",
) -> pd.DataFrame:
    """Per experiment and explanation method: does L_end rank SEP_pos < base < SEP_neg (the paper's claim,
    base MAT), do the relative reduction and the rank metric (lower = more robust) rank them the other way
    round, do the L_end intervals of SEP_pos and SEP_neg overlap, and does PGD accuracy of the three stay within
    ``max_adv_spread_points``? Where SEP_pos or SEP_neg is missing (``complete`` False) the part of the order
    that can be read is still given: ``pos_below_base`` (SEP_pos < base) and ``base_below_neg`` (base <
    SEP_neg), with their L_end ratios; what cannot be read is None / NaN."""
    order = ["SEP_pos", base, "SEP_neg"]
    rows = []
    for (name, method), g in roles.groupby(["experiment", "explanation"], sort=False):
        g = g.set_index("role")
        present = [r for r in order if r in g.index]
        le = {r: float(g.loc[r, "l_end_1e-7"]) for r in present}
        row = {
            "experiment": name,
            "explanation": method,
            "complete": present == order,
            "missing": ", ".join(r for r in order if r not in g.index),
            "pos_below_base": le["SEP_pos"] < le[base]
            if {"SEP_pos", base} <= set(le)
            else None,
            "base_below_neg": le[base] < le["SEP_neg"]
            if {"SEP_neg", base} <= set(le)
            else None,
            "mat_over_pos": le[base] / le["SEP_pos"]
            if {"SEP_pos", base} <= set(le)
            else np.nan,
            "neg_over_mat": le["SEP_neg"] / le[base]
            if {"SEP_neg", base} <= set(le)
            else np.nan,
            "neg_over_pos": le["SEP_neg"] / le["SEP_pos"]
            if {"SEP_pos", "SEP_neg"} <= set(le)
            else np.nan,
            "pgd_spread_points": (
                float(100 * np.ptp(g.loc[present, "pgd_acc"].to_numpy()))
                if base in present and len(present) > 1
                else np.nan
            ),
            "l_end_order": None,
            "reduction_order": None,
            "rank_order": None,
            "pos_neg_separated": None,
        }
        if row["complete"]:
            rr, rk = (
                g.loc[order, c].to_numpy()
                for c in ("relative_reduction", "spearman_to_target")
            )
            row.update(
                {
                    "l_end_order": row["pos_below_base"] and row["base_below_neg"],
                    "reduction_order": bool(rr[0] > rr[1] > rr[2]),
                    "rank_order": bool(rk[0] > rk[1] > rk[2]),
                    "pos_neg_separated": (
                        bool(
                            g.loc["SEP_pos", "l_end_hi"] < g.loc["SEP_neg", "l_end_lo"]
                        )
                        if "l_end_hi" in g
                        else None
                    ),
                }
            )
        row["pgd_within"] = (
            bool(row["pgd_spread_points"] <= max_adv_spread_points)
            if np.isfinite(row["pgd_spread_points"])
            else None
        )
        rows.append(row)
    return pd.DataFrame(rows)


def cross_verdicts(
    table: pd.DataFrame,
    base: str = "MAT",
    max_adv_spread_points: float = MAX_PGD_SPREAD_POINTS,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per training method of SEP: ``analysis.verdicts.robustness_by_role`` of its SEP models with the base models, and
    ``analysis.verdicts.sep_order_verdicts`` per experiment and attacked method, each with a column ``trained_with``."""
    roles, verdict = [], []
    for method in [m for m in dict.fromkeys(table["trained_with"]) if m != NONE]:
        sub = table[table["trained_with"].isin([NONE, method])]
        r = robustness_by_role(sub)
        roles.append(r.assign(trained_with=method))
        verdict.append(
            sep_order_verdicts(r, max_adv_spread_points, base).assign(
                trained_with=method
            )
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


AS_INTENDED, AGAINST = (
    "as intended",
    "against",
)  # the curvature readings (with PARTLY, NOT_TESTED)


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


def curvature_verdicts(roles: pd.DataFrame) -> pd.DataFrame:
    """Per experiment, base and twin beta: does SEP_pos flatten (explanation-loss curvature below the base's) and
    SEP_neg sharpen (above), are the intervals apart, by what factor does each move the explanation loss's
    and the CE's curvature, and does CE move less than the explanation loss (the ratio closer to 1 in log
    terms) for every SEP role present? Missing roles give None / NaN."""
    rows = []
    for (name, base, beta), g in roles.groupby(
        ["experiment", "base", "twin_beta"], sort=False
    ):
        ex = g[g["loss"] == "expl_twin"].set_index("role")
        ce = g[g["loss"] == "ce"].set_index("role")
        if base not in ex.index:
            continue
        row = {"experiment": name, "base": base, "twin_beta": beta}
        moves = []
        for role, sign in (("SEP_pos", -1), ("SEP_neg", 1)):
            if role not in ex.index:
                row.update(
                    {
                        f"{role}_expl_ratio": np.nan,
                        f"{role}_ce_ratio": np.nan,
                        f"{role}_intended": None,
                        f"{role}_apart": None,
                    }
                )
                continue
            r_ex = ex.loc[role, "mean"] / ex.loc[base, "mean"]
            r_ce = ce.loc[role, "mean"] / ce.loc[base, "mean"]
            apart = (
                (ex.loc[role, "hi"] < ex.loc[base, "lo"])
                if sign < 0
                else (ex.loc[role, "lo"] > ex.loc[base, "hi"])
            )
            row.update(
                {
                    f"{role}_expl_ratio": r_ex,
                    f"{role}_ce_ratio": r_ce,
                    f"{role}_intended": bool(np.sign(np.log(r_ex)) == sign),
                    f"{role}_apart": bool(apart),
                }
            )
            moves.append(abs(np.log(r_ce)) < abs(np.log(r_ex)))
        row["ce_moves_less"] = bool(all(moves)) if moves else None
        intended = [
            row[f"{r}_intended"]
            for r in ("SEP_pos", "SEP_neg")
            if row[f"{r}_intended"] is not None
        ]
        row["reading"] = curvature_reading(intended, row["ce_moves_less"])
        rows.append(row)
    return pd.DataFrame(rows)


def curvature_reading(intended: list[bool], ce_moves_less: bool | None) -> str:
    """'as intended' when every SEP role present moves the explanation loss's curvature its way and CE
    moves less; 'partly' when some do; 'against' when none does; 'not tested' without a SEP role."""
    if not intended:
        return NOT_TESTED
    if all(intended) and ce_moves_less:
        return AS_INTENDED
    return PARTLY if any(intended) else AGAINST


def beta_dependence(verdict: pd.DataFrame) -> pd.DataFrame:
    """Per experiment and base, the reading at each twin beta and whether it is the same at both."""
    rows = []
    for (name, base), g in verdict.groupby(["experiment", "base"], sort=False):
        readings = dict(zip(g["twin_beta"], g["reading"]))
        rows.append(
            {
                "experiment": name,
                "base": base,
                **{f"beta {b:g}": r for b, r in readings.items()},
                "same": len(set(readings.values())) == 1,
            }
        )
    return pd.DataFrame(rows)


# ------------------------------------------------------------------------------------------------
# chapter 6: start loss against flatness


def driver_verdict(corr: pd.DataFrame) -> str:
    """Which of the two candidate drivers the pooled correlations support, read from the intervals alone:
    "start loss" when L_start goes with L_end but flatness does not once L_start is held fixed, "flatness"
    when flatness goes with L_end with L_start held fixed and L_start does not go with L_end, "both" when
    both intervals exclude 0, "neither" when neither does."""
    c = corr.set_index("question")
    n = int(c["models"].iloc[0]) if len(c) else 0

    def clear(q: str) -> bool:
        return reading(c.loc[q, "lo"], c.loc[q, "hi"], "up", "down", n=n) in (
            "up",
            "down",
        )

    start, flat = clear("L_start ~ L_end"), clear("flatness ~ L_end | L_start")
    return {
        (True, False): "start loss",
        (False, True): "flatness",
        (True, True): "both",
    }.get((start, flat), "neither")
