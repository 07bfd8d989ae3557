"""When each verdict rule of the findings page was fixed and what had been seen by then: a record of the
project's history (commits and dates of this repository), so that no sentence claims more pre-registration
than happened. A rule changed later gets a new row; the old row stays."""

from __future__ import annotations

import pandas as pd

# (rule, where it lives, commit, date fixed, what results had been seen by then)
RULE_HISTORY: tuple[tuple[str, str, str, str, str], ...] = (
    (
        "Findings page: one verdict per claim chosen by code from units",
        "lib/report/findings.py",
        "7652f88",
        "2026-11-27",
        "the first cpu results of chapters 1–6 had been rendered",
    ),
    (
        "Units agree / disagree / are inconclusive by their 95 % interval; margins for 'does not' claims "
        "(equivalence ρ ±0.3, PGD held ±3 points, attack beats noise 2×, start-loss share 0.5)",
        "lib/analysis/verdicts.py, lib/profiles/cpu.yaml",
        "9aeba86",
        "2026-12-05",
        "every cpu chapter and a findings page had been rendered on cpu results (2026-11-27 on)",
    ),
    (
        "The seed is the unit: per-seed paired statistics, t-interval over seeds (replaces the crossed "
        "bootstrap of seeds and pairs); one answer per claim over model sets with Holm's correction, a "
        "pooled interval and an ANOVA for heterogeneity; 'partly' only when sets differ; claim 3 in two "
        "parts paired per victim (Hessian spectral norm, margin 0.5); claim 1 with a pair-bootstrap interval",
        "lib/analysis/claims.py, lib/analysis/set_claims.py, lib/analysis/stats.py",
        "2dc6da6",
        "2026-12-08",
        "the shipped cpu results (published/cpu, 2026-12-07) and an independent review of them that "
        "re-read claims 3–5 at the seed level",
    ),
    (
        "Claim 6: which part of log L_start carries its share, the MSE's scale (concentration) or the "
        "scale-free distance, with an indifference zone of ±0.1 (drivers.scale_zone)",
        "lib/analysis/verdicts/drivers.py, lib/profiles/cpu.yaml",
        "b3c8f12",
        "2026-12-08",
        "as above, and the review's figure that concentration carries 72–81 % of log L_start's variance",
    ),
)


def rule_history() -> pd.DataFrame:
    """The history as a table: rule, where, commit, fixed on, seen by then."""
    return pd.DataFrame(
        RULE_HISTORY, columns=["rule", "where", "commit", "fixed on", "seen by then"]
    )
