"""The TRADES loss (Zhang et al. 2019): CE(f(x), y) + beta * KL(f(x) || f(x')).

x' maximises the KL inside an L-inf ball, found by PGD from x + 0.001 * N(0, 1), as in the reference code.
The paper under study calls the weight alpha. The KL is computed from log-probabilities on both sides
(``log_target=True``), which stays finite where the reference's ``kl_div(log_softmax, softmax)`` gives NaN
with recent torch (TRADES issue #30: zero probabilities meet log 0).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from lib.core.errors import ConfigError
from lib.nn.pgd import check_attack_args, frozen, project_linf


def kl_from_logits(
    logits_p: torch.Tensor, logits_q: torch.Tensor, reduction: str = "batchmean"
) -> torch.Tensor:
    """KL(softmax(p) || softmax(q)) from logits, finite even where a probability underflows to zero."""
    return F.kl_div(
        F.log_softmax(logits_q, dim=1),
        F.log_softmax(logits_p, dim=1),
        reduction=reduction,
        log_target=True,
    )


def trades_adversary(
    model: nn.Module, x: torch.Tensor, eps: float, step_size: float, steps: int
) -> torch.Tensor:
    """PGD on KL(f(x) || f(x')) from x + 0.001 N(0, 1), in eval mode; returns x' detached."""
    x = x.detach()
    with frozen(model, train=False):
        with torch.no_grad():
            logits_nat = model(x)
        x_adv = (
            project_linf(x + 0.001 * torch.randn_like(x), x, eps)
            if eps > 0
            else x.clone()
        )
        for _ in range(steps):
            x_adv.requires_grad_(True)
            loss = kl_from_logits(logits_nat, model(x_adv), reduction="sum")
            (grad,) = torch.autograd.grad(loss, x_adv)
            x_adv = project_linf(x_adv.detach() + step_size * grad.sign(), x, eps)
    return x_adv.detach()


def trades_loss(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    beta: float,
    eps: float,
    step_size: float,
    steps: int,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Return (total, ce, kl) for a batch, in the model's current mode (train mode when training).

    With ``beta = 0`` no adversary is computed and the loss is exactly the cross-entropy; ``kl`` is then
    a zero tensor because the term is absent, not because it was measured.
    """
    if not (isinstance(beta, (int, float)) and math.isfinite(beta) and beta >= 0):
        raise ConfigError(
            f"beta={beta!r} is not allowed: expected a finite number >= 0"
        )
    check_attack_args(eps, step_size, steps)
    if beta == 0:
        ce = F.cross_entropy(model(x), y)
        return ce, ce, ce.new_zeros(())
    x_adv = trades_adversary(model, x, eps, step_size, steps)
    logits = model(x)
    logits_adv = model(x_adv)
    ce = F.cross_entropy(logits, y)
    kl = kl_from_logits(logits, logits_adv)
    return ce + beta * kl, ce, kl
