"""Input-space curvature of a per-example loss: Hessian-vector products, extreme eigenvalues (batched Lanczos)
and the trace (Hutchinson), for every example of a batch at once.

A ``loss_fn`` maps a batch of inputs ``x`` of shape (N, ...) to per-example losses of shape (N,), and each
example's loss depends only on its own input (call ``model.eval()`` first: batch norm in train mode couples
the examples). The input Hessian of ``loss_fn(x).sum()`` is then block-diagonal over the batch, so one
Hessian-vector product (HVP) of the sum gives every example's own HVP at once.

How an HVP is computed: double backward (reverse over reverse). The gradient ``g = d loss_fn(x).sum() / dx``
is built once per ``x`` with ``create_graph=True`` (``hvp_operator``) and every later HVP is one backward
pass of ``<g, v>`` through that retained graph, with no new forward pass. On CPU, ConvNet width 16 on 28x28
with one thread, one HVP cost: 6.6 ms (N=8) / 50 ms (N=64) through the retained graph, against 15 / 96 ms
for a fresh double backward, 18 / 89 ms for ``torch.func`` ``jvp(grad)`` (forward over reverse) and 11 / 85
ms for ``torch.func`` ``vjp(grad)``; ``is_grads_batched`` (vmap over 8 vectors) was slower than 8 plain
backward passes. Double backward also composes with losses that call ``torch.autograd.grad`` themselves
(the explanation loss), which ``torch.func`` transforms do not handle cleanly.

Eigenvalues: input Hessians are indefinite, so plain power iteration finds the eigenvalue of largest
magnitude and stalls when the largest and the most negative are close in size. Lanczos with full
reorthogonalisation resolves both ends of the spectrum from the same Krylov space; it runs on all examples
together (one batched HVP per step) and each example's values are fixed at the step where they converge.

Target-free flatness: ``explanation_change_curvature`` runs the same Lanczos and Hutchinson on the operator
(2/P) J^T J (J: the input Jacobian of the explanation map), the Hessian of MSE(I(x + delta), I(x)) at delta = 0;
``target_decomposition`` splits the target-dependent explanation loss's Hessian as H = G + R.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from lib.core.errors import ConfigError
from lib.core.settings import EXPLANATION_METHODS
from lib.measure.explain import (
    SecondOrderReLUWarning,
    explanation_loss,
    explanation_map,
    preserved,
)
from lib.nn.models import softplus_twin

LossFn = Callable[[torch.Tensor], torch.Tensor]


HVP = Callable[[torch.Tensor], torch.Tensor]


ENDS = ("largest", "smallest")


@dataclass(frozen=True)
class EigenEstimate:
    """One end of each example's spectrum. ``error``: the Ritz residual ||H y - theta y|| (there is an exact
    eigenvalue within ``error`` of ``values``; with a gap delta to the next one, within error**2 / delta).
    ``n_hvp``: batched HVP calls (each gives every example's HVP). ``iterations``: Lanczos steps at which each
    example's value was fixed. ``converged``: tolerance met, Krylov space exhausted, or not (stopped at the cap).
    """

    values: torch.Tensor
    error: torch.Tensor
    n_hvp: int
    iterations: torch.Tensor
    converged: torch.Tensor


@dataclass(frozen=True)
class ExtremeEigenvalues:
    """The largest and the smallest (most negative) eigenvalue of each example's input Hessian, shape (N,)
    each, with their residual norms; the other fields as in ``EigenEstimate``."""

    largest: torch.Tensor
    smallest: torch.Tensor
    error_largest: torch.Tensor
    error_smallest: torch.Tensor
    n_hvp: int
    iterations: torch.Tensor
    converged: torch.Tensor

    @property
    def values(self) -> torch.Tensor:
        """(N, 2): columns largest, smallest."""
        return torch.stack([self.largest, self.smallest], dim=1)


@dataclass(frozen=True)
class TraceEstimate:
    """Hutchinson's estimate of each example's Hessian trace, shape (N,), and its standard error (sample std
    of the per-probe values / sqrt(n_probes)); ``samples`` (n_probes, N) are the per-probe values z^T H z."""

    trace: torch.Tensor
    stderr: torch.Tensor
    n_hvp: int
    samples: torch.Tensor


def hvp_operator(loss_fn: LossFn, x: torch.Tensor) -> HVP:
    """A function ``v -> H v`` (shape of ``x``) for the per-example input Hessians at ``x``.

    Runs ``loss_fn`` once and keeps the gradient's graph, so each call is one backward pass (the fast path
    for iterative methods). Inputs are checked here; each ``v`` when the operator is called.
    """
    _check_input(x, "x")
    xg = x.detach().clone().requires_grad_(True)
    with torch.enable_grad():
        loss = loss_fn(xg)
        _check_loss(loss, x)
        (grad,) = torch.autograd.grad(loss.sum(), xg, create_graph=True)

    def apply(v: torch.Tensor) -> torch.Tensor:
        _check_vector(v, x, "v")
        v = v.to(device=x.device, dtype=x.dtype)
        if (
            not grad.requires_grad
        ):  # the gradient does not depend on x: the Hessian is zero
            return torch.zeros_like(x)
        with torch.enable_grad():
            (out,) = torch.autograd.grad(
                grad, xg, v, retain_graph=True, allow_unused=True
            )
        return torch.zeros_like(x) if out is None else out.detach()

    return apply


def hvp(loss_fn: LossFn, x: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """Per-example input Hessian-vector products H_i v_i, shape (N, ...), for all N examples in one pass.

    ``v`` has the shape of ``x`` (one vector per example). Double backward; for many products at the same
    ``x`` use ``hvp_operator`` (one forward pass, then one backward pass per product).
    """
    _check_input(x, "x")
    _check_vector(v, x, "v")
    return hvp_operator(loss_fn, x)(v)


def top_eigenvalue(
    loss_fn: LossFn,
    x: torch.Tensor,
    tol: float = 1e-4,
    max_iter: int = 50,
    seed: int = 0,
    v0: torch.Tensor | None = None,
) -> EigenEstimate:
    """The largest (algebraic, not largest-magnitude) eigenvalue of each example's input Hessian, shape (N,).

    An example is done when the residual of its largest Ritz pair is <= ``tol`` times its largest Ritz value
    in magnitude (an estimate of ||H_i||), or when its Krylov space is exhausted; all stop at ``max_iter``
    batched HVPs (at most the input dimension). ``v0`` (shape of ``x``) is the start vector, else Gaussian
    from ``seed``.
    """
    res = _lanczos(hvp_operator(loss_fn, x), x, ("largest",), tol, max_iter, seed, v0)
    return EigenEstimate(
        res["values"][:, 0],
        res["errors"][:, 0],
        res["n_hvp"],
        res["iterations"],
        res["converged"],
    )


def extreme_eigenvalues(
    loss_fn: LossFn,
    x: torch.Tensor,
    tol: float = 1e-4,
    max_iter: int = 50,
    seed: int = 0,
    v0: torch.Tensor | None = None,
) -> ExtremeEigenvalues:
    """The largest and the smallest (most negative) eigenvalue of each example's input Hessian.

    As ``top_eigenvalue``, with both ends required to meet ``tol``. Both come from one Krylov space, so the
    cost is that of one Lanczos run; close magnitudes of opposite sign (1.0 and -0.99) are no difficulty.
    """
    res = _lanczos(hvp_operator(loss_fn, x), x, ENDS, tol, max_iter, seed, v0)
    return ExtremeEigenvalues(
        res["values"][:, 0],
        res["values"][:, 1],
        res["errors"][:, 0],
        res["errors"][:, 1],
        res["n_hvp"],
        res["iterations"],
        res["converged"],
    )


def lanczos(
    op: HVP,
    x: torch.Tensor,
    ends: Sequence[str] = ENDS,
    tol: float = 1e-4,
    max_iter: int = 50,
    seed: int = 0,
    v0: torch.Tensor | None = None,
) -> dict:
    """Batched Lanczos on any per-example symmetric operator ``op`` (e.g. from ``hvp_operator``).

    Returns a dict: ``values`` and ``errors`` (N, len(ends)), ``n_hvp``, ``iterations`` (N,), ``converged`` (N,).
    """
    for e in ends:
        if e not in ENDS:
            raise ConfigError(
                f"ends={tuple(ends)!r} is not allowed: expected a subset of {ENDS}"
            )
    if not ends:
        raise ConfigError(
            f"ends={tuple(ends)!r} is not allowed: expected a non-empty subset of {ENDS}"
        )
    _check_input(x, "x")
    return _lanczos(op, x, tuple(ends), tol, max_iter, seed, v0)


def _lanczos(
    op: HVP,
    x: torch.Tensor,
    ends: tuple[str, ...],
    tol: float,
    max_iter: int,
    seed: int,
    v0: torch.Tensor | None,
) -> dict:
    """Lanczos steps on all N examples at once; the tridiagonal T_j of each example is diagonalised after every
    step (batched ``torch.linalg.eigh`` in float64, cheap beside an HVP), and an example's Ritz values are
    frozen at the first step where they meet the tolerance, so its result does not depend on the batch."""
    _check_tol(tol)
    _positive_int("max_iter", max_iter)
    n, shape, dt, dev = x.shape[0], x.shape, x.dtype, x.device
    d = math.prod(shape[1:])
    steps = min(max_iter, d)
    q = _start_vectors(x, seed, v0).flatten(1)
    basis = torch.zeros(n, steps, d, dtype=dt, device=dev)
    alphas = torch.zeros(n, steps, dtype=torch.float64, device=dev)
    betas = torch.zeros(n, steps, dtype=torch.float64, device=dev)
    values = torch.full((n, len(ends)), float("nan"), dtype=torch.float64, device=dev)
    errors = torch.full_like(values, float("nan"))
    iterations = torch.zeros(n, dtype=torch.long, device=dev)
    converged = torch.zeros(n, dtype=torch.bool, device=dev)
    done = torch.zeros(n, dtype=torch.bool, device=dev)
    q_prev = torch.zeros_like(q)
    beta_prev = torch.zeros(n, dtype=dt, device=dev)
    eps = torch.finfo(dt).eps
    n_hvp = 0
    for j in range(steps):
        basis[:, j] = q
        w = op(q.view(shape)).flatten(1).to(dt)
        n_hvp += 1
        alpha = (w * q).sum(1)
        w = w - alpha[:, None] * q - beta_prev[:, None] * q_prev
        qs = basis[:, : j + 1]
        for _ in range(
            2
        ):  # full reorthogonalisation, twice (classical Gram-Schmidt is then stable)
            w = w - torch.einsum("nk,nkd->nd", torch.einsum("nkd,nd->nk", qs, w), qs)
        beta = w.norm(dim=1)
        alphas[:, j], betas[:, j] = alpha.double(), beta.double()
        off = betas[:, :j]
        t = (
            torch.diag_embed(alphas[:, : j + 1])
            + torch.diag_embed(off, 1)
            + torch.diag_embed(off, -1)
        )
        theta, s = torch.linalg.eigh(t)  # ascending Ritz values per example
        resid = (
            betas[:, j : j + 1].abs() * s[:, -1, :].abs()
        )  # ||H y - theta y|| of each Ritz pair
        idx = [-1 if e == "largest" else 0 for e in ends]
        scale = theta.abs().amax(1)
        ok = torch.stack([resid[:, i] <= tol * scale for i in idx], 1).all(1)
        exhausted = (beta.double() <= 100 * eps * scale) | (
            j + 1 == d
        )  # invariant subspace: values are exact
        finished = (ok | exhausted | (j + 1 == steps)) & ~done
        if finished.any():
            values[finished] = theta[finished][:, idx]
            errors[finished] = resid[finished][:, idx]
            iterations[finished] = j + 1
            converged[finished] = (ok | exhausted)[finished]
            done |= finished
        if done.all():
            break
        q_prev, beta_prev = q, torch.where(exhausted, torch.zeros_like(beta), beta)
        q = torch.where(
            exhausted[:, None],
            torch.zeros_like(w),
            w / beta.clamp_min(torch.finfo(dt).tiny)[:, None],
        )
    return {
        "values": values.to(dt),
        "errors": errors.to(dt),
        "n_hvp": n_hvp,
        "iterations": iterations,
        "converged": converged,
    }


def _start_vectors(x: torch.Tensor, seed: int, v0: torch.Tensor | None) -> torch.Tensor:
    """Unit start vectors per example: ``v0`` as given (checked), else Gaussian from ``seed`` (drawn on the CPU,
    so the same on every device)."""
    if v0 is None:
        _check_seed(seed)
        v0 = torch.randn(
            x.shape, generator=torch.Generator().manual_seed(seed), dtype=x.dtype
        ).to(x.device)
    else:
        _check_vector(v0, x, "v0")
        v0 = v0.to(device=x.device, dtype=x.dtype)
    norms = v0.flatten(1).norm(dim=1)
    if (norms == 0).any():
        raise ConfigError(
            f"v0 with {int((norms == 0).sum())} all-zero rows is not allowed: expected a non-zero "
            f"start vector per example"
        )
    return v0 / norms.view(-1, *[1] * (x.dim() - 1))


def hessian_trace(
    loss_fn: LossFn,
    x: torch.Tensor,
    n_probes: int = 32,
    seed: int = 0,
    probes: torch.Tensor | None = None,
) -> TraceEstimate:
    """Hutchinson's estimate of each example's input-Hessian trace: the mean over Rademacher probes z of
    z^T H_i z, with its standard error.

    The probes, shape (n_probes, *x.shape), are drawn from ``seed`` on the CPU (or passed as ``probes``).
    The gradient graph is built once and each probe is one backward pass through it (``hvp_operator``):
    faster on CPU than vmapping the backward over probes, and ``loss_fn`` only ever sees batches of x's size
    (so it may close over per-example labels or target maps). Unbiased; for a diagonal Hessian it is exact.
    """
    return hutchinson(loss_fn, x, n_probes, seed, probes)[0]


def hutchinson(
    loss_fn: LossFn,
    x: torch.Tensor,
    n_probes: int = 32,
    seed: int = 0,
    probes: torch.Tensor | None = None,
) -> tuple[TraceEstimate, TraceEstimate]:
    """From the same Rademacher probes: the trace (mean of z^T H z) and the squared Frobenius norm (mean of
    ||H z||^2, unbiased since E[z z^T] = I) of each example's input Hessian, with standard errors.

    The trace sums eigenvalues of both signs, which cancel for an indefinite Hessian; the Frobenius norm
    (the root of the sum of squared eigenvalues) does not, so it is the size of the curvature.
    """
    _check_input(x, "x")
    probes = _draw_probes(x, n_probes, seed, probes)
    return _hutchinson_estimates(hvp_operator(loss_fn, x), probes)


def _draw_probes(
    x: torch.Tensor, n_probes: int, seed: int, probes: torch.Tensor | None
) -> torch.Tensor:
    """Rademacher probes (n_probes, *x.shape) drawn from ``seed`` on the CPU, or ``probes`` as given (checked)."""
    if probes is None:
        _positive_int("n_probes", n_probes, minimum=2)
        _check_seed(seed)
        g = torch.Generator().manual_seed(seed)
        return (torch.randint(0, 2, (n_probes, *x.shape), generator=g) * 2 - 1).to(
            device=x.device, dtype=x.dtype
        )
    if (
        not isinstance(probes, torch.Tensor)
        or tuple(probes.shape[1:]) != tuple(x.shape)
        or len(probes) < 2
    ):
        shape = (
            tuple(probes.shape)
            if isinstance(probes, torch.Tensor)
            else type(probes).__name__
        )
        raise ConfigError(
            f"probes.shape={shape} is not allowed: expected (n_probes >= 2, "
            f"{', '.join(map(str, x.shape))})"
        )
    _check_vector(probes[0], x, "probes[0]")
    return probes.to(device=x.device, dtype=x.dtype)


def _hutchinson_estimates(
    op: HVP, probes: torch.Tensor
) -> tuple[TraceEstimate, TraceEstimate]:
    """The trace (mean of z^T H z) and the squared Frobenius norm (mean of ||H z||^2) of each example's
    symmetric operator ``op``, from the given probes; one call of ``op`` per probe."""
    products = [op(z) for z in probes]
    quad = torch.stack([(z * hz).flatten(1).sum(1) for z, hz in zip(probes, products)])
    square = torch.stack([hz.flatten(1).pow(2).sum(1) for hz in products])
    p = quad.shape[0]

    def estimate(samples: torch.Tensor) -> TraceEstimate:
        return TraceEstimate(
            samples.mean(0), samples.std(0, correction=1) / math.sqrt(p), p, samples
        )

    return estimate(quad), estimate(square)


def ce_loss_fn(model: nn.Module, y: torch.Tensor) -> LossFn:
    """``z -> cross_entropy(model(z), y)`` per example, shape (N,): the classification loss of the true labels.

    With ``nn.ReLU`` in the model a ``SecondOrderReLUWarning`` is given: the network is then piecewise linear
    and the input Hessian is only the softmax's positive semi-definite Gauss-Newton term J^T (diag p - p p^T) J
    (its smallest eigenvalue is ~0); pass ``lib.models.softplus_twin(model, beta)`` for the smooth network.
    """
    if (
        not isinstance(y, torch.Tensor)
        or y.dim() != 1
        or y.is_floating_point()
        or y.is_complex()
        or y.dtype == torch.bool
    ):
        raise ConfigError(
            f"y={y!r} is not allowed: expected an integer tensor of shape (N,)"
        )
    if any(isinstance(m, nn.ReLU) for m in model.modules()):
        warnings.warn(
            "model has nn.ReLU: the input Hessian of its cross-entropy is only the softmax's Gauss-Newton "
            "term; use lib.models.softplus_twin(model, beta) for the smooth network",
            SecondOrderReLUWarning,
            stacklevel=2,
        )

    def loss_fn(z: torch.Tensor) -> torch.Tensor:
        if z.shape[0] != y.shape[0]:
            raise ConfigError(
                f"x.shape={tuple(z.shape)} is not allowed: expected {y.shape[0]} inputs, one per label in y"
            )
        return F.cross_entropy(model(z), y.to(z.device), reduction="none")

    return loss_fn


def explanation_loss_fn(
    model: nn.Module,
    x_target_maps: torch.Tensor,
    method: str = "gradient",
    labels: torch.Tensor | None = None,
    softplus_beta: float | None = None,
    **method_kwargs,
) -> LossFn:
    """``z -> explanation_loss(explanation_map(model, z, method, labels), x_target_maps)`` per example, (N,).

    The map is built with ``create_graph=True`` (``lib.explain``), so its HVP takes third derivatives of the
    network; ``labels`` (N,) is the class explained (default: the prediction at each z). A ReLU network has
    zero second and third derivatives almost everywhere, so:
      * ``softplus_beta=None`` (default): the model is used as given and must have no ``nn.ReLU``, else
        ConfigError (pass ``lib.models.softplus_twin(model, beta)``);
      * ``softplus_beta=b``: a softplus twin is built here, ``softplus_twin(model, b)`` (a copy: the model is
        untouched; its ReLUs become Softplus(b), existing Softplus modules keep their beta).
    ``method_kwargs`` go to ``explanation_map`` (e.g. IG ``steps``; give SmoothGrad a ``seed`` or ``noise`` so
    the loss is one deterministic function of z).
    """
    if method not in EXPLANATION_METHODS:
        raise ConfigError(
            f"method={method!r} is not allowed: expected one of {EXPLANATION_METHODS}"
        )
    if softplus_beta is None:
        if any(isinstance(m, nn.ReLU) for m in model.modules()):
            raise ConfigError(
                f"model={type(model).__name__} with nn.ReLU is not allowed for the explanation loss's "
                f"curvature (its HVP needs third derivatives, zero almost everywhere for ReLU): "
                f"expected lib.models.softplus_twin(model, beta) or softplus_beta=beta"
            )
        net = model
    else:
        net = softplus_twin(model, softplus_beta)  # checks softplus_beta > 0
    if (
        not isinstance(x_target_maps, torch.Tensor)
        or not x_target_maps.is_floating_point()
        or x_target_maps.dim() != 3
    ):
        shape = (
            tuple(x_target_maps.shape)
            if isinstance(x_target_maps, torch.Tensor)
            else type(x_target_maps).__name__
        )
        raise ConfigError(
            f"x_target_maps.shape={shape} is not allowed: expected floating-point maps (N, H, W)"
        )
    if not torch.isfinite(x_target_maps).all():
        raise ConfigError(
            "x_target_maps with non-finite values is not allowed: expected finite values"
        )
    target_maps = x_target_maps.detach()

    def loss_fn(z: torch.Tensor) -> torch.Tensor:
        maps = explanation_map(
            net, z, method, target=labels, create_graph=True, **method_kwargs
        )
        return explanation_loss(
            maps, target_maps.to(device=maps.device, dtype=maps.dtype)
        )

    return loss_fn


def explanation_change_operator(
    model: nn.Module,
    x: torch.Tensor,
    method: str = "gradient",
    target: torch.Tensor | None = None,
    map_kwargs: Mapping[str, object] | None = None,
) -> HVP:
    """A function ``v -> (2/P) J_i^T (J_i v_i)`` (shape of ``x``), where J_i is the input Jacobian of example
    i's explanation map x -> I(x) (P = H*W entries) at ``x``: the input Hessian of the explanation change
    MSE(I(x + delta), I(x)) at delta = 0 (its other term, (2/P) sum_k (I_k(x + delta) - I_k(x)) d^2 I_k, is
    zero there). It involves no target map, and only first derivatives of the map.

    The map is built once, with its graph, and u -> J^T u (one backward pass of the map, with
    ``create_graph=True``) once, at u = 0; then each call is J v by the double-vjp trick (the backward pass
    of the linear J^T u w.r.t. u, with cotangent v) and J^T (J v) (a backward pass of the map): two backward
    passes through retained graphs, no forward pass. (``torch.func.jvp`` does not compose with the
    ``torch.autograd.grad`` inside ``explanation_map``.) The weights' ``requires_grad`` is off while the
    graph is built (derivatives w.r.t. the input only) and restored after. ``target`` is the class explained
    (default: the prediction at ``x``), ``map_kwargs`` the settings of ``explanation_map``; SmoothGrad's noise
    is drawn once, when the map is built, so the operator is one fixed linear map. The model is used as
    given (no softplus twin is made here; see ``explanation_change_curvature`` on ReLU networks).
    """
    _check_input(x, "x")
    kwargs = _check_map_kwargs(method, map_kwargs)
    xg = x.detach().clone().requires_grad_(True)
    with preserved(model), torch.enable_grad(), warnings.catch_warnings():
        # the ReLU warning of explanation_map is replaced by explanation_change_curvature's own
        warnings.simplefilter("ignore", SecondOrderReLUWarning)
        for p in model.parameters():
            p.requires_grad_(False)
        maps = explanation_map(
            model, xg, method, target=target, create_graph=True, **kwargs
        )
        scale = 2.0 / maps[0].numel()
        u = jt_u = None
        if maps.requires_grad:
            u = torch.zeros_like(maps, requires_grad=True)
            (jt_u,) = torch.autograd.grad(
                maps, xg, u, create_graph=True, allow_unused=True
            )

    def apply(v: torch.Tensor) -> torch.Tensor:
        _check_vector(v, x, "v")
        v = v.to(device=x.device, dtype=x.dtype)
        if jt_u is None or not jt_u.requires_grad:  # the map does not depend on x
            return torch.zeros_like(x)
        with torch.enable_grad():
            (jv,) = torch.autograd.grad(
                jt_u, u, v, retain_graph=True, allow_unused=True
            )
            # jv is None when J^T u does not depend on u: J = 0 (a ReLU net's gradient map)
            if jv is None:
                return torch.zeros_like(x)
            (out,) = torch.autograd.grad(
                maps, xg, jv, retain_graph=True, allow_unused=True
            )
        return torch.zeros_like(x) if out is None else scale * out.detach()

    return apply


def explanation_change_curvature(
    model: nn.Module,
    x: torch.Tensor,
    method: str = "gradient",
    target: torch.Tensor | None = None,
    tol: float = 1e-4,
    max_iter: int = 50,
    n_probes: int = 32,
    seed: int = 0,
    v0: torch.Tensor | None = None,
    probes: torch.Tensor | None = None,
    map_kwargs: Mapping[str, object] | None = None,
) -> dict[str, torch.Tensor]:
    """The target-free flatness of each example's explanation: the curvature at delta = 0 of the explanation
    change MSE(I(x + delta), I(x)), whose input Hessian there is G = (2/P) J^T J (J: the (P, D) input
    Jacobian of the map, P = H*W, D = C*H*W; ``explanation_change_operator``). SEP (``lib.measure.sep``)
    penalises the same change under noise. G is positive semi-definite. Returns a dict of tensors of shape (N,):

      * ``spectral``: the largest eigenvalue of G = its spectral norm = (2/P) sigma_max(J)^2, the change's
        curvature in the worst direction. Batched Lanczos (``lanczos``, largest end) on the operator;
        ``spectral_error`` its Ritz residual, ``converged`` and ``iterations`` as in ``EigenEstimate``
        (tolerance ``tol`` relative, cap ``max_iter``, start vector ``v0`` or Gaussian from ``seed``).
      * ``trace``: Hutchinson's estimate of tr G = (2/P) ||J||_F^2 = the sum of G's eigenvalues (for a
        positive semi-definite G also its nuclear norm), the mean over Rademacher probes z of
        z^T G z = (2/P) ||J z||^2 (unbiased: E[z z^T] = I); ``trace_stderr`` its standard error. This is
        the average curvature, the one noise sees: for zeta ~ N(0, sigma^2 I),
        E MSE(I(x + zeta), I(x)) = (sigma^2 / 2) tr G + O(sigma^3), SEP's L_f at small sigma (no clamping).
      * ``frobenius_sq``: Hutchinson's estimate of ||G||_F^2 = (4/P^2) ||J^T J||_F^2 = the sum of G's squared
        eigenvalues, the mean of ||G z||^2 over the same probes (also unbiased; its square root, the
        Frobenius norm, would be biased low, so the square is returned); ``frobenius_sq_stderr``.
    As G >= 0: spectral <= sqrt(frobenius_sq) <= trace (exactly; the estimates up to their errors). Costs: (Lanczos iterations + ``n_probes``) operator calls of two backward passes each,
    after one map with its graph. The probes (n_probes, *x.shape) are drawn from ``seed`` on the CPU or
    passed as ``probes``; as in ``hessian_trace``, pass ``v0`` and ``probes`` (sliced per example) to get
    results for a batch equal to those input by input (the default draws depend on the batch's shape).

    ``target``: the class explained (default: the prediction at ``x``), the only label involved; no target
    map. ``map_kwargs``: ``explanation_map``'s settings (e.g. IG ``steps``; SmoothGrad ``noise``, ``seed``;
    a dict, so that SmoothGrad's ``seed`` and this ``seed`` stay apart). Call ``model.eval()`` first (batch
    norm in train mode couples the examples).

    ReLU networks: measured on the model as given, with a ``SecondOrderReLUWarning``. G needs only the map's
    first derivative, but for the gradient map that is the logit's input Hessian: the gradient, guided
    backprop and SmoothGrad maps of a ReLU network are piecewise constant in x, so J = 0 and every value is
    0 (almost everywhere); grad x input and IG give J of the linear piece x lies in (not 0, not smooth).
    For the curvature of the smooth network pass ``lib.nn.models.softplus_twin(model, beta)``.
    """
    _check_input(x, "x")
    _check_map_kwargs(method, map_kwargs)
    _check_tol(tol)
    _positive_int("max_iter", max_iter)
    start = _start_vectors(x, seed, v0)
    probes = _draw_probes(x, n_probes, seed, probes)
    if any(isinstance(m, nn.ReLU) for m in model.modules()):
        warnings.warn(
            f"model has nn.ReLU: the explanation-change curvature is measured on it as given; its "
            f"{method} map's input Jacobian is that of a piecewise-linear network (zero almost everywhere "
            f"for gradient, guided_backprop and smoothgrad); use lib.nn.models.softplus_twin(model, beta) "
            f"for the smooth network",
            SecondOrderReLUWarning,
            stacklevel=2,
        )
    op = explanation_change_operator(model, x, method, target, map_kwargs)
    res = lanczos(op, x, ("largest",), tol, max_iter, seed, start)
    trace, frobenius_sq = _hutchinson_estimates(op, probes)
    return {
        "spectral": res["values"][:, 0],
        "spectral_error": res["errors"][:, 0],
        "converged": res["converged"],
        "iterations": res["iterations"],
        "trace": trace.trace,
        "trace_stderr": trace.stderr,
        "frobenius_sq": frobenius_sq.trace,
        "frobenius_sq_stderr": frobenius_sq.stderr,
    }


def target_decomposition(
    model: nn.Module,
    x: torch.Tensor,
    target_maps: torch.Tensor,
    method: str = "gradient",
    target: torch.Tensor | None = None,
    tol: float = 1e-4,
    max_iter: int = 50,
    n_probes: int = 32,
    seed: int = 0,
    v0: torch.Tensor | None = None,
    probes: torch.Tensor | None = None,
    map_kwargs: Mapping[str, object] | None = None,
) -> dict[str, torch.Tensor]:
    """The input Hessian H of the target-dependent explanation loss MSE(I(x), T) (T: ``target_maps``, (N, H,
    W); the loss of ``explanation_loss_fn``) split as H = G + R, G = (2/P) J^T J the target-free part
    (``explanation_change_operator``) and R = (2/P) sum_k (I_k(x) - T_k) d^2 I_k the part that grows with
    the distance to the target. Per example, shape (N,):

      * ``r_largest``, ``r_smallest``: R's extreme eigenvalues, by batched Lanczos (``lanczos``, both ends)
        on the operator v -> H v - G v (one HVP of the loss and one call of G's operator per step), with
        ``r_error_largest``, ``r_error_smallest`` (Ritz residuals), ``r_converged``, ``r_iterations``;
      * ``h_trace``, ``g_trace``, ``r_trace``: Hutchinson's traces from the SAME Rademacher probes (means of
        z^T H z, z^T G z and their difference), so tr R = tr H - tr G exactly; ``r_trace_stderr``: the
        standard error of the per-probe differences. With ``seed`` and ``n_probes`` as ``hutchinson`` and
        ``explanation_change_curvature``, the probes are theirs (same shape of ``x``), so ``h_trace`` is
        ``hutchinson``'s trace and ``g_trace`` ``explanation_change_curvature``'s.
    ``target`` is the class explained (default: the prediction), ``map_kwargs`` the map's settings. The model
    must be smooth (no ``nn.ReLU``; pass a softplus twin): ConfigError otherwise, as in
    ``explanation_loss_fn``. Call ``model.eval()`` first.
    """
    _check_input(x, "x")
    kwargs = _check_map_kwargs(method, map_kwargs)
    _check_tol(tol)
    _positive_int("max_iter", max_iter)
    start = _start_vectors(x, seed, v0)
    probes = _draw_probes(x, n_probes, seed, probes)
    loss_fn = explanation_loss_fn(model, target_maps, method, labels=target, **kwargs)
    h_op = hvp_operator(loss_fn, x)
    g_op = explanation_change_operator(model, x, method, target, map_kwargs)

    def r_op(v: torch.Tensor) -> torch.Tensor:
        return h_op(v) - g_op(v)

    res = lanczos(r_op, x, ENDS, tol, max_iter, seed, start)
    zh = torch.stack([(z * h_op(z)).flatten(1).sum(1) for z in probes])
    zg = torch.stack([(z * g_op(z)).flatten(1).sum(1) for z in probes])
    zr = zh - zg
    return {
        "r_largest": res["values"][:, 0],
        "r_smallest": res["values"][:, 1],
        "r_error_largest": res["errors"][:, 0],
        "r_error_smallest": res["errors"][:, 1],
        "r_converged": res["converged"],
        "r_iterations": res["iterations"],
        "h_trace": zh.mean(0),
        "g_trace": zg.mean(0),
        "r_trace": zr.mean(0),
        "r_trace_stderr": zr.std(0, correction=1) / math.sqrt(len(probes)),
    }


def _check_map_kwargs(
    method: object, map_kwargs: Mapping[str, object] | None
) -> dict[str, object]:
    if method not in EXPLANATION_METHODS:
        raise ConfigError(
            f"method={method!r} is not allowed: expected one of {EXPLANATION_METHODS}"
        )
    if map_kwargs is None:
        return {}
    if not isinstance(map_kwargs, Mapping):
        raise ConfigError(
            f"map_kwargs={map_kwargs!r} is not allowed: expected None or a dict of "
            f"explanation_map settings for method={method!r}"
        )
    return dict(map_kwargs)


def _check_input(x: torch.Tensor, name: str) -> None:
    if not isinstance(x, torch.Tensor) or not x.is_floating_point():
        raise ConfigError(
            f"{name}={type(x).__name__}{' of ' + str(x.dtype) if isinstance(x, torch.Tensor) else ''}"
            f" is not allowed: expected a floating-point tensor"
        )
    if x.dim() < 2 or x.shape[0] == 0 or x[0].numel() == 0:
        raise ConfigError(
            f"{name}.shape={tuple(x.shape)} is not allowed: expected a non-empty batch (N, ...) "
            f"with at least one feature per example"
        )
    bad = int((~torch.isfinite(x.detach())).sum())
    if bad:
        raise ConfigError(
            f"{name} with {bad} non-finite values (NaN or inf) is not allowed: expected finite values"
        )


def _check_vector(v: torch.Tensor, x: torch.Tensor, name: str) -> None:
    if not isinstance(v, torch.Tensor) or not v.is_floating_point():
        raise ConfigError(
            f"{name}={type(v).__name__} is not allowed: expected a floating-point tensor of "
            f"x's shape {tuple(x.shape)}"
        )
    if tuple(v.shape) != tuple(x.shape):
        raise ConfigError(
            f"{name}.shape={tuple(v.shape)} is not allowed: expected x's shape {tuple(x.shape)}, "
            f"one vector per example"
        )
    bad = int((~torch.isfinite(v.detach())).sum())
    if bad:
        raise ConfigError(
            f"{name} with {bad} non-finite values (NaN or inf) is not allowed: expected finite values"
        )


def _check_loss(loss: object, x: torch.Tensor) -> None:
    n = x.shape[0]
    if not isinstance(loss, torch.Tensor) or tuple(loss.shape) != (n,):
        shape = (
            tuple(loss.shape) if isinstance(loss, torch.Tensor) else type(loss).__name__
        )
        raise ConfigError(
            f"loss_fn output shape={shape} is not allowed: expected ({n},), one loss per example "
            f"(per-example losses, not their sum or mean)"
        )
    bad = int((~torch.isfinite(loss.detach())).sum())
    if bad:
        raise ConfigError(
            f"loss_fn output with {bad} non-finite values is not allowed: expected finite losses"
        )


def _check_tol(tol: object) -> None:
    if not (
        isinstance(tol, (int, float))
        and not isinstance(tol, bool)
        and math.isfinite(tol)
        and tol >= 0
    ):
        raise ConfigError(f"tol={tol!r} is not allowed: expected a finite number >= 0")


def _positive_int(name: str, value: object, minimum: int = 1) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ConfigError(
            f"{name}={value!r} is not allowed: expected an integer >= {minimum}"
        )


def _check_seed(seed: object) -> None:
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise ConfigError(f"seed={seed!r} is not allowed: expected an integer")
