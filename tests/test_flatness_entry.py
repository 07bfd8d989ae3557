"""Known answers for the target-free flatness entry (issue 19, item 4): the store entry's G is
``explanation_change_curvature`` on the same inputs; the old Hessian's split H = G + R
(``target_decomposition``) against dense matrices from torch.autograd.functional on a tiny smooth network; R
vanishes when the target is the victim's own map; G on a ReLU model is "not defined" for the gradient map and
measured for grad x input; the entry goes through the store once."""

import types
import warnings
from dataclasses import replace

import numpy as np
import pytest
import torch

from lib.core.profile import load_profile
from lib.measure.curvature import (
    explanation_change_curvature,
    explanation_loss_fn,
    hutchinson,
    target_decomposition,
)
from lib.measure.explain import (
    SecondOrderReLUWarning,
    explanation_loss,
    explanation_map,
)
from lib.nn.models import build_model, softplus_twin
from lib.pipeline.flatness import (
    CHANGE,
    MODEL,
    TWIN,
    as_curvature_rows,
    compute_flatness,
    defined_on,
)
from lib.pipeline.landscapes import SCALE

D64 = torch.float64


def tiny_convnet(activation="softplus", dtype=D64):
    torch.manual_seed(1)
    return (
        build_model("convnet", 1, 10, width=2, activation=activation, softplus_beta=3.0)
        .to(dtype)
        .eval()
    )


def rademacher(n, shape, seed):
    g = torch.Generator().manual_seed(seed)
    return (torch.randint(0, 2, (n, *shape), generator=g) * 2 - 1).to(D64)


def dense_parts(model, x, target_maps, target, method="gradient"):
    """(N, D, D) each: H (the explanation loss's input Hessian towards ``target_maps``) and
    G = (2/P) J^T J, one example at a time, from torch.autograd.functional."""
    hs, gs = [], []
    for i in range(len(x)):
        t = target[i : i + 1]

        def one_map(z):
            return explanation_map(model, z[None], method, target=t, create_graph=True)

        def loss(z):
            return explanation_loss(one_map(z), target_maps[i : i + 1])[0]

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", SecondOrderReLUWarning)
            h = torch.autograd.functional.hessian(loss, x[i])
            j = torch.autograd.functional.jacobian(
                lambda z: one_map(z)[0].flatten(), x[i]
            )
        d = x[i].numel()
        j = j.reshape(-1, d)
        hs.append(h.reshape(d, d))
        gs.append(2 / j.shape[0] * j.T @ j)
    return torch.stack(hs), torch.stack(gs)


def test_the_split_of_the_old_hessian_matches_dense_matrices():
    model = tiny_convnet()
    g = torch.Generator().manual_seed(3)
    x = torch.rand(2, 1, 8, 8, generator=g, dtype=D64)
    x_t = torch.rand(2, 1, 8, 8, generator=g, dtype=D64)
    target = torch.tensor([2, 7])
    target_maps = explanation_map(model, x_t, "gradient").detach()
    h, gm = dense_parts(model, x, target_maps, target)
    r = h - gm
    assert torch.allclose(r, r.transpose(1, 2), atol=1e-12)  # R is symmetric
    ev = torch.linalg.eigvalsh(r)
    probes = rademacher(16, x.shape, seed=5)
    res = target_decomposition(
        model, x, target_maps, "gradient", target, tol=1e-10, max_iter=64, probes=probes
    )
    assert res["r_converged"].all()
    scale = ev.abs().amax(1)
    assert torch.allclose(res["r_largest"], ev[:, -1], atol=1e-7 * scale.max())
    assert torch.allclose(res["r_smallest"], ev[:, 0], atol=1e-7 * scale.max())
    assert (ev[:, -1] > 0).all() and (ev[:, 0] < 0).all()  # R is indefinite here
    z = probes.flatten(2)
    for name, mat in (("h_trace", h), ("g_trace", gm), ("r_trace", r)):
        want = torch.einsum("pni,nij,pnj->pn", z, mat, z).mean(0)
        assert torch.allclose(res[name], want, rtol=1e-8), name
    assert torch.allclose(res["r_trace"], res["h_trace"] - res["g_trace"], rtol=1e-10)
    # the same probes as hutchinson's on the old loss and explanation_change_curvature's
    old = hutchinson(
        explanation_loss_fn(model, target_maps, "gradient", labels=target),
        x,
        probes=probes,
    )[0]
    assert torch.allclose(res["h_trace"], old.trace, rtol=1e-10)
    new = explanation_change_curvature(model, x, "gradient", target, probes=probes)
    assert torch.allclose(res["g_trace"], new["trace"], rtol=1e-10)


def test_r_vanishes_when_the_target_is_the_victims_own_map():
    model = tiny_convnet()
    x = torch.rand(2, 1, 8, 8, generator=torch.Generator().manual_seed(4), dtype=D64)
    target = model(x).argmax(1)
    own = explanation_map(model, x, "gradient", target=target).detach()
    res = target_decomposition(
        model, x, own, "gradient", target, tol=1e-10, max_iter=64
    )
    g = explanation_change_curvature(
        model, x, "gradient", target, tol=1e-10, max_iter=64
    )
    assert (res["r_largest"].abs() < 1e-9 * g["spectral"]).all()
    assert (res["r_smallest"].abs() < 1e-9 * g["spectral"]).all()
    assert torch.allclose(res["h_trace"], res["g_trace"], rtol=1e-9)


def test_relu_rule():
    relu, smooth = tiny_convnet("relu"), tiny_convnet()
    assert not defined_on(relu, "gradient") and not defined_on(relu, "guided_backprop")
    assert not defined_on(relu, "smoothgrad")
    assert defined_on(relu, "grad_x_input") and defined_on(relu, "integrated_gradients")
    assert defined_on(smooth, "gradient")


def entry_inputs(method="gradient"):
    p = load_profile("smoke")
    p = replace(p, landscape=replace(p.landscape, method=method))
    model = tiny_convnet("relu", torch.float32)
    g = torch.Generator().manual_seed(6)
    x = torch.rand(3, 1, 8, 8, generator=g)
    x_t = torch.rand(3, 1, 8, 8, generator=g)
    y = torch.tensor([1, 2, 3])
    return p, types.SimpleNamespace(model=model), x, y, x_t


@pytest.mark.parametrize("method", ["gradient", "grad_x_input"])
def test_the_entry_is_explanation_change_curvature_on_the_same_inputs(method):
    p, trained, x, y, x_t = entry_inputs(method)
    s = p.landscape
    out = compute_flatness(trained, x, y, x_t, p)
    rows = {(r["net"], r["victim"]): r for r in out["rows"]}
    assert len(rows) == 2 * len(x)
    model = trained.model
    labels = model(x).argmax(1)
    twin = softplus_twin(model, s.softplus_beta).eval()
    kw = dict(
        tol=s.eig_tol, max_iter=s.eig_max_iter, n_probes=s.trace_probes, seed=s.seed
    )
    want = explanation_change_curvature(twin, x, method, labels, **kw)
    k = SCALE["expl_twin"]
    for i in range(len(x)):
        r = rows[(TWIN, i)]
        assert r["defined"] and r["eig_converged"] == bool(want["converged"][i])
        assert r["spectral"] == pytest.approx(float(want["spectral"][i]) * k, rel=1e-5)
        assert r["trace"] == pytest.approx(float(want["trace"][i]) * k, rel=1e-5)
        fro = np.sqrt(float(want["frobenius_sq"][i])) * k
        assert r["frobenius"] == pytest.approx(fro, rel=1e-5)
        assert r["h_trace"] == pytest.approx(r["trace"] + r["r_trace"], rel=1e-4)
    # the old Hessian's trace is the old curvature rows' (same probes)
    target_maps = explanation_map(model, x_t, method).detach()
    old = hutchinson(
        explanation_loss_fn(twin, target_maps, method, labels=labels),
        x,
        n_probes=s.trace_probes,
        seed=s.seed,
    )[0]
    for i in range(len(x)):
        assert rows[(TWIN, i)]["h_trace"] == pytest.approx(
            float(old.trace[i]) * k, rel=1e-5
        )
    # J = 0 almost everywhere on the ReLU model: not defined, no zeros
    if method == "gradient":
        assert all(not rows[(MODEL, i)]["defined"] for i in range(len(x)))
        assert all("spectral" not in rows[(MODEL, i)] for i in range(len(x)))
    else:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", SecondOrderReLUWarning)
            on_model = explanation_change_curvature(model, x, method, labels, **kw)
        for i in range(len(x)):
            r = rows[(MODEL, i)]
            assert r["defined"] and r["spectral"] > 0
            assert r["spectral"] == pytest.approx(
                float(on_model["spectral"][i]) * k, rel=1e-5
            )
    curv = as_curvature_rows(
        __import__("pandas").DataFrame([{"key": "m", **r} for r in out["rows"]])
    )
    assert set(curv["loss"]) == {CHANGE} and len(curv) == len(x)
    assert (curv["largest"] == curv["spectral"]).all() and curv["smallest"].isna().all()
