"""Collapse = non-finite loss or chance accuracy (issue 19, item 6), with known answers: L_f growth is no
longer a reason, and a stored record of the old rule is read again by the new one without retraining or
changing a key."""

import math

import pandas as pd
import pytest

from lib.core.settings import (
    AttackConfig,
    DataConfig,
    ModelConfig,
    SepConfig,
    TrainConfig,
)
from lib.pipeline.evaluation import stored_live
from lib.pipeline.roster import _collapse_on
from lib.pipeline.runs import Run
from lib.pipeline.task import NOT_NEEDED
from lib.pipeline.training import (
    CHANCE_MARGIN,
    RunSpec,
    collapse_of,
    collapse_reason,
    get_model,
)


def history(lf=(1e-6, 1e-5, 1e-3), acc=0.9, loss=1.0):
    return [
        {"epoch": i + 1, "loss": loss, "sep_lf": v, "monitor_clean_acc": acc}
        for i, v in enumerate(lf)
    ]


def test_a_non_finite_history_collapses():
    assert collapse_reason(history(lf=(1e-6, math.inf)), 10).startswith(
        "non-finite loss at epoch 2"
    )
    assert collapse_reason(history(lf=(1e-6, math.nan)), 10) is not None
    assert collapse_reason(history(loss=math.nan), 10).startswith(
        "non-finite loss at epoch 1, in the loss"
    )
    assert collapse_reason([], 10) == "no epoch finished"


def test_chance_accuracy_collapses_and_just_above_it_does_not():
    at = 1 / 10 + CHANCE_MARGIN
    assert (
        collapse_reason(history(acc=at), 10) == "clean accuracy 0.150 at chance (1/10)"
    )
    assert collapse_reason(history(acc=at + 0.01), 10) is None


def test_lf_grown_1000_fold_at_good_accuracy_is_live():
    assert collapse_reason(history(lf=(1e-6, 1e-4, 1e-3), acc=0.9), 10) is None


def test_a_legacy_lf_record_reads_as_live_and_other_records_are_kept():
    legacy = {"collapsed": "L_f exploded from 1e-06 to 0.001", "history": history()}
    assert collapse_of(legacy, 10) is None
    # a legacy record whose history also sits at chance (the old rule read chance first, but be safe)
    assert collapse_of({**legacy, "history": history(acc=0.1)}, 10).startswith(
        "clean accuracy 0.100"
    )
    kept = {"collapsed": "non-finite loss at epoch 2, batch 9", "history": history()}
    assert collapse_of(kept, 10) == kept["collapsed"]
    assert collapse_of({"history": history()}, 10) is None
    assert collapse_of({"collapsed": None, "history": history()}, 10) is None


def test_the_sweep_marks_chance_on_the_choice_images_for_sep_runs_only():
    assert _collapse_on(None, 200.0, 0.12, 10, "validation") == (
        "clean accuracy 0.120 on the validation images at chance (1/10)"
    )
    assert (
        _collapse_on(None, 0.0, 0.12, 10, "validation") == ""
    )  # the base model is not a SEP run
    assert _collapse_on(None, 200.0, 0.9, 10, "test") == ""
    assert _collapse_on("non-finite loss", 200.0, 0.9, 10, "test") == "non-finite loss"


def test_a_stored_legacy_record_is_reread_by_get_model_and_stored_live(store):
    spec = RunSpec(
        DataConfig("digits", n_train=100, n_test=100),
        ModelConfig("convnet", width=4),
        TrainConfig(
            method="mat",
            epochs=1,
            batch_size=50,
            lr=0.05,
            monitor_n=100,
            attack=AttackConfig(eps=0.1, step_size=0.05, steps=1),
            sep=SepConfig(lam=10.0, sigma=0.1),
        ),
    )
    trained = get_model(spec, store, "cpu", progress=False)
    key = trained.entry.key
    # a history at good accuracy (the weights are not read by the rule)
    metrics = {**trained.entry.load_json("metrics.json"), "history": history()}
    # the record the old rule would have written for this run
    trained.entry.save_json(
        "metrics.json", {**metrics, "collapsed": "L_f exploded from 1e-06 to 0.001"}
    )
    run = Run("digits", spec)
    again = get_model(spec, store, "cpu", progress=False)
    assert again.collapsed is None and again.entry.key == key
    assert stored_live(run, store) is run
    # a non-finite record stays collapsed
    trained.entry.save_json(
        "metrics.json", {**metrics, "collapsed": "non-finite loss at epoch 1, batch 2"}
    )
    assert get_model(spec, store, "cpu", progress=False).collapsed.startswith(
        "non-finite"
    )
    assert stored_live(run, store) is NOT_NEEDED


def test_the_old_rule_runs_are_named_with_their_accuracy_and_choice():
    from lib.analysis.verdicts import OLD_LF_GROWTH, dropped_by_old_lf_rule

    sweep = pd.DataFrame(
        {
            "experiment": "e",
            "lam": [0.0, 1e3, -1e3, -1e4, -1e5],
            "clean_acc": [0.9, 0.9, 0.9, 0.85, 0.1],
            "pgd_acc": [0.6] * 4 + [0.1],
            "lf_growth": [math.nan, 2.0, OLD_LF_GROWTH * 3, OLD_LF_GROWTH * 10, 1e4],
            "collapsed": ["", "", "", "", "clean accuracy 0.100 at chance (1/10)"],
        }
    )
    named = dropped_by_old_lf_rule(sweep, 2.0)
    assert named["lam"].tolist() == [
        -1e3,
        -1e4,
    ]  # -1e5 is collapsed (chance): not counted
    assert named["within"].tolist() == [True, False]
    assert named["chosen"].tolist() == [True, False]


@pytest.mark.parametrize("growth", [1e3, 1e6])
def test_growth_alone_never_keeps_a_run_out_of_the_choice(growth):
    from lib.analysis.verdicts import choose

    sweep = pd.DataFrame(
        {
            "experiment": "e",
            "lam": [0.0, -3e3],
            "clean_acc": [0.9, 0.9],
            "pgd_acc": [0.6, 0.6],
            "lf_growth": [math.nan, growth],
            "collapsed": [
                "",
                collapse_reason(history(lf=(1e-6, 1e-6 * growth)), 10) or "",
            ],
        }
    )
    assert choose(sweep, 2.0).iloc[0]["SEP_neg"] == -3e3
