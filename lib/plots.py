"""The book's figure helpers: each takes tidy results and returns a matplotlib Figure sized for the page
(at most 8 in wide, fonts of 9 pt or more)."""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

PAGE_WIDTH = 8.0  # inches: the book's column at the default dpi


def accuracy_vs_beta(summary: pd.DataFrame, experiments: list[str]) -> plt.Figure:
    """Clean and PGD accuracy against the TRADES weight, one panel per experiment.

    Points are seed means and bars the min-max over seeds (no bars for a single seed); MAT sits at the right.
    """
    n = len(experiments)
    fig, axes = plt.subplots(1, n, figsize=(PAGE_WIDTH, 3.6), squeeze=False, sharey=True)
    for ax, name in zip(axes[0], experiments):
        s = summary[summary["experiment"] == name]
        tr, mat = s[s["method"] != "MAT"], s[s["method"] == "MAT"]
        pos = np.arange(len(tr))
        for col, color, label in (("clean", "tab:blue", "clean"), ("pgd", "tab:red", "PGD")):
            for xs, part, marker in ((pos, tr, "o"), ([len(tr) + 0.6], mat, "s")):
                if not len(part):
                    continue
                mean = part[f"{col}_mean"].to_numpy() * 100
                err = None
                if (part["seeds"] > 1).all():
                    err = [mean - part[f"{col}_min"].to_numpy() * 100, part[f"{col}_max"].to_numpy() * 100 - mean]
                ax.errorbar(xs, mean, yerr=err, color=color, marker=marker, capsize=3,
                            linestyle="-" if marker == "o" else "none",
                            label=f"{label} ({'TRADES' if marker == 'o' else 'MAT'})")
        ticks = list(pos) + ([len(tr) + 0.6] if len(mat) else [])
        ax.set_xticks(ticks, [f"{b:g}" for b in tr["beta"]] + (["MAT"] if len(mat) else []), fontsize=9)
        ax.set_xlabel("TRADES β (the paper's α)", fontsize=9)
        ax.set_ylim(-3, 103)
        ax.grid(alpha=0.3)
        ax.set_title(name, fontsize=10)
    axes[0][0].set_ylabel("test accuracy (%)", fontsize=9)
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=4, fontsize=9, frameon=False)
    fig.tight_layout(rect=(0, 0.1, 1, 1))
    return fig


def training_curves(histories: dict[str, list[dict]], key: str, title: str) -> plt.Figure:
    """One line per model of a metric recorded each epoch (e.g. the monitor PGD accuracy)."""
    fig, ax = plt.subplots(figsize=(6.5, 3.4))
    cmap = plt.get_cmap("viridis", max(len(histories), 2))
    for i, (label, hist) in enumerate(histories.items()):
        epochs = [h["epoch"] for h in hist]
        values = [h.get(key, np.nan) * 100 for h in hist]
        ax.plot(epochs, values, marker=".", color="black" if label == "MAT" else cmap(i), label=label)
    ax.set_xlabel("epoch")
    ax.set_ylabel(f"{key.replace('_', ' ')} (%)")
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, ncol=1, loc="center left", bbox_to_anchor=(1.0, 0.5))
    fig.tight_layout()
    return fig
