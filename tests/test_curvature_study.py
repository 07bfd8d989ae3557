"""The SEP curvature verdicts with known answers: SEP_pos below and SEP_neg above the base, CE barely moving,
reads 'as intended'; the wrong direction reads 'against'; a missing role is read on the half present; a
reading that differs between the twin's betas is flagged."""

import numpy as np
import pandas as pd

from lib.analysis.verdicts import (
    beta_dependence,
    curvature_by_role,
    curvature_reading,
    curvature_verdicts,
)
from lib.core.settings import SepConfig, TrainConfig
from lib.nn.kinds import ModelKind


def roles_table(
    expl: dict, ce: dict, beta: float = 10.0, spread: float = 0.1
) -> pd.DataFrame:
    rows = []
    for loss, values in (("expl_twin", expl), ("ce", ce)):
        for role, m in values.items():
            rows.append(
                {
                    "experiment": "mnist",
                    "base": "MAT",
                    "twin_beta": beta,
                    "loss": loss,
                    "role": role,
                    "mean": m,
                    "lo": m * (1 - spread),
                    "hi": m * (1 + spread),
                }
            )
    return pd.DataFrame(rows)


def test_flatter_pos_sharper_neg_with_ce_still_reads_as_intended():
    v = curvature_verdicts(
        roles_table(
            {"SEP_pos": 10.0, "MAT": 50.0, "SEP_neg": 400.0},
            {"SEP_pos": 0.9, "MAT": 1.0, "SEP_neg": 1.2},
        )
    ).iloc[0]
    assert v["SEP_pos_expl_ratio"] == 0.2 and v["SEP_neg_expl_ratio"] == 8.0
    assert (
        v["SEP_pos_intended"]
        and v["SEP_neg_intended"]
        and v["SEP_pos_apart"]
        and v["SEP_neg_apart"]
    )
    assert v["ce_moves_less"] and v["reading"] == "as intended"


def test_the_wrong_direction_reads_against_and_ce_moving_more_is_not_as_intended():
    v = curvature_verdicts(
        roles_table(
            {"SEP_pos": 60.0, "MAT": 50.0, "SEP_neg": 40.0},
            {"SEP_pos": 1.0, "MAT": 1.0, "SEP_neg": 1.0},
        )
    ).iloc[0]
    assert (
        v["reading"] == "against"
        and not v["SEP_pos_intended"]
        and not v["SEP_neg_apart"]
    )
    v = curvature_verdicts(
        roles_table(
            {"SEP_pos": 40.0, "MAT": 50.0, "SEP_neg": 60.0},
            {"SEP_pos": 0.1, "MAT": 1.0, "SEP_neg": 10.0},
        )
    ).iloc[0]
    assert not v["ce_moves_less"] and v["reading"] == "partly"


def test_a_missing_role_is_read_on_the_half_present():
    v = curvature_verdicts(
        roles_table({"MAT": 50.0, "SEP_neg": 400.0}, {"MAT": 1.0, "SEP_neg": 1.1})
    ).iloc[0]
    assert np.isnan(v["SEP_pos_expl_ratio"]) and v["SEP_pos_intended"] is None
    assert v["reading"] == "as intended"
    assert curvature_reading([], None) == "not tested"


def test_a_reading_that_changes_with_beta_is_flagged():
    t = pd.concat(
        [
            roles_table(
                {"SEP_pos": 10.0, "MAT": 50.0}, {"SEP_pos": 1.0, "MAT": 1.0}, beta=10.0
            ),
            roles_table(
                {"SEP_pos": 60.0, "MAT": 50.0}, {"SEP_pos": 1.0, "MAT": 1.0}, beta=100.0
            ),
        ]
    )
    dep = beta_dependence(curvature_verdicts(t)).iloc[0]
    assert (
        dep["beta 10"] == "as intended"
        and dep["beta 100"] == "against"
        and not dep["same"]
    )


def test_by_role_means_over_every_victim_of_every_seed_and_leaves_the_lambda_sweep_out():
    rows = []
    for role, key, values in (
        ("MAT", "a", [1.0, 3.0]),
        ("MAT", "b", [5.0, 7.0]),
        ("lambda sweep", "c", [99.0]),
    ):
        for i, v in enumerate(values):
            rows.append(
                {
                    "experiment": "mnist",
                    "base": "MAT",
                    "twin_beta": 10.0,
                    "loss": "ce",
                    "role": role,
                    "key": key,
                    "victim": i,
                    "spectral": v,
                    "eig_converged": True,
                }
            )
    out = curvature_by_role(pd.DataFrame(rows), n_boot=200)
    assert len(out) == 1 and out.iloc[0]["mean"] == 4.0 and out.iloc[0]["seeds"] == 2
    assert out.iloc[0]["lo"] <= 4.0 <= out.iloc[0]["hi"]


def test_a_sep_model_trained_on_another_method_says_so_in_its_label():
    t = TrainConfig(method="mat", sep=SepConfig(lam=5e4, method="grad_x_input"))
    assert ModelKind.of(t).label == "SEP λ=+5e+04 (grad_x_input)"
    assert (
        ModelKind.of(TrainConfig(method="mat", sep=SepConfig(lam=5e4))).label
        == "SEP λ=+5e+04"
    )
