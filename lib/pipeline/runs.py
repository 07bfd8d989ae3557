"""What a study measures: a list of runs, each a trained model (its ``RunSpec``) of a named experiment.

Studies (``lib.studies.prototypes``, ``lib.studies.landscape``, ``lib.studies.sep`` ...) take any list of runs; the robustness
sweep is one such list (``lib.pipeline.roster.sweep_runs``). A run's *kind* (standard, TRADES with its beta, MAT, and
room for more) has one label, so every table and figure names a model the same way, and no kind needs a
numeric stand-in for a setting it does not have (MAT has no beta: its ``beta`` is ``None``).
"""

from __future__ import annotations

from dataclasses import dataclass

from lib.nn.kinds import ModelKind
from lib.pipeline.training import RunSpec


@dataclass(frozen=True)
class Run:
    """One model of one experiment of a profile."""

    experiment: str
    spec: RunSpec

    @property
    def kind(self) -> ModelKind:
        return ModelKind.of(self.spec.train)

    @property
    def seed(self) -> int:
        return self.spec.train.seed

    @property
    def label(self) -> str:
        """'mnist TRADES β=1 seed 0'."""
        return f"{self.experiment} {self.kind.label} seed {self.seed}"

    def describe(self) -> dict:
        """The columns that identify the run in every table: experiment, dataset, architecture, kind (its
        label), family, beta (None where it does not apply) and seed."""
        kind = self.kind
        return {
            "experiment": self.experiment,
            "dataset": self.spec.data.name,
            "model": self.spec.model.name,
            "kind": kind.label,
            "family": kind.family,
            "beta": kind.beta,
            "lam": kind.lam,
            "seed": self.seed,
        }
