"""The SEP study's rule and verdict with known answers: the choice reads accuracy and collapse only, and the
verdict checks the paper's order, its adversarial-accuracy spread and the reviewers' other measures."""

import pandas as pd
from conftest import PROJECT

from lib.analysis.verdicts import (
    accuracy_shifts,
    choose,
    dropped_by_old_lf_rule,
    robustness_by_role,
    sep_order_verdicts,
)
from lib.core.profile import load_profile
from lib.core.store import ResultStore
from lib.pipeline.roster import (
    base_runs,
    extra_runs,
    lambda_runs,
    main_runs,
    study_experiments,
)
from lib.report.text import short_reason
from lib.studies.sep import (
    against_paper,
    paper_block_of,
    paper_blocks,
    sep_tasks,
    with_paper,
)


def sweep_rows():
    # lambda, clean, pgd, collapsed
    rows = [
        (0.0, 0.90, 0.60, ""),
        (1e3, 0.905, 0.61, ""),
        (1e4, 0.895, 0.595, ""),
        (1e5, 0.80, 0.60, ""),
        (-1e3, 0.90, 0.59, ""),
        (-1e4, 0.901, 0.601, "non-finite loss at epoch 2, batch 3"),
        (-3e3, 0.91, 0.605, ""),
    ]
    return pd.DataFrame(
        [
            {
                "experiment": "mnist",
                "lam": lam,
                "clean_acc": c,
                "pgd_acc": p,
                "collapsed": k,
            }
            for lam, c, p, k in rows
        ]
    )


def test_choice_takes_the_largest_lambda_within_tolerance_and_never_a_collapsed_one():
    chosen = choose(sweep_rows(), 2.0).iloc[0]
    assert chosen["SEP_pos"] == 1e4  # 1e5 loses 10 points of clean accuracy
    assert chosen["SEP_neg"] == -3e3  # -1e4 collapsed
    none = choose(
        sweep_rows().assign(pgd_acc=lambda t: t["pgd_acc"].where(t["lam"] == 0, 0.1)),
        2.0,
    ).iloc[0]
    assert none["SEP_pos"] is None and none["SEP_neg"] is None


def test_a_run_the_old_lf_rule_dropped_now_counts_and_is_named():
    sweep = sweep_rows().assign(lf_growth=1.0)
    sweep.loc[sweep["lam"].isin([-3e3, -1e4, 1e5]), "lf_growth"] = 200.0
    assert choose(sweep, 2.0).iloc[0]["SEP_neg"] == -3e3  # L_f growth is not collapse
    named = dropped_by_old_lf_rule(sweep, 2.0)
    # -1e4 collapsed (non-finite loss): not live; 1e5 is live but 10 points off MAT
    assert sorted(named["lam"]) == [-3e3, 1e5]
    assert named.set_index("lam")["within"].to_dict() == {-3e3: True, 1e5: False}
    assert named.set_index("lam")["chosen"].to_dict() == {-3e3: True, 1e5: False}
    assert dropped_by_old_lf_rule(sweep.drop(columns="lf_growth"), 2.0).empty


def test_accuracy_shifts_reread_the_rule_on_another_base():
    roles = pd.DataFrame(
        {
            "experiment": "fashion-mnist",
            "explanation": ["gradient"] * 3 + ["grad_x_input"] * 3,
            "role": ["SEP_pos", "TRADES", "SEP_neg"] * 2,
            "clean_acc": [0.76, 0.75, 0.70] * 2,
            "pgd_acc": [0.565, 0.575, 0.57] * 2,
        }
    )
    shifts = accuracy_shifts(roles, "TRADES", 2.0)
    assert list(shifts["role"]) == [
        "SEP_pos",
        "SEP_neg",
    ]  # once per model, not per explanation method
    assert shifts["clean_points"].round(6).tolist() == [1.0, 5.0] and shifts[
        "pgd_points"
    ].round(6).tolist() == [1.0, 0.5]
    assert shifts["within"].tolist() == [True, False]


def test_collapse_reasons_shorten_for_a_table():
    assert (
        short_reason("non-finite loss at epoch 2, batch 47")
        == "loss not finite (epoch 2)"
    )
    assert short_reason("clean accuracy 0.102 at chance (1/10)") == "at chance"
    assert short_reason("L_f exploded from 1.46e-06 to 0.000196") == "L_f grew 134-fold"
    assert short_reason("") == ""


def block_rows(l_end, pgd, roles=("SEP_pos", "MAT", "SEP_neg"), seeds=2, **cols):
    """Main-table rows of one block: per role and seed, 10 pairs around ``l_end`` (the role's centre) and
    the role's PGD accuracy."""
    import numpy as np

    return pd.DataFrame(
        [
            {
                "experiment": "mnist",
                "explanation": "gradient",
                "role": role,
                "seed": seed,
                "l_end_pairs": centre * np.exp(np.linspace(-0.1, 0.1, 10)),
                "pair_index": np.arange(10),
                "pgd_acc": acc,
                "collapsed": "",
                **cols,
            }
            for role, centre, acc in zip(roles, l_end, pgd)
            for seed in range(seeds)
        ]
    )


def test_verdict_reads_the_order_and_the_spread():
    rows = block_rows((100.0, 200.0, 800.0), (0.60, 0.61, 0.65))
    v = sep_order_verdicts(rows).iloc[0]
    assert v["pos_status"] == "agrees" and v["neg_status"] == "agrees"
    assert abs(v["pos_ratio"] - 2.0) < 1e-9 and abs(v["neg_ratio"] - 4.0) < 1e-9
    assert abs(v["neg_over_pos"] - 8.0) < 1e-9
    # PGD: SEP_neg 4 points above MAT on both seeds: not held, so the block is inconclusive
    assert abs(v["pgd_spread_points"] - 5.0) < 1e-9 and not v["pgd_within"]
    assert v["pgd_neg_status"] == "disagrees" and v["status"] == "inconclusive"
    missing = sep_order_verdicts(rows[rows["role"] != "SEP_neg"]).iloc[0]
    assert not missing["complete"] and missing["missing"] == "SEP_neg"
    assert missing["pos_status"] == "agrees" and abs(missing["pos_ratio"] - 2.0) < 1e-9
    assert missing["neg_status"] is None and missing["status"] == "agrees"


def test_the_paper_table_ranks_sep_pos_below_mat_below_sep_neg_in_every_block():
    paper = paper_blocks(str(PROJECT / "book" / "paper_table.csv"))
    assert (
        len(paper) == 6
        and paper["l_end_order"].all()
        and (paper["pos_ratio"] > 1).all()
        and (paper["neg_ratio"] > 1).all()
        and paper["pgd_spread_points"].max() < 3
    )


def test_sep_runs_are_the_base_runs_with_sep_and_keep_nothing_else():
    P = load_profile("smoke")
    runs = [r for r in lambda_runs(P) if r.experiment == "digits"]
    assert sorted(r.kind.lam for r in runs) == sorted(P.sep.lambdas["digits"])
    base = base_runs(P, "digits")[0]
    assert all(
        r.spec.train.method == "mat" and r.spec.data == base.spec.data for r in runs
    )
    roles = main_runs(
        P, pd.DataFrame([{"experiment": "digits", "SEP_pos": 2000.0, "SEP_neg": None}])
    )
    # per seed: the standard model, then MAT and SEP_pos (no SEP_neg: no lambda of that sign qualified)
    assert [r for r, _ in roles] == ["standard"] * len(P.seeds) + [
        "MAT",
        "SEP_pos",
    ] * len(P.seeds)
    assert [run.kind.lam for r, run in roles if r == "SEP_pos"] == [2000.0] * len(
        P.seeds
    )


def test_the_second_architecture_trains_only_standard_and_base_models():
    P = load_profile("smoke")
    assert study_experiments(P) == ["digits", "digits-resnet18"]
    extra = extra_runs(P)
    assert {r.experiment for r in extra} == {"digits-resnet18"}
    assert sorted(r.kind.label for r in extra) == sorted(
        ["standard", "MAT"] * len(P.seeds)
    )
    assert {
        r.spec.model.name for r in lambda_runs(P) if r.experiment == "digits-resnet18"
    } == {"resnet18"}


def test_sep_tasks_resolve_their_lambda_once_the_sweep_is_stored(monkeypatch, tmp_path):
    from lib.core.store import ResultStore
    from lib.pipeline.task import NOT_NEEDED

    P = load_profile("smoke")
    store = ResultStore(tmp_path)
    tasks = sep_tasks(P, store, "cpu")
    later = [t for t in tasks if t.stage == "sep-main-models"]
    # seed 1 on MAT for both experiments, and both seeds on the TRADES base (digits): two roles each
    assert len(later) == 2 * (2 + 2)
    assert all(
        t.config() is None for t in later
    )  # the sweep is not stored: after upstream
    from lib.pipeline import roster

    monkeypatch.setattr(roster, "lambda_ready", lambda profile, store: True)
    monkeypatch.setattr(
        roster,
        "lambda_table",
        lambda profile, store, device: pd.DataFrame(
            [
                {
                    "experiment": e,
                    "lam": lam,
                    "clean_acc": 0.9,
                    "pgd_acc": 0.5,
                    "collapsed": "",
                }
                for e in ("digits", "digits-resnet18")
                for lam in (0.0, 2000.0)
            ]
        ),
    )
    tasks = sep_tasks(P, store, "cpu")
    by_label = {t.label: t for t in tasks}
    pos = by_label["digits SEP_pos on TRADES seed 1"].config()
    assert pos["train"]["sep"]["lam"] == 2000.0 and pos["train"]["method"] == "trades"
    assert pos["train"]["beta"] == max(P.sweep.betas) and pos["train"]["seed"] == 1
    assert (
        by_label["digits-resnet18 SEP_neg on MAT seed 1"].config() is NOT_NEEDED
    )  # no negative lambda
    assert by_label["digits-resnet18 SEP_neg on MAT seed 1"].done(store)
    assert [t.label for t in tasks] == [
        t.label for t in sep_tasks(P, ResultStore(tmp_path / "x"), "cpu")
    ]


def test_intervals_over_seeds_and_pairs_and_the_separation_of_sep_pos_and_sep_neg():
    import numpy as np

    rows = []
    for role, centre in (("SEP_pos", 100.0), ("MAT", 200.0), ("SEP_neg", 400.0)):
        for seed in range(3):
            pairs = centre + np.linspace(-10, 10, 20) + seed
            rows.append(
                {
                    "experiment": "mnist",
                    "explanation": "gradient",
                    "role": role,
                    "kind": role,
                    "dataset": "mnist",
                    "model": "convnet",
                    "seed": seed,
                    "l_start_1e-7": 2 * centre,
                    "l_end_1e-7": pairs.mean(),
                    "relative_reduction": 0.5,
                    "spearman_to_target": 0.5,
                    "label_kept": 1.0,
                    "clean_acc": 0.9,
                    "pgd_acc": 0.6,
                    "l_end_pairs": pairs,
                    "reduction_pairs": np.full(20, 0.5),
                    "collapsed": "",
                }
            )
    roles = robustness_by_role(pd.DataFrame(rows))
    assert list(roles["role"]) == ["SEP_pos", "MAT", "SEP_neg"]
    assert (roles["l_end_lo"] < roles["l_end_1e-7"]).all() and (
        roles["l_end_1e-7"] < roles["l_end_hi"]
    ).all()
    assert (
        abs(roles["l_end_1e-7"].iloc[0] - 101.0) < 1e-9 and roles["seeds"].iloc[0] == 3
    )
    v = sep_order_verdicts(pd.DataFrame(rows)).iloc[0]
    assert v["pos_status"] == v["neg_status"] == v["status"] == "agrees"


def test_our_blocks_sit_beside_the_papers_block_of_the_same_dataset_and_architecture():
    roles = pd.DataFrame(
        {
            "experiment": ["mnist"] * 3 + ["fashion-mnist"],
            "explanation": "gradient",
            "dataset": ["mnist"] * 3 + ["fashion-mnist"],
            "model": "convnet",
            "role": ["SEP_pos", "MAT", "SEP_neg", "MAT"],
            "l_start_1e-7": 1.0,
            "l_end_1e-7": 1.0,
        }
    )
    out = with_paper(roles, str(PROJECT / "book" / "paper_table.csv"))
    assert (
        out["paper_l_end_1e-7"].iloc[1] == 298.729
    )  # MNIST ConvNet MAT in the paper's table
    assert pd.isna(
        out["paper_l_end_1e-7"].iloc[3]
    )  # the paper has no Fashion-MNIST block
    assert paper_block_of("mnist", "resnet18") == ("MNIST", "ResNet18")
    blocks = pd.concat(
        [
            block_rows((1.0, 2.0, 3.0), (0.5,) * 3, dataset="mnist", model="convnet"),
            block_rows(
                (2.0, 1.0), (0.5,) * 2, ("MAT", "SEP_neg"), dataset="fashion-mnist"
            ).assign(experiment="fashion-mnist", model="convnet"),
        ]
    )
    verdict = sep_order_verdicts(blocks)
    side = against_paper(verdict, blocks, str(PROJECT / "book" / "paper_table.csv"))
    assert list(side["source"]) == [
        "ours: gradient",
        "paper: MNIST ConvNet",
        "ours: gradient",
    ]
    # fashion-mnist has no SEP_pos: its MAT < SEP_neg half is read (and disagrees here), SEP_pos's is not
    assert side["neg_status"].iloc[2] == "disagrees" and pd.isna(
        side["pos_status"].iloc[2]
    )
    assert abs(side["neg_ratio"].iloc[2] - 0.5) < 1e-9 and pd.isna(
        side["neg_over_pos"].iloc[2]
    )
    assert side["neg_hi"].iloc[2] < 1 and pd.isna(side["pos_ratio"].iloc[2])
    # the paper's row: its ratios of means, no interval or status
    assert abs(side["neg_over_pos"].iloc[1] - 657.180 / 61.545) < 1e-9
    assert pd.isna(side["pos_status"].iloc[1]) and pd.isna(side["pos_lo"].iloc[1])


def test_sep_comparison_returns_every_table_and_verdict_of_the_chapter(
    monkeypatch, tmp_path
):
    import numpy as np

    from lib.studies import sep as study

    P = load_profile("smoke")
    lam = pd.DataFrame(
        [
            {
                "experiment": "digits",
                "lam": lam,
                "clean_acc": c,
                "pgd_acc": 0.5,
                "collapsed": k,
                "key": str(lam),
            }
            for lam, c, k in (
                (0.0, 0.9, ""),
                (2e3, 0.9, ""),
                (-2e3, 0.9, ""),
                (-3e3, 0.9, ""),
            )
        ]
    ).assign(
        lf_growth=lambda t: t["lam"].map(
            {0.0: float("nan"), 2e3: 2.0, -2e3: 3.0, -3e3: 500.0}
        )
    )

    def table(roles_runs):
        rows = []
        for role, centre in roles_runs:
            for method in ("gradient", "grad_x_input"):
                pairs = centre * np.exp(np.linspace(-0.1, 0.1, 10))
                rows.append(
                    {
                        "experiment": "digits",
                        "explanation": method,
                        "role": role,
                        "kind": role,
                        "dataset": "digits",
                        "model": "convnet",
                        "seed": 0,
                        "l_start_1e-7": 2 * centre,
                        "l_end_1e-7": pairs.mean(),
                        "relative_reduction": 0.5,
                        "spearman_to_target": 0.5,
                        "label_kept": 1.0,
                        "clean_acc": 0.9,
                        "pgd_acc": 0.5,
                        "l_end_pairs": pairs,
                        "reduction_pairs": np.full(10, 0.5),
                        "collapsed": "",
                    }
                )
        return pd.DataFrame(rows)

    monkeypatch.setattr(study, "lambda_table", lambda p, s, d: lam)
    monkeypatch.setattr(study, "lambda_robustness", lambda p, s, d, sweep: sweep)
    monkeypatch.setattr(study, "lambda_histories", lambda p, s, d: {"digits": {}})
    monkeypatch.setattr(
        study,
        "main_runs",
        lambda p, chosen: [("SEP_pos", 1.0), ("MAT", 2.0), ("SEP_neg", 4.0)],
    )
    monkeypatch.setattr(
        study,
        "trades_runs",
        lambda p, chosen: [("SEP_pos", 3.0), ("TRADES", 2.0), ("SEP_neg", 1.0)],
    )
    monkeypatch.setattr(study, "main_table", lambda p, s, d, runs: table(runs))
    r = study.sep_comparison(
        P, ResultStore(tmp_path), "cpu", str(PROJECT / "book" / "paper_table.csv")
    )
    # L_f grown 500-fold is no longer collapse: -3e3 counts and is chosen
    assert r.chosen.iloc[0]["SEP_pos"] == 2e3 and r.chosen.iloc[0]["SEP_neg"] == -3e3
    assert (
        r.lf_rule["lam"].tolist() == [-3e3]
        and r.lf_rule["chosen"].tolist() == [True]
        and r.tolerance_points == P.sep.tolerance_points
    )
    assert r.choose_on == "test" and r.against_test is None
    # one seed: the order is read at the seed level, so no interval and no half decides
    assert len(r.verdicts) == 2 and (r.verdicts["pos_status"] == "inconclusive").all()
    assert (r.verdicts["neg_status"] == "inconclusive").all()
    assert (r.verdicts["pos_ratio"] > 1).all() and (r.verdicts["neg_ratio"] > 1).all()
    # one seed: PGD accuracy cannot be shown to be held, so the blocks are inconclusive
    assert (r.verdicts["status"] == "inconclusive").all()
    assert "paper_l_end_1e-7" in r.roles and len(r.paper) == 6
    assert list(r.side["source"]) == [
        "ours: gradient",
        "ours: grad_x_input",
    ]  # digits: no paper block
    # one seed: the reversed TRADES order has no interval either, so it no longer reads "disagrees"
    assert (r.trades_verdicts["status"] == "inconclusive").all() and list(
        r.trades_shifts["role"]
    ) == [
        "SEP_pos",
        "SEP_neg",
    ]
    monkeypatch.setattr(study, "trades_runs", lambda p, chosen: [])
    none = study.sep_comparison(
        P, ResultStore(tmp_path), "cpu", str(PROJECT / "book" / "paper_table.csv")
    )
    assert (
        none.trades_main
        is none.trades_roles
        is none.trades_verdicts
        is none.trades_shifts
        is None
    )
