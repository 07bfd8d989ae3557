"""The motivation chapter's figures, tables and sentences (lib/report/motivation.py) and the study's table
helpers, on tiny hand-built inputs with known answers."""

from types import SimpleNamespace

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
import torch

from lib.measure.manipulate import ManipulationResult
from lib.report.motivation import (
    attack_sentence,
    attack_table,
    evidence_sentence,
    loss_vs_steps,
    manipulation_examples,
    noise_table,
    standard_sentence,
    steering_sentence,
)
from lib.report.style import FAMILY_STYLE
from lib.studies.motivation import l_end_above_standard, relative_loss_curves

NOISE_ROWS = ["victim (no change)", "random noise, same L2", "attack"]


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def noise_frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "MSE to target (1e-7)": [10.0, 9.5, 2.0],
            "cosine": [0.1, 0.12, 0.8],
            "Spearman": [0.05, 0.06, 0.7],
            "top-10% overlap": [0.1, 0.1, 0.5],
            "label kept": [1.0, 1.0, 0.9],
            "L2 size": [0.0, 0.412, 0.415],
        },
        index=NOISE_ROWS,
    )


def summary_frame(l_end: dict[str, float]) -> pd.DataFrame:
    rows = {
        label: {
            "pairs": 10.0,
            "flipped": 1.0,
            "label_kept": 0.9,
            "converged": 2.0,
            "l_start_1e-7": 10.0,
            "l_end_1e-7": end,
            "l_end_all_1e-7": end + 0.5,
            "relative_reduction": 1 - end / 10,
            "mean_steps": 100.0,
            "mean_linf": 0.0312,
            "mean_l2": 0.4,
            "seconds": 1.25,
        }
        for label, end in l_end.items()
    }
    return pd.DataFrame(rows).T.rename_axis("model")


def fake_result(trace: np.ndarray, l_start: np.ndarray) -> ManipulationResult:
    n = len(l_start)
    t = torch.as_tensor
    return ManipulationResult(
        x_adv=torch.zeros(n, 1, 4, 4),
        l_start=t(l_start),
        l_end=t(trace[-1] * l_start),
        steps=torch.full((n,), 3),
        converged=torch.zeros(n, dtype=torch.bool),
        label_kept=torch.ones(n, dtype=torch.bool),
        output_change=torch.zeros(n),
        linf=torch.zeros(n),
        l2=torch.zeros(n),
        trace=t(trace * l_start[None, :]),
    )


# ------------------------------------------------------------------------------------------------
# study helpers


def test_relative_loss_curves_are_median_and_quartiles_of_the_loss_over_its_start():
    trace = np.array(
        [[1.0, 1.0, 1.0], [0.5, 0.7, 0.9]]
    )  # relative to the start; 2 steps x 3 pairs
    res = fake_result(trace, np.array([2.0, 4.0, 8.0]))
    curves = relative_loss_curves(
        {"standard": res, "MAT": res}, [1, 10], {"standard": "standard"}
    )
    assert list(curves.columns) == ["model", "family", "step", "median", "q25", "q75"]
    assert len(curves) == 4
    last = curves[(curves["model"] == "standard") & (curves["step"] == 10)].iloc[0]
    assert last["median"] == pytest.approx(0.7)
    assert (last["q25"], last["q75"]) == (pytest.approx(0.6), pytest.approx(0.8))
    assert (
        curves.loc[curves["model"] == "MAT", "family"].isna().all()
    )  # no family given


def test_l_end_above_standard_compares_each_robust_model_with_the_standard_one():
    summary = summary_frame({"standard": 3.0, "TRADES β=8": 5.0, "MAT": 2.0})
    assert l_end_above_standard(summary) == {"TRADES β=8": True, "MAT": False}


# ------------------------------------------------------------------------------------------------
# figures


def test_loss_vs_steps_draws_one_line_and_band_per_model_in_its_family_colour():
    curves = pd.DataFrame(
        {
            "model": ["standard"] * 3 + ["MAT"] * 3,
            "family": ["standard"] * 3 + ["MAT"] * 3,
            "step": [1, 10, 100] * 2,
            "median": [1.0, 0.8, 0.6, 1.0, 0.9, 0.8],
            "q25": [1.0, 0.7, 0.5, 1.0, 0.8, 0.7],
            "q75": [1.0, 0.9, 0.7, 1.0, 1.0, 0.9],
        }
    )
    fig = loss_vs_steps(curves)
    assert isinstance(fig, plt.Figure)
    (ax,) = fig.axes
    lines = [ln for ln in ax.get_lines() if ln.get_label() in ("standard", "MAT")]
    assert [ln.get_label() for ln in lines] == ["standard", "MAT"]
    assert matplotlib.colors.same_color(lines[1].get_color(), FAMILY_STYLE["MAT"].color)
    assert len(ax.collections) == 2  # the two interquartile bands
    assert ax.get_xscale() == "log"
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("attack step", "L / L_start")
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["standard", "MAT"]


def test_manipulation_examples_has_six_panels_per_row_and_titles_the_labels():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(16, 3)).eval()
    x_v, x_t = torch.rand(4, 1, 4, 4), torch.rand(4, 1, 4, 4)
    x_adv = (x_v + 0.05 * torch.randn_like(x_v)).clamp(0, 1)
    fig = manipulation_examples(model, x_v, x_t, x_adv, "gradient", rows=2)
    assert len(fig.axes) == 12
    titles = [ax.get_title() for ax in fig.axes]
    assert (
        sum(t.startswith("label ") for t in titles) == 4
    )  # victim and manipulated image, per row
    assert [ax.get_xlabel() for ax in fig.axes[-6:]][0] == "victim"
    assert fig.axes[-1].get_xlabel() == "manipulated\nmap"


# ------------------------------------------------------------------------------------------------
# tables


def test_noise_table_names_the_inputs_and_the_measures():
    html = noise_table(noise_frame()).to_html()
    for text in ("input", "top-10 % overlap", "random noise, same L2", "9.500"):
        assert text in html


def test_attack_table_rounds_each_column_as_the_page_does():
    html = attack_table(summary_frame({"standard": 3.0, "MAT": 4.0})).to_html()
    for text in ("L_end, all", "rel. red.", "MAT", ">3.0<", ">0.70<", ">1<"):
        assert text in html


# ------------------------------------------------------------------------------------------------
# sentences


def test_attack_sentence_says_whether_pairs_stop_early():
    m = SimpleNamespace(
        steps=100, lr=0.001, pairs=8, method="gradient", window=100, rel_tol=0.01
    )
    assert "no early stopping" in attack_sentence(m)
    assert attack_sentence(m).startswith(
        "Attack: 100 Adam steps of size 0.001 on 8 pairs per model"
    )
    m.window = 10
    assert (
        "a pair stops when its loss has not improved by 1 % over 10 steps"
        in attack_sentence(m)
    )


def test_standard_sentence_reports_the_standard_models_numbers():
    summary = summary_frame({"standard": 3.0}).loc["standard"]
    text = standard_sentence(summary, noise_frame(), 0.75, 1.5, 10)
    assert "75 % of the 10 pairs" in text
    assert "(1 flipped)" in text  # a count, not '1.0'
    assert "falls from 10.0 to 3.0" in text
    assert "0.412 against the attack's 0.415) leaves it at 9.5" in text
    assert "is 0.031; 2 pairs met the stopping rule" in text
    assert "took 1.5 s" in text


def test_steering_sentence_follows_which_models_end_higher():
    both = steering_sentence({"TRADES β=8": True, "MAT": False})
    assert (
        "higher (explanations harder to steer) for TRADES β=8 and not higher for MAT."
        in both
    )
    none = steering_sentence({"TRADES β=8": False, "MAT": False})
    assert "for none of the robust models." in none
    assert "not higher" not in none
    every = steering_sentence({"TRADES β=8": True, "MAT": True})
    assert "for TRADES β=8, MAT." in every


def test_evidence_sentence_flips_with_beats_noise():
    evidence = pd.DataFrame(
        {
            "model": ["standard", "MAT"],
            "attack_removed": [0.8, 0.6],
            "noise_removed": [0.05, -0.02],
            "beats_noise": [True, True],
        }
    )
    yes = evidence_sentence(evidence)
    assert "standard: 80 % / 5 %; MAT: 60 % / -2 %" in yes
    assert (
        "On every model the attack moves the map towards the target far more than noise does"
        in yes
    )
    no = evidence_sentence(evidence.assign(beats_noise=[True, False]))
    assert "does not beat noise by a wide margin on every model" in no
    assert "far more than noise does" not in no
