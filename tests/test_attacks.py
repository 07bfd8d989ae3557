import pytest
import torch
from torch import nn

from lib.core.errors import ConfigError
from lib.core.settings import AttackConfig
from lib.nn.pgd import evaluate, pgd


def _linear_model(d=6, k=3, seed=0):
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Flatten(), nn.Linear(d, k))
    return model


def test_pgd_on_a_two_class_linear_model_reaches_the_closed_form_worst_case():
    # For two classes CE is monotone in the margin (w_other - w_y) . x, a linear function, so the worst case in
    # the L-inf ball intersected with [0, 1] is reached coordinate by coordinate: x + eps * sign(w_other - w_y),
    # clipped to the box.
    model = _linear_model(d=10, k=2)
    x = torch.rand(16, 1, 10) * 0.8 + 0.1
    x[0, 0, :3] = torch.tensor([0.0, 1.0, 0.02])  # pixels at the box's edges
    y = torch.randint(0, 2, (16,))
    eps = 0.05
    w = model[1].weight.detach()
    direction = (w[1 - y] - w[y]).sign().view(16, 1, 10)
    expected = torch.min(torch.max(x + eps * direction, x - eps), x + eps).clamp(0, 1)
    x_adv = pgd(model, x, y, eps=eps, step_size=eps / 4, steps=20, random_start=True)
    assert torch.allclose(x_adv, expected, atol=1e-6)
    assert (
        (x_adv - x).abs().max() <= eps + 1e-6 and x_adv.min() >= 0 and x_adv.max() <= 1
    )


def test_pgd_stays_in_the_ball_and_box_and_raises_the_loss():
    torch.manual_seed(1)
    model = nn.Sequential(nn.Flatten(), nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 10))
    x, y = torch.rand(32, 1, 8, 8), torch.randint(0, 10, (32,))
    x_adv = pgd(model, x, y, eps=0.1, step_size=0.02, steps=10)
    assert (
        (x_adv - x).abs().max() <= 0.1 + 1e-6 and x_adv.min() >= 0 and x_adv.max() <= 1
    )
    ce = nn.functional.cross_entropy
    assert (
        ce(model(x_adv), y, reduction="none")
        .ge(ce(model(x), y, reduction="none") - 1e-6)
        .all()
    )


def test_attack_restores_mode_and_requires_grad():
    model = _linear_model()
    model.train()
    model[1].bias.requires_grad_(False)
    pgd(model, torch.rand(4, 1, 6), torch.zeros(4, dtype=torch.long), 0.1, 0.05, 3)
    assert (
        model.training
        and model[1].weight.requires_grad
        and not model[1].bias.requires_grad
    )
    assert model[1].weight.grad is None
    model.eval()
    evaluate(
        model,
        torch.rand(4, 1, 6),
        torch.zeros(4, dtype=torch.long),
        AttackConfig(0.1, 0.05, 3),
        progress=False,
    )
    assert not model.training


def test_evaluate_counts_clean_and_robust_accuracy():
    # A model that predicts class 0 iff the first pixel is below 0.5; inputs at 0.2 and 0.45 with label 0.
    class Threshold(nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = nn.Linear(1, 2)
            with torch.no_grad():
                self.lin.weight.copy_(torch.tensor([[-10.0], [10.0]]))
                self.lin.bias.copy_(torch.tensor([5.0, -5.0]))

        def forward(self, x):
            return self.lin(x.flatten(1)[:, :1])

    x = torch.tensor([[0.2], [0.45], [0.8]]).view(3, 1, 1)
    y = torch.tensor([0, 0, 0])
    r = evaluate(
        Threshold(),
        x,
        y,
        AttackConfig(eps=0.1, step_size=0.05, steps=5, restarts=3),
        progress=False,
    )
    assert r.clean_acc == pytest.approx(2 / 3) and r.pgd_acc == pytest.approx(1 / 3)


@pytest.mark.parametrize(
    "kwargs, fragment",
    [
        ({"eps": -0.1}, "eps=-0.1"),
        ({"steps": -2}, "steps=-2"),
        ({"step_size": float("nan")}, "step_size=nan"),
    ],
)
def test_bad_attack_arguments(kwargs, fragment):
    args = {"eps": 0.1, "step_size": 0.01, "steps": 2, **kwargs}
    with pytest.raises(ConfigError, match=fragment):
        pgd(
            _linear_model(),
            torch.rand(2, 1, 6),
            torch.zeros(2, dtype=torch.long),
            **args,
        )
