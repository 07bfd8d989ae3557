"""Explanation robustness over the robustness sweep, measured on prototype pairs, and the check of that
measurement against all pairs.

``prototype_pairs`` fixes one set of victim-target pairs per experiment (k-means on the features of the
standard model of the first seed, or on pixels) and stores it; ``measure_model`` attacks those pairs on one
model (cached per model, pairs and attack settings); ``relation_table`` does this for every model of the
sweep and joins clean and PGD accuracy; ``validate_prototypes`` compares the prototype estimate with the
all-pairs value and with random subsets of equal cost; ``validation_result`` gathers that check over every
validated experiment (what chapter 3 and the findings page show of it) and ``prototype_result`` every table
and verdict of chapter 3. Run everything from the shell with
``python -m lib.studies.prototypes --profile cpu`` (the chapter calls the same functions and finds the cache).
"""

from __future__ import annotations

import functools
import time
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd
import torch
from scipy import stats
from tqdm.std import tqdm

from lib.analysis.stats import correlation_table, reading
from lib.analysis.verdicts import disagreements, validation_verdicts
from lib.core.errors import ConfigError
from lib.core.profile import Profile
from lib.core.schema import to_dict
from lib.core.store import ResultStore
from lib.measure.explain import explanation_map
from lib.measure.manipulate import (
    ManipulationConfig,
    ManipulationResult,
    cached_manipulation,
    manipulate,
    manipulation_config,
)
from lib.measure.prototypes import (
    ROBUST_SIGN,
    ROBUSTNESS_MEASURES,
    cluster_map_distances,
    select_pairs,
)
from lib.pipeline.cli import load, stage_parser, user_errors
from lib.pipeline.evaluation import model_key
from lib.pipeline.explanation_attack import (
    attack_config,
    attack_runs,
    evaluation_images,
    features_for,
    motivation_pairs,
    prototype_pairs,
    relation_table,
)
from lib.pipeline.roster import (
    motivation_runs,
    reference_run,
    showcase_runs,
    validation_experiments,
    validation_runs,
)
from lib.pipeline.runs import Run
from lib.pipeline.task import Task
from lib.pipeline.training import TrainedModel, get_model


def correlations(
    table: pd.DataFrame,
    measures: tuple[str, ...] = tuple(ROBUSTNESS_MEASURES),
    against: tuple[str, ...] = ("beta", "pgd_acc"),
) -> pd.DataFrame:
    """Spearman correlation with a bootstrap interval of each explanation measure against beta (TRADES
    models; MAT has no beta and is left out) and against PGD accuracy (every model), per experiment and
    explanation method, with the reading: explanation robustness "rises" with classification robustness when
    the interval lies entirely on the robust side, "falls" when entirely on the other, else no clear
    relation (L_start: "rises"/"falls" is its own direction)."""
    corr = correlation_table(table, ["experiment", "explanation"], against, measures)
    corr = corr.rename(columns={"x": "against", "y": "measure", "n": "models"})
    corr["reading"] = [
        reading(r.lo, r.hi, "rises", "falls", ROBUST_SIGN[r.measure], r.models)
        for r in corr.itertuples()
    ]
    return corr


def table_by_kind(table: pd.DataFrame) -> pd.DataFrame:
    """The analogue of the paper's Table 1: means over seeds per experiment, explanation method and kind of
    model, with the standard deviation over seeds (missing for one seed) and the number of seeds."""
    cols = [
        "l_start_1e-7",
        "l_end_1e-7",
        "l_end_1e-7_all",
        "relative_reduction",
        "spearman_to_target",
        "clean_acc",
        "pgd_acc",
        "label_kept",
        "plateaued",
    ]
    agg = {c: (c, "mean") for c in cols}
    agg["flipped"] = ("flipped", "sum")
    agg.update(
        {
            "family": ("family", "first"),
            "beta": ("beta", "first"),
            "l_end_sd": ("l_end_1e-7", "std"),
            "relative_reduction_sd": ("relative_reduction", "std"),
            "seeds": ("seed", "count"),
        }
    )
    return (
        table.groupby(["experiment", "explanation", "kind"], sort=False)
        .agg(**agg)
        .reset_index()
    )


def cluster_distance_table(
    profile: Profile,
    store: ResultStore,
    device: str,
    runs: dict[str, Run],
    batch: int = 250,
    draws: int = 20000,
) -> tuple[pd.DataFrame, dict]:
    """For each labelled run (its experiment's clusters) and explanation method: the distribution of map MSE
    (1e-7) between images of the same cluster and of different clusters, summarised (medians, IQRs, their
    ratio, and P(intra < inter) from ``draws`` random draws of each); plus the raw distances by row label."""
    rows, raw = [], {}
    for label, run in runs.items():
        x, _ = evaluation_images(profile, run.experiment)
        pairs = prototype_pairs(profile, run.experiment, store, device)
        model = get_model(run.spec, store, device, progress=False).model
        for method in profile.prototypes.methods:
            maps = torch.cat(
                [
                    explanation_map(model, x[i : i + batch].to(device), method)
                    .detach()
                    .cpu()
                    for i in range(0, len(x), batch)
                ]
            )
            intra, inter = cluster_map_distances(maps, pairs.cluster_of)
            raw[(run.experiment, label, method)] = (intra, inter)
            p_closer = np.mean(
                np.random.default_rng(0).choice(intra, draws)
                < np.random.default_rng(1).choice(inter, draws)
            )
            rows.append(
                {
                    "experiment": run.experiment,
                    "model": label,
                    "explanation": method,
                    "intra_median": np.median(intra),
                    "intra_iqr": np.subtract(*np.percentile(intra, [75, 25])),
                    "inter_median": np.median(inter),
                    "inter_iqr": np.subtract(*np.percentile(inter, [75, 25])),
                    "ratio": np.median(inter) / np.median(intra),
                    "p_intra_closer": float(p_closer),
                }
            )
    return pd.DataFrame(rows), raw


def cluster_purity(
    profile: Profile, experiment: str, store: ResultStore, device: str
) -> float:
    """Mean over clusters of the share of a cluster's images that carry its most common label."""
    _, y = evaluation_images(profile, experiment)
    pairs = prototype_pairs(profile, experiment, store, device)
    members = [
        np.flatnonzero(pairs.cluster_of == c)
        for c in range(profile.prototypes.n_clusters)
    ]
    return float(
        np.mean([np.bincount(y[m].numpy()).max() / len(m) for m in members if len(m)])
    )


def nearest_members(
    profile: Profile,
    experiment: str,
    store: ResultStore,
    device: str,
    per_cluster: int = 3,
) -> list[np.ndarray]:
    """For each cluster, the indices of its ``per_cluster`` images nearest its centroid (the first is the
    prototype), in the clustering's feature space."""
    x, _ = evaluation_images(profile, experiment)
    pairs = prototype_pairs(profile, experiment, store, device)
    feats = features_for(profile, experiment, x, store, device)
    out = []
    for c in range(profile.prototypes.n_clusters):
        m = np.flatnonzero(pairs.cluster_of == c)
        order = m[
            np.argsort(
                np.linalg.norm(feats[m] - feats[m].mean(0), axis=1), kind="stable"
            )
        ]
        out.append(order[:per_cluster])
    return out


@dataclass
class Validation:
    """All-pairs values, prototype estimates (one per k-means seed) and random-subset estimates (one per
    resample) of mean L_end and mean relative reduction, for each validated model."""

    models: (
        pd.DataFrame
    )  # one row per model: describe() fields, all-pairs means, seconds
    prototype: dict[str, np.ndarray]  # measure -> (models, kmeans_seeds)
    random: dict[str, np.ndarray]  # measure -> (models, resamples)
    all_pairs: dict[str, np.ndarray]  # measure -> (models,)
    n_images: int
    n_pairs_all: int
    n_pairs_subset: int


def validation_pool(profile: Profile, experiment: str) -> np.ndarray:
    """Seeded indices of the ``n_images`` test images whose all pairs are attacked."""
    v = profile.prototypes.validation
    x, _ = evaluation_images(profile, experiment)
    if v.n_images > len(x):
        raise ConfigError(
            f"prototypes.validation.n_images={v.n_images} is not allowed: the test subset has only "
            f"{len(x)} images"
        )
    return np.sort(
        np.random.default_rng(v.image_seed).choice(len(x), v.n_images, replace=False)
    )


def all_ordered_pairs(n: int) -> tuple[np.ndarray, np.ndarray]:
    i, j = np.meshgrid(np.arange(n), np.arange(n), indexing="ij")
    keep = i != j
    return i[keep], j[keep]


def validation_ids(
    profile: Profile, experiment: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict]:
    """The validation pool, its ordered pairs (indices into the pool) and the id naming them in store keys."""
    exp = profile.experiment(experiment)
    pool = validation_pool(profile, experiment)
    vi, ti = all_ordered_pairs(len(pool))
    ids = {
        "dataset": exp.data.name,
        "n_test": exp.eval.n,
        "subset_seed": exp.data.subset_seed,
        "pool": pool.tolist(),
        "all_pairs": True,
    }
    return pool, vi, ti, ids


def validation_attack(
    profile: Profile,
    store: ResultStore,
    device: str,
    run: Run,
    method: str,
    progress: bool = False,
) -> tuple[ManipulationResult, float]:
    """The attack on all ordered pairs of the validation pool for one model (cached)."""
    x, _ = evaluation_images(profile, run.experiment)
    pool, vi, ti, ids = validation_ids(profile, run.experiment)
    trained = get_model(run.spec, store, device, progress=progress)
    return cached_manipulation(
        store,
        trained.entry.key,
        ids,
        lambda: trained.model,
        x[pool][vi].to(device),
        x[pool][ti].to(device),
        attack_config(profile, method),
        progress=progress,
    )


def validate_prototypes(
    profile: Profile,
    store: ResultStore,
    device: str,
    method: str = "gradient",
    experiment: str | None = None,
    progress: bool = True,
) -> Validation:
    """Attack all ordered pairs of a small pool on every first-seed model of ``experiment`` (default: the
    first validation experiment); then compare the prototype rule (inside the pool, for several k-means seeds)
    and random subsets of the same size with the all-pairs mean."""
    v = profile.prototypes.validation
    name = experiment or validation_experiments(profile)[0]
    exp = profile.experiment(name)
    x, _ = evaluation_images(profile, name)
    pool, vi, ti, ids = validation_ids(profile, name)
    xp = x[pool]
    index = {(a, b): k for k, (a, b) in enumerate(zip(vi, ti))}
    features = features_for(profile, name, xp, store, device)
    proto_sets = []
    for s in range(v.kmeans_seeds):
        p = select_pairs(
            features,
            v.n_clusters,
            v.victims_per_cluster,
            s,
            exp.data.name,
            xp,
            v.targets_per_victim,
            profile.prototypes.pairing,
        )
        proto_sets.append(
            np.array([index[(a, b)] for a, b in zip(p.victims, p.targets)])
        )
    m = len(proto_sets[0])
    rng = np.random.default_rng(v.image_seed)
    random_sets = np.stack(
        [rng.choice(len(vi), m, replace=False) for _ in range(v.resamples)]
    )
    runs = validation_runs(profile, name)
    rows, per_pair = [], {"l_end_1e-7": [], "relative_reduction": []}
    for run in tqdm(
        runs, desc=f"all {len(vi)} pairs of {len(pool)} images", disable=not progress
    ):
        result, seconds = validation_attack(
            profile, store, device, run, method, progress
        )
        l_start, l_end = (
            result.l_start.cpu().numpy() * 1e7,
            result.l_end.cpu().numpy() * 1e7,
        )
        per_pair["l_end_1e-7"].append(l_end)
        per_pair["relative_reduction"].append((l_start - l_end) / l_start)
        rows.append(
            {
                **run.describe(),
                "seconds": seconds,
                "l_end_1e-7": l_end.mean(),
                "relative_reduction": per_pair["relative_reduction"][-1].mean(),
                "label_kept": float(result.label_kept.float().mean()),
            }
        )
    arrays = {k: np.stack(vals) for k, vals in per_pair.items()}  # (models, pairs)
    return Validation(
        models=pd.DataFrame(rows),
        prototype={
            k: np.stack([a[:, s].mean(1) for s in proto_sets], axis=1)
            for k, a in arrays.items()
        },
        random={
            k: np.stack([a[:, s].mean(1) for s in random_sets], axis=1)
            for k, a in arrays.items()
        },
        all_pairs={k: a.mean(1) for k, a in arrays.items()},
        n_images=len(pool),
        n_pairs_all=len(vi),
        n_pairs_subset=m,
    )


def validation_summary(val: Validation) -> pd.DataFrame:
    """Per measure and estimator: relative error against all pairs (median and 95 % range over k-means seeds
    or resamples, pooled over models) and the Spearman correlation of the models' ranking with the all-pairs
    ranking (median and 95 % range)."""
    rows = []
    for measure, truth in val.all_pairs.items():
        for label, est in (
            ("prototypes", val.prototype[measure]),
            ("random subset", val.random[measure]),
        ):
            err = np.abs(est - truth[:, None]) / np.abs(truth[:, None])
            rhos = np.array(
                [
                    stats.spearmanr(est[:, j], truth).statistic
                    for j in range(est.shape[1])
                ]
            )
            rows.append(
                {
                    "measure": measure,
                    "estimator": label,
                    "draws": est.shape[1],
                    "rel_error_median": float(np.median(err)),
                    "rel_error_q2.5": float(np.quantile(err, 0.025)),
                    "rel_error_q97.5": float(np.quantile(err, 0.975)),
                    "bias": float(
                        np.mean((est - truth[:, None]) / np.abs(truth[:, None]))
                    ),
                    "rank_rho_median": float(np.nanmedian(rhos)),
                    "rank_rho_q2.5": float(np.nanquantile(rhos, 0.025)),
                    "rank_rho_q97.5": float(np.nanquantile(rhos, 0.975)),
                    "rank_exact": float(np.nanmean(rhos > 0.999)),
                }
            )
    return pd.DataFrame(rows)


@dataclass
class ValidationResult:
    """The prototype estimate checked against all pairs on every validated experiment: the raw estimates per
    experiment, their summary (one row per experiment, measure and estimator; ``measure`` is the key, e.g.
    ``l_end_1e-7``, ``measure_name`` its human name) and ``analysis.verdicts.validation_verdicts`` of it."""

    validations: dict[
        str, Validation
    ]  # experiment -> Validation, in the profile's order
    summary: pd.DataFrame
    verdicts: pd.DataFrame

    @property
    def attack_seconds(self) -> float:
        """Wall time of the all-pairs attacks, summed over experiments and models."""
        return float(sum(v.models["seconds"].sum() for v in self.validations.values()))


def validation_result(
    profile: Profile, store: ResultStore, device: str, method: str | None = None
) -> ValidationResult:
    """``validate_prototypes`` on every validation experiment (the profile's first explanation method unless
    ``method``), summarised together and read by ``validation_verdicts``: what chapter 3 and the findings
    page show of the validation."""
    method = method or profile.prototypes.methods[0]
    vals = {
        n: validate_prototypes(profile, store, device, method, n, progress=False)
        for n in validation_experiments(profile)
    }
    summary = pd.concat(
        [validation_summary(v).assign(experiment=n) for n, v in vals.items()],
        ignore_index=True,
    )
    summary["measure_name"] = summary["measure"].map(ROBUSTNESS_MEASURES)
    summary["rho_range"] = [
        f"[{a:.2f}, {b:.2f}]"
        for a, b in zip(summary["rank_rho_q2.5"], summary["rank_rho_q97.5"])
    ]
    return ValidationResult(vals, summary, validation_verdicts(summary))


def attack_timing(
    model: torch.nn.Module,
    x: torch.Tensor,
    pair_counts: tuple[int, ...],
    steps: int,
    cfg: ManipulationConfig,
    progress: bool = False,
) -> pd.DataFrame:
    """Marginal seconds per attack step for batches of each size: (time of 2 * steps - time of steps) / steps,
    which removes the attack's fixed set-up (start and end maps, the softplus twin). Pairs are drawn by
    cycling through ``x``."""
    rows = []
    for n in tqdm(pair_counts, desc="attack timing", disable=not progress):
        idx = torch.arange(n) % len(x)
        x_v, x_t = x[idx], x[(idx + 1) % len(x)]
        manipulate(
            model, x_v[:1], x_t[:1], replace(cfg, steps=1, window=1, trace_steps=())
        )  # warm-up
        seconds = []
        for k in (steps, 2 * steps):
            t0 = time.perf_counter()
            manipulate(model, x_v, x_t, replace(cfg, steps=k, window=k, trace_steps=()))
            seconds.append(time.perf_counter() - t0)
        rows.append(
            {
                "pairs": n,
                "seconds_per_step": max(seconds[1] - seconds[0], 1e-9) / steps,
                "fixed_seconds": max(2 * seconds[0] - seconds[1], 0.0),
            }
        )
    return pd.DataFrame(rows)


def timing_config(profile: Profile, device: str) -> dict:
    """What the stored attack timing depends on: the reference model, the batch sizes, the attack, the
    device and the profile's thread count (which ``setup_runtime`` applies; the key is read from the
    configuration, not from the process, so checking a snapshot does not depend on the caller's threads)."""
    v = profile.prototypes.validation
    name = validation_experiments(profile)[0]
    return {
        "model_key": model_key(reference_run(profile, name)),
        "pairs": list(v.timing_pairs),
        "steps": v.timing_steps,
        "attack": to_dict(attack_config(profile, profile.prototypes.methods[0])),
        "device": device,
        "threads": profile.threads,
        "rule": "marginal",
    }


def cached_timing(profile: Profile, store: ResultStore, device: str) -> pd.DataFrame:
    """``attack_timing`` on the validation experiment's standard model, stored so a rebuild reuses it."""
    v = profile.prototypes.validation
    name = validation_experiments(profile)[0]
    trained = get_model(
        reference_run(profile, name).spec, store, device, progress=False
    )
    cfg = attack_config(profile, profile.prototypes.methods[0])
    entry = store.entry("timings", timing_config(profile, device)).ensure()
    x, _ = evaluation_images(profile, name)
    rows = entry.get_or_compute_json(
        "timing.json",
        lambda: attack_timing(
            trained.model, x.to(device), v.timing_pairs, v.timing_steps, cfg
        ).to_dict("records"),
    )
    return pd.DataFrame(rows)


def attack_seconds(timing: pd.DataFrame, pairs: np.ndarray, steps: int) -> np.ndarray:
    """Extrapolated wall time of an attack of ``steps`` steps on ``pairs`` pairs from measured marginal step
    times: interpolated within the measured batch sizes, linear in pairs beyond the largest."""
    t = timing.sort_values("pairs")
    pairs = np.asarray(pairs, float)
    rate = (
        t["seconds_per_step"].iloc[-1] / t["pairs"].iloc[-1]
    )  # seconds per pair-step at the largest batch
    small = np.interp(pairs, t["pairs"], t["seconds_per_step"])
    return np.where(pairs <= t["pairs"].max(), small, pairs * rate) * steps


def short_attack(
    profile: Profile, store: ResultStore, device: str, trained: TrainedModel, pairs
) -> ManipulationResult:
    """The prototype attack's settings on the motivation pairs, for one model (cached)."""
    cfg = attack_config(profile, profile.manipulation.method)
    return cached_manipulation(
        store,
        trained.entry.key,
        pairs.ids,
        lambda: trained.model,
        pairs.x_victims,
        pairs.x_targets,
        cfg,
        progress=False,
    )[0]


def short_attack_check(
    profile: Profile, store: ResultStore, device: str
) -> pd.DataFrame:
    """The prototype attack (fewer steps, larger step size) against the full-length attack of the motivation
    chapter, on the same pairs and models: mean L_end and relative reduction of each, their ratio and the
    per-pair Spearman correlation of the two L_end."""
    models, pairs, full, _ = attack_runs(profile, store, device, progress=False)
    rows = []
    for label, trained in models.items():
        short = short_attack(profile, store, device, trained, pairs)
        fe, se = full[label].l_end.cpu().numpy() * 1e7, short.l_end.cpu().numpy() * 1e7
        fs = full[label].l_start.cpu().numpy() * 1e7
        rows.append(
            {
                "model": label,
                "l_end_full": fe.mean(),
                "l_end_short": se.mean(),
                "ratio": se.mean() / fe.mean(),
                "relative_reduction_full": np.mean((fs - fe) / fs),
                "relative_reduction_short": np.mean((fs - se) / fs),
                "per_pair_spearman": float(stats.spearmanr(fe, se).statistic),
            }
        )
    return pd.DataFrame(rows)


def settings_table(profile: Profile) -> pd.DataFrame:
    """The prototype settings of ``profile``, one row per setting (``setting``, ``value``)."""
    proto, M = profile.prototypes, profile.manipulation
    rows = [
        (
            "features",
            f"{proto.features} (reference: standard model, seed {profile.seeds[0]})",
        ),
        ("clusters (k)", proto.n_clusters),
        ("victims per cluster", proto.victims_per_cluster),
        ("targets per victim", f"{proto.targets_per_victim} ({proto.pairing})"),
        ("pairs per model", pairs_per_model(profile)),
        (
            "attack",
            f"{proto.steps} steps, lr {proto.lr:g} (reference: {M.steps} steps, lr {M.lr:g})",
        ),
        ("explanation methods", ", ".join(proto.methods)),
    ]
    return pd.DataFrame(rows, columns=["setting", "value"])


def pairs_per_model(profile: Profile) -> int:
    proto = profile.prototypes
    return proto.n_clusters * proto.victims_per_cluster * proto.targets_per_victim


def cluster_examples(
    profile: Profile,
    experiment: str,
    store: ResultStore,
    device: str,
    method: str = "gradient",
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Per cluster of ``experiment``: its images nearest the centroid (``nearest_members``; (n, H, W) or
    (n, H, W, C) in [0, 1]) and their ``method`` maps (n, H, W) on the reference network."""
    x, _ = evaluation_images(profile, experiment)
    reference = get_model(
        reference_run(profile, experiment).spec, store, device, progress=False
    ).model
    out = []
    for idx in nearest_members(profile, experiment, store, device):
        xi = x[idx].to(device)
        maps = explanation_map(reference, xi, method).detach().cpu().numpy()
        out.append((xi.cpu().permute(0, 2, 3, 1).squeeze(-1).numpy(), maps))
    return out


def distance_runs(profile: Profile) -> dict[str, Run]:
    """The models whose map distances the chapter splits by cluster: per experiment, the standard model and
    the most robust of the showcase (MAT where swept), labelled '<experiment>: <label>'."""
    chosen = {}
    for name in profile.run:
        show = showcase_runs(profile, name)
        chosen.update(
            {f"{name}: {label}": show[label] for label in ("standard", list(show)[-1])}
        )
    return chosen


COST_IMAGES = (5, 10, 20, 50, 100, 200, 500, 1000)


def cost_table(
    timing: pd.DataFrame, n_pairs: int, steps: int, images=COST_IMAGES
) -> pd.DataFrame:
    """Per number of images n: the attacks per model of all ordered pairs (n(n-1)) and of the prototypes
    (``n_pairs``), and their extrapolated seconds (``attack_seconds``) at ``steps`` steps."""
    n = np.asarray(images)
    return pd.DataFrame(
        {
            "images": n,
            "attacks_all": n * (n - 1),
            "attacks_prototypes": np.full(len(n), n_pairs),
            "seconds_all": attack_seconds(timing, n * (n - 1), steps),
            "seconds_prototypes": attack_seconds(
                timing, np.full(len(n), n_pairs), steps
            ),
        }
    )


@dataclass
class PrototypeResult:
    """Every table and verdict of the prototype chapter."""

    settings: pd.DataFrame  # settings_table
    n_pairs: int  # prototype pairs per model
    cluster_experiment: str  # the experiment whose clusters are shown
    clusters: list[tuple[np.ndarray, np.ndarray]]  # cluster_examples
    purity: float  # cluster_purity of cluster_experiment
    distances: pd.DataFrame  # cluster_distance_table: summary
    distance_samples: (
        dict  # cluster_distance_table: (experiment, model, method) -> (intra, inter)
    )
    validation: ValidationResult
    timing: pd.DataFrame  # cached_timing
    cost: pd.DataFrame  # cost_table
    short_check: pd.DataFrame  # short_attack_check
    table: pd.DataFrame  # relation_table: one row per model and explanation method
    by_kind: pd.DataFrame  # table_by_kind, with clean and pgd accuracy in percent
    correlations: pd.DataFrame  # correlations, with measure_name
    disagreements: list[str]  # analysis.verdicts.disagreements

    @property
    def vs_pgd(self) -> pd.DataFrame:
        """The correlations against PGD accuracy."""
        return self.correlations[self.correlations["against"] == "pgd_acc"]

    @property
    def start(self) -> pd.DataFrame:
        """The correlations of L_start against PGD accuracy."""
        return self.vs_pgd[self.vs_pgd["measure"] == "l_start_1e-7"]

    @property
    def short_same_order(self) -> bool:
        """Whether the short attack ranks the models by L_end as the full attack does."""
        c = self.short_check
        return c["l_end_full"].rank().tolist() == c["l_end_short"].rank().tolist()


def prototype_result(
    profile: Profile, store: ResultStore, device: str
) -> PrototypeResult:
    """The prototype chapter's results, each from the store where computed before: the clusters of the first
    experiment, map distances within and between clusters, the validation against all pairs, the attack
    timing, the short-attack check, the relation table over the sweep and its correlations."""
    name = profile.run[0]
    n_pairs = pairs_per_model(profile)
    clusters = cluster_examples(profile, name, store, device)
    purity = cluster_purity(profile, name, store, device)
    distances, samples = cluster_distance_table(
        profile, store, device, distance_runs(profile)
    )
    validation = validation_result(profile, store, device)
    timing = cached_timing(profile, store, device)
    check = short_attack_check(profile, store, device)
    table = relation_table(profile, store, device, progress=False)
    by_kind = table_by_kind(table)
    by_kind = by_kind.assign(
        clean=100 * by_kind["clean_acc"], pgd=100 * by_kind["pgd_acc"]
    )
    corr = correlations(table)
    corr["measure_name"] = corr["measure"].map(ROBUSTNESS_MEASURES)
    return PrototypeResult(
        settings=settings_table(profile),
        n_pairs=n_pairs,
        cluster_experiment=name,
        clusters=clusters,
        purity=purity,
        distances=distances,
        distance_samples=samples,
        validation=validation,
        timing=timing,
        cost=cost_table(timing, n_pairs, profile.prototypes.steps),
        short_check=check,
        table=table,
        by_kind=by_kind,
        correlations=corr,
        disagreements=disagreements(corr),
    )


def validation_tasks(profile: Profile, store: ResultStore, device: str) -> list[Task]:
    """The all-pairs attacks of the validation pool on each validated experiment's first-seed models, the
    attack timing, and the short-attack check."""
    tasks = []
    cfg = attack_config(profile, profile.prototypes.methods[0])
    ids_of = functools.cache(
        lambda name: validation_ids(profile, name)[3]
    )  # the pool once per plan
    motivation_ids = functools.cache(lambda: motivation_pairs(profile, "cpu").ids)
    for name in validation_experiments(profile):
        for run in validation_runs(profile, name):
            tasks.append(
                Task(
                    "validation",
                    f"{run.label} all pairs",
                    "manipulations",
                    "result.pt",
                    lambda run=run: manipulation_config(
                        model_key(run), ids_of(run.experiment), cfg
                    ),
                    lambda run=run: validation_attack(
                        profile, store, device, run, cfg.method
                    ),
                )
            )
    tasks.append(
        Task(
            "timing",
            "attack timing",
            "timings",
            "timing.json",
            lambda: timing_config(profile, device),
            lambda: cached_timing(profile, store, device),
        )
    )
    short_cfg = attack_config(profile, profile.manipulation.method)
    for run in motivation_runs(profile).values():
        tasks.append(
            Task(
                "short-check",
                f"{run.label} short attack",
                "manipulations",
                "result.pt",
                lambda run=run: manipulation_config(
                    model_key(run), motivation_ids(), short_cfg
                ),
                lambda run=run: short_attack(
                    profile,
                    store,
                    device,
                    get_model(run.spec, store, device, progress=False),
                    motivation_pairs(profile, device),
                ),
            )
        )
    return tasks


def main(argv: list[str] | None = None) -> None:

    parser = stage_parser(
        "Measure explanation robustness over a profile's sweep (prototype pairs), and "
        "validate the prototypes."
    )
    parser.add_argument(
        "--method",
        action="append",
        help="explanation method(s); default: the profile's",
    )
    parser.add_argument(
        "--part",
        action="append",
        choices=["relation", "validation", "timing"],
        help="what to compute (repeatable; default all, in the order relation, validation, timing)",
    )
    args = parser.parse_args(argv)
    parts = args.part or ["relation", "validation", "timing"]
    t0 = time.perf_counter()
    with user_errors():
        profile, device = load(args)
        store = ResultStore()
        methods = tuple(args.method or profile.prototypes.methods)
        for part in parts:
            if part == "relation":
                for method in (
                    methods
                ):  # one method over every model first: the headline result lands early
                    table = relation_table(profile, store, device, (method,))
                    print(table_by_kind(table).to_string())
            elif part == "validation":
                for name in validation_experiments(profile):
                    print(name)
                    print(
                        validation_summary(
                            validate_prototypes(
                                profile, store, device, methods[0], name
                            )
                        ).to_string()
                    )
            else:
                print(cached_timing(profile, store, device).to_string())
            print(f"{part} done at {time.perf_counter() - t0:.0f} s", flush=True)


if __name__ == "__main__":
    main()
