"""The landscape study on a tiny smoke sweep: shapes, consistency with the slices' definition, caching, and
the settings' checks."""

import numpy as np
import pytest
import torch

from lib.analysis.verdicts import tracking_verdict
from lib.core.errors import ConfigError
from lib.core.profile import load_profile
from lib.pipeline.landscapes import (
    landscape_tables,
    landscape_victims,
    model_surfaces,
    per_model,
)
from lib.studies.landscape import by_kind, landscape_result

TINY = {
    "seeds": [0],
    "sweep.betas": [0.0, 2.0],
    "sweep.mat": False,
    "experiments.digits.train.epochs": 1,
    "experiments.digits.eval.n": 120,
    "prototypes.n_clusters": 3,
    "prototypes.victims_per_cluster": 2,
    "landscape.victims": 4,
    "landscape.points": 5,
    "landscape.gaussian": 1,
    "landscape.sign": 1,
    "landscape.surface_points": 5,
    "landscape.eig_max_iter": 10,
    "landscape.trace_probes": 4,
}


def test_landscape_tables_on_a_tiny_sweep(store):
    P = load_profile("smoke", TINY)
    flat, curv, raw = landscape_tables(P, store, "cpu", progress=False)
    assert set(flat["loss"]) == {"ce", "expl", "expl_twin"}
    assert set(flat["direction"]) == {"gaussian", "sign", "gradient_sign"}
    assert len(curv) == 2 * 2 * 4  # models x losses x victims
    land = raw[curv["key"].iloc[0]]
    ts = land["ts"]
    assert len(ts) == 5 and ts[2] == 0
    # every slice passes through the loss at the victim itself (t = 0)
    for loss in ("ce", "expl", "expl_twin"):
        centre = land["slices"][f"{loss}|gaussian|0"][:, 2].numpy()
        np.testing.assert_allclose(centre, np.array(land["at_zero"][loss]), rtol=1e-4)
    # CE rises along its own gradient-sign direction for most victims (first-order ascent)
    ce_up = land["slices"]["ce|gradient_sign|0"]
    assert (ce_up[:, 3] > ce_up[:, 2]).float().mean() >= 0.75
    models = per_model(flat, curv)
    assert (
        len(models) == 2
        and "expl_twin:largest" in models
        and "ce:gaussian:second_difference" in models
    )
    assert (
        models["ce:largest"] >= models["ce:trace"] / 64
    ).all()  # largest eigenvalue vs mean eigenvalue
    again, _, _ = landscape_tables(P, store, "cpu", progress=False)
    assert again.equals(flat)  # cached
    trained_key = models["key"].iloc[0]
    from lib.pipeline.evaluation import model_key
    from lib.pipeline.roster import sweep_runs
    from lib.pipeline.training import get_model

    run = [r for r in sweep_runs(P) if model_key(r) == trained_key][0]
    surf = model_surfaces(P, "digits", get_model(run.spec, store, "cpu"), store, "cpu")
    assert surf["ce"].shape == (1, 5, 5)
    assert torch.allclose(
        surf["ce"][0, 2, 2], torch.tensor(land["at_zero"]["ce"][0]), rtol=1e-4
    )
    t = by_kind(
        flat[(flat["loss"] == "ce") & (flat["measure"] == "quadratic_coefficient")]
    )
    assert len(t) == 2 and (t["lo"] <= t["mean"]).all() and (t["mean"] <= t["hi"]).all()
    # the chapter's chain in one call, from the same store
    R = landscape_result(P, store, "cpu")
    assert R.models.equals(models) and list(R.extremes["kind"]) == [
        "standard",
        "TRADES β=2",
    ]
    assert len(R.kinds) == 2 * 4 * 2  # losses x measures x kinds
    assert (
        list(R.means["kind"]) == ["standard", "TRADES β=2"]
        and "expl_twin:l0" in R.means
    )
    assert len(R.joined) == 2 and set(R.track["experiment"]) == {"digits"}
    assert R.verdict == tracking_verdict(R.track)
    assert (
        list(R.parts["experiment"]) == ["digits"] * 4
    )  # one unit per flatness measure


@pytest.mark.parametrize(
    "override, fragment",
    [
        ({"landscape.points": 0}, "landscape.points=0"),
        ({"landscape.points": 10}, "landscape.points=10"),
        ({"landscape.radius": -1.0}, "landscape.radius=-1.0"),
        ({"landscape.method": "lime"}, "landscape.method='lime'"),
        ({"landscape.surface_victims": 50}, "landscape.surface_victims=50"),
        ({"landscape.equivalence_rho": 1.5}, "landscape.equivalence_rho=1.5"),
    ],
)
def test_bad_landscape_settings_are_refused(override, fragment):
    with pytest.raises(ConfigError, match=fragment):
        load_profile("smoke", override)


def test_the_equivalence_margin_is_read_only_and_not_in_the_store_key():
    from lib.pipeline.landscapes import landscape_config

    a, b = (
        load_profile("smoke", {"landscape.equivalence_rho": rho}) for rho in (0.3, 0.2)
    )
    assert landscape_config(a, "digits", "k", [1], [2]) == landscape_config(
        b, "digits", "k", [1], [2]
    )
    assert (
        "equivalence_rho"
        not in landscape_config(a, "digits", "k", [1], [2])["settings"]
    )


def test_more_victims_than_pairs_is_refused(store):
    P = load_profile(
        "smoke", {**TINY, "landscape.victims": 50, "landscape.surface_victims": 1}
    )
    with pytest.raises(ConfigError, match="landscape.victims=50"):
        landscape_victims(P, "digits", store, "cpu")
