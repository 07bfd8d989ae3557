"""Typed configuration: one frozen dataclass per component, profiles read from YAML, strict overrides.

A profile (``lib/profiles/<name>.yaml``) is plain data. ``load_profile(name, overrides)`` merges the
overrides (dotted keys such as ``"experiments.mnist.train.epochs"`` or nested dicts), validates every
field against the dataclasses below and returns a frozen :class:`Profile`. An unknown field, a wrong
type or a value out of range raises :class:`ConfigError` naming the field, the value and what is allowed.
"""
from __future__ import annotations

import copy
import dataclasses
import math
import os
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import yaml

PROFILE_DIR = Path(__file__).parent / "profiles"
DATASETS = ("digits", "mnist", "fashion-mnist", "cifar10")
MODELS = ("convnet", "resnet18")
ACTIVATIONS = ("relu", "softplus")
METHODS = ("standard", "mat", "trades")


class ConfigError(ValueError):
    """A configuration value that is unknown, of the wrong type or out of range."""


def _check(ok: bool, name: str, value: Any, allowed: str) -> None:
    if not ok:
        raise ConfigError(f"{name}={value!r} is not allowed: expected {allowed}")


@dataclass(frozen=True)
class DataConfig:
    """Which images: a class-balanced, seeded subset of a dataset's train and test splits."""

    name: str = "digits"
    n_train: int | None = None
    n_test: int | None = None
    subset_seed: int = 0

    def validate(self, where: str = "data") -> None:
        _check(self.name in DATASETS, f"{where}.name", self.name, f"one of {DATASETS}")
        for f in ("n_train", "n_test"):
            v = getattr(self, f)
            _check(v is None or v > 0, f"{where}.{f}", v, "a positive integer or null (all)")


@dataclass(frozen=True)
class ModelConfig:
    """Architecture. ``width`` is the first layer's channel count (ResNet-18's standard is 64)."""

    name: str = "convnet"
    width: int = 16
    activation: str = "relu"
    softplus_beta: float = 10.0

    def validate(self, where: str = "model") -> None:
        _check(self.name in MODELS, f"{where}.name", self.name, f"one of {MODELS}")
        _check(self.width > 0, f"{where}.width", self.width, "a positive integer")
        _check(self.activation in ACTIVATIONS, f"{where}.activation", self.activation, f"one of {ACTIVATIONS}")
        _check(self.softplus_beta > 0, f"{where}.softplus_beta", self.softplus_beta, "a positive number")


@dataclass(frozen=True)
class AttackConfig:
    """An L-inf PGD attack: radius, step size, number of steps and random restarts."""

    eps: float = 0.3
    step_size: float = 0.01
    steps: int = 40
    restarts: int = 1

    def validate(self, where: str = "attack") -> None:
        _check(math.isfinite(self.eps) and self.eps >= 0, f"{where}.eps", self.eps, "a finite number >= 0")
        _check(math.isfinite(self.step_size) and self.step_size >= 0, f"{where}.step_size", self.step_size,
               "a finite number >= 0")
        _check(self.steps >= 0, f"{where}.steps", self.steps, "an integer >= 0")
        _check(self.restarts >= 1, f"{where}.restarts", self.restarts, "an integer >= 1")


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

    def validate(self, where: str = "train") -> None:
        _check(self.method in METHODS, f"{where}.method", self.method, f"one of {METHODS}")
        _check(math.isfinite(self.beta) and self.beta >= 0, f"{where}.beta", self.beta, "a finite number >= 0")
        _check(self.epochs >= 1, f"{where}.epochs", self.epochs, "an integer >= 1")
        _check(self.batch_size >= 1, f"{where}.batch_size", self.batch_size, "an integer >= 1")
        _check(self.lr > 0, f"{where}.lr", self.lr, "a positive number")
        _check(0 <= self.momentum < 1, f"{where}.momentum", self.momentum, "a number in [0, 1)")
        _check(self.weight_decay >= 0, f"{where}.weight_decay", self.weight_decay, "a number >= 0")
        _check(self.warmup_epochs >= 0, f"{where}.warmup_epochs", self.warmup_epochs, "a number >= 0")
        _check(self.eps_warmup_epochs >= 0, f"{where}.eps_warmup_epochs", self.eps_warmup_epochs, "a number >= 0")
        _check(self.monitor_n >= 0, f"{where}.monitor_n", self.monitor_n, "an integer >= 0")
        self.attack.validate(f"{where}.attack")


@dataclass(frozen=True)
class EvalConfig:
    """Evaluation of clean and PGD accuracy on ``n`` test images, and the gradient-masking check."""

    n: int | None = 1000
    batch_size: int = 500
    attack: AttackConfig = field(default_factory=AttackConfig)
    masking_attack: AttackConfig = field(default_factory=lambda: AttackConfig(steps=100, restarts=5))

    def validate(self, where: str = "eval") -> None:
        _check(self.n is None or self.n > 0, f"{where}.n", self.n, "a positive integer or null (all)")
        _check(self.batch_size >= 1, f"{where}.batch_size", self.batch_size, "an integer >= 1")
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
class SweepConfig:
    """The robustness sweep: TRADES weights (beta = 0 is standard training) and whether to add MAT."""

    betas: tuple[float, ...] = (0.0, 1.0, 6.0)
    mat: bool = True

    def validate(self, where: str = "sweep") -> None:
        _check(len(self.betas) > 0, f"{where}.betas", self.betas, "a non-empty list")
        for b in self.betas:
            _check(math.isfinite(b) and b >= 0, f"{where}.betas", b, "finite numbers >= 0")


@dataclass(frozen=True)
class ManipulationSettings:
    """The explanation-manipulation attack as the chapters run it (see ``lib.manipulate``): the reference
    code's loss weights and optimiser, how many victim-target pairs, and the convergence rule."""

    method: str = "gradient"
    pairs: int = 100
    steps: int = 1500
    lr: float = 2e-4
    c_expl: float = 1e11
    c_out: float = 1e6
    beta_start: float = 10.0
    beta_end: float = 100.0
    rel_tol: float = 1e-3
    window: int = 100
    pair_seed: int = 0

    def validate(self, where: str = "manipulation") -> None:
        # The attack's own configuration checks its fields; only the pair settings are checked here.
        from .manipulate import config_from_settings  # manipulate imports this module

        _check(self.pairs >= 1, f"{where}.pairs", self.pairs, "an integer >= 1")
        try:
            config_from_settings(self).validate()
        except ConfigError as exc:
            raise ConfigError(f"{where}.{exc}") from None


FEATURE_SPACES = ("penultimate", "pixel")


@dataclass(frozen=True)
class ValidationSettings:
    """The prototype estimate checked against all pairs: ``n_images`` test images (all n(n-1) ordered pairs
    attacked on every first-seed model of each of ``experiments``), the prototype rule applied inside that pool with
    ``kmeans_seeds`` clusterings, and ``resamples`` random subsets of the same number of pairs."""

    experiments: tuple[str, ...] = ()  # empty: the profile's first experiment
    n_images: int = 12
    image_seed: int = 0
    n_clusters: int = 4
    victims_per_cluster: int = 2
    targets_per_victim: int = 2
    kmeans_seeds: int = 20
    resamples: int = 1000
    timing_pairs: tuple[int, ...] = (10, 50, 100, 200)
    timing_steps: int = 5

    def validate(self, where: str = "prototypes.validation") -> None:
        _check(self.n_images >= 3, f"{where}.n_images", self.n_images, "an integer >= 3")
        _check(2 <= self.n_clusters <= self.n_images, f"{where}.n_clusters", self.n_clusters,
               f"an integer in [2, n_images={self.n_images}]")
        _check(self.victims_per_cluster >= 1, f"{where}.victims_per_cluster", self.victims_per_cluster,
               "an integer >= 1")
        _check(1 <= self.targets_per_victim < self.n_clusters, f"{where}.targets_per_victim",
               self.targets_per_victim, f"an integer in [1, n_clusters - 1 = {self.n_clusters - 1}]")
        for name in ("kmeans_seeds", "resamples", "timing_steps"):
            _check(getattr(self, name) >= 1, f"{where}.{name}", getattr(self, name), "an integer >= 1")
        _check(all(n >= 1 for n in self.timing_pairs), f"{where}.timing_pairs", self.timing_pairs,
               "a list of integers >= 1")


@dataclass(frozen=True)
class PrototypeSettings:
    """Prototype pairs (k-means on features of the standard model of the first seed, or on pixels) and the
    attack that measures explanation robustness on them: the profile's ``manipulation`` settings with the
    step count and learning rate given here, for each explanation method in ``methods``."""

    features: str = "penultimate"
    n_clusters: int = 10
    victims_per_cluster: int = 5
    targets_per_victim: int = 1
    pairing: str = "random_other"
    seed: int = 0
    methods: tuple[str, ...] = ("gradient", "grad_x_input")
    steps: int = 1500
    lr: float = 2e-4
    validation: ValidationSettings = field(default_factory=ValidationSettings)

    def validate(self, where: str = "prototypes") -> None:
        from .explain import METHODS as EXPLANATIONS

        _check(self.features in FEATURE_SPACES, f"{where}.features", self.features, f"one of {FEATURE_SPACES}")
        _check(self.n_clusters >= 2, f"{where}.n_clusters", self.n_clusters, "an integer >= 2")
        _check(self.victims_per_cluster >= 1, f"{where}.victims_per_cluster", self.victims_per_cluster,
               "an integer >= 1")
        _check(1 <= self.targets_per_victim < self.n_clusters, f"{where}.targets_per_victim",
               self.targets_per_victim, f"an integer in [1, n_clusters - 1 = {self.n_clusters - 1}]")
        _check(self.pairing in ("random_other", "next_cluster"), f"{where}.pairing", self.pairing,
               "'random_other' or 'next_cluster'")
        _check(len(self.methods) > 0, f"{where}.methods", self.methods, "a non-empty list")
        for m in self.methods:
            _check(m in EXPLANATIONS, f"{where}.methods", m, f"names from {EXPLANATIONS}")
        _check(self.steps >= 1, f"{where}.steps", self.steps, "an integer >= 1")
        _check(math.isfinite(self.lr) and self.lr > 0, f"{where}.lr", self.lr, "a finite number > 0")
        self.validation.validate(f"{where}.validation")


@dataclass(frozen=True)
class LandscapeSettings:
    """Input-space landscapes around prototype victims (the first victim of each cluster, with its target):
    1-D slices along ``gaussian`` random directions, ``sign`` directions and the gradient-sign direction on a
    grid of ``points`` offsets in [-r, r], r = ``radius`` times the experiment's PGD eps (sign directions
    have L-inf norm 1 and Gaussian ones the same L2 norm, so t is comparable across kinds); 2-D surfaces for
    ``surface_victims`` victims; curvature (Lanczos extreme eigenvalues, Hutchinson trace) on the softplus
    twin of ``softplus_beta``."""

    victims: int = 10
    method: str = "gradient"
    radius: float = 1.0
    points: int = 21
    gaussian: int = 4
    sign: int = 1
    surface_victims: int = 2
    surface_points: int = 21
    softplus_beta: float = 10.0
    eig_tol: float = 1e-3
    eig_max_iter: int = 60
    trace_probes: int = 32
    seed: int = 0

    def validate(self, where: str = "landscape") -> None:
        from .explain import METHODS as EXPLANATIONS

        _check(self.victims >= 1, f"{where}.victims", self.victims, "an integer >= 1")
        _check(self.method in EXPLANATIONS, f"{where}.method", self.method, f"one of {EXPLANATIONS}")
        _check(math.isfinite(self.radius) and self.radius > 0, f"{where}.radius", self.radius, "a finite number > 0")
        for name in ("points", "surface_points"):
            v = getattr(self, name)
            _check(v >= 3 and v % 2 == 1, f"{where}.{name}", v, "an odd integer >= 3 (0 must be on the grid)")
        _check(self.gaussian >= 0 and self.sign >= 0, f"{where}.gaussian", self.gaussian,
               "integers >= 0 for gaussian and sign")
        _check(1 <= self.surface_victims <= self.victims, f"{where}.surface_victims", self.surface_victims,
               f"an integer in [1, victims={self.victims}]")
        _check(math.isfinite(self.softplus_beta) and self.softplus_beta > 0, f"{where}.softplus_beta",
               self.softplus_beta, "a finite number > 0")
        _check(math.isfinite(self.eig_tol) and self.eig_tol >= 0, f"{where}.eig_tol", self.eig_tol, "a number >= 0")
        _check(self.eig_max_iter >= 1, f"{where}.eig_max_iter", self.eig_max_iter, "an integer >= 1")
        _check(self.trace_probes >= 2, f"{where}.trace_probes", self.trace_probes, "an integer >= 2")


@dataclass(frozen=True)
class Profile:
    """A named, complete setting of every experiment: which experiments run, seeds, sweep and device.

    ``experiments`` maps a name (the dataset's name, or e.g. ``mnist-resnet18`` where one dataset is used
    with several models) to its settings; ``run`` lists the ones the book executes.
    """

    name: str = "smoke"
    description: str = ""
    device: str = "auto"
    threads: int = 2
    seeds: tuple[int, ...] = (0,)
    run: tuple[str, ...] = ("digits",)
    sweep: SweepConfig = field(default_factory=SweepConfig)
    manipulation: ManipulationSettings = field(default_factory=ManipulationSettings)
    prototypes: PrototypeSettings = field(default_factory=PrototypeSettings)
    landscape: LandscapeSettings = field(default_factory=LandscapeSettings)
    experiments: dict[str, ExperimentConfig] = field(default_factory=dict)

    def validate(self) -> None:
        _check(self.device == "auto" or self.device == "cpu" or self.device.startswith("cuda")
               or self.device == "mps", "device", self.device, "'auto', 'cpu', 'cuda', 'cuda:N' or 'mps'")
        _check(self.threads >= 1, "threads", self.threads, "an integer >= 1")
        _check(len(self.seeds) > 0, "seeds", self.seeds, "a non-empty list of integers")
        for d in self.run:
            _check(d in self.experiments, "run", d, f"names defined under experiments {sorted(self.experiments)}")
        self.sweep.validate()
        self.manipulation.validate()
        self.prototypes.validate()
        self.landscape.validate()
        for v in self.prototypes.validation.experiments:
            _check(v in self.experiments, "prototypes.validation.experiments", v,
                   f"names from {sorted(self.experiments)} (an empty list: the first of run)")
        for name, exp in self.experiments.items():
            exp.validate(f"experiments.{name}")

    def experiment(self, name: str) -> ExperimentConfig:
        _check(name in self.experiments, "experiment", name, f"one of {sorted(self.experiments)}")
        return self.experiments[name]


# --------------------------------------------------------------------------------------------
# dict <-> dataclass, strictly


def _is_dataclass_type(tp: Any) -> bool:
    return isinstance(tp, type) and dataclasses.is_dataclass(tp)


def _convert(tp: Any, value: Any, where: str) -> Any:
    """Convert plain YAML data to the annotated type, raising ConfigError on any mismatch."""
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if _is_dataclass_type(tp):
        return from_dict(tp, value, where)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        return _convert(inner[0], value, where)
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{where}={value!r} is not allowed: expected a list")
        return tuple(_convert(args[0], v, where) for v in value)
    if origin is dict:
        if not isinstance(value, Mapping):
            raise ConfigError(f"{where}={value!r} is not allowed: expected a mapping")
        return {str(k): _convert(args[1], v, f"{where}.{k}") for k, v in value.items()}
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{where}={value!r} is not allowed: expected true or false")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{where}={value!r} is not allowed: expected an integer")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{where}={value!r} is not allowed: expected a number")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(f"{where}={value!r} is not allowed: expected a string")
        return value
    raise TypeError(f"unsupported config type {tp} at {where}")


def from_dict(cls: type, data: Any, where: str = "") -> Any:
    """Build dataclass ``cls`` from a mapping; unknown keys are an error, missing keys take defaults."""
    if isinstance(data, cls):
        return data
    if not isinstance(data, Mapping):
        raise ConfigError(f"{where or cls.__name__}={data!r} is not allowed: expected a mapping")
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    unknown = sorted(set(data) - set(names))
    if unknown:
        prefix = f"{where}." if where else ""
        raise ConfigError(f"unknown field {prefix}{unknown[0]} (allowed fields: {', '.join(names)})")
    kwargs = {k: _convert(hints[k], v, f"{where}.{k}" if where else k) for k, v in data.items()}
    return cls(**kwargs)


def to_dict(obj: Any) -> Any:
    """Plain, JSON-ready data for a config dataclass (tuples become lists)."""
    if dataclasses.is_dataclass(obj):
        return {f.name: to_dict(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, (list, tuple)):
        return [to_dict(v) for v in obj]
    if isinstance(obj, dict):
        return {k: to_dict(v) for k, v in obj.items()}
    return obj


def _set_dotted(tree: dict, dotted: str, value: Any) -> None:
    parts = dotted.split(".")
    node = tree
    for i, p in enumerate(parts[:-1]):
        nxt = node.get(p)
        if nxt is None and p not in node:
            # Let from_dict report the unknown field with its full path.
            nxt = node[p] = {}
        if not isinstance(nxt, dict):
            raise ConfigError(f"override {dotted!r}: {'.'.join(parts[: i + 1])} is not a section")
        node = nxt
    node[parts[-1]] = value


def apply_overrides(tree: dict, overrides: Mapping[str, Any] | None) -> dict:
    """Merge overrides (dotted keys, or nested dicts that are merged key by key) into a copy of ``tree``."""
    out = copy.deepcopy(tree)
    for key, value in (overrides or {}).items():
        if isinstance(value, Mapping) and isinstance(_get_dotted(out, key), dict):
            for sub, v in _flatten(value).items():
                _set_dotted(out, f"{key}.{sub}", v)
        else:
            _set_dotted(out, key, value)
    return out


def _get_dotted(tree: dict, dotted: str) -> Any:
    node: Any = tree
    for p in dotted.split("."):
        if not isinstance(node, dict) or p not in node:
            return None
        node = node[p]
    return node


def _flatten(d: Mapping, prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, Mapping) and v:
            out.update(_flatten(v, key + "."))
        else:
            out[key] = v
    return out


def available_profiles() -> list[str]:
    return sorted(p.stem for p in PROFILE_DIR.glob("*.yaml"))


def load_profile(name: str = "smoke", overrides: Mapping[str, Any] | None = None) -> Profile:
    """Read profile ``name`` (or a path to a YAML file), apply overrides, validate and return it."""
    path = Path(name)
    if not (path.suffix in (".yaml", ".yml") and path.exists()):
        path = PROFILE_DIR / f"{name}.yaml"
        if not path.exists():
            raise ConfigError(f"profile={name!r} is not allowed: expected one of {available_profiles()} "
                              f"or a path to a YAML file")
    raw = yaml.safe_load(path.read_text()) or {}
    raw.setdefault("name", path.stem)
    tree = apply_overrides(raw, overrides)
    experiments = tree.get("experiments", {})
    if isinstance(experiments, dict):  # a key that names a dataset implies data.name
        for key, exp in experiments.items():
            if isinstance(exp, dict) and key in DATASETS:
                exp.setdefault("data", {}).setdefault("name", key)
    profile = from_dict(Profile, tree)
    profile.validate()
    return profile


def resolve_device(spec: str = "auto") -> str:
    """'auto' picks CUDA when present, else CPU; anything else is used as given."""
    import torch

    if spec == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if spec.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"device={spec!r} is not allowed: CUDA is not available here (use 'auto' or 'cpu')")
    return spec


def setup_runtime(profile: Profile) -> str:
    """Apply the profile's thread count and determinism settings; return the resolved device."""
    import torch

    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.set_num_threads(profile.threads)
    device = resolve_device(profile.device)
    # Some CUDA kernels have no deterministic variant: warn there instead of failing.
    torch.use_deterministic_algorithms(True, warn_only=device.startswith("cuda"))
    return device
