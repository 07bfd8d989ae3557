"""The SEP chapter's (chapter 5) figures, tables for reading and sentences, from ``studies.sep.SepResult``.

``order_sentence`` is the one sentence that reads the SEP order of a row of
``analysis.verdicts.sep_order_verdicts`` (each half of the order, paired, with its status); ``order_halves``
its half-order parts. Other pages that read the SEP order call these rather than writing their own.
"""

from __future__ import annotations

from collections.abc import Mapping

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from IPython.display import display

from lib.analysis.stats import AGREES, DISAGREES, INCONCLUSIVE
from lib.analysis.verdicts import MAX_PGD_SPREAD_POINTS, OLD_LF_GROWTH
from lib.core.profile import Profile
from lib.nn.data import NUM_CLASSES
from lib.pipeline.training import CHANCE_MARGIN
from lib.report.page import grouped_tables, human_table, say
from lib.report.style import ACCURACY_COLOR, PAGE_WIDTH, ROLE_COLOR
from lib.report.text import short_reason

# --- tables for reading ----------------------------------------------------------------------------------

SETTINGS_COLUMNS = {"setting": "setting", "value": "value"}

SWEEP_COLUMNS = {
    "lam": "λ",
    "clean": "clean acc. (%)",
    "pgd": "PGD acc. (%)",
    "l_f_1e-7": "L_f (1e-7)",
    "lf_growth": "L_f growth (×)",
    "l_start_1e-7": "L_start",
    "l_end_1e-7": "L_end",
    "relative_reduction": "rel. red.",
    "why": "collapsed",
}
SWEEP_DIGITS = {
    "lam": 0,
    "clean": 1,
    "pgd": 1,
    "l_f_1e-7": 1,
    "lf_growth": 1,
    "l_start_1e-7": 1,
    "l_end_1e-7": 1,
    "relative_reduction": 3,
    "val_clean": 1,
    "val_pgd": 1,
}
VALIDATION_COLUMNS = {
    "val_clean": "clean acc., validation (%)",
    "val_pgd": "PGD acc., validation (%)",
}
AGAINST_TEST_COLUMNS = {
    "experiment": "experiment",
    "role": "role",
    "validation": "λ chosen on validation (the book's)",
    "test": "λ the test rule would choose",
    "same": "same",
}
ACCURACY = {
    "role": "role",
    "kind": "model",
    "clean": "clean acc. (%)",
    "pgd": "PGD acc. (%), ± sd over seeds",
    "seeds": "seeds",
}
ROBUSTNESS = {
    "role": "role",
    "l_start_1e-7": "L_start",
    "l_end": "L_end [95 % CI]",
    "relative_reduction": "rel. red.",
    "spearman_to_target": "rank ρ",
    "label_kept": "label kept",
    "paper_l_end_1e-7": "paper L_end",
}
DIGITS = {"l_start_1e-7": 1, "clean": 1, "seeds": 0, "paper_l_end_1e-7": 1}
SIDE_COLUMNS = {
    "experiment": "experiment",
    "source": "block",
    "pos": "MAT / SEP_pos [95 % CI]",
    "pos_status": "SEP_pos < MAT",
    "neg": "SEP_neg / MAT [95 % CI]",
    "neg_status": "MAT < SEP_neg",
    "neg_over_pos": "neg / pos",
    "pgd_spread_points": "PGD pts",
}


def architecture(profile: Profile, name: str) -> str:
    """'convnet, width 8' or 'resnet18': the model of experiment ``name``."""
    m = profile.experiment(name).model
    return f"{m.name}, width {m.width}" if m.width else m.name


def _lambda(v: float) -> str:
    return f"{v:+.0e}".replace("e+0", "e")


CHOSEN_ON = {
    "validation": "validation images (training-pool images not trained on)",
    "test": "test images",
}


def settings_table(profile: Profile, experiments: list[str]) -> pd.DataFrame:
    """The chapter's settings, one (setting, value) row each: base, noise, explanation, tolerance, the TRADES
    base, and per experiment its architecture and lambda sweep."""
    S = profile.sep
    rows = [
        ("base method", S.base.upper()),
        ("noise σ (pixels in [0, 1], noisy images clamped to [0, 1])", f"{S.sigma:g}"),
        ("noise draws per image", str(S.samples)),
        ("explanation", S.method),
        (
            "tolerance for SEP_pos / SEP_neg",
            f"{S.tolerance_points:g} points of clean and PGD accuracy",
        ),
        ("λ chosen on (sep.choose_on)", CHOSEN_ON[S.choose_on]),
        ("SEP on a TRADES base", ", ".join(S.trades_experiments) or "none"),
    ]
    rows += [(f"architecture, {n}", architecture(profile, n)) for n in experiments]
    rows += [
        (f"λ sweep, {n}", ", ".join(_lambda(v) for v in sorted(S.lambdas[n])))
        for n in experiments
    ]
    return pd.DataFrame(rows, columns=["setting", "value"])


def sweep_reason(reason: str) -> str:
    """A sweep run's collapse reason for a table cell (``text.short_reason``), naming the images when the
    chance reading was made on the choice's images rather than on the monitor: 'at chance (validation)'."""
    for split in ("validation", "test"):
        if f"on the {split} images at chance" in (reason or ""):
            return f"at chance ({split})"
    return short_reason(reason)


def sweep_for_reading(sweep: pd.DataFrame) -> pd.DataFrame:
    """The lambda sweep with accuracy in percent (``clean``, ``pgd``; ``val_clean``, ``val_pgd`` on the
    validation images where the sweep has them) and a short collapse reason (``why``)."""
    t = sweep.copy()
    t["clean"], t["pgd"] = 100 * t["clean_acc"], 100 * t["pgd_acc"]
    if "val_clean_acc" in t.columns:
        t["val_clean"], t["val_pgd"] = 100 * t["val_clean_acc"], 100 * t["val_pgd_acc"]
    if "lf_growth" not in t.columns:
        t["lf_growth"] = np.nan
    t["why"] = t["collapsed"].map(sweep_reason)
    return t


def sweep_columns(sweep: pd.DataFrame) -> dict[str, str]:
    """The lambda sweep's columns for reading (``SWEEP_COLUMNS``), with validation accuracy after the test
    accuracy where the sweep has it."""
    if "val_clean_acc" not in sweep.columns:
        return dict(SWEEP_COLUMNS)
    out = {}
    for k, v in SWEEP_COLUMNS.items():
        out[k] = v
        if k == "pgd":
            out |= VALIDATION_COLUMNS
    return out


def for_reading(table: pd.DataFrame) -> pd.DataFrame:
    """Roles (``robustness_by_role``) with clean accuracy in percent, PGD accuracy as 'mean ± sd' (mean alone
    for one seed) and L_end as 'mean [lo, hi]'."""
    t = table.copy()
    t["clean"] = 100 * t["clean_acc"]
    t["pgd"] = [
        f"{100 * a:.1f} ± {sd:.1f}" if n > 1 else f"{100 * a:.1f}"
        for a, sd, n in zip(t["pgd_acc"], t["pgd_sd"], t["seeds"])
    ]
    t["l_end"] = [
        f"{m:.1f} [{lo:.1f}, {hi:.1f}]"
        for m, lo, hi in zip(t["l_end_1e-7"], t["l_end_lo"], t["l_end_hi"])
    ]
    return t


def role_tables(roles: pd.DataFrame, headings: bool = True, paper: bool = True) -> None:
    """Show the accuracy tables (one per experiment; the models are the same for every explanation method)
    and the explanation-robustness tables (one per experiment and method) of ``roles``. ``headings``: a bold
    line before each kind; ``paper``: with the paper's L_end column."""
    readable = for_reading(roles)
    if headings:
        say("**Accuracy** (the same models for both explanation methods):")
    first = readable[readable["explanation"] == readable["explanation"].iloc[0]]
    grouped_tables(first, ["experiment"], ACCURACY, digits=DIGITS)
    if headings:
        say("**Explanation robustness** on the prototype pairs:")
    columns = (
        ROBUSTNESS
        if paper
        else {k: v for k, v in ROBUSTNESS.items() if k != "paper_l_end_1e-7"}
    )
    grouped_tables(readable, ["experiment", "explanation"], columns, digits=DIGITS)


# --- figures ---------------------------------------------------------------------------------------------


def lambda_sweep_figure(sweep: pd.DataFrame, name: str, method: str) -> plt.Figure:
    """One experiment's lambda sweep against lambda on a symmetric log scale: clean and PGD accuracy (left;
    crosses are collapsed runs), the last epoch's L_f (middle) and L_start and L_end of ``method`` (right)."""
    g = sweep
    fig, (a1, a2, a3) = plt.subplots(1, 3, figsize=(PAGE_WIDTH, 2.9))
    ok, bad = g[g["collapsed"] == ""], g[g["collapsed"] != ""]
    for col, label in (("clean", "clean"), ("pgd", "PGD")):
        color = ACCURACY_COLOR[col]
        a1.plot(ok["lam"], 100 * ok[f"{col}_acc"], "o-", color=color, label=label)
        a1.plot(bad["lam"], 100 * bad[f"{col}_acc"], "x", color=color, ms=9)
    a2.plot(ok["lam"], ok["l_f_1e-7"], "o-", color="black")
    a3.plot(ok["lam"], ok["l_start_1e-7"], "s--", color="grey", label="L_start")
    a3.plot(ok["lam"], ok["l_end_1e-7"], "o-", color="black", label="L_end")
    nonzero = np.abs(g["lam"][g["lam"] != 0])
    linthresh = max(1.0, float(nonzero.min())) if len(nonzero) else 1.0
    for ax, ylabel in (
        (a1, "accuracy (%)"),
        (a2, "L_f, last epoch (1e-7)"),
        (a3, f"{method} loss (1e-7)"),
    ):
        ax.set_xscale("symlog", linthresh=linthresh)
        ax.set_xlabel("SEP weight λ (0 = MAT)", fontsize=8)
        ax.set_ylabel(ylabel, fontsize=8)
        ax.tick_params(labelsize=7, labelrotation=45)
        ax.grid(alpha=0.3)
    a1.legend(fontsize=7)
    a3.legend(fontsize=7)
    fig.suptitle(f"{name}: the λ sweep (x: collapsed)", fontsize=10)
    fig.tight_layout()
    return fig


def training_figure(histories: Mapping[str, list[dict]], name: str) -> plt.Figure:
    """Per epoch, L_f on the training batches (left, log scale) and the monitor PGD accuracy (right), one
    colour per run of ``histories`` (label -> history)."""
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(PAGE_WIDTH, 3.4))
    for label, hist in histories.items():
        epochs = [h["epoch"] for h in hist]
        line = a1.plot(
            epochs, [1e7 * h.get("sep_lf", np.nan) for h in hist], marker="."
        )[0]
        a2.plot(
            epochs,
            [100 * h.get("monitor_pgd_acc", np.nan) for h in hist],
            marker=".",
            color=line.get_color(),
            label=label,
        )
    a1.set_yscale("log")
    a1.set_ylabel("L_f (1e-7)", fontsize=9)
    a2.set_ylabel("PGD accuracy, monitor set (%)", fontsize=9)
    for ax in (a1, a2):
        ax.set_xlabel("epoch", fontsize=9)
        ax.tick_params(labelsize=8)
        ax.grid(alpha=0.3)
    if histories:
        a2.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.0, 0.5))
    fig.suptitle(f"{name}: SEP models during training", fontsize=10)
    fig.tight_layout()
    return fig


def l_end_figure(roles: pd.DataFrame, columns: int) -> plt.Figure:
    """L_end per role with its 95 % interval, one panel per (experiment, explanation method), ``columns``
    panels a row; each role in its colour (``style.ROLE_COLOR``), roles top to bottom in table order."""
    blocks = list(roles.groupby(["experiment", "explanation"], sort=False))
    rows = max(1, -(-len(blocks) // columns))
    fig, axes = plt.subplots(
        rows,
        columns,
        figsize=(PAGE_WIDTH, 2.6 * rows),
        squeeze=False,
        constrained_layout=True,
    )
    for ax, ((name, method), g) in zip(axes.flat, blocks):
        y = np.arange(len(g))
        for yi, role, m, lo, hi in zip(
            y, g["role"], g["l_end_1e-7"], g["l_end_lo"], g["l_end_hi"]
        ):
            color = ROLE_COLOR.get(role, "black")
            ax.errorbar(
                [m], [yi], xerr=[[m - lo], [hi - m]], fmt="o", color=color, capsize=3
            )
        ax.set_yticks(y, g["role"], fontsize=8)
        ax.invert_yaxis()
        ax.set_xlabel("L_end (1e-7), higher = more robust", fontsize=8)
        ax.set_title(f"{name}, {method}", fontsize=9)
        ax.tick_params(axis="x", labelsize=8)
        ax.grid(alpha=0.3, axis="x")
    for ax in axes.flat[len(blocks) :]:
        ax.set_visible(False)
    return fig


# --- sentences -------------------------------------------------------------------------------------------


def _known(v) -> bool:
    return v is not None and not pd.isna(v)


def _yes(v) -> str:
    return "yes" if v else "no"


def ratio_text(ratio: float, lo: float, hi: float) -> str:
    """'1.52 [1.20, 1.90]': a paired ratio with its interval, or the ratio alone where it has none."""
    if not _known(ratio):
        return "—"
    return f"{ratio:.2f}" + (f" [{lo:.2f}, {hi:.2f}]" if _known(lo) else "")


def side_for_reading(side: pd.DataFrame) -> pd.DataFrame:
    """``studies.sep.against_paper`` with each half's ratio and interval as text (``pos``, ``neg``; the paper's
    rows have the ratio of means alone)."""
    return side.assign(
        **{
            h: [
                ratio_text(r, lo, hi)
                for r, lo, hi in zip(
                    side[f"{h}_ratio"], side[f"{h}_lo"], side[f"{h}_hi"]
                )
            ]
            for h in ("pos", "neg")
        }
    )


def order_halves(row, base: str = "MAT", ratios: bool = True) -> list[str]:
    """The halves of the SEP order that a verdict row can read, each with its paired status: 'SEP_pos < MAT:
    agrees' and 'MAT < SEP_neg: inconclusive', with the paired ratio and its interval in brackets when
    ``ratios`` ('(MAT / SEP_pos = 1.52 [1.20, 1.90])'); a half that cannot be read (its role missing) is
    left out."""
    parts = []
    if _known(row.pos_status):
        ratio = (
            f" ({base} / SEP_pos = {ratio_text(row.pos_ratio, row.pos_lo, row.pos_hi)})"
            if ratios
            else ""
        )
        parts.append(f"SEP_pos < {base}: {row.pos_status}{ratio}")
    if _known(row.neg_status):
        ratio = (
            f" (SEP_neg / {base} = {ratio_text(row.neg_ratio, row.neg_lo, row.neg_hi)})"
            if ratios
            else ""
        )
        parts.append(f"{base} < SEP_neg: {row.neg_status}{ratio}")
    return parts


PGD_HELD = {
    AGREES: "held",
    DISAGREES: "not held",
    INCONCLUSIVE: "not shown to be held",
}


def pgd_text(row, base: str = "MAT", pgd_limit: float = MAX_PGD_SPREAD_POINTS) -> str:
    """'PGD accuracy minus MAT's (points, mean over seeds [90 % CI]): SEP_pos -0.5 [-1.0, +0.2], SEP_neg ...;
    held (...)': the equivalence reading of a verdict row's PGD accuracy ('(one seed)' where a role has no
    interval)."""

    def shift(h: str, role: str) -> str:
        mean, lo, hi = (getattr(row, f"pgd_{h}_{c}") for c in ("points", "lo", "hi"))
        return f"{role} {mean:+.1f} " + (
            f"[{lo:+.1f}, {hi:+.1f}]" if _known(lo) else "(one seed)"
        )

    shifts = [
        shift(h, role)
        for h, role in (("pos", "SEP_pos"), ("neg", "SEP_neg"))
        if _known(getattr(row, f"pgd_{h}_status"))
    ]
    if not shifts:
        return "PGD accuracy cannot be compared"
    return (
        f"PGD accuracy minus {base}'s (points, mean over seeds [90 % CI]): "
        + ", ".join(shifts)
        + f"; {PGD_HELD[row.pgd_status]} (held: every interval inside ±{pgd_limit:g} points; not held: "
        "one wholly outside)"
    )


def status_reason(row, base: str = "MAT") -> str:
    """Why a block is inconclusive ('MAT < SEP_neg is inconclusive; PGD accuracy is not shown to be held'),
    or '' when it is not."""
    if row.status != INCONCLUSIVE:
        return ""
    reasons = [
        f"{half} is inconclusive"
        for half, s in (
            (f"SEP_pos < {base}", row.pos_status),
            (f"{base} < SEP_neg", row.neg_status),
        )
        if s == INCONCLUSIVE
    ]
    if row.pgd_status != AGREES:
        reasons.append(
            f"PGD accuracy is {PGD_HELD.get(row.pgd_status, 'not compared')}"
        )
    return "; ".join(reasons)


def order_sentence(
    row, base: str = "MAT", pgd_limit: float = MAX_PGD_SPREAD_POINTS
) -> str:
    """THE sentence that reads the SEP order of one row of ``analysis.verdicts.sep_order_verdicts`` (with
    ``base``): each half that can be read with its paired ratio, interval and status (``order_halves``),
    SEP_neg / SEP_pos for a complete block, the PGD reading (``pgd_text``) and the block's status
    (``analysis.verdicts.sep_block_status``) with the reason when it is inconclusive. A block without SEP_pos
    or SEP_neg says which is missing and is read on the half it has. Starts with the bold block name."""
    head = f"**{row.experiment}, {row.explanation}:**"
    claim = (
        "The paper's claim" if base == "MAT" else f"The paper's order on a {base} base"
    )
    halves = "; ".join(order_halves(row, base)) or "no half can be read"
    lead = (
        f"{head} paired over the seeds and pairs both models kept: {halves}; SEP_neg / SEP_pos = "
        f"{row.neg_over_pos:.2f}."
        if row.complete
        else f"{head} no λ met the rule for {row.missing}, so only the half with both roles is read: "
        f"{halves}."
    )
    status = row.status if _known(row.status) else "not read"
    why = status_reason(row, base)
    return f"{lead} {pgd_text(row, base, pgd_limit)}. **{claim}: {status} here" + (
        f"** ({why})." if why else ".**"
    )


def verdict_lines(verdicts: pd.DataFrame, base: str = "MAT") -> str:
    """One bullet (``order_sentence``) per block of ``verdicts``, a line each."""
    return "\n".join(f"- {order_sentence(r, base)}" for r in verdicts.itertuples())


def _experiment_images(profile: Profile, experiments: list[str]) -> str:
    """'mnist: 1000 images outside the 5000 trained on; ...'."""
    return "; ".join(
        f"{n}: {profile.experiment(n).eval.n} images outside the "
        f"{profile.experiment(n).data.n_train} trained on"
        for n in experiments
    )


def choice_split_text(profile: Profile, experiments: list[str]) -> str:
    """On which images the rule chose lambda (``sep.choose_on``) and what that means for the test accuracy
    and the attack pairs the chapter reports."""
    S = profile.sep
    test_n = ", ".join(f"{n}: {profile.experiment(n).eval.n}" for n in experiments)
    if S.choose_on == "validation":
        return (
            "**λ is chosen on a validation split** (`sep.choose_on: validation`, fixed before any result). "
            "The rule reads clean and PGD accuracy, and the chance-level collapse, on class-balanced images "
            "of the training pool that the profile does not train on, drawn with the subset seed, as many as "
            f"the test subset ({_experiment_images(profile, experiments)}). The test images, on which "
            "accuracy is reported below and from which the attack pairs come, play no part in the choice: "
            "test accuracy and the attack pairs are untouched by it, so the test accuracy of SEP_pos and "
            "SEP_neg is a check of the rule, not its input."
        )
    return (
        "**λ is chosen on the test images** (`sep.choose_on: test`). This profile trains on every image "
        "of the training pool (`data.n_train` null), so none is left for a validation split: the rule reads "
        f"accuracy on the same test images ({test_n}) on which accuracy is reported below and from which "
        'the attack pairs come. "PGD accuracy within '
        f"{S.tolerance_points:g} points of MAT's\" then holds for the chosen λ on these images partly by "
        "construction, and their test accuracy is not an independent check of the choice."
    )


def collapse_rule_text(profile: Profile, experiments: list[str]) -> str:
    """The collapse rule as the chapter applies it: non-finite loss, or clean accuracy within
    ``CHANCE_MARGIN`` of chance (on the monitor images at the last epoch, or on the images the choice reads);
    L_f growth is a column, not a reason."""
    classes = sorted(
        {NUM_CLASSES[profile.experiment(n).data.name] for n in experiments}
    )
    chance = ", ".join(f"1/{k}" for k in classes) or "1/classes"
    images = "validation" if profile.sep.choose_on == "validation" else "test"
    return (
        "A SEP run **collapsed** when its loss (or L_f) was not finite, or when its clean accuracy is "
        f"within {100 * CHANCE_MARGIN:g} points of chance ({chance}): on the monitor images at the last "
        f"epoch, or on the {images} images the choice reads. The growth of L_f over training (last / first "
        "epoch, the 'L_f growth' column) is shown, not a reason to drop a run: raising L_f is what SEP_neg "
        "is for."
    )


def choice_text(
    chosen: pd.DataFrame,
    lf_rule: pd.DataFrame,
    tolerance_points: float,
    choose_on: str = "test",
) -> str:
    """Which lambda the rule chose per experiment (or that none qualifies), read on the images
    ``choose_on``, then the runs the old collapse rule (L_f grown 100-fold) would have dropped and that now
    count (``verdicts.dropped_by_old_lf_rule``), or a sentence saying there are none."""
    lines = []
    for row in chosen.itertuples():
        parts = [
            f"{role}: λ = {getattr(row, role):+g}"
            if _known(getattr(row, role))
            else f"{role}: **no λ qualifies**"
            for role in ("SEP_pos", "SEP_neg")
        ]
        lines.append(f"- **{row.experiment}**: " + "; ".join(parts) + ".")
    clean, pgd = (
        ("val_clean_acc", "val_pgd_acc")
        if choose_on == "validation"
        else ("clean_acc", "pgd_acc")
    )
    old = [
        f"- {r.experiment}, λ = {r.lam:+g}: L_f grew {r.lf_growth:.0f}-fold; clean and PGD accuracy "
        f"{100 * getattr(r, clean):.1f} % and {100 * getattr(r, pgd):.1f} % on the {choose_on} images, "
        f"{'within' if r.within else 'beyond'} {tolerance_points:g} points of MAT's; "
        + ("chosen." if r.chosen else "not chosen.")
        for r in lf_rule.itertuples()
    ]
    fold = f"{OLD_LF_GROWTH:g}-fold"
    note = (
        f"\n\n**Runs the old collapse rule (L_f grew {fold}) would have dropped, which now count:**\n"
        + "\n".join(old)
        if old
        else f"\n\nNo live run of the sweep grew L_f more than {fold}: the old collapse rule (L_f grown "
        f"{fold} counted as collapse) would have dropped none that now count."
    )
    return (
        "By the rule stated above (largest |λ| of each sign within "
        f"{tolerance_points:g} points of MAT's clean and PGD accuracy on the {choose_on} images, not "
        "collapsed):\n" + "\n".join(lines) + note
    )


def against_test_text(against: pd.DataFrame) -> str:
    """How often the validation rule's lambda is the one the test rule would have chosen."""
    same = int(against["same"].sum())
    return (
        f"The λ chosen on the validation images is the one a choice on the test images would have made for "
        f"{same} of {len(against)} roles (experiment × SEP_pos / SEP_neg; '—': no λ qualifies):"
    )


def show_against_test(against: pd.DataFrame | None) -> None:
    """With a validation choice (``against`` not None): ``against_test_text`` and the table of the lambda
    each rule picks per experiment and role (``verdicts.choice_against_test``); nothing otherwise."""
    if against is None:
        return
    say(against_test_text(against))
    table = against.assign(same=against["same"].map(_yes))
    display(human_table(table, AGAINST_TEST_COLUMNS, digits=0))


def collapsed_text(table: pd.DataFrame) -> str:
    """'0', or '2: digits SEP ... seed 1 (at chance); ...': the collapsed models of a main table."""
    dropped = table[table["collapsed"] != ""]  # one row per collapsed model
    if not len(dropped):
        return "0"
    return f"{len(dropped)}: " + "; ".join(
        f"{r.experiment} {r.kind} seed {r.seed} ({short_reason(r.collapsed)})"
        for r in dropped.itertuples()
    )


def verdict_text(result) -> str:
    """The chapter's verdict (``result``: ``studies.sep.SepResult``): how many blocks agree, disagree and are
    inconclusive (``analysis.verdicts.sep_block_status``), one ``order_sentence`` per block, the collapsed
    models left out, and the paper's own blocks (means only)."""
    v, paper = result.verdicts, result.paper
    complete = v[v["complete"]]
    n = {s: int((v["status"] == s).sum()) for s in (AGREES, DISAGREES, INCONCLUSIVE)}
    read = sum(n.values())
    n_swept = int((result.sweep["collapsed"] != "").sum())
    return (
        f"**Of {read} blocks read, the paper's claim agrees in {n[AGREES]}, disagrees in {n[DISAGREES]} "
        f"and is inconclusive in {n[INCONCLUSIVE]}.** A block agrees when each half of SEP_pos < MAT < SEP_neg "
        "has a paired 95 % interval of its L_end ratio above 1 and PGD accuracy is held (the 90 % interval over "
        f"seeds of each SEP role's difference from MAT inside ±{MAX_PGD_SPREAD_POINTS:g} points); it disagrees when a half's "
        "interval lies below 1; otherwise it is inconclusive. "
        f"{len(v) - len(complete)} block(s) lack SEP_pos or SEP_neg and are read on the half they have.\n\n"
        + verdict_lines(v)
        + f"\n\nCollapsed models left out of this comparison: {collapsed_text(result.main)} (and {n_swept} of "
        "the λ sweep's runs, marked above). The paper's own blocks (means only, no intervals): L_end ranks "
        f"SEP_pos < MAT < SEP_neg in {int(paper['l_end_order'].sum())} of {len(paper)}, with SEP_neg / SEP_pos "
        f"from {paper['neg_over_pos'].min():.1f} to {paper['neg_over_pos'].max():.1f} and PGD accuracy spans "
        f"of at most {paper['pgd_spread_points'].max():.2f} points."
    )


def trades_text(result) -> str:
    """SEP on a TRADES base (``result``: ``studies.sep.SepResult`` with a TRADES base): the order per block,
    how far SEP_pos and SEP_neg move accuracy from TRADES against the tolerance, and the collapsed models."""
    within = [
        f"{r.experiment} {r.role}: clean accuracy moves {r.clean_points:.1f} and PGD accuracy "
        f"{r.pgd_points:.1f} points from TRADES ({'within' if r.within else 'beyond'} the "
        f"{result.tolerance_points:g}-point rule, mean over seeds)"
        for r in result.trades_shifts.itertuples()
    ]
    return (
        verdict_lines(result.trades_verdicts, base="TRADES")
        + "\n\n"
        + "; ".join(within)
        + f". Collapsed models left out: {collapsed_text(result.trades_main)}."
    )


NO_TRADES = "No SEP on a TRADES base in this profile (`sep.trades_experiments` is empty, or no λ was chosen)."


def closing_text(profile: Profile, experiments: list[str]) -> str:
    """The experiments the profile defines but this chapter does not study (and how to add one), then the
    pointer to the next chapter."""
    elsewhere = [n for n in profile.experiments if n not in experiments]
    return (
        (
            f"**Defined in the `{profile.name}` profile but not studied here:** "
            + ", ".join(f"{n} ({architecture(profile, n)})" for n in elsewhere)
            + " (add an experiment to `run` with a λ sweep in `sep.lambdas`, or to "
            "`sep.extra_experiments`, to study it). "
            if elsewhere
            else ""
        )
        + "Whether SEP changes the landscape itself (its curvature), and whether the start loss drives these "
        "numbers, is the next chapter's question."
    )


# --- the lambda grid's calibration and SEP's stated deviations --------------------------------------------

CALIBRATION_COLUMNS = {
    "experiment": "experiment",
    "method": "explanation",
    "mode": "batch norm",
    "l_f_1e-7": "L_f at init (1e-7)",
    "ce": "CE at init",
    "grid": "|λ| for 1 %, 10 %, 100 % of CE",
}
MODE_NAMES = {"eval": "running stats (as training)", "train": "batch stats"}


def calibration_for_reading(table: pd.DataFrame) -> pd.DataFrame:
    """``pipeline.calibration.calibration_table`` with the batch-norm mode named and the grid as text."""
    return table.assign(
        mode=table["mode"].map(MODE_NAMES),
        grid=[", ".join(_lambda(v) for v in t) for t in table["lambdas"]],
    )


def _sci(v: float) -> str:
    """A grid value as the profiles write it, e.g. 4e5."""
    return f"{v:.0e}".replace("e+0", "e").replace("e+", "e")


def calibration_text(result, profile: Profile) -> str:
    """What the calibration measured: whether each grid holds the lambdas the rule derives with L_f as
    training computes it (running statistics), how far batch statistics would move them, and how far the
    cross-method SEP's L_f scale is from SEP's own method's (its lambdas are those chosen for SEP's)."""
    table, grid = result.calibration, result.grid
    lines = []
    for row in grid.itertuples():
        derived = ", ".join(_sci(v) for v in row.derived_eval)
        batch = ", ".join(_sci(v) for v in row.derived_train)
        own = ", ".join(_sci(v) for v in row.grid)
        if row.in_grid:
            lines.append(
                f"**{row.experiment}**: the grid's |λ| {own} (besides the paper's 5e4 and 3e3) are "
                f"among the rule's {derived} for 1 %, 10 %, 100 % of the CE, derived with L_f as "
                "training computes it"
                + (
                    f" (batch statistics would give {batch})."
                    if row.derived_eval != row.derived_train
                    else " (batch norm's mode changes nothing here)."
                )
            )
        else:
            lines.append(
                f"**{row.experiment}: the grid's |λ| {own} are not among the rule's {derived}** "
                f"(derived with L_f as training computes it; batch statistics give {batch}): its λ are "
                "off the stated rule."
            )
    own, cross = profile.sep.method, profile.drivers.cross_method
    ev = table[table["mode"] == "eval"].set_index(["experiment", "method"])["l_f_1e-7"]
    if own != cross:
        ratios = [
            f"{name} {ev[(name, cross)] / ev[(name, own)]:.2f}×"
            for name in grid["experiment"]
            if (name, cross) in ev.index and (name, own) in ev.index
        ]
        if ratios:
            lines.append(
                f"The cross-method SEP ({cross}) reuses the λ chosen for {own}: its L_f at "
                f"initialisation is {', '.join(ratios)} the {own} L_f, against a factor 10 between "
                "neighbouring λ of the grid."
            )
    return "\n\n".join(lines)


def deviations_text(result, profile: Profile) -> str:
    """SEP's stated deviations from the paper: the noisy image clamped to [0, 1] (with how much of the
    noise's energy survives on each dataset) and which class each map explains."""
    S = profile.sep
    kept = "; ".join(
        f"{name}: {100 * c['boundary_share']:.0f} % of pixels at 0 or 1, "
        f"{100 * c['energy_kept']:.0f} % of the noise energy kept"
        for name, c in (result.clamp or {}).items()
    )
    return (
        "**Stated deviations.** (1) The paper's noise is ζ ~ N(0, σ²) added to the image; ours clamps "
        f"x + ζ to the valid pixel range [0, 1] (σ = {S.sigma:g}), so that the map is only asked of a "
        "valid image. On a pixel at 0 or 1 the clamp cuts half the noise: on the calibration images "
        f"{kept}. (2) **Which class each map explains**: SEP's L_f explains the true label in training; "
        "the attack (chapter 3) explains the class the model predicts for the victim, at every step, and "
        "the target map is the one of the class predicted for the target image. For the models here the "
        "two differ only on misclassified training images."
    )
