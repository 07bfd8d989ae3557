"""SEP: the explanation's change under random noise, the regulariser of Chen et al.'s causal experiment.

``explanation_change(model, x, sigma)`` is, per example, the explanation loss (the MSE between normalised
maps, as in the attack) between the map at ``x`` and at ``x + zeta``, zeta ~ N(0, sigma^2), averaged over
``samples`` draws, with the same class explained at both points. Training adds ``lam * mean(L_f)`` to the
base method's loss (``lib.pipeline.training``): lam > 0 (SEP_pos) penalises explanation change and flattens the
explanation-loss landscape, lam < 0 (SEP_neg) rewards it and sharpens. L_f is differentiable in the weights
by double backpropagation, for ReLU networks too: a ReLU network's gradient map is piecewise linear in its
weights, so its weight-gradient is not zero (only its input-Hessian is).
"""

from __future__ import annotations

import math
import warnings

import torch
from torch import nn

from lib.core.errors import ConfigError, check
from lib.measure.explain import SecondOrderReLUWarning, explanation_map, preserved
from lib.measure.metrics import mse


def noisy(
    x: torch.Tensor, sigma: float, generator: torch.Generator | None = None
) -> torch.Tensor:
    """``x + zeta``, zeta ~ N(0, sigma^2) drawn on the CPU from ``generator`` (so a seed gives the same noise
    on any device), clamped to the valid pixel range [0, 1]: the map is only ever asked of a valid image."""
    zeta = torch.randn(x.shape, generator=generator, dtype=x.dtype) * sigma
    return (x + zeta.to(x.device)).clamp(0, 1)


def clamp_effect(
    x: torch.Tensor, sigma: float, generator: torch.Generator | None = None
) -> dict[str, float]:
    """What clamping SEP's noisy image to [0, 1] (``noisy``) does to the noise on images ``x``: the share of
    pixels at 0 or 1 (where half the noise is cut) and the share of the noise's energy that survives,
    E||clamp(x + zeta) - x||^2 / E||zeta||^2 (1 = no effect; the paper's noise is unclamped N(0, sigma^2),
    so this is a deviation, stated by the SEP chapter)."""
    check(
        isinstance(sigma, (int, float)) and math.isfinite(sigma) and sigma > 0,
        "sigma",
        sigma,
        "a finite number > 0",
    )
    moved = noisy(x, sigma, generator) - x
    return {
        "boundary_share": float(((x == 0) | (x == 1)).float().mean()),
        "energy_kept": float(moved.pow(2).mean() / sigma**2),
    }


def explanation_change(
    model: nn.Module,
    x: torch.Tensor,
    sigma: float,
    method: str = "gradient",
    target: torch.Tensor | None = None,
    samples: int = 1,
    generator: torch.Generator | None = None,
    create_graph: bool = True,
    **method_kwargs,
) -> torch.Tensor:
    """Per-example L_f, shape (N,), in natural units (multiply by 1e7 for the paper's units).

    ``target``: the class explained at both points (in training the true label); default the class the model
    predicts at ``x``. ``create_graph=True`` keeps the graph so that L_f can be differentiated w.r.t. the
    weights (training); False gives detached values (measurement).
    """
    check(
        isinstance(sigma, (int, float)) and math.isfinite(sigma) and sigma >= 0,
        "sigma",
        sigma,
        "a finite number >= 0",
    )
    check(
        isinstance(samples, int) and not isinstance(samples, bool) and samples >= 1,
        "samples",
        samples,
        "an integer >= 1",
    )
    if target is None:
        with torch.no_grad():
            target = model(x).argmax(1)
    with warnings.catch_warnings():
        # the input-Hessian of a ReLU net is zero, but SEP differentiates w.r.t. the weights: not zero
        warnings.simplefilter("ignore", SecondOrderReLUWarning)
        base = explanation_map(
            model, x, method, target=target, create_graph=create_graph, **method_kwargs
        )
        total = torch.zeros(len(x), device=x.device, dtype=base.dtype)
        for _ in range(samples):
            moved = explanation_map(
                model,
                noisy(x, sigma, generator),
                method,
                target=target,
                create_graph=create_graph,
                **method_kwargs,
            )
            total = total + mse(base, moved)
    return total / samples


def sep_loss(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    lam: float,
    sigma: float,
    method: str,
    samples: int,
    generator: torch.Generator | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The regulariser's term ``lam * mean(L_f)`` for a training batch (true labels explained) and the batch's
    mean L_f (for the history).

    The maps are taken with every module in eval mode (restored after), as the PGD of adversarial training
    and the attack see the model: batch norm then uses its running statistics, so each example's map depends
    on that example alone (L_f stays per-example), and the noisy images do not enter the running statistics.
    The weight gradient still flows through every layer, batch norm's affine parameters included. For models
    without batch norm or dropout (the ConvNet) the mode changes nothing."""
    if not isinstance(lam, (int, float)) or not math.isfinite(lam):
        raise ConfigError(f"lam={lam!r} is not allowed: expected a finite number")
    with preserved(model):
        model.eval()
        lf = explanation_change(
            model, x, sigma, method, target=y, samples=samples, generator=generator
        ).mean()
    return lam * lf, lf
