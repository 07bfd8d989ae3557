import pytest
import torch

from lib.core.errors import ConfigError
from lib.core.settings import DataConfig, ModelConfig, TrainConfig
from lib.measure.manipulate import ManipulationConfig, beta_schedule, manipulate
from lib.nn.data import load_dataset
from lib.pipeline.training import RunSpec, get_model


@pytest.fixture(scope="module")
def trained_digits(tmp_path_factory):
    from lib.core.store import ResultStore

    spec = RunSpec(
        DataConfig("digits", n_train=None, n_test=100),
        ModelConfig("convnet", width=8),
        TrainConfig(
            method="standard",
            epochs=4,
            batch_size=64,
            lr=0.05,
            warmup_epochs=0.5,
            monitor_n=0,
        ),
    )
    model = get_model(
        spec, ResultStore(tmp_path_factory.mktemp("m")), "cpu", progress=False
    ).model
    x, y = load_dataset("digits", "test", n=40, seed=0)
    return model, x


def _pairs(x, n):
    return x[:n], x[n : 2 * n]


def test_attack_lowers_the_explanation_loss_and_keeps_the_label(trained_digits):
    model, x = trained_digits
    xv, xt = _pairs(x, 20)
    r = manipulate(model, xv, xt, ManipulationConfig(steps=300, lr=1e-2, window=300))
    assert (r.l_end < r.l_start).float().mean() >= 0.95
    assert r.label_kept.float().mean() >= 0.95
    assert r.x_adv.min() >= 0 and r.x_adv.max() <= 1
    assert r.summary()["pairs"] == 20


def test_batched_equals_one_pair_at_a_time(trained_digits):
    model, x = trained_digits
    xv, xt = _pairs(x, 4)
    cfg = ManipulationConfig(steps=40, lr=1e-2, window=10, rel_tol=1e-2)
    batched = manipulate(model, xv, xt, cfg)
    for i in range(4):
        single = manipulate(model, xv[i : i + 1], xt[i : i + 1], cfg)
        assert single.steps.item() == batched.steps[i].item()
        assert torch.allclose(single.x_adv[0], batched.x_adv[i], atol=1e-5)
        assert torch.allclose(single.l_end[0], batched.l_end[i], rtol=1e-4, atol=1e-12)


def test_epsilon_ball_is_respected(trained_digits):
    model, x = trained_digits
    xv, xt = _pairs(x, 4)
    r = manipulate(model, xv, xt, ManipulationConfig(steps=30, lr=1e-2, eps=0.05))
    assert r.linf.max() <= 0.05 + 1e-6


def test_beta_grows_geometrically_from_start_to_end():
    cfg = ManipulationConfig(steps=101, beta_start=10, beta_end=1000)
    assert beta_schedule(cfg, 0) == pytest.approx(10) and beta_schedule(
        cfg, 50
    ) == pytest.approx(100)
    assert beta_schedule(cfg, 100) == pytest.approx(1000)


@pytest.mark.parametrize(
    "kwargs, fragment",
    [
        ({"method": "lime"}, "method='lime'"),
        ({"steps": 0}, "steps=0"),
        ({"eps": -1.0}, "eps=-1.0"),
        ({"bogus": 1}, "unknown setting 'bogus'"),
    ],
)
def test_bad_settings(trained_digits, kwargs, fragment):
    model, x = trained_digits
    with pytest.raises(ConfigError, match=fragment):
        manipulate(model, x[:2], x[2:4], **kwargs)


def test_bad_pairs(trained_digits):
    model, x = trained_digits
    with pytest.raises(ConfigError, match="x_target has shape"):
        manipulate(model, x[:2], x[:3])
    with pytest.raises(
        ConfigError, match=r"x_victim has values in \[.*\]: expected pixels in \[0, 1\]"
    ):
        manipulate(model, x[:2] * 3, x[2:4])
    bad = x[:2].clone()
    bad[0, 0, 0, 0] = float("nan")
    with pytest.raises(ConfigError, match="x_target has non-finite values"):
        manipulate(model, x[:2], bad)


def test_noise_baseline_realises_the_attack_norm_after_clamping():
    from lib.measure.manipulate import noise_baseline

    g = torch.Generator().manual_seed(0)
    x = (
        torch.rand(6, 1, 8, 8, generator=g) > 0.7
    ).float()  # mostly black, as MNIST: clamping bites
    x_adv = (x + 0.3 * torch.randn(6, 1, 8, 8, generator=g)).clamp(0, 1)
    noisy = noise_baseline(None, x, x_adv, seed=1)
    target = (x_adv - x).flatten(1).norm(dim=1)
    realised = (noisy - x).flatten(1).norm(dim=1)
    assert noisy.min() >= 0 and noisy.max() <= 1
    torch.testing.assert_close(realised, target, rtol=1e-4, atol=1e-5)


def test_annealing_changes_only_the_twins_own_softplus():
    from torch import nn

    from lib.nn.models import set_softplus_beta, softplus_twin

    model = nn.Sequential(
        nn.Linear(2, 2), nn.Softplus(beta=3.0), nn.Linear(2, 2), nn.ReLU()
    )
    twin = softplus_twin(model, 10.0)
    set_softplus_beta(twin, 50.0)
    assert (
        twin[1].beta == 3.0 and twin[3].beta == 50.0
    )  # the trained softplus stays as trained


def test_stopping_rule_compares_the_trained_models_loss(trained_digits):
    """With early stopping on, a pair stops at a multiple of the window (checked on the model as trained),
    and a run without early stopping does every step."""
    from lib.measure.manipulate import manipulate

    model, x = trained_digits[0], trained_digits[1]
    xv, xt = x[:6], x[6:12]
    stopping = manipulate(model, xv, xt, steps=40, window=10, rel_tol=0.5, lr=2e-3)
    assert ((stopping.steps % 10 == 0) | (stopping.steps == 40)).all()
    assert (
        stopping.converged.any()
    )  # a 50 % improvement every 10 steps is not kept up by every pair
    full = manipulate(model, xv, xt, steps=40, window=40, lr=2e-3)
    assert (full.steps == 40).all() and not full.converged.any()
