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

# %% tags=["parameters"]
profile = "cpu"  # smoke | cpu | paper, or a path to a YAML profile
overrides = {}  # any profile field, e.g. {"experiments.mnist.train.epochs": 2}

# %%
import inspect

import matplotlib.pyplot as plt
import pandas as pd
from IPython.display import Markdown, display
from myst_nb import glue

from lib import sweep as sweep_mod
from lib.config import load_profile, setup_runtime, to_dict
from lib.plots import accuracy_vs_beta, training_curves
from lib.store import ResultStore
from lib.sweep import masking_check, run_sweep, summarize, sweep_specs
from lib.train import get_model

P = load_profile(profile, overrides)
device = setup_runtime(P)
store = ResultStore()
print(f"profile {P.name!r} on {device} with {P.threads} threads; result store at {store.root.resolve()}")

# %% [markdown]
# ## The settings
#
# Each dataset's attack budget is its standard L-inf radius, fixed before any result was seen: 0.3 for MNIST
# (Madry et al. and the TRADES reference code; the paper's MAT accuracy of about 90 % fits it), 0.1 for
# Fashion-MNIST (the budget most adversarial-training work uses), 8/255 for CIFAR-10. Attack step sizes follow
# Madry's rule, step = 2.5 eps / steps. Training uses 10 PGD steps; evaluation uses PGD-20 with a random
# start; the masking check uses PGD-100 with 5 restarts. The table lists everything that differs between
# the experiments of this profile.

# %%
rows = []
for name in P.run:
    e = P.experiment(name)
    rows.append({"experiment": name, "dataset": e.data.name, "train images": e.data.n_train or "all",
                 "test images": e.eval.n or "all", "model": f"{e.model.name} (width {e.model.width})",
                 "epochs": e.train.epochs, "batch": e.train.batch_size, "lr": e.train.lr,
                 "eps": round(e.train.attack.eps, 4),
                 "train attack": f"PGD-{e.train.attack.steps}, step {e.train.attack.step_size:.4g}",
                 "eval attack": f"PGD-{e.eval.attack.steps}, step {e.eval.attack.step_size:.4g}"})
display(pd.DataFrame(rows).set_index("experiment"))
print(f"seeds {list(P.seeds)}; TRADES betas {list(P.sweep.betas)}; MAT: {P.sweep.mat}")

# %% [markdown]
# ## Train and evaluate the sweep
#
# `run_sweep` asks the store for each model and trains only what is missing; an interrupted run resumes from
# its last finished epoch. Each model is then evaluated once (cached too).

# %%
table = run_sweep(P, store, device)
summary = summarize(table)

# %%
fig = accuracy_vs_beta(summary, list(P.run))
plt.show()

# %% [markdown]
# Points are means over seeds, error bars one standard deviation. Standard training ($\beta = 0$) is on
# the left, MAT on the right.

# %%
def fmt(mean: float, std: float) -> str:
    return f"{100 * mean:.1f} ± {100 * (0 if pd.isna(std) else std):.1f}"


shown = summary.assign(
    model=summary.apply(lambda r: "MAT" if r["method"] == "MAT" else f"TRADES β={r['beta']:g}", axis=1),
    clean=[fmt(m, s) for m, s in zip(summary["clean_mean"], summary["clean_std"])],
    pgd=[fmt(m, s) for m, s in zip(summary["pgd_mean"], summary["pgd_std"])],
    pgd_range=[f"{100 * a:.1f}–{100 * b:.1f}" for a, b in zip(summary["pgd_min"], summary["pgd_max"])],
    train_s=summary["train_seconds"].round(0).astype(int),
)[["experiment", "model", "seeds", "clean", "pgd", "pgd_range", "train_s"]]
shown.columns = ["experiment", "model", "seeds", "clean acc. (%)", "PGD acc. (%)", "PGD range over seeds",
                 "train time (s)"]
display(shown.set_index(["experiment", "model"]))

# %%
lines = []
for name in P.run:
    s = summary[summary["experiment"] == name]
    tr = s[s["method"] != "MAT"].sort_values("beta")
    lo, hi = tr.iloc[0], tr.iloc[-1]
    mat = s[s["method"] == "MAT"]
    eps = P.experiment(name).eval.attack.eps
    text = (f"- **{name}** (eps {eps:.4g}): standard training reaches {100 * lo.clean_mean:.1f} % clean and "
            f"{100 * lo.pgd_mean:.1f} % PGD accuracy; TRADES with β = {hi.beta:g} reaches "
            f"{100 * hi.clean_mean:.1f} % clean and {100 * hi.pgd_mean:.1f} % PGD accuracy")
    if len(mat):
        text += (f"; MAT reaches {100 * mat.clean_mean.iloc[0]:.1f} % clean and "
                 f"{100 * mat.pgd_mean.iloc[0]:.1f} % PGD accuracy")
    monotone = (tr["pgd_mean"].diff().dropna() >= -0.01).all()
    text += (". PGD accuracy rises with β at every step (within one point)." if monotone else
             ". PGD accuracy does **not** rise monotonically with β here (see the table).")
    lines.append(text)
display(Markdown("\n".join(lines)))

n_models = len(table)
glue("n_models", n_models, display=False)
glue("n_seeds", len(P.seeds), display=False)
glue("total_train_minutes", f"{table['train_seconds'].sum() / 60:.1f}", display=False)
glue("mean_model_seconds", f"{table[table['method'] != 'standard']['train_seconds'].mean():.0f}", display=False)
glue("mean_standard_seconds", f"{table[table['method'] == 'standard']['train_seconds'].mean():.0f}", display=False)

# %% [markdown]
# The sweep holds {glue:text}`n_models` models ({glue:text}`n_seeds` seeds each). Training them took
# {glue:text}`total_train_minutes` minutes of compute in total, counted when each model was trained (a
# rerun that finds them in the store takes seconds): about {glue:text}`mean_model_seconds` s per adversarially
# trained model and {glue:text}`mean_standard_seconds` s per standard one.

# %% [markdown]
# ## How training went
#
# Each epoch the trainer records the loss and clean / PGD accuracy on a small monitor set of test images
# (PGD with the training attack's settings). Here is the monitor's PGD accuracy for the first seed.

# %%
for name in P.run:
    histories = {}
    for spec in sweep_specs(P, name):
        if spec.train.seed != P.seeds[0]:
            continue
        label = "MAT" if spec.train.method == "mat" else f"β={spec.train.beta:g}"
        histories[label] = get_model(spec, store, device, progress=False).history
    training_curves(histories, "monitor_pgd_acc", f"{name}: monitor PGD accuracy, seed {P.seeds[0]}")
    plt.show()

# %% [markdown]
# ## Is the robustness real? A gradient-masking check
#
# A model can look robust because its gradients are useless to the attacker (gradient masking), not because
# it is. A cheap check: attack the most robust model much harder (many more steps, several random restarts).
# If its accuracy collapses, the PGD-20 numbers overstated robustness.

# %%
checks = []
for name in P.run:
    candidates = [s for s in sweep_specs(P, name) if s.train.seed == P.seeds[0]]
    robust = table[(table["experiment"] == name) & (table["seed"] == P.seeds[0])]
    best = robust.loc[robust["pgd_acc"].idxmax()]
    spec = next(s for s in candidates if get_model(s, store, device, progress=False).entry.key == best["key"])
    checks.append(masking_check(P, store, device, name, spec))
checks = pd.DataFrame(checks)
checks["drop (points)"] = 100 * (checks["pgd_acc"] - checks["strong_pgd_acc"])
display(checks[["experiment", "method", "beta", "seed", "clean_acc", "weak_attack", "pgd_acc", "strong_attack",
                "strong_pgd_acc", "drop (points)"]].round(3))
glue("masking_max_drop", f"{checks['drop (points)'].max():.1f}", display=False)

# %% [markdown]
# The stronger attack lowers PGD accuracy of the most robust model by at most {glue:text}`masking_max_drop`
# points. A drop of a few points is what more steps and restarts usually buy against a genuinely robust
# model; a collapse towards zero would mean gradient masking.

# %% [markdown]
# ## What this means
#
# The sweep gives what the rest of the book needs: models from not robust at all (standard training, PGD
# accuracy near zero) to strongly robust, with MAT for reference, on each dataset and several seeds. The
# next chapters measure the explanation robustness of exactly these models.
#
# **Differences from the paper.** The paper trains for 25 epochs on full datasets with ResNet-18 and a
# ConvNet and reports single runs; its sweep's β values, optimiser and PGD evaluation settings are not
# stated. The `cpu` profile trains a small ConvNet on 5,000-image subsets for a few epochs so that the whole
# book runs on a laptop; its accuracies are therefore lower than the paper's (compare the
# [paper's table](paper_table)). The `paper` profile restores the paper's scale on a GPU.
#
# The code that trains a model, shown from the library rather than retyped:

# %%
print(inspect.getsource(sweep_mod.run_sweep))
