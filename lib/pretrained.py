"""Pretrained models one call away: ``load_model(profile, experiment, kind, seed=0)``.

The model is loaded, or retrained, under the profile's runtime (``profile_runtime``: threads,
determinism, the allocator setting), as the book computes it, and the caller's threads and determinism
settings are given back afterwards.

A model is named as the book labels it: "standard", "MAT", "TRADES β=8" (any β of the sweep), "SEP_pos",
"SEP_neg". It comes from the result store (``$RESULTS_DIR`` over the published snapshot of the profile's
results, see ``lib.core.store``): the published ``cpu`` snapshot ships the weights of each experiment's
first-seed standard, MAT, TRADES β=8, SEP_pos and SEP_neg models, so these load in a second. Any other
model of the book is trained into ``$RESULTS_DIR`` on first use (deterministic; minutes on a CPU).

    >>> import lib
    >>> model = lib.load_model("cpu", "fashion-mnist", "SEP_neg")     # an nn.Module in eval mode
"""

from __future__ import annotations

import contextlib
import os
import warnings
from collections.abc import Iterator
from dataclasses import replace

import matplotlib.pyplot as plt
import torch
from torch import nn

from lib.core.errors import ConfigError
from lib.core.profile import Profile, load_profile, resolve_device, setup_runtime
from lib.core.store import ResultStore
from lib.measure.manipulate import manipulate
from lib.pipeline.explanation_attack import attack_config, evaluation_images
from lib.pipeline.roster import (
    ChosenSlots,
    base_role,
    base_runs,
    standard_runs,
    study_experiments,
    sweep_runs,
)
from lib.pipeline.runs import Run
from lib.pipeline.task import NOT_NEEDED
from lib.pipeline.training import get_model
from lib.report.motivation import manipulation_examples

SEP_ROLES = ("SEP_pos", "SEP_neg")


def model_kinds(profile: Profile, experiment: str, seed: int = 0) -> dict[str, Run]:
    """The models of ``experiment`` with fixed training (not SEP), by the book's label: the robustness
    sweep's (standard, every TRADES β, MAT) for a swept experiment, else the standard and base models."""
    runs = (
        sweep_runs(profile, [experiment])
        if experiment in profile.run
        else standard_runs(profile, experiment) + base_runs(profile, experiment)
    )
    return {r.kind.label: r for r in runs if r.seed == seed}


def pretrained_runs(
    profile: Profile, store: ResultStore, device: str, seed: int | None = None
) -> list[tuple[str, str, Run]]:
    """(experiment, kind, run) of the models a reader would reuse, those the published snapshot ships with
    weights: per experiment of the book, the first seed's standard, MAT, largest-β TRADES, SEP_pos and
    SEP_neg (the SEP roles only where the λ rule chose a λ of that sign)."""
    seed = profile.seeds[0] if seed is None else seed
    out = []
    for name in list(profile.run) + [
        n for n in study_experiments(profile) if n not in profile.run
    ]:
        kinds = model_kinds(profile, name, seed)
        trades = [k for k, r in kinds.items() if r.kind.family == "TRADES"]
        wanted = ["standard", "MAT"] + (
            [max(trades, key=lambda k: kinds[k].spec.train.beta)] if trades else []
        )
        out += [(name, k, kinds[k]) for k in wanted if k in kinds]
        if name in study_experiments(profile):
            slot = ChosenSlots(profile, store, device)
            for role in SEP_ROLES:
                run = slot(name, seed, role, base_role(profile))
                if isinstance(run, Run):
                    out.append((name, role, run))
    return out


@contextlib.contextmanager
def profile_runtime(profile: Profile) -> Iterator[str]:
    """Run a block under ``setup_runtime(profile)`` (results depend on the thread count and determinism
    settings) and give the caller back its thread count, determinism settings, warning filters and
    ``CUBLAS_WORKSPACE_CONFIG`` afterwards; yields the device. The allocator setting stays: it is
    process-wide, applied once, and changes no number (``lib.core.memory``)."""
    threads = torch.get_num_threads()
    deterministic = torch.are_deterministic_algorithms_enabled()
    warn_only = torch.is_deterministic_algorithms_warn_only_enabled()
    cublas = os.environ.get("CUBLAS_WORKSPACE_CONFIG")
    with warnings.catch_warnings():
        try:
            yield setup_runtime(profile)
        finally:
            torch.set_num_threads(threads)
            torch.use_deterministic_algorithms(deterministic, warn_only=warn_only)
            if cublas is None:
                os.environ.pop("CUBLAS_WORKSPACE_CONFIG", None)
            else:
                os.environ["CUBLAS_WORKSPACE_CONFIG"] = cublas


def load_model(
    profile: str | Profile,
    experiment: str,
    kind: str,
    seed: int = 0,
    device: str | None = None,
    store: ResultStore | None = None,
) -> nn.Module:
    """The trained ``kind`` model of ``experiment`` (seed ``seed``) of a profile, in eval mode, on ``device``
    (default: the profile's), loaded or retrained under the profile's runtime (``profile_runtime``). Raises
    ``ConfigError`` naming the experiments, kinds or seeds that exist."""
    profile = load_profile(profile) if isinstance(profile, str) else profile
    with profile_runtime(profile) as default_device:
        return _load_model(
            profile, experiment, kind, seed, device or default_device, store
        )


def _load_model(
    profile: Profile,
    experiment: str,
    kind: str,
    seed: int,
    device: str,
    store: ResultStore | None,
) -> nn.Module:
    store = store or ResultStore()
    experiments = list(profile.run) + [
        n for n in study_experiments(profile) if n not in profile.run
    ]
    if experiment not in experiments:
        raise ConfigError(
            f"experiment={experiment!r} is not allowed: the {profile.name} profile's book has "
            f"{', '.join(map(repr, experiments))}"
        )
    if seed not in profile.seeds:
        raise ConfigError(
            f"seed={seed!r} is not allowed: the {profile.name} profile trains seeds {list(profile.seeds)}"
        )
    kinds = model_kinds(profile, experiment, seed)
    sep = experiment in study_experiments(profile)
    if kind in SEP_ROLES and sep:
        run = ChosenSlots(profile, store, device)(
            experiment, seed, kind, base_role(profile), compute=True
        )
        if run is NOT_NEEDED:
            raise ConfigError(
                f"kind={kind!r} does not exist for {experiment!r}: the λ rule chose no λ of that sign "
                "(see the SEP chapter)"
            )
    elif kind in kinds:
        run = kinds[kind]
    else:
        allowed = list(kinds) + (list(SEP_ROLES) if sep else [])
        raise ConfigError(
            f"kind={kind!r} is not allowed for {experiment!r}: the kinds are "
            f"{', '.join(map(repr, allowed))}"
        )
    return get_model(run.spec, store, device, progress=False).model.eval()


def try_it(
    profile: Profile,
    experiment: str,
    kind: str = "MAT",
    victim: int = 0,
    target: int = 1,
    steps: int = 300,
    method: str | None = None,
    store: ResultStore | None = None,
) -> plt.Figure:
    """Attack one pair of your choice on a trained model and show it: test image ``victim`` steered towards
    the map of test image ``target`` (indices into the experiment's test subset) for ``steps`` steps of the
    prototype attack (its learning rate; ``method``: its explanation method by default). Seconds on a CPU
    for the shipped models. The figure is the motivation chapter's: victim, perturbation, manipulated image
    and the three maps."""
    device = resolve_device(profile.device)
    x, _ = evaluation_images(profile, experiment)
    for name, index in (("victim", victim), ("target", target)):
        if not 0 <= index < len(x):
            raise ConfigError(
                f"{name}={index!r} is not allowed: an index into the {len(x)} test images of {experiment!r}"
            )
    if steps < 1:
        raise ConfigError(f"steps={steps!r} is not allowed: an integer >= 1")
    model = load_model(profile, experiment, kind, profile.seeds[0], device, store)
    cfg = attack_config(profile, method or profile.prototypes.methods[0])
    cfg = replace(cfg, steps=steps, window=steps, trace_steps=())
    xv, xt = x[victim : victim + 1].to(device), x[target : target + 1].to(device)
    result = manipulate(model, xv, xt, cfg, progress=False)
    fig = manipulation_examples(model, xv, xt, result.x_adv, cfg.method, rows=1)
    fig.suptitle(
        f"{experiment}, {kind}: test image {victim} steered towards the map of test image {target} "
        f"({steps} steps; L_end/L_start = {float(result.l_end[0] / result.l_start[0]):.2f})",
        fontsize=9,
    )
    fig.tight_layout()
    return fig
