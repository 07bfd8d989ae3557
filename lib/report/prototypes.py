"""The prototype chapter's figures and sentences: each figure function takes results of
``lib.studies.prototypes`` and returns a matplotlib Figure sized for the page; each sentence builder returns
the Markdown the chapter shows, chosen from the results (verdict rules stay in ``lib.analysis.verdicts``)."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from lib.analysis.stats import interval_text
from lib.measure.prototypes import ROBUSTNESS_MEASURES
from lib.report.figures import correlation_intervals
from lib.report.page import duration, percent
from lib.report.style import PAGE_WIDTH, scatter_families
from lib.studies.prototypes import Validation

# the tables' human column names
SETTINGS_COLUMNS = {"setting": "setting", "value": "value"}
DISTANCE_COLUMNS = {
    "model": "model",
    "explanation": "explanation",
    "intra_median": "same cluster (median)",
    "inter_median": "different (median)",
    "ratio": "ratio",
    "p_intra_closer": "P(same closer)",
}
VALIDATION_COLUMNS = {
    "experiment": "experiment",
    "measure_name": "measure",
    "estimator": "estimator",
    "rel_error_median": "median rel. error",
    "rel_error_q97.5": "rel. error, 97.5 %",
    "bias": "mean bias",
    "rank_rho_median": "rank agreement ρ",
    "rho_range": "ρ, 95 % range",
}
SHORT_CHECK_COLUMNS = {
    "model": "model",
    "l_end_full": "L_end, full",
    "l_end_short": "L_end, short",
    "ratio": "ratio short/full",
    "relative_reduction_full": "rel. reduction, full",
    "relative_reduction_short": "rel. reduction, short",
    "per_pair_spearman": "per-pair ρ",
}
ROBUSTNESS_COLUMNS = {
    "kind": "model",
    "l_start_1e-7": "L_start",
    "l_end_1e-7": "L_end",
    "l_end_sd": "L_end sd",
    "l_end_1e-7_all": "L_end, all",
    "relative_reduction": "rel. red.",
    "spearman_to_target": "rank ρ",
}
ROBUSTNESS_DIGITS = {
    "l_start_1e-7": 1,
    "l_end_1e-7": 1,
    "l_end_sd": 1,
    "l_end_1e-7_all": 1,
}
ACCURACY_COLUMNS = {
    "kind": "model",
    "clean": "clean acc. (%)",
    "pgd": "PGD acc. (%)",
    "flipped": "flipped pairs",
    "label_kept": "label kept",
    "seeds": "seeds",
}
ACCURACY_DIGITS = {"seeds": 0, "flipped": 0, "clean": 1, "pgd": 1, "label_kept": 2}
CORRELATION_COLUMNS = {
    "measure_name": "measure",
    "against": "against",
    "models": "models",
    "rho": "ρ",
    "lo": "95 % low",
    "hi": "95 % high",
    "reading": "reading",
}
CORRELATION_DIGITS = {"models": 0, "rho": 2, "lo": 2, "hi": 2}

DISTANCE_COLORS = ("tab:blue", "tab:orange")  # same cluster, different clusters
SWEEP_MEASURES = (
    ("l_end_1e-7", "L_end (1e-7)", "log"),
    ("relative_reduction", "rel. reduction", "linear"),
    ("l_start_1e-7", "L_start (1e-7)", "log"),
)


# ------------------------------------------------------------------------------------------------
# figures


def cluster_grid(clusters: list[tuple[np.ndarray, np.ndarray]]) -> plt.Figure:
    """One column per cluster (numbered): its images nearest the centroid (top rows, grey) and their maps
    (bottom rows); ``clusters`` as from ``studies.prototypes.cluster_examples``."""
    per = max(len(images) for images, _ in clusters)
    k = len(clusters)
    fig, axes = plt.subplots(
        2 * per, k, figsize=(min(PAGE_WIDTH, 0.8 * k + 0.5), 5.6), squeeze=False
    )
    for c, (images, maps) in enumerate(clusters):
        for r in range(len(images)):
            axes[r][c].imshow(images[r], cmap="gray", vmin=0, vmax=1)
            axes[per + r][c].imshow(maps[r], cmap="hot")
        axes[0][c].set_title(f"{c}", fontsize=9)
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
    axes[0][0].set_ylabel("images", fontsize=9)
    axes[per][0].set_ylabel("maps", fontsize=9)
    fig.tight_layout()
    return fig


def cluster_distances(samples: dict) -> plt.Figure:
    """Box plots of map distances within (blue) and between (orange) clusters, one pair per model and
    method; ``samples``: (experiment, '<experiment>: <model>', method) -> (intra, inter)."""
    fig, ax = plt.subplots(figsize=(PAGE_WIDTH, 3.8))
    pos = np.arange(len(samples))
    for offset, which, color in (
        (-0.18, 0, DISTANCE_COLORS[0]),
        (0.18, 1, DISTANCE_COLORS[1]),
    ):
        ax.boxplot(
            [v[which] for v in samples.values()],
            positions=pos + offset,
            widths=0.3,
            showfliers=False,
            patch_artist=True,
            boxprops={"facecolor": color, "alpha": 0.5},
        )
    labels = [
        f"{m.split(': ')[0]}\n{m.split(': ')[1]}\n{meth}" for _, m, meth in samples
    ]
    ax.set_xticks(pos, labels, fontsize=8)
    ax.set_yscale("log")
    ax.set_ylabel("map MSE (1e-7)")
    ax.legend(
        [plt.Rectangle((0, 0), 1, 1, color=c, alpha=0.5) for c in DISTANCE_COLORS],
        ["same cluster", "different clusters"],
        fontsize=9,
    )
    fig.tight_layout()
    return fig


def _estimates_panel(ax: plt.Axes, val: Validation, measure: str, title: str) -> None:
    labels = val.models["kind"].str.replace("TRADES ", "").tolist()
    pos = np.arange(len(labels))
    ax.violinplot(
        list(val.random[measure]), positions=pos, widths=0.8, showextrema=False
    )
    for i in pos:
        ax.scatter(
            np.full(val.prototype[measure].shape[1], i) + 0.15,
            val.prototype[measure][i],
            s=8,
            color="tab:red",
            alpha=0.5,
            label="prototype rule" if i == 0 else None,
        )
    ax.scatter(
        pos,
        val.all_pairs[measure],
        marker="_",
        s=300,
        color="black",
        label="all pairs",
        zorder=3,
    )
    ax.set_xticks(pos, labels, fontsize=8, rotation=30)
    ax.set_title(title, fontsize=10)


def validation_estimates(validations: dict[str, Validation]) -> plt.Figure:
    """One row per validated experiment, one panel per measure (mean L_end, mean relative reduction): per
    model the all-pairs value (black bar), the prototype estimates (red dots) and random subsets (violins)."""
    n = len(validations)
    fig, axes = plt.subplots(n, 2, figsize=(PAGE_WIDTH, 3.2 * n), squeeze=False)
    for row, (name, val) in zip(axes, validations.items()):
        for ax, measure, title in zip(
            row,
            ("l_end_1e-7", "relative_reduction"),
            ("mean L_end (1e-7)", "mean rel. reduction"),
        ):
            _estimates_panel(ax, val, measure, f"{name}: {title}")
    axes[0][0].legend(fontsize=8)
    fig.tight_layout()
    return fig


def attack_cost(cost: pd.DataFrame, n_pairs: int, steps: int) -> plt.Figure:
    """Attacks (left) and extrapolated minutes (right) per model against the number of images, all ordered
    pairs against the prototypes; ``cost`` as from ``studies.prototypes.cost_table``."""
    fig, axes = plt.subplots(1, 2, figsize=(PAGE_WIDTH, 3.3))
    panels = (
        (axes[0], cost["attacks_all"], cost["attacks_prototypes"], "attacks per model"),
        (
            axes[1],
            cost["seconds_all"] / 60,
            cost["seconds_prototypes"] / 60,
            f"minutes per model ({steps} steps)",
        ),
    )
    for ax, all_pairs, prototypes, ylabel in panels:
        ax.loglog(cost["images"], all_pairs, "o-", label="all ordered pairs")
        ax.loglog(
            cost["images"], prototypes, "s-", label=f"prototypes ({n_pairs} pairs)"
        )
        ax.set_xlabel("images n")
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3, which="both")
    axes[0].legend(fontsize=9)
    fig.tight_layout()
    return fig


def explanation_vs_pgd(group: pd.DataFrame, experiment: str, method: str) -> plt.Figure:
    """Every model of one experiment and explanation method placed by PGD accuracy (x) and L_end, relative
    reduction and L_start (one panel each), in the sweep families' markers."""
    fig, axes = plt.subplots(1, len(SWEEP_MEASURES), figsize=(PAGE_WIDTH, 2.8))
    for ax, (col, label, scale) in zip(axes, SWEEP_MEASURES):
        scatter_families(ax, group, "pgd_acc", col)
        ax.set_yscale(scale)
        ax.tick_params(axis="y", which="both", labelsize=8)
        ax.set_xlabel("PGD accuracy", fontsize=9)
        ax.set_ylabel(label, fontsize=9)
    axes[0].legend(fontsize=8)
    fig.suptitle(f"{experiment}, {method}: each model of the sweep", fontsize=10)
    fig.tight_layout()
    return fig


def pgd_correlations(vs_pgd: pd.DataFrame) -> plt.Figure:
    """The correlations against PGD accuracy with their intervals, one row per experiment, method and
    measure."""
    labels = [
        f"{r.experiment}, {r.explanation}: {ROBUSTNESS_MEASURES[r.measure]}"
        for r in vs_pgd.itertuples()
    ]
    return correlation_intervals(vs_pgd, labels)


# ------------------------------------------------------------------------------------------------
# sentences


def cluster_caption(experiment: str, purity: float) -> str:
    return (
        f"*Figure: the clusters of {experiment} (columns, numbered), three images nearest each centroid (top) "
        f"and their gradient maps (bottom).* Mean cluster purity (the share of a cluster's images with its most "
        f"common label): {percent(purity)}."
    )


def distance_sentence(distances: pd.DataFrame, loose_below: float = 0.75) -> str:
    """The spread of the between/within ratio and of P(same closer), and whether clusters group explanations
    only loosely (the smallest P(same closer) under ``loose_below``) or clearly."""
    p_lo, p_hi = distances["p_intra_closer"].min(), distances["p_intra_closer"].max()
    return (
        f"The median distance between clusters is {distances['ratio'].min():.2f} to "
        f"{distances['ratio'].max():.2f} times the median within a cluster, and a random same-cluster pair is "
        f"closer than a random different-cluster pair in {percent(p_lo)} to {percent(p_hi)} of draws (50 % "
        f"would mean clusters say nothing about explanations, 100 % that they separate them perfectly): "
        + (
            "clusters group explanations only loosely, so the prototype estimate needs the validation that "
            "follows."
            if p_lo < loose_below
            else "clusters group explanations clearly; the validation that follows checks whether that "
            "makes prototypes a good estimate."
        )
    )


def validation_intro(validations: dict[str, Validation], attack_seconds: float) -> str:
    first = next(iter(validations.values()))
    return (
        f"On {', '.join(validations)}: all {first.n_pairs_all} ordered pairs of {first.n_images} test images "
        f"per experiment ({duration(attack_seconds)} of attacks in all, {len(first.models)} models per "
        f"experiment), against estimates from {first.n_pairs_subset} pairs:"
    )


def validation_lines(verdicts: pd.DataFrame) -> str:
    """One bullet per experiment and measure of ``analysis.verdicts.validation_verdicts``."""
    return "\n".join(
        f"- **{v.experiment}, {ROBUSTNESS_MEASURES.get(v.measure, v.measure)}:** the prototype estimate's median "
        f"error ({percent(v.prototype_error)}) is {v.error} than a random subset's ({percent(v.random_error)}), "
        f"and it ranks the models {v.ranking} a random subset (ρ {v.prototype_rho:.2f} vs {v.random_rho:.2f})."
        for v in verdicts.itertuples()
    )


def cost_sentence(cost: pd.DataFrame, n_pairs: int) -> str:
    """The measured cost of one model on the prototypes and on all pairs of 100 and of 1,000 images."""
    seconds = cost.set_index("images")["seconds_all"]
    return (
        f"*Figure: attacks (left) and extrapolated minutes (right) per model against the number of images.* At "
        f"the measured rates one model costs about {cost['seconds_prototypes'].iloc[0]:.1f} s on the "
        f"prototypes, against about {duration(seconds[100])} for all pairs of 100 images and "
        f"{duration(seconds[1000])} for all pairs of 1,000 images."
    )


def short_attack_sentence(
    check: pd.DataFrame, same_order: bool, steps: int, reference_steps: int
) -> str:
    return (
        f"The short attack ({steps} steps against {reference_steps}) leaves {check['ratio'].min():.2f} to "
        f"{check['ratio'].max():.2f} times the full attack's $L_\\mathrm{{end}}$ and puts the models in "
        f"{'the same' if same_order else 'a different'} order. Ratios above 1 mean the short attack is weaker "
        "and every $L_\\mathrm{end}$ below overestimates what the reference attack would leave; the comparisons "
        "between models are what the chapter relies on."
    )


def attack_summary(table: pd.DataFrame) -> str:
    """Attack time, kept labels and plateaued pairs over a relation table."""
    return (
        f"The attack took {table['seconds'].mean():.1f} s per model and method on average, "
        f"{duration(table['seconds'].sum())} for all {len(table)} model-method combinations. The label was kept "
        f"in at least {percent(table['label_kept'].min())} of the pairs of every model. On average "
        f"{percent(table['plateaued'].mean())} of the pairs had plateaued (loss down by less than 1 % over the "
        "last 10 % of the steps); the rest were still improving when the step budget ran out, as with the "
        "reference attack's fixed 1500 steps."
    )


def correlation_lines(vs_pgd: pd.DataFrame) -> str:
    """Per experiment and method, the reading of each robustness measure against PGD accuracy; then L_start's."""
    lines = []
    for (name, method), g in vs_pgd.groupby(["experiment", "explanation"], sort=False):
        parts = [
            f"by {ROBUSTNESS_MEASURES[r.measure]}: **{r.reading}** ({interval_text(r.rho, r.lo, r.hi)})"
            for r in g.itertuples()
            if r.measure != "l_start_1e-7"
        ]
        lines.append(
            f"- **{name}, {method}.** Explanation robustness as PGD accuracy grows, "
            + "; ".join(parts)
            + "."
        )
    start = vs_pgd[vs_pgd["measure"] == "l_start_1e-7"]
    lines.append(
        "\n**L_start against PGD accuracy** (the loss before any attack): "
        + "; ".join(
            f"{r.experiment}, {r.explanation}: **{r.reading}** ({interval_text(r.rho, r.lo, r.hi)})"
            for r in start.itertuples()
        )
        + "."
    )
    return "\n".join(lines)


def verdict_sentence(start: pd.DataFrame, disagreements: list[str]) -> str:
    """The chapter's verdict: in how many groups L_start rises with PGD accuracy (``start``: its readings),
    and whether the robustness measures disagree (``analysis.verdicts.disagreements``)."""
    n_rises = int((start["reading"] == "rises").sum())
    return (
        f"The list above is the answer, per experiment and explanation method, read by the rule stated before "
        f"looking. Two things decide how to read it. First, L_start rises with PGD accuracy in {n_rises} of "
        f"{len(start)} experiment-method groups: where it rises, robust models' maps of different images are "
        "further apart before any attack, so a higher L_end can come from a higher starting point rather than "
        "from a harder-to-steer explanation; the relative reduction removes that scale. Second, "
        + (
            f"the three measures disagree in {len(disagreements)} of the {len(start)} groups "
            f'({"; ".join(disagreements)}). Where they disagree, the answer to "does explanation robustness '
            'rise with classification robustness?" depends on the measure, and the book reports each rather '
            "than choosing one."
            if disagreements
            else "the three measures read the same way in every group."
        )
        + " The paper reports L_end rising with classification robustness (its "
        "table: MAT above Normal in every block); our reading by that measure is in the list above."
    )
