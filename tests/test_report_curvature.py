"""The curvature chapter's figures and sentences with known answers: each figure has one row of panels per
experiment and one artist per role or beta; each sentence follows its input."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

from lib.report.curvature import (
    beta_text,
    curvature_text,
    lambda_curve_figure,
    ratio_text,
    slices_figure,
    spectral_norms_figure,
    surface_experiments,
    surface_figure,
)
from lib.report.style import ROLE_COLOR

ROLES = ("standard", "SEP_pos", "MAT", "SEP_neg")


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def spectral_table(experiments=("a", "b"), betas=(10.0, 100.0)) -> pd.DataFrame:
    rows = []
    for e in experiments:
        for beta in betas:
            for loss in ("expl_twin", "ce"):
                for i, role in enumerate(ROLES):
                    m = 10.0 * (i + 1)
                    rows.append(
                        {
                            "experiment": e,
                            "base": "MAT",
                            "twin_beta": beta,
                            "loss": loss,
                            "role": role,
                            "mean": m,
                            "lo": m / 2,
                            "hi": m * 2,
                        }
                    )
    return pd.DataFrame(rows)


def test_spectral_norms_figure_has_two_panels_per_experiment_and_one_errorbar_per_beta():
    fig = spectral_norms_figure(spectral_table())
    axes = fig.axes
    assert len(axes) == 4
    assert [ax.get_title() for ax in axes] == [
        "a: old: explanation loss",
        "a: cross-entropy",
        "b: old: explanation loss",
        "b: cross-entropy",
    ]
    assert all(len(ax.containers) == 2 for ax in axes)  # one errorbar per twin beta
    assert [t.get_text() for t in axes[0].get_yticklabels()] == list(ROLES)
    assert axes[0].get_xscale() == "log"
    assert axes[0].get_xlabel().endswith("(1e-7)") and not axes[
        1
    ].get_xlabel().endswith("(1e-7)")
    assert [t.get_text() for t in axes[0].get_legend().get_texts()] == [
        "twin β = 10",
        "twin β = 100",
    ]


def test_lambda_curve_figure_draws_one_line_per_beta_sorted_by_lambda():
    rows = [
        {
            "experiment": "a",
            "twin_beta": b,
            "loss": loss,
            "lam": lam,
            "spectral": 1.0 + abs(lam),
        }
        for b in (10.0, 100.0)
        for loss in ("expl_twin", "ce")
        for lam in (0.5, -0.1, 0.0, 0.1)
    ]
    fig = lambda_curve_figure(pd.DataFrame(rows))
    assert len(fig.axes) == 2
    lines = fig.axes[0].get_lines()
    assert len(lines) == 2
    assert list(lines[0].get_xdata()) == [-0.1, 0.0, 0.1, 0.5]
    assert fig.axes[0].get_xscale() == "symlog" and fig.axes[0].get_yscale() == "log"


def test_slices_figure_draws_each_role_in_its_colour():
    ts = np.linspace(-1, 1, 5)
    rows = [
        {"experiment": e, "role": role, "loss": loss, "t": t, "value": 1.0 + t**2}
        for e in ("a", "b", "c")
        for role in ("SEP_pos", "MAT", "SEP_neg")
        for loss in ("expl_twin", "ce")
        for t in ts
    ]
    fig = slices_figure(pd.DataFrame(rows))
    assert len(fig.axes) == 6
    lines = fig.axes[0].get_lines()
    assert [ln.get_label() for ln in lines] == ["SEP_pos", "MAT", "SEP_neg"]
    assert [matplotlib.colors.to_hex(ln.get_color()) for ln in lines] == [
        matplotlib.colors.to_hex(ROLE_COLOR[r]) for r in ("SEP_pos", "MAT", "SEP_neg")
    ]
    assert fig.axes[0].get_yscale() == "log" and fig.axes[1].get_yscale() == "linear"


def test_surface_figure_has_one_panel_per_role_and_a_shared_colour_bar():
    t = np.linspace(-1, 1, 4)
    surfaces = {
        ("a", role): {"ts": t, "grid": np.outer(t, t) * k}
        for k, role in enumerate(("SEP_pos", "MAT"), 1)
    }
    surfaces[("b", "MAT")] = {"ts": t, "grid": np.ones((4, 4))}
    assert surface_experiments(surfaces) == ["a", "b"]
    fig = surface_figure(surfaces, "a", 10.0)
    panels = [ax for ax in fig.axes if ax.get_title()]
    assert [ax.get_title() for ax in panels] == ["SEP_pos", "MAT"]
    assert len(fig.axes) == 3  # two panels and the colour bar
    assert "twin β = 10" in fig._suptitle.get_text()


def verdict_row(
    pos: float,
    neg: float,
    status: str = "agrees",
    beta: float = 10.0,
    pos_status: str = "agrees",
    neg_status: str = "inconclusive",
    status_converged: str | None = None,
) -> dict:
    return {
        "experiment": "a",
        "base": "MAT",
        "twin_beta": beta,
        "SEP_pos_expl_ratio": pos,
        "SEP_pos_expl_lo": pos * 0.8,
        "SEP_pos_expl_hi": pos * 1.2,
        "SEP_pos_status": pos_status,
        "SEP_pos_ce_ratio": 1.01,
        "SEP_pos_ce_lo": 0.9,
        "SEP_pos_ce_hi": 1.1,
        "SEP_pos_ce_less": "agrees",
        "SEP_neg_expl_ratio": neg,
        "SEP_neg_expl_lo": neg * 0.5,
        "SEP_neg_expl_hi": neg * 2,
        "SEP_neg_status": neg_status,
        "SEP_neg_ce_ratio": 0.99,
        "SEP_neg_ce_lo": 0.9,
        "SEP_neg_ce_hi": 1.1,
        "SEP_neg_ce_less": "inconclusive",
        "status": status,
        "status_converged": status if status_converged is None else status_converged,
        "changed": status_converged is not None and status_converged != status,
    }


def test_ratio_text_gives_the_interval_and_the_half_status_and_says_when_a_role_is_missing():
    r = pd.DataFrame([verdict_row(0.5, 2.0)]).iloc[0]
    assert ratio_text(r, "SEP_pos") == (
        "SEP_pos ×0.5 [0.4, 0.6] of the base: flatter than the base (agrees); "
        "CE ×1.01 [0.9, 1.1], CE moves less"
    )
    assert ratio_text(r, "SEP_neg").startswith(
        "SEP_neg ×2 [1, 4] of the base: no clear change (inconclusive); CE ×0.99"
    )
    assert ratio_text(r, "SEP_neg").endswith("whether CE moves less is inconclusive")
    flipped = pd.DataFrame(
        [verdict_row(2.0, 0.5, pos_status="disagrees", neg_status="disagrees")]
    ).iloc[0]
    assert "sharper than the base (against the paper) (disagrees)" in ratio_text(
        flipped, "SEP_pos"
    )
    assert "flatter than the base (against the paper)" in ratio_text(flipped, "SEP_neg")
    missing = pd.DataFrame([verdict_row(np.nan, 2.0)]).iloc[0]
    assert ratio_text(missing, "SEP_pos") == "no SEP_pos"


def test_beta_text_names_the_blocks_whose_status_changes():
    same = pd.DataFrame([{"experiment": "a", "base": "MAT", "same": True}])
    assert beta_text(same).startswith("The status is the same at both twin betas")
    changed = pd.DataFrame(
        [
            {"experiment": "a", "base": "MAT", "same": True},
            {"experiment": "b", "base": "TRADES", "same": False},
        ]
    )
    text = beta_text(changed)
    assert text.startswith(
        "The status changes with the twin's beta in b (base TRADES):"
    )
    assert "a (base" not in text


def test_curvature_text_lists_every_block_the_convergence_and_the_converged_reading():
    verdicts = pd.DataFrame(
        [
            verdict_row(0.5, 2.0),
            verdict_row(2.0, 0.5, "disagrees", beta=100.0, pos_status="disagrees"),
        ]
    )
    dep = pd.DataFrame([{"experiment": "a", "base": "MAT", "same": False}])
    text = curvature_text(verdicts, dep, {10.0: 1.0, 100.0: 0.5}, 60)
    assert "**a, base MAT, twin β = 10:** SEP_pos ×0.5" in text
    assert "Status: **agrees**." in text and "Status: **disagrees**." in text
    assert (
        "100 % of the victims at twin β = 10, 50 % of the victims at twin β = 100"
        in text
    )
    assert "cap of 60 operator calls" in text
    assert "changes with the twin's beta" in text
    assert "every block keeps its status" in text
    verdicts = pd.DataFrame([verdict_row(0.5, 2.0, status_converged="inconclusive")])
    text = curvature_text(verdicts, dep, {10.0: 0.5}, 60)
    assert (
        "the status changes in a (base MAT, twin β = 10): agrees → inconclusive" in text
    )
