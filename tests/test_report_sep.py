"""The SEP chapter's figures and sentences (lib.report.sep) with known answers on tiny tables."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

from lib.analysis.verdicts import sep_order_verdicts
from lib.core.profile import load_profile
from lib.report import sep as report
from lib.report.style import ROLE_COLOR


@pytest.fixture(autouse=True)
def _close():
    yield
    plt.close("all")


def sweep():
    return pd.DataFrame(
        {
            "experiment": "digits",
            "lam": [-3e3, 0.0, 2e3, 5e4],
            "clean_acc": [0.7, 0.5, 0.8, 0.1],
            "pgd_acc": [0.3, 0.3, 0.45, 0.1],
            "l_f_1e-7": [2000.0, np.nan, 800.0, np.nan],
            "l_start_1e-7": [6000.0, 6300.0, 4000.0, np.nan],
            "l_end_1e-7": [3600.0, 4200.0, 2900.0, np.nan],
            "relative_reduction": [0.4, 0.33, 0.27, np.nan],
            "collapsed": ["", "", "", "clean accuracy 0.1 at chance (1/10)"],
        }
    )


def roles(l_end=(100.0, 200.0, 400.0), pgd=(0.60, 0.61, 0.62), experiments=("mnist",)):
    rows = []
    for name in experiments:
        for method in ("gradient", "grad_x_input"):
            for role, le, acc in zip(("SEP_pos", "MAT", "SEP_neg"), l_end, pgd):
                rows.append(
                    {
                        "experiment": name,
                        "explanation": method,
                        "role": role,
                        "kind": role,
                        "l_start_1e-7": 2 * le,
                        "l_end_1e-7": le,
                        "l_end_lo": 0.9 * le,
                        "l_end_hi": 1.1 * le,
                        "relative_reduction": {
                            "SEP_pos": 0.5,
                            "MAT": 0.4,
                            "SEP_neg": 0.3,
                        }[role],
                        "spearman_to_target": {
                            "SEP_pos": 0.5,
                            "MAT": 0.6,
                            "SEP_neg": 0.3,
                        }[role],
                        "label_kept": 1.0,
                        "clean_acc": 0.9,
                        "pgd_acc": acc,
                        "pgd_sd": 0.01,
                        "seeds": 2,
                    }
                )
    return pd.DataFrame(rows)


# --- figures ---------------------------------------------------------------------------------------------


def test_lambda_sweep_figure_has_three_panels_and_marks_collapsed_runs():
    fig = report.lambda_sweep_figure(sweep(), "digits", "gradient")
    assert isinstance(fig, plt.Figure) and len(fig.axes) == 3
    acc, lf, loss = fig.axes
    assert (
        len(acc.lines) == 4
    )  # clean and PGD: the live runs joined, the collapsed ones as crosses
    crosses = [ln for ln in acc.lines if ln.get_marker() == "x"]
    assert [len(ln.get_xdata()) for ln in crosses] == [1, 1]
    assert len(acc.lines[0].get_xdata()) == 3  # three live runs
    assert [t.get_text() for t in acc.get_legend().get_texts()] == ["clean", "PGD"]
    assert len(lf.lines) == 1 and len(loss.lines) == 2
    assert loss.get_ylabel() == "gradient loss (1e-7)" and acc.get_xscale() == "symlog"
    assert fig._suptitle.get_text() == "digits: the λ sweep (x: collapsed)"


def test_training_figure_draws_one_line_per_run_in_the_same_colour_on_both_panels():
    hist = {
        "SEP λ=+2e+03": [
            {"epoch": 1, "sep_lf": 1e-4, "monitor_pgd_acc": 0.2},
            {"epoch": 2, "monitor_pgd_acc": 0.3},
        ],
        "SEP λ=-2e+03": [{"epoch": 1, "sep_lf": 2e-4, "monitor_pgd_acc": 0.1}],
    }
    fig = report.training_figure(hist, "digits")
    lf, pgd = fig.axes
    assert len(lf.lines) == len(pgd.lines) == 2
    assert [ln.get_color() for ln in lf.lines] == [ln.get_color() for ln in pgd.lines]
    assert [t.get_text() for t in pgd.get_legend().get_texts()] == list(hist)
    assert np.isnan(lf.lines[0].get_ydata()[1]) and pgd.lines[0].get_ydata()[
        1
    ] == pytest.approx(30.0)
    assert (
        len(report.training_figure({}, "x").axes) == 2
    )  # no run: empty panels, no legend


def test_l_end_figure_has_one_panel_per_block_and_role_colours():
    fig = report.l_end_figure(roles(experiments=("mnist", "cifar")), 2)
    visible = [ax for ax in fig.axes if ax.get_visible()]
    assert len(visible) == 4
    ax = visible[0]
    assert ax.get_title() == "mnist, gradient"
    assert [t.get_text() for t in ax.get_yticklabels()] == ["SEP_pos", "MAT", "SEP_neg"]
    colours = [c.lines[0].get_color() for c in ax.containers]
    assert colours == [ROLE_COLOR[r] for r in ("SEP_pos", "MAT", "SEP_neg")]
    odd = report.l_end_figure(
        roles(experiments=("mnist",)).query("explanation == 'gradient'"), 2
    )
    assert (
        sum(ax.get_visible() for ax in odd.axes) == 1 and len(odd.axes) == 2
    )  # the spare panel hidden


# --- sentences -------------------------------------------------------------------------------------------


def main(l_end=(100.0, 200.0, 400.0), pgd=(0.60, 0.61, 0.62), roles=None):
    """Main-table rows (two seeds, 10 pairs around each role's L_end) for ``sep_order_verdicts``."""
    rows = []
    for method in ("gradient", "grad_x_input"):
        for role, le, acc in zip(roles or ("SEP_pos", "MAT", "SEP_neg"), l_end, pgd):
            for seed in (0, 1):
                rows.append(
                    {
                        "experiment": "mnist",
                        "explanation": method,
                        "role": role,
                        "seed": seed,
                        "l_end_pairs": le * np.exp(np.linspace(-0.1, 0.1, 10)),
                        "pair_index": np.arange(10),
                        "pgd_acc": acc,
                        "collapsed": "",
                    }
                )
    return pd.DataFrame(rows)


def test_order_sentence_flips_with_the_order_and_the_pgd_spread():
    holds = sep_order_verdicts(main()).iloc[0]
    text = report.order_sentence(holds)
    assert text.startswith(
        "**mnist, gradient:** paired over the seeds and pairs both models kept: "
        "SEP_pos < MAT: agrees (MAT / SEP_pos = 2.00 ["
    )
    assert "MAT < SEP_neg: agrees (SEP_neg / MAT = 2.00 [" in text
    assert "SEP_neg / SEP_pos = 4.00." in text
    assert "SEP_pos -1.0 [-1.0, -1.0], SEP_neg +1.0 [+1.0, +1.0]; held" in text
    assert text.endswith("**The paper's claim: agrees here.**")
    wrong = report.order_sentence(
        sep_order_verdicts(main((400.0, 200.0, 100.0))).iloc[0]
    )
    assert "MAT < SEP_neg: disagrees" in wrong
    assert wrong.endswith("**The paper's claim: disagrees here.**")
    spread = report.order_sentence(
        sep_order_verdicts(main(pgd=(0.5, 0.6, 0.7))).iloc[0]
    )
    assert (
        "; not held (held: every interval inside ±3 points; not held: one wholly outside)"
        in spread
    )
    assert spread.endswith(
        "**The paper's claim: inconclusive here** (PGD accuracy is not held)."
    )
    close = report.order_sentence(
        sep_order_verdicts(main((200.0, 200.0, 400.0))).iloc[0]
    )
    assert "SEP_pos < MAT: inconclusive (MAT / SEP_pos = 1.00 [1.00, 1.00])" in close
    assert close.endswith("inconclusive here** (SEP_pos < MAT is inconclusive).")
    trades = sep_order_verdicts(
        main().replace({"role": {"MAT": "TRADES"}}), base="TRADES"
    ).iloc[0]
    text = report.order_sentence(trades, "TRADES")
    assert "SEP_pos < TRADES: agrees" in text and "TRADES's" in text
    assert text.endswith("**The paper's order on a TRADES base: agrees here.**")


def test_order_sentence_reads_the_half_order_of_an_incomplete_block():
    half = sep_order_verdicts(main(roles=("SEP_pos", "MAT"))).iloc[0]
    text = report.order_sentence(half)
    assert (
        "no λ met the rule for SEP_neg, so only the half with both roles is read"
        in text
    )
    assert "SEP_pos < MAT: agrees (MAT / SEP_pos = 2.00 [2.00, 2.00])." in text
    assert "SEP_pos -1.0 [-1.0, -1.0]; held" in text and "SEP_neg " not in text
    assert report.order_halves(half, ratios=False) == ["SEP_pos < MAT: agrees"]
    flipped = sep_order_verdicts(main((200.0, 100.0), roles=("MAT", "SEP_neg"))).iloc[0]
    assert report.order_halves(flipped, ratios=False) == ["MAT < SEP_neg: disagrees"]
    assert "(SEP_neg / MAT = 0.50 [0.50, 0.50])" in report.order_sentence(flipped)


def test_side_for_reading_writes_ratios_with_intervals_or_alone():
    side = pd.DataFrame(
        {
            "pos_ratio": [2.0, 1.5],
            "pos_lo": [1.5, np.nan],
            "pos_hi": [2.5, np.nan],
            "neg_ratio": [np.nan, 3.0],
            "neg_lo": [np.nan, np.nan],
            "neg_hi": [np.nan, np.nan],
        }
    )
    t = report.side_for_reading(side)
    assert list(t["pos"]) == ["2.00 [1.50, 2.50]", "1.50"]
    assert list(t["neg"]) == ["—", "3.00"]


def test_verdict_text_counts_the_blocks_where_the_claim_holds():
    def result(l_end):
        v = sep_order_verdicts(main(l_end))
        paper = pd.DataFrame(
            {
                "l_end_order": [True, True],
                "neg_over_pos": [2.0, 10.0],
                "pgd_spread_points": [1, 2],
            }
        )
        dropped = pd.DataFrame(
            {
                "experiment": ["mnist"],
                "kind": ["SEP"],
                "seed": [1],
                "collapsed": ["L_f exploded from 1 to 300"],
            }
        )
        return type(
            "R", (), {"verdicts": v, "paper": paper, "sweep": sweep(), "main": dropped}
        )()

    good = report.verdict_text(result((100.0, 200.0, 400.0)))
    assert good.startswith(
        "**Of 2 blocks read, the paper's claim agrees in 2, disagrees in 0 and is inconclusive in 0.**"
    )
    assert "0 block(s) lack SEP_pos or SEP_neg" in good
    assert (
        "left out of this comparison: 1: mnist SEP seed 1 (L_f grew 300-fold) (and 1 of"
        in good
    )
    assert "in 2 of 2, with SEP_neg / SEP_pos from 2.0 to 10.0" in good
    bad = report.verdict_text(result((400.0, 200.0, 100.0)))
    assert bad.startswith(
        "**Of 2 blocks read, the paper's claim agrees in 0, disagrees in 2"
    )
    assert "in part" not in good + bad


def test_choice_text_names_the_lambdas_or_says_none_qualifies_and_the_runs_the_old_rule_dropped():
    chosen = pd.DataFrame(
        [{"experiment": "digits", "SEP_pos": 2000.0, "SEP_neg": None}]
    )
    text = report.choice_text(chosen, pd.DataFrame(columns=["experiment", "lam"]), 2.0)
    assert (
        "within 2 points" in text
        and "- **digits**: SEP_pos: λ = +2000; SEP_neg: **no λ qualifies**." in text
    )
    assert "would have dropped none that now count" in text
    lf = pd.DataFrame(
        [
            {
                "experiment": "digits",
                "lam": -3000.0,
                "collapsed": "",
                "clean_acc": 0.9,
                "pgd_acc": 0.5,
                "val_clean_acc": 0.8,
                "val_pgd_acc": 0.4,
                "lf_growth": 340.0,
                "within": True,
                "chosen": False,
            }
        ]
    )
    noted = report.choice_text(chosen, lf, 2.0)
    assert (
        "**Runs the old collapse rule (L_f grew 100-fold) would have dropped" in noted
    )
    assert (
        "- digits, λ = -3000: L_f grew 340-fold; clean and PGD accuracy 90.0 % and 50.0 % on the "
        "test images, within 2 points of MAT's; not chosen." in noted
    )
    on_val = report.choice_text(chosen, lf, 2.0, "validation")
    assert "80.0 % and 40.0 % on the validation images" in on_val


def test_collapsed_text_and_tables_for_reading():
    none = pd.DataFrame(
        {"experiment": ["a"], "kind": ["MAT"], "seed": [0], "collapsed": [""]}
    )
    assert report.collapsed_text(none) == "0"
    readable = report.for_reading(roles().assign(seeds=[1, 2, 2, 2, 2, 2]))
    assert readable["pgd"].iloc[0] == "60.0" and readable["pgd"].iloc[1] == "61.0 ± 0.0"
    assert readable["l_end"].iloc[0] == "100.0 [90.0, 110.0]"
    s = report.sweep_for_reading(sweep())
    assert s["why"].tolist() == ["", "", "", "at chance"] and s["clean"].iloc[
        2
    ] == pytest.approx(80.0)


def test_settings_and_closing_follow_the_profile():
    P = load_profile("smoke")
    t = report.settings_table(P, ["digits"])
    assert t["setting"].tolist()[:2] == [
        "base method",
        "noise σ (pixels in [0, 1], noisy images clamped to [0, 1])",
    ]
    assert (
        "λ sweep, digits" in t["setting"].tolist()
        and "architecture, digits" in t["setting"].tolist()
    )
    studied = report.closing_text(P, list(P.experiments))
    assert studied.startswith("Whether SEP changes the landscape itself")
    fewer = report.closing_text(P, [n for n in P.experiments][:1])
    assert fewer.startswith(
        f"**Defined in the `{P.name}` profile but not studied here:**"
    ) == (len(P.experiments) > 1)
