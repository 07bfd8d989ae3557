"""Explanation maps (gradient, gradient x input, guided backprop, integrated gradients, SmoothGrad) and the
explanation loss, batched and optionally differentiable (for attacks and SEP training).

A map is the attribution of one class's logit (the predicted class unless ``target`` is given), in absolute
value, summed over colour channels and normalised to sum 1 over the pixels of each image (the paper's
definition). Each method agrees with its Captum counterpart (see ``tests/test_explain.py``).

The model is used as it is: its current train/eval mode and its parameters' ``requires_grad``. In train mode
batch norm uses, and updates, batch statistics as any forward pass does (for IG and SmoothGrad the batch is
the N images times the steps or samples of one pass), and dropout draws fresh masks: call ``model.eval()``
first for deterministic maps. Nothing is changed permanently: guided backprop swaps activation modules for
the duration of the call only, and every module's mode and every parameter's flag are set back to what they
were on exit, also when the call raises.

Second order: with ``create_graph=True`` a later backward pass differentiates the map itself. For guided
backprop only the first-order backward pass is modified (see ``GuideSwitch``); ReLU networks have a zero
input Hessian almost everywhere, hence ``warn_if_relu_second_order``.
"""

from __future__ import annotations

import contextlib
import math
import warnings
from collections.abc import Callable, Iterator

import numpy as np
import torch
from torch import nn

from lib.core.errors import ConfigError
from lib.core.settings import EXPLANATION_METHODS
from lib.measure.metrics import mse

IG_RULES = (
    "gausslegendre",
    "riemann_trapezoid",
    "riemann_left",
    "riemann_middle",
    "riemann_right",
)


# Settings each method accepts through ``**method_kwargs`` (anything else is refused).
METHOD_SETTINGS = {
    "gradient": (),
    "grad_x_input": (),
    "guided_backprop": (),
    "integrated_gradients": ("steps", "rule", "baseline", "internal_batch_size"),
    "smoothgrad": (
        "stdevs",
        "n_samples",
        "noise",
        "generator",
        "seed",
        "internal_batch_size",
    ),
}


IG_DEFAULT_STEPS = 50  # Captum's default n_steps


IG_DEFAULT_RULE = "gausslegendre"  # Captum's default method


SMOOTHGRAD_DEFAULT_STDEVS = (
    0.15  # 15 % of the [0, 1] pixel range (Smilkov et al. recommend 10-20 %)
)


SMOOTHGRAD_DEFAULT_SAMPLES = 16


RELU_SECOND_ORDER_MESSAGE = "the input Hessian of a ReLU network is zero almost everywhere; use lib.models.softplus_twin(model, beta)"


class SecondOrderReLUWarning(UserWarning):
    """A second-order quantity was requested from a model with ReLUs (filter this category to silence it)."""


def explanation_map(
    model: nn.Module,
    x: torch.Tensor,
    method: str = "gradient",
    target: torch.Tensor | None = None,
    create_graph: bool = False,
    **method_kwargs,
) -> torch.Tensor:
    """Explanation maps of shape (N, H, W) for a batch ``x`` of shape (N, C, H, W); each map sums to 1.

    ``target`` (int tensor of shape (N,)) picks the class to explain; default: the model's prediction at ``x``.
    With ``create_graph=True`` the maps are differentiable w.r.t. ``x`` (when ``x.requires_grad``) and the
    model's parameters (those with ``requires_grad``); otherwise they are detached.

    Settings (``method_kwargs``):
      * integrated_gradients: ``steps`` (default 50), ``rule`` (one of ``IG_RULES``, default "gausslegendre",
        both Captum's defaults), ``baseline`` (default zeros; a tensor broadcastable to ``x``),
        ``internal_batch_size`` (images per forward pass, default all steps at once).
      * smoothgrad: the mean gradient over ``x + noise[s]``; ``noise`` (the additive perturbation itself, shape
        (n_samples, N, C, H, W)), or ``stdevs`` (default 0.15) and ``n_samples`` (default 16) with the noise
        drawn as ``stdevs * randn`` from ``generator`` or ``seed`` (default: torch's global generator);
        ``internal_batch_size`` as above. Noisy inputs are not clipped to [0, 1] (as in Captum).
    Works inside ``torch.no_grad()`` too (gradients are enabled for the attribution itself).
    A map that is zero everywhere stays zero: the normaliser is clamped below at the dtype's smallest normal
    number, which leaves every other map exactly normalised.
    """
    return _explain(
        model, x, method, target, create_graph, method_kwargs, want_logits=False
    )[0]


def map_and_logits(
    model: nn.Module,
    x: torch.Tensor,
    method: str = "gradient",
    target: torch.Tensor | None = None,
    create_graph: bool = False,
    **method_kwargs,
) -> tuple[torch.Tensor, torch.Tensor]:
    """``explanation_map`` and the logits at ``x`` (N, num_classes), differentiable like the maps.

    For gradient, grad_x_input and guided_backprop the logits come from the map's own forward pass (no extra
    cost); IG and SmoothGrad run one more forward pass at ``x``. For attacks that also constrain the output.
    """
    maps, logits = _explain(
        model, x, method, target, create_graph, method_kwargs, want_logits=True
    )
    assert logits is not None
    return maps, logits


def _explain(
    model: nn.Module,
    x: torch.Tensor,
    method: str,
    target: torch.Tensor | None,
    create_graph: bool,
    method_kwargs: dict,
    want_logits: bool,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Check the arguments, compute raw attributions (and logits) with the model left as found, and make maps."""
    _check_method(method, method_kwargs)
    _check_input(x)
    if not isinstance(create_graph, bool):
        raise ConfigError(
            f"create_graph={create_graph!r} is not allowed: expected True or False"
        )
    if target is not None:
        _check_target_shape(target, x)
    if create_graph:
        warn_if_relu_second_order(model, stacklevel=4)
    with (
        preserved(model),
        torch.enable_grad(),
    ):  # gradients are the method, also inside torch.no_grad()
        attributions, logits = _ATTRIBUTIONS[method](
            model, x, target, create_graph, want_logits, **method_kwargs
        )
    maps = normalise_maps(attributions.abs().sum(1))
    if not create_graph:
        maps, logits = maps.detach(), (None if logits is None else logits.detach())
    return maps, logits


def explanation_loss(maps_a: torch.Tensor, maps_b: torch.Tensor) -> torch.Tensor:
    """Per-example mean squared error over pixels, shape (N,): the paper's explanation loss.

    The paper reports it in units of 1e-7 (maps sum to 1, so per-pixel values are ~1/(H*W)). Differentiable.
    """
    return mse(maps_a, maps_b, ("maps_a", "maps_b"))


def warn_if_relu_second_order(model: nn.Module, stacklevel: int = 2) -> bool:
    """Warn (``SecondOrderReLUWarning``) when ``model`` has an ``nn.ReLU``; called when second-order
    quantities are requested. Returns whether it warned. (Mixed derivatives w.r.t. parameters, as in SEP
    training, are not zero for ReLU networks: filter the category there if the warning is unwanted.)"""
    if any(isinstance(m, nn.ReLU) for m in model.modules()):
        warnings.warn(
            f"model has nn.ReLU and a second-order quantity was requested (create_graph=True): "
            f"{RELU_SECOND_ORDER_MESSAGE}",
            SecondOrderReLUWarning,
            stacklevel=stacklevel,
        )
        return True
    return False


def normalise_maps(maps: torch.Tensor) -> torch.Tensor:
    """Divide each (H, W) map by its sum; the sum is clamped at the dtype's tiny so an all-zero map stays 0."""
    total = maps.sum(dim=(1, 2), keepdim=True)
    return maps / total.clamp_min(torch.finfo(maps.dtype).tiny)


def ig_rule(rule: str, steps: int) -> tuple[list[float], list[float]]:
    """(alphas, weights) of the quadrature of the IG path integral over [0, 1]: Captum's nodes for each rule,
    and weights that sum to 1 (so IG is complete: attributions sum to f(x) - f(baseline) as steps grow)."""
    if rule not in IG_RULES:
        raise ConfigError(f"rule={rule!r} is not allowed: expected one of {IG_RULES}")
    min_steps = (
        1 if rule == "gausslegendre" else 2
    )  # Captum refuses Riemann rules with one step
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < min_steps:
        raise ConfigError(
            f"steps={steps!r} is not allowed: expected an integer >= {min_steps} for rule={rule!r}"
        )
    if rule == "gausslegendre":
        nodes, weights = np.polynomial.legendre.leggauss(steps)
        return (0.5 * (1 + nodes)).tolist(), (0.5 * weights).tolist()
    kind = rule.split("_")[1]
    if kind == "trapezoid":
        # The composite trapezoid rule on the nodes 0, 1/(steps-1), ..., 1. (Captum uses 1/steps instead of
        # 1/(steps-1), so its weights sum to (steps-1)/steps: a uniform scale that normalised maps do not see.)
        weights = [1 / (steps - 1)] * steps
        weights[0] /= 2
        weights[-1] /= 2
        return torch.linspace(0, 1, steps).tolist(), weights
    weights = [1 / steps] * steps
    start, end = {
        "left": (0, 1 - 1 / steps),
        "middle": (1 / (2 * steps), 1 - 1 / (2 * steps)),
        "right": (1 / steps, 1),
    }[kind]
    return torch.linspace(start, end, steps).tolist(), weights


def _check_method(method: str, method_kwargs: dict) -> None:
    if method not in EXPLANATION_METHODS:
        raise ConfigError(
            f"method={method!r} is not allowed: expected one of {EXPLANATION_METHODS}"
        )
    allowed = METHOD_SETTINGS[method]
    for key in method_kwargs:
        if key not in allowed:
            raise ConfigError(
                f"{key}={method_kwargs[key]!r} is not allowed for method={method!r}: "
                f"expected settings among {allowed}"
            )


def _check_input(x: torch.Tensor) -> None:
    if not isinstance(x, torch.Tensor) or not x.is_floating_point():
        raise ConfigError(
            f"x={type(x).__name__}{'' if not isinstance(x, torch.Tensor) else ' of ' + str(x.dtype)}"
            f" is not allowed: expected a floating-point tensor"
        )
    if x.dim() != 4 or x.shape[0] == 0:
        raise ConfigError(
            f"x.shape={tuple(x.shape)} is not allowed: expected a non-empty 4-D batch (N, C, H, W)"
        )
    bad = int((~torch.isfinite(x.detach())).sum())
    if bad:
        raise ConfigError(
            f"x with {bad} non-finite values (NaN or inf) is not allowed: expected finite values"
        )


def _check_target_shape(target: torch.Tensor, x: torch.Tensor) -> None:
    if (
        not isinstance(target, torch.Tensor)
        or target.is_floating_point()
        or target.is_complex()
        or target.dtype == torch.bool
    ):
        raise ConfigError(
            f"target={target!r} is not allowed: expected an integer tensor of shape ({x.shape[0]},)"
        )
    if tuple(target.shape) != (x.shape[0],):
        raise ConfigError(
            f"target.shape={tuple(target.shape)} is not allowed: expected ({x.shape[0]},), "
            f"one class per input"
        )


def _check_logits(logits: torch.Tensor, n: int) -> None:
    if logits.dim() != 2 or logits.shape[0] != n:
        raise ConfigError(
            f"model output shape={tuple(logits.shape)} is not allowed: expected ({n}, num_classes) logits"
        )


def _resolve_target(logits: torch.Tensor, target: torch.Tensor | None) -> torch.Tensor:
    """The predicted class per input, or ``target`` checked against the number of classes."""
    if target is None:
        return logits.detach().argmax(1)
    k = logits.shape[1]
    if target.numel() and (int(target.min()) < 0 or int(target.max()) >= k):
        bad = sorted(set(target[(target < 0) | (target >= k)].tolist()))
        raise ConfigError(
            f"target={bad} is not allowed: expected class indices in [0, {k - 1}]"
        )
    return target.to(device=logits.device, dtype=torch.long)


def _positive_int(name: str, value, allow_none: bool = False) -> None:
    if allow_none and value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(
            f"{name}={value!r} is not allowed: expected a positive integer{' or None' if allow_none else ''}"
        )


@contextlib.contextmanager
def preserved(model: nn.Module) -> Iterator[nn.Module]:
    """Restore every module's train/eval flag and every parameter's ``requires_grad`` on exit (also on error).

    Per module, not ``model.train(was)``: a model may mix modes (e.g. frozen batch norm in a training net).
    """
    modes = [(m, m.training) for m in model.modules()]
    flags = [(p, p.requires_grad) for p in model.parameters()]
    try:
        yield model
    finally:
        for m, mode in modes:
            m.training = mode
        for p, flag in flags:
            p.requires_grad_(flag)


def _as_input(t: torch.Tensor, create_graph: bool) -> torch.Tensor:
    """The tensor to differentiate w.r.t.: ``t`` itself inside a graph, else a detached leaf copy."""
    if create_graph and t.requires_grad:
        return t
    return t.detach().requires_grad_(True)


def _target_gradient(
    model: nn.Module,
    inputs: torch.Tensor,
    target: torch.Tensor | None,
    create_graph: bool,
) -> tuple[torch.Tensor, torch.Tensor]:
    """d(logit of target)/d(inputs) for a batch, and the logits (the target is the predicted class when None)."""
    logits = model(inputs)
    _check_logits(logits, inputs.shape[0])
    target = _resolve_target(logits, target)
    selected = logits.gather(1, target.view(-1, 1)).sum()
    (grad,) = torch.autograd.grad(selected, inputs, create_graph=create_graph)
    return grad, logits


def _target_and_logits(
    model: nn.Module,
    x: torch.Tensor,
    target: torch.Tensor | None,
    create_graph: bool,
    want_logits: bool,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """For methods that probe points other than ``x``: the class to explain (``target`` as given, checked on
    the first pass, else the prediction at ``x``) and, when wanted, the logits at ``x``. The forward pass at
    ``x`` runs only when needed, with a graph only when ``create_graph``."""
    if target is not None and not want_logits:
        return target.to(device=x.device, dtype=torch.long), None
    with torch.set_grad_enabled(create_graph):
        logits = model(x if create_graph else x.detach())
    _check_logits(logits, x.shape[0])
    return _resolve_target(logits, target), logits


Attribution = tuple[torch.Tensor, torch.Tensor | None]


def _gradient(
    model: nn.Module,
    x: torch.Tensor,
    target: torch.Tensor | None,
    create_graph: bool,
    want_logits: bool,
) -> Attribution:
    return _target_gradient(model, _as_input(x, create_graph), target, create_graph)


def _grad_x_input(
    model: nn.Module,
    x: torch.Tensor,
    target: torch.Tensor | None,
    create_graph: bool,
    want_logits: bool,
) -> Attribution:
    inputs = _as_input(x, create_graph)
    grad, logits = _target_gradient(model, inputs, target, create_graph)
    return grad * inputs, logits


def _guided_backprop(
    model: nn.Module,
    x: torch.Tensor,
    target: torch.Tensor | None,
    create_graph: bool,
    want_logits: bool,
) -> Attribution:
    """The logits' values are the model's; the switch is off once this returns, so they differentiate normally."""
    with guided_activations(model):
        return _target_gradient(model, _as_input(x, create_graph), target, create_graph)


def _chunks(
    n_points: int, n_images: int, internal_batch_size: int | None
) -> list[range]:
    """Split ``n_points`` (IG steps or noise samples) so that each forward pass sees at most
    ``internal_batch_size`` images (at least one point per pass)."""
    per_pass = (
        n_points
        if internal_batch_size is None
        else max(1, internal_batch_size // n_images)
    )
    return [range(i, min(i + per_pass, n_points)) for i in range(0, n_points, per_pass)]


def _integrated_gradients(
    model: nn.Module,
    x: torch.Tensor,
    target: torch.Tensor | None,
    create_graph: bool,
    want_logits: bool,
    steps: int = IG_DEFAULT_STEPS,
    rule: str = IG_DEFAULT_RULE,
    baseline: torch.Tensor | None = None,
    internal_batch_size: int | None = None,
) -> Attribution:
    """(x - baseline) * sum_i w_i grad f(baseline + alpha_i (x - baseline)), Captum's formula and step order."""
    alphas, weights = ig_rule(rule, steps)
    _positive_int("internal_batch_size", internal_batch_size, allow_none=True)
    x_in = x if create_graph else x.detach()
    base = _baseline(baseline, x_in)
    target, logits = _target_and_logits(model, x, target, create_graph, want_logits)
    diff = x_in - base
    n = x.shape[0]
    total = torch.zeros_like(x_in)
    for chunk in _chunks(steps, n, internal_batch_size):
        a = torch.tensor(
            [alphas[i] for i in chunk], dtype=x.dtype, device=x.device
        ).view(-1, 1, 1, 1, 1)
        w = torch.tensor(
            [weights[i] for i in chunk], dtype=x.dtype, device=x.device
        ).view(-1, 1, 1, 1, 1)
        path = _as_input((base + a * diff).reshape(-1, *x.shape[1:]), create_graph)
        grad, _ = _target_gradient(model, path, target.repeat(len(chunk)), create_graph)
        total = total + (grad.view(len(chunk), *x.shape) * w).sum(0)
    return total * diff, logits


def _baseline(baseline: torch.Tensor | None, x: torch.Tensor) -> torch.Tensor:
    if baseline is None:
        return torch.zeros_like(x)
    if not isinstance(baseline, torch.Tensor) or not torch.isfinite(baseline).all():
        raise ConfigError(
            f"baseline={baseline!r} is not allowed: expected a finite tensor broadcastable to "
            f"x.shape={tuple(x.shape)}"
        )
    try:
        return torch.broadcast_to(baseline.to(device=x.device, dtype=x.dtype), x.shape)
    except RuntimeError:
        raise ConfigError(
            f"baseline.shape={tuple(baseline.shape)} is not allowed: expected a shape "
            f"broadcastable to x.shape={tuple(x.shape)}"
        ) from None


def _smoothgrad(
    model: nn.Module,
    x: torch.Tensor,
    target: torch.Tensor | None,
    create_graph: bool,
    want_logits: bool,
    stdevs: float | None = None,
    n_samples: int | None = None,
    noise: torch.Tensor | None = None,
    generator: torch.Generator | None = None,
    seed: int | None = None,
    internal_batch_size: int | None = None,
) -> Attribution:
    """Mean over s of grad f(x + noise[s]) (SmoothGrad of the raw gradient; the abs comes after the mean)."""
    noise = _smoothgrad_noise(x, stdevs, n_samples, noise, generator, seed)
    _positive_int("internal_batch_size", internal_batch_size, allow_none=True)
    target, logits = _target_and_logits(model, x, target, create_graph, want_logits)
    x_in = x if create_graph else x.detach()
    samples = noise.shape[0]
    total = torch.zeros_like(x_in)
    for chunk in _chunks(samples, x.shape[0], internal_batch_size):
        noisy = _as_input(
            (x_in.unsqueeze(0) + noise[chunk.start : chunk.stop]).reshape(
                -1, *x.shape[1:]
            ),
            create_graph,
        )
        grad, _ = _target_gradient(
            model, noisy, target.repeat(len(chunk)), create_graph
        )
        total = total + grad.view(len(chunk), *x.shape).sum(0)
    return total / samples, logits


def _smoothgrad_noise(
    x: torch.Tensor,
    stdevs: float | None,
    n_samples: int | None,
    noise: torch.Tensor | None,
    generator: torch.Generator | None,
    seed: int | None,
) -> torch.Tensor:
    """The additive noise, shape (n_samples, N, C, H, W): given, or ``stdevs * randn`` from one source."""
    sources = [
        name
        for name, v in (("noise", noise), ("generator", generator), ("seed", seed))
        if v is not None
    ]
    if len(sources) > 1:
        raise ConfigError(
            f"noise/generator/seed={sources} is not allowed: expected at most one source of noise"
        )
    _positive_int("n_samples", n_samples, allow_none=True)
    if noise is not None:
        if stdevs is not None:
            raise ConfigError(
                f"stdevs={stdevs!r} is not allowed together with noise: the noise is used as given"
            )
        if (
            not isinstance(noise, torch.Tensor)
            or noise.dim() != 5
            or tuple(noise.shape[1:]) != tuple(x.shape)
            or (n_samples is not None and noise.shape[0] != n_samples)
            or noise.shape[0] == 0
        ):
            shape = (
                tuple(noise.shape)
                if isinstance(noise, torch.Tensor)
                else type(noise).__name__
            )
            raise ConfigError(
                f"noise.shape={shape} is not allowed: expected ({n_samples or 'n_samples'}, "
                f"{', '.join(map(str, x.shape))})"
            )
        if not torch.isfinite(noise).all():
            raise ConfigError(
                "noise with non-finite values is not allowed: expected finite values"
            )
        return noise.to(device=x.device, dtype=x.dtype)
    stdevs = SMOOTHGRAD_DEFAULT_STDEVS if stdevs is None else stdevs
    if (
        isinstance(stdevs, bool)
        or not isinstance(stdevs, (int, float))
        or not math.isfinite(stdevs)
        or stdevs < 0
    ):
        raise ConfigError(
            f"stdevs={stdevs!r} is not allowed: expected a finite number >= 0"
        )
    if seed is not None:
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise ConfigError(f"seed={seed!r} is not allowed: expected an integer")
        generator = torch.Generator(device=x.device).manual_seed(seed)
    n_samples = SMOOTHGRAD_DEFAULT_SAMPLES if n_samples is None else n_samples
    draw = torch.randn(
        (n_samples, *x.shape), generator=generator, device=x.device, dtype=x.dtype
    )
    return stdevs * draw


_ATTRIBUTIONS: dict[str, Callable[..., Attribution]] = {
    "gradient": _gradient,
    "grad_x_input": _grad_x_input,
    "guided_backprop": _guided_backprop,
    "integrated_gradients": _integrated_gradients,
    "smoothgrad": _smoothgrad,
}


class GuideSwitch:
    """Whether the guided rule is on. It is on only during the first-order backward pass of one call.

    Why: with ``create_graph=True`` a later backward pass (the input Hessian, or SEP's gradient w.r.t. the
    weights) runs again through the forward graph, which holds the same nodes. There the derivative of the
    activation must be the ordinary one: the guided map is a function of x computed by an ordinary forward
    pass and a modified backward pass, and only that backward pass is modified. Clamping there too would give
    wrong second derivatives (the finite-difference test catches it).
    """

    def __init__(self) -> None:
        self.on = False


class _PositiveGradient(torch.autograd.Function):
    """Identity forward; backward keeps only the positive part of the incoming gradient while the switch is on
    (identity otherwise).

    The backward is a plain differentiable torch op, so with ``create_graph=True`` it is itself recorded
    and the guided map can be differentiated again (double backprop).
    """

    @staticmethod
    def forward(ctx, t: torch.Tensor, switch: GuideSwitch) -> torch.Tensor:
        ctx.switch = switch
        return (
            t.clone()
        )  # a fresh tensor: callers may modify the activation's output in place

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor, None]:
        return (grad.clamp(min=0) if ctx.switch.on else grad), None


class GuidedActivation(nn.Module):
    """Wraps an ``nn.ReLU`` or ``nn.Softplus``: same forward values; backward = relu(incoming gradient) times
    the activation's own derivative while ``switch.on``. That is Springenberg et al.'s guided backprop rule
    (and Captum's: relu of the ReLU's grad_input is the same, as the ReLU's derivative is >= 0), extended to
    softplus."""

    def __init__(self, act: nn.Module, switch: GuideSwitch):
        super().__init__()
        self.act = act
        self.switch = switch

    def forward(self, t: torch.Tensor) -> torch.Tensor:
        if isinstance(self.act, nn.ReLU):
            out = torch.relu(t)  # never in place, whatever the wrapped module says
        else:
            out = self.act(t)
        return _PositiveGradient.apply(out, self.switch)


@contextlib.contextmanager
def guided_activations(model: nn.Module) -> Iterator[GuideSwitch]:
    """Temporarily replace every ``nn.ReLU``/``nn.Softplus`` child, at any depth, by ``GuidedActivation``;
    yields their switch, on inside the block and off after it (so later passes see ordinary derivatives).

    The original modules are put back on exit, also on error. Functional activations (``F.relu``) cannot be
    seen and keep their ordinary gradient (as in Captum). Warns when there is nothing to replace.
    """
    switch = GuideSwitch()
    swapped: list[tuple[nn.Module, str, nn.Module]] = []
    try:
        for parent in list(model.modules()):
            for name, child in list(parent.named_children()):
                if isinstance(child, (nn.ReLU, nn.Softplus)):
                    guided = GuidedActivation(child, switch)
                    guided.train(child.training)
                    setattr(parent, name, guided)
                    swapped.append((parent, name, child))
        if not swapped:
            warnings.warn(
                "guided_backprop found no nn.ReLU or nn.Softplus module: the map is the plain gradient",
                stacklevel=6,
            )
        switch.on = True
        yield switch
    finally:
        switch.on = False
        for parent, name, child in reversed(swapped):
            setattr(parent, name, child)
