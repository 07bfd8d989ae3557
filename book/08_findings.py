# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Findings against the paper's claims
#
# One row per claim of the paper: the claim, the paper's own evidence (from what could be read of it and its
# main table, `paper_table.csv`, recomputed where it is a number), our evidence (read from the result store
# by the same library calls as the chapters that measured it), and a verdict. The verdict is chosen by code,
# by rules fixed before this page read any result: each claim is read on units (models, experiments, or an
# experiment and explanation method); a unit agrees when its 95 % interval excludes "no effect" in the
# paper's direction, disagrees when it excludes it the other way, and is inconclusive otherwise (a claim
# that something does *not* happen agrees only when the interval lies inside a margin fixed in the profile
# beforehand), by the rule stated for that claim (its function's docstring in `lib/report/findings.py`).
# The table counts the units of each status; the claim's verdict follows from them by one rule for every
# claim, shown at the end of the page: a claim with no agreeing and no disagreeing unit is inconclusive.
# Long text is in the paragraphs under the table, one per claim, each sentence chosen from the numbers.

# %% tags=["parameters", "remove-cell"]
profile = "cpu"  # smoke | cpu | paper, or a path to a YAML profile
overrides = {}  # any profile field, as in the chapters this page reads

# %%
from myst_nb import glue

from lib.analysis.verdicts import verdict_of
from lib.core.profile import load_profile, setup_runtime
from lib.core.store import ResultStore
from lib.report.findings import (
    book_findings,
    findings_table,
    findings_view,
    verdict_counts,
)
from lib.report.page import banner, say, show_source

P = load_profile(profile, overrides)
device = setup_runtime(P)
store = ResultStore()
banner(P, device)

# %% [markdown]
# Every input is the result a chapter computed and stored, read through the result function of the study
# that answers it (on a store the chapters filled, this page trains and attacks nothing): the motivation
# attacks (chapter 1), the sweep's accuracy (chapter 2), explanation robustness on the prototype pairs and
# its validation against all pairs (chapter 3), the landscape measures (chapter 4), the SEP comparison
# (chapter 5), the curvature of the SEP models (chapter 6) and the start-loss analysis (chapter 7):

# %%
rows = book_findings(P, store, device)

# %% [markdown]
# ## The claims

# %% tags=["remove-input"]
table = findings_table(rows)
for r in table.itertuples():
    glue(f"finding_{r.number}_verdict", r.verdict, display=False)
glue("findings_profile", P.name, display=False)
say(verdict_counts(table, P))
findings_view(table)

# %% [markdown]
# "The paper" is what its text and table show for the claim (its table's blocks are dataset and architecture);
# "ours" is the short form of the paragraph below, where every number comes with its interval. Chapters 1–7
# give the full tables and figures.
#
# ## Claim by claim

# %% tags=["remove-input"]
say(
    "\n\n".join(
        f"**{i}. {r['claim']}.** Verdict: **{r['verdict']}**.\n\n{r['detail']}"
        for i, r in enumerate(rows, start=1)
    )
)

# %% [markdown]
# ## The verdict rule
#
# The rule that turns the units' statuses into a verdict, the same for every claim, from the library:

# %%
show_source(verdict_of)

# %% [markdown]
# **How to read a verdict.** It is the rule applied to this build's numbers, not a judgement of the paper: a
# claim not reproduced at the `smoke` or `cpu` scale may hold at the paper's scale (full datasets, 25 epochs,
# other architectures), and the paper's TinyImageNet and CIFAR-100 blocks have no counterpart here. Each
# claim's rule for its units is in its function's docstring in `lib/report/findings.py`; the rule above is in `lib/analysis/verdicts.py`.
