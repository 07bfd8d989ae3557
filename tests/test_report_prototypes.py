"""The prototype chapter's figures and sentences on tiny hand-made results: the figures' axes, artists and
labels, and sentences that follow their input."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from lib.report import prototypes as report  # noqa: E402
from lib.report.style import FAMILY_STYLE  # noqa: E402
from lib.studies.prototypes import Validation, cost_table  # noqa: E402


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def validation(n_models: int = 3, seeds: int = 2, resamples: int = 10) -> Validation:
    truth = np.arange(1.0, n_models + 1)
    kinds = ["standard"] + [f"TRADES β={b}" for b in range(1, n_models - 1)] + ["MAT"]
    return Validation(
        models=pd.DataFrame({"kind": kinds[:n_models], "seconds": [1.0] * n_models}),
        prototype={
            m: np.tile(truth[:, None], (1, seeds))
            for m in ("l_end_1e-7", "relative_reduction")
        },
        random={
            m: np.tile(truth[:, None], (1, resamples)) * 1.1
            for m in ("l_end_1e-7", "relative_reduction")
        },
        all_pairs={m: truth for m in ("l_end_1e-7", "relative_reduction")},
        n_images=4,
        n_pairs_all=12,
        n_pairs_subset=2,
    )


def sweep_table() -> pd.DataFrame:
    rows = [("standard", 0.1), ("TRADES", 0.3), ("TRADES", 0.5), ("MAT", 0.6)]
    return pd.DataFrame(
        {
            "family": [m for m, _ in rows],
            "pgd_acc": [a for _, a in rows],
            "l_end_1e-7": [1.0, 2.0, 3.0, 4.0],
            "relative_reduction": [0.5, 0.4, 0.3, 0.2],
            "l_start_1e-7": [2.0, 3.0, 4.0, 5.0],
        }
    )


def corr_rows(readings: dict[str, str]) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                "experiment": "digits",
                "explanation": "gradient",
                "against": "pgd_acc",
                "measure": m,
                "rho": 0.5,
                "lo": 0.1,
                "hi": 0.9,
                "reading": r,
            }
            for m, r in readings.items()
        ]
    )


# ------------------------------------------------------------------------------------------------
# figures


def test_cluster_grid_has_one_column_per_cluster_and_image_and_map_rows():
    clusters = [(np.zeros((3, 4, 4)), np.ones((3, 4, 4))) for _ in range(2)]
    fig = report.cluster_grid(clusters)
    assert len(fig.axes) == 6 * 2
    assert [ax.get_title() for ax in fig.axes[:2]] == ["0", "1"]
    assert (
        fig.axes[0].get_ylabel() == "images" and fig.axes[3 * 2].get_ylabel() == "maps"
    )
    assert all(len(ax.images) == 1 for ax in fig.axes)
    assert fig.get_size_inches()[0] <= 8


def test_cluster_distances_draws_two_boxes_per_model_and_names_them():
    rng = np.random.default_rng(0)
    samples = {
        ("digits", f"digits: {m}", "gradient"): (
            rng.random(20) + 0.1,
            rng.random(20) + 1,
        )
        for m in ("standard", "MAT")
    }
    fig = report.cluster_distances(samples)
    (ax,) = fig.axes
    assert [t.get_text() for t in ax.get_xticklabels()] == [
        "digits\nstandard\ngradient",
        "digits\nMAT\ngradient",
    ]
    assert (
        len(ax.patches) == 4
    )  # patch_artist boxes: same and different cluster per model
    assert [t.get_text() for t in ax.get_legend().get_texts()] == [
        "same cluster",
        "different clusters",
    ]
    assert ax.get_yscale() == "log"


def test_validation_estimates_has_two_panels_per_experiment():
    fig = report.validation_estimates(
        {"digits": validation(3), "fashion": validation(4)}
    )
    assert len(fig.axes) == 4
    assert [ax.get_title() for ax in fig.axes] == [
        "digits: mean L_end (1e-7)",
        "digits: mean rel. reduction",
        "fashion: mean L_end (1e-7)",
        "fashion: mean rel. reduction",
    ]
    assert [t.get_text() for t in fig.axes[0].get_xticklabels()] == [
        "standard",
        "β=1",
        "MAT",
    ]
    assert len(fig.axes[2].get_xticklabels()) == 4
    # one scatter of prototype estimates per model and one of the all-pairs bars, beside the violins
    assert len(fig.axes[0].collections) == 3 + 1 + 3
    assert [t.get_text() for t in fig.axes[0].get_legend().get_texts()] == [
        "prototype rule",
        "all pairs",
    ]


def test_attack_cost_plots_all_pairs_and_prototypes_in_both_panels():
    timing = pd.DataFrame({"pairs": [10, 100], "seconds_per_step": [1.0, 2.0]})
    cost = cost_table(timing, n_pairs=55, steps=10, images=(5, 10, 100))
    fig = report.attack_cost(cost, 55, 10)
    assert len(fig.axes) == 2
    for ax in fig.axes:
        assert len(ax.lines) == 2 and all(
            len(line.get_xdata()) == 3 for line in ax.lines
        )
    assert fig.axes[1].get_ylabel() == "minutes per model (10 steps)"
    assert [t.get_text() for t in fig.axes[0].get_legend().get_texts()] == [
        "all ordered pairs",
        "prototypes (55 pairs)",
    ]
    np.testing.assert_allclose(
        fig.axes[1].lines[1].get_ydata(), [15.0 / 60] * 3
    )  # 55 pairs: 1.5 s per step


def test_explanation_vs_pgd_scatters_each_family_in_its_style():
    fig = report.explanation_vs_pgd(sweep_table(), "digits", "gradient")
    assert len(fig.axes) == 3
    assert [ax.get_ylabel() for ax in fig.axes] == [
        "L_end (1e-7)",
        "rel. reduction",
        "L_start (1e-7)",
    ]
    assert [ax.get_yscale() for ax in fig.axes] == ["log", "linear", "log"]
    assert all(len(ax.collections) == len(FAMILY_STYLE) for ax in fig.axes)
    assert [t.get_text() for t in fig.axes[0].get_legend().get_texts()] == list(
        FAMILY_STYLE
    )
    assert [len(c.get_offsets()) for c in fig.axes[0].collections] == [1, 2, 1]
    assert fig._suptitle.get_text() == "digits, gradient: each model of the sweep"


def test_pgd_correlations_labels_each_row_with_its_measure():
    corr = corr_rows({"l_end_1e-7": "rises", "relative_reduction": "falls"})
    fig = report.pgd_correlations(corr)
    labels = [t.get_text() for t in fig.axes[0].get_yticklabels()]
    assert labels == ["digits, gradient: L_end", "digits, gradient: relative reduction"]


# ------------------------------------------------------------------------------------------------
# sentences


def test_distance_sentence_flips_at_the_loose_threshold():
    dist = pd.DataFrame({"ratio": [1.2, 1.5], "p_intra_closer": [0.6, 0.8]})
    loose = report.distance_sentence(dist)
    assert (
        "1.20 to 1.50 times" in loose
        and "60 % to 80 %" in loose
        and "only loosely" in loose
    )
    clear = report.distance_sentence(dist.assign(p_intra_closer=[0.8, 0.9]))
    assert "group explanations clearly" in clear and "loosely" not in clear


def test_short_attack_sentence_follows_the_order_and_the_ratios():
    check = pd.DataFrame({"ratio": [1.1, 1.3]})
    same = report.short_attack_sentence(check, True, 50, 1500)
    assert (
        "(50 steps against 1500)" in same
        and "1.10 to 1.30 times" in same
        and "in the same order" in same
    )
    assert "a different order" in report.short_attack_sentence(check, False, 50, 1500)


def test_verdict_sentence_counts_rises_and_lists_disagreements():
    start = pd.DataFrame({"reading": ["rises", "no clear relation", "rises"]})
    agree = report.verdict_sentence(start, [])
    assert (
        "in 2 of 3 experiment-method groups" in agree
        and "read the same way in every group" in agree
    )
    split = report.verdict_sentence(
        start, ["digits, gradient (L_end: rises, relative reduction: falls)"]
    )
    assert "disagree in 1 of the 3 groups (digits, gradient (L_end: rises" in split
    assert "same way" not in split


def test_validation_lines_name_the_measure_and_the_comparison():
    verdicts = pd.DataFrame(
        [
            {
                "experiment": "digits",
                "measure": "l_end_1e-7",
                "prototype_error": 0.05,
                "random_error": 0.1,
                "prototype_rho": 0.9,
                "random_rho": 1.0,
                "error": "smaller",
                "ranking": "less well than",
            }
        ]
    )
    (line,) = report.validation_lines(verdicts).splitlines()
    assert line.startswith(
        "- **digits, L_end:** the prototype estimate's median error (5 %) is smaller"
    )
    assert "ranks the models less well than a random subset (ρ 0.90 vs 1.00)" in line
    relative = report.validation_lines(verdicts.assign(measure="relative_reduction"))
    assert relative.startswith("- **digits, relative reduction:**")


def test_validation_intro_reads_the_pool_and_the_time():
    text = report.validation_intro(
        {"digits": validation(3), "fashion": validation(3)}, 120.0
    )
    assert text.startswith(
        "On digits, fashion: all 12 ordered pairs of 4 test images per experiment (2.0 min"
    )
    assert "3 models per experiment), against estimates from 2 pairs:" in text


def test_cost_sentence_reads_100_and_1000_images():
    timing = pd.DataFrame({"pairs": [10, 100], "seconds_per_step": [1.0, 2.0]})
    text = report.cost_sentence(cost_table(timing, n_pairs=10, steps=1), 10)
    # 10 pairs: 1 s; 100 images: 9900 pairs at 0.02 s per pair-step = 198 s; 1,000: 19980 s
    assert (
        "about 1.0 s on the prototypes, against about 3.3 min for all pairs of 100 images and 5.5 h"
        in text
    )


def test_correlation_lines_give_each_group_and_l_start():
    corr = corr_rows(
        {"l_end_1e-7": "rises", "relative_reduction": "falls", "l_start_1e-7": "rises"}
    )
    lines = report.correlation_lines(corr).splitlines()
    assert lines[0] == (
        "- **digits, gradient.** Explanation robustness as PGD accuracy grows, by L_end: **rises** "
        "(ρ = +0.50 [+0.10, +0.90]); by relative reduction: **falls** (ρ = +0.50 [+0.10, +0.90])."
    )
    assert lines[-1].startswith(
        "**L_start against PGD accuracy** (the loss before any attack): digits, gradient"
    )


def test_attack_summary_and_cluster_caption_read_their_numbers():
    table = pd.DataFrame(
        {"seconds": [2.0, 4.0], "label_kept": [0.9, 0.75], "plateaued": [0.5, 0.3]}
    )
    text = report.attack_summary(table)
    assert (
        "3.0 s per model and method on average, 6.0 s for all 2 model-method combinations"
        in text
    )
    assert (
        "at least 75 % of the pairs" in text
        and "On average 40 % of the pairs had plateaued" in text
    )
    assert report.cluster_caption("digits", 0.875).endswith("most common label): 88 %.")
