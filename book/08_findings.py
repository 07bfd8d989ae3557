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
# experiment and explanation method); each unit agrees with the paper's direction, agrees in part or
# disagrees by the rule stated for that claim (its function's docstring in `lib/findings.py`); the claim's
# verdict follows from the units' statuses by one rule for every claim, shown at the end of the page. Long
# text is in the paragraphs under the table, one per claim, each sentence chosen from the numbers.

# %% tags=["parameters", "remove-cell"]
profile = "cpu"  # smoke | cpu | paper, or a path to a YAML profile
overrides = {}  # any profile field, as in the chapters this page reads

# %%
import pandas as pd
from myst_nb import glue

from lib.analysis.verdicts import (
    VERDICTS,
    choose,
    pgd_rises_with_beta,
    robustness_by_role,
    sep_order_verdicts,
    tracking_verdict,
    validation_verdicts,
    verdict_of,
)
from lib.core.profile import load_profile, setup_runtime
from lib.core.store import ResultStore
from lib.pipeline.explanation_attack import attack_runs, main_table, relation_table
from lib.pipeline.landscapes import landscape_tables, per_model
from lib.pipeline.roster import chapter_models, lambda_table, main_runs, trades_runs, validation_experiments
from lib.report.findings import (
    claim_curvature,
    claim_landscape,
    claim_motivation,
    claim_sep,
    claim_start_loss,
    claim_sweep,
    findings_table,
)
from lib.report.page import banner, human_table, say, show_source
from lib.studies.curvature import curvature_study
from lib.studies.drivers import drivers_study
from lib.studies.landscape import flatness_correlations, tracking
from lib.studies.motivation import compare_with_noise, evidence_table
from lib.studies.prototypes import correlations, validate_prototypes, validation_summary
from lib.studies.sep import paper_blocks
from lib.studies.sweep import run_sweep, summarize

P = load_profile(profile, overrides)
device = setup_runtime(P)
store = ResultStore()
paper = pd.read_csv("paper_table.csv")
banner(P, device)

# %% [markdown]
# Every input is the table a chapter computed and stored, read through the same library calls (on a store
# the chapters filled, this page trains and attacks nothing): the motivation attacks (chapter 1), the sweep's
# accuracy (chapter 2), explanation robustness on the prototype pairs and its validation against all pairs
# (chapter 3), the landscape measures (chapter 4), the SEP comparison (chapter 5) and the curvature and
# start-loss analyses (chapter 6). The code is folded
# below.

# %% tags=["hide-input"]
# chapter 1: the motivation attacks, against noise of the same size
models, pairs, results, _ = attack_runs(P, store, device, progress=False)
M = P.manipulation
noise = {
    label: compare_with_noise(models[label].model, pairs, results[label], M.method, M.pair_seed)
    for label in models
}
evidence = evidence_table(results, noise)

# chapters 2 and 3: the sweep, its explanation robustness, the prototypes' validation
summary = summarize(run_sweep(P, store, device, progress=False))
pgd_rises = {name: pgd_rises_with_beta(summary, name) for name in P.run}
relation = relation_table(P, store, device, progress=False)
method = P.prototypes.methods[0]
validation = validation_verdicts(
    pd.concat(
        [
            validation_summary(validate_prototypes(P, store, device, method, n, progress=False)).assign(
                experiment=n
            )
            for n in validation_experiments(P)
        ],
        ignore_index=True,
    )
)

# chapter 4: flatness and curvature of the sweep's models, and what tracks L_end
flat, curv, _ = landscape_tables(P, store, device, progress=False)
landscape = per_model(flat, curv)
track = tracking(landscape, relation[relation["explanation"] == P.landscape.method])

# chapter 5: SEP_pos and SEP_neg by the accuracy rule, against MAT and on a TRADES base
chosen = choose(lambda_table(P, store, device), P.sep.tolerance_points)
roles = robustness_by_role(main_table(P, store, device, main_runs(P, chosen)))
trades = trades_runs(P, chosen)
trades_verdicts = (
    sep_order_verdicts(robustness_by_role(main_table(P, store, device, trades)), base="TRADES")
    if trades
    else None
)

# chapter 6: the SEP models' curvature, and start loss against flatness over every model
sep_models = chapter_models(P, chosen, store, device)
_, _, curvature_verdicts = curvature_study(P, store, device, sep_models)
drivers = drivers_study(P, store, device, chosen, sep_models)

rows = [
    claim_motivation(evidence),
    claim_sweep(correlations(relation), paper, validation=validation, pgd_rises=pgd_rises),
    claim_landscape(flatness_correlations(landscape), tracking_verdict(track)),
    claim_sep(sep_order_verdicts(roles), roles, paper_blocks("paper_table.csv"), trades_verdicts),
    claim_curvature(curvature_verdicts, P.landscape.softplus_beta),
    claim_start_loss(drivers["correlations"], drivers["verdict"], drivers["pair_verdict"], paper),
]

# %% [markdown]
# ## The claims

# %% tags=["remove-input"]
table = findings_table(rows)
counts = table["verdict"].value_counts()
for r in table.itertuples():
    glue(f"finding_{r.number}_verdict", r.verdict, display=False)
glue("findings_profile", P.name, display=False)
say(
    f"Built with the `{P.name}` profile ({len(P.seeds)} seed(s); experiments "
    f"{', '.join(P.run)}). Verdicts: " + "; ".join(f"{v}: {counts[v]}" for v in VERDICTS if v in counts) + "."
)
human_table(
    table,
    {
        "number": "#",
        "claim": "claim",
        "paper": "the paper",
        "ours": "ours",
        "verdict": "verdict",
    },
    digits={"number": 0},
).set_table_styles(
    [  # wrap the short texts within the column; the verdict on one line, in bold
        {
            "selector": "td",
            "props": [("white-space", "normal"), ("vertical-align", "top")],
        },
        {"selector": "td:nth-child(2)", "props": [("min-width", "14em")]},
        {
            "selector": "td:nth-child(5)",
            "props": [("white-space", "nowrap"), ("font-weight", "bold")],
        },
    ],
    overwrite=False,
)

# %% [markdown]
# "The paper" is what its text and table show for the claim (its table's blocks are dataset and architecture);
# "ours" is the short form of the paragraph below, where every number comes with its interval. Chapters 1–6
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
# claim's rule for its units is in its function's docstring in `lib/findings.py`, beside the rule above.
