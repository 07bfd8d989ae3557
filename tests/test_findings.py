"""The closing page's claims: known answers for each claim function on small hand-built tables (reproduced,
partly, not reproduced, not tested), the paper's side recomputed from its table, and that no verdict is typed
anywhere but in the one rule."""

import ast

import jupytext
import numpy as np
import pandas as pd
import pytest
from conftest import PROJECT

from lib.analysis.verdicts import (
    AGREES,
    DISAGREES,
    INCONCLUSIVE,
    NOT_REPRODUCED,
    NOT_TESTED,
    PARTLY,
    REPRODUCED,
    VERDICTS,
    beats_noise,
    landscape_parts,
    pgd_rises_with_beta,
    sep_order_verdicts,
    verdict_of,
)
from lib.core.errors import ConfigError
from lib.report.findings import (
    ROW_KEYS,
    claim_curvature,
    claim_landscape,
    claim_motivation,
    claim_sep,
    claim_start_loss,
    claim_sweep,
    findings_table,
    paper_mat_above_normal,
    paper_start_text,
    pending,
)
from lib.studies.drivers import paper_start_agreement
from lib.studies.motivation import distance_removed
from lib.studies.prototypes import correlations
from lib.studies.sep import paper_blocks

PAPER_CSV = PROJECT / "book" / "paper_table.csv"


@pytest.fixture
def paper():
    return pd.read_csv(PAPER_CSV)


def check_row(row):
    assert set(row) == set(ROW_KEYS)
    assert row["verdict"] == verdict_of(row["units"].values())
    assert row["verdict"] in VERDICTS
    return row["verdict"]


# ------------------------------------------------------------------------------------------------
# the rule


def test_verdict_rule():
    A, U, D = AGREES, INCONCLUSIVE, DISAGREES  # U: undecided
    assert verdict_of([]) == NOT_TESTED
    assert verdict_of([None, None]) == NOT_TESTED
    assert verdict_of([A, A, None]) == REPRODUCED
    assert verdict_of([A, D]) == PARTLY
    # never "partly" for one agreement among inconclusive units (issue 30): the units do not differ
    assert verdict_of([A, U]) == INCONCLUSIVE
    assert verdict_of([U, U]) == INCONCLUSIVE
    assert verdict_of([D, U]) == INCONCLUSIVE
    assert verdict_of([D, None, D]) == NOT_REPRODUCED
    with pytest.raises(ConfigError, match="status='yes'"):
        verdict_of(["yes"])


def test_table_numbers_rows_and_refuses_other_dicts():
    rows = [
        pending("claim a", "paper a", "chapter 6"),
        pending("claim b", "paper b", "chapter 6"),
    ]
    t = findings_table(rows)
    assert list(t.columns) == [
        "number",
        "claim",
        "paper",
        "ours",
        AGREES,
        DISAGREES,
        INCONCLUSIVE,
        "verdict",
    ]
    assert t["number"].tolist() == [1, 2] and (t["verdict"] == NOT_TESTED).all()
    with pytest.raises(ConfigError, match="missing"):
        findings_table([{"claim": "c", "verdict": "reproduced"}])


# ------------------------------------------------------------------------------------------------
# the paper's side


def test_paper_side_recomputed_from_its_table(paper):
    assert paper_start_agreement(paper).positions == (22, 24) and paper_start_agreement(
        paper
    ).order == (5, 6)
    assert paper_start_text(paper) == "L_start ranks like L_end in 22 of 24 cells"
    assert paper_mat_above_normal(paper) == (6, 6)


# ------------------------------------------------------------------------------------------------
# claim 1: the motivation


def motivation_evidence(success, attack, noise):
    return pd.DataFrame(
        {
            "model": [f"m{i}" for i in range(len(success))],
            "pairs": 20,
            "success_rate": success,
            "label_kept": 1.0,
            "attack_removed": attack,
            "noise_removed": noise,
            "beats_noise": [beats_noise(a, n) for a, n in zip(attack, noise)],
        }
    )


def test_motivation_helpers_known_answers():
    t = pd.DataFrame(
        {"MSE to target (1e-7)": [100.0, 95.0, 20.0]},
        index=["victim (no change)", "random noise, same L2", "attack"],
    )
    assert distance_removed(t) == pytest.approx((0.8, 0.05))
    assert (
        beats_noise(0.8, 0.05) and not beats_noise(0.3, 0.2) and beats_noise(0.1, -0.4)
    )
    assert not beats_noise(0.0, -0.4)


@pytest.mark.parametrize(
    "success, attack, noise, verdict, units",
    [
        ([0.9, 0.8], [0.8, 0.7], [0.01, 0.02], REPRODUCED, [AGREES, AGREES]),
        # 12 of 20 pairs: the interval holds 1/2
        ([0.9, 0.6], [0.8, 0.7], [0.01, 0.02], INCONCLUSIVE, [AGREES, INCONCLUSIVE]),
        ([0.6, 0.55], [0.8, 0.7], [0.01, 0.02], INCONCLUSIVE, [INCONCLUSIVE] * 2),
        ([0.9, 0.2], [0.8, 0.1], [0.01, 0.3], PARTLY, [AGREES, DISAGREES]),
        ([0.4, 0.2], [0.1, 0.1], [0.3, 0.3], NOT_REPRODUCED, [DISAGREES, DISAGREES]),
    ],
)
def test_claim_motivation(success, attack, noise, verdict, units):
    row = claim_motivation(motivation_evidence(success, attack, noise))
    assert check_row(row) == verdict
    assert list(row["units"].values()) == units
    assert ("On every model" in row["detail"]) == (verdict == REPRODUCED)


def test_claim_motivation_without_models_is_not_tested():
    row = claim_motivation(motivation_evidence([], [], []))
    assert check_row(row) == NOT_TESTED and row["ours"] == "no model attacked"


# ------------------------------------------------------------------------------------------------
# claim 2: the sweep


def sweep_corr(readings: dict[tuple[str, str], str], models: int = 12) -> pd.DataFrame:
    """Correlations against PGD accuracy as prototype_study.correlations returns them, one reading of L_end
    per group (the other measures read no clear relation, L_start rises)."""
    ci = {
        "rises": (0.6, 0.2, 0.9),
        "falls": (-0.6, -0.9, -0.2),
        "no clear relation": (0.1, -0.4, 0.5),
        "too few models": (np.nan,) * 3,
    }
    rows = []
    for (name, method), reading in readings.items():
        for measure, r in (
            ("l_end_1e-7", reading),
            ("relative_reduction", "no clear relation"),
            ("spearman_to_target", "no clear relation"),
            ("l_start_1e-7", "rises"),
        ):
            r = "too few models" if reading == "too few models" else r
            rho, lo, hi = ci[r]
            rows.append(
                {
                    "experiment": name,
                    "explanation": method,
                    "against": "pgd_acc",
                    "measure": measure,
                    "models": 2 if r == "too few models" else models,
                    "rho": rho,
                    "lo": lo,
                    "hi": hi,
                    "reading": r,
                }
            )
            rows.append(
                {**rows[-1], "against": "beta", "reading": "falls"}
            )  # never read by the claim
    return pd.DataFrame(rows)


@pytest.mark.parametrize(
    "readings, verdict",
    [
        ({("a", "gradient"): "rises", ("b", "gradient"): "rises"}, REPRODUCED),
        (
            {("a", "gradient"): "rises", ("b", "gradient"): "no clear relation"},
            INCONCLUSIVE,
        ),
        (
            {("a", "gradient"): "falls", ("b", "gradient"): "no clear relation"},
            INCONCLUSIVE,
        ),
        (
            {
                ("a", "gradient"): "no clear relation",
                ("b", "gradient"): "no clear relation",
            },
            INCONCLUSIVE,
        ),
        ({("a", "gradient"): "too few models"}, NOT_TESTED),
        ({("a", "gradient"): "rises", ("b", "gradient"): "too few models"}, REPRODUCED),
    ],
)
def test_claim_sweep(readings, verdict, paper):
    row = claim_sweep(sweep_corr(readings), paper)
    assert check_row(row) == verdict
    assert (
        row["paper"]
        == "reported by reviewers; MAT above Normal in L_end in 6 of 6 blocks"
    )
    assert sum(s is not None for s in row["units"].values()) == sum(
        r != "too few models" for r in readings.values()
    )


def test_claim_sweep_reads_the_real_correlations():
    # L_end rises with PGD accuracy in experiment "up" and falls in "down": one agrees, one disagrees
    pgd = np.linspace(0.0, 0.9, 8)
    rows = [
        {
            "experiment": name,
            "explanation": "gradient",
            "family": "TRADES",
            "beta": float(i),
            "pgd_acc": p,
            "l_end_1e-7": 10 + (p if name == "up" else -p) * 10,
            "relative_reduction": 0.5 - 0.1 * p,
            "spearman_to_target": 0.3,
            "l_start_1e-7": 20 + p,
        }
        for name in ("up", "down")
        for i, p in enumerate(pgd)
    ]
    corr = correlations(
        pd.DataFrame(rows).assign(
            spearman_to_target=lambda d: 0.3 + 0.01 * np.sin(d["beta"])
        )
    )
    row = claim_sweep(corr, pd.read_csv(PAPER_CSV))
    assert row["units"] == {"up (gradient)": AGREES, "down (gradient)": DISAGREES}
    assert check_row(row) == PARTLY
    assert row["ours"].startswith("L_end rises in 1 of 2 groups")


def test_claim_sweep_sentences_follow_the_inputs(paper):
    validation = pd.DataFrame(
        {
            "experiment": ["a", "a"],
            "measure": ["l_end_1e-7", "relative_reduction"],
            "prototype_rho": [0.9, 0.5],
            "random_rho": [0.8, 0.7],
            "ranking": ["at least as well as", "less well than"],
        }
    )
    row = claim_sweep(
        sweep_corr({("a", "gradient"): "rises"}),
        paper,
        validation=validation,
        pgd_rises={"a": True, "b": False},
    )
    assert (
        "PGD accuracy rises with β at every step in 1 of 2 experiments (not in b)"
        in row["detail"]
    )
    assert (
        "in 1 of 2 comparisons (less well for a, relative reduction)" in row["detail"]
    )
    assert (
        "L_start, the distance before any attack, rises with PGD accuracy in 1 of 1 groups"
        in row["detail"]
    )
    assert "as the paper reports" in row["detail"]


def test_pgd_rises_with_beta_known_answers():
    summary = pd.DataFrame(
        {
            "experiment": ["a"] * 4 + ["b"] * 3,
            "family": ["TRADES"] * 3 + ["MAT"] + ["TRADES"] * 3,
            "pgd_mean": [0.0, 0.3, 0.295, 0.1, 0.0, 0.5, 0.4],
        }
    )
    assert pgd_rises_with_beta(
        summary, "a"
    )  # a fall of half a point counts as none; MAT left out
    assert not pgd_rises_with_beta(summary, "b")


# ------------------------------------------------------------------------------------------------
# claim 3: the landscape


def landscape_corr(
    per_experiment: dict[str, tuple[list[str], list[str]]],
) -> pd.DataFrame:
    """flatness_correlations-like rows against PGD accuracy: the CE readings and the explanation-loss
    readings of each experiment, the k-th of each loss on the same flatness measure ("weak": an interval
    that holds 0 inside the margin)."""
    ci = {
        "flattens": (-0.7, -0.9, -0.3),
        "sharpens": (0.7, 0.3, 0.9),
        "no clear relation": (0.0, -0.5, 0.5),
        "weak": (0.0, -0.2, 0.2),
        "too few models": (np.nan,) * 3,
    }
    rows = []
    for name, (ce, ex) in per_experiment.items():
        for loss, readings in (("ce", ce), ("expl_twin", ex)):
            for k, r in enumerate(readings):
                column = f"{loss}:spectral" if k == 0 else f"{loss}:measure{k}"
                rho, lo, hi = ci[r]
                rows.append(
                    {
                        "experiment": name,
                        "against": "pgd_acc",
                        "column": column,
                        "loss": loss,
                        "measure": column,
                        "models": 2 if r == "too few models" else 12,
                        "rho": rho,
                        "lo": lo,
                        "hi": hi,
                        "reading": "no clear relation" if r == "weak" else r,
                    }
                )
    return pd.DataFrame(rows)


FLAT, SHARP, NONE, WEAK = "flattens", "sharpens", "no clear relation", "weak"


@pytest.mark.parametrize(
    "data, verdict, units",
    [
        (
            {"a": ([FLAT, FLAT], [WEAK, WEAK]), "b": ([FLAT], [WEAK])},
            REPRODUCED,
            [AGREES, AGREES, AGREES],
        ),
        (
            {"a": ([FLAT, NONE], [WEAK, WEAK])},
            INCONCLUSIVE,
            [AGREES, INCONCLUSIVE],
        ),  # CE flattens by one measure only
        (
            {"a": ([FLAT, FLAT], [NONE, SHARP])},
            INCONCLUSIVE,
            [INCONCLUSIVE, INCONCLUSIVE],
        ),  # "does not flatten" is not shown by an interval that merely holds 0
        (
            {"a": ([FLAT, FLAT], [FLAT, WEAK])},
            PARTLY,
            [DISAGREES, AGREES],
        ),  # the explanation loss flattens too by one measure
        (
            {"a": ([SHARP, NONE], [WEAK, FLAT])},
            NOT_REPRODUCED,
            [DISAGREES, DISAGREES],
        ),
        ({"a": (["too few models"], ["too few models"])}, NOT_TESTED, [None]),
    ],
)
def test_claim_landscape(data, verdict, units):
    row = claim_landscape(landscape_corr(data), 0.3, "The starting value tracks L_end.")
    assert check_row(row) == verdict
    assert list(row["units"].values()) == units
    assert "(chapter 4): The starting value tracks L_end. Units (" in row["detail"]
    assert "a (‖H‖₂)" in row["units"]


def test_landscape_parts_pairs_the_losses_by_measure_and_skips_too_few():
    parts = landscape_parts(
        landscape_corr(
            {
                "a": (
                    ["flattens", "no clear relation", "too few models"],
                    ["weak", "flattens", "no clear relation"],
                )
            }
        ),
        0.3,
    )
    assert parts["flatness"].tolist() == ["spectral", "measure1", "measure2"]
    assert parts["ce_status"].tolist() == [AGREES, INCONCLUSIVE, None]
    assert parts["expl_status"].tolist() == [AGREES, DISAGREES, INCONCLUSIVE]
    assert parts["status"].tolist() == [AGREES, DISAGREES, INCONCLUSIVE]
    assert parts.iloc[0]["ce_lo"] == -0.9 and parts.iloc[0]["expl_hi"] == 0.2


# ------------------------------------------------------------------------------------------------
# claim 4: SEP


def sep_main(blocks: dict[str, dict[str, tuple[float, float]]]) -> pd.DataFrame:
    """Main-table rows: per experiment, role and seed (two), 10 pairs around the role's L_end, and its PGD
    accuracy (with ``l_end_1e-7``, so that one row per role also serves as ``roles``)."""
    rows = []
    for name, roles in blocks.items():
        for role, (l_end, pgd) in roles.items():
            for seed in (0, 1):
                rows.append(
                    {
                        "experiment": name,
                        "explanation": "gradient",
                        "role": role,
                        "seed": seed,
                        "l_end_1e-7": l_end,
                        "l_end_pairs": l_end * np.exp(np.linspace(-0.1, 0.1, 10)),
                        "pair_index": np.arange(10),
                        "pgd_acc": pgd,
                        "collapsed": "",
                    }
                )
    return pd.DataFrame(rows)


def sep_roles(main: pd.DataFrame) -> pd.DataFrame:
    return main.drop_duplicates(["experiment", "explanation", "role"])


GOOD = {"SEP_pos": (10.0, 0.80), "MAT": (20.0, 0.81), "SEP_neg": (40.0, 0.80)}
REVERSED = {"SEP_pos": (40.0, 0.80), "MAT": (20.0, 0.81), "SEP_neg": (10.0, 0.80)}
MOVED = {
    "SEP_pos": (10.0, 0.70),
    "MAT": (20.0, 0.81),
    "SEP_neg": (40.0, 0.80),
}  # SEP_pos's PGD 11 points below MAT's
FLAT = {"SEP_pos": (20.0, 0.80), "MAT": (20.0, 0.81), "SEP_neg": (40.0, 0.80)}
HALF = {"SEP_pos": (10.0, 0.80), "MAT": (20.0, 0.81)}  # no SEP_neg
HALF_WRONG = {"SEP_pos": (30.0, 0.80), "MAT": (20.0, 0.81)}


@pytest.mark.parametrize(
    "blocks, verdict, units",
    [
        ({"a": GOOD, "b": GOOD}, REPRODUCED, [AGREES, AGREES]),
        ({"a": GOOD, "b": REVERSED}, PARTLY, [AGREES, DISAGREES]),
        ({"a": MOVED}, INCONCLUSIVE, [INCONCLUSIVE]),
        ({"a": FLAT, "b": GOOD}, INCONCLUSIVE, [INCONCLUSIVE, AGREES]),
        ({"a": HALF}, REPRODUCED, [AGREES]),
        ({"a": REVERSED, "b": HALF_WRONG}, NOT_REPRODUCED, [DISAGREES, DISAGREES]),
        ({"a": {"MAT": (20.0, 0.81)}}, NOT_TESTED, [None]),
    ],
)
def test_claim_sep(blocks, verdict, units):
    main = sep_main(blocks)
    row = claim_sep(
        sep_order_verdicts(main), sep_roles(main), paper_blocks(str(PAPER_CSV))
    )
    assert check_row(row) == verdict
    assert list(row["units"].values()) == units
    # every block of the paper passed here (sep_finding passes only the blocks this book tests)
    assert row["paper"].startswith(
        "in the blocks tested here (MNIST ConvNet, MNIST ResNet18, "
    )
    assert "order of means in 6 of 6; PGD spread ≤ 3.0 pts" in row["paper"]


def test_claim_sep_sentences_follow_the_inputs():
    main = sep_main({"a": GOOD, "b": HALF, "c": MOVED})
    trades = sep_main(
        {"a": {"SEP_pos": (10.0, 0.5), "TRADES": (20.0, 0.5), "SEP_neg": (5.0, 0.5)}}
    )
    row = claim_sep(
        sep_order_verdicts(main),
        sep_roles(main),
        paper_blocks(str(PAPER_CSV)),
        sep_order_verdicts(trades, base="TRADES"),
    )
    d = row["detail"]
    assert (
        "- a (gradient), L_end means SEP_pos 10.0, MAT 20.0, SEP_neg 40.0: SEP_pos < MAT: agrees "
        "(MAT / SEP_pos = 2.00 [2.00, 2.00]); MAT < SEP_neg: agrees (SEP_neg / MAT = 2.00 [2.00, 2.00]); "
        "PGD accuracy minus MAT's (points, mean over seeds [90 % CI]): SEP_pos -1.0 [-1.0, -1.0], "
        "SEP_neg -1.0 [-1.0, -1.0]; held (held: every interval inside ±3 points; not held: "
        "one wholly outside); **block agrees**." in d
    )
    assert (
        "- b (gradient), L_end means SEP_pos 10.0, MAT 20.0, no SEP_neg: SEP_pos < MAT: agrees "
        "(MAT / SEP_pos = 2.00 [2.00, 2.00]) (no SEP_neg met the chapter's rule)" in d
    )
    assert "SEP_pos -11.0 [-11.0, -11.0]" in d and "not held" in d
    assert "**block inconclusive**" in d
    assert "Of 3 blocks, 2 agree, 0 disagree and 1 are inconclusive" in d
    assert (
        "On a TRADES base (our extension, not the paper's), of 1 blocks 0 agree, 1 disagree and 0 are "
        "inconclusive." in d
    )
    assert (
        row["ours"]
        == "paired order agrees, PGD held, in 2 of 3 blocks; SEP_neg/SEP_pos 4.0×"
    )
    assert "in part" not in d
    assert d.endswith(
        "Units (3): agrees: a (gradient), b (gradient); inconclusive: c (gradient)."
    )


# ------------------------------------------------------------------------------------------------
# verdicts are never typed


def string_constants(tree: ast.AST) -> list[ast.Constant]:
    """Every string constant except docstrings."""
    docs = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, (ast.Module, ast.FunctionDef, ast.ClassDef))
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    return [
        n
        for n in ast.walk(tree)
        if isinstance(n, ast.Constant)
        and isinstance(n.value, str)
        and id(n) not in docs
    ]


def test_verdict_words_are_typed_once_in_the_library_and_never_in_the_chapter():
    # the claim verdicts are typed in analysis.claims, "inconclusive" (a verdict and a unit status) in
    # analysis.stats beside the intervals it is read from
    hits = []
    for module in ("claims", "stats"):
        tree = ast.parse((PROJECT / "lib" / "analysis" / f"{module}.py").read_text())
        found = [
            n
            for n in string_constants(tree)
            if any(v in n.value.lower() for v in VERDICTS)
        ]
        statements = [
            s
            for s in tree.body
            if any(s.lineno <= n.lineno <= s.end_lineno for n in found)
        ]
        assert len(statements) <= 1  # the one statement that names them
        hits += found
    assert sorted(n.value for n in hits) == sorted(VERDICTS)
    notebook = jupytext.read(PROJECT / "book" / "08_findings.py")
    code = [ast.parse(c.source) for c in notebook.cells if c.cell_type == "code"]
    typed = [
        n.value
        for t in code
        for n in string_constants(t)
        if any(v in n.value.lower() for v in VERDICTS)
    ]
    assert not typed


# ------------------------------------------------------------------------------------------------
# claims 5 and 6 (chapter 6)


def curvature_verdicts(statuses_10, status_100=None, converged=None):
    rows = []
    for i, status in enumerate(statuses_10):
        for beta, st in ((10.0, status), (100.0, status_100 or status)):
            conv = status if converged is None else converged
            rows.append(
                {
                    "experiment": f"e{i}",
                    "base": "MAT",
                    "twin_beta": beta,
                    "SEP_pos_expl_ratio": 0.5,
                    "SEP_pos_expl_lo": 0.3,
                    "SEP_pos_expl_hi": 0.8,
                    "SEP_pos_status": st,
                    "SEP_pos_ce_ratio": 1.0,
                    "SEP_pos_ce_less": AGREES,
                    "SEP_neg_expl_ratio": np.nan,
                    "SEP_neg_expl_lo": np.nan,
                    "SEP_neg_expl_hi": np.nan,
                    "SEP_neg_status": None,
                    "SEP_neg_ce_ratio": np.nan,
                    "SEP_neg_ce_less": None,
                    "status": st,
                    "status_converged": conv,
                    "changed": conv != st,
                }
            )
    return pd.DataFrame(rows)


@pytest.mark.parametrize(
    "statuses, verdict",
    [
        ([AGREES, AGREES], REPRODUCED),
        ([AGREES, DISAGREES], PARTLY),
        ([AGREES, INCONCLUSIVE], INCONCLUSIVE),
        ([INCONCLUSIVE, INCONCLUSIVE], INCONCLUSIVE),
        ([DISAGREES, DISAGREES], NOT_REPRODUCED),
        ([None], NOT_TESTED),
    ],
)
def test_claim_curvature_reads_each_block_at_the_first_beta(statuses, verdict):
    row = claim_curvature(curvature_verdicts(statuses), 10.0)
    assert row["verdict"] == verdict
    assert (
        "same in" in row["detail"] and "every block keeps its status" in row["detail"]
    )


def test_claim_curvature_counts_blocks_whose_status_changes_with_beta_or_convergence():
    row = claim_curvature(curvature_verdicts([AGREES], status_100=DISAGREES), 10.0)
    assert row["verdict"] == REPRODUCED and "the same in 0 of 1 blocks" in row["detail"]
    assert "SEP_pos ×0.5 [0.3, 0.8] agrees (CE ×1, moves less)" in row["detail"]
    row = claim_curvature(curvature_verdicts([AGREES], converged=INCONCLUSIVE), 10.0)
    assert row["verdict"] == REPRODUCED
    assert "the status changes in e0 (base MAT: agrees → inconclusive)" in row["detail"]


def share_table(across, within):
    """A ``studies.drivers.share_table`` with the two levels' (lo, hi, status)."""
    return pd.DataFrame(
        [
            {
                "level": level,
                "start": 0.6,
                "start_lo": lo,
                "start_hi": hi,
                "r": 0.4,
                "r_lo": 1 - hi,
                "r_hi": 1 - lo,
                "rows": 40,
                "threshold": 0.5,
                "status": status,
            }
            for level, (lo, hi, status) in (
                ("across models", across),
                ("across pairs within a model", within),
            )
        ]
    )


AGREE, DISAGREE, OPEN = (
    (0.55, 0.8, AGREES),
    (0.1, 0.4, DISAGREES),
    (0.3, 0.7, INCONCLUSIVE),
)


@pytest.mark.parametrize(
    "across, within, verdict",
    [
        (AGREE, AGREE, REPRODUCED),
        (AGREE, OPEN, INCONCLUSIVE),
        (OPEN, OPEN, INCONCLUSIVE),
        (DISAGREE, OPEN, INCONCLUSIVE),
        (AGREE, (np.nan, np.nan, None), REPRODUCED),
    ],
)
def test_claim_start_loss_reads_the_share_interval_against_the_threshold(
    across, within, verdict
):
    corr = pd.DataFrame(
        {
            "question": ["flatness ~ L_end | L_start", "flatness ~ rel. reduction"],
            "rho": [-0.4, 0.3],
            "lo": [-0.6, 0.1],
            "hi": [-0.2, 0.5],
            "models": [40, 40],
        }
    )
    row = claim_start_loss(
        share_table(across, within),
        corr,
        pd.read_csv(PAPER_CSV),
        "at fixed L_start, sharper ends closer",
        "no clear role",
    )
    assert row["verdict"] == verdict and "22 of 24" in row["paper"]
    assert "Across models: 60% [55%, 80%] of the variance of log L_end" in row[
        "detail"
    ] or (across != AGREE)
    assert "lies above 50%" in row["detail"] and "(threshold 50%)" in row["ours"]
    assert (
        "Across models (flatness ~ L_end | L_start: ρ = -0.40 [-0.60, -0.20]; flatness ~ rel. "
        "reduction: ρ = +0.30 [+0.10, +0.50]): at fixed L_start, sharper ends closer. Across pairs: "
        "no clear role." in row["detail"]
    )
