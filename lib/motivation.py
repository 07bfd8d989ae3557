"""The motivation study: the explanation-manipulation attack on a few models, against noise of the same size.

``motivation_runs`` names the models (the first seed's standard, largest-beta TRADES and MAT models of the
first experiment); ``attack_runs`` attacks the profile's seeded random pairs on each (cached per model,
pairs and settings); ``compare_with_noise`` measures how close each map came to its target, for the victim
as is, Gaussian noise of the attack's size and the attack; ``summary_table`` gives one row per model;
``evidence_table`` gives each model's success rate and whether the attack beats noise (``beats_noise``).
"""
from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from . import metrics
from .config import Profile
from .data import load_dataset
from .explain import explanation_map
from .manipulate import (ManipulationConfig, ManipulationResult, cached_manipulation, config_from_settings, log_steps,
                         manipulation_config, noise_baseline, seeded_pairs_for)
from .runs import Run
from .store import ResultStore
from .sweep import model_key, showcase_runs
from .train import TrainedModel, get_model
from .work import Task

TRACE_INTERVALS = 12  # the loss is recorded at 13 log-spaced steps


@dataclass
class MotivationPairs:
    """The seeded random pairs of the first experiment, on the device, and the id that names them in keys."""

    x_victims: torch.Tensor
    x_targets: torch.Tensor
    ids: dict


def attack_settings(profile: Profile) -> ManipulationConfig:
    """The profile's full-length attack, recording the loss at log-spaced steps."""
    return config_from_settings(profile.manipulation, log_steps(profile.manipulation.steps, TRACE_INTERVALS))


def motivation_runs(profile: Profile) -> dict[str, Run]:
    return showcase_runs(profile, profile.run[0])


def motivation_pairs(profile: Profile, device: str) -> MotivationPairs:
    exp = profile.experiment(profile.run[0])
    x, y = load_dataset(exp.data.name, "test", exp.eval.n, exp.data.subset_seed)
    vi, ti, ids = seeded_pairs_for(exp, profile.manipulation, y)
    return MotivationPairs(x[vi].to(device), x[ti].to(device), ids)


def attack_runs(profile: Profile, store: ResultStore, device: str, progress: bool = True
                ) -> tuple[dict[str, TrainedModel], MotivationPairs, dict[str, ManipulationResult], dict[str, float]]:
    """The models by label, the pairs, each model's attack result and the seconds each attack took."""
    pairs = motivation_pairs(profile, device)
    cfg = attack_settings(profile)
    models, results, seconds = {}, {}, {}
    for label, run in motivation_runs(profile).items():
        models[label] = get_model(run.spec, store, device, progress=progress)
        results[label], seconds[label] = cached_manipulation(store, models[label].entry.key, pairs.ids,
                                                             models[label].model, pairs.x_victims, pairs.x_targets,
                                                             cfg, progress=progress)
    return models, pairs, results, seconds


def compare_with_noise(model: torch.nn.Module, pairs: MotivationPairs, result: ManipulationResult, method: str,
                       seed: int) -> pd.DataFrame:
    """Distance of each map to its target map (MSE in 1e-7, cosine, Spearman, top-10 % overlap) and the
    label-kept rate, for the victim unchanged, Gaussian noise of the attack's per-pair L2 norm, and the attack."""
    x_v, x_t, x_adv = pairs.x_victims, pairs.x_targets, result.x_adv.to(pairs.x_victims.device)
    maps_t = explanation_map(model, x_t, method)
    with torch.no_grad():
        labels = model(x_v).argmax(1)
    x_noise = noise_baseline(model, x_v, x_adv, seed=seed)
    k = max(1, int(0.1 * maps_t[0].numel()))
    rows = {}
    for what, x in (("victim (no change)", x_v), ("random noise, same L2", x_noise), ("attack", x_adv)):
        maps = explanation_map(model, x, method, target=labels)
        with torch.no_grad():
            kept = (model(x).argmax(1) == labels).float().mean().item()
        rows[what] = {"MSE to target (1e-7)": 1e7 * metrics.mse(maps, maps_t).mean().item(),
                      "cosine": metrics.cosine_similarity(maps, maps_t).mean().item(),
                      "Spearman": float(np.nanmean(metrics.spearman(maps, maps_t).cpu().numpy())),
                      "top-10% overlap": metrics.topk_intersection(maps, maps_t, k).mean().item(),
                      "label kept": kept,
                      "L2 size": float((x - x_v).flatten(1).norm(dim=1).mean())}
    return pd.DataFrame(rows).T


def summary_table(results: dict[str, ManipulationResult], seconds: dict[str, float]) -> pd.DataFrame:
    """One row per model: the attack's summary (means over pairs) and its wall time."""
    table = pd.DataFrame({label: {**res.summary(), "seconds": seconds[label]} for label, res in results.items()}).T
    return table[["pairs", "flipped", "label_kept", "converged", "l_start_1e-7", "l_end_1e-7", "l_end_all_1e-7",
                  "relative_reduction", "mean_steps", "mean_linf", "mean_l2", "seconds"]].astype(float)


def success_rate(result: ManipulationResult) -> float:
    """Fraction of pairs whose map ended closer to the target with the label unchanged."""
    return float((result.label_kept & (result.l_end < result.l_start)).float().mean())


BEATS_NOISE = 2.0  # the attack beats noise when it removes more than twice the share that noise removes


def distance_removed(table: pd.DataFrame) -> tuple[float, float]:
    """From a ``compare_with_noise`` table: the share of the victim's map distance to the target (MSE) that
    the attack removes and the share that Gaussian noise of the attack's L2 size removes (negative when noise
    moves the map away)."""
    start = table.loc["victim (no change)", "MSE to target (1e-7)"]
    attack, noise = (1 - table.loc[row, "MSE to target (1e-7)"] / start for row in ("attack", "random noise, same L2"))
    return float(attack), float(noise)


def beats_noise(attack: float, noise: float) -> bool:
    """The rule of the motivation chapter, fixed before any result: the attack moves the map towards the
    target "far more than noise" when it removes more than ``BEATS_NOISE`` times the share noise removes (a
    noise share below 0 counts as 0)."""
    return bool(attack > BEATS_NOISE * max(noise, 0.0))


def evidence_table(results: dict[str, ManipulationResult], tables: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """One row per model: pairs, the success rate (map closer to the target, label kept), the share of pairs
    whose label was kept, the shares of the distance to the target that the attack and noise remove, and
    whether the attack beats noise (``beats_noise``)."""
    rows = []
    for label, res in results.items():
        attack, noise = distance_removed(tables[label])
        rows.append({"model": label, "pairs": int(len(res.label_kept)), "success_rate": success_rate(res),
                     "label_kept": float(res.label_kept.float().mean()), "attack_removed": attack,
                     "noise_removed": noise, "beats_noise": beats_noise(attack, noise)})
    return pd.DataFrame(rows)


def attack_tasks(profile: Profile, store: ResultStore, device: str) -> list[Task]:
    """The motivation attacks (the pairs' id is known from the profile, so every key is known upfront)."""
    exp = profile.experiment(profile.run[0])
    cfg = attack_settings(profile)
    tasks = []

    @functools.cache
    def pairs_id() -> dict:  # read the test labels once per plan, not once per task and query
        y = load_dataset(exp.data.name, "test", exp.eval.n, exp.data.subset_seed)[1]
        return seeded_pairs_for(exp, profile.manipulation, y)[2]

    for label, run in motivation_runs(profile).items():
        def config(run=run) -> dict:
            return manipulation_config(model_key(run), pairs_id(), cfg)

        def compute(run=run) -> None:
            pairs = motivation_pairs(profile, device)
            trained = get_model(run.spec, store, device, progress=False)
            cached_manipulation(store, trained.entry.key, pairs.ids, trained.model, pairs.x_victims,
                                pairs.x_targets, cfg, progress=False)

        tasks.append(Task("motivation", run.label, "manipulations", "result.pt", config, compute))
    return tasks
