"""SEP's lambda grid, measured: L_f and the cross-entropy at initialisation, per architecture, explanation
method and batch-norm mode, and the lambdas that one rule derives from them.

The rule (fixed before any SEP model was trained, profile comments of ``sep.lambdas``): |lambda| * L_f at
initialisation = 1 %, 10 % and 100 % of the initial cross-entropy, both signs. Training computes L_f with
every module in eval mode (``lib.measure.sep.sep_loss``: batch norm on its running statistics) and the
cross-entropy in train mode, so the grid is derived from L_f in eval mode; the train-mode (batch
statistics) value is measured beside it, because the ResNet-18 grid of the ``cpu`` profile was first
calibrated in that mode. For a network without batch norm or dropout (the ConvNet) the two modes agree.
"""

from __future__ import annotations

import argparse
import time

import pandas as pd
import torch
import torch.nn.functional as F

from lib.core.errors import check
from lib.core.profile import Profile, load_profile
from lib.core.store import ResultStore
from lib.measure.explain import preserved
from lib.measure.sep import clamp_effect, explanation_change
from lib.nn.data import load_dataset
from lib.pipeline.roster import base_runs, first_seed, study_experiments
from lib.pipeline.runs import Run
from lib.pipeline.task import Task
from lib.pipeline.training import build_for

CALIBRATION_CODE_VERSION = 1
FRACTIONS = (0.01, 0.1, 1.0)  # |lambda| * L_f / CE at initialisation
MODES = ("eval", "train")


def lf_at_init(
    model: torch.nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    sigma: float,
    method: str,
    samples: int,
    mode: str,
    seed: int,
) -> tuple[float, float]:
    """(mean L_f, mean cross-entropy) of ``model`` on ``x``: L_f with every module in ``mode`` ("eval" as
    training computes it, or "train": batch statistics), true labels explained, noise from ``seed``; the
    cross-entropy in train mode, as training's base loss."""
    check(mode in MODES, "mode", mode, f"one of {MODES}")
    gen = torch.Generator().manual_seed(seed)
    with preserved(model):
        model.train(mode == "train")
        lf = explanation_change(
            model,
            x,
            sigma,
            method,
            target=y,
            samples=samples,
            generator=gen,
            create_graph=False,
        )
        model.train()
        with torch.no_grad():
            ce = F.cross_entropy(model(x), y)
    return float(lf.mean()), float(ce)


def calibration_config(
    profile: Profile, run: Run, methods: tuple[str, ...], n: int, seed: int
) -> dict:
    """What a calibration depends on: the model's configuration at initialisation (architecture, data, the
    training seed that draws its weights), the images, SEP's noise and the methods."""
    spec = run.spec
    return {
        "model": spec.store_config()["model"],
        "data": {
            "name": spec.data.name,
            "n": n,
            "subset_seed": spec.data.subset_seed,
        },
        "init_seed": spec.train.seed,
        "sigma": profile.sep.sigma,
        "samples": profile.sep.samples,
        "methods": list(methods),
        "seed": seed,
        "code_version": CALIBRATION_CODE_VERSION,
    }


def calibrate(
    profile: Profile,
    run: Run,
    methods: tuple[str, ...],
    store: ResultStore,
    device: str,
    n: int = 512,
    seed: int = 0,
) -> dict:
    """Per explanation method and mode, L_f and the cross-entropy of ``run``'s model at initialisation on
    ``n`` training images (``rows``), and what clamping SEP's noise to [0, 1] does on them (``clamp``,
    ``lib.measure.sep.clamp_effect``); cached in the store (kind ``calibrations``)."""
    entry = store.entry(
        "calibrations", calibration_config(profile, run, methods, n, seed)
    ).ensure()

    def compute() -> dict:
        x, y = load_dataset(run.spec.data.name, "train", n, run.spec.data.subset_seed)
        x, y = x.to(device), y.to(device)
        torch.manual_seed(run.spec.train.seed)  # as training draws the initial weights
        model = build_for(run.spec, device)
        rows, t0 = [], time.perf_counter()
        for method in methods:
            for mode in MODES:
                lf, ce = lf_at_init(
                    model,
                    x,
                    y,
                    profile.sep.sigma,
                    method,
                    profile.sep.samples,
                    mode,
                    seed,
                )
                rows.append({"method": method, "mode": mode, "l_f": lf, "ce": ce})
        clamp = clamp_effect(
            x.cpu(), profile.sep.sigma, torch.Generator().manual_seed(seed)
        )
        return {"rows": rows, "clamp": clamp, "seconds": time.perf_counter() - t0}

    return entry.get_or_compute_json("calibration.json", compute)


def derived_lambdas(l_f: float, ce: float) -> tuple[float, ...]:
    """The rule's |lambda| for each of ``FRACTIONS``: fraction * CE / L_f, rounded to one significant
    digit (as the profile's grid is written)."""
    check(l_f > 0, "l_f", l_f, "a positive L_f at initialisation")
    out = []
    for f in FRACTIONS:
        v = f * ce / l_f
        out.append(float(f"{v:.0e}"))
    return tuple(out)


def calibration_table(rows_by_experiment: dict[str, list[dict]]) -> pd.DataFrame:
    """One row per experiment, method and mode: L_f (1e-7), CE, the derived |lambda| grid, and whether this
    is the mode training uses (eval)."""
    out = []
    for name, rows in rows_by_experiment.items():
        for r in rows:
            out.append(
                {
                    "experiment": name,
                    "method": r["method"],
                    "mode": r["mode"],
                    "l_f_1e-7": r["l_f"] * 1e7,
                    "ce": r["ce"],
                    "lambdas": derived_lambdas(r["l_f"], r["ce"]),
                    "training_mode": r["mode"] == "eval",
                }
            )
    return pd.DataFrame(out)


PAPER_LAMBDAS = (
    5e4,
    3e3,
)  # the paper's published |lambda| (SEP_pos +5e4, SEP_neg -3e3), added to each grid


def grid_check(table: pd.DataFrame, profile: Profile) -> pd.DataFrame:
    """Per experiment of ``table`` (``calibration_table``), whether the profile's lambda grid follows the
    rule for SEP's own method with L_f as training computes it (eval mode): every |lambda| of the grid
    except the paper's own values (``PAPER_LAMBDAS``) is one the rule derives. The derivations in both
    modes are kept beside it (``derived_eval``, ``derived_train``)."""
    rows = []
    for name, g in table[table["method"] == profile.sep.method].groupby(
        "experiment", sort=False
    ):
        grid = {abs(v) for v in profile.sep.lambdas.get(name, ())}
        by_mode = {r.mode: tuple(r.lambdas) for r in g.itertuples()}
        own = grid - set(PAPER_LAMBDAS)
        rows.append(
            {
                "experiment": name,
                "derived_eval": by_mode["eval"],
                "derived_train": by_mode["train"],
                "grid": tuple(sorted(own)),
                "in_grid": bool(own) and own <= set(by_mode["eval"]),
            }
        )
    return pd.DataFrame(rows)


def calibration_runs(profile: Profile) -> dict[str, Run]:
    """The model calibrated per experiment with a lambda sweep: its first-seed base model (at
    initialisation, so only its architecture, data and seed matter)."""
    out = {}
    for name in study_experiments(profile):
        bases = first_seed(base_runs(profile, name), profile)
        if bases:
            out[name] = bases[0]
    return out


def calibration_methods(profile: Profile) -> tuple[str, ...]:
    """SEP's own explanation method, then the cross-method SEP's (whose lambdas are the ones chosen for
    SEP's method: the calibration shows how far its L_f scale is from it)."""
    return tuple(dict.fromkeys((profile.sep.method, profile.drivers.cross_method)))


def profile_calibration(
    profile: Profile,
    store: ResultStore,
    device: str,
    methods: tuple[str, ...] | None = None,
) -> pd.DataFrame:
    """``calibration_table`` of every experiment with a lambda sweep (its first-seed base model)."""
    methods = methods or calibration_methods(profile)
    return calibration_table(
        {
            name: calibrate(profile, run, methods, store, device)["rows"]
            for name, run in calibration_runs(profile).items()
        }
    )


def clamp_effects(
    profile: Profile, store: ResultStore, device: str
) -> dict[str, dict[str, float]]:
    """Per dataset of the experiments with a lambda sweep, ``clamp_effect`` on its calibration images
    (stored)."""
    methods = calibration_methods(profile)
    return {
        run.spec.data.name: calibrate(profile, run, methods, store, device)["clamp"]
        for run in calibration_runs(profile).values()
    }


def calibration_tasks(profile: Profile, store: ResultStore, device: str) -> list[Task]:
    """One task per experiment with a lambda sweep: its calibration entry."""
    methods = calibration_methods(profile)
    return [
        Task(
            "sep-calibration",
            f"{name} SEP calibration",
            "calibrations",
            "calibration.json",
            lambda r=run: calibration_config(profile, r, methods, 512, 0),
            lambda r=run: calibrate(profile, r, methods, store, device),
        )
        for name, run in calibration_runs(profile).items()
    ]


def main(argv: list[str] | None = None) -> None:
    """``python -m lib.pipeline.calibration --profile cpu``: print the calibration and the grid check."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--profile", default="cpu")
    parser.add_argument("--store", default=None, help="default: $RESULTS_DIR")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--methods", nargs="+", default=["gradient", "grad_x_input"])
    args = parser.parse_args(argv)
    profile = load_profile(args.profile)
    store = ResultStore(args.store)
    table = profile_calibration(
        profile, store, args.device, tuple(args.methods) if args.methods else None
    )
    with pd.option_context("display.width", 200, "display.max_columns", 20):
        print(table.to_string(index=False))
        print()
        print(grid_check(table, profile).to_string(index=False))


if __name__ == "__main__":
    main()
