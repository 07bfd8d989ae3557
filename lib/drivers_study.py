"""What drives explanation robustness as the attack measures it: where the attack starts (L_start), how flat
the explanation landscape is, both, or neither (issue 12, part 2).

L_end = L_start * (1 - relative reduction), so a model whose maps start far from the target ends far from it
even when the attack works equally well on it: a raw correlation of L_start with L_end is partly automatic.
The fair questions remove that link: does flatness still go with L_end once L_start is held fixed
(``partial_spearman``), and does L_start or flatness go with the relative reduction (how much of the way the
attack gets, which the identity does not tie to L_start)?

Models of different experiments differ in scale (MNIST maps start far apart, Fashion-MNIST maps close), so
before pooling every model of the book each column is turned into its percentile rank within its experiment
(and explanation method): pooled correlations then compare models with their own experiment's peers.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd

from .errors import ConfigError
from .stats import partial_spearman, reading

QUESTIONS = (  # (name, x, y, controls): the correlations the verdict reads
    ("L_start ~ L_end", "l_start_1e-7", "l_end_1e-7", ()),
    ("flatness ~ L_end", "flatness", "l_end_1e-7", ()),
    ("flatness ~ L_end | L_start", "flatness", "l_end_1e-7", ("l_start_1e-7",)),
    ("L_start ~ rel. reduction", "l_start_1e-7", "relative_reduction", ()),
    ("flatness ~ rel. reduction", "flatness", "relative_reduction", ()),
    ("flatness ~ rel. reduction | L_start", "flatness", "relative_reduction", ("l_start_1e-7",)),
)


def pooled_models(robustness: pd.DataFrame, flatness: pd.DataFrame, measure: str,
                  within: Sequence[str] = ("experiment", "explanation")) -> pd.DataFrame:
    """One row per (model, explanation method): L_start, L_end and relative reduction (from a relation table:
    columns ``key``, ``experiment``, ``explanation`` and the measures) joined with the model's flatness (column
    ``measure`` of a per-model landscape table keyed by ``key``; higher = sharper), each also as its percentile
    rank within ``within`` (columns suffixed ``_pct``). Models without a flatness value are left out."""
    need = {"key", *within, "l_start_1e-7", "l_end_1e-7", "relative_reduction"}
    missing = sorted(need - set(robustness.columns))
    if missing:
        raise ConfigError(f"robustness columns {missing} are missing: expected {sorted(need)}")
    if measure not in flatness.columns or "key" not in flatness.columns:
        raise ConfigError(f"measure={measure!r} is not allowed: expected a column of the flatness table "
                          f"(which must have 'key'); it has {sorted(flatness.columns)}")
    table = robustness.merge(flatness[["key", measure]].rename(columns={measure: "flatness"}), on="key",
                             how="inner")
    table = table[np.isfinite(table["flatness"].astype(float))].reset_index(drop=True)
    for col in ("l_start_1e-7", "l_end_1e-7", "relative_reduction", "flatness"):
        table[f"{col}_pct"] = table.groupby(list(within), sort=False)[col].rank(pct=True)
    return table


def driver_correlations(pooled: pd.DataFrame, n_boot: int = 2000, seed: int = 0) -> pd.DataFrame:
    """The ``QUESTIONS`` over the pooled models (percentile ranks within experiment and method), each as
    Spearman's (partial) rho with a bootstrap 95 % interval over models and the number of models."""
    rows = []
    for name, x, y, controls in QUESTIONS:
        ctrl = [pooled[f"{c}_pct"].to_numpy(float) for c in controls]
        rho, lo, hi = partial_spearman(pooled[f"{x}_pct"].to_numpy(float), pooled[f"{y}_pct"].to_numpy(float),
                                       ctrl, n_boot=n_boot, seed=seed)
        rows.append({"question": name, "x": x, "y": y, "controls": ", ".join(controls), "rho": rho, "lo": lo,
                     "hi": hi, "models": len(pooled)})
    return pd.DataFrame(rows)


def driver_verdict(corr: pd.DataFrame) -> str:
    """Which of the two candidate drivers the pooled correlations support, read from the intervals alone:
    "start loss" when L_start goes with L_end but flatness does not once L_start is held fixed, "flatness"
    when flatness goes with L_end with L_start held fixed and L_start does not go with L_end, "both" when
    both intervals exclude 0, "neither" when neither does."""
    c = corr.set_index("question")
    n = int(c["models"].iloc[0]) if len(c) else 0

    def clear(q: str) -> bool:
        return reading(c.loc[q, "lo"], c.loc[q, "hi"], "up", "down", n=n) in ("up", "down")

    start, flat = clear("L_start ~ L_end"), clear("flatness ~ L_end | L_start")
    return {(True, False): "start loss", (False, True): "flatness", (True, True): "both"}.get((start, flat),
                                                                                               "neither")
