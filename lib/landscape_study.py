"""The input loss landscape over the robustness sweep: slices, flatness and curvature per model, stored.

For every model of the sweep and the prototype victims of its experiment (the first victim of each cluster,
with its target), ``model_landscape`` computes 1-D slices of three losses of the input:
  * ``ce``: cross-entropy of the true label, model as trained;
  * ``expl``: the explanation loss to the target map (MSE of normalised maps, as in the attack), model as
    trained: a ReLU network's gradient map is piecewise constant in the input, so this is a staircase;
  * ``expl_twin``: the same loss on the softplus twin (the function the attack descends); the flatness and
    curvature numbers of the explanation loss use this one, since a staircase has no useful curvature;
and, on the softplus twin, the extreme Hessian eigenvalues and the trace of CE and of the explanation loss.
Everything is kept in the result store per model and settings; ``python -m lib.landscape_study`` fills it.
"""
from __future__ import annotations

import copy
import math
import time
from dataclasses import asdict

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from tqdm.std import tqdm

from . import prototype_study as study
from .config import Profile
from .errors import ConfigError
from .curvature import ce_loss_fn, explanation_loss_fn, extreme_eigenvalues, hutchinson
from .explain import explanation_loss, explanation_map
from .landscape import make_grid, quadratic_coefficient, random_directions, second_difference, slice_1d, slice_2d
from .models import softplus_twin
from .store import ResultStore
from .runs import Run
from .stats import TOO_FEW, correlation_table, reading, two_stage_bootstrap
from .sweep import evaluate_model, model_key, showcase_runs, sweep_runs
from .train import TrainedModel, get_model
from .work import Task

LANDSCAPE_CODE_VERSION = 2  # 2: spectral and Frobenius norms, |quadratic coefficient|
LOSSES = ("ce", "expl", "expl_twin")
SCALE = {"ce": 1.0, "expl": 1e7, "expl_twin": 1e7}  # explanation losses in the paper's 1e-7 units


def victim_pairs(pairs, n: int, experiment: str) -> list[int]:
    """The landscape's victims as indices into the prototype pairs: the first pair of each cluster, then
    further pairs in order, up to ``n``."""
    if n > len(pairs.victims):
        raise ConfigError(f"landscape.victims={n} is not allowed: the prototype pairs of {experiment!r} have only "
                          f"{len(pairs.victims)} victims")
    first = [i for i in range(len(pairs.victims)) if i == 0 or pairs.victim_cluster[i] != pairs.victim_cluster[i - 1]]
    return (first + [i for i in range(len(pairs.victims)) if i not in set(first)])[:n]


def victims_from(pairs, n: int, experiment: str) -> tuple[np.ndarray, np.ndarray]:
    """Victim and target indices into the test subset of the ``victim_pairs``."""
    chosen = victim_pairs(pairs, n, experiment)
    return pairs.victims[chosen], pairs.targets[chosen]


def landscape_victims(profile: Profile, experiment: str, store: ResultStore, device: str
                      ) -> tuple[np.ndarray, np.ndarray]:
    """``victims_from`` the experiment's prototype pairs (computed and stored if missing)."""
    return victims_from(study.prototype_pairs(profile, experiment, store, device), profile.landscape.victims,
                        experiment)


def point_losses(model: torch.nn.Module, twin: torch.nn.Module, y: torch.Tensor, labels: torch.Tensor,
                 target_maps: torch.Tensor, method: str) -> dict:
    """Loss functions ``(points, owner) -> (M,)`` for slices: each point uses its victim's label and target map."""
    def ce(z, owner):
        return F.cross_entropy(model(z), y[owner], reduction="none")

    def expl(z, owner, net=model):
        maps = explanation_map(net, z, method, target=labels[owner])
        return explanation_loss(maps, target_maps[owner])

    return {"ce": ce, "expl": expl, "expl_twin": lambda z, owner: expl(z, owner, twin)}


def loss_setup(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, x_t: torch.Tensor, profile: Profile
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
    return frozen, twin, labels, target_maps, point_losses(frozen, twin, y, labels, target_maps, s.method)


def gaussian_direction(x: torch.Tensor, seed: int) -> torch.Tensor:
    """A Gaussian direction per input with the L2 norm of a sign direction (sqrt of the input size)."""
    return random_directions(x, "gaussian", math.sqrt(x[0].numel()), seed)


def directions(profile: Profile, x: torch.Tensor, grad_losses: dict) -> dict[str, list[torch.Tensor]]:
    """Per kind, a list of direction tensors (shape of ``x``): Gaussian with the L2 norm of a sign direction,
    random sign, and the gradient sign of each loss (``grad_losses``: loss name -> per-example loss fn)."""
    s = profile.landscape
    out = {"gaussian": [gaussian_direction(x, s.seed + j) for j in range(s.gaussian)],
           "sign": [random_directions(x, "sign", seed=s.seed + 1000 + j) for j in range(s.sign)]}
    for name, fn in grad_losses.items():
        out[f"gradient_sign:{name}"] = [random_directions(x, "gradient_sign", loss_fn=fn)]
    return out


def _flatness(losses: torch.Tensor, ts: torch.Tensor) -> dict[str, np.ndarray]:
    """Signed curvature along the slice (second difference, quadratic coefficient) and its size: the
    explanation loss at a victim is far from a minimum, so its curvature has either sign and only the
    magnitude says how flat it is."""
    q = quadratic_coefficient(losses, ts).cpu().numpy()
    return {"second_difference": second_difference(losses, ts).cpu().numpy(), "quadratic_coefficient": q,
            "abs_quadratic_coefficient": np.abs(q)}


def compute_landscape(trained: TrainedModel, x: torch.Tensor, y: torch.Tensor, x_t: torch.Tensor, eps: float,
                      profile: Profile) -> dict:
    """Slices, flatness and curvature for one model; plain tensors and numbers (see the module docstring)."""
    s = profile.landscape
    model, twin, labels, target_maps, fns = loss_setup(trained.model, x, y, x_t, profile)
    ts = make_grid(s.radius * eps, s.points).to(x.device)
    ce_twin = ce_loss_fn(twin, y)
    expl_twin = explanation_loss_fn(twin, target_maps, s.method, labels=labels)
    # CE's steepest direction on the model as trained; the explanation loss's on the twin (the trained
    # model's explanation loss has zero gradient almost everywhere)
    dirs = directions(profile, x, {"ce": lambda z: F.cross_entropy(model(z), y, reduction="none"),
                                   "expl_twin": expl_twin})
    slices, flat = {}, []
    for kind, ds in dirs.items():
        for j, d in enumerate(ds):
            for loss in LOSSES:
                if kind.startswith("gradient_sign:") and kind.split(":")[1] != ("ce" if loss == "ce" else "expl_twin"):
                    continue  # each loss along its own steepest (sign) direction; expl uses the twin's
                vals = slice_1d(fns[loss], x, d, ts, with_owner=True) * SCALE[loss]
                kind_name = kind.split(":")[0]
                slices[(loss, kind_name, j)] = vals.cpu()
                for key, v in _flatness(vals, ts).items():
                    for i, value in enumerate(v):
                        flat.append({"loss": loss, "direction": kind_name, "index": j, "victim": i,
                                     "measure": key, "value": float(value)})
    curv = curvature_rows(ce_twin, expl_twin, x, s)
    with torch.no_grad():
        at_zero = {loss: (fns[loss](x, torch.arange(len(x), device=x.device)) * SCALE[loss]).cpu().tolist()
                   for loss in LOSSES}
    return {"ts": ts.cpu(), "slices": {f"{a}|{b}|{c}": v for (a, b, c), v in slices.items()},
            "flatness": flat, "curvature": curv, "at_zero": at_zero}


def curvature_rows(ce_twin, expl_twin, x: torch.Tensor, s) -> list[dict]:
    """Per loss (CE, explanation loss; both on a softplus twin) and victim: the extreme input-Hessian
    eigenvalues (Lanczos), the spectral norm, the trace and the Frobenius norm (Hutchinson), in the
    losses' units (``SCALE``)."""
    curv = []
    for loss, fn in (("ce", ce_twin), ("expl_twin", expl_twin)):
        eig = extreme_eigenvalues(fn, x, tol=s.eig_tol, max_iter=s.eig_max_iter, seed=s.seed)
        tr, fro = hutchinson(fn, x, n_probes=s.trace_probes, seed=s.seed)
        k = SCALE[loss]
        for i in range(len(x)):
            lmax, lmin = float(eig.largest[i]) * k, float(eig.smallest[i]) * k
            curv.append({"loss": loss, "victim": i, "largest": lmax, "smallest": lmin,
                         "spectral": max(abs(lmax), abs(lmin)), "eig_converged": bool(eig.converged[i]),
                         "eig_residual": float(eig.error_largest[i]) * k, "trace": float(tr.trace[i]) * k,
                         "trace_stderr": float(tr.stderr[i]) * k,
                         "frobenius": math.sqrt(max(float(fro.trace[i]), 0.0)) * k,
                         "n_hvp": eig.n_hvp + tr.n_hvp})
    return curv


def landscape_config(profile: Profile, experiment: str, model_key_: str, vi: np.ndarray, ti: np.ndarray) -> dict:
    """What a stored landscape or surface depends on: the model, the images, the budget and every setting."""
    exp = profile.experiment(experiment)
    return {"model_key": model_key_, "victims": np.asarray(vi).tolist(), "targets": np.asarray(ti).tolist(),
            "data": {"name": exp.data.name, "n_test": exp.eval.n, "subset_seed": exp.data.subset_seed},
            "eps": exp.eval.attack.eps, "settings": asdict(profile.landscape), "code_version": LANDSCAPE_CODE_VERSION}


def model_landscape(profile: Profile, experiment: str, trained: TrainedModel, store: ResultStore, device: str
                    ) -> dict:
    """``compute_landscape`` through the store (keyed by model, victims and every landscape setting)."""
    exp = profile.experiment(experiment)
    vi, ti = landscape_victims(profile, experiment, store, device)
    entry = store.entry("landscapes", landscape_config(profile, experiment, trained.entry.key, vi, ti)).ensure()

    def compute() -> dict:
        x_all, y_all = study.test_images(profile, experiment)
        t0 = time.perf_counter()
        out = compute_landscape(trained, x_all[vi].to(device), y_all[vi].to(device), x_all[ti].to(device),
                                exp.eval.attack.eps, profile)
        out["seconds"] = time.perf_counter() - t0
        return out

    return entry.get_or_compute_torch("landscape.pt", compute)


def surface_runs(profile: Profile, experiment: str) -> list[Run]:
    """The models whose 2-D surfaces the chapter shows: the standard model and the largest-beta TRADES model
    of the first seed."""
    return [run for label, run in showcase_runs(profile, experiment).items() if label != "MAT"]


def model_surfaces(profile: Profile, experiment: str, trained: TrainedModel, store: ResultStore, device: str
                   ) -> dict:
    """2-D surfaces of the three losses on the plane of the first two Gaussian directions, stored."""
    s = profile.landscape
    exp = profile.experiment(experiment)
    vi, ti = landscape_victims(profile, experiment, store, device)
    vi, ti = vi[: s.surface_victims], ti[: s.surface_victims]
    entry = store.entry("surfaces", landscape_config(profile, experiment, trained.entry.key, vi, ti)).ensure()

    def compute() -> dict:
        x_all, y_all = study.test_images(profile, experiment)
        x, y, x_t = x_all[vi].to(device), y_all[vi].to(device), x_all[ti].to(device)
        fns = loss_setup(trained.model, x, y, x_t, profile)[-1]
        d1, d2 = gaussian_direction(x, s.seed), gaussian_direction(x, s.seed + 1)
        ts = make_grid(s.radius * exp.eval.attack.eps, s.surface_points).to(device)
        return {"ts": ts.cpu(), **{loss: (slice_2d(fns[loss], x, d1, d2, ts, with_owner=True) * SCALE[loss]).cpu()
                                   for loss in LOSSES}}

    return entry.get_or_compute_torch("surfaces.pt", compute)


def landscape_tables(profile: Profile, store: ResultStore, device: str, runs: list[Run] | None = None,
                     progress: bool = True) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    """For every run (default: the sweep): per-victim flatness rows and per-victim curvature rows (each with
    the run's describe() fields, accuracy and store key), and the raw landscapes by store key."""
    flat_rows, curv_rows, raw = [], [], {}
    for run in tqdm(runs or sweep_runs(profile), desc="landscapes", disable=not progress):
        exp = profile.experiment(run.experiment)
        trained = get_model(run.spec, store, device, progress=progress)
        acc = evaluate_model(trained, exp, store, exp.eval.attack)
        land = model_landscape(profile, run.experiment, trained, store, device)
        raw[trained.entry.key] = land
        common = {**run.describe(), "clean_acc": acc["clean_acc"], "pgd_acc": acc["pgd_acc"], "key": trained.entry.key}
        flat_rows += [{**common, **r} for r in land["flatness"]]
        for r in land["curvature"]:
            curv_rows.append({**common, **r, "l0": land["at_zero"][r["loss"]][r["victim"]], "seconds": land["seconds"]})
    return pd.DataFrame(flat_rows), pd.DataFrame(curv_rows), raw


def per_model(flat: pd.DataFrame, curv: pd.DataFrame) -> pd.DataFrame:
    """One row per model: mean over victims (and directions) of each flatness and curvature measure."""
    keys = ["experiment", "dataset", "model", "kind", "method", "beta", "seed", "clean_acc", "pgd_acc", "key"]
    f = flat.assign(col=flat["loss"] + ":" + flat["direction"] + ":" + flat["measure"])
    wide = f.pivot_table(index="key", columns="col", values="value", aggfunc="mean")
    c = curv.melt(id_vars=keys + ["loss", "victim"],
                  value_vars=["largest", "smallest", "spectral", "trace", "frobenius", "l0"],
                  var_name="measure")
    c = c.assign(col=c["loss"] + ":" + c["measure"]).pivot_table(index="key", columns="col", values="value",
                                                                   aggfunc="mean")
    info = curv.drop_duplicates("key").set_index("key")[[k for k in keys if k != "key"]]
    return info.join(wide).join(c).reset_index()


def by_kind(values: pd.DataFrame, column: str = "value", n_boot: int = 1000, seed: int = 0) -> pd.DataFrame:
    """Mean of ``column`` per experiment and kind of model, with a two-stage bootstrap 95 % interval: models
    (seeds) resampled, then the values (victims, directions) within each chosen model."""
    rows = []
    for (name, kind), g in values.groupby(["experiment", "kind"], sort=False):
        groups = [gg[column].to_numpy(dtype=float) for _, gg in g.groupby("key", sort=False)]
        try:
            mean, lo, hi = two_stage_bootstrap(groups, n_boot, seed)
        except ConfigError as exc:
            raise ConfigError(f"{column} of {name} {kind}: {exc}") from None
        rows.append({"experiment": name, "kind": kind, "method": g["method"].iloc[0], "beta": g["beta"].iloc[0],
                     "mean": mean, "ci_low": lo, "ci_high": hi, "models": len(groups),
                     "n": int(sum(len(v) for v in groups))})
    return pd.DataFrame(rows)


FLATNESS_MEASURES = {
    "ce:gaussian:abs_quadratic_coefficient": "|quadratic coef.| (Gaussian slice, trained model)",
    "ce:gradient_sign:abs_quadratic_coefficient": "|quadratic coef.| (gradient-sign slice, trained model)",
    "ce:spectral": "Hessian spectral norm (twin)", "ce:frobenius": "Hessian Frobenius norm (twin)",
    "expl_twin:gaussian:abs_quadratic_coefficient": "|quadratic coef.| (Gaussian slice, twin)",
    "expl_twin:gradient_sign:abs_quadratic_coefficient": "|quadratic coef.| (gradient-sign slice, twin)",
    "expl_twin:spectral": "Hessian spectral norm (twin)", "expl_twin:frobenius": "Hessian Frobenius norm (twin)"}
LOSS_NAMES = {"ce": "CE", "expl_twin": "explanation loss"}


def flatness_correlations(models: pd.DataFrame) -> pd.DataFrame:
    """Spearman's rho (bootstrap interval over models) of every flatness measure against PGD accuracy and
    beta, per experiment, with the reading: the loss "flattens" with classification robustness when the
    interval lies below 0, "sharpens" when above, else no clear relation."""
    corr = correlation_table(models, ["experiment"], ["pgd_acc", "beta"], list(FLATNESS_MEASURES))
    corr = corr.rename(columns={"x": "against", "y": "column", "n": "models"})
    corr["loss"] = corr["column"].str.split(":").str[0]
    corr["measure"] = corr["column"].map(FLATNESS_MEASURES)
    corr["reading"] = [reading(r.ci_low, r.ci_high, "sharpens", "flattens", n=r.models) for r in corr.itertuples()]
    return corr


def reading_shares(corr: pd.DataFrame) -> dict[str, float]:
    """Over the readings against PGD accuracy: the share that say CE flattens, the explanation loss
    flattens, and the explanation loss sharpens."""
    v = corr[corr["against"] == "pgd_acc"]
    ce, ex = v[v["loss"] == "ce"]["reading"], v[v["loss"] == "expl_twin"]["reading"]
    return {"ce_flattens": float((ce == "flattens").mean()), "expl_flattens": float((ex == "flattens").mean()),
            "expl_sharpens": float((ex == "sharpens").mean())}


def landscape_parts(corr: pd.DataFrame) -> pd.DataFrame:
    """Per experiment, from ``landscape_study.flatness_correlations`` (readings against PGD accuracy, those
    with too few models left out): how many CE measures flatten, and how many explanation-loss measures
    flatten and sharpen, out of how many with a reading."""
    v = corr[(corr["against"] == "pgd_acc") & (corr["reading"] != TOO_FEW)]
    rows = []
    for name in dict.fromkeys(corr["experiment"]):
        g = v[v["experiment"] == name]
        ce, ex = g[g["loss"] == "ce"]["reading"], g[g["loss"] == "expl_twin"]["reading"]
        rows.append({"experiment": name, "ce_flattens": int((ce == "flattens").sum()), "ce_n": len(ce),
                     "expl_flattens": int((ex == "flattens").sum()), "expl_sharpens": int((ex == "sharpens").sum()),
                     "expl_n": len(ex)})
    return pd.DataFrame(rows, columns=["experiment", "ce_flattens", "ce_n", "expl_flattens", "expl_sharpens",
                                       "expl_n"])


TRACKING_CANDIDATES = {"l_start_1e-7": "L_start (prototype pairs)",
                       "expl_twin:l0": "expl. L(x) (landscape victims, twin)",
                       "expl_twin:gaussian:abs_quadratic_coefficient": "expl. |quadratic coef.| (Gaussian)",
                       "expl_twin:spectral": "expl. Hessian spectral norm",
                       "expl_twin:frobenius": "expl. Hessian Frobenius norm", "ce:spectral": "CE Hessian spectral norm"}


def tracking(models: pd.DataFrame, relation: pd.DataFrame) -> pd.DataFrame:
    """Which model-level quantity goes with explanation robustness: Spearman's rho (interval over models) of
    each candidate (where the attack starts, the landscape's curvature) against L_end and the relative
    reduction, per experiment; ``clear`` when the interval excludes 0."""
    joined = models.merge(relation[["key", "l_end_1e-7", "relative_reduction", "l_start_1e-7"]], on="key")
    corr = correlation_table(joined, ["experiment"], list(TRACKING_CANDIDATES), ["l_end_1e-7", "relative_reduction"])
    corr["candidate"] = corr["x"].map(TRACKING_CANDIDATES)
    corr["robustness"] = corr["y"].map({"l_end_1e-7": "L_end", "relative_reduction": "relative reduction"})
    corr["clear"] = [reading(r.ci_low, r.ci_high, "yes", "yes", n=r.n) == "yes" for r in corr.itertuples()]
    return corr


def tracking_verdict(track: pd.DataFrame) -> str:
    """Which of the starting value and the explanation landscape's curvature tracks L_end in every experiment."""
    clear = track[track["robustness"] == "L_end"].groupby("x")["clear"].all()
    start = bool(clear.get("l_start_1e-7", False))
    curv = bool(clear.get("expl_twin:spectral", False) or clear.get("expl_twin:frobenius", False))
    return {(True, False): "The starting value tracks L_end in every experiment and the curvature of the "
                           "explanation landscape does not: by this evidence the prototype measure reflects how far "
                           "apart the maps start more than how flat the landscape is.",
            (True, True): "Both the starting value and the curvature track L_end in every experiment, so this data "
                          "cannot separate the two explanations.",
            (False, True): "The curvature of the explanation landscape tracks L_end in every experiment and the "
                           "starting value does not.",
            (False, False): "Neither the starting value nor the curvature tracks L_end clearly in every "
                            "experiment."}[(start, curv)]


# ------------------------------------------------------------------------------------------------
# the stage's work, listed without computing it


def landscape_tasks(profile: Profile, runs: list[Run], store: ResultStore, device: str) -> list[Task]:
    """Every run's landscape and the chapter's surfaces (keyed by the victims, once the pairs are stored)."""
    def victims(name: str, n: int) -> tuple[np.ndarray, np.ndarray] | None:
        pairs = study.stored_pairs(profile, name, store)
        return None if pairs is None else victims_from(pairs, profile.landscape.victims, name)

    def config(run: Run, surface: bool) -> dict | None:
        v = victims(run.experiment, profile.landscape.victims)
        if v is None:
            return None
        k = profile.landscape.surface_victims if surface else len(v[0])
        return landscape_config(profile, run.experiment, model_key(run), v[0][:k], v[1][:k])

    def landscape(run: Run) -> None:
        landscape_tables(profile, store, device, [run], progress=False)

    def surface(run: Run) -> None:
        model_surfaces(profile, run.experiment, get_model(run.spec, store, device, progress=False), store, device)

    tasks = [Task("landscapes", run.label, "landscapes", "landscape.pt", lambda r=run: config(r, False),
                  lambda r=run: landscape(r)) for run in runs]
    for name in dict.fromkeys(r.experiment for r in runs):
        tasks += [Task("surfaces", run.label, "surfaces", "surfaces.pt", lambda r=run: config(r, True),
                       lambda r=run: surface(r)) for run in surface_runs(profile, name)]
    return tasks


def main(argv: list[str] | None = None) -> None:
    from .cli import load, stage_parser, user_errors

    args = stage_parser("Compute the input landscapes and curvature of a profile's sweep.").parse_args(argv)
    t0 = time.perf_counter()
    with user_errors():
        profile, device = load(args)
        store = ResultStore()
        flat, curv, _ = landscape_tables(profile, store, device)
        for name in profile.run:
            for run in surface_runs(profile, name):
                model_surfaces(profile, name, get_model(run.spec, store, device), store, device)
        print(per_model(flat, curv).drop(columns=["key"]).to_string())
    print(f"landscapes done in {time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    main()
