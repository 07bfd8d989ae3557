import numpy as np
import pytest
import torch
from torch import nn

from lib.core.errors import ConfigError
from lib.measure.manipulate import ManipulationConfig
from lib.measure.prototypes import (
    Pairs,
    check_pairs_for,
    explanation_robustness,
    penultimate_features,
    select_pairs,
)


def _blobs(k=4, per=10, seed=0):
    rng = np.random.default_rng(seed)
    centres = rng.normal(scale=10, size=(k, 3))
    feats = np.concatenate([c + rng.normal(scale=0.5, size=(per, 3)) for c in centres])
    truth = np.repeat(np.arange(k), per)
    return feats, truth


def test_kmeans_recovers_separated_clusters_and_victims_are_nearest_the_centroid():
    feats, truth = _blobs()
    images = torch.rand(len(feats), 1, 4, 4)
    p = select_pairs(feats, 4, 3, seed=0, dataset="toy", images=images)
    # each found cluster is exactly one true blob
    for c in range(4):
        assert len(set(truth[p.cluster_of == c])) == 1
    assert len(p.victims) == 12 and (p.victim_cluster != p.target_cluster).all()
    for c in range(4):
        members = np.flatnonzero(p.cluster_of == c)
        centre = feats[members].mean(0)
        d = np.linalg.norm(feats[members] - centre, axis=1)
        nearest = set(members[np.argsort(d)[:3]])
        assert set(p.victims[p.victim_cluster == c]) == nearest
        # a target is the prototype (nearest member) of its cluster
        assert set(p.targets[p.target_cluster == c]) <= {members[np.argmin(d)]}


def test_pairs_are_seeded_and_round_trip():
    feats, _ = _blobs()
    images = torch.rand(len(feats), 1, 4, 4)
    a = select_pairs(
        feats, 4, 2, seed=1, dataset="toy", images=images, targets_per_victim=2
    )
    b = select_pairs(
        feats, 4, 2, seed=1, dataset="toy", images=images, targets_per_victim=2
    )
    assert np.array_equal(a.victims, b.victims) and np.array_equal(a.targets, b.targets)
    c = Pairs.from_dict(a.as_dict())
    assert np.array_equal(c.targets, a.targets) and c.fingerprint == a.fingerprint
    nxt = select_pairs(
        feats, 4, 1, seed=0, dataset="toy", images=images, pairing="next_cluster"
    )
    assert ((nxt.victim_cluster + 1) % 4 == nxt.target_cluster).all()


def test_bad_inputs_are_refused():
    feats, _ = _blobs(k=2, per=3)
    images = torch.rand(6, 1, 4, 4)
    with pytest.raises(ConfigError, match="n_clusters=7"):
        select_pairs(feats, 7, 1, 0, "toy", images)
    with pytest.raises(ConfigError, match="victims_per_cluster=5"):
        select_pairs(feats, 2, 5, 0, "toy", images)
    with pytest.raises(ConfigError, match="pairing='nearest'"):
        select_pairs(feats, 2, 1, 0, "toy", images, pairing="nearest")
    p = select_pairs(feats, 2, 1, 0, "toy", images)
    with pytest.raises(ConfigError, match="pairs.dataset='toy'"):
        check_pairs_for(p, "mnist", images)
    with pytest.raises(ConfigError, match="pairs.fingerprint"):
        check_pairs_for(p, "toy", torch.rand(6, 1, 4, 4))
    check_pairs_for(p, "toy", images)


def test_penultimate_features_are_the_last_linear_layers_input():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(16, 5), nn.Tanh(), nn.Linear(5, 3))
    x = torch.rand(7, 1, 4, 4)
    feats = penultimate_features(model, x, batch_size=3)
    assert np.allclose(
        feats, torch.tanh(model[1](x.flatten(1))).detach().numpy(), atol=1e-6
    )


def test_explanation_robustness_summarises_with_intervals():
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Flatten(), nn.Linear(16, 8), nn.Softplus(beta=5), nn.Linear(8, 3)
    ).eval()
    x = torch.rand(10, 1, 4, 4)
    result, s = explanation_robustness(
        model, x[:5], x[5:], ManipulationConfig(steps=30, lr=1e-2)
    )
    assert s["pairs"] == 5 and 0 <= s["label_kept"] <= 1
    for key in (
        "l_start_1e-7",
        "l_end_1e-7",
        "relative_reduction",
        "spearman_to_target",
    ):
        lo, hi = s[f"{key}_ci"]
        assert lo <= s[key] <= hi
    assert s["l_end_1e-7"] == pytest.approx(float(result.l_end.mean()) * 1e7)
