"""Known answers for lib.measure.curvature.explanation_change_curvature: the target-free curvature
G = (2/P) J^T J of the explanation change MSE(I(x + delta), I(x)) at delta = 0 (J: the input Jacobian of the
map). An exactly affine map with a known matrix, a constant map, batching, tiny networks against the full
Jacobian from torch.autograd.functional.jacobian (float64), the ReLU rule and bad inputs."""

import warnings

import pytest
import torch
from torch import nn

from lib.core.errors import ConfigError
from lib.measure.curvature import (
    explanation_change_curvature,
    explanation_change_operator,
)
from lib.measure.explain import SecondOrderReLUWarning, explanation_map
from lib.measure.sep import explanation_change
from lib.nn.models import build_model, softplus_twin

D64 = torch.float64


class QuadraticLogit(nn.Module):
    """Logit 0 is 0.5 x^T A x + b^T x (x flattened), logit 1 is 0. With A symmetric, A 1 = 0 and b > |A x|,
    the gradient map of class 0 is (A x + b) / (1^T b): affine in x, so J = A / (1^T b) exactly."""

    def __init__(self, a: torch.Tensor, b: torch.Tensor):
        super().__init__()
        self.a, self.b = a, b

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = x.flatten(1)
        f = 0.5 * torch.einsum("ni,ij,nj->n", z, self.a, z) + z @ self.b
        return torch.stack([f, torch.zeros_like(f)], 1)


def affine_map_model(d=16, seed=0):
    g = torch.Generator().manual_seed(seed)
    s = torch.randn(d, d, generator=g, dtype=D64)
    q = torch.eye(d, dtype=D64) - torch.full((d, d), 1 / d, dtype=D64)
    a = q @ (s + s.T) @ q  # symmetric, rows and columns sum to 0
    b = torch.full((d,), 20.0, dtype=D64) + torch.rand(d, generator=g, dtype=D64)
    return QuadraticLogit(a, b), a, b


def tiny_convnet(activation="softplus"):
    torch.manual_seed(1)
    return (
        build_model("convnet", 1, 10, width=2, activation=activation, softplus_beta=3.0)
        .double()
        .eval()
    )


def rademacher(n, shape, seed):
    g = torch.Generator().manual_seed(seed)
    return (torch.randint(0, 2, (n, *shape), generator=g) * 2 - 1).to(D64)


def exact_g(model, x, method="gradient", target=None, **kwargs):
    """(N, D, D): (2/P) J^T J per example, J from torch.autograd.functional.jacobian, one example at a time."""
    out = []
    for i in range(len(x)):
        t = None if target is None else target[i : i + 1]

        def one_map(z):
            return explanation_map(
                model, z[None], method, target=t, create_graph=True, **kwargs
            )[0].flatten()

        with warnings.catch_warnings():  # explanation_map's own ReLU warning
            warnings.simplefilter("ignore", SecondOrderReLUWarning)
            j = torch.autograd.functional.jacobian(one_map, x[i])
        j = j.reshape(-1, x[i].numel())
        out.append(2 / j.shape[0] * j.T @ j)
    return torch.stack(out)


def hutchinson_of(g, probes):
    """The trace and ||G||_F^2 estimates that the given probes must give: means of z^T G z and ||G z||^2."""
    z = probes.flatten(2)
    gz = torch.einsum("nij,pnj->pni", g, z)
    return (z * gz).sum(2).mean(0), gz.pow(2).sum(2).mean(0)


# --------------------------------------------------------------------------------------------
# exact answers


def test_affine_map_with_a_known_matrix():
    """Map (A x + b) / c, c = 1^T b: G = (2/P) A^T A / c^2, so the spectral norm is (2/P) lambda_max(A^T A) / c^2
    and the trace (2/P) ||A||_F^2 / c^2."""
    model, a, b = affine_map_model()
    g = torch.Generator().manual_seed(1)
    x = torch.rand(3, 1, 4, 4, generator=g, dtype=D64)
    target = torch.zeros(3, dtype=torch.long)
    c, p = float(b.sum()), 16
    maps = explanation_map(model, x, target=target)
    affine = (x.flatten(1) @ a + b) / c
    assert (affine > 0).all() and torch.allclose(maps.flatten(1), affine)

    gmat = 2 / p * a.T @ a / c**2
    probes = rademacher(512, x.shape, seed=2)
    res = explanation_change_curvature(
        model, x, target=target, tol=1e-10, max_iter=16, probes=probes
    )
    spectral = 2 / p * torch.linalg.eigvalsh(a.T @ a)[-1] / c**2
    trace = 2 / p * a.pow(2).sum() / c**2
    assert torch.allclose(res["spectral"], spectral.expand(3), rtol=1e-8)
    assert res["converged"].all() and (res["spectral_error"] <= 1e-9 * spectral).all()
    # Hutchinson: exactly the mean of z^T G z = (2/P) ||J z||^2 over these probes, and within 4 standard errors
    # of the true trace; ||G||_F^2 likewise
    tr_probes, fro_probes = hutchinson_of(gmat.expand(3, p, p), probes)
    assert torch.allclose(res["trace"], tr_probes, rtol=1e-10)
    assert torch.allclose(res["frobenius_sq"], fro_probes, rtol=1e-10)
    assert ((res["trace"] - trace).abs() <= 4 * res["trace_stderr"]).all()
    fro_sq = gmat.pow(2).sum()
    assert (
        (res["frobenius_sq"] - fro_sq).abs() <= 4 * res["frobenius_sq_stderr"]
    ).all()
    assert (res["spectral"] <= res["frobenius_sq"].sqrt()).all()


def test_a_constant_map_has_zero_curvature():
    """A linear model: its gradient map does not depend on x, so J = 0 and every value is 0 (converged)."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(16, 3)).double().eval()
    x = torch.rand(2, 1, 4, 4, dtype=D64)
    res = explanation_change_curvature(model, x, n_probes=4)
    for key in ("spectral", "trace", "frobenius_sq", "trace_stderr"):
        assert torch.equal(res[key], torch.zeros(2, dtype=D64)), key
    assert res["converged"].all()
    assert all(p.requires_grad for p in model.parameters())  # flags restored


def test_operator_is_two_over_p_jt_j():
    model = tiny_convnet()
    g = torch.Generator().manual_seed(3)
    x = torch.rand(2, 1, 8, 8, generator=g, dtype=D64)
    target = torch.tensor([1, 3])
    op = explanation_change_operator(model, x, target=target)
    gmat = exact_g(model, x, target=target)
    for _ in range(2):  # the graph is kept between calls
        v = torch.randn(x.shape, generator=g, dtype=D64)
        expected = torch.einsum("nij,nj->ni", gmat, v.flatten(1)).view_as(x)
        assert torch.allclose(op(v), expected, rtol=1e-8, atol=1e-12)
    with pytest.raises(ConfigError, match=r"^v\.shape=\(2, 64\) is not allowed"):
        op(torch.ones(2, 64, dtype=D64))


# --------------------------------------------------------------------------------------------
# tiny networks against the full Jacobian


@pytest.mark.parametrize(
    "method, kwargs",
    [("gradient", {}), ("grad_x_input", {}), ("integrated_gradients", {"steps": 4})],
)
def test_against_the_full_jacobian(method, kwargs):
    model = tiny_convnet()
    g = torch.Generator().manual_seed(4)
    x = torch.rand(2, 1, 8, 8, generator=g, dtype=D64)
    target = torch.tensor([2, 7])
    gmat = exact_g(model, x, method, target, **kwargs)
    ev = torch.linalg.eigvalsh(gmat)
    probes = rademacher(16, x.shape, seed=5)
    res = explanation_change_curvature(
        model,
        x,
        method,
        target,
        tol=1e-9,
        max_iter=64,
        probes=probes,
        map_kwargs=kwargs,
    )
    assert res["converged"].all() and (ev[:, -1] > 0).all()
    assert torch.allclose(res["spectral"], ev[:, -1], rtol=1e-7)
    tr_probes, fro_probes = hutchinson_of(gmat, probes)
    assert torch.allclose(res["trace"], tr_probes, rtol=1e-8)
    assert torch.allclose(res["frobenius_sq"], fro_probes, rtol=1e-8)


def test_the_trace_is_the_small_noise_explanation_change_of_sep():
    """E MSE(I(x + zeta), I(x)) = (sigma^2 / 2) tr G + O(sigma^3) for zeta ~ N(0, sigma^2 I): SEP's L_f.

    On a smooth MLP: a max-pool makes the gradient map jump where a window's argmax switches, and SEP's L_f
    at any finite sigma then sees jumps that the local curvature G does not."""
    torch.manual_seed(0)
    model = (
        nn.Sequential(
            nn.Flatten(), nn.Linear(16, 12), nn.Softplus(beta=2.0), nn.Linear(12, 5)
        )
        .double()
        .eval()
    )
    g = torch.Generator().manual_seed(6)
    x = 0.25 + 0.5 * torch.rand(2, 1, 4, 4, generator=g, dtype=D64)  # no clamping
    target = torch.tensor([0, 3])
    exact_trace = torch.diagonal(exact_g(model, x, target=target), dim1=1, dim2=2).sum(
        1
    )
    res = explanation_change_curvature(model, x, target=target, n_probes=256)
    assert ((res["trace"] - exact_trace).abs() <= 4 * res["trace_stderr"]).all()
    sigma = 1e-4
    lf = explanation_change(
        model,
        x,
        sigma,
        target=target,
        samples=400,
        generator=torch.Generator().manual_seed(7),
        create_graph=False,
    )
    assert torch.allclose(lf, sigma**2 / 2 * exact_trace, rtol=0.25)


def test_batched_results_equal_one_input_at_a_time():
    model = tiny_convnet()
    g = torch.Generator().manual_seed(8)
    x = torch.rand(3, 1, 8, 8, generator=g, dtype=D64)
    v0 = torch.randn(x.shape, generator=g, dtype=D64)
    probes = rademacher(6, x.shape, seed=9)
    kw = dict(tol=1e-8, max_iter=64)
    batched = explanation_change_curvature(model, x, v0=v0, probes=probes, **kw)
    default = explanation_change_curvature(model, x, n_probes=4, **kw)
    for i in range(3):
        sl = slice(i, i + 1)
        one = explanation_change_curvature(
            model, x[sl], v0=v0[sl], probes=probes[:, sl], **kw
        )
        for key in ("spectral", "trace", "frobenius_sq", "trace_stderr"):
            assert torch.allclose(batched[key][sl], one[key], rtol=1e-9), key
        assert batched["iterations"][i] == one["iterations"][0]
        # with the default draws (which depend on the batch) the converged values still agree
        alone = explanation_change_curvature(model, x[sl], n_probes=4, **kw)
        assert torch.allclose(default["spectral"][sl], alone["spectral"], rtol=1e-6)


# --------------------------------------------------------------------------------------------
# ReLU networks and bad inputs


def test_relu_model_is_measured_as_given_with_a_warning():
    """The gradient map of a ReLU net is piecewise constant: J = 0, all values 0. Grad x input is not: its J
    is that of the linear piece, as autograd gives it. The softplus twin is the caller's choice."""
    relu = tiny_convnet("relu")
    g = torch.Generator().manual_seed(10)
    x = torch.rand(2, 1, 8, 8, generator=g, dtype=D64)
    target = torch.tensor([1, 4])
    with pytest.warns(SecondOrderReLUWarning, match="softplus_twin"):
        res = explanation_change_curvature(relu, x, target=target, n_probes=4)
    assert torch.equal(res["spectral"], torch.zeros(2, dtype=D64))
    assert torch.equal(res["trace"], torch.zeros(2, dtype=D64))
    with pytest.warns(SecondOrderReLUWarning):
        gxi = explanation_change_curvature(
            relu, x, "grad_x_input", target, tol=1e-9, max_iter=64, n_probes=4
        )
    ev = torch.linalg.eigvalsh(exact_g(relu, x, "grad_x_input", target))
    assert (ev[:, -1] > 0).all()
    assert torch.allclose(gxi["spectral"], ev[:, -1], rtol=1e-7)
    twin = explanation_change_curvature(
        softplus_twin(relu, 3.0), x, target=target, n_probes=4
    )
    assert (twin["spectral"] > 0).all()
    assert any(isinstance(m, nn.ReLU) for m in relu.modules())  # untouched


@pytest.mark.parametrize(
    "kwargs, fragment",
    [
        ({"method": "saliency"}, r"method='saliency' is not allowed: expected one of"),
        ({"map_kwargs": "steps=4"}, r"map_kwargs='steps=4' is not allowed"),
        (
            {"map_kwargs": {"steps": 4}},
            r"steps=4 is not allowed for method='gradient'",
        ),
        ({"tol": -1.0}, r"tol=-1.0 is not allowed: expected a finite number >= 0"),
        ({"max_iter": 0}, r"max_iter=0 is not allowed: expected an integer >= 1"),
        ({"n_probes": 1}, r"n_probes=1 is not allowed: expected an integer >= 2"),
        ({"seed": 1.5}, r"seed=1.5 is not allowed: expected an integer"),
        ({"probes": torch.ones(4, 3, 7, dtype=D64)}, r"probes\.shape=\(4, 3, 7\)"),
        ({"v0": torch.zeros(2, 1, 8, 8, dtype=D64)}, r"v0 with 2 all-zero rows"),
        ({"target": torch.tensor([1, 2, 3])}, r"target\.shape=\(3,\) is not allowed"),
        ({"x": torch.rand(2, 8, 8, dtype=D64)}, r"x\.shape=\(2, 8, 8\) is not allowed"),
        ({"x": torch.ones(2, 1, 8, 8, dtype=torch.long)}, r"x=Tensor of torch\.int64"),
        (
            {"x": torch.full((2, 1, 8, 8), float("nan"), dtype=D64)},
            r"x with 128 non-finite values",
        ),
    ],
)
def test_bad_inputs_name_the_parameter(kwargs, fragment):
    model = tiny_convnet()
    args = {"x": torch.rand(2, 1, 8, 8, dtype=D64), **kwargs}
    x = args.pop("x")
    with pytest.raises(ConfigError, match=fragment) as err:
        explanation_change_curvature(model, x, **args)
    assert "\n" not in str(err.value)
