"""Explanation robustness over the robustness sweep, measured on prototype pairs, and the check of that
measurement against all pairs.

``prototype_pairs`` fixes one set of victim-target pairs per experiment (k-means on the features of the
standard model of the first seed, or on pixels) and stores it; ``measure_model`` attacks those pairs on one
model (cached per model, pairs and attack settings); ``relation_table`` does this for every model of the
sweep and joins clean and PGD accuracy; ``validate_prototypes`` compares the prototype estimate with the
all-pairs value and with random subsets of equal cost. Run everything from the shell with
``python -m lib.prototype_study --profile cpu`` (the chapter calls the same functions and finds the cache).
"""
from __future__ import annotations

import time
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd
import torch
from scipy import stats
from tqdm.std import tqdm

from .config import ConfigError, Profile, to_dict
from .data import load_dataset
from .manipulate import (ManipulationConfig, ManipulationResult, cached_manipulation, config_from_settings, log_steps,
                         manipulate)
from .prototypes import (Pairs, check_pairs_for, penultimate_features, rank_to_target, robustness_summary,
                         select_pairs)
from .store import ResultStore
from .sweep import describe, evaluate_model, sweep_specs
from .train import RunSpec, TrainedModel, get_model

PAIRS_CODE_VERSION = 1
PLATEAU_TOL = 0.01  # a pair has plateaued when its loss fell by < 1 % over the last 10 % of the steps


def attack_config(profile: Profile, method: str) -> ManipulationConfig:
    """The profile's manipulation attack with the prototype step count and learning rate, for ``method``.

    Early stopping stays off when the profile turns it off (window >= steps); a loss trace is kept at
    log-spaced steps and at 90 % of the steps, to tell whether each pair has plateaued.
    """
    proto, m = profile.prototypes, profile.manipulation
    steps = proto.steps
    window = steps if m.window >= m.steps else min(m.window, steps)
    trace = set(log_steps(steps, 10)) | {max(1, round(0.9 * steps)), steps}
    settings = replace(m, method=method, steps=steps, lr=proto.lr, window=window)
    return config_from_settings(settings, tuple(sorted(trace)))


def plateaued(result: ManipulationResult, cfg: ManipulationConfig) -> np.ndarray:
    """Per pair: did the trained model's explanation loss fall by less than PLATEAU_TOL (relative) over the
    last 10 % of the steps? (The attack's own stopping rule is off in the cpu and paper profiles.)"""
    if result.trace is None:
        return result.converged.cpu().numpy()
    steps = list(cfg.trace_steps)
    late, last = steps.index(max(1, round(0.9 * cfg.steps))), steps.index(cfg.steps)
    before, after = result.trace[late].cpu().numpy(), result.trace[last].cpu().numpy()
    return (before - after) / np.maximum(before, 1e-30) < PLATEAU_TOL


def reference_spec(profile: Profile, experiment: str) -> RunSpec:
    """The standard (beta = 0) model of the first seed: the network whose features define the clusters."""
    for spec in sweep_specs(profile, experiment):
        if spec.train.method == "trades" and spec.train.beta == 0 and spec.train.seed == profile.seeds[0]:
            return spec
    raise ConfigError(f"sweep.betas={list(profile.sweep.betas)} has no 0: the prototype clustering needs the "
                      f"standard (beta = 0) model of experiment {experiment!r}")


def test_images(profile: Profile, experiment: str) -> tuple[torch.Tensor, torch.Tensor]:
    exp = profile.experiment(experiment)
    return load_dataset(exp.data.name, "test", exp.eval.n, exp.data.subset_seed)


def features_name(profile: Profile, experiment: str, store: ResultStore) -> str:
    """Names the features the clustering uses (pixels, or the reference model's store key) in store keys."""
    if profile.prototypes.features == "pixel":
        return "pixel"
    return f"penultimate:{store.entry('models', reference_spec(profile, experiment).store_config()).key}"


def features_for(profile: Profile, experiment: str, x: torch.Tensor, store: ResultStore, device: str) -> np.ndarray:
    """The features the clustering uses for images ``x``: pixels, or the reference model's penultimate layer."""
    if profile.prototypes.features == "pixel":
        return x.flatten(1).numpy()
    reference = get_model(reference_spec(profile, experiment), store, device, progress=False)
    return penultimate_features(reference.model, x.to(device))


def prototype_pairs(profile: Profile, experiment: str, store: ResultStore, device: str) -> Pairs:
    """The experiment's prototype pairs into its test subset, computed once and stored."""
    proto = profile.prototypes
    x, _ = test_images(profile, experiment)
    exp = profile.experiment(experiment)
    if proto.n_clusters > len(x):
        raise ConfigError(f"prototypes.n_clusters={proto.n_clusters} is not allowed: expected at most {len(x)} "
                          f"(the test images of {experiment!r})")
    config = {"data": to_dict(exp.data), "n_test": exp.eval.n, "features": features_name(profile, experiment, store),
              "n_clusters": proto.n_clusters, "victims_per_cluster": proto.victims_per_cluster,
              "targets_per_victim": proto.targets_per_victim, "pairing": proto.pairing, "seed": proto.seed,
              "code_version": PAIRS_CODE_VERSION}
    entry = store.entry("pairs", config).ensure()

    def compute() -> dict:
        features = features_for(profile, experiment, x, store, device)
        return select_pairs(features, proto.n_clusters, proto.victims_per_cluster, proto.seed, exp.data.name, x,
                            proto.targets_per_victim, proto.pairing).as_dict()

    pairs = Pairs.from_dict(entry.get_or_compute_json("pairs.json", compute))
    check_pairs_for(pairs, exp.data.name, x)
    return pairs


def pairs_id(profile: Profile, experiment: str, pairs: Pairs) -> dict:
    exp = profile.experiment(experiment)
    return {"dataset": exp.data.name, "n_test": exp.eval.n, "subset_seed": exp.data.subset_seed,
            "victims": pairs.victims.tolist(), "targets": pairs.targets.tolist()}


def measure_model(trained: TrainedModel, x_victims: torch.Tensor, x_targets: torch.Tensor, ids: dict,
                  cfg: ManipulationConfig, store: ResultStore, progress: bool = True) -> dict:
    """Explanation robustness of one model on fixed pairs: the attack through the store, then the summary
    (means with bootstrap intervals) plus the plateaued fraction and the attack's wall time."""
    result, seconds = cached_manipulation(store, trained.entry.key, ids, trained.model, x_victims, x_targets, cfg,
                                          progress=progress)
    summary = robustness_summary(result, rank_to_target(trained.model, result, x_victims, x_targets, cfg))
    summary["plateaued"] = float(plateaued(result, cfg).mean())
    summary["seconds"] = seconds
    return summary


def relation_table(profile: Profile, store: ResultStore, device: str, methods: tuple[str, ...] | None = None,
                   experiments: tuple[str, ...] | None = None, progress: bool = True) -> pd.DataFrame:
    """One row per (experiment, model of the sweep, explanation method): accuracy and explanation robustness."""
    methods = tuple(methods or profile.prototypes.methods)
    rows = []
    for name in experiments or profile.run:
        exp = profile.experiment(name)
        pairs = prototype_pairs(profile, name, store, device)
        x, _ = test_images(profile, name)
        x_v, x_t = x[pairs.victims].to(device), x[pairs.targets].to(device)
        ids = pairs_id(profile, name, pairs)
        jobs = [(m, s) for m in methods for s in sweep_specs(profile, name)]
        for method, spec in tqdm(jobs, desc=f"explanation robustness {name}", disable=not progress):
            trained = get_model(spec, store, device, progress=progress)
            acc = evaluate_model(trained, exp, store, exp.eval.attack)
            summary = measure_model(trained, x_v, x_t, ids, attack_config(profile, method), store, progress)
            rows.append({"experiment": name, **describe(spec), "explanation": method,
                         "clean_acc": acc["clean_acc"], "pgd_acc": acc["pgd_acc"], **summary,
                         "key": trained.entry.key})
    return pd.DataFrame(rows)


def spearman_ci(x: np.ndarray, y: np.ndarray, n_boot: int = 2000, seed: int = 0) -> tuple[float, float, float]:
    """Spearman's rho of (x, y) and a percentile-bootstrap 95 % interval, resampling the points (models).

    Resamples in which x or y is constant (rho undefined) are left out of the interval.
    """
    x, y = np.asarray(x, float), np.asarray(y, float)
    if len(x) < 3:
        raise ConfigError(f"len(x)={len(x)} is not allowed: a rank correlation needs at least 3 points")
    rho = float(stats.spearmanr(x, y).statistic)
    idx = np.random.default_rng(seed).integers(0, len(x), (n_boot, len(x)))
    rx, ry = stats.rankdata(x[idx], axis=1), stats.rankdata(y[idx], axis=1)  # average ranks, as spearmanr
    rx -= rx.mean(1, keepdims=True)
    ry -= ry.mean(1, keepdims=True)
    denom = np.sqrt((rx * rx).sum(1) * (ry * ry).sum(1))
    ok = denom > 0
    boots = (rx * ry).sum(1)[ok] / denom[ok]
    lo, hi = np.quantile(boots, [0.025, 0.975])
    return rho, float(lo), float(hi)


def correlations(table: pd.DataFrame, measures: tuple[str, ...] = ("l_end_1e-7", "relative_reduction",
                                                                   "spearman_to_target", "l_start_1e-7"),
                 against: tuple[str, ...] = ("beta", "pgd_acc")) -> pd.DataFrame:
    """Spearman correlation with a bootstrap interval of each explanation measure against beta (TRADES
    models, MAT left out since it has no beta) and against PGD accuracy (every model), per experiment and
    explanation method."""
    rows = []
    for (name, method), group in table.groupby(["experiment", "explanation"], sort=False):
        for a in against:
            g = group.dropna(subset=[a])
            for m in measures:
                rho, lo, hi = spearman_ci(g[a].to_numpy(), g[m].to_numpy())
                rows.append({"experiment": name, "explanation": method, "measure": m, "against": a,
                             "models": len(g), "rho": rho, "ci_low": lo, "ci_high": hi})
    return pd.DataFrame(rows)


def table_by_beta(table: pd.DataFrame) -> pd.DataFrame:
    """The analogue of the paper's Table 1: means over seeds per experiment, explanation method and model."""
    keyed = table.assign(beta=table["beta"].fillna(-1.0))
    cols = ["l_start_1e-7", "l_end_1e-7", "relative_reduction", "spearman_to_target", "clean_acc", "pgd_acc",
            "label_kept", "plateaued"]
    agg = {c: (c, "mean") for c in cols}
    agg.update({"l_end_sd": ("l_end_1e-7", "std"), "relative_reduction_sd": ("relative_reduction", "std"),
                "seeds": ("seed", "count")})
    out = keyed.groupby(["experiment", "explanation", "method", "beta"], sort=False).agg(**agg).reset_index()
    out["beta"] = out["beta"].where(out["beta"] >= 0)
    return out


# ------------------------------------------------------------------------------------------------
# validation against all pairs


@dataclass
class Validation:
    """All-pairs values, prototype estimates (one per k-means seed) and random-subset estimates (one per
    resample) of mean L_end and mean relative reduction, for each validated model."""

    models: pd.DataFrame  # one row per model: describe() fields, all-pairs means, seconds
    prototype: dict[str, np.ndarray]  # measure -> (models, kmeans_seeds)
    random: dict[str, np.ndarray]  # measure -> (models, resamples)
    all_pairs: dict[str, np.ndarray]  # measure -> (models,)
    n_images: int
    n_pairs_all: int
    n_pairs_subset: int


def validation_pool(profile: Profile, experiment: str) -> np.ndarray:
    """Seeded indices of the ``n_images`` test images whose all pairs are attacked."""
    v = profile.prototypes.validation
    x, _ = test_images(profile, experiment)
    if v.n_images > len(x):
        raise ConfigError(f"prototypes.validation.n_images={v.n_images} is not allowed: the test subset has only "
                          f"{len(x)} images")
    return np.sort(np.random.default_rng(v.image_seed).choice(len(x), v.n_images, replace=False))


def all_ordered_pairs(n: int) -> tuple[np.ndarray, np.ndarray]:
    i, j = np.meshgrid(np.arange(n), np.arange(n), indexing="ij")
    keep = i != j
    return i[keep], j[keep]


def validation_experiments(profile: Profile) -> tuple[str, ...]:
    """The experiments the prototypes are validated on (default: the first of ``run``)."""
    return profile.prototypes.validation.experiments or (profile.run[0],)


def validate_prototypes(profile: Profile, store: ResultStore, device: str, method: str = "gradient",
                        experiment: str | None = None, progress: bool = True) -> Validation:
    """Attack all ordered pairs of a small pool on every first-seed model of ``experiment`` (default: the
    first validation experiment); then compare the prototype rule (inside the pool, for several k-means seeds)
    and random subsets of the same size with the all-pairs mean."""
    v = profile.prototypes.validation
    name = experiment or validation_experiments(profile)[0]
    exp = profile.experiment(name)
    x, _ = test_images(profile, name)
    pool = validation_pool(profile, name)
    xp = x[pool]
    vi, ti = all_ordered_pairs(len(pool))
    index = {(a, b): k for k, (a, b) in enumerate(zip(vi, ti))}
    features = features_for(profile, name, xp, store, device)
    proto_sets = []
    for s in range(v.kmeans_seeds):
        p = select_pairs(features, v.n_clusters, v.victims_per_cluster, s, exp.data.name, xp, v.targets_per_victim,
                         profile.prototypes.pairing)
        proto_sets.append(np.array([index[(a, b)] for a, b in zip(p.victims, p.targets)]))
    m = len(proto_sets[0])
    rng = np.random.default_rng(v.image_seed)
    random_sets = np.stack([rng.choice(len(vi), m, replace=False) for _ in range(v.resamples)])
    ids = {"dataset": exp.data.name, "n_test": exp.eval.n, "subset_seed": exp.data.subset_seed,
           "pool": pool.tolist(), "all_pairs": True}
    cfg = attack_config(profile, method)
    specs = [s for s in sweep_specs(profile, name) if s.train.seed == profile.seeds[0]]
    rows, per_pair = [], {"l_end_1e-7": [], "relative_reduction": []}
    x_v, x_t = xp[vi].to(device), xp[ti].to(device)
    for spec in tqdm(specs, desc=f"all {len(vi)} pairs of {len(pool)} images", disable=not progress):
        trained = get_model(spec, store, device, progress=progress)
        result, seconds = cached_manipulation(store, trained.entry.key, ids, trained.model, x_v, x_t, cfg,
                                              progress=progress)
        l_start, l_end = result.l_start.cpu().numpy() * 1e7, result.l_end.cpu().numpy() * 1e7
        per_pair["l_end_1e-7"].append(l_end)
        per_pair["relative_reduction"].append((l_start - l_end) / l_start)
        rows.append({**describe(spec), "seconds": seconds, "l_end_1e-7": l_end.mean(),
                     "relative_reduction": per_pair["relative_reduction"][-1].mean(),
                     "label_kept": float(result.label_kept.float().mean())})
    arrays = {k: np.stack(vals) for k, vals in per_pair.items()}  # (models, pairs)
    return Validation(
        models=pd.DataFrame(rows),
        prototype={k: np.stack([a[:, s].mean(1) for s in proto_sets], axis=1) for k, a in arrays.items()},
        random={k: np.stack([a[:, s].mean(1) for s in random_sets], axis=1) for k, a in arrays.items()},
        all_pairs={k: a.mean(1) for k, a in arrays.items()}, n_images=len(pool), n_pairs_all=len(vi),
        n_pairs_subset=m)


def validation_summary(val: Validation) -> pd.DataFrame:
    """Per measure and estimator: relative error against all pairs (median and 95 % range over k-means seeds
    or resamples, pooled over models) and the Spearman correlation of the models' ranking with the all-pairs
    ranking (median and 95 % range)."""
    rows = []
    for measure, truth in val.all_pairs.items():
        for label, est in (("prototypes", val.prototype[measure]), ("random subset", val.random[measure])):
            err = np.abs(est - truth[:, None]) / np.abs(truth[:, None])
            rhos = np.array([stats.spearmanr(est[:, j], truth).statistic for j in range(est.shape[1])])
            rows.append({"measure": measure, "estimator": label, "draws": est.shape[1],
                         "rel_error_median": float(np.median(err)),
                         "rel_error_q2.5": float(np.quantile(err, 0.025)),
                         "rel_error_q97.5": float(np.quantile(err, 0.975)),
                         "bias": float(np.mean((est - truth[:, None]) / np.abs(truth[:, None]))),
                         "rank_rho_median": float(np.nanmedian(rhos)),
                         "rank_rho_q2.5": float(np.nanquantile(rhos, 0.025)),
                         "rank_rho_q97.5": float(np.nanquantile(rhos, 0.975)),
                         "rank_exact": float(np.nanmean(rhos > 0.999))})
    return pd.DataFrame(rows)


def attack_timing(model: torch.nn.Module, x: torch.Tensor, pair_counts: tuple[int, ...], steps: int,
                  cfg: ManipulationConfig, progress: bool = False) -> pd.DataFrame:
    """Marginal seconds per attack step for batches of each size: (time of 2 * steps - time of steps) / steps,
    which removes the attack's fixed set-up (start and end maps, the softplus twin). Pairs are drawn by
    cycling through ``x``."""
    rows = []
    for n in tqdm(pair_counts, desc="attack timing", disable=not progress):
        idx = torch.arange(n) % len(x)
        x_v, x_t = x[idx], x[(idx + 1) % len(x)]
        manipulate(model, x_v[:1], x_t[:1], replace(cfg, steps=1, window=1, trace_steps=()))  # warm-up
        seconds = []
        for k in (steps, 2 * steps):
            t0 = time.perf_counter()
            manipulate(model, x_v, x_t, replace(cfg, steps=k, window=k, trace_steps=()))
            seconds.append(time.perf_counter() - t0)
        rows.append({"pairs": n, "seconds_per_step": max(seconds[1] - seconds[0], 1e-9) / steps,
                     "fixed_seconds": max(2 * seconds[0] - seconds[1], 0.0)})
    return pd.DataFrame(rows)


def cached_timing(profile: Profile, store: ResultStore, device: str) -> pd.DataFrame:
    """``attack_timing`` on the validation experiment's standard model, stored so a rebuild reuses it."""
    v = profile.prototypes.validation
    name = validation_experiments(profile)[0]
    trained = get_model(reference_spec(profile, name), store, device, progress=False)
    cfg = attack_config(profile, profile.prototypes.methods[0])
    config = {"model_key": trained.entry.key, "pairs": list(v.timing_pairs), "steps": v.timing_steps,
              "attack": to_dict(cfg), "device": device, "threads": torch.get_num_threads(), "rule": "marginal"}
    entry = store.entry("timings", config).ensure()
    x, _ = test_images(profile, name)
    rows = entry.get_or_compute_json("timing.json", lambda: attack_timing(
        trained.model, x.to(device), v.timing_pairs, v.timing_steps, cfg).to_dict("records"))
    return pd.DataFrame(rows)


def main(argv: list[str] | None = None) -> None:
    from .cli import load, stage_parser, user_errors

    parser = stage_parser("Measure explanation robustness over a profile's sweep (prototype pairs), and "
                          "validate the prototypes.")
    parser.add_argument("--method", action="append", help="explanation method(s); default: the profile's")
    parser.add_argument("--part", action="append", choices=["relation", "validation", "timing"],
                        help="what to compute (repeatable; default all, in the order relation, validation, timing)")
    args = parser.parse_args(argv)
    parts = args.part or ["relation", "validation", "timing"]
    t0 = time.perf_counter()
    with user_errors():
        profile, device = load(args)
        store = ResultStore()
        methods = tuple(args.method or profile.prototypes.methods)
        for part in parts:
            if part == "relation":
                for method in methods:  # one method over every model first: the headline result lands early
                    table = relation_table(profile, store, device, (method,))
                    print(table_by_beta(table).to_string())
            elif part == "validation":
                for name in validation_experiments(profile):
                    print(name)
                    print(validation_summary(validate_prototypes(profile, store, device, methods[0], name)).to_string())
            else:
                print(cached_timing(profile, store, device).to_string())
            print(f"{part} done at {time.perf_counter() - t0:.0f} s", flush=True)


if __name__ == "__main__":
    main()
