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
# # The paper's own numbers, for reference
#
# The main table of Chen et al. (v2, identical to the earlier version's Table 2), read from
# `book/paper_table.csv` in this project (never retyped into prose). L_start and L_end are the explanation
# loss (MSE between explanation maps) before and after a targeted explanation attack, in units of 1e-7;
# higher L_end means more robust explanations. Accuracies are in percent; "adversarial" is accuracy under
# the paper's (unstated) white-box PGD attack. TinyImageNet is not available offline here, so our book shows
# it only as the paper's numbers.

# %% tags=["parameters"]
profile = "cpu"  # unused here; every chapter takes the same parameters
overrides = {}

# %%
from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd
from IPython.display import display
from myst_nb import glue

paper = pd.read_csv(Path("paper_table.csv"))
order = ["Normal", "MAT", "SEP_pos", "SEP_neg"]
paper["method"] = pd.Categorical(paper["method"], order, ordered=True)
wide = paper.pivot_table(
    index=["dataset", "model"],
    columns="method",
    observed=True,
    sort=False,
    values=["l_start_1e-7", "l_end_1e-7", "clean_acc_pct", "adv_acc_pct"],
)
NAMES = {
    "dataset": "dataset",
    "model": "model",
    "method": "method",
    "l_start_1e-7": "L_start (1e-7)",
    "l_end_1e-7": "L_end (1e-7)",
    "clean_acc_pct": "clean acc. (%)",
    "adv_acc_pct": "adversarial acc. (%)",
}
shown = paper[[c for c in NAMES if c in paper.columns]].rename(columns=NAMES)
display(shown.style.hide(axis="index").format(precision=2))

# %% [markdown]
# ## The shape of the paper's result
#
# Within each block (dataset and architecture), SEP_pos flattens the explanation-loss landscape and SEP_neg
# sharpens it, both on top of MAT. The paper reports that L_end ranks SEP_pos < MAT < SEP_neg while the
# adversarial accuracy of the three barely moves. The figure shows L_end relative to MAT (log scale) beside
# the adversarial accuracy.

# %%
blocks = paper.groupby(["dataset", "model"], sort=False)
fig, (a1, a2) = plt.subplots(1, 2, figsize=(8, 3.6))
for (ds, model), g in blocks:
    g = g.set_index("method").loc[["MAT", "SEP_pos", "SEP_neg"]]
    label = f"{ds} {model}"
    a1.plot(
        range(3), g["l_end_1e-7"] / g.loc["MAT", "l_end_1e-7"], marker="o", label=label
    )
    a2.plot(range(3), g["adv_acc_pct"], marker="o", label=label)
for ax, title in (
    (a1, "L_end relative to MAT (log scale)"),
    (a2, "adversarial accuracy (%)"),
):
    ax.set_xticks(range(3))
    ax.set_xticklabels(["MAT", "SEP_pos", "SEP_neg"])
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
a1.set_yscale("log")
fig.legend(
    *a1.get_legend_handles_labels(),
    loc="lower center",
    ncol=3,
    fontsize=8,
    frameon=False,
)
fig.tight_layout(rect=(0, 0.2, 1, 1))
plt.show()

ranked = sum(
    g.set_index("method").loc["SEP_pos", "l_end_1e-7"]
    < g.set_index("method").loc["MAT", "l_end_1e-7"]
    < g.set_index("method").loc["SEP_neg", "l_end_1e-7"]
    for _, g in blocks
)
spread = max(
    g[g["method"] != "Normal"]["adv_acc_pct"].max()
    - g[g["method"] != "Normal"]["adv_acc_pct"].min()
    for _, g in blocks
)
glue("paper_blocks", len(blocks), display=False)
glue("paper_ranked_blocks", int(ranked), display=False)
glue("paper_max_adv_spread", f"{spread:.2f}", display=False)

# %% [markdown]
# In {glue:text}`paper_ranked_blocks` of {glue:text}`paper_blocks` blocks L_end ranks
# SEP_pos < MAT < SEP_neg; across MAT, SEP_pos and SEP_neg the adversarial accuracy differs by at most
# {glue:text}`paper_max_adv_spread` points within a block. These are the claims the later chapters test.
