"""The targeted explanation-manipulation attack (Dombrowski et al. 2019), batched over many pairs.

For victims x_v and targets x_t it searches x_adv minimising, per pair,

    c_e * MSE(I(x_adv), I(x_t)) + c_o * MSE(softmax f(x_adv), softmax f(x_v)),

with Adam on the input and a clamp to [0, 1] after each step (no epsilon ball unless asked), as in the
reference code. Gradients come from the model's softplus twin with beta grown geometrically over the steps
(a ReLU network's gradient map has no useful input derivative); the maps, labels and losses that are
reported come from the model as trained. Each pair has its own loss, Adam state and stopping rule, so one
pair never changes another's steps: a batched run equals one-pair-at-a-time runs.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

import torch
from torch import nn
from tqdm.std import tqdm

from lib.core.errors import ConfigError, check
from lib.core.schema import fields_of
from lib.core.settings import ExplanationAttackSettings
from lib.measure.explain import explanation_map, map_and_logits
from lib.measure.metrics import mse
from lib.nn.models import set_softplus_beta, softplus_twin
from lib.nn.pgd import frozen


@dataclass(frozen=True)
class ManipulationConfig(ExplanationAttackSettings):
    """Settings of one run of the attack: the attack's settings and defaults (declared once, in
    ``lib.core.settings.ExplanationAttackSettings``) plus an optional L-inf ball ``eps`` around each victim, the
    steps at which to record the trained model's explanation loss, and keyword settings of the explanation
    method. Caution: while beta is annealed the loss is that of a changing softplus twin, so losses of
    different steps are not strictly comparable and the stopping rule can stop a slow pair early."""

    eps: float | None = None
    trace_steps: tuple[int, ...] = ()
    method_kwargs: dict = field(default_factory=dict)

    def validate(self) -> None:
        super().validate()
        check(
            self.eps is None or (math.isfinite(self.eps) and self.eps > 0),
            "eps",
            self.eps,
            "None (no ball) or a number > 0",
        )
        check(
            all(1 <= s <= self.steps for s in self.trace_steps),
            "trace_steps",
            self.trace_steps,
            f"steps in [1, {self.steps}]",
        )


@dataclass
class ManipulationResult:
    """Per-pair outcome; losses are explanation MSEs of the model as trained (multiply by 1e7 for the
    paper's units)."""

    x_adv: (
        torch.Tensor | None
    )  # None when read from a published snapshot that leaves the images out
    l_start: torch.Tensor
    l_end: torch.Tensor
    steps: torch.Tensor
    converged: torch.Tensor
    label_kept: torch.Tensor
    output_change: torch.Tensor
    linf: torch.Tensor
    l2: torch.Tensor
    trace: torch.Tensor | None = (
        None  # (len(trace_steps), N): explanation loss of the model as trained
    )

    def as_tensors(self) -> dict[str, torch.Tensor]:
        return {k: v for k, v in vars(self).items() if v is not None}

    def summary(self) -> dict:
        """Means over the pairs whose label was kept (the primary numbers), the flipped count, and the
        all-pairs means of L_start and L_end beside them."""
        ok = self.label_kept
        rel = (self.l_start - self.l_end) / self.l_start

        def kept_mean(v: torch.Tensor) -> float:
            return float(v[ok].float().mean()) if ok.any() else float("nan")

        return {
            "pairs": int(len(ok)),
            "flipped": int((~ok).sum()),
            "label_kept": float(ok.float().mean()),
            "converged": int(self.converged.sum()),
            "l_start_1e-7": kept_mean(self.l_start) * 1e7,
            "l_end_1e-7": kept_mean(self.l_end) * 1e7,
            "relative_reduction": kept_mean(rel),
            "l_start_all_1e-7": float(self.l_start.mean() * 1e7),
            "l_end_all_1e-7": float(self.l_end.mean() * 1e7),
            "mean_steps": float(self.steps.float().mean()),
            "mean_linf": float(self.linf.mean()),
            "mean_l2": float(self.l2.mean()),
        }


def check_pairs(x_victim: torch.Tensor, x_target: torch.Tensor) -> None:
    """Refuse shapes that do not pair up, non-finite values and pixels outside [0, 1]."""
    if x_victim.dim() != 4:
        raise ConfigError(
            f"x_victim has shape {tuple(x_victim.shape)}: expected (N, C, H, W)"
        )
    if x_victim.shape != x_target.shape:
        raise ConfigError(
            f"x_target has shape {tuple(x_target.shape)}: expected the victims' shape {tuple(x_victim.shape)}"
        )
    for name, x in (("x_victim", x_victim), ("x_target", x_target)):
        if not torch.isfinite(x).all():
            raise ConfigError(
                f"{name} has non-finite values: expected finite pixels in [0, 1]"
            )
        lo, hi = float(x.min()), float(x.max())
        if lo < 0 or hi > 1:
            raise ConfigError(
                f"{name} has values in [{lo:.4g}, {hi:.4g}]: expected pixels in [0, 1]"
            )


def beta_schedule(cfg: ManipulationConfig, step: int) -> float:
    """Softplus beta grown geometrically from beta_start (first step) to beta_end (last step)."""
    if cfg.steps == 1:
        return cfg.beta_end
    return cfg.beta_start * (cfg.beta_end / cfg.beta_start) ** (step / (cfg.steps - 1))


def manipulate(
    model: nn.Module,
    x_victim: torch.Tensor,
    x_target: torch.Tensor,
    cfg: ManipulationConfig | None = None,
    progress: bool = False,
    **overrides,
) -> ManipulationResult:
    """Run the attack on every (victim, target) pair at once; see the module docstring."""
    cfg = cfg or ManipulationConfig()
    if overrides:
        unknown = sorted(set(overrides) - set(asdict(cfg)))
        if unknown:
            raise ConfigError(
                f"unknown setting {unknown[0]!r} (allowed: {', '.join(asdict(cfg))})"
            )
        cfg = ManipulationConfig(**{**asdict(cfg), **overrides})
    cfg.validate()
    check_pairs(x_victim, x_target)
    kw = cfg.method_kwargs
    with frozen(model):
        with torch.no_grad():
            logits_v = model(x_victim)
        labels = logits_v.argmax(1)
        probs_v = logits_v.softmax(1)
        maps_t = explanation_map(model, x_target, cfg.method, **kw).detach()
        maps_v = explanation_map(
            model, x_victim, cfg.method, target=labels, **kw
        ).detach()
        smooth = softplus_twin(model, cfg.beta_start).eval()
        for p in smooth.parameters():
            p.requires_grad_(False)

        n = len(x_victim)
        x = x_victim.detach().clone()
        m = torch.zeros_like(x)
        v = torch.zeros_like(x)
        checked = mse(
            maps_v, maps_t
        )  # the trained model's loss at the last check (stopping rule)
        steps_done = torch.zeros(n, dtype=torch.long, device=x.device)
        converged = torch.zeros(n, dtype=torch.bool, device=x.device)
        active = torch.arange(n, device=x.device)
        trace_at = {s: i for i, s in enumerate(cfg.trace_steps)}
        trace = torch.full((len(cfg.trace_steps), n), math.nan, device=x.device)
        b1, b2, adam_eps = 0.9, 0.999, 1e-8
        for step in tqdm(
            range(cfg.steps),
            desc=f"manipulate {n} pairs",
            disable=not progress,
            leave=False,
        ):
            if len(active) == 0:
                break
            set_softplus_beta(smooth, beta_schedule(cfg, step))
            xa = x[active].requires_grad_(True)
            maps, logits = map_and_logits(
                smooth, xa, cfg.method, target=labels[active], create_graph=True, **kw
            )
            loss = cfg.c_expl * mse(maps, maps_t[active]) + cfg.c_out * mse(
                logits.softmax(1), probs_v[active]
            )
            (grad,) = torch.autograd.grad(loss.sum(), xa)
            t = step + 1
            m[active] = b1 * m[active] + (1 - b1) * grad
            v[active] = b2 * v[active] + (1 - b2) * grad.pow(2)
            update = (
                cfg.lr
                * (m[active] / (1 - b1**t))
                / ((v[active] / (1 - b2**t)).sqrt() + adam_eps)
            )
            new = (xa.detach() - update).clamp_(0, 1)
            if cfg.eps is not None:
                xv = x_victim[active]
                new = torch.min(torch.max(new, xv - cfg.eps), xv + cfg.eps)
            x[active] = new
            steps_done[active] += 1
            if cfg.window < cfg.steps and t % cfg.window == 0 and t < cfg.steps:
                # The softplus twin changes as beta is annealed, so its losses at different steps are not
                # comparable: the rule compares the loss of the model as trained, every `window` steps.
                now = mse(
                    explanation_map(
                        model, x[active], cfg.method, target=labels[active], **kw
                    ).detach(),
                    maps_t[active],
                )
                done = (checked[active] - now) < cfg.rel_tol * checked[active]
                checked[active] = now
                converged[active[done]] = True
                active = active[~done]
            if t in trace_at:
                trace[trace_at[t]] = mse(
                    explanation_map(model, x, cfg.method, target=labels, **kw).detach(),
                    maps_t,
                )

        maps_adv = explanation_map(model, x, cfg.method, target=labels, **kw).detach()
        # Pairs that stopped early keep their final loss at later trace steps.
        for i in range(len(cfg.trace_steps)):
            stale = torch.isnan(trace[i])
            trace[i][stale] = mse(maps_adv, maps_t)[stale]
        with torch.no_grad():
            logits_adv = model(x)
    delta = (x - x_victim).flatten(1)
    return ManipulationResult(
        x_adv=x,
        l_start=mse(maps_v, maps_t),
        l_end=mse(maps_adv, maps_t),
        steps=steps_done,
        converged=converged,
        label_kept=logits_adv.argmax(1) == labels,
        output_change=mse(logits_adv.softmax(1), probs_v),
        linf=delta.abs().max(1).values,
        l2=delta.norm(dim=1),
        trace=trace if cfg.trace_steps else None,
    )


MANIPULATION_CODE_VERSION = (
    2  # 2: the twin's hand-written softplus (lib.nn.models._TwinSoftplusFunction)
)


def config_from_settings(
    settings: ExplanationAttackSettings, trace_steps: tuple[int, ...] = ()
) -> ManipulationConfig:
    """The attack configuration for any settings that carry the attack's fields (a profile's
    ``manipulation`` settings, say), recording the trained model's loss at ``trace_steps``."""
    return ManipulationConfig(
        **fields_of(settings, ExplanationAttackSettings), trace_steps=tuple(trace_steps)
    )


def log_steps(steps: int, intervals: int) -> tuple[int, ...]:
    """The distinct steps round(steps ** (k / intervals)), k = 0..intervals: log-spaced points for a loss trace."""
    return tuple(
        sorted({max(1, round(steps ** (k / intervals))) for k in range(intervals + 1)})
    )


def seeded_pairs_for(
    exp, settings, labels: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, dict]:
    """The seeded random pairs a profile's ``manipulation`` settings draw from an experiment's test subset
    (``labels``), and the id that names them in store keys."""
    vi, ti = random_pairs(labels, settings.pairs, settings.pair_seed)
    ids = {
        "dataset": exp.data.name,
        "n_test": exp.eval.n,
        "subset_seed": exp.data.subset_seed,
        "pairs": settings.pairs,
        "pair_seed": settings.pair_seed,
    }
    return vi, ti, ids


def random_pairs(
    labels: torch.Tensor, n: int, seed: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` seeded (victim, target) index pairs whose labels differ, so the target map is another class's."""
    if n > len(labels):
        raise ConfigError(
            f"pairs={n} is not allowed: only {len(labels)} images are available"
        )
    g = torch.Generator().manual_seed(seed)
    victims = torch.randperm(len(labels), generator=g)[:n]
    targets = torch.empty_like(victims)
    for i, v in enumerate(victims.tolist()):
        others = (labels != labels[v]).nonzero().squeeze(1)
        targets[i] = others[torch.randint(len(others), (1,), generator=g)]
    return victims, targets


# The stopping rule changed (it compared twin losses across annealed softplus betas; it now compares the
# trained model's loss every `window` steps). Attacks that never stop early (window >= steps, the cpu and paper
# profiles) compute what they always did and keep their keys; the others are keyed with this rule's version.
STOPPING_RULE_VERSION = 2


def manipulation_config(
    model_key: str, pairs_id: dict, cfg: ManipulationConfig
) -> dict:
    """What a stored attack result depends on: the model, the pairs (by id), every attack setting, a code
    version, and for attacks that may stop early the stopping rule's version."""
    config = {
        "model_key": model_key,
        "pairs": pairs_id,
        "attack": asdict(cfg),
        "code_version": MANIPULATION_CODE_VERSION,
    }
    if cfg.window < cfg.steps:
        config["stopping_rule"] = STOPPING_RULE_VERSION
    return config


def cached_manipulation(
    store,
    model_key: str,
    pairs_id: dict,
    model: nn.Module | Callable[[], nn.Module],
    x_victim: torch.Tensor,
    x_target: torch.Tensor,
    cfg: ManipulationConfig,
    progress: bool = True,
) -> tuple[ManipulationResult, float]:
    """``manipulate`` through the result store, keyed by ``manipulation_config``.

    ``model`` may be a zero-argument function returning the network: it is called only when the attack is
    computed, so reading a stored attack never loads weights. A published snapshot may hold the result
    without the adversarial images (``x_adv`` is then None). Returns the result and the seconds the attack
    took when it was computed.
    """
    entry = store.entry(
        "manipulations", manipulation_config(model_key, pairs_id, cfg)
    ).ensure()
    if entry.has("result.pt") and entry.has("timing.json"):
        tensors = entry.load_torch("result.pt")
        return ManipulationResult(**{"x_adv": None, **tensors}), entry.load_json(
            "timing.json"
        )["seconds"]
    t0 = time.perf_counter()
    if not isinstance(model, nn.Module):
        model = model()
    result = manipulate(model, x_victim, x_target, cfg, progress=progress)
    seconds = time.perf_counter() - t0
    entry.save_torch("result.pt", {k: v.cpu() for k, v in result.as_tensors().items()})
    entry.save_json(
        "timing.json", {"seconds": seconds, "threads": torch.get_num_threads()}
    )
    return result, seconds


def noise_baseline(
    model: nn.Module,
    x_victim: torch.Tensor,
    x_adv: torch.Tensor,
    seed: int = 0,
    iterations: int = 40,
) -> torch.Tensor:
    """Random Gaussian perturbations whose realised per-pair L2 norm, after clamping to [0, 1], equals the
    attack's: the scale of each pair's Gaussian direction is found by bisection (the realised norm grows
    monotonically with it), since clamping a rescaled direction would remove part of its norm. A pair whose
    norm cannot be reached inside [0, 1] gets the largest norm the pixel range allows (see
    ``realised_norms``)."""
    g = torch.Generator().manual_seed(seed)
    delta = torch.randn(x_victim.shape, generator=g).to(x_victim.device)
    delta = delta / delta.flatten(1).norm(dim=1).view(-1, 1, 1, 1)
    target = (x_adv - x_victim).flatten(1).norm(dim=1)

    def realised(scale: torch.Tensor) -> torch.Tensor:
        return (
            ((x_victim + scale.view(-1, 1, 1, 1) * delta).clamp(0, 1) - x_victim)
            .flatten(1)
            .norm(dim=1)
        )

    lo = torch.zeros_like(target)
    hi = torch.full_like(
        target, 2.0 * math.sqrt(x_victim[0].numel())
    )  # beyond the range's diameter
    for _ in range(iterations):
        mid = (lo + hi) / 2
        short = realised(mid) < target
        lo, hi = torch.where(short, mid, lo), torch.where(short, hi, mid)
    return (x_victim + hi.view(-1, 1, 1, 1) * delta).clamp(0, 1)
