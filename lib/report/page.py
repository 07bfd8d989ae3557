"""What every chapter shares: the banner that says which profile built the page, tables with human column
names, Markdown written from results, and the library's own source shown instead of retyped.

The top floor: it may import anything below, and nothing in the library imports it.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable, Mapping
from typing import Any

import pandas as pd
from IPython.display import Markdown, display

from lib.core.profile import Profile
from lib.core.store import ResultStore, retrained_here

DASH = "—"


# A cell may wrap (an interval moves under its estimate) so that a table with many interval columns fits the
# page's width instead of hiding its last columns behind a sideways scroll.
TABLE_STYLE = [
    {"selector": "", "props": [("font-size", "0.8em")]},
    {
        "selector": "th",
        "props": [
            ("text-align", "left"),
            ("padding", "2px 6px"),
            ("vertical-align", "bottom"),
        ],
    },
    {"selector": "td", "props": [("padding", "2px 6px")]},
]


def banner(profile: Profile, device: str) -> Markdown:
    """Which profile built the page, at what scale, on which device; for ``smoke``, that its numbers are
    toy results and not findings; and which models of the store (``$RESULTS_DIR``) were retrained here with
    weights that differ from the published ones (``lib.core.store.retrained_here``)."""
    text = (
        f"**Built with the `{profile.name}` profile** on `{device}`, seeds {list(profile.seeds)}: "
        f"{profile.description.strip() or 'no description'}"
    )
    if profile.name == "smoke":
        text += (
            "\n\n**Toy data.** The `smoke` profile trains tiny networks on 8x8 digits in seconds to check "
            "that the code runs; its numbers and the sentences chosen from them are not findings. Build "
            "the `cpu` profile for the reproduction."
        )
    if len(profile.seeds) == 1:
        text += (
            "\n\nOne seed: no spread over seeds can be shown; points are single models."
        )
    retrained = retrained_here(ResultStore().root)
    if retrained:
        text += (
            f"\n\n**Recomputed on this machine.** The weights of {len(retrained)} model(s) that the published "
            "snapshot withholds were retrained here and differ from the published ones (used because "
            "`ACCEPT_RETRAINED=1`): "
            + "; ".join(
                f"{r['label']} ({r['machine']}, {r['threads']} threads)"
                for r in retrained
            )
            + ". Results this page computes from them, rather than reads from the snapshot, are this "
            "machine's, not the published ones (the Reproduce page says how far they move)."
        )
    return Markdown("> " + text.replace("\n\n", "\n>\n> "))


def say(text: str) -> None:
    """Show Markdown computed from results (it shows in Jupyter and in the book alike)."""
    display(Markdown(text))


def fmt(value: Any, digits: int = 3) -> Any:
    """A cell for a human: '—' for a missing value, whole numbers shown as integers when ``digits`` is 0,
    other floats with ``digits`` decimals (as text, so a column reads alike)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return DASH
    if isinstance(value, (float, int)) and not isinstance(value, bool):
        return f"{value:.{digits}f}"
    return value


def human_table(
    table: pd.DataFrame,
    columns: Mapping[str, str],
    digits: Mapping[str, int] | int = 3,
    index: list[str] | None = None,
) -> pd.io.formats.style.Styler:
    """The listed columns only, renamed to human names, missing values as '—', counts as integers and
    floats rounded (``digits`` per column or for all), no row numbers and no truncated cells. ``index``: the
    human names of the columns that identify a row; they come first and repeated values are left blank."""
    out = pd.DataFrame(index=table.index)
    for col, name in columns.items():
        d = digits.get(col, 3) if isinstance(digits, Mapping) else digits
        out[name] = [fmt(v, d) for v in table[col]]
    out = out.reset_index(drop=True)
    if index:
        out = out[list(index) + [c for c in out.columns if c not in index]]
        # blank a key repeated from the row above, so that each group's key shows once
        repeated = {
            name: (out[index[: i + 1]] == out[index[: i + 1]].shift()).all(axis=1)
            for i, name in enumerate(index)
        }
        for name, same in repeated.items():
            out[name] = out[name].where(~same, "")
    return out.style.hide(axis="index").set_table_styles(TABLE_STYLE)


def grouped_tables(
    table: pd.DataFrame,
    by: list[str],
    columns: Mapping[str, str],
    digits: Mapping[str, int] | int = 3,
    index: list[str] | None = None,
) -> None:
    """One ``human_table`` per group of ``by`` (e.g. per experiment and explanation method), each under a bold
    line naming the group: narrower tables than one table with the group columns repeated."""
    for key, group in table.groupby(by, sort=False):
        key = key if isinstance(key, tuple) else (key,)
        say("**" + ", ".join(str(k) for k in key) + "**")
        display(human_table(group, columns, digits, index))


def duration(seconds: float) -> str:
    """'42 s', '3.5 min' or '2.1 h': a time that never rounds to '0 minutes'."""
    if seconds < 90:
        return f"{seconds:.0f} s" if seconds >= 10 else f"{seconds:.1f} s"
    if seconds < 5400:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


def percent(v: float, digits: int = 0) -> str:
    return DASH if v is None or math.isnan(v) else f"{100 * v:.{digits}f} %"


def show_source(fn: Callable) -> None:
    """Print the library's own source of ``fn`` (the book shows code rather than retyping it)."""
    print(inspect.getsource(fn))
