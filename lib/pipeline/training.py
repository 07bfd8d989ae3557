"""One training loop for every method (standard, MAT, TRADES), resumable, deterministic, store-backed.

``get_model(spec, store, device)`` returns the trained model from the store, training it (or finishing
an interrupted run from its last epoch checkpoint) when needed. Each epoch's randomness (data order,
augmentation, attack starts) is seeded from (seed, epoch), so a resumed run is identical to an
uninterrupted one.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, replace

import torch
import torch.nn.functional as F
from torch import nn
from tqdm.std import tqdm

from lib.core.errors import ConfigError, TrainingDivergedError
from lib.core.schema import to_dict
from lib.core.settings import AttackConfig, DataConfig, ModelConfig, TrainConfig
from lib.core.store import ACCEPT_RETRAINED, Entry, ResultStore, git_commit
from lib.measure.sep import sep_loss
from lib.nn.data import DATASET_SHAPES, NUM_CLASSES, load_dataset
from lib.nn.kinds import ModelKind
from lib.nn.models import model_from_config
from lib.nn.pgd import evaluate, pgd
from lib.nn.trades import trades_loss

# Bump when a change alters what training produces; it is part of every model's store key.
TRAIN_CODE_VERSION = 1


@dataclass(frozen=True)
class RunSpec:
    """Everything that determines a trained model."""

    data: DataConfig
    model: ModelConfig
    train: TrainConfig

    def store_config(self) -> dict:
        """The model's store key config. A model without SEP has no ``sep`` field in it, so the keys of
        every model trained before SEP existed are unchanged."""
        train = to_dict(self.train)
        if self.train.sep is None:
            del train["sep"]
        return {
            "data": to_dict(self.data),
            "model": to_dict(self.model),
            "train": train,
            "code_version": TRAIN_CODE_VERSION,
        }

    @property
    def label(self) -> str:
        """'mnist convnet TRADES β=1 seed=0', for progress bars and errors."""
        return f"{self.data.name} {self.model.name} {ModelKind.of(self.train).label} seed={self.train.seed}"

    def validate(self) -> None:
        self.data.validate()
        self.model.validate()
        self.train.validate()


class TrainedModel:
    """A trained model of the store: its spec, store entry, training history and collapse reason (None, or
    why the run failed: non-finite loss, chance accuracy). The network itself, ``model``, is loaded on
    first use, so a page that reads only a model's stored results never loads its weights; a model whose
    weights a published snapshot withholds is then retrained into the writable store (see ``get_model``).
    Loading leaves the global random generators as it found them (building the network draws initial
    weights, retraining reseeds), so what a caller seeded before first use is not disturbed by it."""

    def __init__(
        self,
        model: nn.Module | Callable[[], nn.Module],
        spec: RunSpec,
        entry: Entry,
        history: list[dict] | None = None,
        collapsed: str | None = None,
    ):
        self._model = model if isinstance(model, nn.Module) else None
        self._load = None if isinstance(model, nn.Module) else model
        self.spec = spec
        self.entry = entry
        self.history = list(history or [])
        self.collapsed = collapsed

    @property
    def model(self) -> nn.Module:
        if self._model is None:
            with torch.random.fork_rng():
                self._model = self._load()
        return self._model

    def __repr__(self) -> str:
        return f"TrainedModel({self.spec.label}, {self.entry})"

    @property
    def train_seconds(self) -> float:
        return float(sum(h["seconds"] for h in self.history))


def epoch_seed(seed: int, epoch: int) -> int:
    return (seed * 1_000_003 + epoch * 7919 + 17) % (2**31 - 1)


def learning_rate(cfg: TrainConfig, progress_epochs: float) -> float:
    """Linear warm-up for ``warmup_epochs``, then cosine decay to zero at the last step."""
    if cfg.warmup_epochs > 0 and progress_epochs < cfg.warmup_epochs:
        return cfg.lr * progress_epochs / cfg.warmup_epochs
    span = max(cfg.epochs - cfg.warmup_epochs, 1e-12)
    t = min(max((progress_epochs - cfg.warmup_epochs) / span, 0.0), 1.0)
    return cfg.lr * 0.5 * (1 + math.cos(math.pi * t))


def attack_at(cfg: TrainConfig, progress_epochs: float) -> AttackConfig:
    """The training attack, with eps and step size ramped linearly over ``eps_warmup_epochs``."""
    if cfg.eps_warmup_epochs <= 0 or progress_epochs >= cfg.eps_warmup_epochs:
        return cfg.attack
    f = progress_epochs / cfg.eps_warmup_epochs
    return replace(
        cfg.attack, eps=cfg.attack.eps * f, step_size=cfg.attack.step_size * f
    )


def augment_batch(
    x: torch.Tensor, generator: torch.Generator, pad: int = 4
) -> torch.Tensor:
    """Random crop with zero padding and random horizontal flip, batched."""
    n, _, h, w = x.shape
    padded = F.pad(x, (pad, pad, pad, pad))
    dy = torch.randint(0, 2 * pad + 1, (n,), generator=generator).to(x.device)
    dx = torch.randint(0, 2 * pad + 1, (n,), generator=generator).to(x.device)
    rows = (dy[:, None] + torch.arange(h, device=x.device))[:, :, None]
    cols = (dx[:, None] + torch.arange(w, device=x.device))[:, None, :]
    out = padded[
        torch.arange(n, device=x.device)[:, None, None], :, rows, cols
    ].permute(0, 3, 1, 2)
    flip = (torch.rand(n, generator=generator) < 0.5).to(x.device)
    return torch.where(flip[:, None, None, None], out.flip(3), out).contiguous()


def batch_loss(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    cfg: TrainConfig,
    attack: AttackConfig,
    sep_generator: torch.Generator | None = None,
) -> tuple[torch.Tensor, dict[str, torch.Tensor], torch.Tensor]:
    """The method's loss on one batch: (loss, its named parts, logits on the clean input for accuracy).
    SEP's noise comes from ``sep_generator``, its own stream, so the base method's randomness (PGD starts)
    is the same with and without SEP."""
    if cfg.sep is not None:
        base, parts, logits = batch_loss(model, x, y, replace(cfg, sep=None), attack)
        term, lf = sep_loss(
            model,
            x,
            y,
            cfg.sep.lam,
            cfg.sep.sigma,
            cfg.sep.method,
            cfg.sep.samples,
            sep_generator,
        )
        return base + term, {**parts, "base_loss": base, "sep_lf": lf}, logits
    if cfg.method == "standard":
        logits = model(x)
        ce = F.cross_entropy(logits, y)
        return ce, {"ce": ce}, logits
    if cfg.method == "mat":
        x_adv = pgd(
            model, x, y, attack.eps, attack.step_size, attack.steps, random_start=True
        )
        logits_adv = model(x_adv)
        ce_adv = F.cross_entropy(logits_adv, y)
        return ce_adv, {"ce_adv": ce_adv}, logits_adv
    if cfg.method == "trades":
        total, ce, kl = trades_loss(
            model, x, y, cfg.beta, attack.eps, attack.step_size, attack.steps
        )
        parts = {"ce": ce} if cfg.beta == 0 else {"ce": ce, "kl": kl}
        return total, parts, None
    raise ConfigError(
        f"train.method={cfg.method!r} is not allowed: expected standard, mat or trades"
    )


def build_for(spec: RunSpec, device: str | torch.device) -> nn.Module:
    c, _, _ = DATASET_SHAPES[spec.data.name]
    return model_from_config(spec.model, c, NUM_CLASSES[spec.data.name]).to(device)


def load_trained(entry: Entry, spec: RunSpec, device: str | torch.device) -> nn.Module:
    model = build_for(spec, device)
    model.load_state_dict(entry.load_torch("model.pt", map_location=device))
    return model.eval()


def _monitor(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor, attack: AttackConfig
) -> dict[str, float]:
    if len(y) == 0:
        return {}
    r = evaluate(model, x, y, attack, batch_size=len(y), progress=False)
    return {"monitor_clean_acc": r.clean_acc, "monitor_pgd_acc": r.pgd_acc}


def train(
    spec: RunSpec,
    entry: Entry,
    device: str | torch.device,
    progress: bool = True,
    on_epoch_end: Callable[[int, list[dict]], None] | None = None,
) -> TrainedModel:
    """Train ``spec`` into ``entry``, resuming from ``partial.pt`` when an earlier run was interrupted."""
    spec.validate()
    cfg = spec.train
    entry.ensure()
    x_train, y_train = load_dataset(
        spec.data.name, "train", spec.data.n_train, spec.data.subset_seed
    )
    x_mon, y_mon = (
        load_dataset(spec.data.name, "test", cfg.monitor_n, spec.data.subset_seed)
        if cfg.monitor_n
        else (torch.empty(0), torch.empty(0, dtype=torch.long))
    )
    x_mon, y_mon = x_mon.to(device), y_mon.to(device)
    torch.manual_seed(cfg.seed)
    model = build_for(spec, device)
    optimizer = torch.optim.SGD(
        model.parameters(),
        lr=cfg.lr,
        momentum=cfg.momentum,
        weight_decay=cfg.weight_decay,
    )
    history: list[dict] = []
    start = 0
    if entry.has("partial.pt"):
        state = entry.load_torch("partial.pt", map_location=device)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        history = entry.load_json("metrics.json")["history"][: state["epoch"]]
        start = state["epoch"]
    n = len(y_train)
    batches_per_epoch = math.ceil(n / cfg.batch_size)
    collapsed = None
    for epoch in range(start, cfg.epochs):
        if collapsed:
            break
        t0 = time.perf_counter()
        seed = epoch_seed(cfg.seed, epoch)
        torch.manual_seed(seed)
        gen = torch.Generator().manual_seed(seed)
        sep_gen = torch.Generator().manual_seed(seed + 2)
        perm = torch.randperm(n, generator=gen)
        sums: dict[str, float] = {}
        correct = 0
        model.train()
        bar = tqdm(
            range(batches_per_epoch),
            desc=f"{spec.label} epoch {epoch + 1}/{cfg.epochs}",
            disable=not progress,
            leave=False,
        )
        for b in bar:
            idx = perm[b * cfg.batch_size : (b + 1) * cfg.batch_size]
            xb, yb = x_train[idx], y_train[idx]
            if cfg.augment:
                xb = augment_batch(xb, gen)
            xb, yb = xb.to(device), yb.to(device)
            progress_epochs = epoch + b / batches_per_epoch
            for group in optimizer.param_groups:
                group["lr"] = learning_rate(cfg, progress_epochs)
            loss, parts, logits = batch_loss(
                model, xb, yb, cfg, attack_at(cfg, progress_epochs), sep_gen
            )
            if not torch.isfinite(loss) and cfg.sep is not None:
                # a SEP run that diverges is a result (its lambda is too large), recorded, never averaged in
                collapsed = f"non-finite loss at epoch {epoch + 1}, batch {b + 1}"
                break
            if not torch.isfinite(loss):
                raise TrainingDivergedError(
                    f"non-finite loss ({loss.item()}) training {spec.label} (store entry {entry.key}) at epoch "
                    f"{epoch + 1}, batch {b + 1}; nothing of this epoch was saved"
                )
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            for k, v in {"loss": loss, **parts}.items():
                sums[k] = sums.get(k, 0.0) + float(v.detach()) * len(yb)
            if logits is not None:
                correct += int((logits.detach().argmax(1) == yb).sum())
        record = {
            "epoch": epoch + 1,
            **{k: v / n for k, v in sums.items()},
            "lr_end": learning_rate(cfg, epoch + 1),
        }
        if cfg.method != "trades":
            record["train_acc" if cfg.method == "standard" else "train_adv_acc"] = (
                correct / n
            )
        torch.manual_seed(seed + 1)
        record.update(_monitor(model, x_mon, y_mon, cfg.attack))
        record["seconds"] = time.perf_counter() - t0
        history.append(record)
        entry.save_json("metrics.json", {"history": history, "complete": False})
        entry.save_torch(
            "partial.pt",
            {
                "model": model.state_dict(),
                "optimizer": optimizer.state_dict(),
                "epoch": epoch + 1,
            },
        )
        if on_epoch_end is not None:
            on_epoch_end(epoch + 1, history)
    if cfg.sep is not None:
        collapsed = collapsed or collapse_reason(history, NUM_CLASSES[spec.data.name])
    entry.save_json(
        "metrics.json",
        {
            "history": history,
            "complete": True,
            "collapsed": collapsed,
            "train_seconds": sum(h["seconds"] for h in history),
            "provenance": {
                "git_commit": git_commit(),
                "torch": torch.__version__,
                "device": str(device),
                "threads": torch.get_num_threads(),
            },
        },
    )
    entry.save_torch("model.pt", model.state_dict())
    entry.remove("partial.pt")
    return TrainedModel(model.eval(), spec, entry, history, collapsed)


CHANCE_MARGIN = 0.05  # clean accuracy within 5 points of chance counts as collapsed


def at_chance(acc: float, num_classes: int) -> bool:
    """Whether a clean accuracy is within ``CHANCE_MARGIN`` of chance (1 / classes)."""
    return acc <= 1 / num_classes + CHANCE_MARGIN


def chance_reason(acc: float, num_classes: int, where: str = "") -> str:
    """'clean accuracy 0.100 at chance (1/10)', ``where`` ('on the validation images') before the bracket."""
    return f"clean accuracy {acc:.3f}{' ' + where if where else ''} at chance (1/{num_classes})"


def _finite(v) -> bool:
    return not isinstance(v, (int, float)) or math.isfinite(v)


def collapse_reason(history: list[dict], num_classes: int) -> str | None:
    """Why a SEP run counts as collapsed, or None: a loss (or L_f) that is not finite in an epoch's record,
    or monitor clean accuracy near chance (1 / classes + ``CHANCE_MARGIN``) at the end. The growth of the
    explanation change L_f is not a reason: raising L_f is what SEP_neg is for (it is a column of the lambda
    table instead). A loss that is not finite during an epoch stops training and is recorded by ``train``
    itself."""
    if not history:
        return "no epoch finished"
    for h in history:
        bad = [
            k for k in ("loss", "base_loss", "sep_lf") if k in h and not _finite(h[k])
        ]
        if bad:
            where = {"loss": "the loss", "base_loss": "the base loss", "sep_lf": "L_f"}
            return f"non-finite loss at epoch {h.get('epoch', '?')}, in {where[bad[0]]}"
    acc = history[-1].get("monitor_clean_acc")
    if acc is not None and at_chance(acc, num_classes):
        return chance_reason(acc, num_classes)
    return None


LEGACY_LF_REASON = (
    "L_f exploded"  # how the old rule (L_f grown 100-fold) recorded a collapse
)


def collapse_of(metrics: dict, num_classes: int) -> str | None:
    """A stored model's collapse by the current rule, from its ``metrics.json``: the recorded reason, except
    that a record of the old L_f-growth rule ('L_f exploded ...') is read again by ``collapse_reason`` on
    its history (that clause never stopped training, so the weights are those of a full run and no key
    changes). None when the run did not collapse."""
    reason = metrics.get("collapsed")
    if reason and str(reason).startswith(LEGACY_LF_REASON):
        return collapse_reason(metrics.get("history", []), num_classes)
    return reason or None


def get_model(
    spec: RunSpec, store: ResultStore, device: str | torch.device, progress: bool = True
) -> TrainedModel:
    """The trained model for ``spec``: from the store when finished, else trained (or resumed) now."""
    spec.validate()
    entry = store.entry("models", spec.store_config()).ensure()
    if entry.has("model.pt"):
        metrics = entry.load_json("metrics.json")
        return TrainedModel(
            lambda: _stored_weights(spec, entry, device, progress),
            spec,
            entry,
            metrics["history"],
            collapse_of(metrics, NUM_CLASSES[spec.data.name]),
        )
    return train(spec, entry, device, progress=progress)


def _stored_weights(
    spec: RunSpec, entry: Entry, device: str | torch.device, progress: bool
) -> nn.Module:
    """The stored network (its file checked by the store); when a published snapshot withholds its weights,
    the model is trained again into the writable store (training is deterministic) and its weights' SHA-256
    compared with the published one: weights that differ (another machine, thread count or library
    version) are refused unless ``$ACCEPT_RETRAINED=1``, which marks them (``Entry.check_recomputed``)."""
    published = entry.withheld("model.pt")
    if published is None:
        return load_trained(entry, spec, device)
    entry.make_writable()
    print(
        f"[models] {spec.label}: weights withheld by the published snapshot; training it again "
        f"into {entry.path}",
        flush=True,
    )
    model = train(spec, entry, device, progress=progress).model
    same = entry.check_recomputed("model.pt", spec.label)
    print(
        f"[models] {spec.label}: retrained weights "
        + (
            "are bit-identical to the published ones"
            if same
            else f"differ from the published ones; used because {ACCEPT_RETRAINED}=1, and marked "
            "as retrained here (results computed from them are not the published ones)"
        ),
        flush=True,
    )
    return model
