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

from lib.core.profile import load_profile, setup_runtime
from lib.core.store import ResultStore
from lib.measure.explain import explanation_map, normalise_maps
from lib.measure.manipulate import manipulate
from lib.report.motivation import (
    attack_sentence,
    attack_table,
    evidence_sentence,
    loss_vs_steps,
    manipulation_examples,
    noise_table,
    standard_sentence,
    steering_sentence,
)
from lib.report.page import banner, say, show_source
from lib.studies.motivation import motivation_result

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
R = motivation_result(P, store, device)
say(attack_sentence(M))

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
    R.models["standard"].model,
    R.pairs.x_victims,
    R.pairs.x_targets,
    R.results["standard"].x_adv,
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
noise_table(R.noise["standard"])

# %% tags=["remove-input"]
say(
    standard_sentence(
        R.summary.loc["standard"],
        R.noise["standard"],
        R.evidence.set_index("model").loc["standard", "success_rate"],
        R.seconds["standard"],
        M.pairs,
    )
)

# %% [markdown]
# ## Manipulation strength grows with the number of steps

# %% mystnb={"image": {"alt": "Explanation loss relative to its start against attack steps, one line per model"}}
loss_vs_steps(R.curves)
plt.show()

# %% [markdown]
# *Figure: the explanation loss relative to its start, median over pairs (line) and interquartile range
# (band), against the attack step on a log scale. Lower = the map is closer to its target.*
#
# ## The same attack on robust models

# %%
attack_table(R.summary)

# %% [markdown]
# L_start, L_end (both in 1e-7) and the relative reduction are means over the pairs whose predicted label
# the attack kept (a flipped label makes it a classification attack, not a manipulated explanation); the
# number of flipped pairs and L_end over all pairs stand beside them, with the perturbations' mean L-inf and
# L2 sizes.

# %% tags=["remove-input"]
say(steering_sentence(R.harder_to_steer))

# %% [markdown]
# ## What this means

# %% tags=["remove-input"]
say(evidence_sentence(R.evidence))

# %% [markdown]
# **Differences from the reference.** The reference attack works on ImageNet-normalised inputs; ours are in
# [0, 1] and use the reference's step size as is. Early stopping is available but off in the `cpu` and
# `paper` profiles (see the caution above); the number of pairs that stopped early is reported.

# %% [markdown]
# ## Try it
#
# Attack one pair of your choice on a trained model of this book (seconds on a CPU; the published `cpu`
# results ship the weights of each experiment's first-seed standard, MAT, TRADES β=8, SEP_pos and SEP_neg
# models, and `lib.load_model` returns any of them). Change the model's `kind`, the `victim` and `target`
# (indices into the experiment's test images) or the number of `steps`: the standard model is the easiest to steer; try `"MAT"` or `"TRADES β=8"` and compare L_end/L_start.

# %%
from lib.pretrained import try_it

try_it(P, P.run[0], kind="standard", victim=0, target=1, steps=300)
plt.show()
