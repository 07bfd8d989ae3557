"""A stored PGD evaluation does not depend on how its caller got the model.

``get_model`` returns a stored model lazily: the network is built (its initial weights drawn, then
replaced by the stored ones) on first use. PGD's random start reads the global generator, so loading must
leave it alone: the evaluation then starts PGD from the seeded state whether or not the caller loaded the
network before asking for the evaluation (a chapter often has; ``lib.plan``'s evaluation task has not).
"""

from __future__ import annotations

import torch

import lib.pipeline.evaluation as evaluation
from lib.core.profile import load_profile
from lib.core.store import ResultStore
from lib.pipeline.roster import sweep_runs
from lib.pipeline.training import get_model


def _evaluate_recording_rng(
    monkeypatch, trained, exp, store
) -> tuple[dict, torch.Tensor]:
    """``evaluate_model`` of ``trained``, and the global generator's state when PGD started."""
    seen = []
    real = evaluation.evaluate

    def recording(*args, **kwargs):
        seen.append(torch.get_rng_state())
        return real(*args, **kwargs)

    monkeypatch.setattr(evaluation, "evaluate", recording)
    result = evaluation.evaluate_model(trained, exp, store, exp.eval.attack)
    assert len(seen) == 1
    return result, seen[0]


def test_pgd_starts_from_the_seeded_generator_whether_or_not_the_model_was_loaded(
    monkeypatch, tmp_path
):
    profile = load_profile("smoke")
    run = sweep_runs(profile)[1]  # a TRADES model: its PGD accuracy is neither 0 nor 1
    exp = profile.experiment(run.experiment)
    models = ResultStore(tmp_path / "models")
    get_model(run.spec, models, "cpu", progress=False)  # trained and stored

    torch.manual_seed(evaluation.EVAL_SEED)
    seeded = torch.get_rng_state()

    lazy = get_model(run.spec, models, "cpu", progress=False)  # network not built yet
    assert lazy._model is None
    lazy_result, lazy_state = _evaluate_recording_rng(
        monkeypatch, lazy, exp, ResultStore(tmp_path / "lazy")
    )
    loaded = get_model(run.spec, models, "cpu", progress=False)
    before = torch.get_rng_state()
    assert loaded.model is not None  # the caller built the network first
    assert torch.equal(
        torch.get_rng_state(), before
    )  # and loading drew nothing from the generator
    loaded_result, loaded_state = _evaluate_recording_rng(
        monkeypatch, loaded, exp, ResultStore(tmp_path / "loaded")
    )

    assert torch.equal(lazy_state, seeded)
    assert torch.equal(loaded_state, seeded)
    del lazy_result["seconds"], loaded_result["seconds"]
    assert lazy_result == loaded_result
