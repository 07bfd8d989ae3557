"""Known answers for lib.curvature: exact quadratic forms, and tiny softplus networks against the full input
Hessian from torch.autograd.functional.hessian (float64)."""

import pytest
import torch
from torch import nn

from lib.core.errors import ConfigError
from lib.measure.curvature import (
    ce_loss_fn,
    explanation_loss_fn,
    extreme_eigenvalues,
    hessian_trace,
    hvp,
    hvp_operator,
    lanczos,
    top_eigenvalue,
)
from lib.measure.explain import SecondOrderReLUWarning, explanation_map
from lib.nn.models import build_model, softplus_twin

D64 = torch.float64


def sym_with_eigenvalues(eigs, gen):
    """A symmetric matrix with the given eigenvalues and a random orthogonal eigenbasis."""
    d = len(eigs)
    q, _ = torch.linalg.qr(torch.randn(d, d, generator=gen, dtype=D64))
    return q @ torch.diag(torch.as_tensor(eigs, dtype=D64)) @ q.T


def quadratic(a):
    """Per-example 0.5 x_i^T A_i x_i on inputs (N, d): Hessian A_i, HVP A_i v_i."""
    return lambda x: 0.5 * torch.einsum("ni,nij,nj->n", x, a, x)


def indefinite_batch(n=3, d=20, seed=0):
    g = torch.Generator().manual_seed(seed)
    a = torch.stack(
        [
            sym_with_eigenvalues(torch.randn(d, generator=g, dtype=D64) * (i + 1), g)
            for i in range(n)
        ]
    )
    return a, torch.randn(n, d, generator=g, dtype=D64)


def exact_hessians(loss_fn_of_one, x):
    """(N, d, d): the full input Hessian of each example, one example at a time."""
    d = x[0].numel()
    return torch.stack(
        [
            torch.autograd.functional.hessian(
                lambda z: loss_fn_of_one(i, z.unsqueeze(0))[0], x[i]
            ).reshape(d, d)
            for i in range(len(x))
        ]
    )


def tiny_mlp():
    torch.manual_seed(0)
    return (
        nn.Sequential(
            nn.Flatten(), nn.Linear(16, 12), nn.Softplus(beta=2.0), nn.Linear(12, 5)
        )
        .double()
        .eval()
    )


def tiny_convnet(activation="softplus"):
    torch.manual_seed(1)
    return (
        build_model("convnet", 1, 10, width=2, activation=activation, softplus_beta=3.0)
        .double()
        .eval()
    )


# --------------------------------------------------------------------------------------------
# quadratic forms: exact answers


def test_hvp_of_a_quadratic_is_a_times_v():
    a, x = indefinite_batch()
    v = torch.randn_like(x)
    assert torch.allclose(
        hvp(quadratic(a), x, v), torch.einsum("nij,nj->ni", a, v), atol=1e-12
    )


def test_extreme_eigenvalues_of_a_quadratic():
    a, x = indefinite_batch(n=4, d=40)
    ev = torch.linalg.eigvalsh(a)
    res = extreme_eigenvalues(quadratic(a), x, tol=1e-10, max_iter=40)
    assert torch.allclose(res.largest, ev[:, -1], rtol=1e-8) and torch.allclose(
        res.smallest, ev[:, 0], rtol=1e-8
    )
    assert (
        res.converged.all()
        and res.n_hvp <= 40
        and res.n_hvp == int(res.iterations.max())
    )
    assert (res.error_largest >= 0).all() and (
        res.error_largest <= 1e-10 * ev.abs().amax(1)
    ).all()
    top = top_eigenvalue(quadratic(a), x, tol=1e-10, max_iter=40)
    assert torch.allclose(top.values, ev[:, -1], rtol=1e-8)


def test_close_magnitudes_of_opposite_sign_are_resolved():
    """Eigenvalues 1.0 and -0.99 (the rest in [-0.5, 0.5]): power iteration on H would stall between the two
    ends; Lanczos finds both, well before the Krylov space is exhausted (max_iter < d)."""
    g = torch.Generator().manual_seed(3)
    d = 60
    eigs = [1.0, -0.99] + torch.linspace(-0.5, 0.5, d - 2).tolist()
    a = torch.stack([sym_with_eigenvalues(eigs, g) for _ in range(3)])
    x = torch.randn(3, d, generator=g, dtype=D64)
    res = extreme_eigenvalues(quadratic(a), x, tol=1e-9, max_iter=40)
    assert res.converged.all() and res.n_hvp < 40
    assert torch.allclose(res.largest, torch.full((3,), 1.0, dtype=D64), atol=1e-9)
    assert torch.allclose(res.smallest, torch.full((3,), -0.99, dtype=D64), atol=1e-9)


def test_iteration_cap_is_reported_as_not_converged():
    a, x = indefinite_batch(n=2, d=40)
    res = extreme_eigenvalues(quadratic(a), x, tol=1e-12, max_iter=3)
    assert res.n_hvp == 3 and (res.iterations == 3).all() and not res.converged.any()
    assert (res.error_largest > 1e-6).all()


def test_hutchinson_trace_of_a_quadratic():
    a, x = indefinite_batch(n=3, d=20)
    exact = torch.diagonal(a, dim1=1, dim2=2).sum(1)
    few = hessian_trace(quadratic(a), x, n_probes=16, seed=0)
    many = hessian_trace(quadratic(a), x, n_probes=256, seed=0)
    assert many.n_hvp == 256 and many.samples.shape == (256, 3)
    assert ((many.trace - exact).abs() <= 3 * many.stderr).all()
    assert ((few.trace - exact).abs() <= 3 * few.stderr).all()
    assert (
        many.stderr < 0.5 * few.stderr
    ).all()  # ~ 1 / sqrt(n_probes): a factor 4 expected
    diag = torch.diag_embed(
        torch.randn(3, 20, dtype=D64)
    )  # Rademacher probes are exact on a diagonal Hessian
    est = hessian_trace(quadratic(diag), x, n_probes=4, seed=1)
    assert (
        torch.allclose(est.trace, torch.diagonal(diag, dim1=1, dim2=2).sum(1))
        and (est.stderr < 1e-12).all()
    )


def test_hutchinson_frobenius_of_a_quadratic():
    from lib.measure.curvature import hutchinson

    a, x = indefinite_batch(n=3, d=20)
    exact = a.pow(2).sum((1, 2))  # ||A||_F^2 = sum of squared eigenvalues
    tr, fro = hutchinson(quadratic(a), x, n_probes=256, seed=0)
    assert ((fro.trace - exact).abs() <= 3 * fro.stderr).all()
    assert torch.equal(
        tr.trace, hessian_trace(quadratic(a), x, n_probes=256, seed=0).trace
    )
    diag = torch.diag_embed(
        torch.randn(3, 20, dtype=D64)
    )  # exact on a diagonal Hessian: ||D z||^2 = sum d_i^2
    _, fro = hutchinson(quadratic(diag), x, n_probes=3, seed=1)
    assert torch.allclose(fro.trace, diag.pow(2).sum((1, 2)))


# --------------------------------------------------------------------------------------------
# tiny softplus networks against the full Hessian


@pytest.mark.parametrize(
    "make, shape", [(tiny_mlp, (1, 4, 4)), (tiny_convnet, (1, 8, 8))]
)
def test_cross_entropy_curvature_against_the_full_hessian(make, shape):
    model = make()
    for p in model.parameters():
        p.requires_grad_(False)
    g = torch.Generator().manual_seed(4)
    x = torch.rand(3, *shape, generator=g, dtype=D64)
    y = torch.tensor([0, 1, 4])
    loss_fn = ce_loss_fn(model, y)
    h = exact_hessians(lambda i, z: ce_loss_fn(model, y[i : i + 1])(z), x)
    ev = torch.linalg.eigvalsh(h)
    d = h.shape[-1]

    v = torch.randn(x.shape, generator=g, dtype=D64)
    expected = torch.einsum("nij,nj->ni", h, v.flatten(1)).view_as(x)
    assert torch.allclose(
        hvp(loss_fn, x, v), expected, rtol=1e-5, atol=1e-5 * expected.abs().max()
    )

    res = extreme_eigenvalues(loss_fn, x, tol=1e-7, max_iter=d)
    assert res.converged.all()
    assert torch.allclose(res.largest, ev[:, -1], rtol=1e-3)
    assert torch.allclose(res.smallest, ev[:, 0], rtol=1e-3)
    assert (
        ev[:, 0] < 0
    ).all()  # the smooth network's CE Hessian is indefinite here: a real test of the low end

    exact_trace = torch.diagonal(h, dim1=1, dim2=2).sum(1)
    est = hessian_trace(loss_fn, x, n_probes=64, seed=0)
    assert ((est.trace - exact_trace).abs() <= 3 * est.stderr).all()
    assert (est.stderr < hessian_trace(loss_fn, x, n_probes=8, seed=0).stderr).all()


def test_batched_results_equal_one_example_at_a_time():
    model = tiny_convnet()
    g = torch.Generator().manual_seed(5)
    x = torch.rand(3, 1, 8, 8, generator=g, dtype=D64)
    y = torch.tensor([2, 7, 3])
    v = torch.randn(x.shape, generator=g, dtype=D64)
    probes = (torch.randint(0, 2, (6, *x.shape), generator=g) * 2 - 1).to(D64)
    batched_hvp = hvp(ce_loss_fn(model, y), x, v)
    batched_eig = extreme_eigenvalues(
        ce_loss_fn(model, y), x, tol=1e-8, max_iter=64, v0=v
    )
    batched_tr = hessian_trace(ce_loss_fn(model, y), x, probes=probes)
    for i in range(3):
        f = ce_loss_fn(model, y[i : i + 1])
        sl = slice(i, i + 1)
        assert torch.allclose(
            batched_hvp[sl], hvp(f, x[sl], v[sl]), rtol=1e-10, atol=1e-12
        )
        one = extreme_eigenvalues(f, x[sl], tol=1e-8, max_iter=64, v0=v[sl])
        assert torch.allclose(batched_eig.values[sl], one.values, rtol=1e-9)
        assert batched_eig.iterations[i] == one.iterations[0]
        assert torch.allclose(
            batched_tr.samples[:, sl],
            hessian_trace(f, x[sl], probes=probes[:, sl]).samples,
            rtol=1e-10,
            atol=1e-12,
        )


def test_explanation_loss_hvp_against_the_full_hessian():
    """Third derivatives of the network: the HVP of the gradient-map explanation loss against the full Hessian."""
    model = tiny_convnet()
    g = torch.Generator().manual_seed(6)
    x = torch.rand(2, 1, 8, 8, generator=g, dtype=D64)
    labels = torch.tensor([1, 3])
    targets = explanation_map(
        model, torch.rand(2, 1, 8, 8, generator=g, dtype=D64), target=labels
    )
    loss_fn = explanation_loss_fn(model, targets, "gradient", labels)
    h = exact_hessians(
        lambda i, z: explanation_loss_fn(
            model, targets[i : i + 1], "gradient", labels[i : i + 1]
        )(z),
        x,
    )
    v = torch.randn(x.shape, generator=g, dtype=D64)
    expected = torch.einsum("nij,nj->ni", h, v.flatten(1)).view_as(x)
    assert expected.abs().max() > 0
    assert torch.allclose(
        hvp(loss_fn, x, v), expected, rtol=1e-5, atol=1e-5 * expected.abs().max()
    )
    ev = torch.linalg.eigvalsh(h)
    res = extreme_eigenvalues(loss_fn, x, tol=1e-7, max_iter=64)
    assert torch.allclose(res.values, torch.stack([ev[:, -1], ev[:, 0]], 1), rtol=1e-3)


# --------------------------------------------------------------------------------------------
# the ReLU rule and bad inputs


def test_relu_model_needs_a_softplus_twin_for_the_explanation_loss():
    relu = tiny_convnet("relu")
    x = torch.rand(2, 1, 8, 8, dtype=D64)
    labels = torch.tensor([0, 1])
    targets = torch.full((2, 8, 8), 1 / 64, dtype=D64)
    with pytest.raises(
        ConfigError, match=r"model=ConvNet with nn.ReLU .*softplus_twin"
    ):
        explanation_loss_fn(relu, targets, "gradient", labels)
    v = torch.randn_like(x)
    inside = hvp(
        explanation_loss_fn(relu, targets, "gradient", labels, softplus_beta=3.0), x, v
    )
    outside = hvp(
        explanation_loss_fn(softplus_twin(relu, 3.0), targets, "gradient", labels), x, v
    )
    assert torch.allclose(inside, outside) and inside.abs().max() > 0
    assert any(
        isinstance(m, nn.ReLU) for m in relu.modules()
    )  # the caller's model is untouched


@pytest.mark.parametrize(
    "call, fragment",
    [
        (lambda f, x: hvp(f, x, torch.zeros(3, 5, dtype=D64)), r"v\.shape=\(3, 5\)"),
        (
            lambda f, x: hvp(lambda z: f(z).sum(), x, torch.ones_like(x)),
            r"loss_fn output shape=\(\)",
        ),
        (
            lambda f, x: hvp(lambda z: f(z)[:2], x, torch.ones_like(x)),
            r"loss_fn output shape=\(2,\)",
        ),
        (
            lambda f, x: hvp(f, x, torch.full_like(x, float("nan"))),
            r"v with 60 non-finite",
        ),
        (
            lambda f, x: hvp(f, x.masked_fill(x > 0, float("inf")), torch.ones_like(x)),
            r"^x with \d+ non-finite",
        ),
        (
            lambda f, x: hvp(lambda z: f(z) / 0.0, x, torch.ones_like(x)),
            r"loss_fn output with 3 non-finite",
        ),
        (lambda f, x: extreme_eigenvalues(f, x, max_iter=0), r"max_iter=0"),
        (lambda f, x: extreme_eigenvalues(f, x, tol=-1.0), r"tol=-1.0"),
        (
            lambda f, x: extreme_eigenvalues(f, x, v0=torch.zeros_like(x)),
            r"v0 with 3 all-zero rows",
        ),
        (lambda f, x: hessian_trace(f, x, n_probes=1), r"n_probes=1"),
        (
            lambda f, x: hessian_trace(f, x, probes=torch.ones(4, 3, 7, dtype=D64)),
            r"probes\.shape=\(4, 3, 7\)",
        ),
    ],
)
def test_bad_inputs_name_the_parameter(call, fragment):
    a, x = indefinite_batch(n=3, d=20)
    with pytest.raises(ConfigError, match=fragment):
        call(quadratic(a), x)


def test_operator_reuses_one_graph_and_checks_each_vector():
    a, x = indefinite_batch(n=2, d=10)
    calls = []

    def loss_fn(z):
        calls.append(1)
        return quadratic(a)(z)

    op = hvp_operator(loss_fn, x)
    for _ in range(3):
        v = torch.randn_like(x)
        assert torch.allclose(op(v), torch.einsum("nij,nj->ni", a, v))
    assert len(calls) == 1
    with pytest.raises(ConfigError, match=r"v\.shape=\(2, 9\)"):
        op(torch.ones(2, 9, dtype=D64))
    # a loss that is linear in x has a zero Hessian (no graph to differentiate): zeros, not an error
    assert torch.equal(
        hvp(lambda z: z.sum(1), x, torch.ones_like(x)), torch.zeros_like(x)
    )


def test_generic_lanczos_and_the_relu_warning_of_the_cross_entropy():
    a, x = indefinite_batch(n=2, d=30)
    res = lanczos(
        lambda v: torch.einsum("nij,nj->ni", a, v),
        x,
        ends=("smallest",),
        tol=1e-10,
        max_iter=30,
    )
    assert torch.allclose(
        res["values"][:, 0], torch.linalg.eigvalsh(a)[:, 0], rtol=1e-8
    )
    with pytest.raises(ConfigError, match=r"ends=\('middle',\)"):
        lanczos(lambda v: v, x, ends=("middle",))
    with pytest.warns(SecondOrderReLUWarning, match="Gauss-Newton"):
        ce_loss_fn(tiny_convnet("relu"), torch.tensor([0, 1]))
