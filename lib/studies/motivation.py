"""The motivation study: the explanation-manipulation attack on a few models, against noise of the same size.

``motivation_runs`` names the models (the first seed's standard, largest-beta TRADES and MAT models of the
first experiment); ``attack_runs`` attacks the profile's seeded random pairs on each (cached per model,
pairs and settings); ``compare_with_noise`` measures how close each map came to its target, for the victim
as is, Gaussian noise of the attack's size and the attack; ``summary_table`` gives one row per model;
``evidence_table`` gives each model's success rate and whether the attack beats noise (``beats_noise``);
``relative_loss_curves`` the explanation loss against attack steps. ``motivation_result`` gathers every table
and verdict the chapter shows in one ``MotivationResult``.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from lib.analysis.stats import beats_noise_interval
from lib.analysis.verdicts import BEATS_NOISE, beats_noise
from lib.core.profile import Profile
from lib.core.store import ResultStore
from lib.measure.explain import explanation_map
from lib.measure.manipulate import (
    ManipulationResult,
    cached_manipulation,
    manipulation_config,
    noise_baseline,
    seeded_pairs_for,
)
from lib.measure.metrics import cosine_similarity, mse, spearman, topk_intersection
from lib.nn.data import load_dataset
from lib.pipeline.evaluation import model_key
from lib.pipeline.explanation_attack import (
    MotivationPairs,
    attack_runs,
    attack_settings,
    motivation_pairs,
)
from lib.pipeline.roster import motivation_runs
from lib.pipeline.task import Task
from lib.pipeline.training import TrainedModel, get_model


def compare_with_noise(
    model: torch.nn.Module,
    pairs: MotivationPairs,
    result: ManipulationResult,
    method: str,
    seed: int,
) -> pd.DataFrame:
    """Distance of each map to its target map (MSE in 1e-7, cosine, Spearman, top-10 % overlap) and the
    label-kept rate, for the victim unchanged, Gaussian noise of the attack's per-pair L2 norm, and the attack."""
    x_v, x_t, x_adv = (
        pairs.x_victims,
        pairs.x_targets,
        result.x_adv.to(pairs.x_victims.device),
    )
    maps_t = explanation_map(model, x_t, method)
    with torch.no_grad():
        labels = model(x_v).argmax(1)
    x_noise = noise_baseline(model, x_v, x_adv, seed=seed)
    k = max(1, int(0.1 * maps_t[0].numel()))
    rows, per_pair = {}, {}
    for what, x in (
        ("victim (no change)", x_v),
        ("random noise, same L2", x_noise),
        ("attack", x_adv),
    ):
        maps = explanation_map(model, x, method, target=labels)
        per_pair[what] = 1e7 * mse(maps, maps_t).detach().cpu().numpy()
        with torch.no_grad():
            kept = (model(x).argmax(1) == labels).float().mean().item()
        rows[what] = {
            "MSE to target (1e-7)": 1e7 * mse(maps, maps_t).mean().item(),
            "cosine": cosine_similarity(maps, maps_t).mean().item(),
            "Spearman": float(np.nanmean(spearman(maps, maps_t).cpu().numpy())),
            "top-10% overlap": topk_intersection(maps, maps_t, k).mean().item(),
            "label kept": kept,
            "L2 size": float((x - x_v).flatten(1).norm(dim=1).mean()),
        }
    table = pd.DataFrame(rows).T
    table.attrs["mse_pairs"] = (
        per_pair  # per pair, MSE to target (1e-7): the pair bootstrap's input
    )
    return table


def summary_table(
    results: dict[str, ManipulationResult], seconds: dict[str, float]
) -> pd.DataFrame:
    """One row per model: the attack's summary (means over pairs) and its wall time."""
    table = pd.DataFrame(
        {
            label: {**res.summary(), "seconds": seconds[label]}
            for label, res in results.items()
        }
    ).T
    return table[
        [
            "pairs",
            "flipped",
            "label_kept",
            "converged",
            "l_start_1e-7",
            "l_end_1e-7",
            "l_end_all_1e-7",
            "relative_reduction",
            "mean_steps",
            "mean_linf",
            "mean_l2",
            "seconds",
        ]
    ].astype(float)


def success_rate(result: ManipulationResult) -> float:
    """Fraction of pairs whose map ended closer to the target with the label unchanged."""
    return float((result.label_kept & (result.l_end < result.l_start)).float().mean())


def distance_removed(table: pd.DataFrame) -> tuple[float, float]:
    """From a ``compare_with_noise`` table: the share of the victim's map distance to the target (MSE) that
    the attack removes and the share that Gaussian noise of the attack's L2 size removes (negative when noise
    moves the map away)."""
    start = table.loc["victim (no change)", "MSE to target (1e-7)"]
    attack, noise = (
        1 - table.loc[row, "MSE to target (1e-7)"] / start
        for row in ("attack", "random noise, same L2")
    )
    return float(attack), float(noise)


def evidence_table(
    results: dict[str, ManipulationResult], tables: dict[str, pd.DataFrame]
) -> pd.DataFrame:
    """One row per model: pairs, the success rate (map closer to the target, label kept), the share of pairs
    whose label was kept, the shares of the distance to the target that the attack and noise remove, the
    margin attack share - 2 x noise share with a 95 % pair-bootstrap interval (``margin``, ``margin_lo``,
    ``margin_hi``: ``stats.beats_noise_interval``) and whether the attack beats noise: the margin's interval
    lies above 0 (``beats_noise`` on the point values when the per-pair distances are not at hand)."""
    rows = []
    for label, res in results.items():
        attack, noise = distance_removed(tables[label])
        pairs = tables[label].attrs.get("mse_pairs")
        margin = (
            beats_noise_interval(
                pairs["victim (no change)"],
                pairs["attack"],
                pairs["random noise, same L2"],
                BEATS_NOISE,
            )
            if pairs
            else (np.nan, np.nan, np.nan)
        )
        rows.append(
            {
                "model": label,
                "pairs": int(len(res.label_kept)),
                "success_rate": success_rate(res),
                "label_kept": float(res.label_kept.float().mean()),
                "attack_removed": attack,
                "noise_removed": noise,
                "margin": margin[0],
                "margin_lo": margin[1],
                "margin_hi": margin[2],
                "beats_noise": bool(margin[1] > 0)
                if np.isfinite(margin[1])
                else beats_noise(attack, noise),
            }
        )
    return pd.DataFrame(rows)


def relative_loss_curves(
    results: dict[str, ManipulationResult],
    steps: list[int],
    families: dict[str, str] | None = None,
) -> pd.DataFrame:
    """One row per model and recorded attack step: the explanation loss relative to its start (L / L_start),
    median and quartiles over the pairs; ``family`` from ``families`` (by label), else missing."""
    rows = []
    for label, res in results.items():
        trace = res.trace.cpu().numpy() / res.l_start.cpu().numpy()[None, :]
        for i, step in enumerate(steps):
            rows.append(
                {
                    "model": label,
                    "family": (families or {}).get(label),
                    "step": step,
                    "median": np.median(trace[i]),
                    "q25": np.percentile(trace[i], 25),
                    "q75": np.percentile(trace[i], 75),
                }
            )
    return pd.DataFrame(rows)


def l_end_above_standard(summary: pd.DataFrame) -> dict[str, bool]:
    """Per model other than ``standard`` (a ``summary_table``, one row per model): whether its L_end (kept
    pairs) is higher than the standard model's, i.e. its explanations are harder to steer."""
    base = summary.loc["standard", "l_end_1e-7"]
    return {
        label: bool(summary.loc[label, "l_end_1e-7"] > base)
        for label in summary.index
        if label != "standard"
    }


@dataclass
class MotivationResult:
    """Every table and verdict of the motivation chapter."""

    models: dict[
        str, TrainedModel
    ]  # by label: standard, the largest-beta TRADES model, MAT
    pairs: MotivationPairs
    results: dict[str, ManipulationResult]  # the attack on each model
    seconds: dict[str, float]  # each attack's wall time
    noise: dict[
        str, pd.DataFrame
    ]  # per model: ``compare_with_noise`` (victim, noise of the same L2, attack)
    summary: pd.DataFrame  # ``summary_table``, one row per model (index ``model``)
    evidence: (
        pd.DataFrame
    )  # ``evidence_table``: success rate, distance removed, ``beats_noise`` per model
    curves: (
        pd.DataFrame
    )  # ``relative_loss_curves``: L / L_start against the attack step
    harder_to_steer: dict[str, bool]  # ``l_end_above_standard``


def motivation_result(
    profile: Profile, store: ResultStore, device: str, progress: bool = False
) -> MotivationResult:
    """The motivation chapter's chain: the attack on each model (cached), its comparison with noise, the
    summary, the evidence and the loss curves."""
    models, pairs, results, seconds = attack_runs(
        profile, store, device, progress=progress
    )
    M = profile.manipulation
    noise = {
        label: compare_with_noise(
            models[label].model, pairs, results[label], M.method, M.pair_seed
        )
        for label in models
    }
    summary = summary_table(results, seconds).rename_axis("model")
    return MotivationResult(
        models=models,
        pairs=pairs,
        results=results,
        seconds=seconds,
        noise=noise,
        summary=summary,
        evidence=evidence_table(results, noise),
        curves=relative_loss_curves(
            results,
            list(attack_settings(profile).trace_steps),
            {label: run.kind.family for label, run in motivation_runs(profile).items()},
        ),
        harder_to_steer=l_end_above_standard(summary),
    )


def attack_tasks(profile: Profile, store: ResultStore, device: str) -> list[Task]:
    """The motivation attacks (the pairs' id is known from the profile, so every key is known upfront)."""
    exp = profile.experiment(profile.run[0])
    cfg = attack_settings(profile)
    tasks = []

    @functools.cache
    def pairs_id() -> (
        dict
    ):  # read the test labels once per plan, not once per task and query
        y = load_dataset(exp.data.name, "test", exp.eval.n, exp.data.subset_seed)[1]
        return seeded_pairs_for(exp, profile.manipulation, y)[2]

    for run in motivation_runs(profile).values():

        def config(run=run) -> dict:
            return manipulation_config(model_key(run), pairs_id(), cfg)

        def compute(run=run) -> None:
            pairs = motivation_pairs(profile, device)
            trained = get_model(run.spec, store, device, progress=False)
            cached_manipulation(
                store,
                trained.entry.key,
                pairs.ids,
                trained.model,
                pairs.x_victims,
                pairs.x_targets,
                cfg,
                progress=False,
            )

        tasks.append(
            Task("motivation", run.label, "manipulations", "result.pt", config, compute)
        )
    return tasks
