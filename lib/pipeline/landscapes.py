"""Input-space landscapes of a stored model, cached: slices and input-Hessian curvature of the CE and
explanation losses at the landscape victims, surfaces, and the curvature at a second twin beta."""

from __future__ import annotations

import copy
import math
import time
from dataclasses import asdict, replace

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from tqdm.std import tqdm

from lib.core.errors import ConfigError
from lib.core.profile import Profile
from lib.core.store import ResultStore
from lib.measure.curvature import (
    ce_loss_fn,
    explanation_loss_fn,
    extreme_eigenvalues,
    hutchinson,
)
from lib.measure.explain import explanation_loss, explanation_map
from lib.measure.landscape import (
    make_grid,
    quadratic_coefficient,
    random_directions,
    second_difference,
    slice_1d,
    slice_2d,
)
from lib.nn.models import softplus_twin
from lib.pipeline.evaluation import RunOf, evaluate_model, model_key
from lib.pipeline.explanation_attack import (
    evaluation_images,
    prototype_pairs,
    stored_pairs,
)
from lib.pipeline.roster import showcase_runs, sweep_runs
from lib.pipeline.runs import Run
from lib.pipeline.task import Task
from lib.pipeline.training import TrainedModel, get_model

LANDSCAPE_CODE_VERSION = 3  # 2: spectral and Frobenius norms, |quadratic coefficient|; 3: the twin's hand-written softplus (values within 1e-7 / beta)


LOSSES = ("ce", "expl", "expl_twin")


SCALE = {
    "ce": 1.0,
    "expl": 1e7,
    "expl_twin": 1e7,
}  # explanation losses in the paper's 1e-7 units


def victim_pairs(pairs, n: int, experiment: str) -> list[int]:
    """The landscape's victims as indices into the prototype pairs: the first pair of each cluster, then
    further pairs in order, up to ``n``."""
    if n > len(pairs.victims):
        raise ConfigError(
            f"landscape.victims={n} is not allowed: the prototype pairs of {experiment!r} have only "
            f"{len(pairs.victims)} victims"
        )
    first = [
        i
        for i in range(len(pairs.victims))
        if i == 0 or pairs.victim_cluster[i] != pairs.victim_cluster[i - 1]
    ]
    return (first + [i for i in range(len(pairs.victims)) if i not in set(first)])[:n]


def victims_from(pairs, n: int, experiment: str) -> tuple[np.ndarray, np.ndarray]:
    """Victim and target indices into the test subset of the ``victim_pairs``."""
    chosen = victim_pairs(pairs, n, experiment)
    return pairs.victims[chosen], pairs.targets[chosen]


def landscape_victims(
    profile: Profile, experiment: str, store: ResultStore, device: str
) -> tuple[np.ndarray, np.ndarray]:
    """``victims_from`` the experiment's prototype pairs (computed and stored if missing)."""
    return victims_from(
        prototype_pairs(profile, experiment, store, device),
        profile.landscape.victims,
        experiment,
    )


def point_losses(
    model: torch.nn.Module,
    twin: torch.nn.Module,
    y: torch.Tensor,
    labels: torch.Tensor,
    target_maps: torch.Tensor,
    method: str,
) -> dict:
    """Loss functions ``(points, owner) -> (M,)`` for slices: each point uses its victim's label and target map."""

    def ce(z, owner):
        return F.cross_entropy(model(z), y[owner], reduction="none")

    def expl(z, owner, net=model):
        maps = explanation_map(net, z, method, target=labels[owner])
        return explanation_loss(maps, target_maps[owner])

    return {"ce": ce, "expl": expl, "expl_twin": lambda z, owner: expl(z, owner, twin)}


def loss_setup(
    model: torch.nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    x_t: torch.Tensor,
    profile: Profile,
) -> tuple[torch.nn.Module, torch.nn.Module, torch.Tensor, torch.Tensor, dict]:
    """A frozen copy of the model (eval mode, no parameter gradients; the caller's model is left as it was)
    and its softplus twin, the victims' predicted labels, the targets' maps (model as trained, as in the
    attack) and the slice losses of ``point_losses``."""
    s = profile.landscape
    frozen = copy.deepcopy(model).eval()
    twin = softplus_twin(frozen, s.softplus_beta).eval()
    for net in (frozen, twin):
        for p in net.parameters():
            p.requires_grad_(False)
    with torch.no_grad():
        labels = frozen(x).argmax(1)
    target_maps = explanation_map(frozen, x_t, s.method).detach()
    return (
        frozen,
        twin,
        labels,
        target_maps,
        point_losses(frozen, twin, y, labels, target_maps, s.method),
    )


def gaussian_direction(x: torch.Tensor, seed: int) -> torch.Tensor:
    """A Gaussian direction per input with the L2 norm of a sign direction (sqrt of the input size)."""
    return random_directions(x, "gaussian", math.sqrt(x[0].numel()), seed)


def directions(
    profile: Profile, x: torch.Tensor, grad_losses: dict
) -> dict[str, list[torch.Tensor]]:
    """Per kind, a list of direction tensors (shape of ``x``): Gaussian with the L2 norm of a sign direction,
    random sign, and the gradient sign of each loss (``grad_losses``: loss name -> per-example loss fn)."""
    s = profile.landscape
    out = {
        "gaussian": [gaussian_direction(x, s.seed + j) for j in range(s.gaussian)],
        "sign": [
            random_directions(x, "sign", seed=s.seed + 1000 + j) for j in range(s.sign)
        ],
    }
    for name, fn in grad_losses.items():
        out[f"gradient_sign:{name}"] = [
            random_directions(x, "gradient_sign", loss_fn=fn)
        ]
    return out


def _flatness(losses: torch.Tensor, ts: torch.Tensor) -> dict[str, np.ndarray]:
    """Signed curvature along the slice (second difference, quadratic coefficient) and its size: the
    explanation loss at a victim is far from a minimum, so its curvature has either sign and only the
    magnitude says how flat it is."""
    q = quadratic_coefficient(losses, ts).cpu().numpy()
    return {
        "second_difference": second_difference(losses, ts).cpu().numpy(),
        "quadratic_coefficient": q,
        "abs_quadratic_coefficient": np.abs(q),
    }


def compute_landscape(
    trained: TrainedModel,
    x: torch.Tensor,
    y: torch.Tensor,
    x_t: torch.Tensor,
    eps: float,
    profile: Profile,
) -> dict:
    """Slices, flatness and curvature for one model; plain tensors and numbers (see the module docstring)."""
    s = profile.landscape
    model, twin, labels, target_maps, fns = loss_setup(
        trained.model, x, y, x_t, profile
    )
    ts = make_grid(s.radius * eps, s.points).to(x.device)
    ce_twin = ce_loss_fn(twin, y)
    expl_twin = explanation_loss_fn(twin, target_maps, s.method, labels=labels)
    # CE's steepest direction on the model as trained; the explanation loss's on the twin (the trained
    # model's explanation loss has zero gradient almost everywhere)
    dirs = directions(
        profile,
        x,
        {
            "ce": lambda z: F.cross_entropy(model(z), y, reduction="none"),
            "expl_twin": expl_twin,
        },
    )
    slices, flat = {}, []
    for kind, ds in dirs.items():
        for j, d in enumerate(ds):
            for loss in LOSSES:
                if kind.startswith("gradient_sign:") and kind.split(":")[1] != (
                    "ce" if loss == "ce" else "expl_twin"
                ):
                    continue  # each loss along its own steepest (sign) direction; expl uses the twin's
                vals = slice_1d(fns[loss], x, d, ts, with_owner=True) * SCALE[loss]
                kind_name = kind.split(":")[0]
                slices[(loss, kind_name, j)] = vals.cpu()
                for key, v in _flatness(vals, ts).items():
                    for i, value in enumerate(v):
                        flat.append(
                            {
                                "loss": loss,
                                "direction": kind_name,
                                "index": j,
                                "victim": i,
                                "measure": key,
                                "value": float(value),
                            }
                        )
    curv = curvature_rows(ce_twin, expl_twin, x, s)
    with torch.no_grad():
        at_zero = {
            loss: (fns[loss](x, torch.arange(len(x), device=x.device)) * SCALE[loss])
            .cpu()
            .tolist()
            for loss in LOSSES
        }
    return {
        "ts": ts.cpu(),
        "slices": {f"{a}|{b}|{c}": v for (a, b, c), v in slices.items()},
        "flatness": flat,
        "curvature": curv,
        "at_zero": at_zero,
    }


def curvature_rows(ce_twin, expl_twin, x: torch.Tensor, s) -> list[dict]:
    """Per loss (CE, explanation loss; both on a softplus twin) and victim: the extreme input-Hessian
    eigenvalues (Lanczos), the spectral norm, the trace and the Frobenius norm (Hutchinson), in the
    losses' units (``SCALE``)."""
    curv = []
    for loss, fn in (("ce", ce_twin), ("expl_twin", expl_twin)):
        eig = extreme_eigenvalues(
            fn, x, tol=s.eig_tol, max_iter=s.eig_max_iter, seed=s.seed
        )
        tr, fro = hutchinson(fn, x, n_probes=s.trace_probes, seed=s.seed)
        k = SCALE[loss]
        for i in range(len(x)):
            lmax, lmin = float(eig.largest[i]) * k, float(eig.smallest[i]) * k
            curv.append(
                {
                    "loss": loss,
                    "victim": i,
                    "largest": lmax,
                    "smallest": lmin,
                    "spectral": max(abs(lmax), abs(lmin)),
                    "eig_converged": bool(eig.converged[i]),
                    "eig_residual": float(eig.error_largest[i]) * k,
                    "trace": float(tr.trace[i]) * k,
                    "trace_stderr": float(tr.stderr[i]) * k,
                    "frobenius": math.sqrt(max(float(fro.trace[i]), 0.0)) * k,
                    "n_hvp": eig.n_hvp + tr.n_hvp,
                }
            )
    return curv


def landscape_config(
    profile: Profile, experiment: str, model_key_: str, vi: np.ndarray, ti: np.ndarray
) -> dict:
    """What a stored landscape or surface depends on: the model, the images, the budget and every setting."""
    exp = profile.experiment(experiment)
    return {
        "model_key": model_key_,
        "victims": np.asarray(vi).tolist(),
        "targets": np.asarray(ti).tolist(),
        "data": {
            "name": exp.data.name,
            "n_test": exp.eval.n,
            "subset_seed": exp.data.subset_seed,
        },
        "eps": exp.eval.attack.eps,
        "settings": {
            k: v
            for k, v in asdict(profile.landscape).items()
            if k not in profile.landscape.READING_ONLY
        },
        "code_version": LANDSCAPE_CODE_VERSION,
    }


def model_landscape(
    profile: Profile,
    experiment: str,
    trained: TrainedModel,
    store: ResultStore,
    device: str,
) -> dict:
    """``compute_landscape`` through the store (keyed by model, victims and every landscape setting)."""
    exp = profile.experiment(experiment)
    vi, ti = landscape_victims(profile, experiment, store, device)
    entry = store.entry(
        "landscapes", landscape_config(profile, experiment, trained.entry.key, vi, ti)
    ).ensure()

    def compute() -> dict:
        x_all, y_all = evaluation_images(profile, experiment)
        t0 = time.perf_counter()
        out = compute_landscape(
            trained,
            x_all[vi].to(device),
            y_all[vi].to(device),
            x_all[ti].to(device),
            exp.eval.attack.eps,
            profile,
        )
        out["seconds"] = time.perf_counter() - t0
        return out

    return entry.get_or_compute_torch("landscape.pt", compute)


def surface_runs(profile: Profile, experiment: str) -> list[Run]:
    """The models whose 2-D surfaces the chapter shows: the standard model and the largest-beta TRADES model
    of the first seed."""
    return [
        run
        for label, run in showcase_runs(profile, experiment).items()
        if label != "MAT"
    ]


def model_surfaces(
    profile: Profile,
    experiment: str,
    trained: TrainedModel,
    store: ResultStore,
    device: str,
) -> dict:
    """2-D surfaces of the three losses on the plane of the first two Gaussian directions, stored."""
    s = profile.landscape
    exp = profile.experiment(experiment)
    vi, ti = landscape_victims(profile, experiment, store, device)
    vi, ti = vi[: s.surface_victims], ti[: s.surface_victims]
    entry = store.entry(
        "surfaces", landscape_config(profile, experiment, trained.entry.key, vi, ti)
    ).ensure()

    def compute() -> dict:
        x_all, y_all = evaluation_images(profile, experiment)
        x, y, x_t = x_all[vi].to(device), y_all[vi].to(device), x_all[ti].to(device)
        fns = loss_setup(trained.model, x, y, x_t, profile)[-1]
        d1, d2 = gaussian_direction(x, s.seed), gaussian_direction(x, s.seed + 1)
        ts = make_grid(s.radius * exp.eval.attack.eps, s.surface_points).to(device)
        return {
            "ts": ts.cpu(),
            **{
                loss: (
                    slice_2d(fns[loss], x, d1, d2, ts, with_owner=True) * SCALE[loss]
                ).cpu()
                for loss in LOSSES
            },
        }

    return entry.get_or_compute_torch("surfaces.pt", compute)


def landscape_tables(
    profile: Profile,
    store: ResultStore,
    device: str,
    runs: list[Run] | None = None,
    progress: bool = True,
) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    """For every run (default: the sweep): per-victim flatness rows and per-victim curvature rows (each with
    the run's describe() fields, accuracy and store key), and the raw landscapes by store key."""
    flat_rows, curv_rows, raw = [], [], {}
    for run in tqdm(
        runs or sweep_runs(profile), desc="landscapes", disable=not progress
    ):
        exp = profile.experiment(run.experiment)
        trained = get_model(run.spec, store, device, progress=progress)
        acc = evaluate_model(trained, exp, store, exp.eval.attack)
        land = model_landscape(profile, run.experiment, trained, store, device)
        raw[trained.entry.key] = land
        common = {
            **run.describe(),
            "clean_acc": acc["clean_acc"],
            "pgd_acc": acc["pgd_acc"],
            "key": trained.entry.key,
        }
        flat_rows += [{**common, **r} for r in land["flatness"]]
        for r in land["curvature"]:
            curv_rows.append(
                {
                    **common,
                    **r,
                    "l0": land["at_zero"][r["loss"]][r["victim"]],
                    "seconds": land["seconds"],
                }
            )
    return pd.DataFrame(flat_rows), pd.DataFrame(curv_rows), raw


def per_model(flat: pd.DataFrame, curv: pd.DataFrame) -> pd.DataFrame:
    """One row per model: mean over victims (and directions) of each flatness and curvature measure."""
    keys = [
        "experiment",
        "dataset",
        "model",
        "kind",
        "family",
        "beta",
        "seed",
        "clean_acc",
        "pgd_acc",
        "key",
    ]
    f = flat.assign(col=flat["loss"] + ":" + flat["direction"] + ":" + flat["measure"])
    wide = f.pivot_table(index="key", columns="col", values="value", aggfunc="mean")
    c = curv.melt(
        id_vars=keys + ["loss", "victim"],
        value_vars=["largest", "smallest", "spectral", "trace", "frobenius", "l0"],
        var_name="measure",
    )
    c = c.assign(col=c["loss"] + ":" + c["measure"]).pivot_table(
        index="key", columns="col", values="value", aggfunc="mean"
    )
    info = curv.drop_duplicates("key").set_index("key")[[k for k in keys if k != "key"]]
    return info.join(wide).join(c).reset_index()


def landscape_tasks(
    profile: Profile, runs: list[Run], store: ResultStore, device: str
) -> list[Task]:
    """Every run's landscape and the chapter's surfaces (keyed by the victims, once the pairs are stored)."""

    def victims(name: str, n: int) -> tuple[np.ndarray, np.ndarray] | None:
        pairs = stored_pairs(profile, name, store)
        return (
            None
            if pairs is None
            else victims_from(pairs, profile.landscape.victims, name)
        )

    def config(run: Run, surface: bool) -> dict | None:
        v = victims(run.experiment, profile.landscape.victims)
        if v is None:
            return None
        k = profile.landscape.surface_victims if surface else len(v[0])
        return landscape_config(
            profile, run.experiment, model_key(run), v[0][:k], v[1][:k]
        )

    def landscape(run: Run) -> None:
        landscape_tables(profile, store, device, [run], progress=False)

    def surface(run: Run) -> None:
        model_surfaces(
            profile,
            run.experiment,
            get_model(run.spec, store, device, progress=False),
            store,
            device,
        )

    tasks = [
        Task(
            "landscapes",
            run.label,
            "landscapes",
            "landscape.pt",
            lambda r=run: config(r, False),
            lambda r=run: landscape(r),
        )
        for run in runs
    ]
    for name in dict.fromkeys(r.experiment for r in runs):
        tasks += [
            Task(
                "surfaces",
                run.label,
                "surfaces",
                "surfaces.pt",
                lambda r=run: config(r, True),
                lambda r=run: surface(r),
            )
            for run in surface_runs(profile, name)
        ]
    return tasks


CURVATURE_MEASURES = ("spectral", "largest", "smallest", "frobenius")


def with_beta(profile: Profile, beta: float) -> Profile:
    """``profile`` with the landscape twin's softplus beta set to ``beta``."""
    return replace(
        profile, landscape=replace(profile.landscape, softplus_beta=float(beta))
    )


def betas(profile: Profile) -> tuple[float, float]:
    return profile.landscape.softplus_beta, profile.drivers.second_beta


def compute_curvature(
    trained: TrainedModel,
    x: torch.Tensor,
    y: torch.Tensor,
    x_t: torch.Tensor,
    profile: Profile,
) -> dict:
    """``curvature_rows`` of CE and the explanation loss on the profile's twin (no slices)."""
    s = profile.landscape
    _, twin, labels, target_maps, _ = loss_setup(trained.model, x, y, x_t, profile)
    rows = curvature_rows(
        ce_loss_fn(twin, y),
        explanation_loss_fn(twin, target_maps, s.method, labels=labels),
        x,
        s,
    )
    return {"curvature": rows}


def curvature_config(
    profile: Profile,
    experiment: str,
    key: str,
    vi: np.ndarray,
    ti: np.ndarray,
    beta: float,
) -> dict:
    return landscape_config(with_beta(profile, beta), experiment, key, vi, ti)


def model_curvature(
    profile: Profile,
    experiment: str,
    trained: TrainedModel,
    beta: float,
    store: ResultStore,
    device: str,
) -> list[dict]:
    """Per loss and victim, the curvature rows of one model at twin ``beta``: from the landscape entry at the
    landscape chapter's beta, else from a ``curvatures`` entry (computed and stored if missing)."""
    if beta == profile.landscape.softplus_beta:
        return model_landscape(profile, experiment, trained, store, device)["curvature"]
    vi, ti = landscape_victims(profile, experiment, store, device)
    entry = store.entry(
        "curvatures",
        curvature_config(profile, experiment, trained.entry.key, vi, ti, beta),
    ).ensure()

    def compute() -> dict:
        x_all, y_all = evaluation_images(profile, experiment)
        t0 = time.perf_counter()
        out = compute_curvature(
            trained,
            x_all[vi].to(device),
            y_all[vi].to(device),
            x_all[ti].to(device),
            with_beta(profile, beta),
        )
        out["seconds"] = time.perf_counter() - t0
        return out

    return entry.get_or_compute_torch("curvature.pt", compute)["curvature"]


def curvature_table(
    profile: Profile,
    store: ResultStore,
    device: str,
    models: list[tuple[str, str, Run]],
) -> pd.DataFrame:
    """One row per (model, twin beta, loss, victim): the run's fields, its base and role, the twin's beta and
    the curvature measures (1e-7 for the explanation loss)."""
    rows = []
    for base, role, run in models:
        trained = get_model(run.spec, store, device, progress=False)
        for beta in betas(profile):
            for r in model_curvature(
                profile, run.experiment, trained, beta, store, device
            ):
                rows.append(
                    {
                        **run.describe(),
                        "base": base,
                        "role": role,
                        "twin_beta": beta,
                        **r,
                        "key": trained.entry.key,
                    }
                )
    return pd.DataFrame(rows)


def landscape_task(
    profile: Profile,
    stage: str,
    label: str,
    run_of: RunOf,
    compute_run: RunOf,
    store: ResultStore,
    device: str,
    beta: float | None = None,
    surface: bool = False,
) -> Task:
    """The landscape (``beta`` None), the curvature at twin ``beta`` or the surfaces (``surface``) of a
    possibly undecided model, keyed by the model and the landscape victims once both are stored."""

    def config() -> dict | None:
        run = run_of()
        if not isinstance(run, Run):
            return run
        pairs = stored_pairs(profile, run.experiment, store)
        if pairs is None:
            return None
        vi, ti = victims_from(pairs, profile.landscape.victims, run.experiment)
        if surface:
            k = profile.landscape.surface_victims
            return landscape_config(
                profile, run.experiment, model_key(run), vi[:k], ti[:k]
            )
        return curvature_config(
            profile,
            run.experiment,
            model_key(run),
            vi,
            ti,
            profile.landscape.softplus_beta if beta is None else beta,
        )

    def compute() -> None:
        run = compute_run()
        if isinstance(run, Run):
            trained = get_model(run.spec, store, device, progress=False)
            if surface:
                model_surfaces(profile, run.experiment, trained, store, device)
            elif beta is None:
                landscape_tables(profile, store, device, [run], progress=False)
            else:
                model_curvature(profile, run.experiment, trained, beta, store, device)

    kind, file = (
        ("surfaces", "surfaces.pt")
        if surface
        else ("landscapes", "landscape.pt")
        if beta is None
        else ("curvatures", "curvature.pt")
    )
    suffix = " surfaces" if surface else "" if beta is None else f" twin β={beta:g}"
    return Task(stage, label + suffix, kind, file, config, compute)
