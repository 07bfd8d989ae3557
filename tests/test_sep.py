"""SEP with known answers: L_f is exactly 0 for a linear model and at sigma = 0, grows with sigma, is
per-example and seeded; lambda = 0 reproduces MAT bit for bit; a short run with lambda > 0 ends with lower
L_f than lambda < 0 from the same start; a collapsed run is flagged; bad settings give one clear line."""

import pytest
import torch
from torch import nn

from lib.core.errors import ConfigError
from lib.core.profile import load_profile
from lib.core.settings import (
    AttackConfig,
    DataConfig,
    ModelConfig,
    SepConfig,
    TrainConfig,
)
from lib.measure.sep import explanation_change
from lib.nn.models import build_model
from lib.pipeline.training import RunSpec, get_model


def x_batch(n=6, seed=0):
    return torch.rand(n, 1, 8, 8, generator=torch.Generator().manual_seed(seed))


def smooth_net():
    torch.manual_seed(0)
    return build_model("convnet", 1, 10, activation="softplus", width=8)


def test_linear_model_and_zero_noise_give_exactly_zero():
    linear = nn.Sequential(nn.Flatten(), nn.Linear(64, 10))
    x = x_batch()
    assert torch.equal(
        explanation_change(linear, x, 0.3, generator=torch.Generator().manual_seed(1)),
        torch.zeros(6),
    )
    assert torch.equal(explanation_change(smooth_net(), x, 0.0), torch.zeros(6))


def test_grows_with_sigma_is_per_example_and_seeded():
    net, x = smooth_net(), x_batch()

    def lf(sigma, xx=x, seed=1):
        return explanation_change(
            net,
            xx,
            sigma,
            samples=4,
            generator=torch.Generator().manual_seed(seed),
            create_graph=False,
        )

    means = [float(lf(s).mean()) for s in (0.01, 0.05, 0.2)]
    assert means[0] < means[1] < means[2]
    first = lf(0.1)
    assert first.shape == (6,) and torch.equal(first, lf(0.1))  # seeded
    assert not torch.equal(first, lf(0.1, seed=2))
    moved = x.clone()
    moved[3] = 1 - moved[3]  # changing one image changes only its own L_f
    other = lf(0.1, moved)
    assert (
        torch.equal(other[:3], first[:3])
        and torch.equal(other[4:], first[4:])
        and other[3] != first[3]
    )


def test_differentiable_in_the_weights_of_a_relu_model():
    torch.manual_seed(0)
    relu = build_model("convnet", 1, 10, width=8)
    lf = explanation_change(
        relu, x_batch(), 0.1, generator=torch.Generator().manual_seed(0)
    ).mean()
    grads = torch.autograd.grad(lf, [p for p in relu.parameters()], allow_unused=True)
    assert any(g is not None and g.abs().sum() > 0 for g in grads)


@pytest.mark.parametrize(
    "kwargs, fragment",
    [({"sigma": -0.1}, "sigma=-0.1"), ({"sigma": 0.1, "samples": 0}, "samples=0")],
)
def test_bad_arguments_give_one_line(kwargs, fragment):
    with pytest.raises(ConfigError, match=fragment):
        explanation_change(smooth_net(), x_batch(), **kwargs)


def test_bad_settings_in_a_profile_give_one_line():
    with pytest.raises(ConfigError, match="experiments.digits.train.sep.sigma=-1.0"):
        load_profile(
            "smoke",
            {
                "experiments.digits.train.method": "mat",
                "experiments.digits.train.sep": {"lam": 1.0, "sigma": -1.0},
            },
        )
    with pytest.raises(ConfigError, match="train.method='standard'"):
        load_profile("smoke", {"experiments.digits.train.sep": {"lam": 1.0}})


def spec(sep, epochs=2):
    return RunSpec(
        DataConfig("digits", n_train=400, n_test=100),
        ModelConfig("convnet", width=8),
        TrainConfig(
            method="mat",
            epochs=epochs,
            batch_size=64,
            lr=0.05,
            monitor_n=100,
            attack=AttackConfig(eps=0.1, step_size=0.05, steps=2),
            sep=sep,
        ),
    )


def test_models_without_sep_keep_their_store_keys():
    assert "sep" not in spec(None).store_config()["train"]
    assert spec(SepConfig(lam=1.0)).store_config()["train"]["sep"]["lam"] == 1.0


def test_lambda_zero_reproduces_mat_bit_for_bit(store):
    mat = get_model(spec(None), store, "cpu", progress=False)
    zero = get_model(spec(SepConfig(lam=0.0, sigma=0.1)), store, "cpu", progress=False)
    a, b = mat.model.state_dict(), zero.model.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert (
        "sep_lf" in zero.history[-1]
        and "base_loss" in zero.history[-1]
        and zero.collapsed is None
    )


def test_positive_lambda_ends_with_lower_lf_than_negative(store):
    pos = get_model(
        spec(SepConfig(lam=3e4, sigma=0.1), epochs=3), store, "cpu", progress=False
    )
    neg = get_model(
        spec(SepConfig(lam=-3e4, sigma=0.1), epochs=3), store, "cpu", progress=False
    )
    assert pos.history[-1]["sep_lf"] < neg.history[-1]["sep_lf"]


def test_a_collapsed_run_is_flagged(store):
    run = get_model(
        spec(SepConfig(lam=-1e12, sigma=0.1), epochs=2), store, "cpu", progress=False
    )
    assert run.collapsed is not None
    again = get_model(
        spec(SepConfig(lam=-1e12, sigma=0.1), epochs=2), store, "cpu", progress=False
    )
    assert again.collapsed == run.collapsed  # stored with the model, not recomputed


def test_sep_loss_on_a_batch_norm_model_is_per_example_and_leaves_the_model_as_it_was():
    torch.manual_seed(0)
    model = build_model("resnet18", 1, 10, width=2, activation="softplus").train()
    x, y = x_batch(6), torch.arange(6) % 10
    stats = [b.clone() for b in model.buffers()]
    from lib.measure.sep import sep_loss

    _, whole = sep_loss(
        model, x, y, 1.0, 0.1, "gradient", 1, torch.Generator().manual_seed(3)
    )
    # the same noise in eval mode: equal, so the maps used running statistics, not the batch's
    lf = explanation_change(
        model.eval(),
        x,
        0.1,
        target=y,
        generator=torch.Generator().manual_seed(3),
        create_graph=False,
    )
    assert torch.allclose(whole, lf.mean(), rtol=1e-5)
    in_train_mode = explanation_change(
        model.train(),
        x,
        0.1,
        target=y,
        generator=torch.Generator().manual_seed(3),
        create_graph=False,
    )
    assert not torch.allclose(
        in_train_mode.mean(), lf.mean(), rtol=1e-3
    )  # the check above can fail
    for b, s in zip(
        model.buffers(), stats
    ):  # undo the train-mode pass's update of the running statistics
        b.copy_(s)
    model.train()
    _, again = sep_loss(
        model, x, y, 1.0, 0.1, "gradient", 1, torch.Generator().manual_seed(3)
    )
    assert all(m.training for m in model.modules())  # modes restored
    assert all(
        torch.equal(a, b) for a, b in zip(stats, model.buffers())
    )  # running statistics untouched


def test_extra_and_trades_experiments_must_have_a_lambda_sweep():
    with pytest.raises(
        ConfigError,
        match="sep.extra_experiments='cifar10'.*experiments with a lambda sweep",
    ):
        load_profile("smoke", {"sep.extra_experiments": ["cifar10"]})
    with pytest.raises(ConfigError, match="sep.trades_experiments"):
        load_profile("smoke", {"sep.base": "trades"})
