"""Classifiers that return logits: a small ConvNet and a CIFAR-style ResNet-18, plus the softplus twin.

Every nonlinearity is an ``nn.Module`` so that it can be swapped (``softplus_twin``); inputs are in
[0, 1] and any normalisation lives inside the model.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Sequence

import torch
from torch import nn
from torchvision.models.resnet import BasicBlock, ResNet

from lib.core.errors import ConfigError
from lib.core.settings import ACTIVATIONS, MODELS, ModelConfig
from lib.nn.conv import freeze_convolutions
from lib.nn.pooling import MaxPool2d


def make_activation(name: str, softplus_beta: float = 10.0) -> nn.Module:
    if name == "relu":
        return nn.ReLU()
    if name == "softplus":
        return nn.Softplus(beta=softplus_beta)
    raise ConfigError(
        f"activation={name!r} is not allowed: expected one of {ACTIVATIONS}"
    )


class Normalize(nn.Module):
    """Per-channel standardisation as the model's first layer, so attacks work in [0, 1] pixel space."""

    def __init__(self, mean: Sequence[float], std: Sequence[float]):
        super().__init__()
        self.register_buffer(
            "mean", torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1)
        )
        self.register_buffer(
            "std", torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std


class ConvNet(nn.Module):
    """Two conv-act-maxpool blocks, adaptive pooling to 4x4, then a two-layer head.

    Adaptive pooling makes it work on 8x8, 28x28 and 32x32 inputs without being told the size. The max pools
    are ``lib.nn.pooling.MaxPool2d``: ``nn.MaxPool2d``'s results, faster on the CPU.
    """

    def __init__(
        self,
        in_channels: int,
        num_classes: int,
        width: int = 16,
        activation: str = "relu",
        softplus_beta: float = 10.0,
    ):
        super().__init__()
        act = lambda: make_activation(activation, softplus_beta)  # noqa: E731 - a fresh module each time
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, width, 3, padding=1),
            act(),
            MaxPool2d(2),
            nn.Conv2d(width, 2 * width, 3, padding=1),
            act(),
            MaxPool2d(2),
            nn.AdaptiveAvgPool2d(4),
        )
        self.head = nn.Sequential(
            nn.Flatten(),
            nn.Linear(2 * width * 16, 8 * width),
            act(),
            nn.Linear(8 * width, num_classes),
        )
        # He initialisation (as torchvision's ResNet): PyTorch's default shrinks the signal through each
        # ReLU layer, and this small net then idles near chance for the first epochs.
        for m in self.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


def _resnet18(in_channels: int, num_classes: int, width: int) -> nn.Module:
    """torchvision's ResNet-18 with a 3x3 stride-1 stem, no max-pool, and stage widths w, 2w, 4w, 8w."""

    model = ResNet(BasicBlock, [2, 2, 2, 2], num_classes=num_classes)
    model.conv1 = nn.Conv2d(
        in_channels, width, kernel_size=3, stride=1, padding=1, bias=False
    )
    model.bn1 = nn.BatchNorm2d(width)
    model.maxpool = nn.Identity()
    if (
        width != 64
    ):  # rebuild the stages at the requested width with torchvision's own builder
        model.inplanes = width
        model.layer1 = model._make_layer(BasicBlock, width, 2)
        model.layer2 = model._make_layer(BasicBlock, 2 * width, 2, stride=2)
        model.layer3 = model._make_layer(BasicBlock, 4 * width, 2, stride=2)
        model.layer4 = model._make_layer(BasicBlock, 8 * width, 2, stride=2)
        model.fc = nn.Linear(8 * width, num_classes)
    for m in (
        model.modules()
    ):  # torchvision's initialisation, re-applied to the replaced layers
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
    return model


def build_model(
    name: str,
    in_channels: int,
    num_classes: int,
    activation: str = "relu",
    width: int | None = None,
    softplus_beta: float = 10.0,
    mean: Sequence[float] | None = None,
    std: Sequence[float] | None = None,
) -> nn.Module:
    """Build ``convnet`` or ``resnet18`` (default widths 16 and 64), optionally with input normalisation."""
    if name not in MODELS:
        raise ConfigError(f"model={name!r} is not allowed: expected one of {MODELS}")
    if activation not in ACTIVATIONS:
        raise ConfigError(
            f"activation={activation!r} is not allowed: expected one of {ACTIVATIONS}"
        )
    for pname, v in (("in_channels", in_channels), ("num_classes", num_classes)):
        if not isinstance(v, int) or v < 1:
            raise ConfigError(
                f"{pname}={v!r} is not allowed: expected a positive integer"
            )
    if name == "convnet":
        model: nn.Module = ConvNet(
            in_channels, num_classes, width or 16, activation, softplus_beta
        )
    else:
        model = _resnet18(in_channels, num_classes, width or 64)
        if activation != "relu":
            model = _replace_relus(
                model, lambda: make_activation(activation, softplus_beta)
            )
    if mean is not None or std is not None:
        if (
            mean is None
            or std is None
            or len(mean) != in_channels
            or len(std) != in_channels
        ):
            raise ConfigError(
                f"mean={mean!r}, std={std!r} are not allowed: expected both, with {in_channels} values each"
            )
        model = nn.Sequential(Normalize(mean, std), model)
    return model


def model_from_config(
    cfg: ModelConfig, in_channels: int, num_classes: int
) -> nn.Module:
    return build_model(
        cfg.name, in_channels, num_classes, cfg.activation, cfg.width, cfg.softplus_beta
    )


def _replace_relus(model: nn.Module, factory) -> nn.Module:
    """Replace every ``nn.ReLU`` at any depth, in place, by ``factory()``; returns the model."""
    for parent in model.modules():
        for child_name, child in list(parent.named_children()):
            if isinstance(child, nn.ReLU):
                setattr(parent, child_name, factory())
    return model


class _TwinSoftplusFunction(torch.autograd.Function):
    """softplus_beta(x) = relu(x) + log(1 + exp(-beta |x|)) / beta with the backward g * sigmoid(beta x)
    written as ordinary tensor operations, so that it stays differentiable to second order (double backward,
    as the explanation attack and the curvature need). Same values as ``F.softplus`` without its linear
    threshold (within 1e-7 / beta); about a third faster per attack step on the CPU, where torch's softplus
    kernels (log1p) dominate the attack's profile."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, beta: float) -> torch.Tensor:
        ctx.save_for_backward(x)
        ctx.beta = beta
        # exp's CPU kernel is about four times slower on arguments whose result underflows (below about -87,
        # reached once beta grows); below ln(eps) - 2 the sum 1 + exp(...) already rounds to exactly 1, so
        # clamping there changes no value (tests/test_models.py), only the time.
        floor = math.log(torch.finfo(x.dtype).eps) - 2
        tail = x.abs().mul_(-beta).clamp_(min=floor).exp_().add_(1).log_().div_(beta)
        return tail.add_(torch.relu(x))

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor, None]:
        # A double backward calls this twice: once recorded (the map) and once again to reach the input
        # through the forward graph. The second call, unrecorded, reuses the first one's slope: the same
        # values, one sigmoid and one product fewer over every activation. A recorded call always computes
        # its own, so every derivative keeps its own graph.
        slope = getattr(ctx, "slope", None)
        if slope is None or torch.is_grad_enabled():
            (x,) = ctx.saved_tensors
            slope = torch.sigmoid(ctx.beta * x)
            if torch.is_grad_enabled():
                ctx.slope = slope
        return grad * slope, None


class TwinSoftplus(nn.Softplus):
    """A Softplus that stands in for a ReLU in a softplus twin; only these are annealed by
    ``set_softplus_beta``, so a model trained with softplus keeps its own activations."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _TwinSoftplusFunction.apply(x, float(self.beta))


def softplus_twin(model: nn.Module, beta: float) -> nn.Module:
    """A copy of ``model`` with the same weights and every ReLU replaced by Softplus(beta).

    ReLU networks have a zero input-Hessian almost everywhere; the twin is smooth, so second-order
    quantities (explanation attacks, curvature) get a signal. Softplus(beta) -> ReLU as beta -> inf.
    The original model is untouched. Functional ``F.relu`` calls cannot be seen and are not replaced.
    """
    if not beta > 0:
        raise ConfigError(f"beta={beta!r} is not allowed: expected a positive number")
    twin = copy.deepcopy(model)
    # Its convolutions skip the unused weight gradients of double backward while frozen (same results).
    return freeze_convolutions(_replace_relus(twin, lambda: TwinSoftplus(beta=beta)))


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def set_softplus_beta(model: nn.Module, beta: float) -> None:
    """Change, in place, the beta of the softplus modules that ``softplus_twin`` put in place of ReLUs (for
    attacks that anneal it); a model's own Softplus activations are left as trained."""
    for m in model.modules():
        if isinstance(m, TwinSoftplus):
            m.beta = beta
