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
# # The input loss landscape: does robustness flatten the explanation loss?
#
# **The common belief** rests on one assumption: a flat input loss landscape drives both kinds of robustness.
# Adversarial training flattens the classification loss around each input; if the explanation loss flattened
# with it, explanations would become robust for free. The paper tests this by plotting, around a victim, the
# classification loss and the explanation loss along one random direction, and reports by eye that adversarial
# training flattens the former but not the latter.
#
# **What we measure instead.** For every model of the robustness sweep (each β, MAT and each seed) and the
# prototype victims of the previous chapter (the first victim of each cluster, with its target map):
# * 1-D slices $t \mapsto L(x + t\,d)$ along several random Gaussian directions, random sign directions and
#   the gradient-sign direction (the steepest L-inf ascent), for $t \in [-\epsilon, \epsilon]$ with the
#   experiment's PGD budget $\epsilon$: along a sign direction the slice crosses the threat model's L-inf ball
#   corner to corner; a Gaussian direction has the same L2 norm (per-pixel standard deviation $\epsilon$ at
#   the ends), so it leaves the ball in a few pixels. Points are not clamped to [0, 1]: this is the function's
#   landscape around the input;
# * flatness scalars per slice: the second difference at 0 and the quadratic coefficient of a least-squares
#   fit over the whole slice;
# * the exact local curvature: the largest and smallest eigenvalue of the input Hessian (batched Lanczos on
#   Hessian-vector products), its trace and its Frobenius norm (Hutchinson's estimators from the same
#   probes), each with its error estimate.
#
# **Flat means small curvature of either sign.** CE at a correctly classified input sits near a minimum, so its
# curvature is mostly positive. The explanation loss at a victim is far from its minimum (the target map is
# another image's), so its Hessian is indefinite: the trace and the quadratic coefficients can be negative and
# cancel. The verdicts therefore use sizes: |quadratic coefficient|, the spectral norm
# max(|λmax|, |λmin|) and the Frobenius norm; the signed values are tabulated for reference.
#
# **Two losses.** The classification loss is the cross-entropy of the true label (CE). The explanation loss is
# the attack's: the MSE between the victim's normalised gradient map and the target's (in 1e-7 units). A ReLU
# network's gradient map is piecewise constant in the input, so on the model as trained the explanation loss
# is a staircase with no useful curvature; its Hessian needs third derivatives of the network. The flatness
# and curvature numbers of the explanation loss therefore use the model's **softplus twin** (same weights,
# ReLU replaced by softplus with a stated β: the function the attack descends). Both versions are shown
# below. The Hessian of CE is also taken on the twin, so that both Hessians come from the same network; the CE
# *slices* use the model as trained (its CE is smooth enough to slice). Labels below say which is which.

# %% tags=["parameters", "remove-cell"]
profile = "cpu"  # smoke | cpu | paper, or a path to a YAML profile
overrides = {}  # any profile field, e.g. {"landscape.victims": 5}

# %%
import matplotlib.pyplot as plt

from lib.core.profile import load_profile, setup_runtime
from lib.core.store import ResultStore
from lib.pipeline.landscapes import compute_landscape
from lib.report import landscape as report
from lib.report.findings import claim_closing, landscape_finding
from lib.report.page import banner, grouped_tables, human_table, say, show_source
from lib.studies.landscape import landscape_result, showcase_surfaces

P = load_profile(profile, overrides)
device = setup_runtime(P)
store = ResultStore()
banner(P, device)

# %% [markdown]
# ## The settings

# %%
human_table(
    report.settings_table(P),
    {"setting": "setting", "value": "value"},
    index=["setting"],
)

# %% [markdown]
# Slices, flatness and curvature of one model, from the library:

# %%
show_source(compute_landscape)

# %% tags=["remove-input"]
R = landscape_result(P, store, device)
say(report.cost_text(R.curv))

# %% [markdown]
# ## The staircase and its smooth twin
#
# One victim, one Gaussian direction, for the standard model and the most robust TRADES model of the first
# seed: the explanation loss of the model as trained (steps: its gradient map changes only where a ReLU
# switches) and of its softplus twin, next to CE.

# %% mystnb={"image": {"alt": "Loss along one Gaussian direction: CE, the trained model's explanation loss and its softplus twin's"}}
report.staircase_slices(R.raw, R.extremes, P.landscape.softplus_beta)
plt.show()

# %% [markdown]
# *Figure: the three losses along one Gaussian direction through victim 0 of the first experiment; explanation losses in
# 1e-7. The trained ReLU model's explanation loss moves in steps; the twin's is smooth.*
#
# ## Slices over all victims
#
# For the first seed's standard model, most robust TRADES model and MAT: each victim's slice along the first
# Gaussian direction and along its gradient-sign direction, per loss. Curves are shifted to start from their
# value at $t = 0$, so that shapes compare.

# %% mystnb={"image": {"alt": "Every victim's loss slices, shifted to zero at the victim, for three models"}}
report.victim_slices(R.raw, R.showcase)
plt.show()

# %% [markdown]
# *Figure: every victim's slice, shifted to 0 at t = 0; a flatter landscape keeps its curves closer to 0.*
#
# ## Surfaces
#
# The plane of two Gaussian directions around the first victim, for the standard model and the most robust
# TRADES model of the first seed (same directions and victim for both).

# %% mystnb={"image": {"alt": "Contour plots of the three losses over a plane of two Gaussian directions"}}
report.surfaces(showcase_surfaces(P, store, device, P.run[0]))
plt.show()

# %% [markdown]
# *Figure: each loss over the plane (axes: the two directions' coefficients); explanation losses in 1e-7.*
#
# ## Flatness against β
#
# Per experiment, each measure's mean over victims (and directions) and seeds, with a 95 % two-stage bootstrap
# interval (seeds resampled, then victims within each); MAT is drawn at the right. Values are in the losses'
# own units (CE in nats; explanation loss in 1e-7). Lower = flatter. The CE slices use the model as trained,
# everything else the softplus twin.

# %% mystnb={"image": {"alt": "Flatness measures per model kind with bootstrap intervals, CE and explanation loss"}}
for exp_name in P.run:
    for loss in ("ce", "expl_twin"):
        report.flatness_by_kind(R.kinds, exp_name, loss)
        plt.show()

# %%
for loss, cols in report.MEAN_TABLES.items():
    say(f"Means over seeds and victims of the **{loss}**'s measures:")
    grouped_tables(R.means, ["experiment"], {"kind": "model", **cols}, digits=3)

# %% [markdown]
# ## The correlations
#
# Spearman's ρ over the models of each experiment, with a 95 % bootstrap interval (models resampled), of each
# flatness measure against PGD accuracy (all models, MAT included) and against β (TRADES models). The reading
# was fixed before looking: a loss **flattens** with classification robustness when the interval against PGD
# accuracy lies entirely below 0, **sharpens** when it lies entirely above, and shows **no clear relation**
# otherwise.

# %% mystnb={"image": {"alt": "Spearman correlations of flatness measures with PGD accuracy and their intervals"}}
report.flatness_intervals(R.corr)
plt.show()

# %% tags=["remove-input"]
say(report.readings_text(R.corr, R.shares, P.landscape.equivalence_rho))

# %% [markdown]
# **Why measures of one loss can disagree.** The Hessian is the curvature *at* the input; a slice's quadratic
# fit is the curvature *across* the ε-neighbourhood. At an input a standard model classifies with near-certain
# confidence, the softmax is saturated: CE and its curvature at the point are almost zero, yet the loss rises
# steeply within ε (which is why PGD succeeds). A robust model is less confident at the point, so its local
# curvature can be larger while its loss over the neighbourhood is flatter. "Flat" in the common belief means
# the neighbourhood, which the slices measure; where the two kinds of measure disagree, read the slices for
# that question and the Hessian for the local geometry the explanation attack's first steps see.
#
# ## Does the landscape track explanation robustness?
#
# The prototype chapter measured each model's explanation robustness as the loss left after the attack
# ($L_\mathrm{end}$, higher = more robust) and the relative reduction (lower = more robust), with the same
# gradient explanation, on its prototype pairs. If a flat explanation landscape made explanations easy to
# steer, flatter models would have lower $L_\mathrm{end}$. We correlate, over the models of each experiment,
# two candidate explanations of $L_\mathrm{end}$: where the attack starts ($L_\mathrm{start}$, the same pairs,
# model as trained) and how curved the explanation landscape is (this chapter's victims, softplus twin).

# %%
grouped_tables(
    R.track, ["experiment"], report.TRACKING_COLUMNS, digits=2, index=["candidate"]
)

# %% mystnb={"image": {"alt": "L_end against L_start and against the explanation loss's Hessian spectral norm, per model"}}
report.tracking_scatter(R.joined)
plt.show()

# %% tags=["remove-input"]
say(report.tracking_text(R.track, R.verdict))

# %% [markdown]
# ## Verdict
#
# The paper's claim has two parts: (1) classification robustness flattens the CE landscape, and (2) it does
# not flatten the explanation-loss landscape, so the common belief's mechanism does not carry over to
# explanations.

# %% tags=["remove-input"]
say(report.verdict_text(R.parts, P.landscape.equivalence_rho))

# %% [markdown]
# ### The claim's one answer
#
# The verdict the findings page gives this claim, from the same function (one answer over the model sets,
# the seed as the unit; the readings above are per block and secondary):

# %% tags=["remove-input"]
say(claim_closing(landscape_finding(P, R)))

# %% [markdown]
# **Differences from the paper:** several directions, victims and seeds instead of one curve; curvature on
# the softplus twin (β stated above); small ConvNets trained for a few epochs at the `cpu` scale.

# %% [markdown]
# ## Try it
#
# Attack one pair of your choice on a trained model of this book (seconds on a CPU; the published `cpu`
# results ship the weights of each experiment's first-seed standard, MAT, TRADES β=8, SEP_pos and SEP_neg
# models, and `lib.load_model` returns any of them). Change the model's `kind`, the `victim` and `target`
# (indices into the experiment's test images) or the number of `steps`: a flatter explanation landscape should make the map harder to steer; compare `"standard"`.

# %%
from lib.pretrained import try_it

try_it(P, P.run[0], kind="MAT", victim=4, target=9, steps=300)
plt.show()
