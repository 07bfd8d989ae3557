"""The start-loss-against-flatness analysis with known answers: a built-in link (L_end = L_start times a
noise factor) gives L_start most of log L_end's variance (the claim agrees) but the correlations alone read
'start loss' only inside an equivalence margin; a landscape that drives L_end through the reduction is found
as 'flatness', with its sign, and the start-loss claim disagrees; pooling ranks within each experiment so that scale differences between experiments do not
create a correlation."""

import numpy as np
import pandas as pd
import pytest

from lib.analysis.stats import AGREES, DISAGREES, INCONCLUSIVE
from lib.analysis.verdicts import (
    NO_CLEAR_ROLE,
    SHARPER_FURTHER,
    SHARPER_LESS,
    driver_verdict,
    flatness_role,
    start_loss_status,
)
from lib.core.errors import ConfigError
from lib.studies.drivers import driver_correlations, pooled_models, variance_shares


def synthetic(kind: str, n: int = 40, seed: int = 0):
    rng = np.random.default_rng(seed)
    rows, flat = [], []
    for e, scale in (
        ("mnist", 100.0),
        ("fashion-mnist", 1.0),
    ):  # two experiments 100x apart in scale
        for i in range(n):
            key = f"{e}-{i}"
            start = scale * rng.uniform(1, 10)
            sharp = rng.uniform(0, 1)
            reduction = (
                0.5 + 0.05 * rng.normal()
                if kind == "start"
                else 0.9 - 0.8 * sharp + 0.02 * rng.normal()
            )  # flatter keeps more of the way
            rows.append(
                {
                    "key": key,
                    "experiment": e,
                    "explanation": "gradient",
                    "l_start_1e-7": start,
                    "l_end_1e-7": start * (1 - reduction),
                    "relative_reduction": reduction,
                }
            )
            flat.append({"key": key, "expl:spectral": sharp})
    return pd.DataFrame(rows), pd.DataFrame(flat)


def test_a_built_in_link_reads_as_start_loss():
    rob, flat = synthetic("start")
    corr = driver_correlations(pooled_models(rob, flat, "expl:spectral"), n_boot=300)
    c = corr.set_index("question")
    assert c.loc["L_start ~ L_end", "lo"] > 0.8
    assert (
        c.loc["flatness ~ L_end | L_start", "lo"]
        < 0
        < c.loc["flatness ~ L_end | L_start", "hi"]
    )
    assert driver_verdict(corr) == INCONCLUSIVE  # not significant is not absent
    assert driver_verdict(corr, margin=0.5) == "start loss"
    assert flatness_role(corr).startswith(NO_CLEAR_ROLE)
    shares = variance_shares(pooled_models(rob, flat, "expl:spectral"), n_boot=300)
    assert shares["start_lo"] > 0.9 and start_loss_status(shares, 0.5) == AGREES


def test_flatness_through_the_reduction_reads_as_flatness_once_the_start_is_held_fixed():
    rob, flat = synthetic("flatness")
    rob["l_start_1e-7"] = rob.groupby("experiment")["l_start_1e-7"].transform(
        "mean"
    )  # same start within
    rob["l_start_1e-7"] += np.random.default_rng(1).normal(
        0, 1e-6, len(rob)
    )  # ties broken at random
    rob["l_end_1e-7"] = rob["l_start_1e-7"] * (1 - rob["relative_reduction"])
    corr = driver_correlations(pooled_models(rob, flat, "expl:spectral"), n_boot=300)
    c = corr.set_index("question")
    assert (
        c.loc["flatness ~ L_end | L_start", "lo"] > 0.5
    )  # sharper -> less reduction -> higher L_end
    assert c.loc["flatness ~ rel. reduction", "hi"] < -0.5
    assert driver_verdict(corr) == "flatness"
    assert flatness_role(corr) == f"{SHARPER_FURTHER}; {SHARPER_LESS}"
    shares = variance_shares(pooled_models(rob, flat, "expl:spectral"), n_boot=300)
    assert start_loss_status(shares, 0.5) == DISAGREES


def test_pooling_ranks_within_each_experiment():
    rob, flat = synthetic("start")
    pooled = pooled_models(rob, flat, "expl:spectral")
    for _, g in pooled.groupby("experiment"):
        assert g["l_start_1e-7_pct"].max() == 1.0 and g[
            "l_start_1e-7_pct"
        ].min() == pytest.approx(1 / len(g))
    assert len(pooled) == len(rob)


def test_bad_input_gives_one_line():
    rob, flat = synthetic("start", n=5)
    with pytest.raises(ConfigError, match="measure='nope'"):
        pooled_models(rob, flat, "nope")
    with pytest.raises(ConfigError, match="relative_reduction"):
        pooled_models(rob.drop(columns="relative_reduction"), flat, "expl:spectral")


def relation_with_pairs():
    """Two models: in 'a' L_end rises with L_start pair by pair (same reduction), in 'b' a pair that starts
    further gets more of the way (reduction rises with L_start)."""
    start = np.array([1.0, 2.0, 3.0, 4.0, 5.0])
    return pd.DataFrame(
        [
            {
                "key": "a",
                "experiment": "mnist",
                "explanation": "gradient",
                "pair_index": np.array([0, 1, 2, 3, 4]),
                "l_start_pairs": start,
                "l_end_pairs": 0.5 * start,
            },
            {
                "key": "b",
                "experiment": "mnist",
                "explanation": "gradient",
                "pair_index": np.array([0, 2, 4, 6, 8]),
                "l_start_pairs": start,
                "l_end_pairs": start * (1 - np.array([0.1, 0.3, 0.5, 0.7, 0.9])),
            },
        ]
    )


def test_pair_table_and_within_model_rank_correlations_have_known_answers():
    from lib.studies.drivers import pair_table, within_model, within_summary

    pairs = pair_table(relation_with_pairs())
    assert len(pairs) == 10 and list(pairs[pairs["key"] == "b"]["pair"]) == [
        0,
        2,
        4,
        6,
        8,
    ]
    assert np.allclose(pairs[pairs["key"] == "a"]["relative_reduction"], 0.5)
    w = within_model(pairs).set_index("key")
    assert w.loc["a", "rho_l_end"] == pytest.approx(1.0) and np.isnan(
        w.loc["a", "rho_reduction"]
    )  # constant reduction
    assert w.loc["b", "rho_reduction"] == pytest.approx(1.0)
    s = within_summary(w.reset_index()).iloc[0]
    assert s["models"] == 2 and s["positive_reduction"] == 0.5


def test_pair_flatness_maps_each_landscape_victim_to_its_pair():
    from lib.studies.drivers import pair_flatness, pair_table

    curv = pd.DataFrame(
        {
            "key": ["b", "b", "b"],
            "experiment": ["mnist"] * 3,
            "loss": ["expl_twin", "expl_twin", "ce"],
            "victim": [0, 1, 0],
            "spectral": [7.0, 9.0, 1.0],
        }
    )
    flat = pair_flatness(curv, {"mnist": [4, 8]})
    assert list(zip(flat["pair"], flat["flatness"])) == [(4, 7.0), (8, 9.0)]
    pairs = pair_table(relation_with_pairs(), flat)
    b = pairs[pairs["key"] == "b"].set_index("pair")["flatness"]
    assert b[4] == 7.0 and b[8] == 9.0 and b[[0, 2, 6]].isna().all()
