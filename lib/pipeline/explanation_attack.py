"""The explanation attack as the book runs it on a stored model: its settings per profile, the prototype
pairs, the cached attack per model and the relation table of explanation robustness against accuracy."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd
import torch
from tqdm.std import tqdm

from lib.core.errors import ConfigError
from lib.core.profile import Profile
from lib.core.schema import to_dict
from lib.core.store import ResultStore
from lib.measure.manipulate import (
    ManipulationConfig,
    ManipulationResult,
    cached_manipulation,
    config_from_settings,
    log_steps,
    manipulation_config,
    seeded_pairs_for,
)
from lib.measure.prototypes import (
    Pairs,
    check_pairs_for,
    penultimate_features,
    rank_to_target,
    robustness_summary,
    select_pairs,
)
from lib.nn.data import load_dataset
from lib.pipeline.evaluation import evaluate_model, model_key
from lib.pipeline.roster import motivation_runs, reference_run, sweep_runs
from lib.pipeline.runs import Run
from lib.pipeline.task import NOT_NEEDED, Task
from lib.pipeline.training import TrainedModel, get_model

TRACE_INTERVALS = 12  # the loss is recorded at 13 log-spaced steps


@dataclass
class MotivationPairs:
    """The seeded random pairs of the first experiment, on the device, and the id that names them in keys."""

    x_victims: torch.Tensor
    x_targets: torch.Tensor
    ids: dict


def attack_settings(profile: Profile) -> ManipulationConfig:
    """The profile's full-length attack, recording the loss at log-spaced steps."""
    return config_from_settings(
        profile.manipulation, log_steps(profile.manipulation.steps, TRACE_INTERVALS)
    )


def motivation_pairs(profile: Profile, device: str) -> MotivationPairs:
    exp = profile.experiment(profile.run[0])
    x, y = load_dataset(exp.data.name, "test", exp.eval.n, exp.data.subset_seed)
    vi, ti, ids = seeded_pairs_for(exp, profile.manipulation, y)
    return MotivationPairs(x[vi].to(device), x[ti].to(device), ids)


def attack_runs(
    profile: Profile, store: ResultStore, device: str, progress: bool = True
) -> tuple[
    dict[str, TrainedModel],
    MotivationPairs,
    dict[str, ManipulationResult],
    dict[str, float],
]:
    """The models by label, the pairs, each model's attack result and the seconds each attack took."""
    pairs = motivation_pairs(profile, device)
    cfg = attack_settings(profile)
    models, results, seconds = {}, {}, {}
    for label, run in motivation_runs(profile).items():
        models[label] = get_model(run.spec, store, device, progress=progress)
        results[label], seconds[label] = cached_manipulation(
            store,
            models[label].entry.key,
            pairs.ids,
            lambda m=models[label]: m.model,
            pairs.x_victims,
            pairs.x_targets,
            cfg,
            progress=progress,
        )
    return models, pairs, results, seconds


def main_table(
    profile: Profile,
    store: ResultStore,
    device: str,
    roles: list[tuple[str, Run]],
    methods: tuple[str, ...] | None = None,
    budget: bool = False,
) -> pd.DataFrame:
    """Explanation robustness (prototype pairs, every explanation method or ``methods``; inside the budget's
    ball when ``budget``) and accuracy of every (role, run), one row per (model, method), with its role and
    collapse reason; collapsed models are listed but not attacked."""
    rows, live = [], []
    for role, run in roles:
        trained = get_model(run.spec, store, device, progress=False)
        if trained.collapsed:
            rows.append(
                {**run.describe(), "role": role, "collapsed": trained.collapsed}
            )
        else:
            live.append((role, run))
    table = relation_table(
        profile,
        store,
        device,
        methods,
        runs=[r for _, r in live],
        progress=False,
        budget=budget,
    )
    role_of = {model_key(r): role for role, r in live}
    table["role"] = table["key"].map(role_of)
    table["collapsed"] = ""
    return pd.concat([table, pd.DataFrame(rows)], ignore_index=True) if rows else table


PAIRS_CODE_VERSION = 1


PLATEAU_TOL = 0.01  # a pair has plateaued when its loss fell by < 1 % over the last 10 % of the steps


def attack_config(
    profile: Profile, method: str, eps: float | None = None
) -> ManipulationConfig:
    """The profile's manipulation attack with the prototype step count and learning rate, for ``method``;
    ``eps`` confines it to an L-inf ball of that radius around each victim (None: no ball, as the reference;
    the key of an attack without a ball is unchanged).

    Early stopping stays off when the profile turns it off (window >= steps); a loss trace is kept at
    log-spaced steps and at 90 % of the steps, to tell whether each pair has plateaued.
    """
    proto, m = profile.prototypes, profile.manipulation
    steps = proto.steps
    window = steps if m.window >= m.steps else min(m.window, steps)
    trace = set(log_steps(steps, 10)) | {max(1, round(0.9 * steps)), steps}
    settings = replace(m, method=method, steps=steps, lr=proto.lr, window=window)
    cfg = config_from_settings(settings, tuple(sorted(trace)))
    return cfg if eps is None else replace(cfg, eps=float(eps))


def budget_eps(profile: Profile, experiment: str) -> float:
    """The fixed budget of the bounded explanation attack: the experiment's PGD evaluation radius, so that
    explanation and classification robustness are measured inside the same L-inf ball."""
    return profile.experiment(experiment).eval.attack.eps


def plateaued(result: ManipulationResult, cfg: ManipulationConfig) -> np.ndarray:
    """Per pair: did the trained model's explanation loss fall by less than PLATEAU_TOL (relative) over the
    last 10 % of the steps? (The attack's own stopping rule is off in the cpu and paper profiles.)"""
    if result.trace is None:
        return result.converged.cpu().numpy()
    steps = list(cfg.trace_steps)
    late, last = steps.index(max(1, round(0.9 * cfg.steps))), steps.index(cfg.steps)
    before, after = result.trace[late].cpu().numpy(), result.trace[last].cpu().numpy()
    return (before - after) / np.maximum(before, 1e-30) < PLATEAU_TOL


def evaluation_images(
    profile: Profile, experiment: str
) -> tuple[torch.Tensor, torch.Tensor]:
    exp = profile.experiment(experiment)
    return load_dataset(exp.data.name, "test", exp.eval.n, exp.data.subset_seed)


def features_name(profile: Profile, experiment: str) -> str:
    """Names the features the clustering uses (pixels, or the reference model's store key) in store keys."""
    if profile.prototypes.features == "pixel":
        return "pixel"
    return f"penultimate:{model_key(reference_run(profile, experiment))}"


def features_for(
    profile: Profile, experiment: str, x: torch.Tensor, store: ResultStore, device: str
) -> np.ndarray:
    """The features the clustering uses for images ``x``: pixels, or the reference model's penultimate layer."""
    if profile.prototypes.features == "pixel":
        return x.flatten(1).numpy()
    reference = get_model(
        reference_run(profile, experiment).spec, store, device, progress=False
    )
    return penultimate_features(reference.model, x.to(device))


def pairs_config(profile: Profile, experiment: str) -> dict:
    """What an experiment's stored prototype pairs depend on (the reference model by its key, not trained)."""
    proto, exp = profile.prototypes, profile.experiment(experiment)
    return {
        "data": to_dict(exp.data),
        "n_test": exp.eval.n,
        "features": features_name(profile, experiment),
        "n_clusters": proto.n_clusters,
        "victims_per_cluster": proto.victims_per_cluster,
        "targets_per_victim": proto.targets_per_victim,
        "pairing": proto.pairing,
        "seed": proto.seed,
        "code_version": PAIRS_CODE_VERSION,
    }


def prototype_pairs(
    profile: Profile, experiment: str, store: ResultStore, device: str
) -> Pairs:
    """The experiment's prototype pairs into its test subset, computed once and stored."""
    proto = profile.prototypes
    x, _ = evaluation_images(profile, experiment)
    exp = profile.experiment(experiment)
    if proto.n_clusters > len(x):
        raise ConfigError(
            f"prototypes.n_clusters={proto.n_clusters} is not allowed: expected at most {len(x)} "
            f"(the test images of {experiment!r})"
        )
    entry = store.entry("pairs", pairs_config(profile, experiment)).ensure()

    def compute() -> dict:
        features = features_for(profile, experiment, x, store, device)
        return select_pairs(
            features,
            proto.n_clusters,
            proto.victims_per_cluster,
            proto.seed,
            exp.data.name,
            x,
            proto.targets_per_victim,
            proto.pairing,
        ).as_dict()

    pairs = Pairs.from_dict(entry.get_or_compute_json("pairs.json", compute))
    check_pairs_for(pairs, exp.data.name, x)
    return pairs


def stored_pairs(profile: Profile, experiment: str, store: ResultStore) -> Pairs | None:
    """The experiment's prototype pairs if they are stored, else None (nothing is computed)."""
    entry = store.entry("pairs", pairs_config(profile, experiment))
    return (
        Pairs.from_dict(entry.load_json("pairs.json"))
        if entry.has("pairs.json")
        else None
    )


def pairs_id(profile: Profile, experiment: str, pairs: Pairs) -> dict:
    exp = profile.experiment(experiment)
    return {
        "dataset": exp.data.name,
        "n_test": exp.eval.n,
        "subset_seed": exp.data.subset_seed,
        "victims": pairs.victims.tolist(),
        "targets": pairs.targets.tolist(),
    }


def measure_model(
    trained: TrainedModel,
    x_victims: torch.Tensor,
    x_targets: torch.Tensor,
    ids: dict,
    cfg: ManipulationConfig,
    store: ResultStore,
    progress: bool = True,
) -> dict:
    """Explanation robustness of one model on fixed pairs: the attack through the store, then the summary
    (means with bootstrap intervals) plus the plateaued fraction and the attack's wall time."""
    result, seconds = cached_manipulation(
        store,
        trained.entry.key,
        ids,
        lambda: trained.model,
        x_victims,
        x_targets,
        cfg,
        progress=progress,
    )
    # the rank metric per pair, stored beside the attack: reading it needs neither weights nor images
    rank = (
        store.entry("manipulations", manipulation_config(trained.entry.key, ids, cfg))
        .get_or_compute_torch(
            "rank.pt",
            lambda: torch.from_numpy(
                rank_to_target(trained.model, result, x_victims, x_targets, cfg)
            ),
        )
        .numpy()
    )
    summary = robustness_summary(result, rank)
    summary["plateaued"] = float(plateaued(result, cfg).mean())
    summary["seconds"] = seconds
    kept = (
        result.label_kept.cpu().numpy().astype(bool)
    )  # per-pair values, for intervals over seeds and pairs
    l_start, l_end = (
        (result.l_start.cpu().numpy() * 1e7)[kept],
        (result.l_end.cpu().numpy() * 1e7)[kept],
    )
    summary["l_end_pairs"], summary["reduction_pairs"] = (
        l_end,
        (l_start - l_end) / l_start,
    )
    summary["l_start_pairs"], summary["pair_index"] = l_start, np.flatnonzero(kept)
    return summary


def relation_table(
    profile: Profile,
    store: ResultStore,
    device: str,
    methods: tuple[str, ...] | None = None,
    runs: list[Run] | None = None,
    progress: bool = True,
    budget: bool = False,
) -> pd.DataFrame:
    """One row per (run, explanation method): accuracy and explanation robustness on the run's experiment's
    prototype pairs. ``runs`` defaults to the robustness sweep. ``budget``: the attack inside the L-inf ball
    of the experiment's PGD radius (``budget_eps``) instead of the unbounded reference attack."""
    methods = tuple(methods or profile.prototypes.methods)
    runs = runs or sweep_runs(profile)
    rows = []
    for name in dict.fromkeys(r.experiment for r in runs):
        exp = profile.experiment(name)
        pairs = prototype_pairs(profile, name, store, device)
        x, _ = evaluation_images(profile, name)
        x_v, x_t = x[pairs.victims].to(device), x[pairs.targets].to(device)
        ids = pairs_id(profile, name, pairs)
        jobs = [(m, r) for m in methods for r in runs if r.experiment == name]
        for method, run in tqdm(
            jobs, desc=f"explanation robustness {name}", disable=not progress
        ):
            trained = get_model(run.spec, store, device, progress=progress)
            acc = evaluate_model(trained, exp, store, exp.eval.attack)
            cfg = attack_config(
                profile, method, budget_eps(profile, name) if budget else None
            )
            summary = measure_model(trained, x_v, x_t, ids, cfg, store, progress)
            rows.append(
                {
                    **run.describe(),
                    "explanation": method,
                    "clean_acc": acc["clean_acc"],
                    "pgd_acc": acc["pgd_acc"],
                    **summary,
                    "key": trained.entry.key,
                }
            )
    return pd.DataFrame(rows)


# +1: a higher value means a more robust explanation; -1: a lower value does (L_start is not a robustness
# measure: its sign says only which way it moves)


def pair_tasks(
    profile: Profile, experiments: list[str], store: ResultStore, device: str
) -> list[Task]:
    return [
        Task(
            "pairs",
            f"{name} prototype pairs",
            "pairs",
            "pairs.json",
            lambda name=name: pairs_config(profile, name),
            lambda name=name: prototype_pairs(profile, name, store, device),
        )
        for name in experiments
    ]


def attack_tasks(
    profile: Profile, runs: list[Run], store: ResultStore, device: str
) -> list[Task]:
    """The prototype attack of every run and explanation method (keyed by the pairs, once they are stored)."""
    return [
        attack_task(profile, run.label, lambda run=run: run, method, store, device)
        for method in profile.prototypes.methods
        for run in runs
    ]


def budget_attack_tasks(
    profile: Profile, runs: list[Run], store: ResultStore, device: str
) -> list[Task]:
    """The bounded (fixed-budget) prototype attack of every run and explanation method."""
    return [
        replace(
            attack_task(
                profile,
                run.label,
                lambda run=run: run,
                method,
                store,
                device,
                budget=True,
            ),
            stage="budget-attacks",
        )
        for method in profile.prototypes.methods
        for run in runs
    ]


def attack_task(
    profile: Profile,
    label: str,
    run_of: Callable[[], Run | dict | None],
    method: str,
    store: ResultStore,
    device: str,
    run_to_compute: Callable[[], Run | dict] | None = None,
    budget: bool = False,
) -> Task:
    """The prototype attack of one model and method. ``run_of()`` gives the model's run, or ``None`` while an
    upstream result that decides it is missing, or ``NOT_NEEDED`` when that result says there is no model;
    ``run_to_compute()`` (default ``run_of``) decides it when the task runs, computing the upstream if need
    be."""

    def config() -> dict | None:
        run = run_of()
        if run is None or run is NOT_NEEDED:
            return run
        cfg = attack_config(
            profile, method, budget_eps(profile, run.experiment) if budget else None
        )
        pairs = stored_pairs(profile, run.experiment, store)
        return (
            None
            if pairs is None
            else manipulation_config(
                model_key(run), pairs_id(profile, run.experiment, pairs), cfg
            )
        )

    def compute() -> None:
        run = (run_to_compute or run_of)()
        if isinstance(run, Run):
            relation_table(
                profile, store, device, (method,), [run], progress=False, budget=budget
            )

    return Task(
        "attacks", f"{label} {method}", "manipulations", "result.pt", config, compute
    )
