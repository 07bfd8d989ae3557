"""L-inf PGD (Madry et al.) and clean / robust accuracy evaluation, batched.

An attack leaves the model as it found it: its train/eval mode and each parameter's ``requires_grad``.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from tqdm.std import tqdm

from lib.core.errors import ConfigError
from lib.core.settings import AttackConfig


@contextlib.contextmanager
def frozen(model: nn.Module, train: bool = False) -> Iterator[nn.Module]:
    """Put the model in eval (or train) mode with parameters not requiring grad; restore both after."""
    was_training = model.training
    flags = [p.requires_grad for p in model.parameters()]
    model.train(train)
    for p in model.parameters():
        p.requires_grad_(False)
    try:
        yield model
    finally:
        model.train(was_training)
        for p, f in zip(model.parameters(), flags):
            p.requires_grad_(f)


def check_attack_args(
    eps: float, step_size: float, steps: int, restarts: int = 1
) -> None:
    for name, v in (("eps", eps), ("step_size", step_size)):
        if not (isinstance(v, (int, float)) and math.isfinite(v) and v >= 0):
            raise ConfigError(
                f"{name}={v!r} is not allowed: expected a finite number >= 0"
            )
    for name, v, lo in (("steps", steps, 0), ("restarts", restarts, 1)):
        if isinstance(v, bool) or not isinstance(v, int) or v < lo:
            raise ConfigError(
                f"{name}={v!r} is not allowed: expected an integer >= {lo}"
            )


def project_linf(x_adv: torch.Tensor, x: torch.Tensor, eps: float) -> torch.Tensor:
    """Project onto the L-inf ball of radius eps around x, intersected with the [0, 1] box."""
    return torch.min(torch.max(x_adv, x - eps), x + eps).clamp_(0.0, 1.0)


def pgd(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    eps: float,
    step_size: float,
    steps: int,
    random_start: bool = True,
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None,
) -> torch.Tensor:
    """Untargeted L-inf PGD maximising the cross-entropy (or ``loss_fn(logits, y)``, summed over the batch).

    Runs in eval mode; returns ``x_adv`` (detached) within eps of ``x`` and in [0, 1].
    """
    check_attack_args(eps, step_size, steps)
    if x.shape[0] != y.shape[0]:
        raise ConfigError(
            f"y has {y.shape[0]} labels for {x.shape[0]} inputs: expected one label per input"
        )
    loss_fn = loss_fn or (lambda logits, t: F.cross_entropy(logits, t, reduction="sum"))
    x = x.detach()
    with frozen(model, train=False):
        x_adv = x.clone()
        if random_start and eps > 0:
            x_adv = project_linf(
                x_adv + torch.empty_like(x).uniform_(-eps, eps), x, eps
            )
        for _ in range(steps):
            x_adv.requires_grad_(True)
            loss = loss_fn(model(x_adv), y)
            (grad,) = torch.autograd.grad(loss, x_adv)
            x_adv = project_linf(x_adv.detach() + step_size * grad.sign(), x, eps)
    return x_adv.detach()


@dataclass(frozen=True)
class RobustAccuracy:
    clean_acc: float
    pgd_acc: float
    n: int
    attack: AttackConfig

    def as_dict(self) -> dict:
        return {
            "clean_acc": self.clean_acc,
            "pgd_acc": self.pgd_acc,
            "n": self.n,
            "eps": self.attack.eps,
            "step_size": self.attack.step_size,
            "steps": self.attack.steps,
            "restarts": self.attack.restarts,
        }


def evaluate(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    attack: AttackConfig,
    batch_size: int = 500,
    progress: bool = True,
    desc: str = "evaluate",
) -> RobustAccuracy:
    """Clean accuracy and PGD accuracy on the model's device; with restarts an input counts as robust
    only if every restart fails (each restart attacks only the inputs still standing)."""
    check_attack_args(attack.eps, attack.step_size, attack.steps, attack.restarts)
    device = next(model.parameters()).device
    clean_correct = robust_correct = 0
    batches = range(0, len(y), batch_size)
    for i in tqdm(batches, desc=desc, disable=not progress, leave=False):
        xb, yb = x[i : i + batch_size].to(device), y[i : i + batch_size].to(device)
        with frozen(model), torch.no_grad():
            pred = model(xb).argmax(1)
        robust = pred == yb
        clean_correct += int(robust.sum())
        for _ in range(attack.restarts):
            if not robust.any():
                break
            idx = robust.nonzero().squeeze(1)
            x_adv = pgd(
                model,
                xb[idx],
                yb[idx],
                attack.eps,
                attack.step_size,
                attack.steps,
                random_start=True,
            )
            with frozen(model), torch.no_grad():
                robust[idx] = model(x_adv).argmax(1) == yb[idx]
        robust_correct += int(robust.sum())
    n = len(y)
    return RobustAccuracy(clean_correct / n, robust_correct / n, n, attack)
