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
# by the same library calls as the chapters that measured it), and a verdict. The verdict is chosen by code.
# A claim of the paper's SEP, landscape and sweep chapters is read over **model sets** (a dataset and an
# architecture), with the **seed** (a trained model) as the unit that varies: each seed gives one paired
# statistic (e.g. the geometric mean of a ratio of L_end over its pairs), each model set a t-interval over its
# seeds, the sets' statuses are corrected together (Holm) and a pooled interval over every seed decides
# unless the sets differ beyond chance; "partly" means the sets genuinely differ, never one agreement among
# inconclusive sets. Only the primary reading votes (the explanation method, flatness measure and twin β
# named in the profile); other methods and measures are secondary readings in the paragraphs. A claim that
# something does *not* happen agrees only beyond a margin fixed in the profile. The table counts the units
# (model sets, per part of the claim) of each status. When each rule was fixed, and what had been seen by
# then, is at the end of the page.
# Long text is in the paragraphs under the table, one per claim, each sentence chosen from the numbers.

# %% tags=["parameters", "remove-cell"]
profile = "cpu"  # smoke | cpu | paper, or a path to a YAML profile
overrides = {}  # any profile field, as in the chapters this page reads

# %%
from myst_nb import glue

from lib.analysis.claims import claim_verdict
from lib.analysis.verdicts import verdict_of
from lib.core.profile import load_profile, setup_runtime
from lib.core.store import ResultStore
from lib.report.findings import (
    book_findings,
    findings_table,
    findings_view,
    verdict_counts,
)
from lib.report.page import banner, human_table, say, show_source
from lib.report.rule_history import rule_history

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
# ## The verdict rules
#
# The claim-level rule over model sets and the rule for claims whose units are single models (the
# motivation's), from the library:

# %%
show_source(claim_verdict)
show_source(verdict_of)

# %% [markdown]
# ## When the rules were fixed
#
# No rule here was registered before any result existed. The table says when each was fixed (a commit of
# this repository) and which results had been seen by then.

# %% tags=["remove-input"]
human_table(rule_history(), {c: c for c in rule_history().columns})

# %% [markdown]
# **How to read a verdict.** It is the rule applied to this build's numbers, not a judgement of the paper: a
# claim not reproduced at the `smoke` or `cpu` scale may hold at the paper's scale (full datasets, 25 epochs,
# other architectures), and the paper's CIFAR-10 and TinyImageNet blocks have no counterpart here (only its
# MNIST ConvNet and MNIST ResNet-18 blocks are tested, plus Fashion-MNIST, which the paper does not tabulate). Each
# claim's rule for its units is in its function's docstring in `lib/report/findings.py`; the claim-level rule is in `lib/analysis/claims.py`, the per-claim readings in `lib/analysis/set_claims.py`.
