"""The SEP curvature verdicts with known answers, on per-victim tables: SEP_pos below and SEP_neg above the
base on the same victims reads "agrees", with CE moving less; the wrong direction reads "disagrees"; a
missing role is read on the half present; a status that differs between the twin's betas is flagged."""

import numpy as np
import pandas as pd

from lib.analysis.verdicts import (
    beta_dependence,
    curvature_by_role,
    curvature_status,
    curvature_verdicts,
)
from lib.core.settings import SepConfig, TrainConfig
from lib.nn.kinds import ModelKind

VICTIM_SCALE = np.exp(
    np.linspace(-1.0, 1.0, 8)
)  # the victims' own curvature, shared by every model
WOBBLE = np.exp(
    0.05 * np.sin(np.arange(8) * 1.7)
)  # small per-victim deviations from the factor


def victims_table(
    expl: dict, ce: dict, beta: float = 10.0, seeds=(0, 1)
) -> pd.DataFrame:
    """Per-victim rows: each role's curvature is its factor times the victim's scale (times a wobble)."""
    rows = []
    for loss, values in (("expl_twin", expl), ("ce", ce)):
        for role, factor in values.items():
            for s in seeds:
                for v, scale in enumerate(VICTIM_SCALE):
                    wobble = WOBBLE[v] ** (s + 1) if role != "MAT" else 1.0
                    rows.append(
                        {
                            "experiment": "mnist",
                            "base": "MAT",
                            "twin_beta": beta,
                            "loss": loss,
                            "role": role,
                            "seed": s,
                            "victim": v,
                            "key": f"{role}{s}",
                            "spectral": factor * scale * wobble,
                            "eig_converged": True,
                        }
                    )
    return pd.DataFrame(rows)


def test_flatter_pos_sharper_neg_with_ce_still_agrees():
    v = curvature_verdicts(
        victims_table(
            {"SEP_pos": 10.0, "MAT": 50.0, "SEP_neg": 400.0},
            {"SEP_pos": 0.9, "MAT": 1.0, "SEP_neg": 1.2},
        ),
        n_boot=500,
    ).iloc[0]
    assert np.isclose(v["SEP_pos_expl_ratio"], 0.2, rtol=0.05)
    assert np.isclose(v["SEP_neg_expl_ratio"], 8.0, rtol=0.05)
    assert v["SEP_pos_status"] == "agrees" and v["SEP_neg_status"] == "agrees"
    assert v["SEP_pos_ce_less"] == "agrees" and v["SEP_neg_ce_less"] == "agrees"
    assert v["status"] == "agrees" and v["status_converged"] == "agrees"


def test_the_wrong_direction_disagrees_and_ce_moving_more_does_not_change_the_status():
    v = curvature_verdicts(
        victims_table(
            {"SEP_pos": 60.0, "MAT": 50.0, "SEP_neg": 40.0},
            {"SEP_pos": 1.0, "MAT": 1.0, "SEP_neg": 1.0},
        ),
        n_boot=500,
    ).iloc[0]
    assert v["status"] == "disagrees" and v["SEP_pos_status"] == "disagrees"
    v = curvature_verdicts(
        victims_table(
            {"SEP_pos": 40.0, "MAT": 50.0, "SEP_neg": 60.0},
            {"SEP_pos": 0.1, "MAT": 1.0, "SEP_neg": 10.0},
        ),
        n_boot=500,
    ).iloc[0]
    assert v["SEP_pos_ce_less"] == "disagrees" and v["status"] == "agrees"


def test_a_missing_role_is_read_on_the_half_present():
    v = curvature_verdicts(
        victims_table({"MAT": 50.0, "SEP_neg": 400.0}, {"MAT": 1.0, "SEP_neg": 1.1}),
        n_boot=500,
    ).iloc[0]
    assert np.isnan(v["SEP_pos_expl_ratio"]) and v["SEP_pos_status"] is None
    assert v["status"] == "agrees"
    assert curvature_status([]) is None


def test_a_status_that_changes_with_beta_is_flagged():
    t = pd.concat(
        [
            victims_table(
                {"SEP_pos": 10.0, "MAT": 50.0}, {"SEP_pos": 1.0, "MAT": 1.0}, beta=10.0
            ),
            victims_table(
                {"SEP_pos": 60.0, "MAT": 50.0}, {"SEP_pos": 1.0, "MAT": 1.0}, beta=100.0
            ),
        ]
    )
    dep = beta_dependence(curvature_verdicts(t, n_boot=500)).iloc[0]
    assert (
        dep["beta 10"] == "agrees"
        and dep["beta 100"] == "disagrees"
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
