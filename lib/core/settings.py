"""The settings of each component, one frozen dataclass each: data, model, PGD attack, training,
evaluation, and the explanation-manipulation attack. Every field has a default and ``validate`` names the
field, the value and what is allowed.

These sit on the library's second floor (only ``errors`` below them), so that the modules that use a
setting (``nn.models``, ``nn.pgd``, ``pipeline.training``, ``measure.manipulate``) import it without importing the profile.
Profile and study settings are in ``lib.core.profile``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from lib.core.errors import check

DATASETS = ("digits", "mnist", "fashion-mnist", "cifar10")


MODELS = ("convnet", "resnet18")


ACTIVATIONS = ("relu", "softplus")


TRAINING_METHODS = ("standard", "mat", "trades")


EXPLANATION_METHODS = (
    "gradient",
    "grad_x_input",
    "guided_backprop",
    "integrated_gradients",
    "smoothgrad",
)


@dataclass(frozen=True)
class DataConfig:
    """Which images: a class-balanced, seeded subset of a dataset's train and test splits."""

    name: str = "digits"
    n_train: int | None = None
    n_test: int | None = None
    subset_seed: int = 0

    def validate(self, where: str = "data") -> None:
        check(self.name in DATASETS, f"{where}.name", self.name, f"one of {DATASETS}")
        for f in ("n_train", "n_test"):
            v = getattr(self, f)
            check(
                v is None or v > 0,
                f"{where}.{f}",
                v,
                "a positive integer or null (all)",
            )


@dataclass(frozen=True)
class ModelConfig:
    """Architecture. ``width`` is the first layer's channel count (ResNet-18's standard is 64)."""

    name: str = "convnet"
    width: int = 16
    activation: str = "relu"
    softplus_beta: float = 10.0

    def validate(self, where: str = "model") -> None:
        check(self.name in MODELS, f"{where}.name", self.name, f"one of {MODELS}")
        check(self.width > 0, f"{where}.width", self.width, "a positive integer")
        check(
            self.activation in ACTIVATIONS,
            f"{where}.activation",
            self.activation,
            f"one of {ACTIVATIONS}",
        )
        check(
            self.softplus_beta > 0,
            f"{where}.softplus_beta",
            self.softplus_beta,
            "a positive number",
        )


@dataclass(frozen=True)
class AttackConfig:
    """An L-inf PGD attack: radius, step size, number of steps and random restarts."""

    eps: float = 0.3
    step_size: float = 0.01
    steps: int = 40
    restarts: int = 1

    def validate(self, where: str = "attack") -> None:
        check(
            math.isfinite(self.eps) and self.eps >= 0,
            f"{where}.eps",
            self.eps,
            "a finite number >= 0",
        )
        check(
            math.isfinite(self.step_size) and self.step_size >= 0,
            f"{where}.step_size",
            self.step_size,
            "a finite number >= 0",
        )
        check(self.steps >= 0, f"{where}.steps", self.steps, "an integer >= 0")
        check(self.restarts >= 1, f"{where}.restarts", self.restarts, "an integer >= 1")


@dataclass(frozen=True)
class SepConfig:
    """SEP on top of the base method: ``lam`` times the mean explanation change L_f under Gaussian noise of
    standard deviation ``sigma`` (``samples`` draws per image, explanation ``method``) is added to the loss."""

    lam: float = 0.0
    sigma: float = 0.1
    samples: int = 1
    method: str = "gradient"

    def validate(self, where: str = "train.sep") -> None:
        check(
            math.isfinite(self.lam),
            f"{where}.lam",
            self.lam,
            "a finite number (either sign)",
        )
        check(
            math.isfinite(self.sigma) and self.sigma >= 0,
            f"{where}.sigma",
            self.sigma,
            "a finite number >= 0",
        )
        check(self.samples >= 1, f"{where}.samples", self.samples, "an integer >= 1")
        check(
            self.method in EXPLANATION_METHODS,
            f"{where}.method",
            self.method,
            f"one of {EXPLANATION_METHODS}",
        )


@dataclass(frozen=True)
class TrainConfig:
    """How a model is trained. ``method`` is standard (cross-entropy), mat (PGD adversarial training,
    Madry et al.) or trades (cross-entropy + beta * KL to the adversarial output; the paper's alpha)."""

    method: str = "standard"
    beta: float = 0.0
    seed: int = 0
    epochs: int = 5
    batch_size: int = 128
    lr: float = 0.05
    momentum: float = 0.9
    weight_decay: float = 5e-4
    warmup_epochs: float = 0.0
    eps_warmup_epochs: float = 0.0
    augment: bool = False
    attack: AttackConfig = field(default_factory=AttackConfig)
    monitor_n: int = 256
    sep: SepConfig | None = (
        None  # None: no SEP (and no change to the store keys of models without it)
    )

    def validate(self, where: str = "train") -> None:
        check(
            self.method in TRAINING_METHODS,
            f"{where}.method",
            self.method,
            f"one of {TRAINING_METHODS}",
        )
        check(
            math.isfinite(self.beta) and self.beta >= 0,
            f"{where}.beta",
            self.beta,
            "a finite number >= 0",
        )
        check(self.epochs >= 1, f"{where}.epochs", self.epochs, "an integer >= 1")
        check(
            self.batch_size >= 1,
            f"{where}.batch_size",
            self.batch_size,
            "an integer >= 1",
        )
        check(self.lr > 0, f"{where}.lr", self.lr, "a positive number")
        check(
            0 <= self.momentum < 1,
            f"{where}.momentum",
            self.momentum,
            "a number in [0, 1)",
        )
        check(
            self.weight_decay >= 0,
            f"{where}.weight_decay",
            self.weight_decay,
            "a number >= 0",
        )
        check(
            self.warmup_epochs >= 0,
            f"{where}.warmup_epochs",
            self.warmup_epochs,
            "a number >= 0",
        )
        check(
            self.eps_warmup_epochs >= 0,
            f"{where}.eps_warmup_epochs",
            self.eps_warmup_epochs,
            "a number >= 0",
        )
        check(
            self.monitor_n >= 0, f"{where}.monitor_n", self.monitor_n, "an integer >= 0"
        )
        self.attack.validate(f"{where}.attack")
        if self.sep is not None:
            check(
                self.method in ("mat", "trades"),
                f"{where}.method",
                self.method,
                "'mat' or 'trades' under SEP (it regularises adversarial training)",
            )
            self.sep.validate(f"{where}.sep")


@dataclass(frozen=True)
class EvalConfig:
    """Evaluation of clean and PGD accuracy on ``n`` test images, and the gradient-masking check."""

    n: int | None = 1000
    batch_size: int = 500
    attack: AttackConfig = field(default_factory=AttackConfig)
    masking_attack: AttackConfig = field(
        default_factory=lambda: AttackConfig(steps=100, restarts=5)
    )

    def validate(self, where: str = "eval") -> None:
        check(
            self.n is None or self.n > 0,
            f"{where}.n",
            self.n,
            "a positive integer or null (all)",
        )
        check(
            self.batch_size >= 1,
            f"{where}.batch_size",
            self.batch_size,
            "an integer >= 1",
        )
        self.attack.validate(f"{where}.attack")
        self.masking_attack.validate(f"{where}.masking_attack")


@dataclass(frozen=True)
class ExperimentConfig:
    """Everything about one dataset in a profile: its data, model, training recipe and evaluation."""

    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)

    def validate(self, where: str) -> None:
        self.data.validate(f"{where}.data")
        self.model.validate(f"{where}.model")
        self.train.validate(f"{where}.train")
        self.eval.validate(f"{where}.eval")


@dataclass(frozen=True)
class ExplanationAttackSettings:
    """The targeted explanation-manipulation attack (``lib.manipulate``), declared once: the reference code's
    loss weights, optimiser and softplus schedule (1500 Adam steps, lr 2e-4, c_e 1e11, c_o 1e6, softplus beta
    10 -> 100) and the convergence rule: every ``window`` steps, a pair stops once the explanation loss of the
    model as trained has fallen by less than a fraction ``rel_tol`` since the last check (``window >= steps``
    disables it, as in the reference)."""

    method: str = "gradient"
    steps: int = 1500
    lr: float = 2e-4
    c_expl: float = 1e11
    c_out: float = 1e6
    beta_start: float = 10.0
    beta_end: float = 100.0
    rel_tol: float = 1e-3
    window: int = 100

    def validate(self, where: str = "") -> None:
        p = f"{where}." if where else ""
        check(
            self.method in EXPLANATION_METHODS,
            f"{p}method",
            self.method,
            f"one of {EXPLANATION_METHODS}",
        )
        for name in ("lr", "c_expl", "beta_start", "beta_end"):
            v = getattr(self, name)
            check(math.isfinite(v) and v > 0, f"{p}{name}", v, "a finite number > 0")
        check(
            math.isfinite(self.c_out) and self.c_out >= 0,
            f"{p}c_out",
            self.c_out,
            "a finite number >= 0",
        )
        for name in ("steps", "window"):
            v = getattr(self, name)
            check(
                not isinstance(v, bool) and isinstance(v, int) and v >= 1,
                f"{p}{name}",
                v,
                "an integer >= 1",
            )
        check(0 <= self.rel_tol < 1, f"{p}rel_tol", self.rel_tol, "a number in [0, 1)")
