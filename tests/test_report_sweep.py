"""The sweep chapter's figures, tables and sentences (lib/report/sweep.py), the settings table and the
gradient-masking rule, on tiny hand-built inputs with known answers."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from lib.analysis.verdicts import MASKING_DROP, masking_suspected  # noqa: E402
from lib.core.profile import load_profile  # noqa: E402
from lib.report.style import ACCURACY_COLOR  # noqa: E402
from lib.report.sweep import (  # noqa: E402
    accuracy_line,
    accuracy_table,
    accuracy_vs_beta,
    compute_sentence,
    masking_sentence,
    masking_table,
    monitor_curves,
    plus_minus,
    settings_sentence,
    sweep_summary,
    training_curves,
)
from lib.studies.sweep import settings_table, summarize  # noqa: E402


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def sweep_table(
    pgd_by_beta: dict, mat: bool = True, seeds=(0, 1), experiment: str = "digits"
) -> pd.DataFrame:
    """A ``run_sweep``-like table: one row per (kind, seed), accuracy nudged by the seed."""
    rows = []
    kinds = [
        (
            "standard" if b == 0 else "TRADES",
            b,
            f"TRADES β={b:g}" if b else "standard",
            p,
        )
        for b, p in pgd_by_beta.items()
    ]
    if mat:
        kinds.append(("MAT", np.nan, "MAT", 0.45))
    for method, beta, kind, pgd in kinds:
        for seed in seeds:
            rows.append(
                {
                    "experiment": experiment,
                    "kind": kind,
                    "family": method,
                    "beta": beta,
                    "seed": seed,
                    "clean_acc": 0.9 - 0.01 * seed,
                    "pgd_acc": pgd + 0.02 * seed,
                    "train_seconds": 10.0 if method == "standard" else 40.0,
                }
            )
    return pd.DataFrame(rows)


def checks_frame(drops=(1.5, 7.25)) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "experiment": ["digits", "fashion"][: len(drops)],
            "kind": ["TRADES β=8", "MAT"][: len(drops)],
            "seed": [0, 0][: len(drops)],
            "clean_acc": [0.8, 0.7][: len(drops)],
            "pgd_acc": [0.5, 0.4][: len(drops)],
            "strong_pgd_acc": [0.5 - d / 100 for d in drops],
            "weak_attack": ["PGD-20"] * len(drops),
            "strong_attack": ["PGD-100 x 5 restarts"] * len(drops),
            "drop_points": list(drops),
        }
    )


# ------------------------------------------------------------------------------------------------
# the masking rule and the settings table


def test_masking_suspected_at_and_above_the_threshold_only():
    assert not masking_suspected(MASKING_DROP - 0.1)
    assert masking_suspected(MASKING_DROP)
    assert masking_suspected(12.0)
    assert not masking_suspected(
        -1.0
    )  # the stronger attack did better than nothing: no masking


def test_settings_table_has_one_column_per_experiment_once_transposed():
    profile = load_profile("smoke")
    table = settings_table(profile)
    assert list(table.index) == list(profile.run)
    assert table.index.name == "experiment"
    e = profile.experiment(profile.run[0])
    row = table.loc[profile.run[0]]
    assert row["epochs"] == e.train.epochs
    assert row["eval attack"].startswith(f"PGD-{e.eval.attack.steps}, step ")
    assert row["augmentation"] == ("crop + flip" if e.train.augment else "none")


# ------------------------------------------------------------------------------------------------
# figures


def test_accuracy_vs_beta_has_one_panel_per_experiment_and_mat_at_the_right():
    table = pd.concat(
        [
            sweep_table({0: 0.1, 1: 0.3, 4: 0.5}),
            sweep_table({0: 0.2, 2: 0.4}, mat=False, experiment="fashion"),
        ]
    )
    fig = accuracy_vs_beta(summarize(table), ["digits", "fashion"])
    assert len(fig.axes) == 2
    a, b = fig.axes
    assert [t.get_text() for t in a.get_xticklabels()] == ["0", "1", "4", "MAT"]
    assert [t.get_text() for t in b.get_xticklabels()] == ["0", "2"]
    assert (a.get_title(), b.get_title()) == ("digits", "fashion")
    assert (
        len(a.containers) == 4 and len(b.containers) == 2
    )  # clean/PGD x TRADES/MAT errorbars
    assert all(c.has_yerr for c in a.containers)  # two seeds: bars over seeds
    colors = {matplotlib.colors.to_hex(c.lines[0].get_color()) for c in a.containers}
    assert colors == {
        matplotlib.colors.to_hex(ACCURACY_COLOR[k]) for k in ("clean", "pgd")
    }
    legend = [t.get_text() for t in fig.legends[0].get_texts()]
    assert legend == ["clean (TRADES)", "clean (MAT)", "PGD (TRADES)", "PGD (MAT)"]


def test_accuracy_vs_beta_draws_no_bars_for_one_seed():
    fig = accuracy_vs_beta(
        summarize(sweep_table({0: 0.1, 1: 0.3}, seeds=(0,))), ["digits"]
    )
    assert not any(c.has_yerr for c in fig.axes[0].containers)


def test_training_curves_one_line_per_model_with_mat_in_black():
    hist = {
        "standard": [
            {"epoch": 1, "monitor_pgd_acc": 0.1},
            {"epoch": 2, "monitor_pgd_acc": 0.2},
        ],
        "MAT": [{"epoch": 1, "monitor_pgd_acc": 0.3}, {"epoch": 2}],
    }
    fig = training_curves(hist, "monitor_pgd_acc", "title")
    (ax,) = fig.axes
    lines = ax.get_lines()
    assert [ln.get_label() for ln in lines] == ["standard", "MAT"]
    assert lines[1].get_color() == "black"
    assert list(lines[0].get_ydata()) == pytest.approx([10.0, 20.0])
    assert np.isnan(lines[1].get_ydata()[1])  # a missing value is a gap
    assert ax.get_ylabel() == "monitor pgd acc (%)"
    mon = monitor_curves(hist, "digits", 3)
    assert mon.axes[0].get_title() == "digits: monitor PGD accuracy, seed 3"


# ------------------------------------------------------------------------------------------------
# tables


def test_plus_minus_shows_the_spread_only_with_several_seeds():
    assert plus_minus(0.912, 0.004) == "91.2\u2009±\u20090.4"
    assert plus_minus(0.912, float("nan")) == "91.2"


def test_accuracy_table_shows_mean_spread_and_range():
    html = accuracy_table(summarize(sweep_table({0: 0.1, 1: 0.3}))).to_html()
    for text in (
        "PGD range over seeds",
        "30.0–32.0",
        "89.5\u2009±\u20090.7",
        "TRADES β=1",
    ):
        assert text in html


def test_masking_table_shows_accuracies_in_percent():
    html = masking_table(checks_frame()).to_html()
    for text in ("PGD acc., stronger (%)", ">42.8<", ">7.2<", "PGD-100 x 5 restarts"):
        assert text in html


# ------------------------------------------------------------------------------------------------
# sentences


def test_settings_sentence_says_whether_mat_is_in():
    text = settings_sentence([0, 1], [0, 0.25, 8], True)
    assert text.startswith("Seeds [0, 1]; TRADES β 0, 0.25, 8; MAT included.")
    assert "MAT not included." in settings_sentence([0], [0, 1], False)


def test_accuracy_line_flips_with_the_monotonicity_verdict():
    summary = summarize(sweep_table({0: 0.1, 1: 0.3, 4: 0.5}))
    up = accuracy_line(summary, "digits", 0.3, True)
    assert up.startswith(
        "- **digits** (eps 0.3): standard training reaches 89.5 % clean and 11.0 % PGD"
    )
    assert (
        "TRADES β=4 reaches 89.5 % clean and 51.0 % PGD accuracy; MAT 89.5 % clean and 46.0 % PGD"
        in up
    )
    assert up.endswith("rises with β at every step (within one point).")
    down = accuracy_line(summary, "digits", 0.3, False)
    assert down.endswith("does **not** rise monotonically with β here (see the table).")
    no_mat = accuracy_line(
        summarize(sweep_table({0: 0.1, 1: 0.3}, mat=False)), "digits", 0.3, True
    )
    assert "MAT" not in no_mat


def test_compute_sentence_counts_models_and_time_per_kind():
    text = compute_sentence(sweep_table({0: 0.1, 1: 0.3}), 2)
    assert text.startswith(
        "The sweep holds 6 models (2 seed(s) each). Training them took 3.0 min of compute"
    )
    assert (
        "about 40 s per adversarially trained model and 10 s per standard one." in text
    )


def test_sweep_summary_has_one_bullet_per_experiment_then_the_compute():
    table = pd.concat(
        [
            sweep_table({0: 0.1, 1: 0.3}),
            sweep_table({0: 0.3, 1: 0.1}, mat=False, experiment="fashion"),
        ]
    )
    summary = summarize(table)
    text = sweep_summary(
        summary,
        table,
        {"digits": 0.3, "fashion": 0.1},
        {"digits": True, "fashion": False},
        2,
    )
    lines = text.split("\n")
    assert lines[0].startswith("- **digits**") and lines[1].startswith("- **fashion**")
    assert "not** rise" in lines[1] and "not** rise" not in lines[0]
    assert lines[2] == "" and lines[3].startswith("The sweep holds 10 models")


def test_masking_sentence_flips_with_the_rule():
    calm = masking_sentence(1.5, False)
    assert calm.startswith(
        "The stronger attack lowers PGD accuracy of the most robust model by at most 1.5 points."
    )
    assert "genuinely robust model" in calm
    alarm = masking_sentence(7.4, True)
    assert "at most 7.4 points" in alarm
    assert "gradient masking" in alarm and "genuinely" not in alarm
