"""The book's figure helpers: each takes tidy results and returns a matplotlib Figure."""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd


def accuracy_vs_beta(summary: pd.DataFrame, experiments: list[str]) -> plt.Figure:
    """Clean and PGD accuracy against the TRADES weight, one panel per experiment.

    Points are seed means, bars the min-max over seeds (thin dots: each seed); MAT is a band at the right.
    """
    fig, axes = plt.subplots(1, len(experiments), figsize=(5.2 * len(experiments), 3.8), squeeze=False)
    for ax, name in zip(axes[0], experiments):
        s = summary[summary["experiment"] == name]
        tr = s[s["method"] != "MAT"].sort_values("beta")
        betas = tr["beta"].to_numpy()
        pos = np.arange(len(betas))
        for col, color, label in (("clean", "tab:blue", "clean"), ("pgd", "tab:red", "PGD")):
            mean = tr[f"{col}_mean"].to_numpy() * 100
            std = np.nan_to_num(tr[f"{col}_std"].to_numpy() * 100)
            ax.errorbar(pos, mean, yerr=std, color=color, marker="o", capsize=3, label=f"{label} (TRADES)")
            mat = s[s["method"] == "MAT"]
            if len(mat):
                m = mat[f"{col}_mean"].iloc[0] * 100
                sd = np.nan_to_num(mat[f"{col}_std"].iloc[0] * 100)
                ax.errorbar([len(betas) + 0.6], [m], yerr=[sd], color=color, marker="s", capsize=3,
                            linestyle="none", label=f"{label} (MAT)")
        ax.set_xticks(list(pos) + ([len(betas) + 0.6] if (s["method"] == "MAT").any() else []))
        ax.set_xticklabels([f"{b:g}" for b in betas] + (["MAT"] if (s["method"] == "MAT").any() else []))
        ax.set_xlabel("TRADES weight beta (the paper's alpha)")
        ax.set_ylabel("accuracy on test subset (%)")
        ax.set_ylim(-3, 103)
        ax.grid(alpha=0.3)
        ax.set_title(name)
    axes[0][0].legend(fontsize=8, loc="center right")
    fig.tight_layout()
    return fig


def training_curves(histories: dict[str, list[dict]], key: str, title: str) -> plt.Figure:
    """One line per model of a metric recorded each epoch (e.g. the monitor PGD accuracy)."""
    fig, ax = plt.subplots(figsize=(6, 3.6))
    cmap = plt.get_cmap("viridis", max(len(histories), 2))
    for i, (label, hist) in enumerate(histories.items()):
        epochs = [h["epoch"] for h in hist]
        values = [h.get(key, np.nan) * 100 for h in hist]
        ax.plot(epochs, values, marker=".", color="black" if label == "MAT" else cmap(i), label=label)
    ax.set_xlabel("epoch")
    ax.set_ylabel(f"{key.replace('_', ' ')} (%)")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    return fig
