"""The book's visual vocabulary, defined once: page width, the colour and marker of each model family and
each role, and the colours of clean and PGD accuracy. Every figure of ``lib.report`` draws with these, so a
family or role looks the same on every page."""

from __future__ import annotations

from typing import NamedTuple

import matplotlib.pyplot as plt
import pandas as pd

PAGE_WIDTH = 8.0  # inches: the book's column at the default dpi


class Marker(NamedTuple):
    marker: str
    color: str
    size: float


# the robustness sweep's families (the ``family`` column of a run table): TRADES models as dots, MAT as a star
FAMILY_STYLE = {
    "standard": Marker("o", "tab:gray", 25),
    "TRADES": Marker("o", "tab:blue", 25),
    "MAT": Marker("*", "tab:red", 80),
}
# the SEP chapter's roles; the base model (MAT or TRADES) shares one colour
ROLE_COLOR = {
    "standard": "tab:gray",
    "SEP_pos": "tab:blue",
    "MAT": "tab:orange",
    "TRADES": "tab:orange",
    "SEP_neg": "tab:green",
}
ACCURACY_COLOR = {"clean": "tab:blue", "pgd": "tab:red"}


def scatter_families(
    ax: plt.Axes, table: pd.DataFrame, x: str, y: str, alpha: float = 0.8
) -> None:
    """One scatter per sweep family of ``table`` (column ``family``), in the family's marker and colour."""
    for family, style in FAMILY_STYLE.items():
        sub = table[table["family"] == family]
        ax.scatter(
            sub[x],
            sub[y],
            marker=style.marker,
            color=style.color,
            s=style.size,
            label=family,
            alpha=alpha,
        )
