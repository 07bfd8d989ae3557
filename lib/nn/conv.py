"""A convolution for frozen weights whose double backward skips the weight gradient that PyTorch computes anyway.

When a loss is built from an input gradient (an explanation map) and then differentiated again with respect
to the input (the explanation attack, the curvature of the explanation loss), PyTorch's double backward of
every convolution (``_convolution_double_backward``) also computes the gradient with respect to the weights
whenever the incoming second-order gradient is defined, even if the weights do not require grad, and then
drops it. On the cpu profile's ConvNet these unused weight gradients were about an eighth of an attack step.

``FrozenConv2d`` behaves as ``nn.Conv2d``; while its weights do not require grad and its input does, it
routes the computation through two small autograd functions that call the same PyTorch kernels as the
standard path (the forward convolution, ``convolution_backward`` for the input gradient only, and the
forward convolution of the second-order gradient), so values, gradients, double backward and higher
derivatives are bit-identical to ``nn.Conv2d``'s (``tests/test_conv.py``). With trainable weights (training,
SEP's weight gradient) it is ``nn.Conv2d``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class _InputGradient(torch.autograd.Function):
    """The input gradient of a convolution with frozen weights; its own backward is the convolution of the
    second-order gradient (what PyTorch's double backward computes for the input path), nothing more."""

    @staticmethod
    def forward(
        ctx, grad: torch.Tensor, x: torch.Tensor, conv: nn.Conv2d
    ) -> torch.Tensor:
        ctx.conv = conv
        return torch.ops.aten.convolution_backward(
            grad,
            x,
            conv.weight,
            None,
            list(conv.stride),
            list(conv.padding),
            list(conv.dilation),
            False,
            [0] * len(conv.stride),
            conv.groups,
            [True, False, False],
        )[0]

    @staticmethod
    def backward(ctx, gg: torch.Tensor) -> tuple[torch.Tensor, None, None]:
        conv = ctx.conv
        return (
            F.conv2d(
                gg,
                conv.weight,
                None,
                conv.stride,
                conv.padding,
                conv.dilation,
                conv.groups,
            ),
            None,
            None,
        )


class _FrozenConvolution(torch.autograd.Function):
    """``nn.Conv2d``'s forward; its backward is ``_InputGradient`` (differentiable again)."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, conv: nn.Conv2d) -> torch.Tensor:
        ctx.save_for_backward(x)
        ctx.conv = conv
        return F.conv2d(
            x,
            conv.weight,
            conv.bias,
            conv.stride,
            conv.padding,
            conv.dilation,
            conv.groups,
        )

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor, None]:
        (x,) = ctx.saved_tensors
        return _InputGradient.apply(grad, x.detach(), ctx.conv), None


class FrozenConv2d(nn.Conv2d):
    """``nn.Conv2d`` whose input derivatives of every order skip unused weight gradients while its
    parameters are frozen (see the module docstring)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        trainable = any(p.requires_grad for p in self.parameters())
        if (
            trainable
            or not x.requires_grad
            or not torch.is_grad_enabled()
            or self.padding_mode != "zeros"
            or isinstance(self.padding, str)
        ):
            return super().forward(x)
        return _FrozenConvolution.apply(x, self)


def freeze_convolutions(model: nn.Module) -> nn.Module:
    """Turn, in place, every plain ``nn.Conv2d`` of ``model`` into a ``FrozenConv2d`` (same parameters, same
    results); returns the model."""
    for m in model.modules():
        if type(m) is nn.Conv2d:
            m.__class__ = FrozenConv2d
    return model
