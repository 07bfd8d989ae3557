"""Prototype-based measurement of explanation robustness.

Attacking all pairs of images costs n(n-1) attacks, so the paper clusters the data and attacks
representative prototypes: k-means on features of a reference network, the images nearest each centroid as
victims, targets from other clusters. The pairs are fixed once per dataset and reused for every model.
``explanation_robustness`` then runs the manipulation attack on those pairs and summarises the explanation
loss left after it converges (higher = more robust), with bootstrap intervals.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np
import torch
from sklearn.cluster import KMeans
from torch import nn

from lib.core.errors import ConfigError
from lib.measure.explain import explanation_map
from lib.measure.manipulate import ManipulationConfig, ManipulationResult, manipulate
from lib.measure.metrics import bootstrap_ci, spearman

PAIRINGS = ("random_other", "next_cluster")


@dataclass(frozen=True)
class Pairs:
    """Victim-target index pairs into one dataset subset, with the clustering that produced them."""

    victims: np.ndarray
    targets: np.ndarray
    victim_cluster: np.ndarray
    target_cluster: np.ndarray
    cluster_of: np.ndarray  # cluster of every image of the subset
    dataset: str
    fingerprint: str  # of the images the indices point into

    def as_dict(self) -> dict:
        return {
            "victims": self.victims.tolist(),
            "targets": self.targets.tolist(),
            "victim_cluster": self.victim_cluster.tolist(),
            "target_cluster": self.target_cluster.tolist(),
            "cluster_of": self.cluster_of.tolist(),
            "dataset": self.dataset,
            "fingerprint": self.fingerprint,
        }

    @classmethod
    def from_dict(cls, d: dict) -> Pairs:
        arrays = {
            k: np.asarray(d[k], dtype=np.int64)
            for k in (
                "victims",
                "targets",
                "victim_cluster",
                "target_cluster",
                "cluster_of",
            )
        }
        return cls(**arrays, dataset=d["dataset"], fingerprint=d["fingerprint"])


def fingerprint(x: torch.Tensor) -> str:
    """A short hash of a batch of images, to recognise the subset a pairs file indexes into."""
    return hashlib.sha256(x.detach().cpu().contiguous().numpy().tobytes()).hexdigest()[
        :16
    ]


def check_pairs_for(pairs: Pairs, dataset: str, x: torch.Tensor) -> None:
    """Refuse pairs made for another dataset or another subset of images."""
    if pairs.dataset != dataset:
        raise ConfigError(
            f"pairs.dataset={pairs.dataset!r} is not allowed here: these images are {dataset!r}"
        )
    if pairs.fingerprint != fingerprint(x):
        raise ConfigError(
            f"pairs.fingerprint={pairs.fingerprint!r} does not match these {dataset} images "
            f"({fingerprint(x)!r}): expected the subset the pairs were made from"
        )


def select_pairs(
    features: np.ndarray,
    n_clusters: int,
    victims_per_cluster: int,
    seed: int,
    dataset: str,
    images: torch.Tensor,
    targets_per_victim: int = 1,
    pairing: str = "random_other",
) -> Pairs:
    """k-means on ``features`` (N, D); the ``victims_per_cluster`` images nearest each centroid are victims,
    each paired with the prototype (image nearest the centroid) of ``targets_per_victim`` other clusters,
    chosen at random (``random_other``) or the following clusters in order (``next_cluster``)."""

    features = np.asarray(features, dtype=np.float64)
    n = len(features)
    if features.ndim != 2:
        raise ConfigError(f"features has shape {features.shape}: expected (N, D)")
    if len(images) != n:
        raise ConfigError(
            f"images has {len(images)} entries for {n} feature rows: expected one image per row"
        )
    if not 2 <= n_clusters <= n:
        raise ConfigError(
            f"n_clusters={n_clusters} is not allowed: expected 2 <= n_clusters <= {n} (the images)"
        )
    if victims_per_cluster < 1:
        raise ConfigError(
            f"victims_per_cluster={victims_per_cluster} is not allowed: expected an integer >= 1"
        )
    if not 1 <= targets_per_victim <= n_clusters - 1:
        raise ConfigError(
            f"targets_per_victim={targets_per_victim} is not allowed: expected 1 to {n_clusters - 1}"
        )
    if pairing not in PAIRINGS:
        raise ConfigError(
            f"pairing={pairing!r} is not allowed: expected one of {PAIRINGS}"
        )
    km = KMeans(n_clusters=n_clusters, n_init=10, random_state=seed).fit(features)
    dist = np.linalg.norm(features - km.cluster_centers_[km.labels_], axis=1)
    members = [np.flatnonzero(km.labels_ == c) for c in range(n_clusters)]
    ordered = [m[np.argsort(dist[m], kind="stable")] for m in members]
    small = [c for c, m in enumerate(ordered) if len(m) < victims_per_cluster]
    if small:
        raise ConfigError(
            f"victims_per_cluster={victims_per_cluster} is not allowed: cluster {small[0]} has only "
            f"{len(ordered[small[0]])} images"
        )
    rng = np.random.default_rng(seed)
    victims, targets, vc, tc = [], [], [], []
    for c in range(n_clusters):
        others = [o for o in range(n_clusters) if o != c]
        for v in ordered[c][:victims_per_cluster]:
            if pairing == "random_other":
                chosen = rng.choice(others, size=targets_per_victim, replace=False)
            else:
                chosen = [(c + 1 + j) % n_clusters for j in range(targets_per_victim)]
            for o in chosen:
                victims.append(v)
                targets.append(ordered[o][0])
                vc.append(c)
                tc.append(o)
    return Pairs(
        np.array(victims),
        np.array(targets),
        np.array(vc),
        np.array(tc),
        km.labels_.astype(np.int64),
        dataset,
        fingerprint(images),
    )


@torch.no_grad()
def penultimate_features(
    model: nn.Module, x: torch.Tensor, batch_size: int = 500
) -> np.ndarray:
    """Inputs of the model's last linear layer (its penultimate features), via a forward hook."""
    last = [m for m in model.modules() if isinstance(m, nn.Linear)]
    if not last:
        raise ConfigError(
            "model has no nn.Linear layer: expected a classifier ending in a linear layer"
        )
    captured: list[torch.Tensor] = []
    handle = last[-1].register_forward_hook(
        lambda mod, inp, out: captured.append(inp[0].detach().cpu())
    )
    was_training = model.training
    model.eval()
    try:
        device = next(model.parameters()).device
        for i in range(0, len(x), batch_size):
            model(x[i : i + batch_size].to(device))
    finally:
        handle.remove()
        model.train(was_training)
    return torch.cat(captured).flatten(1).numpy()


def robustness_summary(
    result: ManipulationResult,
    rank: np.ndarray | None = None,
    n_boot: int = 1000,
    seed: int = 0,
) -> dict:
    """Means with percentile-bootstrap 95 % intervals over the pairs whose predicted label the attack kept
    (the primary numbers: a pair whose label flipped is a classification attack, not an explanation
    manipulation): L_start, L_end (1e-7), relative reduction and the rank metric (Spearman between
    manipulated and target maps); beside them the number of flipped pairs and the all-pairs means
    (``*_all``), and the label-kept and converged rates."""
    kept = result.label_kept.cpu().numpy().astype(bool)
    l_start = result.l_start.cpu().numpy() * 1e7
    l_end = result.l_end.cpu().numpy() * 1e7
    columns = {
        "l_start_1e-7": l_start,
        "l_end_1e-7": l_end,
        "relative_reduction": (l_start - l_end) / l_start,
    }
    if rank is not None:
        columns["spearman_to_target"] = np.asarray(rank, float)
    out = {
        "pairs": int(len(l_start)),
        "flipped": int((~kept).sum()),
        "label_kept": float(kept.mean()),
        "converged": float(result.converged.float().mean()),
    }
    for key, values in columns.items():
        out[f"{key}_all"] = (
            float(np.nanmean(values)) if np.isfinite(values).any() else float("nan")
        )
        kept_values = values[kept]
        finite = kept_values[
            np.isfinite(kept_values)
        ]  # a constant map has no rank correlation (NaN)
        if len(finite) < len(kept_values):
            out[f"{key}_undefined"] = int(len(kept_values) - len(finite))
        lo, hi = (
            bootstrap_ci(finite, n_boot=n_boot, seed=seed)
            if len(finite)
            else (float("nan"),) * 2
        )
        out[key] = float(finite.mean()) if len(finite) else float("nan")
        out[f"{key}_ci"] = [float(lo), float(hi)]
    return out


def rank_to_target(
    model: nn.Module,
    result: ManipulationResult,
    x_victims: torch.Tensor,
    x_targets: torch.Tensor,
    cfg: ManipulationConfig,
) -> np.ndarray:
    """Per pair, the Spearman correlation between the manipulated map (of the victim's predicted class) and
    the target map: the rank metric (1 = same ranking)."""

    with torch.no_grad():
        labels = model(x_victims).argmax(1)
    maps_adv = explanation_map(
        model,
        result.x_adv.to(x_victims.device),
        cfg.method,
        target=labels,
        **cfg.method_kwargs,
    )
    maps_t = explanation_map(model, x_targets, cfg.method, **cfg.method_kwargs)
    return spearman(maps_adv, maps_t).cpu().numpy()


def explanation_robustness(
    model: nn.Module,
    x_victims: torch.Tensor,
    x_targets: torch.Tensor,
    cfg: ManipulationConfig,
    progress: bool = False,
) -> tuple[ManipulationResult, dict]:
    """Attack every pair and summarise; see ``robustness_summary``."""
    result = manipulate(model, x_victims, x_targets, cfg, progress=progress)
    return result, robustness_summary(
        result, rank_to_target(model, result, x_victims, x_targets, cfg)
    )


def cluster_map_distances(
    maps: torch.Tensor, cluster_of: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """MSE (1e-7 units) between the explanation maps of every two distinct images, split into pairs of the
    same cluster (intra) and of different clusters (inter): the paper's argument for prototypes is that
    explanations within a cluster are alike, so a few prototypes stand for their cluster."""
    flat = maps.detach().flatten(1).double().cpu()
    cluster_of = np.asarray(cluster_of)
    if len(flat) != len(cluster_of):
        raise ConfigError(
            f"cluster_of has {len(cluster_of)} entries for {len(flat)} maps: expected one per map"
        )
    sq = (flat * flat).sum(1)
    d = (
        (sq[:, None] + sq[None, :] - 2 * flat @ flat.T).clamp_min(0) / flat.shape[1]
    ).numpy() * 1e7
    i, j = np.triu_indices(len(flat), k=1)
    same = cluster_of[i] == cluster_of[j]
    return d[i, j][same], d[i, j][~same]


# the robustness measures of a prototype attack, by column, and the sign that means "more robust"
ROBUSTNESS_MEASURES = {
    "l_end_1e-7": "L_end",
    "relative_reduction": "relative reduction",
    "spearman_to_target": "rank metric",
    "l_start_1e-7": "L_start",
}
ROBUST_SIGN = {
    "l_end_1e-7": 1,
    "relative_reduction": -1,
    "spearman_to_target": -1,
    "l_start_1e-7": 1,
}
