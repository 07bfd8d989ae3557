"""The landscape chapter's figures and sentences on tiny hand-made tables: panels, lines and labels of each
figure, and sentences that follow their input."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import pandas as pd
import pytest
import torch

from lib.analysis.verdicts import landscape_parts, reading_shares, tracking_verdict
from lib.core.profile import load_profile
from lib.report import landscape as report
from lib.studies.landscape import KIND_MEASURES, kind_table, showcase


@pytest.fixture(autouse=True)
def _close():
    yield
    plt.close("all")


def raw_landscape(victims: int = 3, points: int = 5) -> dict:
    ts = torch.linspace(-0.1, 0.1, points)
    slices = {
        f"{loss}|{d}|0": torch.arange(victims * points, dtype=torch.float32).reshape(
            victims, points
        )
        ** 2
        for loss in ("ce", "expl", "expl_twin")
        for d in ("gaussian", "gradient_sign")
    }
    return {"ts": ts, "slices": slices}


MODELS = pd.DataFrame(
    {"key": ["a", "b", "c"], "kind": ["standard", "TRADES β=8", "MAT"]}
)
RAW = {k: raw_landscape() for k in MODELS["key"]}


def test_staircase_slices_draws_one_line_per_model_and_loss():
    fig = report.staircase_slices(RAW, MODELS.iloc[:2], 10.0)
    assert len(fig.axes) == 3
    assert [len(ax.lines) for ax in fig.axes] == [2, 2, 2]
    assert fig.axes[2].get_title() == "expl. loss, twin β=10"
    assert [t.get_text() for t in fig.axes[0].get_legend().get_texts()] == [
        "standard",
        "TRADES β=8",
    ]


def test_victim_slices_shift_every_victim_to_zero():
    fig = report.victim_slices(RAW, MODELS)
    assert len(fig.axes) == 4
    assert all(len(ax.lines) == 3 * 3 for ax in fig.axes)  # models x victims
    for line in fig.axes[0].lines:
        assert line.get_ydata()[2] == 0  # t = 0 is the middle point
    assert [t.get_text() for t in fig.axes[0].get_legend().get_texts()] == list(
        MODELS["kind"]
    )
    assert fig.axes[3].get_title() == "expl. loss (twin, 1e-7), gradient-sign"


def test_surfaces_one_row_per_model_with_colour_bars():
    surf = {
        "ts": torch.linspace(-1, 1, 4),
        **{k: torch.rand(1, 4, 4) for k in ("ce", "expl", "expl_twin")},
    }
    fig = report.surfaces([("standard", surf), ("TRADES β=8", surf)])
    assert len(fig.axes) == 2 * 3 * 2  # panels and their colour bars
    titles = [ax.get_title() for ax in fig.axes if ax.get_title()]
    assert titles[0] == "standard: CE" and titles[-1] == "TRADES β=8: expl. (twin)"


def kinds_table() -> pd.DataFrame:
    rows = [
        {
            "experiment": e,
            "loss": loss,
            "measure": m,
            "kind": k,
            "mean": 1.0,
            "lo": 0.5,
            "hi": 2.0,
        }
        for e in ("digits", "cifar")
        for loss in ("ce", "expl_twin")
        for m in KIND_MEASURES
        for k in ("standard", "TRADES β=1", "MAT")
    ]
    return pd.DataFrame(rows)


def test_flatness_by_kind_four_panels_of_one_experiment_and_loss():
    fig = report.flatness_by_kind(kinds_table(), "cifar", "expl_twin")
    assert len(fig.axes) == 4
    assert [ax.get_title() for ax in fig.axes] == list(report.KIND_TITLES.values())
    assert [t.get_text() for t in fig.axes[0].get_xticklabels()] == ["std", "1", "MAT"]
    assert (
        fig._suptitle.get_text()
        == "cifar, explanation loss (twin, 1e-7): flatness per model kind"
    )


INTERVALS = {
    "flattens": (-0.5, -0.9, -0.1),
    "sharpens": (0.5, 0.1, 0.9),
    "no clear relation": (0.0, -0.6, 0.6),
    "weak": (0.0, -0.2, 0.2),  # no clear relation, and inside the margin
}


def corr_table(ce_reading: str, expl_reading: str) -> pd.DataFrame:
    rows = []
    for loss, r in (("ce", ce_reading), ("expl_twin", expl_reading)):
        rho, lo, hi = INTERVALS[r]
        for col, m in (("spectral", "‖H‖₂"), ("frobenius", "‖H‖F")):
            rows.append(
                {
                    "experiment": "digits",
                    "against": "pgd_acc",
                    "column": f"{loss}:{col}",
                    "loss": loss,
                    "measure": m,
                    "models": 30,
                    "rho": rho,
                    "lo": lo,
                    "hi": hi,
                    "reading": "no clear relation" if r == "weak" else r,
                }
            )
    beta = pd.DataFrame(rows).assign(against="beta")
    return pd.concat([pd.DataFrame(rows), beta], ignore_index=True)


def test_flatness_intervals_one_row_per_correlation_against_pgd():
    fig = report.flatness_intervals(corr_table("flattens", "no clear relation"))
    labels = [t.get_text() for t in fig.axes[0].get_yticklabels()]
    assert labels == [
        "digits, CE: ‖H‖₂",
        "digits, CE: ‖H‖F",
        "digits, explanation loss: ‖H‖₂",
        "digits, explanation loss: ‖H‖F",
    ]


def test_readings_text_follows_the_readings():
    corr = corr_table("flattens", "weak")
    text = report.readings_text(corr, reading_shares(corr, 0.3), 0.3)
    assert text.count("\n- ") + text.startswith("- ") == 2
    assert "100 % of the intervals say CE **flattens**" in text
    assert "0 % say the explanation loss flattens" in text
    assert "100 % lie inside ±0.3" in text
    flipped = corr_table("no clear relation", "flattens")
    text = report.readings_text(flipped, reading_shares(flipped, 0.3), 0.3)
    assert "0 % of the intervals say CE" in text
    assert "100 % say the explanation loss flattens" in text


def test_verdict_text_gives_each_unit_its_parts_and_status():
    holds = report.verdict_text(
        landscape_parts(corr_table("flattens", "weak"), 0.3), 0.3
    )
    assert (
        "- **digits, ‖H‖₂** (30 models): part (1) CE ρ = -0.50 [-0.90, -0.10], agrees"
        in holds
    )
    assert "agrees (the interval lies inside ±0.3). Status: **agrees**." in holds
    assert (
        "Of 2 units with a reading, agreeing: 2; disagreeing: 0; inconclusive: 0."
        in holds
    )
    open_ = report.verdict_text(
        landscape_parts(corr_table("flattens", "no clear relation"), 0.3), 0.3
    )
    assert (
        "inconclusive (the interval is not inside ±0.3 and does not lie below 0)"
        in open_
    )
    assert "Status: **inconclusive**." in open_
    fails = report.verdict_text(
        landscape_parts(corr_table("no clear relation", "flattens"), 0.3), 0.3
    )
    assert (
        "part (1) CE ρ = +0.00 [-0.60, +0.60], inconclusive (the interval holds 0)"
        in fails
    )
    assert (
        "disagrees (the explanation loss flattens: the interval lies below 0)" in fails
    )
    assert "Status: **disagrees**." in fails
    sharp = report.verdict_text(
        landscape_parts(corr_table("sharpens", "weak"), 0.3), 0.3
    )
    assert "disagrees (CE sharpens: the interval lies above 0)" in sharp


def test_tracking_scatter_one_row_per_experiment_in_family_markers():
    joined = pd.DataFrame(
        {
            "experiment": ["digits"] * 3 + ["cifar"] * 3,
            "family": ["standard", "TRADES", "MAT"] * 2,
            "l_start_1e-7": [1.0, 2.0, 3.0] * 2,
            "expl_twin:spectral": [10.0, 20.0, 30.0] * 2,
            "l_end_1e-7": [5.0, 6.0, 7.0] * 2,
        }
    )
    fig = report.tracking_scatter(joined)
    assert len(fig.axes) == 4
    assert all(len(ax.collections) == 3 for ax in fig.axes)  # one scatter per family
    assert [ax.get_title() for ax in fig.axes] == ["digits", "digits", "cifar", "cifar"]
    assert [t.get_text() for t in fig.axes[0].get_legend().get_texts()] == [
        "standard",
        "TRADES",
        "MAT",
    ]


def track_table(start_clear: bool) -> pd.DataFrame:
    lo = 0.2 if start_clear else -0.2
    return pd.DataFrame(
        [
            {
                "experiment": "digits",
                "x": x,
                "robustness": "L_end",
                "rho": 0.5,
                "lo": low,
                "hi": 0.9,
            }
            for x, low in (
                ("l_start_1e-7", lo),
                ("expl_twin:spectral", -0.3),
                ("expl_twin:frobenius", -0.3),
            )
        ]
    ).assign(clear=lambda t: t["lo"] > 0)


def test_tracking_text_carries_the_correlations_and_the_verdict():
    t = track_table(True)
    text = report.tracking_text(t, tracking_verdict(t))
    assert "digits ρ = +0.50 [+0.20, +0.90] for L_start" in text
    assert "The starting value tracks L_end" in text
    t = track_table(False)
    text = report.tracking_text(t, tracking_verdict(t))
    assert "digits ρ = +0.50 [-0.20, +0.90] for L_start" in text and "Neither" in text


def test_cost_text_counts_models_and_convergence():
    curv = pd.DataFrame(
        {
            "key": ["a", "a", "b", "b"],
            "loss": ["ce", "expl_twin"] * 2,
            "seconds": [2.0, 2.0, 4.0, 4.0],
            "n_hvp": [10, 20, 30, 40],
            "eig_converged": [True, True, True, False],
        }
    )
    text = report.cost_text(curv)
    assert "all 2 models took 6.0 s (3.0 s per model" in text
    assert (
        "for 75 % of the victims" in text
        and "20 (CE) and 30 (explanation loss)" in text
    )


def test_settings_table_lists_the_profile_settings():
    t = report.settings_table(load_profile("smoke"))
    assert list(t.columns) == ["setting", "value"] and len(t) == 9
    assert (
        t.set_index("setting").loc["explanation", "value"]
        == load_profile("smoke").landscape.method
    )


def test_kind_table_and_showcase_on_a_tiny_table():
    base = {
        "experiment": "digits",
        "family": "TRADES",
        "beta": 1.0,
        "kind": "TRADES β=1",
    }
    flat = pd.DataFrame(
        [
            {
                **base,
                "key": k,
                "loss": loss,
                "direction": d,
                "measure": "abs_quadratic_coefficient",
                "value": v,
            }
            for k, v in (("a", 1.0), ("b", 3.0))
            for loss in ("ce", "expl_twin")
            for d in ("gaussian", "gradient_sign")
        ]
    )
    curv = pd.DataFrame(
        [
            {**base, "key": k, "loss": loss, "spectral": v, "frobenius": 2 * v}
            for k, v in (("a", 1.0), ("b", 3.0))
            for loss in ("ce", "expl_twin")
        ]
    )
    t = kind_table(flat, curv)
    assert len(t) == 2 * len(KIND_MEASURES)  # losses x measures, one kind
    assert set(t["measure"]) == set(KIND_MEASURES)
    assert t.set_index(["loss", "measure"]).loc[
        ("ce", "frobenius"), "mean"
    ] == pytest.approx(4.0)
    assert (t["models"] == 2).all()
    models = pd.DataFrame(
        {
            "experiment": ["digits"] * 3,
            "seed": [0, 0, 1],
            "kind": ["standard", "MAT", "standard"],
        }
    )
    assert list(showcase(models, "digits", 0, ("standard",)).index) == [0]
