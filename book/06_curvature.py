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
# # What drives explanation robustness: curvature, start loss, method and budget
#
# **The questions.** The SEP chapter changed explanation robustness by regularising the explanation under
# noise. The paper's second version adds two claims on top: a Hessian analysis shows that SEP really changes
# the explanation-loss landscape, and explanation robustness as the attack measures it is driven mainly by a
# high *starting* explanation loss. This chapter tests both, and two more things the SEP result rests on:
#
# 1. **Curvature.** Does SEP_pos flatten and SEP_neg sharpen the explanation loss's landscape at the
#    victims, while the cross-entropy's curvature barely moves? Measured on the softplus twin at two
#    smoothings, since a ReLU network's explanation loss has no useful curvature of its own.
# 2. **Start loss against flatness.** $L_\mathrm{end} = L_\mathrm{start}\,(1 - r)$ with $r$ the relative
#    reduction, so a model whose maps start far from the target ends far from it even if the attack works
#    equally well: the correlation of $L_\mathrm{start}$ with $L_\mathrm{end}$ is partly automatic. A fair
#    test asks whether flatness still goes with $L_\mathrm{end}$ once $L_\mathrm{start}$ is held fixed, and
#    whether either goes with $r$, which the identity does not tie to $L_\mathrm{start}$.
# 3. **Across methods.** The paper's Figure 5 trains SEP with one explanation method and attacks another.
# 4. **At a fixed budget** (beyond the paper): the reference attack has no ball, so its final loss mixes how
#    far the maps start apart with how far the input may travel. The same attack inside the L∞ ball of the
#    dataset's PGD radius asks the same questions with the budget fixed.
#
# Every setting was fixed before these results were seen (the profile's `drivers` section says why).

# %% tags=["parameters", "remove-cell"]
profile = "cpu"  # smoke | cpu | paper, or a path to a YAML profile
overrides = {}  # any profile field, e.g. {"drivers.second_beta": 50.0}

# %%
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from IPython.display import display

from lib.analysis.stats import interval_text, rank_agreement
from lib.analysis.verdicts import (
    ROLE_ORDER,
    beta_dependence,
    budget_agreement,
    choose,
    cross_verdicts,
    driver_verdict,
    robustness_by_role,
    sep_order_verdicts,
)
from lib.core.profile import load_profile, setup_runtime
from lib.core.store import ResultStore
from lib.pipeline.evaluation import model_key
from lib.pipeline.explanation_attack import budget_eps, main_table
from lib.pipeline.landscapes import betas, model_landscape, model_surfaces
from lib.pipeline.roster import (
    base_role,
    budget_runs,
    chapter_models,
    cross_models,
    lambda_table,
    main_runs,
    sweep_runs,
)
from lib.pipeline.training import get_model
from lib.report.page import banner, grouped_tables, human_table, say
from lib.studies.budget import bounded_vs_unbounded, budget_relation, robustness_correlations
from lib.studies.cross_method import cross_accuracy, cross_table
from lib.studies.curvature import curvature_study, lambda_curve, summary_tables
from lib.studies.drivers import FLATNESS, driver_correlations, drivers_study, pooled_models, within_summary

P = load_profile(profile, overrides)
device = setup_runtime(P)
store = ResultStore()
D, S = P.drivers, P.sep
BETAS = betas(P)
FIRST = P.seeds[0]
ROLE_COLOR = {
    "SEP_pos": "tab:blue",
    "MAT": "tab:orange",
    "TRADES": "tab:orange",
    "SEP_neg": "tab:green",
}
banner(P, device)

sweep = lambda_table(P, store, device)
chosen = choose(sweep, S.tolerance_points)
models = chapter_models(P, chosen, store, device)

# %% [markdown]
# ## 1. Does SEP change the curvature of the explanation landscape?
#
# At the landscape victims of chapter 4 (the first prototype victim of each cluster, with its target),
# for every model the SEP chapter compared: the input-Hessian's spectral norm (the largest |eigenvalue|, by
# Lanczos), its extreme eigenvalues and its Frobenius norm (Hutchinson) of the explanation loss (1e-7) and
# of the cross-entropy, on the softplus twin at both betas. Means over every victim of every seed, with a
# two-stage bootstrap 95 % interval (seeds resampled, then victims).

# %%
curv, spectral, cv = curvature_study(P, store, device, models)
norms, spectrum = summary_tables(curv)
grouped_tables(
    norms,
    ["group"],
    {
        "role": "model",
        "expl": "explanation loss (1e-7) [95 % CI]",
        "ce": "cross-entropy [95 % CI]",
        "seeds": "seeds",
    },
    digits={"seeds": 0},
)

# %% [markdown]
# The extreme eigenvalues of the explanation loss's Hessian (an indefinite matrix: the victim is not at a
# minimum of this loss) and the Frobenius norms, means over victims and seeds:

# %% tags=["hide-input"]
grouped_tables(
    spectrum,
    ["group"],
    {
        "role": "model",
        "expl_largest": "expl. λ_max",
        "expl_smallest": "expl. λ_min",
        "expl_frobenius": "expl. Frobenius",
        "ce_frobenius": "CE Frobenius",
    },
)

# %% tags=["hide-input"] mystnb={"image": {"alt": "Spectral norm of the input Hessian of the explanation loss and of the cross-entropy per role, at two softplus betas"}}
main_spec = spectral[spectral["base"] == base_role(P)]
blocks = list(main_spec.groupby("experiment", sort=False))
fig, axes = plt.subplots(
    len(blocks),
    2,
    figsize=(8, 2.4 * len(blocks)),
    squeeze=False,
    constrained_layout=True,
)
for (name, g), row in zip(blocks, axes):
    for ax, loss, title in zip(row, ("expl_twin", "ce"), ("explanation loss", "cross-entropy")):
        for k, (beta, gb) in enumerate(g[g["loss"] == loss].groupby("twin_beta")):
            y = np.arange(len(gb)) + 0.15 * (k - 0.5)
            ax.errorbar(
                gb["mean"],
                y,
                xerr=[gb["mean"] - gb["lo"], gb["hi"] - gb["mean"]],
                fmt="os"[k],
                capsize=3,
                label=f"twin β = {beta:g}",
            )
            ax.set_yticks(np.arange(len(gb)), gb["role"], fontsize=8)
        ax.set_xscale("log")
        ax.tick_params(axis="x", which="minor", labelsize=6, labelrotation=45)
        ax.invert_yaxis()
        ax.set_title(f"{name}: {title}", fontsize=9)
        ax.set_xlabel("Hessian spectral norm" + (" (1e-7)" if loss != "ce" else ""), fontsize=8)
        ax.tick_params(labelsize=8)
        ax.grid(alpha=0.3, axis="x")
    row[0].legend(fontsize=7)
plt.show()

# %% [markdown]
# *Figure: the input-Hessian spectral norm of the explanation loss (left) and of the cross-entropy (right)
# per model, means over victims and seeds with 95 % intervals, at both twin betas (log scale). SEP_pos should
# sit left of MAT and SEP_neg right of it in the left panels, with the right panels barely moving.*

# %% tags=["remove-input"]
dep = beta_dependence(cv)


def ratio_text(r, role):
    e, c = getattr(r, f"{role}_expl_ratio"), getattr(r, f"{role}_ce_ratio")
    if not np.isfinite(e):
        return f"no {role}"
    word = "flattens" if e < 1 else "sharpens"
    apart = getattr(r, f"{role}_apart")
    return (
        f"{role} {word} the explanation loss ×{e:.2f} "
        f"({'intervals apart' if apart else 'intervals overlap'}), CE ×{c:.2f}"
    )


lines = [
    f"- **{r.experiment}, base {r.base}, twin β = {r.twin_beta:g}:** "
    f"{ratio_text(r, 'SEP_pos')}; {ratio_text(r, 'SEP_neg')}. Reading: **{r.reading}**."
    for r in cv.itertuples()
]
same = dep["same"].all()
say(
    "The spectral norm of each SEP model relative to its base (×1 = unchanged):\n"
    + "\n".join(lines)
    + "\n\n"
    + (
        "The reading is the same at both twin betas in every block, so it does not depend on how much the "
        "twin smooths the ReLUs."
        if same
        else "The reading changes with the twin's beta in "
        + ", ".join(f"{r.experiment} (base {r.base})" for r in dep[~dep["same"]].itertuples())
        + ": the curvature reading there depends on how much of the ReLU network's kinks the twin keeps."
    )
    + " 'As intended' means every SEP model present moves the explanation loss's curvature its way and the "
    "cross-entropy's less (in log ratio). Lanczos met its tolerance for "
    + ", ".join(
        f"{100 * g['eig_converged'].mean():.0f} % of the victims at twin β = {b:g}"
        for b, g in curv.groupby("twin_beta")
    )
    + " (an unconverged value is the best estimate after the cap of "
    f"{P.landscape.eig_max_iter} HVPs, a lower bound on the spectral norm)."
)

# %% [markdown]
# ### Along the λ sweep
#
# The same spectral norm for every λ of the sweep (first seed; λ = 0 is the base model, collapsed runs left
# out): if SEP shapes the landscape, the explanation loss's curvature should fall with λ.

# %% tags=["hide-input"] mystnb={"image": {"alt": "Spectral norm of the explanation loss and of the cross-entropy against the SEP weight lambda"}}
lam = lambda_curve(curv, FIRST, base_role(P))
names = list(dict.fromkeys(lam["experiment"]))
fig, axes = plt.subplots(len(names), 2, figsize=(8, 2.5 * len(names)), squeeze=False, constrained_layout=True)
for name, row in zip(names, axes):
    g = lam[lam["experiment"] == name]
    nz = np.abs(g["lam"][g["lam"] != 0])
    for ax, loss, title in zip(row, ("expl_twin", "ce"), ("explanation loss", "cross-entropy")):
        for k, (beta, gb) in enumerate(g[g["loss"] == loss].groupby("twin_beta")):
            gb = gb.sort_values("lam")
            ax.plot(gb["lam"], gb["spectral"], "os"[k] + "-", label=f"twin β = {beta:g}")
        ax.set_xscale("symlog", linthresh=float(nz.min()) if len(nz) else 1.0)
        ax.set_yscale("log")
        ax.tick_params(axis="y", which="minor", labelsize=6)
        ax.set_title(f"{name}: {title}", fontsize=9)
        ax.set_xlabel("SEP weight λ (0 = base)", fontsize=8)
        ax.set_ylabel("spectral norm" + (" (1e-7)" if loss != "ce" else ""), fontsize=8)
        ax.tick_params(labelsize=7, labelrotation=45)
        ax.grid(alpha=0.3)
    row[0].legend(fontsize=7)
plt.show()

# %% [markdown]
# *Figure: mean spectral norm over the victims against λ (symmetric log scale), first seed.*
#
# ### Slices and surfaces: the base model against SEP_pos and SEP_neg
#
# The explanation loss (softplus twin at the landscape chapter's β) and the cross-entropy along the
# Gaussian directions of chapter 4 through each victim, averaged over directions and victims, for the first
# seed's base, SEP_pos and SEP_neg; then the explanation loss on the plane of the first two directions around
# the first victim.

# %% tags=["hide-input"] mystnb={"image": {"alt": "Mean 1-D slices of the explanation loss and the cross-entropy for the base, SEP_pos and SEP_neg models"}}
first = [
    (b, role, r)
    for b, role, r in models
    if r.seed == FIRST and b == base_role(P) and role in ("SEP_pos", "MAT", "TRADES", "SEP_neg")
]
names = list(dict.fromkeys(r.experiment for _, _, r in first))
fig, axes = plt.subplots(len(names), 2, figsize=(8, 2.4 * len(names)), squeeze=False, constrained_layout=True)
surf = {}
for name, row in zip(names, axes):
    for _, role, run in sorted([m for m in first if m[2].experiment == name], key=lambda m: ROLE_ORDER[m[1]]):
        trained = get_model(run.spec, store, device, progress=False)
        land = model_landscape(P, name, trained, store, device)
        ts = land["ts"].numpy()
        for ax, loss in zip(row, ("expl_twin", "ce")):
            curves = [v for k, v in land["slices"].items() if k.startswith(f"{loss}|gaussian|")]
            mean = np.mean([c.numpy().mean(0) for c in curves], axis=0)
            ax.plot(ts, mean, label=role, color=ROLE_COLOR[role])
        surf[(name, role)] = model_surfaces(P, name, trained, store, device)
    for ax, title in zip(row, ("explanation loss, twin (1e-7)", "cross-entropy")):
        ax.set_title(f"{name}: {title}", fontsize=9)
        ax.set_xlabel("step t along a Gaussian direction", fontsize=8)
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3)
    row[0].set_yscale("log")
    row[0].tick_params(axis="y", which="minor", labelsize=6)
    row[0].legend(fontsize=7)
plt.show()

# %% [markdown]
# *Figure: the losses along Gaussian directions through the victims (t = 0 is the victim; the grid spans the
# experiment's PGD radius), means over directions and victims. A flatter explanation landscape is a flatter
# left curve around t = 0.*

# %% tags=["hide-input"] mystnb={"image": {"alt": "2-D surfaces of the explanation loss around the first victim for the base, SEP_pos and SEP_neg models"}}
for name in names:
    roles_here = [role for (n, role) in surf if n == name]
    fig, axes = plt.subplots(
        1,
        len(roles_here),
        figsize=(2.7 * len(roles_here), 2.6),
        squeeze=False,
        constrained_layout=True,
    )
    grids = [surf[(name, role)]["expl_twin"][0].numpy().T for role in roles_here]  # a along x
    lo, hi = min(g.min() for g in grids), max(g.max() for g in grids)
    for ax, role, grid in zip(axes[0], roles_here, grids):
        t = surf[(name, role)]["ts"].numpy()
        im = ax.contourf(t, t, grid, levels=np.linspace(lo, hi, 21), cmap="viridis")
        ax.set_title(f"{role}", fontsize=9)
        ax.set_xlabel("direction 1", fontsize=8)
        ax.tick_params(labelsize=7)
    axes[0][0].set_ylabel("direction 2", fontsize=8)
    fig.colorbar(im, ax=axes[0].tolist(), shrink=0.85, label="expl. loss (1e-7)")
    fig.suptitle(
        f"{name}: explanation loss around the first victim (twin β = {BETAS[0]:g})",
        fontsize=9,
    )
    plt.show()

# %% [markdown]
# *Figure: the explanation loss (softplus twin) on the plane of two Gaussian directions around the first
# landscape victim, one shared colour scale per experiment.*
#
# ## 2. Start loss against flatness, over every model of the book
#
# Every live model the book trained: the robustness sweep, the SEP chapter's standard, base, SEP and λ-sweep
# models and the cross-method SEP models below, each with its prototype attack for SEP's explanation method
# and its flatness: the input-Hessian spectral norm of the explanation loss at the landscape victims (twin β
# of chapter 4). Each column becomes a percentile rank within its experiment, so that one dataset's scale does
# not make a correlation; the correlations are Spearman's over the pooled models, partial ones with
# L_start's rank removed, with bootstrap 95 % intervals over models.

# %%
drivers = drivers_study(P, store, device, chosen, models)
corr, verdict, pooled = drivers["correlations"], drivers["verdict"], drivers["pooled"]
corr["interval"] = [interval_text(r, lo, hi) for r, lo, hi in zip(corr["rho"], corr["lo"], corr["hi"])]
human_table(
    corr,
    {
        "question": "correlation (ranks within experiment)",
        "interval": "Spearman ρ [95 % CI]",
        "models": "models",
    },
    digits={"models": 0},
)

# %% tags=["hide-input"] mystnb={"image": {"alt": "Pooled percentile ranks: L_start against L_end and flatness against the relative reduction"}}
fig, axes = plt.subplots(1, 3, figsize=(8, 2.8), constrained_layout=True)
for ax, (x, y, title) in zip(
    axes,
    (
        ("l_start_1e-7_pct", "l_end_1e-7_pct", "L_start vs L_end"),
        ("flatness_pct", "l_end_1e-7_pct", "curvature vs L_end"),
        ("flatness_pct", "relative_reduction_pct", "curvature vs rel. reduction"),
    ),
):
    for name, g in pooled.groupby("experiment", sort=False):
        ax.scatter(g[x], g[y], s=10, label=name, alpha=0.7)
    ax.set_title(title, fontsize=9)
    ax.set_xlabel(x.replace("_1e-7", "").replace("_pct", " (rank)"), fontsize=8)
    ax.set_ylabel(y.replace("_1e-7", "").replace("_pct", " (rank)"), fontsize=8)
    ax.tick_params(labelsize=7)
axes[0].legend(fontsize=6)
plt.show()

# %% [markdown]
# *Figure: percentile ranks within each experiment, one dot per model. "Curvature" is the explanation
# loss's Hessian spectral norm (higher = sharper).*
#
# ### Within each model, across its pairs
#
# The same questions one level down: across the prototype pairs of one model, does a pair that starts further
# from its target end further from it, and does the attack get less of the way there? And, on the pairs
# that are landscape victims, does the pair's own curvature go with its L_end once its L_start is held fixed
# (ranks within each model, pooled)?

# %%
within = drivers["within"]
display(
    human_table(
        within_summary(within),
        {
            "experiment": "experiment",
            "models": "models",
            "median_rho_l_end": "median ρ(L_start, L_end)",
            "positive_l_end": "share of models > 0",
            "median_rho_reduction": "median ρ(L_start, rel. red.)",
            "positive_reduction": "share of models > 0 (rel. red.)",
        },
        digits={
            "models": 0,
            "median_rho_l_end": 2,
            "positive_l_end": 2,
            "median_rho_reduction": 2,
            "positive_reduction": 2,
        },
    )
)
pair_corr = drivers["pair_correlations"]
pair_corr["interval"] = [
    interval_text(r, lo, hi) for r, lo, hi in zip(pair_corr["rho"], pair_corr["lo"], pair_corr["hi"])
]
human_table(
    pair_corr,
    {
        "question": "correlation (ranks within model)",
        "interval": "Spearman ρ [95 % CI]",
        "models": "pairs",
    },
    digits={"models": 0},
)

# %% [markdown]
# ### The paper's own table
#
# The paper supports the start-loss claim with its main table: the four methods rank the same by L_start as
# by L_end "in 22 of 24 cells". Recomputed from the table itself, by three readings of "the same":

# %% tags=["remove-input"]
paper = pd.read_csv("paper_table.csv")
PAPER_COUNT = (22, 24)  # the paper's text: "22 of 24 cells"
agree = {
    mode: rank_agreement(paper, ["dataset", "model"], "method", "l_start_1e-7", "l_end_1e-7", mode)
    for mode in ("positions", "order", "pairs")
}
n_blocks = paper.groupby(["dataset", "model"]).ngroups
pair_verdict = drivers["pair_verdict"]


def direction(level, table):
    """The sign of curvature's link with L_end once L_start is held fixed, against the raw link's."""
    c = table.set_index("question")
    part, raw = c.loc["flatness ~ L_end | L_start"], c.loc["flatness ~ L_end"]
    text = f" {level}, curvature with L_start held fixed: {interval_text(part.rho, part.lo, part.hi)}, "
    if part.hi < 0:
        return text + (
            "so with the start held fixed a sharper explanation landscape ends *closer* to the target "
            "(less robust)" + (", the opposite of the raw correlation's direction." if raw.lo > 0 else ".")
        )
    if part.lo > 0:
        return text + "so with the start held fixed a sharper landscape still ends further from the target."
    return text + "no clear direction once the start is held fixed."


say(
    f"Rank positions that agree: **{agree['positions'][0]} of {agree['positions'][1]}**"
    + (
        " (the paper's count, so this is how it counted)"
        if agree["positions"] == PAPER_COUNT
        else f" (the paper says {PAPER_COUNT[0]} of {PAPER_COUNT[1]})"
    )
    + f"; whole orders that agree: {agree['order'][0]} of {agree['order'][1]} blocks; "
    f"pairs of methods ordered the same way: {agree['pairs'][0]} of {agree['pairs'][1]}. The paper's "
    f"{n_blocks} blocks have {paper.groupby(['dataset', 'model']).size().max()} models each, and the "
    "identity L_end = L_start (1 − r) makes agreement expected whenever the relative reductions are "
    "similar.\n\n"
    f"**Verdict across models: {verdict}.** "
    + {
        "start loss": "L_start goes with L_end and curvature does not once L_start is held fixed: as this "
        "attack measures it, explanation robustness reflects where the attack starts more than how flat the "
        "explanation landscape is.",
        "flatness": "Curvature goes with L_end even with L_start held fixed, and L_start does not go with "
        "L_end: flatness, not the start, explains explanation robustness here.",
        "both": "Both L_start and curvature (with L_start held fixed) go with L_end: neither explains it alone.",
        "neither": "Neither L_start nor curvature (with L_start held fixed) goes clearly with L_end.",
    }[verdict]
    + f" **Across the pairs of a model** (landscape victims only) the same reading gives: **{pair_verdict}**."
    + direction("Across models", corr)
    + direction("Across pairs", pair_corr)
)

# %% [markdown]
# ## 3. SEP across explanation methods
#
# SEP trained on the gradient (the SEP chapter's models) and on the cross method, each with the λ the rule
# chose for the gradient, attacked with every method below. Does SEP_pos < base < SEP_neg hold when the
# regularised and the attacked methods differ? L_end means over every label-kept pair of every seed with
# 95 % intervals.

# %%
cross_tab = cross_table(P, store, device, cross_models(P, chosen))
cross_roles, cross_v = cross_verdicts(cross_tab, base=base_role(P))
cross_roles["l_end"] = [
    f"{m:.1f} [{lo:.1f}, {hi:.1f}]"
    for m, lo, hi in zip(cross_roles["l_end_1e-7"], cross_roles["l_end_lo"], cross_roles["l_end_hi"])
]
cross_roles["pgd"] = 100 * cross_roles["pgd_acc"]
cross_roles["group"] = [
    f"{e}, SEP trained on {t}" for e, t in zip(cross_roles["experiment"], cross_roles["trained_with"])
]
grouped_tables(
    cross_roles,
    ["group"],
    {
        "explanation": "attacked with",
        "role": "model",
        "l_end": "L_end [95 % CI]",
        "pgd": "PGD acc. (%)",
        "seeds": "seeds",
    },
    digits={"pgd": 1, "seeds": 0},
)


# %% tags=["remove-input"]
def order_text(r, base):
    if r.complete:
        return "whole order " + ("holds" if r.l_end_order else "does not hold")
    parts = []
    if r.pos_below_base is not None and not pd.isna(r.pos_below_base):
        parts.append(f"SEP_pos < {base}: {'yes' if r.pos_below_base else 'no'}")
    if r.base_below_neg is not None and not pd.isna(r.base_below_neg):
        parts.append(f"{base} < SEP_neg: {'yes' if r.base_below_neg else 'no'}")
    return "half order, " + ("; ".join(parts) or "nothing to read")


def holds(r):
    return (
        bool(r.l_end_order)
        if r.complete
        else all(bool(v) for v in (r.pos_below_base, r.base_below_neg) if v is not None and not pd.isna(v))
    )


base = base_role(P)
acc = cross_accuracy(cross_roles, base, S.tolerance_points)
lines = [
    f"- {r.experiment}, trained on {r.trained_with}, attacked with {r.explanation}: {order_text(r, base)}."
    for r in cross_v.itertuples()
]
off = cross_v[cross_v["trained_with"] != cross_v["explanation"]]
n_off = sum(holds(r) for r in off.itertuples())
acc_lines = [
    f"{r.experiment} {r.role} on {r.trained_with}: clean {r.clean_points:.1f}, PGD {r.pgd_points:.1f} points "
    f"from {base} ({'within' if r.within else 'beyond'} {S.tolerance_points:g})"
    for r in acc.itertuples()
]
say(
    f"**Where the trained and the attacked method differ, the readable order holds in {n_off} of {len(off)} "
    "cases.**\n"
    + "\n".join(lines)
    + "\n\nThe accuracy rule re-read on every SEP model: "
    + "; ".join(acc_lines)
    + "."
)

# %% [markdown]
# ## 4. Explanation robustness at a fixed budget
#
# The same prototype attack (SEP's method) confined to the L∞ ball of the experiment's PGD radius, on the
# robustness sweep and the SEP chapter's main models (the λ sweep left out for cost). First, does the ball
# bind at all, then the questions of chapters 3 and 5 and of part 2 above.

# %%
bounded = budget_relation(P, store, device, budget_runs(P, chosen, store, device))
relation = drivers["relation"]
unbounded = relation[relation["key"].isin(set(bounded["key"]))]
human_table(
    bounded_vs_unbounded(unbounded, bounded),
    {
        "experiment": "experiment",
        "models": "models",
        "l_end": "L_end, no ball",
        "l_end_budget": "L_end, ball",
        "reduction": "rel. red., no ball",
        "reduction_budget": "rel. red., ball",
        "held_back": "share held back",
    },
    digits={
        "models": 0,
        "l_end": 1,
        "l_end_budget": 1,
        "reduction": 3,
        "reduction_budget": 3,
        "held_back": 2,
    },
)

# %% tags=["remove-input"]
reach = P.prototypes.steps * P.prototypes.lr
say(
    '*"Held back": the share of models whose L_end inside the ball is more than 1 % above the unbounded '
    f"attack's. {P.prototypes.steps} Adam steps of {P.prototypes.lr:g} move a pixel by about {reach:.2g} in "
    "all when each step has the learning rate's size (Adam's steps can be larger); the experiments' ε: "
    + ", ".join(f"{n}: {budget_eps(P, n):g}" for n in dict.fromkeys(bounded["experiment"]))
    + ".*"
)

# %% [markdown]
# **Classification against explanation robustness over the robustness sweep**, both attacks (Spearman's ρ of
# PGD accuracy with L_end and with the relative reduction, interval over models):

# %%
swept = {model_key(r) for r in sweep_runs(P)}
rc = robustness_correlations(unbounded[unbounded["key"].isin(swept)], bounded[bounded["key"].isin(swept)])
rc["interval"] = [interval_text(r, lo, hi) for r, lo, hi in zip(rc["rho"], rc["ci_low"], rc["ci_high"])]
rc["measure"] = rc["y"].map({"l_end_1e-7": "L_end", "relative_reduction": "rel. reduction"})
grouped_tables(
    rc,
    ["experiment"],
    {
        "attack": "attack",
        "measure": "against PGD acc.",
        "interval": "Spearman ρ [95 % CI]",
        "reading": "reading",
        "n": "models",
    },
    digits={"n": 0},
)

# %%
b_main = main_table(P, store, device, main_runs(P, chosen), methods=(S.method,), budget=True)
b_roles = robustness_by_role(b_main)
b_v = sep_order_verdicts(b_roles)
b_pooled = pooled_models(bounded, drivers["per_model"], FLATNESS, within=("experiment", "explanation"))
b_corr = driver_correlations(b_pooled)
b_verdict = driver_verdict(b_corr)
b_corr["interval"] = [
    interval_text(r, lo, hi) for r, lo, hi in zip(b_corr["rho"], b_corr["lo"], b_corr["hi"])
]
b_roles["l_end"] = [
    f"{m:.1f} [{lo:.1f}, {hi:.1f}]"
    for m, lo, hi in zip(b_roles["l_end_1e-7"], b_roles["l_end_lo"], b_roles["l_end_hi"])
]
say("**SEP inside the ball** (L_end, mean over label-kept pairs of every seed, 95 % CI):")
grouped_tables(
    b_roles,
    ["experiment"],
    {"role": "model", "l_end": "L_end, ball [95 % CI]", "seeds": "seeds"},
    digits={"seeds": 0},
)
say("**Start loss against flatness inside the ball** (ranks within experiment):")
human_table(
    b_corr,
    {"question": "correlation", "interval": "Spearman ρ [95 % CI]", "models": "models"},
    digits={"models": 0},
)

# %% tags=["remove-input"]
share = budget_agreement(rc)
b_lines = [f"- {r.experiment}: {order_text(r, base)}." for r in b_v.itertuples()]
say(
    "Explanation robustness (L_end) goes with classification robustness over the sweep in "
    f"{share.get('unbounded', 0):.0%} of the {rc['experiment'].nunique()} swept experiments without a ball "
    f"and in {share.get('fixed budget', 0):.0%} with the budget fixed. SEP's order inside the ball:\n"
    + "\n".join(b_lines)
    + f"\n\n**Verdict on the drivers inside the ball: {b_verdict}** (without the ball: {verdict})."
)
