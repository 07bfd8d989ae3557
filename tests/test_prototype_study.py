"""The prototype study: statistics with known answers, the stored pairs, and the measurement end to end on
the smoke profile with a small sweep."""

import numpy as np
import pandas as pd
import pytest
import torch

from lib.analysis.verdicts import validation_verdicts
from lib.core.errors import ConfigError
from lib.core.profile import load_profile
from lib.measure.manipulate import ManipulationResult
from lib.measure.prototypes import cluster_map_distances
from lib.pipeline.explanation_attack import (
    attack_config,
    budget_attack_tasks,
    budget_eps,
    evaluation_images,
    pairs_id,
    plateaued,
    prototype_pairs,
    relation_table,
)
from lib.studies import prototypes as study
from lib.studies.prototypes import (
    Validation,
    all_ordered_pairs,
    attack_seconds,
    cached_timing,
    correlations,
    cost_table,
    prototype_result,
    settings_table,
    table_by_kind,
    validate_prototypes,
    validation_pool,
    validation_result,
    validation_summary,
)

# A tiny smoke sweep: one seed, two betas, no MAT, two training epochs; short attacks.
TINY = {
    "seeds": [0],
    "sweep.betas": [0.0, 1.0],
    "sweep.mat": False,
    "experiments.digits.train.epochs": 1,
    "experiments.digits.eval.n": 120,
    "prototypes.n_clusters": 3,
    "prototypes.victims_per_cluster": 2,
    "prototypes.steps": 20,
    "prototypes.validation.n_images": 5,
    "prototypes.validation.n_clusters": 2,
    "prototypes.validation.victims_per_cluster": 1,
    "prototypes.validation.targets_per_victim": 1,
    "prototypes.validation.kmeans_seeds": 3,
    "prototypes.validation.resamples": 50,
    "prototypes.validation.timing_pairs": [2, 4],
    "prototypes.validation.timing_steps": 2,
}


def test_cluster_map_distances_splits_known_distances():
    maps = torch.tensor([[0.0, 0.0], [0.0, 0.0], [1.0, 0.0], [1.0, 1.0]])
    intra, inter = cluster_map_distances(maps, np.array([0, 0, 1, 1]))
    # MSE over 2 entries, in 1e-7 units: intra pairs (0,1) and (2,3); the other four are inter
    np.testing.assert_allclose(np.sort(intra), np.array([0.0, 0.5]) * 1e7, atol=1e-6)
    np.testing.assert_allclose(
        np.sort(inter), np.array([0.5, 0.5, 1.0, 1.0]) * 1e7, atol=1e-6
    )
    with pytest.raises(ConfigError, match="cluster_of has 3 entries for 4 maps"):
        cluster_map_distances(maps, np.array([0, 0, 1]))


def test_all_ordered_pairs_counts_n_times_n_minus_one():
    vi, ti = all_ordered_pairs(5)
    assert len(vi) == 20 and (vi != ti).all()
    assert len(set(zip(vi.tolist(), ti.tolist()))) == 20


def test_validation_summary_is_exact_for_a_perfect_estimator_and_biased_for_a_shifted_one():
    truth = np.array([1.0, 2.0, 3.0, 4.0])
    val = Validation(
        models=pd.DataFrame(),
        prototype={"m": np.tile(truth[:, None], (1, 3))},
        random={"m": np.tile(truth[:, None], (1, 5)) * 1.1},
        all_pairs={"m": truth},
        n_images=4,
        n_pairs_all=12,
        n_pairs_subset=2,
    )
    s = validation_summary(val).set_index("estimator")
    assert (
        s.loc["prototypes", "rel_error_median"] == 0
        and s.loc["prototypes", "rank_rho_median"] == 1
    )
    assert s.loc["random subset", "rel_error_median"] == pytest.approx(0.1)
    assert s.loc["random subset", "bias"] == pytest.approx(0.1)
    assert (
        s.loc["random subset", "rank_exact"] == 1
    )  # a constant factor keeps the ranking


def test_attack_config_uses_the_prototype_steps_and_keeps_early_stopping_off():
    P = load_profile("cpu")
    cfg = attack_config(P, "grad_x_input")
    assert (cfg.steps, cfg.lr, cfg.method) == (500, 6e-4, "grad_x_input")
    assert cfg.window >= cfg.steps  # the cpu profile disables early stopping
    assert 450 in cfg.trace_steps and 500 in cfg.trace_steps


def test_plateaued_reads_the_last_tenth_of_the_trace():
    P = load_profile("smoke", {"prototypes.steps": 100})
    cfg = attack_config(P, "gradient")
    trace = torch.ones(len(cfg.trace_steps), 2)
    trace[cfg.trace_steps.index(100)] = torch.tensor(
        [0.995, 0.5]
    )  # pair 0: -0.5 %, pair 1: -50 %
    z = torch.zeros(2)
    result = ManipulationResult(z, z, z, z, z.bool(), z.bool(), z, z, z, trace=trace)
    assert plateaued(result, cfg).tolist() == [True, False]


def test_bad_prototype_settings_are_refused():
    with pytest.raises(ConfigError, match="prototypes.methods='saliency'"):
        load_profile("smoke", {"prototypes.methods": ["saliency"]})
    with pytest.raises(ConfigError, match="prototypes.targets_per_victim=5"):
        load_profile("smoke", {"prototypes.targets_per_victim": 5})
    with pytest.raises(ConfigError, match="prototypes.features='raw'"):
        load_profile("smoke", {"prototypes.features": "raw"})
    with pytest.raises(ConfigError, match="prototypes.validation.n_clusters=9"):
        load_profile("smoke", {"prototypes.validation.n_clusters": 9})
    with pytest.raises(ConfigError, match="prototypes.validation.experiments='cifar'"):
        load_profile("smoke", {"prototypes.validation.experiments": ["cifar"]})


def test_more_clusters_than_images_is_refused(store):
    P = load_profile("smoke", {**TINY, "prototypes.n_clusters": 500})
    with pytest.raises(
        ConfigError,
        match="prototypes.n_clusters=500 is not allowed: expected at most 120",
    ):
        prototype_pairs(P, "digits", store, "cpu")
    P = load_profile("smoke", {**TINY, "prototypes.validation.n_images": 1000})
    with pytest.raises(ConfigError, match="n_images=1000"):
        validation_pool(P, "digits")


def test_study_end_to_end_on_a_tiny_sweep_is_cached_and_consistent(store):
    P = load_profile("smoke", TINY)
    pairs = prototype_pairs(P, "digits", store, "cpu")
    assert (
        len(pairs.victims) == 6 and (pairs.victim_cluster != pairs.target_cluster).all()
    )
    again = prototype_pairs(P, "digits", store, "cpu")
    assert (
        again.victims.tolist() == pairs.victims.tolist()
    )  # stored, not recomputed differently

    table = relation_table(P, store, "cpu", progress=False)
    assert len(table) == 2 * 2  # 2 models x 2 methods
    assert (table["pairs"] == 6).all() and table["label_kept"].between(0, 1).all()
    assert (
        table["l_end_1e-7"] < table["l_start_1e-7"]
    ).mean() >= 0.5  # the attack lowers the loss
    cached = relation_table(P, store, "cpu", progress=False)
    pd.testing.assert_frame_equal(table, cached)

    by_kind = table_by_kind(table)
    assert (
        len(by_kind) == 4
        and (by_kind["seeds"] == 1).all()
        and by_kind["l_end_sd"].isna().all()
    )
    assert set(by_kind["kind"]) == {"standard", "TRADES β=1"}
    corr = correlations(
        pd.concat([table.assign(seed=s) for s in range(3)])
    )  # 6 rows per group
    assert set(corr["reading"]) <= {"rises", "falls", "no clear relation"}

    val = validate_prototypes(P, store, "cpu", progress=False)
    assert val.n_pairs_all == 20 and val.n_pairs_subset == 2
    # every estimate is a mean over a subset of the all-pairs records
    for k, truth in val.all_pairs.items():
        assert val.prototype[k].shape == (2, 3) and val.random[k].shape == (2, 50)
        assert np.allclose(val.random[k].mean(1), truth, rtol=0.5)
    timing = cached_timing(P, store, "cpu")
    assert timing["pairs"].tolist() == [2, 4] and (timing["seconds_per_step"] > 0).all()


def test_runs_other_than_the_sweep_are_measured(store):
    """The study measures any list of runs: here one model that is not in the profile's sweep."""
    from dataclasses import replace

    from lib.pipeline.roster import sweep_runs
    from lib.pipeline.runs import Run

    P = load_profile("smoke", TINY)
    base = sweep_runs(P)[0]
    other = Run(
        "digits",
        replace(base.spec, train=replace(base.spec.train, method="mat", beta=0.0)),
    )
    table = relation_table(
        P, store, "cpu", methods=("gradient",), runs=[other], progress=False
    )
    assert table["kind"].tolist() == ["MAT"] and table["beta"].isna().all()


def test_validation_verdicts_compare_errors_and_rankings():
    summary = pd.DataFrame(
        [
            {
                "experiment": "e",
                "measure": "l_end_1e-7",
                "estimator": "prototypes",
                "rel_error_median": 0.05,
                "rank_rho_median": 0.9,
            },
            {
                "experiment": "e",
                "measure": "l_end_1e-7",
                "estimator": "random subset",
                "rel_error_median": 0.10,
                "rank_rho_median": 1.0,
            },
        ]
    )
    v = validation_verdicts(summary).iloc[0]
    assert v["error"] == "smaller" and v["ranking"] == "less well than"


def test_attack_seconds_interpolates_then_scales_linearly():
    timing = pd.DataFrame({"pairs": [10, 100], "seconds_per_step": [1.0, 2.0]})
    got = attack_seconds(timing, np.array([10, 55, 100, 1000]), steps=10)
    np.testing.assert_allclose(got, [10.0, 15.0, 20.0, 200.0])


def test_the_fixed_budget_attack_stays_inside_the_pgd_ball_and_leaves_the_reference_keys_alone(
    store,
):
    from lib.measure.manipulate import cached_manipulation, manipulation_config
    from lib.pipeline.evaluation import model_key
    from lib.pipeline.roster import sweep_runs
    from lib.pipeline.training import get_model

    P = load_profile("smoke", TINY)
    eps = budget_eps(P, "digits")
    assert eps == P.experiment("digits").eval.attack.eps
    free, bounded = attack_config(P, "gradient"), attack_config(P, "gradient", eps)
    assert (
        free.eps is None
        and bounded.eps == eps
        and free == attack_config(P, "gradient", None)
    )
    run = sweep_runs(P)[0]
    pairs = prototype_pairs(P, "digits", store, "cpu")
    ids = pairs_id(P, "digits", pairs)
    assert manipulation_config(model_key(run), ids, free) != manipulation_config(
        model_key(run), ids, bounded
    )
    table = relation_table(
        P, store, "cpu", ("gradient",), [run], progress=False, budget=True
    )
    x, _ = evaluation_images(P, "digits")
    trained = get_model(run.spec, store, "cpu", progress=False)
    result, _ = cached_manipulation(
        store,
        model_key(run),
        ids,
        trained.model,
        x[pairs.victims],
        x[pairs.targets],
        bounded,
        progress=False,
    )  # the stored bounded attack, read back
    assert float(result.linf.max()) <= eps + 1e-6
    assert len(table) == 1 and table["l_end_1e-7"].iloc[0] > 0
    tasks = budget_attack_tasks(P, [run], store, "cpu")
    assert [t.stage for t in tasks] == ["budget-attacks"] * len(P.prototypes.methods)
    assert tasks[0].done(store) and not tasks[1].done(
        store
    )  # gradient measured above, grad_x_input not


def test_cost_table_counts_pairs_and_extrapolates_their_time():
    timing = pd.DataFrame({"pairs": [10, 100], "seconds_per_step": [1.0, 2.0]})
    cost = cost_table(timing, n_pairs=55, steps=10, images=(5, 11, 1000))
    assert cost["attacks_all"].tolist() == [20, 110, 999000]
    assert cost["attacks_prototypes"].tolist() == [55, 55, 55]
    np.testing.assert_allclose(
        cost["seconds_all"], [(1 + 10 / 90) * 10, 22.0, 999000 * 0.02 * 10]
    )
    np.testing.assert_allclose(cost["seconds_prototypes"], [15.0] * 3)


def test_settings_table_reads_the_profile():
    P = load_profile("smoke", TINY)
    s = settings_table(P).set_index("setting")["value"]
    assert s["clusters (k)"] == 3 and s["victims per cluster"] == 2
    assert s["pairs per model"] == 3 * 2 * P.prototypes.targets_per_victim
    assert s["attack"].startswith("20 steps")


def test_validation_result_summarises_every_experiment_and_reads_verdicts(monkeypatch):
    truth = np.array([1.0, 2.0, 3.0])

    def fake(profile, store, device, method, name, progress):
        scale = 1.0 if name == "digits" else 1.2  # fashion: a biased prototype estimate
        return Validation(
            models=pd.DataFrame({"seconds": [1.0, 2.0, 3.0]}),
            prototype={
                m: np.tile(truth[:, None], (1, 3)) * scale
                for m in ("l_end_1e-7", "relative_reduction")
            },
            random={
                m: np.tile(truth[:, None], (1, 5)) * 1.1
                for m in ("l_end_1e-7", "relative_reduction")
            },
            all_pairs={m: truth for m in ("l_end_1e-7", "relative_reduction")},
            n_images=3,
            n_pairs_all=6,
            n_pairs_subset=2,
        )

    monkeypatch.setattr(study, "validate_prototypes", fake)
    P = load_profile("smoke", {"prototypes.validation.experiments": ["digits"]})
    monkeypatch.setattr(
        study, "validation_experiments", lambda profile: ("digits", "fashion")
    )
    r = validation_result(P, None, "cpu")
    assert list(r.validations) == ["digits", "fashion"] and r.attack_seconds == 12.0
    assert len(r.summary) == 2 * 2 * 2  # experiments x measures x estimators
    assert set(r.summary["measure_name"]) == {"L_end", "relative reduction"}
    assert r.summary["rho_range"].iloc[0] == "[1.00, 1.00]"
    assert r.verdicts["error"].tolist() == ["smaller", "smaller", "larger", "larger"]
    assert r.verdicts["experiment"].tolist() == [
        "digits",
        "digits",
        "fashion",
        "fashion",
    ]


def test_prototype_result_gathers_the_chapter_on_a_tiny_sweep(store):
    P = load_profile("smoke", TINY)
    r = prototype_result(P, store, "cpu")
    assert r.n_pairs == 6 and r.cluster_experiment == "digits" and 0 < r.purity <= 1
    assert len(r.clusters) == 3 and all(
        images.shape[0] == maps.shape[0] == 3 for images, maps in r.clusters
    )
    assert (
        len(r.distances) == 2 * 2 and len(r.distance_samples) == 4
    )  # 2 models x 2 methods
    assert len(r.table) == 4 and len(r.by_kind) == 4
    np.testing.assert_allclose(r.by_kind["pgd"], 100 * r.by_kind["pgd_acc"])
    assert set(r.vs_pgd["against"]) == {"pgd_acc"} and set(r.start["measure"]) == {
        "l_start_1e-7"
    }
    assert r.correlations["measure_name"].notna().all()
    assert (
        list(r.validation.validations) == ["digits"] and len(r.validation.verdicts) == 2
    )
    assert (
        r.cost["images"].iloc[-1] == 1000 and (r.cost["attacks_prototypes"] == 6).all()
    )
    assert isinstance(r.short_same_order, bool) and len(r.short_check) >= 2
