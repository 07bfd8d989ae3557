"""The book's shared figure helpers (a chapter's own figures live in its lib/report module): each takes tidy
results and returns a matplotlib Figure sized for the page (at most 8 in wide, fonts of 9 pt or more)."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from lib.report.style import PAGE_WIDTH


def correlation_intervals(
    corr: pd.DataFrame,
    labels: list[str],
    xlabel: str = "Spearman ρ with PGD accuracy (95 % bootstrap interval)",
) -> plt.Figure:
    """One row per correlation: rho as a point and its interval as a bar, against a line at 0."""
    fig, ax = plt.subplots(figsize=(PAGE_WIDTH, 0.32 * len(corr) + 1))
    y = np.arange(len(corr))
    ax.errorbar(
        corr["rho"],
        y,
        xerr=[corr["rho"] - corr["lo"], corr["hi"] - corr["rho"]],
        fmt="o",
        capsize=2,
    )
    ax.axvline(0, color="gray", lw=0.8)
    ax.set_yticks(y, labels, fontsize=9)
    ax.invert_yaxis()
    ax.set_xlabel(xlabel)
    fig.tight_layout()
    return fig
