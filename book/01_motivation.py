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
# # Motivation: a saliency map can be steered without changing the prediction
#
# **The question.** Is an explanation a trustworthy description of a model's decision? Dombrowski et al.
# (2019) showed that a small, crafted change of the input can keep the predicted label while moving the
# explanation map almost anywhere, to a *target* map taken from an unrelated image. The paper under study
# builds its measure of explanation robustness on this attack, so we start by watching it work.
#
# **The attack.** For a victim $x_v$ and a target $x_t$, find $x$ minimising
#
# $$ c_e\,\mathrm{MSE}\big(I(x), I(x_t)\big) + c_o\,\mathrm{MSE}\big(\mathrm{softmax} f(x), \mathrm{softmax} f(x_v)\big) $$
#
# with Adam on the input and a clamp to $[0, 1]$ after every step, as in the reference code. $I$ is the
# explanation map: the gradient of the predicted class's logit, in absolute value, summed over channels,
# normalised to sum 1. A ReLU network's gradient map is piecewise constant in the input, so the attack
# differentiates the model's *softplus twin* (same weights, ReLU replaced by softplus with $\beta$ grown from
# 10 to 100); every map, label and loss reported below comes from the model as trained.
#
# **What you will see.** Examples on a normally trained model; over many pairs, how close the manipulated
# maps get to the targets compared with random noise of the same size; how the match improves with attack
# steps; and the same on the most robust TRADES model and on the MAT model.

# %% tags=["parameters", "remove-cell"]
profile = "cpu"  # smoke | cpu | paper, or a path to a YAML profile
overrides = {}  # any profile field, e.g. {"manipulation.pairs": 20}

# %%
import matplotlib.pyplot as plt
import numpy as np

from lib.core.profile import load_profile, setup_runtime
from lib.core.store import ResultStore
from lib.measure.explain import explanation_map, normalise_maps
from lib.measure.manipulate import manipulate
from lib.pipeline.explanation_attack import attack_runs, attack_settings
from lib.report.figures import manipulation_examples
from lib.report.page import banner, human_table, percent, say, show_source
from lib.studies.motivation import compare_with_noise, evidence_table, success_rate, summary_table

P = load_profile(profile, overrides)
device = setup_runtime(P)
store = ResultStore()
M = P.manipulation
banner(P, device)

# %% [markdown]
# ## The models, the pairs and the attack
#
# Three models of the robustness sweep (first seed): standard training, the TRADES model with the largest
# β, and MAT. The pairs are drawn once from the test subset, each victim paired with a target of another
# class, and used for every model. All pairs are attacked at once in one batch; each pair keeps its own loss,
# optimiser state and stopping rule, so a batched run equals one pair at a time. Results are cached in the
# store. The explanation map the attack steers, from the library (the gradient of the explained class's
# logit with respect to the input, through `_explain`; `normalise_maps` makes each map sum to 1):

# %%
show_source(explanation_map)
show_source(normalise_maps)

# %% [markdown]
# The attack's core, from the library:

# %%
show_source(manipulate)

# %% tags=["remove-input"]
models, pairs, results, seconds = attack_runs(P, store, device)
stops = (
    "no early stopping (the window is as long as the step limit)"
    if M.window >= M.steps
    else f"a pair stops when its loss has not improved by {100 * M.rel_tol:g} % over {M.window} steps"
)
say(
    f"Attack: {M.steps} Adam steps of size {M.lr:g} on {M.pairs} pairs per model, method `{M.method}`; {stops}."
)

# %% [markdown]
# While the softplus $\beta$ is annealed, the loss the attack sees belongs to a changing function, so losses
# of different steps are not strictly comparable. A stopping rule that compares them can stop a slow pair
# early, which would overstate its model's explanation robustness; the `cpu` and `paper` profiles therefore
# run every pair for all steps, like the reference code.
#
# ## What the attack does to one image
#
# Each row: the victim, the perturbation (amplified to the full grey range), the manipulated image, and the
# three maps. The title of each image gives the predicted label and its probability.


# %% mystnb={"image": {"alt": "Three victims of the standard model: images, perturbation, manipulated image and their explanation maps"}}
manipulation_examples(
    models["standard"].model,
    pairs.x_victims,
    pairs.x_targets,
    results["standard"].x_adv,
    M.method,
)
plt.show()

# %% [markdown]
# *Figure: three victims of the standard model. Compare the manipulated map (right) with the target map:
# the attack moves the explanation towards the target while the label and its probability (titles) stay.*
#
# ## Over all pairs: attack against random noise of the same size
#
# The attack could look strong merely because *any* perturbation of that size changes a gradient map. The
# baseline adds Gaussian noise with the same L2 norm per pair. We compare each map with the target map by
# the paper's MSE (in units of 1e-7), cosine similarity, Spearman rank correlation and the overlap of the
# top 10 % of pixels.

# %%
COMPARE = {
    "MSE to target (1e-7)": "MSE to target (1e-7)",
    "cosine": "cosine",
    "Spearman": "Spearman",
    "top-10% overlap": "top-10 % overlap",
    "label kept": "label kept",
    "L2 size": "L2 size",
}
tables = {
    label: compare_with_noise(models[label].model, pairs, results[label], M.method, M.pair_seed)
    for label in models
}
human_table(
    tables["standard"].rename_axis("input").reset_index(),
    {"input": "input", **COMPARE},
    index=["input"],
)

# %% tags=["remove-input"]
r, t, rs = results["standard"], tables["standard"], results["standard"].summary()
say(
    f"On the standard model, {percent(success_rate(r))} of the {M.pairs} pairs end with a map closer to "
    f"the target and the label unchanged ({rs['flipped']} flipped). Over the kept pairs the explanation loss falls "
    f"from {rs['l_start_1e-7']:.1f} to {rs['l_end_1e-7']:.1f} (×1e-7), while noise of the same L2 size (realised "
    f"after clamping: {t.loc['random noise, same L2', 'L2 size']:.3f} against the attack's "
    f"{t.loc['attack', 'L2 size']:.3f}) leaves it at "
    f"{t.loc['random noise, same L2', 'MSE to target (1e-7)']:.1f}. The mean L-inf size of the perturbation is "
    f"{r.linf.mean():.3f}; {int(r.converged.sum())} pairs met the stopping rule before the step limit; the "
    f"attack took {seconds['standard']:.1f} s for all pairs."
)

# %% [markdown]
# ## Manipulation strength grows with the number of steps

# %% mystnb={"image": {"alt": "Explanation loss relative to its start against attack steps, one line per model"}}
fig, ax = plt.subplots(figsize=(6.5, 3.6))
steps = attack_settings(P).trace_steps
for label, res in results.items():
    trace = res.trace.cpu().numpy() / res.l_start.cpu().numpy()[None, :]
    ax.plot(steps, np.median(trace, axis=1), marker=".", label=label)
    ax.fill_between(
        steps,
        np.percentile(trace, 25, axis=1),
        np.percentile(trace, 75, axis=1),
        alpha=0.2,
    )
ax.set_xscale("log")
ax.set_xlabel("attack step")
ax.set_ylabel("L / L_start")
ax.axhline(1, color="gray", lw=0.8)
ax.grid(alpha=0.3)
ax.legend(fontsize=9)
fig.tight_layout()
plt.show()

# %% [markdown]
# *Figure: the explanation loss relative to its start, median over pairs (line) and interquartile range
# (band), against the attack step on a log scale. Lower = the map is closer to its target.*
#
# ## The same attack on robust models

# %%
summary = summary_table(results, seconds).rename_axis("model").reset_index()
human_table(
    summary,
    {
        "model": "model",
        "flipped": "flipped",
        "l_start_1e-7": "L_start",
        "l_end_1e-7": "L_end",
        "l_end_all_1e-7": "L_end, all",
        "relative_reduction": "rel. red.",
        "mean_linf": "L-inf",
        "mean_l2": "L2",
    },
    digits={
        "flipped": 0,
        "l_start_1e-7": 1,
        "l_end_1e-7": 1,
        "l_end_all_1e-7": 1,
        "relative_reduction": 2,
    },
    index=["model"],
)

# %% [markdown]
# L_start, L_end (both in 1e-7) and the relative reduction are means over the pairs whose predicted label
# the attack kept (a flipped label makes it a classification attack, not a manipulated explanation); the
# number of flipped pairs and L_end over all pairs stand beside them, with the perturbations' mean L-inf and
# L2 sizes.

# %% tags=["remove-input"]
s = summary.set_index("model")
others = [lb for lb in s.index if lb != "standard"]
higher = [lb for lb in others if s.loc[lb, "l_end_1e-7"] > s.loc["standard", "l_end_1e-7"]]
lower = [lb for lb in others if lb not in higher]
say(
    f"Compared with the standard model, L_end is higher (explanations harder to steer) for "
    f"{', '.join(higher) or 'none of the robust models'}"
    + (f" and not higher for {', '.join(lower)}" if higher and lower else "")
    + ". "
    "Whether this holds beyond these models, and whether it follows classification robustness, is the subject "
    "of the prototype chapter; L_end also scales with L_start, which differs between models, so the relative "
    "reduction is shown beside it."
)

# %% [markdown]
# ## What this means

# %% tags=["remove-input"]
evidence = evidence_table(results, tables)
say(
    "How much of the distance to the target map each perturbation removes, per model (attack / noise of the "
    "same L2 size): "
    + "; ".join(
        f"{r.model}: {percent(r.attack_removed)} / {percent(r.noise_removed)}" for r in evidence.itertuples()
    )
    + ". "
    + (
        "On every model the attack moves the map towards the target far more than noise does: a "
        "perturbation that keeps the prediction can steer a gradient explanation."
        if evidence["beats_noise"].all()
        else "The attack does not beat noise by a wide margin on every model here."
    )
    + " Robust training changes both the starting distance between maps and how far the attack gets; the "
    "next chapters measure this across the whole sweep, using this attack's final loss L_end as the measure "
    "of explanation robustness (higher = more robust), as the paper does."
)

# %% [markdown]
# **Differences from the reference.** The reference attack works on ImageNet-normalised inputs; ours are in
# [0, 1] and use the reference's step size as is. Early stopping is available but off in the `cpu` and
# `paper` profiles (see the caution above); the number of pairs that stopped early is reported.
