import math

import pytest
import torch
from torch import nn

from lib.core.errors import ConfigError
from lib.nn.models import build_model, softplus_twin


@pytest.mark.parametrize("shape", [(1, 8, 8), (1, 28, 28), (3, 32, 32)])
@pytest.mark.parametrize("name", ["convnet", "resnet18"])
def test_models_take_every_input_size_without_being_told(name, shape):
    torch.manual_seed(0)
    model = build_model(name, shape[0], 10, width=8).eval()
    assert model(torch.rand(2, *shape)).shape == (2, 10)


def test_resnet_width_setting_narrows_every_stage():
    narrow, standard = (
        build_model("resnet18", 3, 10, width=8),
        build_model("resnet18", 3, 10),
    )
    assert (
        narrow.layer4[1].conv2.out_channels == 64
        and standard.layer4[1].conv2.out_channels == 512
    )
    assert standard.conv1.kernel_size == (3, 3) and standard.conv1.stride == (1, 1)
    assert isinstance(standard.maxpool, nn.Identity)


def _relu_count(m):
    return sum(isinstance(x, nn.ReLU) for x in m.modules())


@pytest.mark.parametrize("name", ["convnet", "resnet18"])
def test_softplus_twin_replaces_every_relu_and_leaves_the_original(name):
    torch.manual_seed(0)
    model = build_model(name, 1, 10, width=8).eval()
    n_relu = _relu_count(model)
    assert n_relu > 0
    twin = softplus_twin(model, beta=5.0)
    assert (
        _relu_count(twin) == 0
        and sum(isinstance(x, nn.Softplus) for x in twin.modules()) == n_relu
    )
    assert _relu_count(model) == n_relu  # untouched
    for (k, a), (_, b) in zip(model.state_dict().items(), twin.state_dict().items()):
        assert torch.equal(a, b), k
        assert a.data_ptr() != b.data_ptr()  # a copy, not shared storage


@pytest.mark.parametrize("name", ["convnet", "resnet18"])
def test_softplus_twin_approaches_the_relu_model_as_beta_grows(name):
    torch.manual_seed(0)
    model = build_model(name, 1, 10, width=8).eval()
    x = torch.rand(8, 1, 28, 28)
    with torch.no_grad():
        ref = model(x)
        gaps = [
            (softplus_twin(model, b).eval()(x) - ref).abs().max().item()
            for b in (1, 10, 100, 1000, 10000)
        ]
    assert all(a > b for a, b in zip(gaps, gaps[1:])), gaps
    assert gaps[-1] < 1e-3 * ref.abs().max().item()


def test_softplus_twin_has_a_nonzero_input_hessian_where_relu_has_none():
    torch.manual_seed(0)
    model = build_model("convnet", 1, 10, width=4).eval()
    x = torch.rand(1, 1, 8, 8)
    f = lambda m: lambda inp: m(inp)[0, 3]  # noqa: E731
    h_relu = torch.autograd.functional.hessian(f(model), x)
    h_soft = torch.autograd.functional.hessian(f(softplus_twin(model, 10.0)), x)
    assert h_relu.abs().max() == 0 and h_soft.abs().max() > 0


@pytest.mark.parametrize("beta", [0.5, 10.0, 1000.0])
def test_twin_softplus_equals_torch_softplus_to_second_order(beta):
    """The hand-written softplus of the twin (``_TwinSoftplusFunction``) has torch's values, first and
    second derivatives (float64, with large |x| where torch switches to its linear threshold)."""
    from lib.nn.models import TwinSoftplus

    x = torch.cat([torch.linspace(-40, 40, 81), torch.randn(50)]).double() / beta**0.5
    x.requires_grad_(True)
    ours, ref = TwinSoftplus(beta=beta)(x), nn.functional.softplus(x, beta=beta)
    assert torch.allclose(ours, ref, atol=1e-7 / beta, rtol=1e-12)
    g_ours = torch.autograd.grad(ours.sum(), x, create_graph=True)[0]
    g_ref = torch.autograd.grad(ref.sum(), x, create_graph=True)[0]
    mid = (beta * x).abs() < 20  # torch's kernel is exactly linear beyond its threshold
    assert torch.allclose(g_ours[mid], g_ref[mid], rtol=1e-12, atol=1e-15)
    h_ours = torch.autograd.grad(g_ours.sum(), x)[0]
    h_ref = torch.autograd.grad(g_ref.sum(), x)[0]
    assert torch.allclose(h_ours[mid], h_ref[mid], rtol=1e-9, atol=1e-12)
    y = torch.randn(5, dtype=torch.double, requires_grad=True)
    assert torch.autograd.gradgradcheck(lambda t: TwinSoftplus(beta=beta)(t), (y,))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("beta", [1.0, 10.0, 100.0, 1000.0])
def test_twin_softplus_clamp_changes_no_value(beta, dtype):
    """The twin clamps exp's argument where 1 + exp(...) already rounds to 1 (exp is slow on underflow):
    its values equal the unclamped formula bit for bit, across the range and at the threshold."""
    from lib.nn.models import TwinSoftplus

    floor = math.log(torch.finfo(dtype).eps) - 2
    edge = -floor / beta
    x = torch.cat(
        [
            torch.linspace(-200, 200, 400_001, dtype=dtype) / beta,
            torch.linspace(-1.01 * edge, -0.99 * edge, 20_001, dtype=dtype),
            torch.linspace(0.99 * edge, 1.01 * edge, 20_001, dtype=dtype),
        ]
    )
    unclamped = torch.relu(x) + torch.log(1 + torch.exp(-beta * x.abs())) / beta
    assert (-beta * x.abs() < floor).any()  # the clamp is exercised
    assert torch.equal(TwinSoftplus(beta=beta)(x), unclamped)


def test_twin_softplus_second_backward_reuses_the_slope_with_the_same_results():
    """The attack's double backward computes each twin activation's sigmoid once (in the recorded first
    backward) instead of twice; its input gradient, and a third derivative (the curvature's), are those of a
    twin that recomputes the sigmoid every time, bit for bit."""
    from torch.profiler import ProfilerActivity, profile

    import lib.nn.models as models

    def derivatives(net):
        x = torch.rand(4, 1, 12, 12, requires_grad=True)
        with profile(activities=[ProfilerActivity.CPU]) as prof:
            (g,) = torch.autograd.grad(net(x)[:, 0].sum(), x, create_graph=True)
            (h,) = torch.autograd.grad((g**2).sum(), x, retain_graph=True)
        sigmoids = sum(e.count for e in prof.key_averages() if e.key == "aten::sigmoid")
        (h2,) = torch.autograd.grad((g**2).sum(), x, create_graph=True)
        (k,) = torch.autograd.grad(h2.sin().sum(), x)
        return (h, h2.detach(), k), sigmoids

    torch.manual_seed(0)
    twin = softplus_twin(build_model("convnet", 1, 10, width=4).eval(), 30.0)
    twin.requires_grad_(False)
    torch.manual_seed(1)
    ours, ours_sigmoids = derivatives(twin)

    def recomputing(ctx, grad):
        (x,) = ctx.saved_tensors
        return grad * torch.sigmoid(ctx.beta * x), None

    original = models._TwinSoftplusFunction.backward
    models._TwinSoftplusFunction.backward = staticmethod(recomputing)
    try:
        torch.manual_seed(1)
        ref, ref_sigmoids = derivatives(twin)
    finally:
        models._TwinSoftplusFunction.backward = original
    # three activations; the second backward reaches the input again through the two lower ones
    assert ours_sigmoids == 3 and ref_sigmoids == 5
    for a, b in zip(ours, ref):
        assert a.abs().sum() > 0 and torch.equal(a, b)


@pytest.mark.parametrize(
    "kwargs, fragment",
    [
        ({"name": "vgg"}, "model='vgg'"),
        ({"activation": "tanh"}, "activation='tanh'"),
        ({"in_channels": 0}, "in_channels=0"),
    ],
)
def test_bad_model_arguments(kwargs, fragment):
    args = {"name": "convnet", "in_channels": 1, "num_classes": 10, **kwargs}
    with pytest.raises(ConfigError, match=fragment):
        build_model(**args)
    with pytest.raises(ConfigError, match="beta=-1"):
        softplus_twin(build_model("convnet", 1, 10), -1)
