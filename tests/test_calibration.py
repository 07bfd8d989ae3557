"""SEP's lambda calibration: the rule's arithmetic, L_f at initialisation in both batch-norm modes, and the
profiles' grids derived in the mode training computes L_f in."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from lib.core.errors import ConfigError
from lib.core.profile import load_profile
from lib.core.store import ResultStore
from lib.pipeline.calibration import (
    calibrate,
    calibration_table,
    derived_lambdas,
    grid_check,
    lf_at_init,
)
from lib.pipeline.roster import base_runs, first_seed, study_experiments


def test_derived_lambdas_are_fraction_times_ce_over_lf():
    assert derived_lambdas(1e-5, 2.0) == (2e3, 2e4, 2e5)
    # one significant digit, as the profiles write their grids
    assert derived_lambdas(6.3476e-6, 2.6024) == (4e3, 4e4, 4e5)


def test_derived_lambdas_refuse_a_non_positive_lf():
    with pytest.raises(ConfigError, match="l_f"):
        derived_lambdas(0.0, 2.0)


def test_lf_is_zero_when_the_map_does_not_depend_on_the_input():
    # a linear model's gradient map is its weight row: noise cannot change it
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(16, 3))
    x, y = torch.rand(8, 1, 4, 4), torch.randint(0, 3, (8,))
    lf, ce = lf_at_init(model, x, y, 0.1, "gradient", 1, "eval", seed=0)
    assert lf == pytest.approx(0.0, abs=1e-12)
    assert ce > 0


def test_batch_norm_mode_changes_lf_and_plain_nets_do_not_care():
    torch.manual_seed(0)
    x, y = torch.rand(16, 1, 6, 6), torch.randint(0, 3, (16,))
    plain = nn.Sequential(
        nn.Conv2d(1, 4, 3), nn.Softplus(10), nn.Flatten(), nn.Linear(64, 3)
    )
    a = lf_at_init(plain, x, y, 0.1, "gradient", 1, "eval", seed=0)
    b = lf_at_init(plain, x, y, 0.1, "gradient", 1, "train", seed=0)
    assert a == pytest.approx(b, rel=1e-6)
    normed = nn.Sequential(
        nn.Conv2d(1, 4, 3),
        nn.BatchNorm2d(4),
        nn.Softplus(10),
        nn.Flatten(),
        nn.Linear(64, 3),
    )
    e = lf_at_init(normed, x, y, 0.1, "gradient", 1, "eval", seed=0)[0]
    t = lf_at_init(normed, x, y, 0.1, "gradient", 1, "train", seed=0)[0]
    assert e != pytest.approx(t, rel=1e-3)
    assert normed.training  # the model's own mode is restored


def test_lf_at_init_refuses_an_unknown_mode():
    model = nn.Sequential(nn.Flatten(), nn.Linear(4, 2))
    with pytest.raises(ConfigError, match="mode"):
        lf_at_init(
            model,
            torch.rand(2, 1, 2, 2),
            torch.zeros(2, dtype=torch.long),
            0.1,
            "gradient",
            1,
            "batch",
            seed=0,
        )


def test_smoke_grids_are_derived_in_the_mode_training_uses(tmp_path):
    """Every lambda grid of the smoke profile holds the rule's 1 % and 10 % values measured with L_f in eval
    mode (as ``sep_loss`` computes it), for both architectures."""
    profile = load_profile("smoke")
    store = ResultStore(tmp_path)
    rows = {
        name: calibrate(
            profile,
            first_seed(base_runs(profile, name), profile)[0],
            (profile.sep.method,),
            store,
            "cpu",
        )["rows"]
        for name in study_experiments(profile)
    }
    table = calibration_table(rows)
    checked = grid_check(table, profile)
    assert len(checked) == len(study_experiments(profile))
    assert checked["in_grid"].all(), checked.to_string()
    # the old ResNet grid (derived with batch statistics) is caught
    old = profile.sep.lambdas | {"digits-resnet18": (-3000.0, -700.0, 70.0, 700.0, 5e4)}
    from dataclasses import replace

    bad = replace(profile, sep=replace(profile.sep, lambdas=old))
    flags = grid_check(table, bad).set_index("experiment")["in_grid"]
    assert flags["digits"] and not flags["digits-resnet18"]
    # cached: a second call reads the store
    n_files = sum(1 for _ in tmp_path.rglob("*") if _.is_file())
    calibrate(
        profile,
        first_seed(base_runs(profile, "digits"), profile)[0],
        (profile.sep.method,),
        store,
        "cpu",
    )
    assert sum(1 for _ in tmp_path.rglob("*") if _.is_file()) == n_files


def test_clamp_effect_known_answers():
    from lib.measure.sep import clamp_effect

    g = torch.Generator().manual_seed(0)
    # mid-grey images: the noise (sigma 0.01) never reaches the bounds, nothing is cut
    mid = clamp_effect(torch.full((64, 1, 8, 8), 0.5), 0.01, g)
    assert mid["boundary_share"] == 0.0
    assert mid["energy_kept"] == pytest.approx(1.0, rel=0.05)
    # black images: every pixel at 0, the clamp keeps the positive half (half-normal): half the energy
    black = clamp_effect(torch.zeros(64, 1, 8, 8), 0.1, g)
    assert black["boundary_share"] == 1.0
    assert black["energy_kept"] == pytest.approx(0.5, rel=0.05)
    with pytest.raises(ConfigError, match="sigma"):
        clamp_effect(torch.zeros(1, 1, 2, 2), 0.0)
