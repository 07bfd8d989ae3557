"""Short texts for pages, chosen from results."""

from __future__ import annotations


def short_reason(reason: str) -> str:
    """A collapse reason short enough for a table cell: 'loss not finite (epoch 2)', 'at chance',
    'L_f grew 134-fold'; '' for a run that did not collapse."""
    if not reason:
        return ""
    if reason.startswith("non-finite loss"):
        return f"loss not finite (epoch {reason.split('epoch ')[1].split(',')[0]})"
    if reason.startswith("clean accuracy"):
        return "at chance"
    if reason.startswith("L_f exploded"):
        first, last = (
            float(v) for v in reason.removeprefix("L_f exploded from ").split(" to ")
        )
        return f"L_f grew {last / first:.0f}-fold"
    return reason
