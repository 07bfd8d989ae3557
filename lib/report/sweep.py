"""The sweep chapter's figures, tables and sentences: accuracy against the TRADES weight, the training
curves, the accuracy and masking tables and the sentences written from a ``SweepResult``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from lib.report.page import duration, human_table
from lib.report.style import ACCURACY_COLOR, PAGE_WIDTH

# ------------------------------------------------------------------------------------------------
# figures


def accuracy_vs_beta(summary: pd.DataFrame, experiments: list[str]) -> plt.Figure:
    """Clean and PGD accuracy against the TRADES weight, one panel per experiment.

    Points are seed means and bars the min-max over seeds (no bars for a single seed); MAT sits at the right.
    """
    n = len(experiments)
    fig, axes = plt.subplots(
        1, n, figsize=(PAGE_WIDTH, 3.6), squeeze=False, sharey=True
    )
    for ax, name in zip(axes[0], experiments):
        s = summary[summary["experiment"] == name]
        tr, mat = s[s["family"] != "MAT"], s[s["family"] == "MAT"]
        pos = np.arange(len(tr))
        for col, label in (("clean", "clean"), ("pgd", "PGD")):
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
                    color=ACCURACY_COLOR[col],
                    marker=marker,
                    capsize=3,
                    linestyle="-" if marker == "o" else "none",
                    label=f"{label} ({'TRADES' if marker == 'o' else 'MAT'})",
                )
        ticks = list(pos) + ([len(tr) + 0.6] if len(mat) else [])
        ax.set_xticks(
            ticks,
            [f"{b:g}" for b in tr["beta"]] + (["MAT"] if len(mat) else []),
            fontsize=9,
        )
        ax.set_xlabel("TRADES β (the paper's α)", fontsize=9)
        ax.set_ylim(-3, 103)
        ax.grid(alpha=0.3)
        ax.set_title(name, fontsize=10)
    axes[0][0].set_ylabel("test accuracy (%)", fontsize=9)
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=4, fontsize=9, frameon=False)
    fig.tight_layout(rect=(0, 0.1, 1, 1))
    return fig


def training_curves(
    histories: dict[str, list[dict]], key: str, title: str
) -> plt.Figure:
    """One line per model of a metric recorded each epoch (e.g. the monitor PGD accuracy)."""
    fig, ax = plt.subplots(figsize=(6.5, 3.4))
    cmap = plt.get_cmap("viridis", max(len(histories), 2))
    for i, (label, hist) in enumerate(histories.items()):
        epochs = [h["epoch"] for h in hist]
        values = [h.get(key, np.nan) * 100 for h in hist]
        ax.plot(
            epochs,
            values,
            marker=".",
            color="black" if label == "MAT" else cmap(i),
            label=label,
        )
    ax.set_xlabel("epoch")
    ax.set_ylabel(f"{key.replace('_', ' ')} (%)")
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, ncol=1, loc="center left", bbox_to_anchor=(1.0, 0.5))
    fig.tight_layout()
    return fig


def monitor_curves(
    histories: dict[str, list[dict]], experiment: str, seed: int
) -> plt.Figure:
    """The monitor's PGD accuracy after each epoch, one line per model of one experiment and seed."""
    return training_curves(
        histories, "monitor_pgd_acc", f"{experiment}: monitor PGD accuracy, seed {seed}"
    )


# ------------------------------------------------------------------------------------------------
# tables


def plus_minus(mean: float, std: float) -> str:
    """An accuracy in percent with its spread over seeds ('91.2 ± 0.4'; the mean alone for one seed)."""
    return f"{100 * mean:.1f}" + (
        "" if pd.isna(std) else f"\u2009±\u2009{100 * std:.1f}"
    )


def accuracy_table(summary: pd.DataFrame) -> pd.io.formats.style.Styler:
    """A ``summarize`` table for the page: clean and PGD accuracy (mean ± std over seeds), the PGD range over
    seeds and the training time, per experiment and model."""
    shown = summary.assign(
        clean=[
            plus_minus(m, s)
            for m, s in zip(summary["clean_mean"], summary["clean_std"])
        ],
        pgd=[plus_minus(m, s) for m, s in zip(summary["pgd_mean"], summary["pgd_std"])],
        pgd_range=[
            f"{100 * a:.1f}–{100 * b:.1f}"
            for a, b in zip(summary["pgd_min"], summary["pgd_max"])
        ],
    )
    return human_table(
        shown,
        {
            "experiment": "experiment",
            "kind": "model",
            "seeds": "seeds",
            "clean": "clean acc. (%)",
            "pgd": "PGD acc. (%)",
            "pgd_range": "PGD range over seeds",
            "train_seconds": "train time (s)",
        },
        digits={"seeds": 0, "train_seconds": 0},
        index=["experiment", "model"],
    )


def masking_table(checks: pd.DataFrame) -> pd.io.formats.style.Styler:
    """The masking checks (one ``masking_check`` row per experiment) for the page, accuracies in percent."""
    shown = checks.assign(
        clean_pct=100 * checks["clean_acc"],
        pgd_pct=100 * checks["pgd_acc"],
        strong_pct=100 * checks["strong_pgd_acc"],
    )
    return human_table(
        shown,
        {
            "experiment": "experiment",
            "kind": "model",
            "seed": "seed",
            "clean_pct": "clean acc. (%)",
            "weak_attack": "attack",
            "pgd_pct": "PGD acc. (%)",
            "strong_attack": "stronger attack",
            "strong_pct": "PGD acc., stronger (%)",
            "drop_points": "drop (points)",
        },
        digits={
            "seed": 0,
            "drop_points": 1,
            "clean_pct": 1,
            "pgd_pct": 1,
            "strong_pct": 1,
        },
        index=["experiment"],
    )


# ------------------------------------------------------------------------------------------------
# sentences


def settings_sentence(seeds: Sequence[int], betas: Sequence[float], mat: bool) -> str:
    """The sweep's seeds, TRADES weights and whether MAT is in, with the warm-up schedules."""
    return (
        f"Seeds {list(seeds)}; TRADES β {', '.join(f'{b:g}' for b in betas)}; MAT "
        f"{'included' if mat else 'not included'}. During the eps warm-up the training attack's radius and "
        "step grow linearly from 0 to their final values; the learning rate warms up linearly, then follows a "
        "cosine to zero."
    )


def accuracy_line(
    summary: pd.DataFrame, experiment: str, eps: float, rises: bool
) -> str:
    """One experiment's bullet: standard training against the largest beta (and MAT), and whether PGD
    accuracy rises with beta (``pgd_rises_with_beta``)."""
    s = summary[summary["experiment"] == experiment]
    tr = s[s["family"] != "MAT"]
    lo, hi, mat = tr.iloc[0], tr.iloc[-1], s[s["family"] == "MAT"]
    text = (
        f"- **{experiment}** (eps {eps:.4g}): standard training reaches "
        f"{100 * lo.clean_mean:.1f} % clean and {100 * lo.pgd_mean:.1f} % PGD accuracy; {hi.kind} reaches "
        f"{100 * hi.clean_mean:.1f} % clean and {100 * hi.pgd_mean:.1f} % PGD accuracy"
    )
    if len(mat):
        text += f"; MAT {100 * mat.clean_mean.iloc[0]:.1f} % clean and {100 * mat.pgd_mean.iloc[0]:.1f} % PGD"
    return text + (
        ". PGD accuracy rises with β at every step (within one point)."
        if rises
        else ". PGD accuracy does **not** rise monotonically with β here (see the table)."
    )


def compute_sentence(table: pd.DataFrame, n_seeds: int) -> str:
    """How many models the sweep holds and what training them cost (a ``run_sweep`` table)."""
    adv = table[table["family"] != "standard"]["train_seconds"]
    std = table[table["family"] == "standard"]["train_seconds"]
    return (
        f"The sweep holds {len(table)} models ({n_seeds} seed(s) each). Training them took "
        f"{duration(table['train_seconds'].sum())} of compute, counted when each model was trained: "
        f"about {adv.mean():.0f} s per adversarially trained model and {std.mean():.0f} s per standard one."
    )


def sweep_summary(
    summary: pd.DataFrame,
    table: pd.DataFrame,
    eps: Mapping[str, float],
    pgd_rises: Mapping[str, bool],
    n_seeds: int,
) -> str:
    """One ``accuracy_line`` per experiment (``eps``: each experiment's evaluation radius, in order), then
    the ``compute_sentence``."""
    lines = [accuracy_line(summary, name, eps[name], pgd_rises[name]) for name in eps]
    return "\n".join(lines + ["\n" + compute_sentence(table, n_seeds)])


def masking_sentence(worst_drop: float, suspected: bool) -> str:
    """The masking check's reading: the largest drop and whether it suggests gradient masking
    (``masking_suspected``)."""
    return (
        f"The stronger attack lowers PGD accuracy of the most robust model by at most {worst_drop:.1f} points. "
        + (
            "That is a large drop: part of the measured robustness may come from gradient masking."
            if suspected
            else "A drop of a few points is what more steps and restarts usually buy against a genuinely robust "
            "model."
        )
    )
