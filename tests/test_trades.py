import pytest
import torch
import torch.nn.functional as F
from torch import nn

from lib.core.errors import ConfigError
from lib.nn.trades import kl_from_logits, trades_loss


def _model():
    torch.manual_seed(0)
    return nn.Sequential(nn.Flatten(), nn.Linear(64, 16), nn.ReLU(), nn.Linear(16, 10))


def test_beta_zero_is_exactly_cross_entropy_in_value_and_gradient():
    model, x, y = _model(), torch.rand(8, 1, 8, 8), torch.randint(0, 10, (8,))
    total, ce, kl = trades_loss(model, x, y, beta=0.0, eps=0.1, step_size=0.02, steps=5)
    ref = F.cross_entropy(model(x), y)
    assert torch.equal(total, ref) and torch.equal(ce, ref) and kl.item() == 0
    g1 = torch.autograd.grad(total, list(model.parameters()))
    g2 = torch.autograd.grad(F.cross_entropy(model(x), y), list(model.parameters()))
    assert all(torch.equal(a, b) for a, b in zip(g1, g2))


def test_kl_matches_its_definition_and_is_zero_for_equal_outputs():
    p, q = torch.randn(5, 10), torch.randn(5, 10)
    sp, sq = p.softmax(1), q.softmax(1)
    ref = (sp * (sp.log() - sq.log())).sum(1).mean()
    assert torch.allclose(kl_from_logits(p, q), ref, atol=1e-6)
    assert kl_from_logits(p, p).abs() < 1e-7


def test_kl_stays_finite_where_the_reference_formula_gives_nan():
    # Saturated logits: softmax underflows to exactly 0 for some classes (TRADES issue #30).
    p = torch.tensor([[200.0, -200.0, 0.0]], requires_grad=True)
    q = torch.tensor([[-150.0, 150.0, 0.0]], requires_grad=True)
    ours = kl_from_logits(p, q)
    ours.backward()
    assert (
        torch.isfinite(ours)
        and torch.isfinite(p.grad).all()
        and torch.isfinite(q.grad).all()
    )
    assert ours.item() == pytest.approx(
        300.0, rel=1e-4
    )  # one-hot p: KL = -log q_0 = 150 + 150


def test_trades_terms_are_positive_and_weighted_by_beta():
    model, x, y = _model(), torch.rand(16, 1, 8, 8), torch.randint(0, 10, (16,))
    torch.manual_seed(3)
    total, ce, kl = trades_loss(model, x, y, beta=6.0, eps=0.3, step_size=0.1, steps=5)
    assert kl > 0 and torch.allclose(total, ce + 6.0 * kl)
    with pytest.raises(ConfigError, match="beta=-1"):
        trades_loss(model, x, y, beta=-1, eps=0.1, step_size=0.01, steps=1)
