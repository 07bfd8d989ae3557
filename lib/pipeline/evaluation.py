"""Model identity and evaluation: the store key of a model, its PGD evaluation (cached), and the
tasks that train or evaluate a model that may not be decided yet (a slot)."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import NamedTuple

import torch

from lib.core.errors import ConfigError
from lib.core.schema import to_dict
from lib.core.settings import AttackConfig, ExperimentConfig
from lib.core.store import ResultStore, config_key
from lib.nn.data import NUM_CLASSES, load_dataset, load_validation
from lib.nn.pgd import evaluate
from lib.pipeline.runs import Run
from lib.pipeline.task import NOT_NEEDED, Task
from lib.pipeline.training import RunSpec, TrainedModel, collapse_of, get_model

EVAL_CODE_VERSION = 1


EVAL_SEED = 1234


SPLITS = ("test", "validation")


def model_key(run: Run | RunSpec) -> str:
    """The store key of a run's model: a hash of its configuration (nothing is trained or read)."""
    spec = run.spec if isinstance(run, Run) else run
    return config_key("models", spec.store_config())


def eval_config(
    model_key_: str, exp: ExperimentConfig, attack: AttackConfig, split: str = "test"
) -> dict:
    """What an evaluation's result depends on: the model, the images (the test subset, or with ``split``
    'validation' the validation images of ``lib.nn.data.load_validation``), the attack and a code version.
    Only a validation evaluation has ``split`` (and the ``n_train`` its images depend on) in its data, so
    every test evaluation keeps the key it had."""
    if split not in SPLITS:
        raise ConfigError(f"split={split!r} is not allowed: expected one of {SPLITS}")
    data = {"name": exp.data.name, "n": exp.eval.n, "subset_seed": exp.data.subset_seed}
    if split == "validation":
        data |= {"split": split, "n_train": exp.data.n_train}
    return {
        "model_key": model_key_,
        "data": data,
        "attack": to_dict(attack),
        "seed": EVAL_SEED,
        "code_version": EVAL_CODE_VERSION,
    }


def evaluate_model(
    trained: TrainedModel,
    exp: ExperimentConfig,
    store: ResultStore,
    attack: AttackConfig,
    progress: bool = False,
    split: str = "test",
) -> dict:
    """Clean and PGD accuracy of a stored model on the experiment's test subset (or, with ``split``
    'validation', on its validation images), cached in the store."""
    entry = store.entry(
        "evals", eval_config(trained.entry.key, exp, attack, split)
    ).ensure()

    def compute() -> dict:
        x, y = (
            load_validation(
                exp.data.name, exp.data.n_train, exp.eval.n, exp.data.subset_seed
            )
            if split == "validation"
            else load_dataset(exp.data.name, "test", exp.eval.n, exp.data.subset_seed)
        )
        torch.manual_seed(EVAL_SEED)
        t0 = time.perf_counter()
        result = evaluate(
            trained.model,
            x,
            y,
            attack,
            exp.eval.batch_size,
            progress=progress,
            desc=f"PGD-{attack.steps}x{attack.restarts} {trained.spec.label}",
        ).as_dict()
        result["seconds"] = time.perf_counter() - t0
        return result

    return entry.get_or_compute_json("result.json", compute)


def model_tasks(runs: Sequence[Run], store: ResultStore, device: str) -> list[Task]:
    return [
        Task(
            "models",
            r.label,
            "models",
            "model.pt",
            lambda r=r: r.spec.store_config(),
            lambda r=r: get_model(r.spec, store, device, progress=False),
        )
        for r in runs
    ]


# ------------------------------------------------------------------------------------------------
# models that may not be decided yet (slots): alive, collapsed or after upstream


RunOf = Callable[[], "Run | dict | None"]


class ModelSlot(NamedTuple):
    """A model of a stage's work: its label, ``run_of()`` (the run once decided and stored, ``None`` before,
    ``NOT_NEEDED`` when it collapsed or no lambda qualified), ``compute_run()`` (decides it, training what
    is missing) and ``run`` when it is known without reading the store (else None)."""

    label: str
    run_of: RunOf
    compute_run: RunOf
    run: Run | None


def stored_live(run: Run | dict | None, store: ResultStore) -> Run | dict | None:
    """``run`` once its model is stored and did not collapse; ``NOT_NEEDED`` when it collapsed (nothing of it
    is measured); ``None`` while the model is not stored. A slot not yet decided (``None``) or not needed is
    passed through."""
    if not isinstance(run, Run):
        return run
    entry = store.entry("models", run.spec.store_config())
    if not entry.has("model.pt"):
        return None
    collapsed = collapse_of(
        entry.load_json("metrics.json"), NUM_CLASSES[run.spec.data.name]
    )
    return NOT_NEEDED if collapsed else run


def live_after_training(run: Run | dict, store: ResultStore, device: str) -> Run | dict:
    """``run`` once its model is trained (training it if need be), ``NOT_NEEDED`` when it collapsed; a slot
    that is not needed is passed through."""
    if not isinstance(run, Run):
        return run
    return (
        NOT_NEEDED
        if get_model(run.spec, store, device, progress=False).collapsed
        else run
    )


def unique_live(runs: list[Run], store: ResultStore, device: str) -> list[Run]:
    """``runs`` without repeats (by store key) and without collapsed models, in order."""
    out, seen = [], set()
    for r in runs:
        k = model_key(r)
        if (
            k not in seen
            and not get_model(r.spec, store, device, progress=False).collapsed
        ):
            seen.add(k)
            out.append(r)
    return out


def _config_of(run: Run | dict | None) -> dict | None:
    return run.spec.store_config() if isinstance(run, Run) else run


def _train(run: Run | dict, store: ResultStore, device: str) -> None:
    if isinstance(run, Run):
        get_model(run.spec, store, device, progress=False)


def model_task_of(
    stage: str, label: str, run_of, compute_run, store: ResultStore, device: str
) -> Task:
    """The training of a (possibly not yet decided) run's model: ``run_of()`` gives the run, ``None`` while
    undecided or ``NOT_NEEDED``; ``compute_run()`` decides it when the task runs."""
    return Task(
        stage,
        label,
        "models",
        "model.pt",
        lambda: _config_of(run_of()),
        lambda: _train(compute_run(), store, device),
    )


def eval_task_of(
    stage: str,
    label: str,
    run_of,
    compute_run,
    exp,
    store: ResultStore,
    device: str,
    split: str = "test",
) -> Task:
    """The PGD evaluation of a (possibly not yet decided) run's model, on the test subset or (``split``
    'validation') on the validation images."""

    def config() -> dict | None:
        run = run_of()
        return (
            eval_config(model_key(run), exp, exp.eval.attack, split)
            if isinstance(run, Run)
            else run
        )

    def compute() -> None:
        run = compute_run()
        if isinstance(run, Run):
            evaluate_model(
                get_model(run.spec, store, device, progress=False),
                exp,
                store,
                exp.eval.attack,
                split=split,
            )

    suffix = " on validation" if split == "validation" else ""
    return Task(stage, f"{label} PGD{suffix}", "evals", "result.json", config, compute)
