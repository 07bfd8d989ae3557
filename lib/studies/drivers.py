"""What drives explanation robustness as the attack measures it: where the attack starts (L_start), how flat
the explanation landscape is, both, or neither (issue 12, part 2).

L_end = L_start * (1 - relative reduction), so a model whose maps start far from the target ends far from it
even when the attack works equally well on it: a raw correlation of L_start with L_end is partly automatic.
The fair questions remove that link: does flatness still go with L_end once L_start is held fixed
(``partial_spearman``), and does L_start or flatness go with the relative reduction (how much of the way the
attack gets, which the identity does not tie to L_start)?

Flatness is the target-free one (issue 19, item 4; ``pipeline.flatness``): the spectral norm of
G = (2/P) J^T J, the curvature of the explanation change MSE(I(x + delta), I(x)) at the landscape victims on the
landscape twin. The old flatness, the input-Hessian spectral norm of the target-dependent explanation loss
(H = G + R, R growing with the distance to the target, so tied to L_start), is read beside it as a
secondary reading (``OLD_FLATNESS``).

Models of different experiments differ in scale (MNIST maps start far apart, Fashion-MNIST maps close), so
before pooling every model of the book each column is turned into its percentile rank within its experiment
(and explanation method): pooled correlations then compare models with their own experiment's peers.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from lib.analysis.stats import SHARE_LEVEL as SHARE_LEVEL
from lib.analysis.stats import log_parts as log_parts
from lib.analysis.stats import partial_spearman, rank_agreement, seed_variance_shares
from lib.analysis.stats import variance_shares as variance_shares
from lib.analysis.verdicts import (
    driver_verdict,
    flatness_role,
    scale_carrier,
    start_loss_status,
)
from lib.core.errors import ConfigError
from lib.core.profile import DriversSettings, Profile
from lib.core.store import ResultStore
from lib.pipeline.evaluation import live_after_training, model_key, stored_live
from lib.pipeline.explanation_attack import prototype_pairs, relation_table
from lib.pipeline.flatness import (
    CHANGE,
    as_curvature_rows,
    flatness_rows,
    flatness_task,
)
from lib.pipeline.landscapes import landscape_tables, per_model, victim_pairs
from lib.pipeline.roster import (
    ChosenSlots,
    base_role,
    book_models,
    chapter_model_slots,
    chapter_models,
    sep_slots,
    sweep_runs,
)
from lib.pipeline.runs import Run
from lib.pipeline.scale import scale_table, weights_at_hand
from lib.pipeline.task import Task

# the target-free flatness: the spectral norm of G = (2/P) J^T J (landscape twin), mean over victims, per model
FLATNESS = f"{CHANGE}:spectral"
# secondary: the old one, the target-dependent explanation loss's input-Hessian spectral norm
OLD_FLATNESS = "expl_twin:spectral"


QUESTIONS = (  # (name, x, y, controls): the correlations the verdict reads
    ("L_start ~ L_end", "l_start_1e-7", "l_end_1e-7", ()),
    ("flatness ~ L_end", "flatness", "l_end_1e-7", ()),
    ("flatness ~ L_end | L_start", "flatness", "l_end_1e-7", ("l_start_1e-7",)),
    ("L_start ~ rel. reduction", "l_start_1e-7", "relative_reduction", ()),
    ("flatness ~ rel. reduction", "flatness", "relative_reduction", ()),
    (
        "flatness ~ rel. reduction | L_start",
        "flatness",
        "relative_reduction",
        ("l_start_1e-7",),
    ),
)


def pooled_models(
    robustness: pd.DataFrame,
    flatness: pd.DataFrame,
    measure: str,
    within: Sequence[str] = ("experiment", "explanation"),
) -> pd.DataFrame:
    """One row per (model, explanation method): L_start, L_end and relative reduction (from a relation table:
    columns ``key``, ``experiment``, ``explanation`` and the measures) joined with the model's flatness (column
    ``measure`` of a per-model landscape table keyed by ``key``; higher = sharper), each also as its percentile
    rank within ``within`` (columns suffixed ``_pct``). Models without a flatness value are left out."""
    need = {"key", *within, "l_start_1e-7", "l_end_1e-7", "relative_reduction"}
    missing = sorted(need - set(robustness.columns))
    if missing:
        raise ConfigError(
            f"robustness columns {missing} are missing: expected {sorted(need)}"
        )
    if measure not in flatness.columns or "key" not in flatness.columns:
        raise ConfigError(
            f"measure={measure!r} is not allowed: expected a column of the flatness table "
            f"(which must have 'key'); it has {sorted(flatness.columns)}"
        )
    table = robustness.merge(
        flatness[["key", measure]].rename(columns={measure: "flatness"}),
        on="key",
        how="inner",
    )
    return with_ranks(
        table[np.isfinite(table["flatness"].astype(float))].reset_index(drop=True),
        within,
    )


def with_ranks(table: pd.DataFrame, within: Sequence[str]) -> pd.DataFrame:
    """``table`` with each measure's percentile rank within the groups ``within`` (columns suffixed ``_pct``)."""
    table = table.copy()
    for col in ("l_start_1e-7", "l_end_1e-7", "relative_reduction", "flatness"):
        table[f"{col}_pct"] = table.groupby(list(within), sort=False)[col].rank(
            pct=True
        )
    return table


def pair_table(
    relation: pd.DataFrame, flatness: pd.DataFrame | None = None
) -> pd.DataFrame:
    """One row per (model, explanation method, label-kept prototype pair): L_start, L_end and relative
    reduction of that pair (from a relation table's per-pair columns ``pair_index``, ``l_start_pairs``,
    ``l_end_pairs``), and the pair's flatness where ``flatness`` has it (columns ``key``, ``pair``,
    ``flatness``: the landscape victims are some of the pairs; NaN elsewhere)."""
    rows = []
    for r in relation.itertuples():
        for i, ls, le in zip(r.pair_index, r.l_start_pairs, r.l_end_pairs):
            rows.append(
                {
                    "key": r.key,
                    "experiment": r.experiment,
                    "explanation": r.explanation,
                    "pair": int(i),
                    "l_start_1e-7": float(ls),
                    "l_end_1e-7": float(le),
                    "relative_reduction": (ls - le) / ls,
                }
            )
    out = pd.DataFrame(rows)
    if flatness is not None:
        out = out.merge(
            flatness[["key", "pair", "flatness"]], on=["key", "pair"], how="left"
        )
    else:
        out["flatness"] = np.nan
    return out


def pair_flatness(
    curv: pd.DataFrame,
    victim_pairs: dict[str, list[int]],
    loss: str = "expl_twin",
    measure: str = "spectral",
) -> pd.DataFrame:
    """Per model (``key``) and landscape victim, the victim's prototype pair and its flatness (``measure`` of
    ``loss`` from per-victim curvature rows: ``key``, ``experiment``, ``loss``, ``victim``); ``victim_pairs``
    maps an experiment to its victims' pair indices (``pipeline.landscapes.victim_pairs``)."""
    c = curv[curv["loss"] == loss]
    return pd.DataFrame(
        {
            "key": c["key"].to_numpy(),
            "pair": [victim_pairs[e][v] for e, v in zip(c["experiment"], c["victim"])],
            "flatness": c[measure].to_numpy(float),
        }
    )


def within_model(pairs: pd.DataFrame) -> pd.DataFrame:
    """Per model and method, Spearman's rho across its pairs of L_start with L_end and with the relative
    reduction; NaN for a model with fewer than 3 pairs."""
    rows = []
    for (key, method), g in pairs.groupby(["key", "explanation"], sort=False):
        rho = {}
        for y in ("l_end_1e-7", "relative_reduction"):
            rho[y] = (
                float(g["l_start_1e-7"].rank().corr(g[y].rank()))
                if len(g) >= 3 and g[y].nunique() > 1
                else np.nan
            )
        rows.append(
            {
                "key": key,
                "experiment": g["experiment"].iloc[0],
                "explanation": method,
                "pairs": len(g),
                "rho_l_end": rho["l_end_1e-7"],
                "rho_reduction": rho["relative_reduction"],
            }
        )
    return pd.DataFrame(rows)


def within_summary(within: pd.DataFrame) -> pd.DataFrame:
    """Per experiment: the median across models of the within-model rho (L_start with L_end, L_start with the
    relative reduction), and the share of models where each is positive."""
    rows = []
    for name, g in within.groupby("experiment", sort=False):
        rows.append(
            {
                "experiment": name,
                "models": len(g),
                "median_rho_l_end": g["rho_l_end"].median(),
                "positive_l_end": float((g["rho_l_end"] > 0).mean()),
                "median_rho_reduction": g["rho_reduction"].median(),
                "positive_reduction": float((g["rho_reduction"] > 0).mean()),
            }
        )
    return pd.DataFrame(rows)


def driver_correlations(
    pooled: pd.DataFrame, n_boot: int = 2000, seed: int = 0
) -> pd.DataFrame:
    """The ``QUESTIONS`` over the pooled rows (models, or pairs; percentile ranks within their groups), each
    as Spearman's (partial) rho with a bootstrap 95 % interval over rows and the number of rows (column
    ``models``)."""
    rows = []
    for name, x, y, controls in QUESTIONS:
        ctrl = [pooled[f"{c}_pct"].to_numpy(float) for c in controls]
        rho, lo, hi = partial_spearman(
            pooled[f"{x}_pct"].to_numpy(float),
            pooled[f"{y}_pct"].to_numpy(float),
            ctrl,
            n_boot=n_boot,
            seed=seed,
        )
        rows.append(
            {
                "question": name,
                "x": x,
                "y": y,
                "controls": ", ".join(controls),
                "rho": rho,
                "lo": lo,
                "hi": hi,
                "models": len(pooled),
            }
        )
    return pd.DataFrame(rows)


MODELS, PAIRS = (
    "across models",
    "across pairs within a model",
)  # the levels of ``share_table``


def share_table(shares: Mapping[str, Mapping], threshold: float) -> pd.DataFrame:
    """One row per level (``shares``: level -> ``variance_shares``) with the start-loss ``status``
    (``analysis.verdicts.start_loss_status`` against ``threshold``)."""
    table = pd.DataFrame(
        [{"level": level, **s, "threshold": threshold} for level, s in shares.items()]
    )
    table["status"] = pd.Series(
        [start_loss_status(s, threshold) for s in shares.values()], dtype=object
    )
    return table


def with_flatness(curv: pd.DataFrame, flat: pd.DataFrame) -> pd.DataFrame:
    """The per-victim curvature rows of ``landscapes.landscape_tables`` with the target-free flatness's twin
    rows (``flatness.flatness_rows`` of the same models) appended as loss ``CHANGE``, carrying each model's
    identifying columns (taken from its curvature rows; ``l0`` NaN)."""
    if not len(flat):
        return curv
    info_cols = [c for c in curv.columns if c not in CURVE_VALUES]
    info = curv.drop_duplicates("key")[
        [c for c in info_cols if c not in ("loss", "victim")]
    ]
    rows = as_curvature_rows(flat).drop(columns=["experiment"], errors="ignore")
    rows = rows.drop(
        columns=[c for c in info.columns if c in rows.columns and c != "key"]
    ).merge(info, on="key", how="inner")
    return pd.concat([curv, rows.assign(l0=np.nan)], ignore_index=True)


CURVE_VALUES = (  # the value columns of a curvature row (the rest identify the model)
    "largest",
    "smallest",
    "spectral",
    "eig_converged",
    "eig_residual",
    "trace",
    "trace_stderr",
    "frobenius",
    "n_hvp",
    "l0",
    "seconds",
)


def start_links(
    pooled: Mapping[str, pd.DataFrame], n_boot: int = 2000, seed: int = 0
) -> pd.DataFrame:
    """How tied each flatness is to where the attack starts: per name of ``pooled`` (``pooled_models``
    tables), Spearman's rho of the flatness's rank with L_start's rank over the pooled rows, with its
    bootstrap 95 % interval (``stats.partial_spearman``) and the row count."""
    rows = []
    for name, table in pooled.items():
        rho, lo, hi = partial_spearman(
            table["flatness_pct"].to_numpy(float),
            table["l_start_1e-7_pct"].to_numpy(float),
            [],
            n_boot=n_boot,
            seed=seed,
        )
        rows.append(
            {"flatness": name, "rho": rho, "lo": lo, "hi": hi, "models": len(table)}
        )
    return pd.DataFrame(rows)


def drivers_study(
    profile: Profile,
    store: ResultStore,
    device: str,
    chosen: pd.DataFrame,
    models: list[tuple[str, str, Run]],
) -> dict:
    """The part's results in one call (the chapter and the findings page share it), for ``sep.method``:
    every ``book_models`` model's prototype attack (``relation``) and landscape (``per_model``; per-victim
    ``curvature``), the pooled models and their ``correlations`` and ``verdict`` (flatness: ``FLATNESS``, the
    target-free ||G|| at the landscape twin's beta), and the same over the landscape victims'
    pairs within each model (``pairs``, ``pair_correlations``, ``pair_verdict``; ``within``: per-model rank
    correlations over every pair). ``shares``: ``share_table`` of log L_start's share of log L_end's variance
    across models (``MODELS``) and across every label-kept pair within each model (``PAIRS``), each with its
    start-loss status against ``drivers.start_share_threshold``; ``flatness_role``, ``pair_flatness_role``:
    ``analysis.verdicts.flatness_role`` at both levels. The flatness is ``FLATNESS`` (target-free; its
    per-victim rows are appended to ``curvature`` with loss ``CHANGE``); ``old_correlations``,
    ``old_verdict``, ``old_flatness_role`` and ``old_pair_*``: the same readings with ``OLD_FLATNESS``
    (secondary; across pairs, the old per-victim spectral norm);
    ``start_links``: ``start_links`` of both."""
    runs = book_models(profile, chosen, models, store, device)
    relation = relation_table(
        profile, store, device, (profile.sep.method,), runs, progress=False
    )
    flat, curv, _ = landscape_tables(profile, store, device, runs, progress=False)
    curv = with_flatness(
        curv,
        flatness_rows(profile, store, device, runs, profile.landscape.softplus_beta),
    )
    models = per_model(flat, curv)
    pooled = pooled_models(
        relation, models, FLATNESS, within=("experiment", "explanation")
    )
    corr = driver_correlations(pooled)
    old_pooled = pooled_models(
        relation, models, OLD_FLATNESS, within=("experiment", "explanation")
    )
    old_corr = driver_correlations(old_pooled)
    victims = {
        n: victim_pairs(
            prototype_pairs(profile, n, store, device), profile.landscape.victims, n
        )
        for n in dict.fromkeys(relation["experiment"])
    }
    pairs = pair_table(relation, pair_flatness(curv, victims, loss=CHANGE))
    on_victims = with_ranks(
        pairs[np.isfinite(pairs["flatness"])].reset_index(drop=True),
        ("key", "explanation"),
    )
    pair_corr = driver_correlations(on_victims)
    old_pairs = pair_table(relation, pair_flatness(curv, victims, loss="expl_twin"))
    old_pair_corr = driver_correlations(
        with_ranks(
            old_pairs[np.isfinite(old_pairs["flatness"])].reset_index(drop=True),
            ("key", "explanation"),
        )
    )
    # the seed is the unit (issue 30): each seed's share, a t-interval over the seeds
    seed_of = pooled[["key", "seed"]].drop_duplicates("key")
    shares = share_table(
        {
            MODELS: seed_variance_shares(pooled),
            PAIRS: seed_variance_shares(
                pairs.merge(seed_of, on="key", how="inner"),
                within=("key", "explanation"),
                cluster=("experiment", "pair"),
                strata=("experiment",),
            ),
        },
        profile.drivers.start_share_threshold,
    )
    return {
        "runs": runs,
        "relation": relation,
        "per_model": models,
        "curvature": curv,
        "pooled": pooled,
        "correlations": corr,
        "verdict": driver_verdict(corr),
        "pairs": pairs,
        "within": within_model(pairs),
        "pair_correlations": pair_corr,
        "pair_verdict": driver_verdict(pair_corr),
        "shares": shares,
        "flatness_role": flatness_role(corr),
        "pair_flatness_role": flatness_role(pair_corr),
        "old_correlations": old_corr,
        "old_verdict": driver_verdict(old_corr),
        "old_flatness_role": flatness_role(old_corr),
        "old_pair_correlations": old_pair_corr,
        "old_pair_verdict": driver_verdict(old_pair_corr),
        "old_pair_flatness_role": flatness_role(old_pair_corr),
        "start_links": start_links({"flatness": pooled, "old": old_pooled}),
    }


PAPER_COUNT = (
    22,
    24,
)  # the paper's text: the methods rank the same by L_start as by L_end "in 22 of 24 cells"
AGREEMENT_READINGS = ("positions", "order", "pairs")


@dataclass
class PaperAgreement:
    """The paper's "22 of 24" recomputed from its main table (``paper_start_agreement``): (agreeing, total)
    by each reading of "the same" (``stats.rank_agreement``): ``positions``, (block, method) cells with the same
    rank position (the paper's count); ``order``, blocks whose whole order agrees; ``pairs``, pairs of methods
    ordered the same way. ``blocks``: the table's (dataset, model) blocks; ``block_size``: the most methods in
    one; ``paper_count``: the paper's own count."""

    positions: tuple[int, int]
    order: tuple[int, int]
    pairs: tuple[int, int]
    blocks: int
    block_size: int
    paper_count: tuple[int, int] = PAPER_COUNT

    @property
    def matches_paper(self) -> bool:
        """Whether counting rank positions gives the paper's count (so that is how it counted)."""
        return tuple(self.positions) == tuple(self.paper_count)


def paper_start_agreement(paper: pd.DataFrame) -> PaperAgreement:
    """How often ranking the paper's four methods by L_start agrees with ranking them by L_end, per
    (dataset, model) block of its main table (``paper_table.csv``), by the three readings."""
    args = (paper, ["dataset", "model"], "method", "l_start_1e-7", "l_end_1e-7")
    counts = {mode: rank_agreement(*args, mode=mode) for mode in AGREEMENT_READINGS}
    blocks = paper.groupby(["dataset", "model"])
    return PaperAgreement(
        **counts, blocks=blocks.ngroups, block_size=int(blocks.size().max())
    )


@dataclass
class DriverReading:
    """Start loss against flatness over a set of models: the ``pooled`` rows (percentile ranks within
    experiment and method), their ``correlations`` (``driver_correlations``) and the ``verdict``
    (``analysis.verdicts.driver_verdict``), the start-loss ``shares`` (``share_table``) and
    ``flatness_role`` (``analysis.verdicts.flatness_role``)."""

    pooled: pd.DataFrame
    correlations: pd.DataFrame
    verdict: str
    shares: pd.DataFrame | None = None
    flatness_role: str = ""


def driver_reading(
    relation: pd.DataFrame,
    per_model_table: pd.DataFrame,
    threshold: float = DriversSettings.start_share_threshold,
) -> DriverReading:
    """``DriverReading`` of the models of a relation table (an attack's L_start, L_end and relative
    reduction, e.g. the fixed-budget attack's) with their flatness from ``per_model_table`` (``FLATNESS``),
    the start-loss share across the models (``share_table``, one row ``MODELS``, status against
    ``threshold``: the profile's ``drivers.start_share_threshold``) and flatness's role."""
    pooled = pooled_models(
        relation, per_model_table, FLATNESS, within=("experiment", "explanation")
    )
    corr = driver_correlations(pooled)
    shares = share_table({MODELS: seed_variance_shares(pooled)}, threshold)
    return DriverReading(
        pooled, corr, driver_verdict(corr), shares, flatness_role(corr)
    )


@dataclass
class DriversResult:
    """Everything the drivers chapter shows of start loss against flatness (``drivers_result``): the fields of
    ``drivers_study`` (``runs``, ``relation``, ``per_model``, ``curvature``, ``pooled``, ``correlations``,
    ``verdict``, ``pairs``, ``within``, ``pair_correlations``, ``pair_verdict``, ``shares``,
    ``flatness_role``, ``pair_flatness_role``, ``old_correlations``, ``old_verdict``,
    ``old_flatness_role``, ``start_links``, ``old_pair_correlations``, ``old_pair_verdict``,
    ``old_pair_flatness_role``; ``start_status`` and ``pair_start_status`` read ``shares``),
    ``within_summary`` of
    ``within``, and the paper's own count recomputed (``paper``, when its table was given)."""

    runs: list[Run]
    relation: pd.DataFrame
    per_model: pd.DataFrame
    curvature: pd.DataFrame
    pooled: pd.DataFrame
    correlations: pd.DataFrame
    verdict: str
    pairs: pd.DataFrame
    within: pd.DataFrame
    within_summary: pd.DataFrame
    pair_correlations: pd.DataFrame
    pair_verdict: str
    shares: pd.DataFrame
    flatness_role: str
    pair_flatness_role: str
    paper: PaperAgreement | None = None
    old_correlations: pd.DataFrame | None = None
    old_verdict: str = ""
    old_flatness_role: str = ""
    start_links: pd.DataFrame | None = None
    old_pair_correlations: pd.DataFrame | None = None
    old_pair_verdict: str = ""
    old_pair_flatness_role: str = ""
    scale: pd.DataFrame | None = (
        None  # ``pipeline.scale.scale_table`` of the models whose weights are at hand
    )
    scale_shares: dict | None = (
        None  # ``variance_shares`` of ``scale``: concentration, distance, r
    )
    scale_carrier: str | None = (
        None  # ``analysis.verdicts.scale_carrier`` of ``scale_shares``
    )

    @property
    def start_status(self) -> str | None:
        """The start-loss status across models (``shares``)."""
        return self.shares.set_index("level").loc[MODELS, "status"]

    @property
    def pair_start_status(self) -> str | None:
        """The start-loss status across the pairs within a model (``shares``)."""
        return self.shares.set_index("level").loc[PAIRS, "status"]


def drivers_result(
    profile: Profile,
    store: ResultStore,
    device: str,
    chosen: pd.DataFrame,
    models: list[tuple[str, str, Run]] | None = None,
    paper: pd.DataFrame | None = None,
) -> DriversResult:
    """The drivers chapter's start-loss analysis in one call: ``chosen`` is ``analysis.verdicts.choose``'s table
    (the SEP chapter's choice), ``models`` its ``chapter_models`` (computed when not given), ``paper`` the
    paper's main table (``paper_table.csv``) for its "22 of 24". The scale of L_start is taken apart on the
    models whose weights are at hand (``pipeline.scale``; on the published snapshot, the first seed's
    shipped models), so that reading it retrains nothing."""
    if models is None:
        models = chapter_models(profile, chosen, store, device)
    d = drivers_study(profile, store, device, chosen, models)
    at_hand = [r for r in d["runs"] if weights_at_hand(r, store)]
    scale = scale_table(profile, store, device, at_hand, d["relation"])
    shares = variance_shares(scale) if len(scale) else None
    return DriversResult(
        **d,
        within_summary=within_summary(d["within"]),
        paper=None if paper is None else paper_start_agreement(paper),
        scale=scale,
        scale_shares=shares,
        scale_carrier=(
            scale_carrier(shares, profile.drivers.scale_zone) if shares else None
        ),
    )


def flatness_tasks(profile: Profile, store: ResultStore, device: str) -> list[Task]:
    """The target-free flatness (``pipeline.flatness``, landscape twin's beta) of every pooled model the
    curvature stage does not measure: the robustness sweep's models outside the SEP chapter, and the
    cross-method SEP models (``drivers.cross_method`` on ``drivers.cross_experiments``, every seed; a
    collapsed one is not needed)."""
    chapter = {
        model_key(m.run)
        for m in chapter_model_slots(profile, store, device)
        if m.run is not None
    }
    tasks = [
        flatness_task(
            profile, "flatness", r.label, lambda r=r: r, lambda r=r: r, store, device
        )
        for r in sweep_runs(profile)
        if model_key(r) not in chapter
    ]
    d = profile.drivers
    if not d.cross_experiments:
        return tasks
    slot = ChosenSlots(profile, store, device)
    for a in sep_slots(profile, list(d.cross_experiments), (base_role(profile),)):
        tasks.append(
            flatness_task(
                profile,
                "flatness",
                f"{a[0]} {a[2]} ({d.cross_method}) seed {a[1]}",
                lambda a=a: stored_live(slot(*a, method=d.cross_method), store),
                lambda a=a: live_after_training(
                    slot(*a, compute=True, method=d.cross_method), store, device
                ),
                store,
                device,
            )
        )
    return tasks
