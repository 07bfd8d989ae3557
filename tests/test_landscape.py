import pytest
import torch

from lib.core.errors import ConfigError
from lib.measure.landscape import (
    make_grid,
    quadratic_coefficient,
    random_directions,
    second_difference,
    slice_1d,
    slice_2d,
)

W = torch.linspace(0.5, 4.0, 9, dtype=torch.float64).view(1, 1, 3, 3)


def quad(x):
    """0.5 * sum_j w_j x_j^2 + sum_j x_j per example: its curvature along d is sum_j w_j d_j^2."""
    return (0.5 * W * x.pow(2)).flatten(1).sum(1) + x.flatten(1).sum(1)


def test_slice_of_a_known_function_reproduces_its_values():
    x = torch.rand(3, 1, 4, 4, dtype=torch.float64)
    d = random_directions(x, "gaussian", norm=1.0, seed=0).double()
    ts = make_grid(0.5, 11).double()
    losses = slice_1d(
        lambda z: 0.5 * z.pow(2).flatten(1).sum(1), x, d, ts, batch_size=7
    )
    expected = torch.stack(
        [0.5 * (x + t * d).pow(2).flatten(1).sum(1) for t in ts], dim=1
    )
    assert torch.allclose(losses, expected)


def test_flatness_scalars_recover_the_curvature_of_a_quadratic():
    x = torch.rand(4, 1, 3, 3, dtype=torch.float64)
    d = random_directions(x, "gaussian", norm=1.0, seed=1).double()
    ts = make_grid(1.0, 9).double()
    losses = slice_1d(quad, x, d, ts)
    c = (W * d.pow(2)).flatten(1).sum(1)
    assert torch.allclose(second_difference(losses, ts), c)
    assert torch.allclose(2 * quadratic_coefficient(losses, ts), c)


def test_batched_and_one_at_a_time_slices_agree():
    torch.manual_seed(0)
    net = torch.nn.Sequential(
        torch.nn.Flatten(),
        torch.nn.Linear(16, 4),
        torch.nn.Softplus(),
        torch.nn.Linear(4, 1),
    )
    f = lambda z: net(z).squeeze(1)  # noqa: E731
    x = torch.rand(5, 1, 4, 4)
    d = random_directions(x, "sign", seed=2)
    ts = make_grid(0.2, 7)
    batched = slice_1d(f, x, d, ts)
    single = torch.cat([slice_1d(f, x[i : i + 1], d[i : i + 1], ts) for i in range(5)])
    assert torch.allclose(batched, single, atol=1e-6)
    plane = slice_2d(f, x, d, random_directions(x, "gaussian", seed=3), ts)
    assert plane.shape == (5, 7, 7) and torch.allclose(
        plane[:, :, 3], batched, atol=1e-6
    )


def test_directions():
    x = torch.rand(2, 1, 4, 4)
    assert torch.allclose(
        random_directions(x, "gaussian", norm=3.0).flatten(1).norm(dim=1),
        torch.tensor([3.0, 3.0]),
    )
    assert set(random_directions(x, "sign").unique().tolist()) == {-1.0, 1.0}
    g = random_directions(x, "gradient_sign", loss_fn=lambda z: z.flatten(1).sum(1) * 2)
    assert torch.equal(g, torch.ones_like(x))


@pytest.mark.parametrize(
    "call, fragment",
    [
        (
            lambda x: slice_1d(quad, x, torch.rand(2, 1, 3, 3), make_grid(1, 5)),
            "directions has shape",
        ),
        (lambda x: make_grid(1.0, 0), "points=0"),
        (lambda x: make_grid(-1.0, 5), "radius=-1.0"),
        (lambda x: random_directions(x, "pca"), "kind='pca'"),
        (
            lambda x: second_difference(torch.rand(2, 4), torch.linspace(-1, 1, 4)),
            "expected an odd, symmetric grid",
        ),
    ],
)
def test_bad_input(call, fragment):
    with pytest.raises(ConfigError, match=fragment):
        call(torch.rand(2, 1, 4, 4))


def test_slices_with_owner_give_each_point_its_inputs_data():
    x = torch.rand(3, 1, 2, 2, dtype=torch.float64)
    shift = torch.tensor([0.0, 10.0, 100.0], dtype=torch.float64)
    d = random_directions(x, "sign", seed=0).double()
    ts = make_grid(0.1, 5).double()
    f = lambda z, owner: z.flatten(1).sum(1) + shift[owner]  # noqa: E731
    with_owner = slice_1d(f, x, d, ts, batch_size=4, with_owner=True)
    plain = slice_1d(lambda z: z.flatten(1).sum(1), x, d, ts)
    assert torch.allclose(with_owner, plain + shift[:, None])
    plane = slice_2d(f, x, d, d, ts, batch_size=7, with_owner=True)
    assert torch.allclose(plane[:, 2, 2], x.flatten(1).sum(1) + shift)


def test_grid_centre_is_exactly_zero():
    for radius in (0.1, 0.3, 1 / 3):
        assert make_grid(radius, 21)[10].item() == 0.0
