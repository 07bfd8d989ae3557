"""lib.nn.pooling.MaxPool2d computes exactly what nn.MaxPool2d computes: values, gradients, double backward
and third derivatives, bit for bit, with ties; and the ConvNet built with it trains and explains as before."""

import copy

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from lib.measure.explain import map_and_logits
from lib.measure.sep import explanation_change
from lib.nn.models import build_model, softplus_twin
from lib.nn.pooling import MaxPool2d

SETTINGS = [
    {"kernel_size": 2},
    {"kernel_size": 3, "stride": 2, "padding": 1},
    {"kernel_size": 2, "ceil_mode": True},
    {"kernel_size": (2, 3), "stride": (1, 2), "dilation": (2, 1)},
]


def _inputs(shape=(3, 4, 9, 11), seed=0) -> torch.Tensor:
    """Random values with many ties: a ReLU's zeros and values rounded to a coarse grid."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(shape, generator=g).relu()
    return torch.where(torch.rand(shape, generator=g) < 0.3, (x * 2).round() / 2, x)


def _derivatives(pool: nn.Module, x: torch.Tensor) -> list[torch.Tensor]:
    """Output, gradient, gradient of the gradient and a third derivative of a smooth function of the pool."""
    x = x.clone().double().requires_grad_(True)
    w = torch.linspace(-1, 1, x.numel(), dtype=torch.double).view_as(x)
    y = pool(
        x * x.sin() + w * x
    )  # smooth in x, so every order has a signal through the routing
    (g,) = torch.autograd.grad((y**2).sum(), x, create_graph=True)
    (h,) = torch.autograd.grad((g**2).sum(), x, create_graph=True)
    (k,) = torch.autograd.grad((h * w).sum(), x)
    return [y.detach(), g.detach(), h.detach(), k]


LAYOUTS = {
    "contiguous": lambda x: x,
    "channels-last": lambda x: x.contiguous(memory_format=torch.channels_last),
    "both (one channel)": lambda x: x[:, :1],
}


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("settings", SETTINGS)
def test_max_pool_is_bit_identical_to_torch_to_third_order(settings, layout):
    x = LAYOUTS[layout](_inputs())
    ours = _derivatives(MaxPool2d(**settings), x)
    ref = _derivatives(nn.MaxPool2d(**settings), x)
    assert (
        ours[0].stride() == ref[0].stride()
    )  # the next layer sees the layout it would have seen
    assert ours[3].abs().sum() > 0  # the third derivative is not trivially zero
    for a, b in zip(ours, ref):
        assert a.shape == b.shape and torch.equal(a, b)


def test_max_pool_takes_the_channels_last_path_and_keeps_the_first_of_tied_maxima():
    # two channels (one channel would read as channels-last too); four tied maxima each: torch routes to the first
    x = torch.zeros(1, 2, 2, 2, requires_grad=True)
    y = MaxPool2d(2)(x)
    assert type(y.grad_fn).__name__ == "_ChannelsLastMaxPoolBackward"
    assert y.is_contiguous()
    y.sum().backward()
    assert x.grad.flatten().tolist() == [1.0, 0.0, 0.0, 0.0] * 2


def test_convnet_trains_explains_and_attacks_as_with_torch_pooling():
    """Training gradients, SEP's weight gradient of a map difference and the attack's double backward
    through the softplus twin: all equal to those of the same net with nn.MaxPool2d."""
    torch.manual_seed(0)
    ours = build_model("convnet", 1, 10, width=4)
    ref = copy.deepcopy(ours)
    for i, m in enumerate(ref.features):
        if isinstance(m, MaxPool2d):
            ref.features[i] = nn.MaxPool2d(m.kernel_size)
    assert sum(isinstance(m, MaxPool2d) for m in ours.modules()) == 2
    x, y = torch.rand(6, 1, 28, 28), torch.randint(0, 10, (6,))
    x_cl = torch.rand(6, 8, 8, 1).permute(
        0, 3, 1, 2
    )  # (N, 1, H, W) read as channels-last by the conv

    def weight_grads(net, loss_fn):
        net.zero_grad()
        loss_fn(net).backward()
        return [p.grad for p in net.parameters() if p.grad is not None]

    def train_loss(net):
        return F.cross_entropy(net.train()(x), y)

    def sep_loss(net):
        noise = torch.Generator().manual_seed(1)
        return explanation_change(net.eval(), x, 0.1, target=y, generator=noise).sum()

    for loss_fn in (train_loss, sep_loss):
        for a, b in zip(weight_grads(ours, loss_fn), weight_grads(ref, loss_fn)):
            assert torch.equal(a, b)
    assert ours.features[0](x_cl).is_contiguous(memory_format=torch.channels_last)
    x = x_cl  # a batch of 8x8 digits takes this layout; the whole net then runs channels-last
    for a, b in zip(weight_grads(ours, train_loss), weight_grads(ref, train_loss)):
        assert torch.equal(a, b)

    def attack_grad(net):
        twin = softplus_twin(net.eval(), 10.0)
        xa = x.clone().requires_grad_(True)
        maps, logits = map_and_logits(twin, xa, target=y, create_graph=True)
        return torch.autograd.grad((maps**2).sum() + logits.softmax(1).sum(), xa)[0]

    assert torch.equal(attack_grad(ours), attack_grad(ref))
