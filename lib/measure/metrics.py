"""Comparing explanation maps, batched: MSE, cosine similarity, Spearman rank correlation, top-k overlap,
and a seeded percentile-bootstrap confidence interval for summaries over pairs.

Every map metric takes two tensors of the same shape (N, H, W) (any shape with the batch first works: each
example is flattened) and returns one value per pair, shape (N,). Reviewers asked for rank metrics beside
the MSE because the MSE scales with the maps' spread (L_end follows L_start); ranks and overlaps do not.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F

from lib.core.errors import ConfigError


def _pair(
    a: torch.Tensor, b: torch.Tensor, names: tuple[str, str] = ("a", "b")
) -> tuple[torch.Tensor, torch.Tensor]:
    """Both maps flattened to (N, P), after checking they are comparable (``names``: how errors call them)."""
    na, nb = names
    if not isinstance(a, torch.Tensor) or not isinstance(b, torch.Tensor):
        raise ConfigError(
            f"{na}, {nb}=({type(a).__name__}, {type(b).__name__}) is not allowed: expected two tensors"
        )
    if a.shape != b.shape or a.dim() < 2 or a.shape[0] == 0 or a[0].numel() == 0:
        raise ConfigError(
            f"{nb}.shape={tuple(b.shape)} is not allowed: expected the shape of {na}, "
            f"{tuple(a.shape)}, a non-empty batch (N, ...)"
        )
    return a.flatten(1), b.flatten(1)


def mse(
    a: torch.Tensor, b: torch.Tensor, names: tuple[str, str] = ("a", "b")
) -> torch.Tensor:
    """Mean squared difference over pixels per pair, shape (N,): the one per-pair MSE of the library (the
    explanation loss, the attack's output term); differentiable."""
    a, b = _pair(a, b, names)
    return (a - b).pow(2).mean(1)


def concentration(
    a: torch.Tensor, b: torch.Tensor, names: tuple[str, str] = ("a", "b")
) -> torch.Tensor:
    """(sum a^2 + sum b^2) / P per pair, shape (N,): the scale of the MSE between two maps. Since
    MSE(a, b) = (sum a^2 + sum b^2 - 2 <a, b>) / P, the MSE factors into this concentration (set by how
    peaked the maps are: maps that sum to 1 have a larger sum of squares the fewer pixels they sit on) times
    the scale-free distance MSE / concentration = 1 - 2 <a, b> / (sum a^2 + sum b^2), in [0, 2] (0: equal
    maps, 1: orthogonal, near 1 - cosine when the norms match). Issue 30: concentration, not robustness,
    drives most of the MSE's differences between models."""
    a, b = _pair(a, b, names)
    return (a.pow(2).sum(1) + b.pow(2).sum(1)) / a.shape[1]


def cosine_similarity(
    a: torch.Tensor, b: torch.Tensor, eps: float = 1e-12
) -> torch.Tensor:
    """Cosine of the angle between the two maps (as vectors) per pair; 0 when either map is all zero
    (norms are clamped at ``eps``). Insensitive to each map's scale, unlike the MSE."""
    a, b = _pair(a, b)
    return F.cosine_similarity(a, b, dim=1, eps=eps)


def average_ranks(v: torch.Tensor) -> torch.Tensor:
    """Ranks 1..P along dim 1 of a (N, P) tensor, tied values sharing the mean of their ranks (as
    scipy.stats.rankdata's default). Float64. Sort-based, batched, deterministic (no scatter-add)."""
    n, p = v.shape
    sorted_v, order = v.sort(dim=1, stable=True)
    pos = torch.arange(p, device=v.device).expand(n, p)
    starts = torch.ones_like(sorted_v, dtype=torch.bool)
    starts[:, 1:] = sorted_v[:, 1:] != sorted_v[:, :-1]
    ends = torch.ones_like(starts)
    ends[:, :-1] = starts[:, 1:]
    first = (
        torch.where(starts, pos, torch.zeros_like(pos)).cummax(dim=1).values
    )  # first index of each tie group
    last = (
        torch.where(ends, pos, torch.full_like(pos, p))
        .flip(1)
        .cummin(dim=1)
        .values.flip(1)
    )  # its last index
    mean_rank = (first + last).to(torch.float64) / 2 + 1
    return mean_rank.gather(1, order.argsort(dim=1))


def spearman(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Spearman rank correlation over pixels per pair (Pearson correlation of the average ranks; ties get
    average ranks, as scipy.stats.spearmanr). NaN for a constant map, where it is undefined. Float64."""
    a, b = _pair(a, b)
    ra, rb = average_ranks(a.detach()), average_ranks(b.detach())
    ra = ra - ra.mean(1, keepdim=True)
    rb = rb - rb.mean(1, keepdim=True)
    denom = (ra.pow(2).sum(1) * rb.pow(2).sum(1)).sqrt()
    return torch.where(
        denom > 0, (ra * rb).sum(1) / denom, torch.full_like(denom, float("nan"))
    )


def topk_intersection(a: torch.Tensor, b: torch.Tensor, k: int) -> torch.Tensor:
    """Fraction of the k largest pixels of ``a`` that are also among the k largest of ``b``, per pair.

    Ties at the k-th value are broken by ``torch.topk``'s (implementation-defined) order: use it on maps
    without large plateaus, or read it with that caveat.
    """
    a, b = _pair(a, b)
    p = a.shape[1]
    if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= p:
        raise ConfigError(
            f"k={k!r} is not allowed: expected an integer in [1, {p}] (the number of pixels)"
        )
    in_a = torch.zeros_like(a, dtype=torch.bool).scatter_(
        1, a.detach().topk(k, dim=1).indices, True
    )
    in_b = torch.zeros_like(b, dtype=torch.bool).scatter_(
        1, b.detach().topk(k, dim=1).indices, True
    )
    return (in_a & in_b).sum(1).to(torch.float64) / k


def bootstrap_ci(
    values,
    stat: Callable[[np.ndarray], float] = np.mean,
    n_boot: int = 1000,
    level: float = 0.95,
    seed: int = 0,
) -> tuple[float, float]:
    """Percentile-bootstrap interval (low, high) of ``stat`` over 1-D ``values``, resampled with replacement.

    Seeded (numpy's default_rng(seed)) so a book rebuild gives the same interval. It describes the
    sampling spread of the pairs at hand, not seed-to-seed training variance.
    """
    v = np.asarray(
        values.detach().cpu() if isinstance(values, torch.Tensor) else values,
        dtype=np.float64,
    )
    if v.ndim != 1 or v.size == 0 or not np.isfinite(v).all():
        raise ConfigError(
            f"values of shape {v.shape} with {int((~np.isfinite(v)).sum())} non-finite entries is "
            f"not allowed: expected a non-empty 1-D array of finite numbers"
        )
    if isinstance(n_boot, bool) or not isinstance(n_boot, int) or n_boot < 1:
        raise ConfigError(
            f"n_boot={n_boot!r} is not allowed: expected a positive integer"
        )
    if not (isinstance(level, (int, float)) and 0 < level < 1):
        raise ConfigError(
            f"level={level!r} is not allowed: expected a number in (0, 1)"
        )
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, v.size, size=(n_boot, v.size))
    stats = np.array([stat(v[row]) for row in idx], dtype=np.float64)
    low, high = np.quantile(stats, [(1 - level) / 2, (1 + level) / 2])
    return float(low), float(high)
