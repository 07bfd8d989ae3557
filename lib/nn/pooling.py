"""A max pool that computes exactly what ``nn.MaxPool2d`` computes, faster on the CPU.

PyTorch's CPU max-pool kernel for contiguous (NCHW) tensors is several times slower than its channels-last
kernel: on the cpu profile's ConvNet (100 x 16 x 28 x 28) 5.4 ms against 0.55 ms on one thread, which made
the two pools about a third of a training step. For contiguous (NCHW) input ``MaxPool2d`` runs the
channels-last kernel and returns a contiguous result, the layout ``nn.MaxPool2d`` returns; other input
(channels-last, or a layout that is both, as a one-channel or 1x1 image can be) takes ``nn.MaxPool2d``'s own
path, since the layout of the output decides which kernels the next layers run and so their last bits. The
values are the same maxima and the indices the same positions (both kernels scan each window in the same
order and keep the first maximum), and the backward pass is PyTorch's own
``max_pool2d_with_indices_backward`` with those indices, which autograd differentiates again (a gather), so
gradients, double backward (explanation attacks, SEP) and third derivatives (curvature of the explanation
loss) are bit-identical to ``nn.MaxPool2d``'s. ``tests/test_pooling.py`` checks this, ties included.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def _pair(v: int | tuple[int, ...]) -> list[int]:
    return [v, v] if isinstance(v, int) else list(v)


class _ChannelsLastMaxPool(torch.autograd.Function):
    """Max pool through the channels-last kernel; backward by the indices it found."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, pool: nn.MaxPool2d) -> torch.Tensor:
        values, indices = F.max_pool2d(
            x.contiguous(memory_format=torch.channels_last),
            pool.kernel_size,
            pool.stride,
            pool.padding,
            pool.dilation,
            ceil_mode=pool.ceil_mode,
            return_indices=True,
        )
        indices = indices.contiguous()
        ctx.save_for_backward(x, indices)
        ctx.pool = pool
        return values.contiguous()

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor, None]:
        x, indices = ctx.saved_tensors
        pool = ctx.pool
        stride = pool.stride if pool.stride is not None else pool.kernel_size
        return (
            torch.ops.aten.max_pool2d_with_indices_backward(
                grad,
                x,
                _pair(pool.kernel_size),
                _pair(stride),
                _pair(pool.padding),
                _pair(pool.dilation),
                pool.ceil_mode,
                indices,
            ),
            None,
        )


class MaxPool2d(nn.MaxPool2d):
    """``nn.MaxPool2d`` with the same results, using the faster channels-last kernel for 4-D CPU tensors
    (see the module docstring); other devices and shapes use ``nn.MaxPool2d``'s own path."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        unambiguous_nchw = x.is_contiguous() and not x.is_contiguous(
            memory_format=torch.channels_last
        )
        if (
            x.dim() != 4
            or x.device.type != "cpu"
            or self.return_indices
            or not unambiguous_nchw
        ):
            # channels-last input already takes the fast kernel; its output stays channels-last, as the
            # layers after it expect (their kernels, and so their last bits, depend on the layout)
            return super().forward(x)
        return _ChannelsLastMaxPool.apply(x, self)
