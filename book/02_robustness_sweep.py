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
# # The robustness sweep: TRADES from standard to strongly robust
#
# **The question.** The paper asks whether explanation robustness follows classification robustness. To ask
# that, we first need models whose classification robustness we control. TRADES (Zhang et al. 2019) gives a
# dial: its loss is
#
# $$ \mathrm{CE}(f(x), y) + \beta \, \mathrm{KL}\big(f(x) \,\|\, f(x')\big), \qquad
#    x' = \arg\max_{\|x' - x\|_\infty \le \epsilon} \mathrm{KL}\big(f(x) \,\|\, f(x')\big), $$
#
# and $\beta = 0$ is plain cross-entropy (standard training). The paper calls this weight $\alpha$; we keep
# TRADES' own name $\beta$. Beside the sweep we train a MAT model (PGD adversarial training, Madry et al.),
# the base of the paper's SEP experiments.
#
# **What you will see.** For every dataset of the profile: clean and PGD accuracy against $\beta$, with the
# spread over seeds; a table; the training curves; and a gradient-masking check on the most robust model.
# Every later chapter reuses these models from the result store.

# %% tags=["parameters", "remove-cell"]
profile = "cpu"  # smoke | cpu | paper, or a path to a YAML profile
overrides = {}  # any profile field, e.g. {"experiments.mnist.train.epochs": 2}

# %%
import matplotlib.pyplot as plt
from IPython.display import display

from lib.core.profile import load_profile, setup_runtime
from lib.core.store import ResultStore
from lib.nn.trades import trades_loss
from lib.report.page import banner, say, show_source
from lib.report.sweep import (
    accuracy_table,
    accuracy_vs_beta,
    masking_sentence,
    masking_table,
    monitor_curves,
    settings_sentence,
    sweep_summary,
)
from lib.studies.sweep import settings_table, sweep_result

P = load_profile(profile, overrides)
device = setup_runtime(P)
store = ResultStore()
banner(P, device)

# %% [markdown]
# ## The settings
#
# Each dataset's attack budget is its standard L-inf radius, fixed before any result was seen: 0.3 for MNIST
# (Madry et al. and the TRADES reference code; the paper's MAT accuracy of about 90 % fits it), 0.1 for
# Fashion-MNIST (the budget most adversarial-training work uses), 8/255 for CIFAR-10. Attack step sizes follow
# Madry's rule, step = 2.5 eps / steps. The table lists every training and evaluation setting of this
# profile's experiments, the warm-ups included.

# %% tags=["remove-input"]
display(settings_table(P).T)
say(settings_sentence(P.seeds, P.sweep.betas, P.sweep.mat))

# %% [markdown]
# ## Train and evaluate the sweep
#
# `run_sweep` asks the store for each model and trains only what is missing; an interrupted run resumes from
# its last finished epoch. Each model is then evaluated once (cached too). The TRADES loss, from the library:

# %%
show_source(trades_loss)

# %% mystnb={"image": {"alt": "Clean and PGD accuracy against the TRADES weight beta, with MAT at the right, one panel per dataset"}}
R = sweep_result(P, store, device)
accuracy_vs_beta(R.summary, list(P.run))
plt.show()

# %% [markdown]
# *Figure: clean (blue) and PGD (red) accuracy against the TRADES weight β, with standard training at the
# left and MAT at the right; points are means over seeds and bars the range over seeds (with one seed, single
# models and no bars).*


# %%
accuracy_table(R.summary)

# %% tags=["remove-input"]
eps = {name: P.experiment(name).eval.attack.eps for name in P.run}
say(sweep_summary(R.summary, R.table, eps, R.pgd_rises, len(P.seeds)))

# %% [markdown]
# ## How training went
#
# Each epoch the trainer records the loss and clean / PGD accuracy on a small monitor set of test images
# (PGD with the training attack's settings). Here is the monitor's PGD accuracy for the first seed.

# %% mystnb={"image": {"alt": "Monitor PGD accuracy after each training epoch, one line per model of the first seed"}}
for name in P.run:
    monitor_curves(R.histories[name], name, P.seeds[0])
    plt.show()

# %% [markdown]
# *Figure: PGD accuracy on the monitor images after each epoch, one line per model of the first seed.*
#
# ## Is the robustness real? A gradient-masking check
#
# A model can look robust because its gradients are useless to the attacker (gradient masking), not because
# it is. A cheap check: attack the most robust model much harder (many more steps, several random restarts).
# If its accuracy collapses, the PGD-20 numbers overstated robustness.

# %%
masking_table(R.checks)

# %% tags=["remove-input"]
say(masking_sentence(R.worst_drop, R.masking))

# %% [markdown]
# ## What this means
#
# The sweep gives what the rest of the book needs: models graded from standard training to strongly robust,
# with MAT for reference, on each dataset and several seeds (the numbers above say how far apart they are at
# this profile's scale). The next chapters measure the explanation robustness of exactly these models.
#
# **Differences from the paper.** The paper trains for 25 epochs on full datasets with ResNet-18 and a
# ConvNet and reports single runs; its sweep's β values, optimiser and PGD evaluation settings are not
# stated. The `cpu` profile trains a small ConvNet on 5,000-image subsets for a few epochs so that the whole
# book runs on a laptop; its accuracies are therefore lower than the paper's (compare the
# [paper's table](paper_table)). The `paper` profile restores the paper's scale on a GPU.

# %% [markdown]
# ## Try it
#
# Attack one pair of your choice on a trained model of this book (seconds on a CPU; the published `cpu`
# results ship the weights of each experiment's first-seed standard, MAT, TRADES β=8, SEP_pos and SEP_neg
# models, and `lib.load_model` returns any of them). Change the model's `kind`, the `victim` and `target`
# (indices into the experiment's test images) or the number of `steps`: the sweep's models are `"standard"`, `"TRADES β=…"` (each β of the profile) and `"MAT"`.

# %%
from lib.pretrained import try_it

try_it(P, P.run[0], kind="MAT", victim=2, target=5, steps=300)
plt.show()
