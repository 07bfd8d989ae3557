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
    IN_PART,
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
    A, P, D = AGREES, IN_PART, DISAGREES
    assert verdict_of([]) == NOT_TESTED
    assert verdict_of([None, None]) == NOT_TESTED
    assert verdict_of([A, A, None]) == REPRODUCED
    assert verdict_of([A, D]) == PARTLY
    assert verdict_of([P, P]) == PARTLY
    assert verdict_of([D, P]) == PARTLY
    assert verdict_of([D, None, D]) == NOT_REPRODUCED
    with pytest.raises(ConfigError, match="status='yes'"):
        verdict_of(["yes"])


def test_table_numbers_rows_and_refuses_other_dicts():
    rows = [
        pending("claim a", "paper a", "chapter 6"),
        pending("claim b", "paper b", "chapter 6"),
    ]
    t = findings_table(rows)
    assert list(t.columns) == ["number", "claim", "paper", "ours", "verdict"]
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
        ([0.9, 0.3], [0.8, 0.7], [0.01, 0.02], PARTLY, [AGREES, IN_PART]),
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
        ({("a", "gradient"): "rises", ("b", "gradient"): "no clear relation"}, PARTLY),
        (
            {("a", "gradient"): "falls", ("b", "gradient"): "no clear relation"},
            NOT_REPRODUCED,
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
    readings of each experiment."""
    ci = {
        "flattens": (-0.7, -0.9, -0.3),
        "sharpens": (0.7, 0.3, 0.9),
        "no clear relation": (0.0, -0.5, 0.5),
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
                        "reading": r,
                    }
                )
    return pd.DataFrame(rows)


FLAT, SHARP, NONE = "flattens", "sharpens", "no clear relation"


@pytest.mark.parametrize(
    "data, verdict, units",
    [
        (
            {"a": ([FLAT, FLAT], [NONE, SHARP]), "b": ([FLAT], [NONE])},
            REPRODUCED,
            [AGREES, AGREES],
        ),
        (
            {"a": ([FLAT, NONE], [NONE, NONE])},
            PARTLY,
            [IN_PART],
        ),  # CE flattens by some measures only
        (
            {"a": ([FLAT, FLAT], [FLAT, NONE])},
            PARTLY,
            [IN_PART],
        ),  # the explanation loss flattens too
        (
            {"a": ([NONE, NONE], [NONE, NONE])},
            PARTLY,
            [IN_PART],
        ),  # part (2) holds alone
        (
            {"a": ([FLAT, FLAT], [SHARP]), "b": ([NONE, SHARP], [FLAT, FLAT])},
            PARTLY,
            [AGREES, DISAGREES],
        ),
        ({"a": ([NONE, SHARP], [FLAT, FLAT])}, NOT_REPRODUCED, [DISAGREES]),
        ({"a": (["too few models"], ["too few models"])}, NOT_TESTED, [None]),
    ],
)
def test_claim_landscape(data, verdict, units):
    row = claim_landscape(landscape_corr(data), "The starting value tracks L_end.")
    assert check_row(row) == verdict
    assert list(row["units"].values()) == units
    assert "(chapter 4): The starting value tracks L_end. Units (" in row["detail"]


def test_landscape_parts_counts_and_skips_too_few():
    parts = landscape_parts(
        landscape_corr({"a": ([FLAT, NONE, "too few models"], [SHARP, FLAT, NONE])})
    )
    counts = parts.iloc[0][
        ["ce_flattens", "ce_n", "expl_flattens", "expl_sharpens", "expl_n"]
    ].tolist()
    assert counts == [1, 2, 1, 1, 3]


# ------------------------------------------------------------------------------------------------
# claim 4: SEP


def sep_roles(blocks: dict[str, dict[str, tuple[float, float]]]) -> pd.DataFrame:
    """by_role-like rows: per experiment, each role's (L_end, PGD accuracy)."""
    rows = []
    for name, roles in blocks.items():
        for role, (l_end, pgd) in roles.items():
            rows.append(
                {
                    "experiment": name,
                    "explanation": "gradient",
                    "role": role,
                    "l_end_1e-7": l_end,
                    "l_end_lo": 0.9 * l_end,
                    "l_end_hi": 1.1 * l_end,
                    "relative_reduction": 1 / l_end,
                    "spearman_to_target": 1 / l_end,
                    "pgd_acc": pgd,
                }
            )
    return pd.DataFrame(rows)


GOOD = {"SEP_pos": (10.0, 0.80), "MAT": (20.0, 0.81), "SEP_neg": (40.0, 0.80)}
REVERSED = {"SEP_pos": (40.0, 0.80), "MAT": (20.0, 0.81), "SEP_neg": (10.0, 0.80)}
MOVED = {
    "SEP_pos": (10.0, 0.70),
    "MAT": (20.0, 0.81),
    "SEP_neg": (40.0, 0.80),
}  # PGD 11 points apart
HALF = {"SEP_pos": (10.0, 0.80), "MAT": (20.0, 0.81)}  # no SEP_neg
HALF_WRONG = {"SEP_pos": (30.0, 0.80), "MAT": (20.0, 0.81)}


@pytest.mark.parametrize(
    "blocks, verdict, units",
    [
        ({"a": GOOD, "b": GOOD}, REPRODUCED, [AGREES, AGREES]),
        ({"a": GOOD, "b": REVERSED}, PARTLY, [AGREES, DISAGREES]),
        ({"a": MOVED}, PARTLY, [IN_PART]),
        ({"a": HALF}, PARTLY, [IN_PART]),
        ({"a": REVERSED, "b": HALF_WRONG}, NOT_REPRODUCED, [DISAGREES, DISAGREES]),
        ({"a": {"MAT": (20.0, 0.81)}}, NOT_TESTED, [None]),
    ],
)
def test_claim_sep(blocks, verdict, units):
    roles = sep_roles(blocks)
    row = claim_sep(sep_order_verdicts(roles), roles, paper_blocks(str(PAPER_CSV)))
    assert check_row(row) == verdict
    assert list(row["units"].values()) == units
    assert row["paper"].startswith("order in 6 of 6 blocks; PGD spread ≤ 3.0 pts")


def test_claim_sep_sentences_follow_the_inputs():
    roles = sep_roles({"a": GOOD, "b": HALF})
    trades = sep_roles(
        {"a": {"SEP_pos": (10.0, 0.5), "TRADES": (20.0, 0.5), "SEP_neg": (5.0, 0.5)}}
    )
    row = claim_sep(
        sep_order_verdicts(roles),
        roles,
        paper_blocks(str(PAPER_CSV)),
        sep_order_verdicts(trades, base="TRADES"),
    )
    assert "in 1 of 2 blocks (1 with both SEP_pos and SEP_neg)" in row["detail"]
    assert (
        "SEP_pos 10.0 [9.0, 11.0], MAT 20.0 [18.0, 22.0], SEP_neg 40.0 [36.0, 44.0]"
        in row["detail"]
    )
    assert (
        "no SEP_neg met the chapter's rule, so only half the order can be read (SEP_pos < MAT: yes)"
        in row["detail"]
    )
    assert "are apart in 1 of 1 complete blocks." in row["detail"]
    assert (
        "On a TRADES base (our extension, not the paper's), the order holds with PGD accuracy held in 0 of 1"
        in row["detail"]
    )
    assert row["ours"] == "order, PGD held, in 1 of 2 blocks; SEP_neg/SEP_pos 4.0×"
    assert row["detail"].endswith(
        "Units (2): agrees: a (gradient); agrees in part: b (gradient)."
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
    source = (PROJECT / "lib" / "analysis" / "verdicts.py").read_text()
    tree = ast.parse(source)
    hits = [
        n for n in string_constants(tree) if any(v in n.value.lower() for v in VERDICTS)
    ]
    assert sorted(n.value for n in hits) == sorted(VERDICTS)
    statements = [
        s for s in tree.body if any(s.lineno <= n.lineno <= s.end_lineno for n in hits)
    ]
    assert len(statements) == 1  # the one statement that names them
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


def curvature_verdicts(readings_10, reading_100=None):
    rows = []
    for i, reading in enumerate(readings_10):
        for beta, rd in ((10.0, reading), (100.0, reading_100 or reading)):
            rows.append(
                {
                    "experiment": f"e{i}",
                    "base": "MAT",
                    "twin_beta": beta,
                    "SEP_pos_expl_ratio": 0.5,
                    "SEP_pos_ce_ratio": 1.0,
                    "SEP_neg_expl_ratio": np.nan,
                    "SEP_neg_ce_ratio": np.nan,
                    "reading": rd,
                }
            )
    return pd.DataFrame(rows)


@pytest.mark.parametrize(
    "readings, verdict",
    [
        (["as intended", "as intended"], REPRODUCED),
        (["as intended", "against"], PARTLY),
        (["against", "against"], NOT_REPRODUCED),
        (["not tested"], NOT_TESTED),
    ],
)
def test_claim_curvature_reads_each_block_at_the_first_beta(readings, verdict):
    row = claim_curvature(curvature_verdicts(readings), 10.0)
    assert row["verdict"] == verdict
    assert "same in" in row["detail"]


def test_claim_curvature_counts_blocks_whose_reading_changes_with_beta():
    row = claim_curvature(
        curvature_verdicts(["as intended"], reading_100="against"), 10.0
    )
    assert row["verdict"] == REPRODUCED and "the same in 0 of 1 blocks" in row["detail"]


@pytest.mark.parametrize(
    "across, within, verdict",
    [
        ("start loss", "start loss", REPRODUCED),
        ("start loss", "both", PARTLY),
        ("flatness", "neither", NOT_REPRODUCED),
    ],
)
def test_claim_start_loss_reads_models_and_pairs(across, within, verdict):
    corr = pd.DataFrame(
        {
            "question": ["L_start ~ L_end", "flatness ~ L_end | L_start"],
            "rho": [0.9, 0.0],
            "lo": [0.8, -0.2],
            "hi": [0.95, 0.2],
            "models": [40, 40],
        }
    )
    row = claim_start_loss(corr, across, within, pd.read_csv(PAPER_CSV))
    assert (
        row["verdict"] == verdict
        and "22 of 24" in row["paper"]
        and "Over 40 models" in row["detail"]
    )
