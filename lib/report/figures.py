"""The book's figure helpers: each takes tidy results and returns a matplotlib Figure sized for the page
(at most 8 in wide, fonts of 9 pt or more)."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch

from lib.measure.explain import explanation_map
from lib.report.style import PAGE_WIDTH


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
                    err = [
                        mean - part[f"{col}_min"].to_numpy() * 100,
                        part[f"{col}_max"].to_numpy() * 100 - mean,
                    ]
                ax.errorbar(
                    xs,
                    mean,
                    yerr=err,
                    color=color,
                    marker=marker,
                    capsize=3,
                    linestyle="-" if marker == "o" else "none",
                    label=f"{label} ({'TRADES' if marker == 'o' else 'MAT'})",
                )
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


def manipulation_examples(model, x_victims, x_targets, x_adv, method: str, rows: int = 3) -> plt.Figure:
    """Per row: the victim, the perturbation (amplified to the full grey range), the manipulated image and
    the three explanation maps; titles give the predicted label and its probability."""

    x_v, x_t, x_a = x_victims[:rows], x_targets[:rows], x_adv[:rows].to(x_victims.device)
    maps = [explanation_map(model, x, method).detach().cpu() for x in (x_v, x_t, x_a)]
    with torch.no_grad():
        p_v, p_a = model(x_v).softmax(1).cpu(), model(x_a).softmax(1).cpu()
    fig, axes = plt.subplots(rows, 6, figsize=(PAGE_WIDTH, 1.45 * rows + 0.4), squeeze=False)
    titles = [
        "victim",
        "perturbation\n(amplified)",
        "manipulated",
        "victim map",
        "target map",
        "manipulated\nmap",
    ]
    for r in range(rows):
        delta = (x_a[r] - x_v[r]).cpu()
        images = [x_v[r].cpu(), delta / (2 * delta.abs().max().clamp_min(1e-12)) + 0.5, x_a[r].cpu()]
        for c, img in enumerate(images):
            axes[r][c].imshow(img.permute(1, 2, 0).squeeze(-1).numpy(), cmap="gray", vmin=0, vmax=1)
        for c, m in enumerate(maps, start=3):
            axes[r][c].imshow(m[r].numpy(), cmap="hot")
        for c, p in ((0, p_v[r]), (2, p_a[r])):
            axes[r][c].set_title(f"label {int(p.argmax())} ({float(p.max()):.2f})", fontsize=9)
    for c, ax in enumerate(axes[-1]):
        ax.set_xlabel(titles[c], fontsize=9)
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
    fig.tight_layout()
    return fig


def correlation_intervals(
    corr: pd.DataFrame,
    labels: list[str],
    xlabel: str = "Spearman ρ with PGD accuracy (95 % bootstrap interval)",
) -> plt.Figure:
    """One row per correlation: rho as a point and its interval as a bar, against a line at 0."""
    fig, ax = plt.subplots(figsize=(PAGE_WIDTH, 0.32 * len(corr) + 1))
    y = np.arange(len(corr))
    ax.errorbar(
        corr["rho"], y, xerr=[corr["rho"] - corr["ci_low"], corr["ci_high"] - corr["rho"]], fmt="o", capsize=2
    )
    ax.axvline(0, color="gray", lw=0.8)
    ax.set_yticks(y, labels, fontsize=9)
    ax.invert_yaxis()
    ax.set_xlabel(xlabel)
    fig.tight_layout()
    return fig
