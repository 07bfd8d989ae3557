"""SEP across methods with known answers: each training method's SEP models are compared with the same base
models, per attacked method; the order holds where built to hold and not where built not to."""

import numpy as np
import pandas as pd

from lib.analysis.verdicts import cross_verdicts
from lib.core.profile import load_profile
from lib.nn.kinds import NONE
from lib.pipeline.roster import cross_models
from lib.studies.cross_method import cross_accuracy


def row(trained, role, method, l_end, seed):
    pairs = np.array([l_end * 0.9, l_end * 1.1])
    return {
        "experiment": "mnist",
        "explanation": method,
        "role": role,
        "kind": f"{role} {trained}",
        "dataset": "mnist",
        "model": "convnet",
        "seed": seed,
        "l_start_1e-7": 2 * l_end,
        "l_end_1e-7": l_end,
        "relative_reduction": 0.5,
        "spearman_to_target": 0.5,
        "label_kept": 1.0,
        "clean_acc": 0.95,
        "pgd_acc": 0.6,
        "l_end_pairs": pairs,
        "reduction_pairs": np.array([0.5, 0.5]),
        "collapsed": "",
        "trained_with": trained,
    }


def test_each_training_method_is_read_against_the_same_base_per_attacked_method():
    rows = []
    for seed in (0, 1):
        for method in ("gradient", "guided_backprop"):
            rows.append(row(NONE, "MAT", method, 10.0, seed))
            rows += [
                row("gradient", "SEP_pos", method, 5.0, seed),
                row("gradient", "SEP_neg", method, 20.0, seed),
            ]
            flipped = (
                method == "guided_backprop"
            )  # grad x input SEP reverses the order under guided backprop
            rows += [
                row("grad_x_input", "SEP_pos", method, 30.0 if flipped else 6.0, seed),
                row("grad_x_input", "SEP_neg", method, 3.0 if flipped else 25.0, seed),
            ]
    roles, v = cross_verdicts(pd.DataFrame(rows))
    got = {(r.trained_with, r.explanation): r.status for r in v.itertuples()}
    assert got == {
        ("gradient", "gradient"): "agrees",
        ("gradient", "guided_backprop"): "agrees",
        ("grad_x_input", "gradient"): "agrees",
        ("grad_x_input", "guided_backprop"): "disagrees",
    }  # paired per seed and pair; PGD accuracy the same for every model: held
    assert set(roles[roles["trained_with"] == "grad_x_input"]["role"]) == {
        "MAT",
        "SEP_pos",
        "SEP_neg",
    }
    acc = cross_accuracy(roles, "MAT", 2.0)
    assert len(acc) == 4 and acc["within"].all()


def test_no_chosen_sep_model_reads_as_nothing_to_compare():
    """When the SEP chapter chose no lambda (every model collapsed), the table holds base models only: the
    reading is empty, the page says so, and its display is an empty table (not a crash)."""
    from types import SimpleNamespace

    from lib.report.drivers import cross_display, cross_text

    table = pd.DataFrame([row(NONE, "MAT", "gradient", 10.0, s) for s in (0, 1)])
    roles, v = cross_verdicts(table)
    assert roles.empty and v.empty and "trained_with" in v.columns
    assert cross_display(roles).empty
    result = SimpleNamespace(
        base="MAT", verdicts=v, accuracy=cross_accuracy(roles, "MAT", 2.0)
    )
    assert cross_text(result, 2.0).startswith("**Nothing to compare across methods")


def test_cross_models_pair_every_base_with_both_training_methods_and_skip_a_missing_lambda():
    p = load_profile("smoke")
    chosen = pd.DataFrame(
        {"experiment": ["digits"], "SEP_pos": [200.0], "SEP_neg": [None]}
    )
    models = cross_models(p, chosen)
    per_seed = [(t, role) for t, role, r in models if r.seed == p.seeds[0]]
    assert per_seed == [
        (NONE, "MAT"),
        ("gradient", "SEP_pos"),
        ("grad_x_input", "SEP_pos"),
    ]
    gxi = [r for t, _, r in models if t == "grad_x_input"][0]
    assert (
        gxi.spec.train.sep.method == "grad_x_input" and gxi.spec.train.sep.lam == 200.0
    )
