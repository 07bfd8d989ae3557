"""A model's kind (standard, TRADES with its beta, MAT, and room for more) and its one label.

Every table, legend and sentence of the book names a model through ``ModelKind.label``; a kind that lacks a
setting (MAT has no TRADES beta) says so with ``None``, never with a numeric stand-in.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from lib.core.settings import SepConfig, TrainConfig

DEFAULT_SEP_METHOD = (
    SepConfig().method
)  # SEP models trained with another method say which in their label


@dataclass(frozen=True)
class ModelKind:
    """How a model was trained, as far as the book's comparisons care: the family and its weight."""

    family: str  # "standard", "TRADES", "MAT" or "SEP"
    beta: float | None = None  # the TRADES weight; None where it does not apply
    lam: float | None = None  # SEP's weight; None where it does not apply
    base: str | None = (
        None  # SEP's base method ("MAT" or "TRADES β=..."); None where it does not apply
    )
    sep_method: str | None = (
        None  # the explanation method SEP regularised; None where it does not apply
    )

    @classmethod
    def of(cls, t: TrainConfig) -> ModelKind:
        if t.sep is not None:
            base = cls.of(replace(t, sep=None))
            return cls("SEP", base.beta, t.sep.lam, base.label, t.sep.method)
        if t.method == "mat":
            return cls("MAT")
        if t.method == "standard" or t.beta == 0:
            return cls("standard", 0.0 if t.method == "trades" else None)
        return cls("TRADES", t.beta)

    @property
    def label(self) -> str:
        """'standard', 'TRADES β=0.25', 'MAT': the one label of a kind in tables, legends and prose."""
        if self.family == "SEP":
            method = (
                ""
                if self.sep_method in (None, DEFAULT_SEP_METHOD)
                else f" ({self.sep_method})"
            )
            return f"SEP λ={self.lam:+.2g}{method}" + (
                "" if self.base == "MAT" else f" on {self.base}"
            )
        return f"TRADES β={self.beta:g}" if self.family == "TRADES" else self.family


NONE = "none"  # the "trained with" of a model without SEP
