"""A flatness that does not depend on the target (issue 19, item 4), cached per model (store kind
``flatness``).

The old flatness (``pipeline.landscapes``: store kinds ``landscapes`` and ``curvatures``) is the input-Hessian
spectral norm of the target-dependent explanation loss MSE(I_twin(x), I(x_t)) on the softplus twin. That
Hessian is H = G + R: G = (2/P) J^T J (J: the input Jacobian of the explanation map) and
R = (2/P) sum_k (I_k(x) - T_k) d^2 I_k, which grows with the distance to the target, so the old measure is
tied to L_start. The target-free flatness is G alone: the curvature at delta = 0 of the explanation change
MSE(I(x + delta), I(x)), what SEP penalises (``measure.curvature.explanation_change_curvature``).

One entry per (model, landscape victims, twin beta, settings): per victim, on the twin at that beta, G's
spectral norm (Lanczos, with its residual and convergence), trace and Frobenius norm (Hutchinson), and the
old Hessian's split, R's extreme eigenvalues (Lanczos on H - G) and tr H, tr G, tr R from shared probes
(``measure.curvature.target_decomposition``); and G on the model as trained where it is defined: for the
gradient, guided-backprop and SmoothGrad maps of a ReLU (and max-pool) network J = 0 almost
everywhere, recorded as not defined (NaN), never as a measured 0. The entries are read by the curvature
chapter (both twin betas) and by the pooled analysis of the drivers (the landscape twin's beta). Values
in the explanation loss's units (1e-7, ``SCALE``)."""

from __future__ import annotations

import math
import time
import warnings

import numpy as np
import pandas as pd
import torch
from torch import nn

from lib.core.profile import Profile
from lib.core.store import ResultStore
from lib.measure.curvature import explanation_change_curvature, target_decomposition
from lib.measure.explain import SecondOrderReLUWarning
from lib.pipeline.evaluation import RunOf, model_key
from lib.pipeline.explanation_attack import evaluation_images, stored_pairs
from lib.pipeline.landscapes import (
    SCALE,
    landscape_config,
    landscape_victims,
    loss_setup,
    victims_from,
    with_beta,
)
from lib.pipeline.runs import Run
from lib.pipeline.task import Task
from lib.pipeline.training import TrainedModel, get_model

FLATNESS_CODE_VERSION = 2  # 2: the twin's hand-written softplus
CHANGE = "expl_change"  # the curvature rows' loss name of the target-free G (the old one is "expl_twin")
# the network G is measured on: the softplus twin, the model as trained
TWIN, MODEL = "twin", "model"
# maps that are piecewise constant in x on a piecewise-linear network: J = 0 almost everywhere
FLAT_ON_PIECEWISE_LINEAR = ("gradient", "guided_backprop", "smoothgrad")


def defined_on(model: nn.Module, method: str) -> bool:
    """Whether G of ``method``'s map is a measurement on ``model`` as given: not for the gradient,
    guided-backprop and SmoothGrad maps of a network with ``nn.ReLU`` (with max-pool, piecewise linear: J = 0
    almost everywhere). Max-pool alone does not make J vanish (a softplus network with max-pool is smooth
    between the pool's switches)."""
    piecewise = any(isinstance(m, nn.ReLU) for m in model.modules())
    return not (piecewise and method in FLAT_ON_PIECEWISE_LINEAR)


def _g_rows(res: dict, net: str, k: float, extra: list[dict] | None = None) -> list:
    rows = []
    for i in range(len(res["spectral"])):
        rows.append(
            {
                "net": net,
                "victim": i,
                "defined": True,
                "spectral": float(res["spectral"][i]) * k,
                "eig_residual": float(res["spectral_error"][i]) * k,
                "eig_converged": bool(res["converged"][i]),
                "iterations": int(res["iterations"][i]),
                "trace": float(res["trace"][i]) * k,
                "trace_stderr": float(res["trace_stderr"][i]) * k,
                "frobenius": math.sqrt(max(float(res["frobenius_sq"][i]), 0.0)) * k,
                "frobenius_sq_stderr": float(res["frobenius_sq_stderr"][i]) * k * k,
                **(extra[i] if extra else {}),
            }
        )
    return rows


def compute_flatness(
    trained: TrainedModel,
    x: torch.Tensor,
    y: torch.Tensor,
    x_t: torch.Tensor,
    profile: Profile,
) -> dict:
    """The entry's rows for one model at ``profile.landscape.softplus_beta`` (see the module docstring): the
    class explained is the model's prediction at each victim and the target maps are the model's own (as in
    the attack and in the old curvature rows), so H here is the old rows' Hessian."""
    s = profile.landscape
    frozen, twin, labels, target_maps, _ = loss_setup(trained.model, x, y, x_t, profile)
    k = SCALE["expl_twin"]
    common = dict(
        tol=s.eig_tol, max_iter=s.eig_max_iter, n_probes=s.trace_probes, seed=s.seed
    )
    t0 = time.perf_counter()
    g = explanation_change_curvature(twin, x, s.method, labels, **common)
    dec = target_decomposition(twin, x, target_maps, s.method, labels, **common)
    split = [
        {
            "h_trace": float(dec["h_trace"][i]) * k,
            "r_largest": float(dec["r_largest"][i]) * k,
            "r_smallest": float(dec["r_smallest"][i]) * k,
            "r_residual": max(
                float(dec["r_error_largest"][i]), float(dec["r_error_smallest"][i])
            )
            * k,
            "r_converged": bool(dec["r_converged"][i]),
            "r_trace": float(dec["r_trace"][i]) * k,
            "r_trace_stderr": float(dec["r_trace_stderr"][i]) * k,
        }
        for i in range(len(x))
    ]
    rows = _g_rows(g, TWIN, k, split)
    seconds_twin = time.perf_counter() - t0
    t0 = time.perf_counter()
    if defined_on(frozen, s.method):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", SecondOrderReLUWarning)
            rows += _g_rows(
                explanation_change_curvature(frozen, x, s.method, labels, **common),
                MODEL,
                k,
            )
    else:
        rows += [{"net": MODEL, "victim": i, "defined": False} for i in range(len(x))]
    return {
        "rows": rows,
        "seconds_twin": seconds_twin,
        "seconds_model": time.perf_counter() - t0,
    }


def flatness_config(
    profile: Profile,
    experiment: str,
    key: str,
    vi: np.ndarray,
    ti: np.ndarray,
    beta: float,
) -> dict:
    """The landscape's config at twin ``beta`` (model, victims, targets, data, eps, every landscape
    setting), with this kind's own code version."""
    return {
        **landscape_config(with_beta(profile, beta), experiment, key, vi, ti),
        "code_version": FLATNESS_CODE_VERSION,
    }


def model_flatness(
    profile: Profile,
    experiment: str,
    trained: TrainedModel,
    beta: float,
    store: ResultStore,
    device: str,
) -> dict:
    """``compute_flatness`` of one model at twin ``beta`` through the store (kind ``flatness``)."""
    vi, ti = landscape_victims(profile, experiment, store, device)
    entry = store.entry(
        "flatness",
        flatness_config(profile, experiment, trained.entry.key, vi, ti, beta),
    ).ensure()

    def compute() -> dict:
        x_all, y_all = evaluation_images(profile, experiment)
        t0 = time.perf_counter()
        out = compute_flatness(
            trained,
            x_all[vi].to(device),
            y_all[vi].to(device),
            x_all[ti].to(device),
            with_beta(profile, beta),
        )
        out["seconds"] = time.perf_counter() - t0
        return out

    return entry.get_or_compute_torch("flatness.pt", compute)


def flatness_rows(
    profile: Profile,
    store: ResultStore,
    device: str,
    runs: list[Run],
    beta: float,
) -> pd.DataFrame:
    """One row per (run, net, victim) at twin ``beta``: the entry's rows with the run's store ``key``,
    ``experiment`` and ``twin_beta``."""
    rows = []
    for run in runs:
        trained = get_model(run.spec, store, device, progress=False)
        out = model_flatness(profile, run.experiment, trained, beta, store, device)
        rows += [
            {
                "key": trained.entry.key,
                "experiment": run.experiment,
                "twin_beta": float(beta),
                **r,
                "seconds": out["seconds"],
            }
            for r in out["rows"]
        ]
    return pd.DataFrame(rows)


def flatness_table(
    profile: Profile,
    store: ResultStore,
    device: str,
    models: list[tuple[str, str, Run]],
    betas: tuple[float, ...],
) -> pd.DataFrame:
    """``flatness_rows`` of the (base, role, run) ``models`` at every twin beta of ``betas``, with the run's
    ``describe()`` fields and its ``base`` and ``role`` (as ``landscapes.curvature_table``)."""
    rows = []
    for base, role, run in models:
        for beta in betas:
            f = flatness_rows(profile, store, device, [run], beta)
            info = {**run.describe(), "base": base, "role": role}
            rows += [{**info, **r} for r in f.to_dict("records")]
    return pd.DataFrame(rows)


def as_curvature_rows(flat: pd.DataFrame) -> pd.DataFrame:
    """The twin rows of ``flatness_rows`` shaped as the old per-victim curvature rows (loss ``CHANGE``;
    ``largest`` = ``spectral``, G being positive semi-definite; ``smallest`` not measured, NaN)."""
    if not len(flat):
        return flat
    twin = flat[flat["net"] == TWIN]
    return twin.assign(
        loss=CHANGE,
        largest=twin["spectral"],
        smallest=np.nan,
        eig_converged=twin["eig_converged"].astype(bool),
        r_converged=twin["r_converged"].astype(bool),
    )


def flatness_task(
    profile: Profile,
    stage: str,
    label: str,
    run_of: RunOf,
    compute_run: RunOf,
    store: ResultStore,
    device: str,
    beta: float | None = None,
) -> Task:
    """The flatness entry of a possibly undecided model at twin ``beta`` (default: the landscape's), keyed by
    the model and the landscape victims once both are stored (as ``landscapes.landscape_task``)."""
    beta = profile.landscape.softplus_beta if beta is None else float(beta)

    def config() -> dict | None:
        run = run_of()
        if not isinstance(run, Run):
            return run
        pairs = stored_pairs(profile, run.experiment, store)
        if pairs is None:
            return None
        vi, ti = victims_from(pairs, profile.landscape.victims, run.experiment)
        return flatness_config(profile, run.experiment, model_key(run), vi, ti, beta)

    def compute() -> None:
        run = compute_run()
        if isinstance(run, Run):
            trained = get_model(run.spec, store, device, progress=False)
            model_flatness(profile, run.experiment, trained, beta, store, device)

    return Task(
        stage,
        f"{label} flatness β={beta:g}",
        "flatness",
        "flatness.pt",
        config,
        compute,
    )
