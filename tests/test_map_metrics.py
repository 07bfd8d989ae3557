"""Map comparison metrics: known answers, batched == per pair, agreement with scipy, and the bootstrap."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy import stats

from lib.core.errors import ConfigError
from lib.measure.metrics import (
    average_ranks,
    bootstrap_ci,
    cosine_similarity,
    mse,
    spearman,
    topk_intersection,
)


def _maps(n: int = 4, h: int = 5, w: int = 6, seed: int = 0) -> torch.Tensor:
    return torch.rand(n, h, w, generator=torch.Generator().manual_seed(seed))


def test_identical_maps_score_perfectly():
    a = _maps()
    torch.testing.assert_close(mse(a, a), torch.zeros(4))
    torch.testing.assert_close(cosine_similarity(a, a), torch.ones(4))
    torch.testing.assert_close(spearman(a, a), torch.ones(4, dtype=torch.float64))
    torch.testing.assert_close(
        topk_intersection(a, a, 7), torch.ones(4, dtype=torch.float64)
    )


def test_reversed_ranks_give_spearman_minus_one_and_no_topk_overlap():
    a = torch.arange(12.0).view(1, 3, 4)
    b = (11 - torch.arange(12.0)).view(
        1, 3, 4
    ) ** 2  # monotone decreasing in a, not linear
    assert float(spearman(a, b)) == pytest.approx(-1.0, abs=1e-12)
    assert float(topk_intersection(a, b, 6)) == 0.0
    assert float(topk_intersection(a, b, 7)) == pytest.approx(2 / 7)


def test_hand_computed_cases():
    a = torch.tensor([[[1.0, 2.0], [3.0, 4.0]]])
    b = torch.tensor([[[1.0, 2.0], [3.0, 6.0]]])
    assert float(mse(a, b)) == pytest.approx(1.0)  # (0 + 0 + 0 + 2^2) / 4
    c = torch.tensor([[[1.0, 0.0], [0.0, 0.0]]])
    d = torch.tensor([[[1.0, 1.0], [0.0, 0.0]]])
    assert float(cosine_similarity(c, d)) == pytest.approx(1 / math.sqrt(2))
    assert (
        float(cosine_similarity(c, torch.zeros_like(c))) == 0.0
    )  # zero map: defined as 0
    # ties: ranks of (1, 1, 2, 3) are (1.5, 1.5, 3, 4); against (1, 2, 3, 4): r = 4.5 / sqrt(5 * 4.5) = sqrt(0.9)
    e = torch.tensor([[[1.0, 2.0], [3.0, 4.0]]])
    f = torch.tensor([[[1.0, 1.0], [2.0, 3.0]]])
    assert float(spearman(e, f)) == pytest.approx(math.sqrt(0.9), abs=1e-12)
    # top-2 of (4, 3, 2, 1) is pixels {0, 1}; of (4, 1, 3, 2) it is {0, 2}: one of two shared
    g = torch.tensor([[[4.0, 3.0], [2.0, 1.0]]])
    h = torch.tensor([[[4.0, 1.0], [3.0, 2.0]]])
    assert float(topk_intersection(g, h, 2)) == 0.5
    assert float(topk_intersection(g, h, 1)) == 1.0
    assert float(topk_intersection(g, h, 3)) == pytest.approx(
        2 / 3
    )  # {0,1,2} vs {0,2,3}


def test_average_ranks_share_ties_like_scipy():
    v = torch.tensor([[3.0, 1.0, 3.0, 2.0], [5.0, 5.0, 5.0, 5.0]])
    torch.testing.assert_close(
        average_ranks(v),
        torch.tensor([[3.5, 1.0, 3.5, 2.0], [2.5, 2.5, 2.5, 2.5]], dtype=torch.float64),
    )
    rounded = (_maps(3, 8, 8) * 5).round()  # many ties
    expected = np.stack([stats.rankdata(row) for row in rounded.flatten(1).numpy()])
    np.testing.assert_allclose(average_ranks(rounded.flatten(1)).numpy(), expected)


def test_spearman_matches_scipy_with_and_without_ties_and_is_nan_for_constant_maps():
    a, b = _maps(5, 6, 7, seed=1), _maps(5, 6, 7, seed=2)
    b[0] = a[0] + 0.3 * b[0]
    a[1] = (a[1] * 4).round()
    b[2] = (b[2] * 3).round()
    ours = spearman(a, b).numpy()
    ref = [
        stats.spearmanr(x, y).statistic
        for x, y in zip(a.flatten(1).numpy(), b.flatten(1).numpy())
    ]
    np.testing.assert_allclose(ours, ref, rtol=1e-10, atol=1e-12)
    const = torch.ones(1, 3, 3)
    assert math.isnan(float(spearman(const, _maps(1, 3, 3))))


@pytest.mark.parametrize(
    "metric",
    [mse, cosine_similarity, spearman, lambda a, b: topk_intersection(a, b, 5)],
    ids=["mse", "cosine", "spearman", "topk"],
)
def test_batched_equals_per_pair(metric):
    a, b = _maps(6, 7, 7, seed=3), _maps(6, 7, 7, seed=4)
    a[3] = b[3] + 0.01 * a[3]  # one pair close, so values differ across pairs
    batched = metric(a, b)
    single = torch.cat([metric(a[i : i + 1], b[i : i + 1]) for i in range(6)])
    assert batched.shape == (6,)
    torch.testing.assert_close(batched, single)
    assert batched.unique().numel() > 1


def test_mse_is_differentiable():
    a = _maps(2).requires_grad_(True)
    b = _maps(2, seed=1)
    (grad,) = torch.autograd.grad(mse(a, b).sum(), a)
    torch.testing.assert_close(grad, 2 * (a - b).detach() / 30)


def test_bad_inputs_raise_config_errors():
    a = _maps()
    with pytest.raises(ConfigError, match="b.shape"):
        mse(a, a[:, :2])
    with pytest.raises(ConfigError, match="b.shape"):
        spearman(a[0].flatten(), a[0].flatten())
    with pytest.raises(ConfigError, match=r"k=0 .*\[1, 30\]"):
        topk_intersection(a, a, 0)
    with pytest.raises(ConfigError, match="k=31"):
        topk_intersection(a, a, 31)
    with pytest.raises(ConfigError, match="values"):
        bootstrap_ci([1.0, float("nan")])
    with pytest.raises(ConfigError, match="values"):
        bootstrap_ci([])
    with pytest.raises(ConfigError, match="level=1.5"):
        bootstrap_ci([1.0, 2.0], level=1.5)
    with pytest.raises(ConfigError, match="n_boot=0"):
        bootstrap_ci([1.0, 2.0], n_boot=0)


def test_bootstrap_interval_contains_the_mean_narrows_with_data_and_is_seeded():
    rng = np.random.default_rng(0)
    small, large = rng.normal(3.0, 1.0, 20), rng.normal(3.0, 1.0, 2000)
    lo_s, hi_s = bootstrap_ci(small)
    lo_l, hi_l = bootstrap_ci(large)
    assert lo_s < small.mean() < hi_s and lo_l < large.mean() < hi_l
    assert (hi_l - lo_l) < 0.3 * (
        hi_s - lo_s
    )  # width ~ 1/sqrt(n): 10x narrower expected
    # the normal-theory width 2 * 1.96 * sd / sqrt(n) as a known answer, within bootstrap noise
    assert (hi_l - lo_l) == pytest.approx(
        2 * 1.96 * large.std() / math.sqrt(large.size), rel=0.15
    )
    assert (
        bootstrap_ci(small, seed=1)
        == bootstrap_ci(small, seed=1)
        != bootstrap_ci(small, seed=2)
    )
    lo_90, hi_90 = bootstrap_ci(small, level=0.5)
    assert lo_s < lo_90 < hi_90 < hi_s
    lo_m, hi_m = bootstrap_ci(torch.tensor(small), stat=np.median)
    assert lo_m <= np.median(small) <= hi_m
    assert bootstrap_ci([2.0, 2.0, 2.0]) == (2.0, 2.0)
