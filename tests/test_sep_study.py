"""The SEP study's rule and verdict with known answers: the choice reads accuracy and collapse only, and the
verdict checks the paper's order, its adversarial-accuracy spread and the reviewers' other measures."""
import pandas as pd

from conftest import PROJECT
from lib import sep_study as ss
from lib.config import load_profile


def sweep_rows():
    # lambda, clean, pgd, collapsed
    rows = [(0.0, 0.90, 0.60, ""), (1e3, 0.905, 0.61, ""), (1e4, 0.895, 0.595, ""), (1e5, 0.80, 0.60, ""),
            (-1e3, 0.90, 0.59, ""), (-1e4, 0.901, 0.601, "L_f exploded from 1 to 500"), (-3e3, 0.91, 0.605, "")]
    return pd.DataFrame([{"experiment": "mnist", "lam": lam, "clean_acc": c, "pgd_acc": p, "collapsed": k}
                         for lam, c, p, k in rows])


def test_choice_takes_the_largest_lambda_within_tolerance_and_never_a_collapsed_one():
    chosen = ss.choose(sweep_rows(), 2.0).iloc[0]
    assert chosen["SEP_pos"] == 1e4  # 1e5 loses 10 points of clean accuracy
    assert chosen["SEP_neg"] == -3e3  # -1e4 collapsed
    none = ss.choose(sweep_rows().assign(pgd_acc=lambda t: t["pgd_acc"].where(t["lam"] == 0, 0.1)), 2.0).iloc[0]
    assert none["SEP_pos"] is None and none["SEP_neg"] is None


def test_verdict_reads_the_order_and_the_spread():
    roles = pd.DataFrame({"experiment": "mnist", "explanation": "gradient", "role": ["SEP_pos", "MAT", "SEP_neg"],
                          "l_end_1e-7": [100.0, 200.0, 800.0], "relative_reduction": [0.5, 0.4, 0.2],
                          "spearman_to_target": [0.6, 0.5, 0.55], "pgd_acc": [0.60, 0.61, 0.65]})
    v = ss.verdicts(roles).iloc[0]
    assert v["l_end_order"] and v["reduction_order"] and not v["rank_order"]
    assert abs(v["pgd_spread_points"] - 5.0) < 1e-9 and not v["pgd_within"]
    assert v["neg_over_pos"] == 8.0 and v["mat_over_pos"] == 2.0
    missing = ss.verdicts(roles[roles["role"] != "SEP_neg"]).iloc[0]
    assert not missing["complete"]


def test_the_paper_table_ranks_sep_pos_below_mat_below_sep_neg_in_every_block():
    paper = ss.paper_blocks(str(PROJECT / "book" / "paper_table.csv"))
    assert len(paper) == 6 and paper["l_end_order"].all() and paper["pgd_spread_points"].max() < 3


def test_sep_runs_are_the_base_runs_with_sep_and_keep_nothing_else():
    P = load_profile("smoke")
    runs = ss.lambda_runs(P)
    assert sorted(r.kind.lam for r in runs) == sorted(P.sep.lambdas["digits"])
    base = ss.base_runs(P, "digits")[0]
    assert all(r.spec.train.method == "mat" and r.spec.data == base.spec.data for r in runs)
    assert ss.main_runs(P, pd.DataFrame([{"experiment": "digits", "SEP_pos": 2000.0, "SEP_neg": None}]))[1][0] == "SEP_pos"
