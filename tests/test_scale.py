"""The scale of the explanation loss taken apart (issue 30): the concentration of two maps, the start
loss recomputed from a model (equal to the attack's own), the variance shares in three parts, which part
carries the start loss's share, and the pair-bootstrap margin of the motivation's "attack beats noise"."""

import numpy as np
import pandas as pd
import pytest
import torch

from lib.analysis.stats import beats_noise_interval
from lib.analysis.verdicts import (
    CARRIED_BY_BOTH,
    CARRIED_BY_DISTANCE,
    CARRIED_BY_SCALE,
    CARRIER_UNDECIDED,
    scale_carrier,
)
from lib.core.errors import ConfigError
from lib.measure.manipulate import manipulate
from lib.measure.metrics import concentration, mse
from lib.nn.models import build_model
from lib.pipeline.scale import start_scale
from lib.studies.drivers import variance_shares


def test_concentration_by_hand_and_the_mse_factors_into_it():
    a = torch.tensor([[0.5, 0.5, 0.0, 0.0]])  # sum of squares 0.5
    b = torch.tensor([[1.0, 0.0, 0.0, 0.0]])  # sum of squares 1
    assert concentration(a, b).item() == pytest.approx(1.5 / 4)
    d = mse(a, b) / concentration(a, b)  # 1 - 2 <a, b> / (|a|^2 + |b|^2) = 1 - 1 / 1.5
    assert d.item() == pytest.approx(1 - 1 / 1.5)
    # the same two maps spread over twice the pixels: the MSE halves, the scale-free distance does not move
    a2, b2 = a.repeat_interleave(2, 1) / 2, b.repeat_interleave(2, 1) / 2
    assert mse(a2, b2).item() == pytest.approx(mse(a, b).item() / 4)
    assert (mse(a2, b2) / concentration(a2, b2)).item() == pytest.approx(d.item())
    with pytest.raises(ConfigError):
        concentration(a, b[:, :3])


def test_start_scale_recomputes_the_attacks_own_start_loss():
    torch.manual_seed(0)
    model = build_model("convnet", 1, 10, width=2).eval()
    x = torch.rand(6, 1, 28, 28)
    l_start, conc = start_scale(model, x[:3], x[3:], "gradient")
    attack = manipulate(model, x[:3], x[3:], steps=1, window=1, trace_steps=[1])
    assert torch.equal(l_start, attack.l_start)
    assert (conc > 0).all() and (l_start / conc <= 2).all()


def scale_models(
    rng, c_sd: float, d_sd: float, r_sd: float, n: int = 60
) -> pd.DataFrame:
    """Models of two experiments with log c, log d and log(1 - r) drawn independently (sds given)."""
    log_c, log_d = rng.normal(5, c_sd, n), rng.normal(-0.3, d_sd, n)
    keep = np.exp(rng.normal(-0.2, r_sd, n))
    l_start = np.exp(log_c + log_d)
    return pd.DataFrame(
        {
            "experiment": np.repeat(["a", "b"], n // 2),
            "explanation": "gradient",
            "l_start_1e-7": l_start,
            "l_end_1e-7": l_start * keep,
            "relative_reduction": 1 - keep,
            "concentration_1e-7": np.exp(log_c),
        }
    )


def test_variance_shares_in_three_parts_sum_to_one_and_find_the_planted_carrier():
    rng = np.random.default_rng(0)
    # the concentration varies 4x as much (sd) as the distance: share ratio about 16 : 1 : 1
    s = variance_shares(scale_models(rng, 0.8, 0.2, 0.2), n_boot=400)
    assert s["concentration"] + s["distance"] + s["r"] == pytest.approx(1.0)
    assert s["concentration"] + s["distance"] == pytest.approx(s["start"])
    assert s["concentration"] > 0.8 and s["distance"] < 0.15
    assert s["concentration_lo"] <= s["concentration"] <= s["concentration_hi"]
    assert scale_carrier(s, 0.1) == CARRIED_BY_SCALE
    s = variance_shares(scale_models(rng, 0.2, 0.8, 0.2), n_boot=400)
    assert scale_carrier(s, 0.1) == CARRIED_BY_DISTANCE
    # without a concentration column, the two-part reading is unchanged
    two = variance_shares(
        scale_models(rng, 0.5, 0.5, 0.2).drop(columns="concentration_1e-7"), n_boot=50
    )
    assert "concentration" not in two and np.isfinite(two["start"])


def test_scale_carrier_words():
    def shares(lo, hi):
        return {"scale_gap_lo": lo, "scale_gap_hi": hi}

    assert scale_carrier(shares(0.2, 0.6), 0.1) == CARRIED_BY_SCALE
    assert scale_carrier(shares(-0.6, -0.2), 0.1) == CARRIED_BY_DISTANCE
    assert scale_carrier(shares(-0.05, 0.08), 0.1) == CARRIED_BY_BOTH
    assert scale_carrier(shares(0.05, 0.3), 0.1) == CARRIER_UNDECIDED
    assert scale_carrier({}, 0.1) is None
    with pytest.raises(ConfigError, match="zone=1.5"):
        scale_carrier(shares(0, 1), 1.5)


def test_beats_noise_interval_known_answers():
    start = np.full(50, 10.0)
    # the attack removes 60 %, noise 10 %: margin 0.6 - 2 x 0.1 = 0.4 on every resample
    value, lo, hi = beats_noise_interval(start, np.full(50, 4.0), np.full(50, 9.0))
    assert (value, lo, hi) == pytest.approx((0.4, 0.4, 0.4))
    # noise that moves the map away counts as 0
    assert beats_noise_interval(start, np.full(50, 4.0), np.full(50, 12.0))[
        0
    ] == pytest.approx(0.6)
    # pairs that disagree give the margin an interval of real width
    rng = np.random.default_rng(1)
    attack = 10 * (1 - rng.normal(0.2, 0.5, 50))
    noise = 10 * (1 - rng.normal(0.1, 0.1, 50))
    value, lo, hi = beats_noise_interval(start, attack, noise)
    assert (
        lo < value < hi and hi - lo > 0.1
    )  # se of the attack share alone is about 0.07
    with pytest.raises(ConfigError, match="lengths"):
        beats_noise_interval(start, attack[:10], noise)


def test_seed_variance_shares_reads_each_seed_then_the_spread_between_seeds():
    from lib.analysis.stats import seed_interval, seed_variance_shares

    rng = np.random.default_rng(4)
    table = pd.concat(
        [
            scale_models(rng, 0.5, 0.3, r_sd).assign(seed=s)
            for s, r_sd in enumerate((0.1, 0.3, 0.6))
        ],
        ignore_index=True,
    )
    s = seed_variance_shares(table)
    alone = [
        variance_shares(table[table["seed"] == k], n_boot=1)["start"] for k in range(3)
    ]
    assert list(s["per_seed"].values()) == pytest.approx(alone)
    assert (
        alone[0] > alone[1] > alone[2]
    )  # more spread in r, less of the variance is the start's
    mean, lo, hi, _ = seed_interval(alone)
    assert (s["start"], s["start_lo"], s["start_hi"]) == pytest.approx((mean, lo, hi))
    assert s["r"] == pytest.approx(1 - mean) and s["seeds"] == 3
    with pytest.raises(ConfigError, match="seed_column='run'"):
        seed_variance_shares(table, seed_column="run")
