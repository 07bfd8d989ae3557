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


def test_order_sentence_flips_with_the_order_and_the_pgd_spread():
    holds = sep_order_verdicts(roles()).iloc[0]
    text = report.order_sentence(holds)
    assert text.startswith(
        "**mnist, gradient:** L_end ranks SEP_pos < MAT < SEP_neg: yes"
    )
    assert (
        "(within 3)" in text
        and "SEP_neg / SEP_pos = 4.00, MAT / SEP_pos = 2.00" in text
    )
    assert "do not overlap" in text and text.endswith(
        "**The paper's claim holds here.**"
    )
    assert (
        "By relative reduction the order agrees, by the rank metric it does not agree."
        in text
    )
    wrong = sep_order_verdicts(roles(l_end=(400.0, 200.0, 100.0))).iloc[0]
    assert "SEP_neg: no" in report.order_sentence(wrong)
    assert report.order_sentence(wrong).endswith("does not hold here.**")
    spread = sep_order_verdicts(roles(pgd=(0.5, 0.6, 0.7))).iloc[0]
    assert "(beyond 3)" in report.order_sentence(
        spread
    ) and "does not hold" in report.order_sentence(spread)
    trades = sep_order_verdicts(
        roles().replace({"role": {"MAT": "TRADES"}}), base="TRADES"
    ).iloc[0]
    assert "SEP_pos < TRADES < SEP_neg: yes" in report.order_sentence(trades, "TRADES")
    assert "The paper's order, on a TRADES base, holds here." in report.order_sentence(
        trades, "TRADES"
    )


def test_order_sentence_reads_the_half_order_of_an_incomplete_block():
    half = sep_order_verdicts(roles()[lambda t: t["role"] != "SEP_neg"]).iloc[0]
    text = report.order_sentence(half)
    assert "no λ met the rule for SEP_neg" in text
    assert (
        "SEP_pos < MAT: yes (MAT / SEP_pos = 2.00), with PGD accuracy 1.0 points apart."
        in text
    )
    assert report.order_halves(half, ratios=False) == ["SEP_pos < MAT: yes"]
    flipped = sep_order_verdicts(
        roles(l_end=(300.0, 200.0, 100.0))[lambda t: t["role"] != "SEP_pos"]
    ).iloc[0]
    assert report.order_halves(flipped, ratios=False) == ["MAT < SEP_neg: no"]
    assert "(SEP_neg / MAT = 0.50)" in report.order_sentence(flipped)


def test_verdict_text_counts_the_blocks_where_the_claim_holds():
    def result(l_end):
        r = roles(l_end=l_end)
        v = sep_order_verdicts(r)
        paper = pd.DataFrame(
            {
                "l_end_order": [True, True],
                "neg_over_pos": [2.0, 10.0],
                "pgd_spread_points": [1, 2],
            }
        )
        main = pd.DataFrame(
            {
                "experiment": ["mnist"],
                "kind": ["SEP"],
                "seed": [1],
                "collapsed": ["L_f exploded from 1 to 300"],
            }
        )
        return type(
            "R", (), {"verdicts": v, "paper": paper, "sweep": sweep(), "main": main}
        )()

    good = report.verdict_text(result((100.0, 200.0, 400.0)))
    assert good.startswith(
        "**In 2 of 2 blocks with both SEP_pos and SEP_neg the paper's claim holds**"
    )
    assert (
        "left out of this comparison: 1: mnist SEP seed 1 (L_f grew 300-fold) (and 1 of"
        in good
    )
    assert "in 2 of 2, with SEP_neg / SEP_pos from 2.0 to 10.0" in good
    bad = report.verdict_text(result((400.0, 200.0, 100.0)))
    assert bad.startswith("**In 0 of 2 blocks")


def test_choice_text_names_the_lambdas_or_says_none_qualifies_and_notes_lf_only_collapses():
    chosen = pd.DataFrame(
        [{"experiment": "digits", "SEP_pos": 2000.0, "SEP_neg": None}]
    )
    text = report.choice_text(chosen, pd.DataFrame(columns=["experiment", "lam"]), 2.0)
    assert (
        "within 2 points" in text
        and "- **digits**: SEP_pos: λ = +2000; SEP_neg: **no λ qualifies**." in text
    )
    assert "Note" not in text
    lf = pd.DataFrame(
        [
            {
                "experiment": "digits",
                "lam": -3000.0,
                "collapsed": "L_f exploded",
                "clean_acc": 0.9,
                "pgd_acc": 0.5,
            }
        ]
    )
    noted = report.choice_text(chosen, lf, 2.0)
    assert "**Note, digits, λ = -3000:**" in noted and "(90.0 % and 50.0 %)" in noted


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
