"""The input loss landscape over the robustness sweep: slices, flatness and curvature per model, stored.

For every model of the sweep and the prototype victims of its experiment (the first victim of each cluster,
with its target), ``model_landscape`` computes 1-D slices of three losses of the input:
  * ``ce``: cross-entropy of the true label, model as trained;
  * ``expl``: the explanation loss to the target map (MSE of normalised maps, as in the attack), model as
    trained: a ReLU network's gradient map is piecewise constant in the input, so this is a staircase;
  * ``expl_twin``: the same loss on the softplus twin (the function the attack descends); the flatness and
    curvature numbers of the explanation loss use this one, since a staircase has no useful curvature;
and, on the softplus twin, the extreme Hessian eigenvalues and the trace of CE and of the explanation loss.
Everything is kept in the result store per model and settings; ``python -m lib.studies.landscape`` fills it.
``landscape_result`` returns every table and verdict of the landscape chapter in one ``LandscapeResult``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import pandas as pd

from lib.analysis.stats import correlation_table, reading, two_stage_bootstrap
from lib.analysis.verdicts import landscape_parts, reading_shares, tracking_verdict
from lib.core.errors import ConfigError
from lib.core.profile import Profile
from lib.core.store import ResultStore
from lib.pipeline.cli import load, stage_parser, user_errors
from lib.pipeline.explanation_attack import relation_table
from lib.pipeline.landscapes import (
    landscape_tables,
    model_surfaces,
    per_model,
    surface_runs,
)
from lib.pipeline.training import get_model


def by_kind(
    values: pd.DataFrame, column: str = "value", n_boot: int = 1000, seed: int = 0
) -> pd.DataFrame:
    """Mean of ``column`` per experiment and kind of model, with a two-stage bootstrap 95 % interval: models
    (seeds) resampled, then the values (victims, directions) within each chosen model."""
    rows = []
    for (name, kind), g in values.groupby(["experiment", "kind"], sort=False):
        groups = [
            gg[column].to_numpy(dtype=float) for _, gg in g.groupby("key", sort=False)
        ]
        try:
            mean, lo, hi = two_stage_bootstrap(groups, n_boot, seed)
        except ConfigError as exc:
            raise ConfigError(f"{column} of {name} {kind}: {exc}") from None
        rows.append(
            {
                "experiment": name,
                "kind": kind,
                "family": g["family"].iloc[0],
                "beta": g["beta"].iloc[0],
                "mean": mean,
                "lo": lo,
                "hi": hi,
                "models": len(groups),
                "n": int(sum(len(v) for v in groups)),
            }
        )
    return pd.DataFrame(rows)


FLATNESS_MEASURES = {
    "ce:gaussian:abs_quadratic_coefficient": "|quadratic coef.| (Gaussian slice, trained model)",
    "ce:gradient_sign:abs_quadratic_coefficient": "|quadratic coef.| (gradient-sign slice, trained model)",
    "ce:spectral": "Hessian spectral norm (twin)",
    "ce:frobenius": "Hessian Frobenius norm (twin)",
    "expl_twin:gaussian:abs_quadratic_coefficient": "|quadratic coef.| (Gaussian slice, twin)",
    "expl_twin:gradient_sign:abs_quadratic_coefficient": "|quadratic coef.| (gradient-sign slice, twin)",
    "expl_twin:spectral": "Hessian spectral norm (twin)",
    "expl_twin:frobenius": "Hessian Frobenius norm (twin)",
}


LOSS_NAMES = {"ce": "CE", "expl_twin": "explanation loss"}


def flatness_correlations(models: pd.DataFrame) -> pd.DataFrame:
    """Spearman's rho (bootstrap interval over models) of every flatness measure against PGD accuracy and
    beta, per experiment, with the reading: the loss "flattens" with classification robustness when the
    interval lies below 0, "sharpens" when above, else no clear relation."""
    corr = correlation_table(
        models, ["experiment"], ["pgd_acc", "beta"], list(FLATNESS_MEASURES)
    )
    corr = corr.rename(columns={"x": "against", "y": "column", "n": "models"})
    corr["loss"] = corr["column"].str.split(":").str[0]
    corr["measure"] = corr["column"].map(FLATNESS_MEASURES)
    corr["reading"] = [
        reading(r.lo, r.hi, "sharpens", "flattens", n=r.models)
        for r in corr.itertuples()
    ]
    return corr


TRACKING_CANDIDATES = {
    "l_start_1e-7": "L_start (prototype pairs)",
    "expl_twin:l0": "expl. L(x) (landscape victims, twin)",
    "expl_twin:gaussian:abs_quadratic_coefficient": "expl. |quadratic coef.| (Gaussian)",
    "expl_twin:spectral": "expl. Hessian spectral norm",
    "expl_twin:frobenius": "expl. Hessian Frobenius norm",
    "ce:spectral": "CE Hessian spectral norm",
}


def tracking(models: pd.DataFrame, relation: pd.DataFrame) -> pd.DataFrame:
    """Which model-level quantity goes with explanation robustness: Spearman's rho (interval over models) of
    each candidate (where the attack starts, the landscape's curvature) against L_end and the relative
    reduction, per experiment; ``clear`` when the interval excludes 0."""
    joined = models.merge(
        relation[["key", "l_end_1e-7", "relative_reduction", "l_start_1e-7"]], on="key"
    )
    corr = correlation_table(
        joined,
        ["experiment"],
        list(TRACKING_CANDIDATES),
        ["l_end_1e-7", "relative_reduction"],
    )
    corr["candidate"] = corr["x"].map(TRACKING_CANDIDATES)
    corr["robustness"] = corr["y"].map(
        {"l_end_1e-7": "L_end", "relative_reduction": "relative reduction"}
    )
    corr["clear"] = [
        reading(r.lo, r.hi, "yes", "yes", n=r.n) == "yes" for r in corr.itertuples()
    ]
    return corr


# the measures drawn per model kind (columns of ``per_model`` without the loss): slice |quadratic coef.| along
# a Gaussian and the gradient-sign direction, and the Hessian's spectral and Frobenius norms
KIND_MEASURES = (
    "gaussian:abs_quadratic_coefficient",
    "gradient_sign:abs_quadratic_coefficient",
    "spectral",
    "frobenius",
)
# the per-model columns whose means over seeds and victims the chapter tabulates, per loss
MEAN_COLUMNS = {
    "ce": [
        f"ce:{m}"
        for m in (
            "gaussian:abs_quadratic_coefficient",
            "spectral",
            "frobenius",
            "largest",
            "smallest",
        )
    ],
    "expl_twin": [
        f"expl_twin:{m}"
        for m in (
            "gaussian:abs_quadratic_coefficient",
            "spectral",
            "frobenius",
            "largest",
            "smallest",
            "l0",
        )
    ],
}


def kind_table(flat: pd.DataFrame, curv: pd.DataFrame) -> pd.DataFrame:
    """``by_kind`` of every ``KIND_MEASURES`` of CE and the twin's explanation loss, stacked, with columns
    ``loss`` and ``measure``: slice measures over victims and directions, Hessian norms over victims."""
    parts = []
    for loss in LOSS_NAMES:
        for measure in KIND_MEASURES:
            if ":" in measure:
                direction, name = measure.split(":")
                vals = flat[
                    (flat["loss"] == loss)
                    & (flat["measure"] == name)
                    & (flat["direction"] == direction)
                ]
            else:
                vals = curv[curv["loss"] == loss].rename(columns={measure: "value"})
            parts.append(by_kind(vals).assign(loss=loss, measure=measure))
    return pd.concat(parts, ignore_index=True)


def showcase(
    models: pd.DataFrame, experiment: str, seed: int, kinds: tuple[str, ...]
) -> pd.DataFrame:
    """The models of one experiment and seed whose kind is in ``kinds``, in the sweep's order."""
    return models[
        (models["seed"] == seed)
        & (models["experiment"] == experiment)
        & models["kind"].isin(kinds)
    ]


@dataclass
class LandscapeResult:
    """Everything the landscape chapter shows, from one call (the findings page reads it too)."""

    flat: (
        pd.DataFrame
    )  # per model, victim, loss, direction and measure: the slices' flatness
    curv: (
        pd.DataFrame
    )  # per model, victim and loss: the Hessian's eigenvalues, norms, n_hvp, seconds
    raw: dict  # store key -> the model's stored landscape (ts, slices, at_zero, ...)
    models: (
        pd.DataFrame
    )  # per_model: one row per model, mean of each measure ("loss:[direction:]measure")
    extremes: (
        pd.DataFrame
    )  # first experiment, first seed: the standard and the most robust TRADES model
    showcase: pd.DataFrame  # the same plus MAT (if swept)
    kinds: (
        pd.DataFrame
    )  # kind_table: by_kind of KIND_MEASURES per experiment, loss and kind
    means: (
        pd.DataFrame
    )  # per experiment and kind: means over seeds and victims of MEAN_COLUMNS
    corr: (
        pd.DataFrame
    )  # flatness_correlations of the models, against PGD accuracy and beta
    shares: dict[str, float]  # verdicts.reading_shares of corr
    parts: (
        pd.DataFrame
    )  # verdicts.landscape_parts of corr: both parts and the status per unit
    relation: (
        pd.DataFrame
    )  # relation_table of the sweep for the landscape's explanation method
    joined: pd.DataFrame  # models with L_end and L_start of the relation table
    track: pd.DataFrame  # tracking: candidates against L_end and the relative reduction
    verdict: str  # verdicts.tracking_verdict of track


def landscape_result(
    profile: Profile, store: ResultStore, device: str
) -> LandscapeResult:
    """The landscape chapter's chain in one call: stored landscapes of the sweep, per-model measures, their
    means and intervals per kind, correlations and readings, and what tracks explanation robustness."""
    flat, curv, raw = landscape_tables(profile, store, device, progress=False)
    models = per_model(flat, curv)
    top = f"TRADES β={max(profile.sweep.betas):g}"
    first = (models, profile.run[0], profile.seeds[0])
    cols = [c for cs in MEAN_COLUMNS.values() for c in cs]
    corr = flatness_correlations(models)
    rel = relation_table(
        profile, store, device, methods=(profile.landscape.method,), progress=False
    )
    track = tracking(models, rel)
    return LandscapeResult(
        flat=flat,
        curv=curv,
        raw=raw,
        models=models,
        extremes=showcase(*first, ("standard", top)),
        showcase=showcase(*first, ("standard", "MAT", top)),
        kinds=kind_table(flat, curv),
        means=models.groupby(["experiment", "kind"], sort=False)[cols]
        .mean()
        .reset_index(),
        corr=corr,
        shares=reading_shares(corr, profile.landscape.equivalence_rho),
        parts=landscape_parts(corr, profile.landscape.equivalence_rho),
        relation=rel,
        joined=models.merge(rel[["key", "l_end_1e-7", "l_start_1e-7"]], on="key"),
        track=track,
        verdict=tracking_verdict(track),
    )


def showcase_surfaces(
    profile: Profile, store: ResultStore, device: str, experiment: str
) -> list[tuple[str, dict]]:
    """The stored 2-D surfaces (``model_surfaces``) of the experiment's ``surface_runs``, by the model's label."""
    return [
        (
            run.kind.label,
            model_surfaces(
                profile,
                experiment,
                get_model(run.spec, store, device, progress=False),
                store,
                device,
            ),
        )
        for run in surface_runs(profile, experiment)
    ]


def main(argv: list[str] | None = None) -> None:

    args = stage_parser(
        "Compute the input landscapes and curvature of a profile's sweep."
    ).parse_args(argv)
    t0 = time.perf_counter()
    with user_errors():
        profile, device = load(args)
        store = ResultStore()
        flat, curv, _ = landscape_tables(profile, store, device)
        for name in profile.run:
            for run in surface_runs(profile, name):
                model_surfaces(
                    profile, name, get_model(run.spec, store, device), store, device
                )
        print(per_model(flat, curv).drop(columns=["key"]).to_string())
    print(f"landscapes done in {time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    main()
