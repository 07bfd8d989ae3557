"""Input-space loss landscapes: 1-D and 2-D slices of a per-example loss around each input, and flatness.

A ``loss_fn`` maps a batch of inputs (N, C, H, W) to per-example losses (N,). A 1-D slice evaluates
``loss_fn(x + t * d)`` for every t of a grid and every input at once (the grid points are stacked into
batches), so a slice costs about as much as the model's own batched passes over the same points.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from lib.core.errors import ConfigError

LossFn = Callable[[torch.Tensor], torch.Tensor]


DIRECTIONS = ("gaussian", "sign", "gradient_sign")


def check_direction(x: torch.Tensor, d: torch.Tensor, name: str = "directions") -> None:
    if d.shape != x.shape:
        raise ConfigError(
            f"{name} has shape {tuple(d.shape)}: expected the inputs' shape {tuple(x.shape)}"
        )
    if not torch.isfinite(d).all():
        raise ConfigError(f"{name} has non-finite values: expected finite directions")


def make_grid(radius: float, points: int) -> torch.Tensor:
    """``points`` evenly spaced offsets in [-radius, radius] (an odd count puts 0 on the grid)."""
    if isinstance(points, bool) or not isinstance(points, int) or points < 3:
        raise ConfigError(f"points={points!r} is not allowed: expected an integer >= 3")
    if not (math.isfinite(radius) and radius > 0):
        raise ConfigError(
            f"radius={radius!r} is not allowed: expected a finite number > 0"
        )
    ts = torch.linspace(-radius, radius, points)
    if points % 2:
        ts[points // 2] = 0.0  # exactly, whatever the rounding of linspace
    return ts


def random_directions(
    x: torch.Tensor,
    kind: str = "gaussian",
    norm: float | None = None,
    seed: int = 0,
    loss_fn: LossFn | None = None,
) -> torch.Tensor:
    """A direction per input: ``gaussian`` scaled to L2 norm ``norm`` (default 1), ``sign`` (random +-1 per
    pixel: an L-inf direction of size 1), or ``gradient_sign`` (the sign of the loss's input gradient)."""
    if kind not in DIRECTIONS:
        raise ConfigError(f"kind={kind!r} is not allowed: expected one of {DIRECTIONS}")
    g = torch.Generator().manual_seed(seed)
    if kind == "gaussian":
        d = torch.randn(x.shape, generator=g).to(x.device)
        return (
            d
            / d.flatten(1).norm(dim=1).view(-1, *[1] * (x.dim() - 1))
            * (1.0 if norm is None else norm)
        )
    if kind == "sign":
        return (torch.randint(0, 2, x.shape, generator=g) * 2 - 1).to(x.device, x.dtype)
    if loss_fn is None:
        raise ConfigError(
            "loss_fn=None is not allowed for kind='gradient_sign': expected the loss to differentiate"
        )
    xg = x.detach().clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(loss_fn(xg).sum(), xg)
    return grad.sign()


def _evaluate(
    loss_fn: Callable,
    points: torch.Tensor,
    owner: torch.Tensor,
    batch_size: int,
    with_owner: bool,
) -> torch.Tensor:
    """``loss_fn`` over all points in batches; ``owner[i]`` is the input point i belongs to."""
    if (
        isinstance(batch_size, bool)
        or not isinstance(batch_size, int)
        or batch_size < 1
    ):
        raise ConfigError(
            f"batch_size={batch_size!r} is not allowed: expected an integer >= 1"
        )
    parts = []
    for i in range(0, len(points), batch_size):
        chunk = points[i : i + batch_size]
        parts.append(
            (
                loss_fn(chunk, owner[i : i + batch_size])
                if with_owner
                else loss_fn(chunk)
            ).detach()
        )
    out = torch.cat(parts)
    if out.shape != (len(points),):
        raise ConfigError(
            f"loss_fn returned shape {tuple(out.shape)} for {len(points)} inputs: expected one loss per input"
        )
    return out


def slice_1d(
    loss_fn: Callable,
    x: torch.Tensor,
    directions: torch.Tensor,
    ts: torch.Tensor,
    batch_size: int = 1024,
    with_owner: bool = False,
) -> torch.Tensor:
    """Losses of shape (N, len(ts)): ``loss_fn(x + t * d)`` for each input, its direction and each t.

    Points are not clamped to [0, 1]: the landscape of the function itself, around each input. With
    ``with_owner=True`` the loss is called as ``loss_fn(points, owner)``, ``owner`` holding the index of the
    input each point belongs to (for per-input labels or target maps).
    """
    check_direction(x, directions)
    ts = _check_grid(ts, x)
    n, k = len(x), len(ts)
    points = (
        x.unsqueeze(1) + ts.view(1, k, *[1] * (x.dim() - 1)) * directions.unsqueeze(1)
    ).flatten(0, 1)
    owner = torch.arange(n, device=x.device).repeat_interleave(k)
    return _evaluate(loss_fn, points, owner, batch_size, with_owner).view(n, k)


def _check_grid(ts: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    ts = torch.as_tensor(ts, dtype=x.dtype, device=x.device)
    if ts.dim() != 1 or len(ts) < 1 or not torch.isfinite(ts).all():
        raise ConfigError(
            f"ts of shape {tuple(ts.shape)} is not allowed: expected a non-empty 1-D grid of finite offsets"
        )
    return ts


def slice_2d(
    loss_fn: Callable,
    x: torch.Tensor,
    d1: torch.Tensor,
    d2: torch.Tensor,
    ts: torch.Tensor,
    batch_size: int = 1024,
    with_owner: bool = False,
) -> torch.Tensor:
    """Losses of shape (N, len(ts), len(ts)) on the plane x + a * d1 + b * d2 (a indexes rows); ``with_owner``
    as in ``slice_1d``."""
    check_direction(x, d1, "d1")
    check_direction(x, d2, "d2")
    ts = _check_grid(ts, x)
    k = len(ts)
    a, b = torch.meshgrid(ts, ts, indexing="ij")
    shape = (1, k * k, *[1] * (x.dim() - 1))
    points = (
        x.unsqueeze(1)
        + a.reshape(shape) * d1.unsqueeze(1)
        + b.reshape(shape) * d2.unsqueeze(1)
    ).flatten(0, 1)
    owner = torch.arange(len(x), device=x.device).repeat_interleave(k * k)
    return _evaluate(loss_fn, points, owner, batch_size, with_owner).view(len(x), k, k)


def second_difference(losses: torch.Tensor, ts: torch.Tensor) -> torch.Tensor:
    """(f(h) - 2 f(0) + f(-h)) / h^2 at the grid's centre, per slice: a curvature estimate at the input."""
    ts = torch.as_tensor(ts)
    k = len(ts)
    if k % 2 == 0 or abs(float(ts[k // 2])) > 1e-6 * float(ts.abs().max()):
        raise ConfigError(
            f"ts has {k} points without 0 at its centre: expected an odd, symmetric grid"
        )
    h = float(ts[k // 2 + 1] - ts[k // 2])
    c = k // 2
    return (losses[:, c + 1] - 2 * losses[:, c] + losses[:, c - 1]) / h**2


def quadratic_coefficient(losses: torch.Tensor, ts: torch.Tensor) -> torch.Tensor:
    """The coefficient a of the least-squares fit a t^2 + b t + c over the whole slice, per slice
    (2a is the fitted curvature: a flatter landscape gives a smaller a)."""
    t = torch.as_tensor(ts, dtype=torch.float64, device="cpu")
    design = torch.stack([t**2, t, torch.ones_like(t)], dim=1)
    coef = torch.linalg.lstsq(
        design, losses.detach().to(torch.float64).cpu().T
    ).solution
    return coef[0].to(losses.dtype)
