"""Explanation maps: agreement with Captum, exact answers on a linear model, correct second derivatives
(finite differences in float64), the model left as found, and clear errors for bad input."""

from __future__ import annotations

import warnings

import pytest
import torch
from torch import nn

from lib.core.errors import ConfigError
from lib.core.settings import EXPLANATION_METHODS as METHODS
from lib.measure.explain import (
    IG_RULES,
    SecondOrderReLUWarning,
    explanation_loss,
    explanation_map,
    ig_rule,
    map_and_logits,
    warn_if_relu_second_order,
)
from lib.measure.metrics import mse
from lib.nn.models import build_model, softplus_twin

captum_attr = pytest.importorskip("captum.attr")

# (model, channels, side): our ConvNet on MNIST-like and CIFAR-like inputs, torchvision's ResNet-18.
CASES = [("convnet", 1, 28), ("convnet", 3, 32), ("resnet18", 3, 32)]
IG_STEPS = 8
SG_SAMPLES, SG_STDEV = 4, 0.2


def _normalised(attr: torch.Tensor) -> torch.Tensor:
    """The paper's map from raw (N, C, H, W) attributions, written out independently of lib.explain."""
    m = attr.abs().sum(1)
    return m / m.sum(dim=(1, 2), keepdim=True)


def _model(
    name: str, channels: int, side: int, seed: int = 0, width: int = 8
) -> nn.Module:
    """A small model in eval mode with random biases and batch-norm statistics, so no layer is trivial
    (zero biases would make a ReLU net homogeneous, where IG with a zero baseline equals grad x input)."""
    torch.manual_seed(seed)
    model = build_model(name, channels, 10, width=width)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)) and m.bias is not None:
                m.bias.normal_(0, 0.1)
            if isinstance(m, nn.BatchNorm2d):
                m.weight.uniform_(0.5, 1.5)
                m.bias.normal_(0, 0.1)
        model.train()
        model(
            torch.rand(8, channels, side, side)
        )  # running statistics away from (0, 1)
    return model.eval()


def _captum_smoothgrad(
    model: nn.Module, x: torch.Tensor, target: torch.Tensor, seed: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Captum's SmoothGrad of the raw gradient and the exact noise it drew, in our (samples, N, ...) layout.

    NoiseTunnel draws torch.normal(0, stdevs) for the inputs repeated with repeat_interleave (image-major);
    re-seeding and drawing the same shape reproduces it. ``abs=False``: Saliency's default abs=True would
    average |gradient| instead of taking |mean gradient| (SmoothGrad).
    """
    torch.manual_seed(seed)
    attr = captum_attr.NoiseTunnel(captum_attr.Saliency(model)).attribute(
        x,
        nt_type="smoothgrad",
        nt_samples=SG_SAMPLES,
        stdevs=SG_STDEV,
        target=target,
        abs=False,
    )
    torch.manual_seed(seed)
    noise = torch.normal(
        0, torch.full((x.shape[0] * SG_SAMPLES, *x.shape[1:]), SG_STDEV)
    )
    return attr, noise.view(x.shape[0], SG_SAMPLES, *x.shape[1:]).transpose(0, 1)


def _captum_reference(
    method: str, model: nn.Module, x: torch.Tensor, target: torch.Tensor
) -> tuple[torch.Tensor, dict]:
    """Captum's raw attributions for ``method`` and the settings that make ours compute the same thing."""
    ca = captum_attr
    if method == "gradient":
        return ca.Saliency(model).attribute(x, target=target, abs=False), {}
    if method == "grad_x_input":
        return ca.InputXGradient(model).attribute(x, target=target), {}
    if method == "guided_backprop":
        return ca.GuidedBackprop(model).attribute(x, target=target), {}
    if method == "integrated_gradients":
        return (
            ca.IntegratedGradients(model).attribute(x, target=target, n_steps=IG_STEPS),
            {"steps": IG_STEPS, "rule": "gausslegendre"},
        )
    attr, noise = _captum_smoothgrad(model, x, target, seed=5)
    return attr, {"noise": noise}


@pytest.fixture(autouse=True)
def _quiet_captum():
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Setting backward hooks on ReLU")
        warnings.filterwarnings("ignore", message=".*non-full backward hook")
        warnings.filterwarnings(
            "ignore", message="Input Tensor 0 did not already require gradients"
        )
        yield


@pytest.mark.parametrize("case", CASES, ids=[f"{n}-{c}x{s}" for n, c, s in CASES])
@pytest.mark.parametrize("method", METHODS)
def test_each_method_matches_captum(method, case):
    name, channels, side = case
    model = _model(name, channels, side)
    x = torch.rand(3, channels, side, side)
    target = model(x).argmax(1)
    ref, kwargs = _captum_reference(method, model, x, target)
    maps = explanation_map(
        model, x, method, **kwargs
    )  # predicted class by default = Captum's target
    assert maps.shape == (3, side, side) and not maps.requires_grad
    torch.testing.assert_close(maps, _normalised(ref), rtol=1e-5, atol=1e-7)
    assert maps.min() >= 0
    torch.testing.assert_close(maps.sum(dim=(1, 2)), torch.ones(3), rtol=0, atol=1e-5)


@pytest.mark.parametrize("rule", IG_RULES)
def test_integrated_gradients_rules_match_captum(rule):
    model = _model("resnet18", 3, 32)
    x = torch.rand(2, 3, 32, 32)
    target = torch.tensor([3, 7])
    ref = captum_attr.IntegratedGradients(model).attribute(
        x, target=target, n_steps=5, method=rule
    )
    maps = explanation_map(
        model, x, "integrated_gradients", target=target, steps=5, rule=rule
    )
    torch.testing.assert_close(maps, _normalised(ref), rtol=1e-5, atol=1e-7)


def test_methods_give_different_maps_so_the_captum_checks_can_fail():
    model = _model("resnet18", 3, 32)
    x = torch.rand(2, 3, 32, 32)
    noise = 0.2 * torch.randn(3, *x.shape)
    maps = {
        m: explanation_map(
            model, x, m, **({"noise": noise} if m == "smoothgrad" else {})
        )
        for m in METHODS
    }
    for i, a in enumerate(METHODS):
        for b in METHODS[i + 1 :]:
            assert (maps[a] - maps[b]).abs().max() > 1e-4, (a, b)


def test_ig_rules_have_weights_summing_to_one_and_gauss_legendre_is_exact_for_cubics():
    for rule in IG_RULES:
        alphas, weights = ig_rule(rule, 4)
        assert len(alphas) == len(weights) == 4 and abs(sum(weights) - 1) < 1e-12, rule
    alphas, weights = ig_rule("riemann_trapezoid", 3)
    assert alphas == [0.0, 0.5, 1.0] and weights == [0.25, 0.5, 0.25]
    alphas, weights = ig_rule("gausslegendre", 2)
    assert abs(sum(w * a**3 for a, w in zip(alphas, weights)) - 0.25) < 1e-12


def _linear(
    channels: int = 2, side: int = 5, classes: int = 4, seed: int = 0
) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Flatten(), nn.Linear(channels * side * side, classes))


def test_linear_model_known_answers():
    # For logits W x + b the input gradient of class c is W[c]: the gradient map is |W[c]| summed over
    # channels and normalised; gradient x input is |W[c] * x|; IG from a zero baseline is exactly W[c] * x.
    model = _linear()
    x = torch.rand(3, 2, 5, 5)
    w = model[1].weight.detach().view(4, 2, 5, 5)
    pred = model(x).argmax(1)
    expected = _normalised(w[pred])
    torch.testing.assert_close(
        explanation_map(model, x), expected, rtol=1e-6, atol=1e-9
    )
    target = torch.tensor([0, 1, 3])
    torch.testing.assert_close(
        explanation_map(model, x, target=target),
        _normalised(w[target]),
        rtol=1e-6,
        atol=1e-9,
    )
    gxi = _normalised(w[target] * x)
    torch.testing.assert_close(
        explanation_map(model, x, "grad_x_input", target=target),
        gxi,
        rtol=1e-6,
        atol=1e-9,
    )
    for rule in IG_RULES:
        ig = explanation_map(
            model, x, "integrated_gradients", target=target, steps=3, rule=rule
        )
        torch.testing.assert_close(ig, gxi, rtol=1e-5, atol=1e-8)


def test_all_zero_model_gives_zero_maps_not_nan():
    model = _linear()
    with torch.no_grad():
        model[1].weight.zero_()
    maps = explanation_map(model, torch.rand(2, 2, 5, 5))
    assert torch.equal(maps, torch.zeros(2, 5, 5))


@pytest.mark.parametrize("method", METHODS)
def test_batched_maps_equal_maps_computed_one_image_at_a_time(method):
    model = _model("resnet18", 3, 32)
    x = torch.rand(3, 3, 32, 32)
    noise = 0.2 * torch.randn(2, *x.shape)
    kw = {"steps": 4} if method == "integrated_gradients" else {}
    batch = explanation_map(
        model, x, method, **kw, **({"noise": noise} if method == "smoothgrad" else {})
    )
    for i in range(3):
        one = explanation_map(
            model,
            x[i : i + 1],
            method,
            **kw,
            **({"noise": noise[:, i : i + 1]} if method == "smoothgrad" else {}),
        )
        torch.testing.assert_close(batch[i : i + 1], one, rtol=1e-5, atol=1e-7)


def test_internal_batch_size_does_not_change_ig_or_smoothgrad():
    model = _model("convnet", 1, 28)
    x = torch.rand(3, 1, 28, 28)
    noise = 0.1 * torch.randn(5, *x.shape)
    for method, kw in (
        ("integrated_gradients", {"steps": 5}),
        ("smoothgrad", {"noise": noise}),
    ):
        whole = explanation_map(model, x, method, **kw)
        for ibs in (1, 4, 7):
            torch.testing.assert_close(
                explanation_map(model, x, method, internal_batch_size=ibs, **kw),
                whole,
                rtol=1e-5,
                atol=1e-7,
            )


def test_smoothgrad_noise_sources_agree():
    model = _model("convnet", 1, 28)
    x = torch.rand(2, 1, 28, 28)
    by_seed = explanation_map(model, x, "smoothgrad", seed=3, stdevs=0.1, n_samples=4)
    by_gen = explanation_map(
        model,
        x,
        "smoothgrad",
        generator=torch.Generator().manual_seed(3),
        stdevs=0.1,
        n_samples=4,
    )
    given = 0.1 * torch.randn((4, *x.shape), generator=torch.Generator().manual_seed(3))
    torch.testing.assert_close(by_seed, by_gen, rtol=0, atol=0)
    torch.testing.assert_close(
        explanation_map(model, x, "smoothgrad", noise=given),
        by_seed,
        rtol=1e-6,
        atol=1e-9,
    )
    other = explanation_map(model, x, "smoothgrad", seed=4, stdevs=0.1, n_samples=4)
    assert (other - by_seed).abs().max() > 1e-5


def _smooth_model(dtype=torch.float64) -> nn.Module:
    base = _model("convnet", 1, 12, width=4)
    return softplus_twin(base, beta=10.0).to(dtype).eval()


def _settings(method: str, x: torch.Tensor) -> dict:
    if method == "integrated_gradients":
        return {"steps": 4}
    if method == "smoothgrad":
        return {
            "noise": 0.1
            * torch.randn(
                (3, *x.shape), dtype=x.dtype, generator=torch.Generator().manual_seed(1)
            )
        }
    return {}


@pytest.mark.parametrize("method", METHODS)
def test_create_graph_gives_correct_input_second_derivatives(method):
    # s(x) = <w, map(x)> depends on x through the input gradient: its derivative is a second-order quantity.
    model = _smooth_model()
    x0 = torch.rand(2, 1, 12, 12, dtype=torch.float64)
    target = model(x0).argmax(1)
    kw = _settings(method, x0)
    w = torch.rand(
        2, 12, 12, dtype=torch.float64, generator=torch.Generator().manual_seed(2)
    )

    def s(x: torch.Tensor, create_graph: bool) -> torch.Tensor:
        return (
            explanation_map(
                model, x, method, target=target, create_graph=create_graph, **kw
            )
            * w
        ).sum()

    x = x0.clone().requires_grad_(True)
    with warnings.catch_warnings():
        warnings.simplefilter(
            "error", SecondOrderReLUWarning
        )  # a softplus twin must not warn
        (grad,) = torch.autograd.grad(s(x, True), x)
    v = torch.randn(
        x0.shape, dtype=torch.float64, generator=torch.Generator().manual_seed(3)
    )
    h = 1e-5
    fd = float((s(x0 + h * v, False) - s(x0 - h * v, False)) / (2 * h))
    ad = float((grad * v).sum())
    assert abs(fd) > 1e-6  # a real signal, not 0 == 0
    assert abs(ad - fd) <= 1e-5 * abs(fd) + 1e-9, (ad, fd)


@pytest.mark.parametrize("activation", ["relu", "softplus"])
@pytest.mark.parametrize("method", METHODS)
def test_create_graph_maps_are_differentiable_wrt_parameters(method, activation):
    # The SEP use: a loss on maps, back-propagated into the weights (a ReLU net warns: its input Hessian is 0).
    # The softplus twin also checks that the backward through the forward graph is the ordinary one.
    model = (
        _model("convnet", 1, 12, width=4).double()
        if activation == "relu"
        else _smooth_model()
    )
    x = torch.rand(2, 1, 12, 12, dtype=torch.float64)
    target = model(x).argmax(1)
    kw = _settings(method, x)
    reference = explanation_map(model, torch.rand_like(x), method, target=target, **kw)
    weight = model.features[0].weight

    def loss(create_graph: bool) -> torch.Tensor:
        maps = explanation_map(
            model, x, method, target=target, create_graph=create_graph, **kw
        )
        return explanation_loss(maps, reference).sum()

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        value = loss(True)
    assert any(issubclass(w.category, SecondOrderReLUWarning) for w in caught) == (
        activation == "relu"
    )
    grads = torch.autograd.grad(value, list(model.parameters()), allow_unused=True)
    assert all(g is None or torch.isfinite(g).all() for g in grads)
    assert grads[0] is not None and grads[0].abs().sum() > 0
    v = torch.randn(
        weight.shape, dtype=torch.float64, generator=torch.Generator().manual_seed(4)
    )
    h = 1e-6
    with torch.no_grad():
        weight.add_(h * v)
        up = float(loss(False))
        weight.sub_(2 * h * v)
        down = float(loss(False))
        weight.add_(h * v)
    fd, ad = (up - down) / (2 * h), float((grads[0] * v).sum())
    assert abs(fd) > 0 and abs(ad - fd) <= 1e-4 * abs(fd) + 1e-14, (ad, fd)


@pytest.mark.parametrize("method", METHODS)
def test_map_and_logits_gives_the_same_map_and_the_models_logits_with_ordinary_gradients(
    method,
):
    model = _smooth_model()
    x = torch.rand(2, 1, 12, 12, dtype=torch.float64, requires_grad=True)
    kw = _settings(method, x)
    maps, logits = map_and_logits(model, x, method, **kw)
    torch.testing.assert_close(
        maps, explanation_map(model, x, method, **kw), rtol=0, atol=0
    )
    torch.testing.assert_close(logits, model(x).detach(), rtol=1e-12, atol=1e-12)
    assert not logits.requires_grad
    target = torch.tensor([2, 5])
    maps, logits = map_and_logits(
        model, x, method, target=target, create_graph=True, **kw
    )
    torch.testing.assert_close(
        maps, explanation_map(model, x, method, target=target, **kw), rtol=1e-12, atol=0
    )
    # the logits differentiate like the model (guided backprop's rule must not leak into them)
    (through_logits,) = torch.autograd.grad(logits[:, 2].sum(), x)
    (plain,) = torch.autograd.grad(model(x)[:, 2].sum(), x)
    torch.testing.assert_close(through_logits, plain, rtol=1e-12, atol=1e-15)


def test_without_create_graph_nothing_keeps_a_graph_or_gradients_and_no_grad_mode_works():
    model = _model("convnet", 1, 28)
    x = torch.rand(2, 1, 28, 28, requires_grad=True)
    for method in METHODS:
        kw = {"seed": 0} if method == "smoothgrad" else {}
        maps = explanation_map(model, x, method, **kw)
        assert not maps.requires_grad and maps.grad_fn is None
        with (
            torch.no_grad()
        ):  # evaluation code often runs here: the maps must not change
            torch.testing.assert_close(
                explanation_map(model, x, method, **kw), maps, rtol=0, atol=0
            )
    assert x.grad is None and all(p.grad is None for p in model.parameters())


def _state(model: nn.Module) -> tuple[list, list, list]:
    return (
        [(n, m.training) for n, m in model.named_modules()],
        [(n, p.requires_grad) for n, p in model.named_parameters()],
        [(n, id(m)) for n, m in model.named_modules()],
    )


@pytest.mark.parametrize("method", METHODS)
def test_model_mode_requires_grad_and_modules_are_restored_even_after_errors(method):
    model = build_model("resnet18", 3, 10, width=8)
    model.train()
    model.layer1.eval()  # a mixed-mode model must come back mixed
    model.fc.weight.requires_grad_(False)
    model.conv1.weight.requires_grad_(False)
    before = _state(model)
    x = torch.rand(2, 3, 32, 32)
    kw = (
        {"steps": 2}
        if method == "integrated_gradients"
        else {"n_samples": 2}
        if method == "smoothgrad"
        else {}
    )
    explanation_map(model, x, method, **kw)
    assert _state(model) == before
    with pytest.raises(ConfigError, match="target"):
        explanation_map(model, x, method, target=torch.tensor([1, 10]), **kw)
    assert _state(model) == before
    with pytest.raises(
        RuntimeError
    ):  # the model itself fails: 2 channels into a 3-channel stem
        explanation_map(model, torch.rand(2, 2, 32, 32), method, **kw)
    assert _state(model) == before
    assert (
        sum(isinstance(m, nn.ReLU) for m in model.modules()) == 9
    )  # stem + one shared ReLU per block


def test_guided_backprop_restores_relus_on_error_and_applies_to_softplus():
    model = _smooth_model(torch.float32)
    x = torch.rand(2, 1, 12, 12)
    guided = explanation_map(model, x, "guided_backprop")
    plain = explanation_map(model, x, "gradient")
    assert (
        guided - plain
    ).abs().max() > 1e-4  # the softplus twin's backward was modified
    assert all(type(m) is not nn.ReLU for m in model.modules())
    assert sum(isinstance(m, nn.Softplus) for m in model.modules()) == 3


def test_guided_backprop_without_activation_modules_warns_and_is_the_gradient():
    model = _linear()
    x = torch.rand(2, 2, 5, 5)
    with pytest.warns(UserWarning, match="no nn.ReLU or nn.Softplus") as record:
        guided = explanation_map(model, x, "guided_backprop")
    assert record[0].filename == __file__  # points at the caller
    torch.testing.assert_close(guided, explanation_map(model, x), rtol=0, atol=0)


def test_relu_and_create_graph_warns_and_softplus_does_not():
    relu_model = _model("convnet", 1, 12, width=4)
    x = torch.rand(2, 1, 12, 12)
    with pytest.warns(
        SecondOrderReLUWarning,
        match=r"zero almost everywhere.*softplus_twin\(model, beta\)",
    ) as rec:
        explanation_map(relu_model, x, create_graph=True)
    assert rec[0].filename == __file__  # points at the caller
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        explanation_map(relu_model, x)  # first order: no warning
        assert warn_if_relu_second_order(softplus_twin(relu_model, 10.0)) is False


def test_explanation_loss_is_per_example_mse_over_pixels():
    a = torch.tensor([[[0.5, 0.5], [0.0, 0.0]], [[0.25, 0.25], [0.25, 0.25]]])
    b = torch.tensor([[[0.0, 0.5], [0.5, 0.0]], [[0.25, 0.25], [0.25, 0.25]]])
    torch.testing.assert_close(explanation_loss(a, b), torch.tensor([0.125, 0.0]))
    torch.testing.assert_close(explanation_loss(a, b), mse(a, b))
    with pytest.raises(ConfigError, match="maps_b.shape"):
        explanation_loss(a, b[:, :1])


def test_any_finite_input_is_accepted_outside_the_unit_box():
    model = _model("convnet", 1, 28)
    maps = explanation_map(model, 3 * torch.rand(2, 1, 28, 28) - 1)
    assert torch.isfinite(maps).all()


_X = torch.rand(2, 1, 12, 12)
_NAN = _X.clone()
_NAN[0, 0, 0, 0] = float("nan")
BAD = [
    ({"method": "saliency"}, "method='saliency'.*expected one of"),
    ({"x": _NAN}, "x with 1 non-finite"),
    ({"x": _X[0]}, r"x.shape=\(1, 12, 12\)"),
    ({"x": _X[:0]}, r"x.shape=\(0, 1, 12, 12\)"),
    ({"x": (_X * 255).to(torch.uint8)}, "x=Tensor of torch.uint8"),
    ({"target": torch.tensor([1, 2, 3])}, r"target.shape=\(3,\).*expected \(2,\)"),
    ({"target": torch.tensor([1.0, 2.0])}, "target=.*integer tensor"),
    ({"target": torch.tensor([1, 10])}, r"target=\[10\].*\[0, 9\]"),
    ({"target": torch.tensor([-1, 0]), "method": "smoothgrad"}, r"target=\[-1\]"),
    ({"create_graph": "yes"}, "create_graph='yes'"),
    ({"steps": 5}, "steps=5 is not allowed for method='gradient'"),
    ({"method": "integrated_gradients", "steps": 0}, "steps=0"),
    (
        {"method": "integrated_gradients", "rule": "riemann_trapezoid", "steps": 1},
        "steps=1",
    ),
    ({"method": "integrated_gradients", "rule": "simpson"}, "rule='simpson'"),
    (
        {"method": "integrated_gradients", "baseline": torch.zeros(3, 1, 1, 1)},
        r"baseline.shape=\(3, 1, 1, 1\)",
    ),
    (
        {"method": "integrated_gradients", "internal_batch_size": 0},
        "internal_batch_size=0",
    ),
    ({"method": "smoothgrad", "stdevs": -0.1}, "stdevs=-0.1"),
    ({"method": "smoothgrad", "n_samples": 0}, "n_samples=0"),
    (
        {"method": "smoothgrad", "noise": torch.zeros(2, 1, 12, 12)},
        r"noise.shape=\(2, 1, 12, 12\)",
    ),
    (
        {"method": "smoothgrad", "noise": torch.zeros(2, 2, 1, 12, 12), "seed": 1},
        "noise/generator/seed",
    ),
    (
        {"method": "smoothgrad", "noise": torch.zeros(2, 2, 1, 12, 12), "stdevs": 0.1},
        "stdevs=0.1",
    ),
]


@pytest.mark.parametrize("kwargs,match", BAD, ids=[str(i) for i in range(len(BAD))])
def test_bad_input_raises_one_clear_config_error(kwargs, match):
    model = _model("convnet", 1, 12, width=4)
    kwargs = {"x": _X, **kwargs}
    x = kwargs.pop("x")
    with pytest.raises(ConfigError, match=match) as info:
        explanation_map(model, x, **kwargs)
    assert "\n" not in str(info.value) and "not allowed" in str(info.value)
