"""Simulated size, power and coverage of the seed-level rules of issue 30 (figures only, no asserts).

Data model (the structure of the real data): per model set, S seeds (trained models) x P = 50 pairs;
log L_lower[s, p] = a_p + noise (a_p ~ N(0, 1) shared by the seeds, noise ~ N(0, 0.3)) and
log(higher / lower)[s, p] = mu + u_s + e_sp, with u_s ~ N(0, sd_seed) the spread between seeds and
e_sp ~ N(0, 0.3) within a seed (a seed's own standard error 0.3 / sqrt(50) = 0.042, as in the real data:
0.01-0.07). So with sd_seed 0 the seed values still differ a little, through e.

Rules read: ``stats.paired_order`` (one block); ``claims.order_claim`` (one claim over 3 model sets);
the one-sided margin rule (``claims.read_claim`` on per-seed log ratios against null log 0.5, 3 sets);
``claims.join_verdicts`` of two independent null halves (consecutive null datasets paired); and the seeds
that ``paired_order`` needs for 80 % power (noncentral t, checked by simulation through ``paired_order``).
A verdict rate of x over n datasets has a Monte-Carlo standard error sqrt(x (1 - x) / n): about 0.35 %
at 2.5 % over 2000 datasets, 0.7 % at 5 % over 1000.

Usage: python benchmarks/sim_rules.py [--datasets 2000] [--seed 0]
(the null claim-level rules use --datasets datasets per cell, the margin rule at the margin half of them,
the claim-level alternatives a quarter). At the defaults: 165 s on an idle core, 332 s while other
jobs shared the machine.
"""

from __future__ import annotations

import argparse
import time
from collections import Counter

import numpy as np
from scipy import stats

from lib.analysis.claims import (
    INCONCLUSIVE,
    NOT_REPRODUCED,
    PARTLY,
    REPRODUCED,
    join_verdicts,
    order_claim,
    read_claim,
)
from lib.analysis.rule_simulation import (
    PAIRS,
    SD_PAIR,
    crossed_bootstrap_order,
    draw_blocks,
)
from lib.analysis.stats import AGREES, DISAGREES, paired_order, seed_log_ratios

SD_SEEDS = (0.0, 0.2, 0.5)
N_SEEDS = (3, 5, 10)
N_SETS = 3
MARGIN = 0.5
CLAIM_VERDICTS = (REPRODUCED, PARTLY, NOT_REPRODUCED, INCONCLUSIVE)


def pct(x: float) -> str:
    return f"{100 * x:5.1f}"


def table(title: str, header: list[str], rows: list[list[str]]) -> None:
    print(f"\n{title}")
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(header)]
    print("  ".join(h.rjust(w) for h, w in zip(header, widths)))
    for r in rows:
        print("  ".join(c.rjust(w) for c, w in zip(r, widths)))


def cells():
    for sd in SD_SEEDS:
        for s in N_SEEDS:
            yield sd, s


def section_paired_order(rng, n: int, n_old: int) -> None:
    rows = []
    for sd, s in cells():
        res = {}
        for name, ratio in (("null", 1.0), ("1.3", 1.3), ("2", 2.0)):
            lower, higher = draw_blocks(rng, n, s, sd, np.log(ratio))
            out = [paired_order(lower[i], higher[i]) for i in range(n)]
            st = np.array([o[3] for o in out])
            cov = np.mean([o[1] <= ratio <= o[2] for o in out])
            res[name] = st, cov
            if name == "null":
                old = [
                    crossed_bootstrap_order(lower[i], higher[i], seed=i)
                    for i in range(n_old)
                ]
                old_st = np.array([o[3] for o in old])
                old_cov = np.mean([o[1] <= 1 <= o[2] for o in old])
        st0, cov0 = res["null"]
        rows.append(
            [
                f"{sd:.1f}",
                str(s),
                pct((st0 == AGREES).mean()),
                pct((st0 == DISAGREES).mean()),
                pct(cov0),
                pct(res["1.3"][1]),
                pct((res["1.3"][0] == AGREES).mean()),
                pct((res["2"][0] == AGREES).mean()),
                pct(res["2"][1]),
                pct((old_st == AGREES).mean()),
                pct((old_st == DISAGREES).mean()),
                pct(old_cov),
            ]
        )
    table(
        f"paired_order (t over seeds), one block, {n} datasets per cell; % of datasets. "
        f"Last three columns: the old crossed bootstrap (before issue 30), {n_old} null datasets",
        [
            "sd_seed",
            "S",
            "false agr",
            "false dis",
            "cov r=1",
            "cov r=1.3",
            "pow r=1.3",
            "pow r=2",
            "cov r=2",
            "old f.agr",
            "old f.dis",
            "old cov",
        ],
        rows,
    )


def claim_run(rng, n: int, s: int, sd: float, ratios: list[float]) -> list[str]:
    """Verdicts of order_claim on n datasets of len(ratios) model sets, set k at true ratio ratios[k]."""
    data = [draw_blocks(rng, n, s, sd, np.log(r)) for r in ratios]
    return [
        order_claim({f"set{k}": (lo[i], hi[i]) for k, (lo, hi) in enumerate(data)})[0]
        for i in range(n)
    ]


def verdict_cols(verdicts: list[str]) -> list[str]:
    c, n = Counter(verdicts), len(verdicts)
    return [pct(c[v] / n) for v in CLAIM_VERDICTS] + [
        pct((c[REPRODUCED] + c[PARTLY]) / n)
    ]


VERDICT_HEADER = ["reproduced", "partly", "not repr", "inconcl", "repr|partly"]


def section_order_claim(rng, n: int, n_alt: int) -> dict:
    nulls, rows = {}, {}
    settings = [
        ("null", n, [1.0] * N_SETS),
        ("all 1.3", n_alt, [1.3] * N_SETS),
        ("one 1.3", n_alt, [1.3] + [1.0] * (N_SETS - 1)),
        ("one 2", n_alt, [2.0] + [1.0] * (N_SETS - 1)),
    ]
    for sd, s in cells():
        for name, m, ratios in settings:
            v = claim_run(rng, m, s, sd, ratios)
            if name == "null":
                nulls[sd, s] = v
            rows.setdefault(name, []).append([f"{sd:.1f}", str(s), *verdict_cols(v)])
    titles = {
        "null": f"order_claim, {N_SETS} sets, no effect in any set (target: repr|partly <= 5 %), {n} datasets",
        "all 1.3": f"order_claim, {N_SETS} sets, true ratio 1.3 in every set (power: reproduced), {n_alt} datasets",
        "one 1.3": f"order_claim, {N_SETS} sets, ratio 1.3 in one set, the others null, {n_alt} datasets",
        "one 2": f"order_claim, {N_SETS} sets, ratio 2 in one set, the others null, {n_alt} datasets",
    }
    for name, title in titles.items():
        table(title, ["sd_seed", "S", *VERDICT_HEADER], rows[name])
    return nulls


def section_margin(rng, n: int, n_alt: int) -> None:
    rows = []
    for sd, s in cells():
        row = [f"{sd:.1f}", str(s)]
        for ratio, m in ((MARGIN, n), (1.0, n_alt)):
            verdicts, set_agrees = [], []
            data = [draw_blocks(rng, m, s, sd, np.log(ratio)) for _ in range(N_SETS)]
            for i in range(m):
                reading = read_claim(
                    {
                        f"set{k}": seed_log_ratios(lo[i], hi[i])
                        for k, (lo, hi) in enumerate(data)
                    },
                    null=np.log(MARGIN),
                )
                verdicts.append(reading.verdict)
                set_agrees.append((reading.sets["status"] == AGREES).mean())
            c = Counter(verdicts)
            if ratio == MARGIN:
                row += [
                    pct(np.mean(set_agrees)),
                    pct(c[REPRODUCED] / m),
                    pct((c[REPRODUCED] + c[PARTLY]) / m),
                ]
            else:
                row += [pct(np.mean(set_agrees)), pct(c[REPRODUCED] / m)]
        rows.append(row)
    table(
        f"one-sided margin rule: read_claim on per-seed log ratios, null log {MARGIN}, {N_SETS} sets; "
        f"true ratio at the margin ({n} datasets): false agrees per set (Holm) and claim; "
        f"true ratio 1 ({n_alt} datasets): power",
        [
            "sd_seed",
            "S",
            "set agr@0.5",
            "repr@0.5",
            "repr|partly@0.5",
            "set agr@1",
            "repr@1",
        ],
        rows,
    )


def section_join(nulls: dict) -> None:
    rows = []
    for (sd, s), v in nulls.items():
        joined = [join_verdicts([v[i], v[i + 1]]) for i in range(0, len(v) - 1, 2)]
        rows.append([f"{sd:.1f}", str(s), *verdict_cols(joined)])
    table(
        f"join_verdicts of two independent null halves (each order_claim over {N_SETS} sets, no effect), "
        f"{len(joined)} joins",
        ["sd_seed", "S", *VERDICT_HEADER],
        rows,
    )


def seed_sd(sd_seed: float) -> float:
    """The sd of one seed's value (its mean log ratio): between-seed spread plus its own error."""
    return float(np.hypot(sd_seed, SD_PAIR / np.sqrt(PAIRS)))


def t_power(n: int, mu: float, sigma: float) -> float:
    """P(paired_order agrees): the t-interval's lower bound above 0 (noncentral t, n seeds)."""
    crit = stats.t.ppf(0.975, n - 1)
    return float(stats.nct.sf(crit, n - 1, mu * np.sqrt(n) / sigma))


def seeds_for_power(mu: float, sigma: float, target: float = 0.8, cap: int = 1000):
    for n in range(2, cap + 1):
        if t_power(n, mu, sigma) >= target:
            return n
    return None


def section_power(rng, n: int) -> None:
    ratios = (1.1, 1.2, 1.3, 1.5, 2.0)
    sds = (0.0, 0.1, 0.2, 0.3, 0.5, 1.0)
    rows = []
    for sd in sds:
        sigma = seed_sd(sd)
        row = [f"{sd:.1f}", f"{sigma:.3f}"]
        for r in ratios:
            k = seeds_for_power(np.log(r), sigma)
            if k is None:
                row.append(">1000")
                continue
            # check through paired_order: a seed's value is N(log r, sigma) under the data model, fed
            # as one pair per seed (lower 1, higher exp(value))
            vals = rng.normal(np.log(r), sigma, (n, k, 1))
            agree = np.mean(
                [paired_order(np.ones((k, 1)), np.exp(v))[3] == AGREES for v in vals]
            )
            row.append(f"{k} ({pct(agree).strip()})")
        rows.append(row)
    table(
        "seeds needed for 80 % power of paired_order ('agrees'), by true ratio and seed sd "
        f"(noncentral t; in brackets the simulated power at that many seeds, {n} datasets; "
        f"one seed's sd = hypot(sd_seed, {SD_PAIR}/sqrt({PAIRS})))",
        ["sd_seed", "seed sd", *(f"r={r}" for r in ratios)],
        rows,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--datasets", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    n = args.datasets
    start = time.perf_counter()
    print(
        f"datasets {n}, seed {args.seed}; S x {PAIRS} pairs per model set, within-seed sd {SD_PAIR} "
        f"(se {SD_PAIR / np.sqrt(PAIRS):.3f}), sd_seed {SD_SEEDS}, seeds {N_SEEDS}"
    )
    rng = np.random.default_rng(args.seed)
    section_paired_order(rng, n, max(n // 4, 1))
    nulls = section_order_claim(rng, n, max(n // 4, 1))
    section_join(nulls)
    section_margin(rng, max(n // 2, 1), max(n // 4, 1))
    section_power(rng, n)
    print(f"\nrun time {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
