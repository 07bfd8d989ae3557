import pytest

from lib.core.errors import ConfigError
from lib.core.profile import load_profile, resolve_device


@pytest.mark.parametrize("name", ["smoke", "cpu", "paper"])
def test_every_profile_loads_and_is_named(name):
    p = load_profile(name)
    assert p.name == name
    assert p.run and all(r in p.experiments for r in p.run)
    assert 0.0 in p.sweep.betas and max(p.sweep.betas) >= 6 and len(p.sweep.betas) >= 6


def test_dotted_and_nested_overrides_change_only_their_field():
    base = load_profile("cpu")
    a = load_profile("cpu", {"experiments.mnist.train.epochs": 2})
    b = load_profile("cpu", {"experiments": {"mnist": {"train": {"epochs": 2}}}})
    assert a.experiment("mnist").train.epochs == b.experiment("mnist").train.epochs == 2
    assert a.experiment("mnist").train.lr == base.experiment("mnist").train.lr
    assert a.experiment("fashion-mnist") == base.experiment("fashion-mnist")


@pytest.mark.parametrize(
    "overrides, fragment",
    [
        (
            {"experiments.mnist.train.epochz": 2},
            "unknown field experiments.mnist.train.epochz",
        ),
        ({"bogus": 1}, "unknown field bogus"),
        (
            {"experiments.mnist.train.attack.eps": -0.1},
            "experiments.mnist.train.attack.eps=-0.1",
        ),
        (
            {"experiments.mnist.train.attack.steps": -1},
            "experiments.mnist.train.attack.steps=-1",
        ),
        ({"sweep.betas": [0, -1]}, "sweep.betas=-1.0"),
        ({"experiments.mnist.data.name": "svhn"}, "experiments.mnist.data.name='svhn'"),
        ({"experiments.mnist.model.name": "vgg"}, "experiments.mnist.model.name='vgg'"),
        ({"run": ["imagenet"]}, "run='imagenet'"),
        ({"experiments.mnist.train.epochs": "many"}, "expected an integer"),
        ({"threads": 0}, "threads=0"),
        ({"drivers.second_beta": 10.0}, "drivers.second_beta=10.0"),
        ({"drivers.cross_method": "gradient"}, "drivers.cross_method='gradient'"),
        (
            {"drivers.cross_experiments": ["cifar10"]},
            "drivers.cross_experiments='cifar10'",
        ),
        ({"drivers.cross_attacks": ["lime"]}, "drivers.cross_attacks='lime'"),
    ],
)
def test_bad_values_name_the_field_and_what_is_allowed(overrides, fragment):
    with pytest.raises(ConfigError) as err:
        load_profile("cpu", overrides)
    msg = str(err.value)
    assert fragment in msg and "\n" not in msg
    assert "expected" in msg or "allowed" in msg


def test_unknown_profile_lists_the_known_ones():
    with pytest.raises(
        ConfigError,
        match=r"profile='gpu' is not allowed: expected one of \['cpu', 'paper', 'smoke'\]",
    ):
        load_profile("gpu")


def test_device_auto_resolves_and_bad_device_is_refused():
    import torch

    assert resolve_device("auto") == ("cuda" if torch.cuda.is_available() else "cpu")
    with pytest.raises(ConfigError, match="device="):
        load_profile("smoke", {"device": "tpu"})
