"""The motivation chapter's figures, tables and sentences: the manipulation examples, the explanation loss
against attack steps, the comparison with noise and the sentences written from a ``MotivationResult``."""

from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd
import torch

from lib.measure.explain import explanation_map
from lib.report.page import human_table, percent
from lib.report.style import FAMILY_STYLE, PAGE_WIDTH

NOISE_COLUMNS = {
    "MSE to target (1e-7)": "MSE to target (1e-7)",
    "cosine": "cosine",
    "Spearman": "Spearman",
    "top-10% overlap": "top-10 % overlap",
    "label kept": "label kept",
    "L2 size": "L2 size",
}
SUMMARY_COLUMNS = {
    "model": "model",
    "flipped": "flipped",
    "l_start_1e-7": "L_start",
    "l_end_1e-7": "L_end",
    "l_end_all_1e-7": "L_end, all",
    "relative_reduction": "rel. red.",
    "mean_linf": "L-inf",
    "mean_l2": "L2",
}
SUMMARY_DIGITS = {
    "flipped": 0,
    "l_start_1e-7": 1,
    "l_end_1e-7": 1,
    "l_end_all_1e-7": 1,
    "relative_reduction": 2,
}


# ------------------------------------------------------------------------------------------------
# figures


def manipulation_examples(
    model, x_victims, x_targets, x_adv, method: str, rows: int = 3
) -> plt.Figure:
    """Per row: the victim, the perturbation (amplified to the full grey range), the manipulated image and
    the three explanation maps; titles give the predicted label and its probability."""

    x_v, x_t, x_a = (
        x_victims[:rows],
        x_targets[:rows],
        x_adv[:rows].to(x_victims.device),
    )
    rows = len(x_v)
    maps = [explanation_map(model, x, method).detach().cpu() for x in (x_v, x_t, x_a)]
    with torch.no_grad():
        p_v, p_a = model(x_v).softmax(1).cpu(), model(x_a).softmax(1).cpu()
    fig, axes = plt.subplots(
        rows, 6, figsize=(PAGE_WIDTH, 1.45 * rows + 0.4), squeeze=False
    )
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
        images = [
            x_v[r].cpu(),
            delta / (2 * delta.abs().max().clamp_min(1e-12)) + 0.5,
            x_a[r].cpu(),
        ]
        for c, img in enumerate(images):
            axes[r][c].imshow(
                img.permute(1, 2, 0).squeeze(-1).numpy(), cmap="gray", vmin=0, vmax=1
            )
        for c, m in enumerate(maps, start=3):
            axes[r][c].imshow(m[r].numpy(), cmap="hot")
        for c, p in ((0, p_v[r]), (2, p_a[r])):
            axes[r][c].set_title(
                f"label {int(p.argmax())} ({float(p.max()):.2f})", fontsize=9
            )
    for c, ax in enumerate(axes[-1]):
        ax.set_xlabel(titles[c], fontsize=9)
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
    fig.tight_layout()
    return fig


def loss_vs_steps(curves: pd.DataFrame) -> plt.Figure:
    """The explanation loss relative to its start against the attack step (log scale), one line per model
    (median over pairs) with its interquartile band, in the model family's colour (a ``relative_loss_curves``
    table)."""
    fig, ax = plt.subplots(figsize=(6.5, 3.6))
    for label, c in curves.groupby("model", sort=False):
        family = c["family"].iloc[0] if "family" in c else None
        color = FAMILY_STYLE[family].color if family in FAMILY_STYLE else None
        (line,) = ax.plot(c["step"], c["median"], marker=".", label=label, color=color)
        ax.fill_between(
            c["step"], c["q25"], c["q75"], alpha=0.2, color=line.get_color()
        )
    ax.set_xscale("log")
    ax.set_xlabel("attack step")
    ax.set_ylabel("L / L_start")
    ax.axhline(1, color="gray", lw=0.8)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=9)
    fig.tight_layout()
    return fig


# ------------------------------------------------------------------------------------------------
# tables


def noise_table(table: pd.DataFrame) -> pd.io.formats.style.Styler:
    """A ``compare_with_noise`` table for the page: one row per input (victim, noise, attack)."""
    return human_table(
        table.rename_axis("input").reset_index(),
        {"input": "input", **NOISE_COLUMNS},
        index=["input"],
    )


def attack_table(summary: pd.DataFrame) -> pd.io.formats.style.Styler:
    """A ``summary_table`` (index ``model``) for the page: flipped pairs, L_start, L_end, the relative
    reduction and the perturbation sizes per model."""
    return human_table(
        summary.rename_axis("model").reset_index(),
        SUMMARY_COLUMNS,
        digits=SUMMARY_DIGITS,
        index=["model"],
    )


# ------------------------------------------------------------------------------------------------
# sentences


def attack_sentence(m) -> str:
    """The attack's settings (``profile.manipulation``): steps, step size, pairs, method and stopping rule."""
    stops = (
        "no early stopping (the window is as long as the step limit)"
        if m.window >= m.steps
        else f"a pair stops when its loss has not improved by {100 * m.rel_tol:g} % over {m.window} steps"
    )
    return (
        f"Attack: {m.steps} Adam steps of size {m.lr:g} on {m.pairs} pairs per model, method `{m.method}`; "
        f"{stops}."
    )


def standard_sentence(
    summary: pd.Series,
    noise: pd.DataFrame,
    success: float,
    seconds: float,
    n_pairs: int,
) -> str:
    """What the attack did on the standard model: its success rate, the explanation loss before and after
    against noise of the same size, the perturbation's size, early stops and wall time (``summary``: the
    model's row of a ``summary_table``; ``noise``: its ``compare_with_noise`` table)."""
    noise_row, attack_row = noise.loc["random noise, same L2"], noise.loc["attack"]
    return (
        f"On the standard model, {percent(success)} of the {n_pairs} pairs end with a map closer to "
        f"the target and the label unchanged ({int(summary['flipped'])} flipped). Over the kept pairs the "
        f"explanation loss falls from {summary['l_start_1e-7']:.1f} to {summary['l_end_1e-7']:.1f} (×1e-7), "
        f"while noise of the same L2 size (realised after clamping: {noise_row['L2 size']:.3f} against the "
        f"attack's {attack_row['L2 size']:.3f}) leaves it at {noise_row['MSE to target (1e-7)']:.1f}. The mean "
        f"L-inf size of the perturbation is {summary['mean_linf']:.3f}; {int(summary['converged'])} pairs met "
        f"the stopping rule before the step limit; the attack took {seconds:.1f} s for all pairs."
    )


def steering_sentence(harder: dict[str, bool]) -> str:
    """Which robust models end with a higher L_end than the standard model (``l_end_above_standard``)."""
    higher = [lb for lb, h in harder.items() if h]
    lower = [lb for lb, h in harder.items() if not h]
    return (
        f"Compared with the standard model, L_end is higher (explanations harder to steer) for "
        f"{', '.join(higher) or 'none of the robust models'}"
        + (f" and not higher for {', '.join(lower)}" if higher and lower else "")
        + ". Whether this holds beyond these models, and whether it follows classification robustness, is the "
        "subject of the prototype chapter; L_end also scales with L_start, which differs between models, so "
        "the relative reduction is shown beside it."
    )


def evidence_sentence(evidence: pd.DataFrame) -> str:
    """The chapter's conclusion from an ``evidence_table``: the distance each perturbation removes per model
    and whether the attack beats noise on every model."""
    shares = "; ".join(
        f"{r.model}: {percent(r.attack_removed)} / {percent(r.noise_removed)}"
        for r in evidence.itertuples()
    )
    verdict = (
        "On every model the attack moves the map towards the target far more than noise does: a "
        "perturbation that keeps the prediction can steer a gradient explanation."
        if evidence["beats_noise"].all()
        else "The attack does not beat noise by a wide margin on every model here."
    )
    return (
        "How much of the distance to the target map each perturbation removes, per model (attack / noise of "
        f"the same L2 size): {shares}. {verdict} Robust training changes both the starting distance between "
        "maps and how far the attack gets; the next chapters measure this across the whole sweep, using this "
        "attack's final loss L_end as the measure of explanation robustness (higher = more robust), as the "
        "paper does."
    )
