"""lib.nn.conv.FrozenConv2d: bit-identical to nn.Conv2d to third order, without the unused weight gradients
of PyTorch's double backward; the plain path while the weights train."""

import copy

import pytest
import torch
from torch import nn
from torch.profiler import ProfilerActivity, profile

from lib.measure.explain import map_and_logits
from lib.nn.conv import FrozenConv2d, freeze_convolutions
from lib.nn.models import build_model, softplus_twin


def _twins(name: str) -> tuple[nn.Module, nn.Module]:
    torch.manual_seed(0)
    model = build_model(name, 1, 10, width=4 if name == "convnet" else 2).eval()
    ours = softplus_twin(model, 10.0)
    ref = copy.deepcopy(ours)
    for m in ref.modules():
        if type(m) is FrozenConv2d:
            m.__class__ = nn.Conv2d
    for net in (ours, ref):
        for p in net.parameters():
            p.requires_grad_(False)
    return ours, ref


def _attack_derivatives(net: nn.Module, x: torch.Tensor, y: torch.Tensor):
    """The attack's input gradient (second order) and one third derivative (the curvature's HVP)."""
    xa = x.clone().requires_grad_(True)
    maps, logits = map_and_logits(net, xa, target=y, create_graph=True)
    loss = (maps**2).sum() + logits.softmax(1).sum()
    (g,) = torch.autograd.grad(loss, xa, create_graph=True)
    v = torch.linspace(-1, 1, g.numel()).view_as(g)
    (h,) = torch.autograd.grad((g * v).sum(), xa)
    return g.detach(), h


@pytest.mark.parametrize("channels_last", [False, True])
@pytest.mark.parametrize("name", ["convnet", "resnet18"])
def test_frozen_convolutions_are_bit_identical_to_third_order(name, channels_last):
    ours, ref = _twins(name)
    assert sum(type(m) is FrozenConv2d for m in ours.modules()) >= 2
    x, y = torch.rand(4, 1, 16, 16), torch.tensor([0, 3, 5, 9])
    if (
        channels_last
    ):  # the layout a batch of 8x8 digits takes: the whole net then runs channels-last
        x = torch.rand(4, 16, 16, 1).permute(0, 3, 1, 2)
    for a, b in zip(_attack_derivatives(ours, x, y), _attack_derivatives(ref, x, y)):
        assert a.abs().sum() > 0 and torch.equal(a, b)


def test_double_backward_runs_fewer_convolutions_than_torch():
    """PyTorch's double backward adds a weight-gradient convolution per layer; the frozen path does not."""
    ours, ref = _twins("convnet")
    x, y = torch.rand(4, 1, 16, 16), torch.tensor([0, 3, 5, 9])

    def convolutions(net) -> int:
        xa = x.clone().requires_grad_(True)
        with profile(activities=[ProfilerActivity.CPU]) as prof:
            maps, _ = map_and_logits(net, xa, target=y, create_graph=True)
            torch.autograd.grad((maps**2).sum(), xa)
        return sum(e.count for e in prof.key_averages() if e.key == "aten::convolution")

    assert convolutions(ours) == convolutions(ref) - 2  # the ConvNet's two layers


def test_trainable_convolutions_take_the_plain_path():
    torch.manual_seed(0)
    conv = freeze_convolutions(nn.Sequential(nn.Conv2d(1, 2, 3)))[0]
    assert type(conv) is FrozenConv2d
    x = torch.rand(1, 1, 5, 5, requires_grad=True)
    assert type(conv(x).grad_fn).__name__ == "ConvolutionBackward0"
    conv.requires_grad_(False)
    assert type(conv(x).grad_fn).__name__ == "_FrozenConvolutionBackward"
    assert conv(x.detach()).grad_fn is None
