"""Profiles: a named, complete setting of every experiment and study, read from YAML with strict overrides.

A profile (``lib/profiles/<name>.yaml``) is plain data. ``load_profile(name, overrides)`` merges the
overrides (dotted keys such as ``"experiments.mnist.train.epochs"`` or nested dicts), validates every
field and returns a frozen :class:`Profile`. An unknown field, a wrong type or a value out of range raises
:class:`ConfigError` naming the field, the value and what is allowed.

The component settings (data, model, attack, training, evaluation, the explanation attack) live one floor
down in ``lib.core.settings`` and are re-exported here for convenience; this module adds the settings of the
studies (sweep, manipulation pairs, prototypes, landscapes) and the profile that holds them all.
"""

from __future__ import annotations

import math
import os
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import torch
import yaml

from lib.core.errors import ConfigError, check
from lib.core.memory import keep_freed_memory
from lib.core.schema import from_dict
from lib.core.settings import (
    DATASETS,
    EXPLANATION_METHODS,
    ExperimentConfig,
    ExplanationAttackSettings,
    SepConfig,
)

PROFILE_DIR = Path(__file__).parents[1] / "profiles"


def check_distinct(values: Sequence[Any], name: str) -> None:
    """Raise ``ConfigError`` when a list of the profile repeats a value: every list names things to train,
    measure or read once (seeds, betas, lambdas, experiments, methods), so a repeat would silently mean
    double work or a wrong count."""
    repeated = next((v for i, v in enumerate(values) if v in values[:i]), None)
    check(
        repeated is None,
        name,
        list(values),
        f"a list without repeats ({repeated!r} is listed {list(values).count(repeated)} times)",
    )


@dataclass(frozen=True)
class SweepConfig:
    """The robustness sweep: TRADES weights (beta = 0 is standard training) and whether to add MAT."""

    betas: tuple[float, ...] = (0.0, 1.0, 6.0)
    mat: bool = True

    def validate(self, where: str = "sweep") -> None:
        check(len(self.betas) > 0, f"{where}.betas", self.betas, "a non-empty list")
        check_distinct(self.betas, f"{where}.betas")
        for b in self.betas:
            check(
                math.isfinite(b) and b >= 0, f"{where}.betas", b, "finite numbers >= 0"
            )


@dataclass(frozen=True)
class ManipulationSettings(ExplanationAttackSettings):
    """The explanation-manipulation attack as the motivation chapter runs it: the attack's own settings
    (declared once, in ``lib.core.settings.ExplanationAttackSettings``) plus how many seeded victim-target
    pairs to draw."""

    pairs: int = 100
    pair_seed: int = 0

    def validate(self, where: str = "manipulation") -> None:
        super().validate(where)
        check(self.pairs >= 1, f"{where}.pairs", self.pairs, "an integer >= 1")


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
        check(self.n_images >= 3, f"{where}.n_images", self.n_images, "an integer >= 3")
        check(
            2 <= self.n_clusters <= self.n_images,
            f"{where}.n_clusters",
            self.n_clusters,
            f"an integer in [2, n_images={self.n_images}]",
        )
        check(
            self.victims_per_cluster >= 1,
            f"{where}.victims_per_cluster",
            self.victims_per_cluster,
            "an integer >= 1",
        )
        check(
            1 <= self.targets_per_victim < self.n_clusters,
            f"{where}.targets_per_victim",
            self.targets_per_victim,
            f"an integer in [1, n_clusters - 1 = {self.n_clusters - 1}]",
        )
        for name in ("kmeans_seeds", "resamples", "timing_steps"):
            check(
                getattr(self, name) >= 1,
                f"{where}.{name}",
                getattr(self, name),
                "an integer >= 1",
            )
        check(
            all(n >= 1 for n in self.timing_pairs),
            f"{where}.timing_pairs",
            self.timing_pairs,
            "a list of integers >= 1",
        )
        check_distinct(self.timing_pairs, f"{where}.timing_pairs")
        check_distinct(self.experiments, f"{where}.experiments")


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
        check(
            self.features in FEATURE_SPACES,
            f"{where}.features",
            self.features,
            f"one of {FEATURE_SPACES}",
        )
        check(
            self.n_clusters >= 2,
            f"{where}.n_clusters",
            self.n_clusters,
            "an integer >= 2",
        )
        check(
            self.victims_per_cluster >= 1,
            f"{where}.victims_per_cluster",
            self.victims_per_cluster,
            "an integer >= 1",
        )
        check(
            1 <= self.targets_per_victim < self.n_clusters,
            f"{where}.targets_per_victim",
            self.targets_per_victim,
            f"an integer in [1, n_clusters - 1 = {self.n_clusters - 1}]",
        )
        check(
            self.pairing in ("random_other", "next_cluster"),
            f"{where}.pairing",
            self.pairing,
            "'random_other' or 'next_cluster'",
        )
        check(
            len(self.methods) > 0, f"{where}.methods", self.methods, "a non-empty list"
        )
        check_distinct(self.methods, f"{where}.methods")
        for m in self.methods:
            check(
                m in EXPLANATION_METHODS,
                f"{where}.methods",
                m,
                f"names from {EXPLANATION_METHODS}",
            )
        check(self.steps >= 1, f"{where}.steps", self.steps, "an integer >= 1")
        check(
            math.isfinite(self.lr) and self.lr > 0,
            f"{where}.lr",
            self.lr,
            "a finite number > 0",
        )
        self.validation.validate(f"{where}.validation")


FLATNESS_MEASURES = ("spectral", "frobenius", "trace")


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
    # How the chapter reads its correlations, not how the landscapes are computed, so kept out of the store
    # keys (``READING_ONLY``): "the explanation loss does not flatten" agrees only when the 95 % interval of
    # Spearman's rho (flatness against PGD accuracy) lies inside +-equivalence_rho.
    equivalence_rho: float = 0.3
    # Claim 3 read per model set, paired per victim (issue 30): the MAT / standard ratio of one primary
    # flatness measure per loss (``flatness_measure``, a column of the curvature table: "spectral",
    # "frobenius" or "trace"); the explanation loss "does not flatten" when the ratio's 95 % interval lies
    # above ``flatten_margin``. Reading only, like equivalence_rho.
    flatness_measure: str = "spectral"
    flatten_margin: float = 0.5

    READING_ONLY: ClassVar[tuple[str, ...]] = (
        "equivalence_rho",
        "flatness_measure",
        "flatten_margin",
    )

    def validate(self, where: str = "landscape") -> None:
        check(self.victims >= 1, f"{where}.victims", self.victims, "an integer >= 1")
        check(
            math.isfinite(self.equivalence_rho) and 0 < self.equivalence_rho < 1,
            f"{where}.equivalence_rho",
            self.equivalence_rho,
            "a number in (0, 1)",
        )
        check(
            self.flatness_measure in FLATNESS_MEASURES,
            f"{where}.flatness_measure",
            self.flatness_measure,
            f"one of {FLATNESS_MEASURES}",
        )
        check(
            math.isfinite(self.flatten_margin) and 0 < self.flatten_margin < 1,
            f"{where}.flatten_margin",
            self.flatten_margin,
            "a ratio in (0, 1)",
        )
        check(
            self.method in EXPLANATION_METHODS,
            f"{where}.method",
            self.method,
            f"one of {EXPLANATION_METHODS}",
        )
        check(
            math.isfinite(self.radius) and self.radius > 0,
            f"{where}.radius",
            self.radius,
            "a finite number > 0",
        )
        for name in ("points", "surface_points"):
            v = getattr(self, name)
            check(
                v >= 3 and v % 2 == 1,
                f"{where}.{name}",
                v,
                "an odd integer >= 3 (0 must be on the grid)",
            )
        check(
            self.gaussian >= 0 and self.sign >= 0,
            f"{where}.gaussian",
            self.gaussian,
            "integers >= 0 for gaussian and sign",
        )
        check(
            1 <= self.surface_victims <= self.victims,
            f"{where}.surface_victims",
            self.surface_victims,
            f"an integer in [1, victims={self.victims}]",
        )
        check(
            math.isfinite(self.softplus_beta) and self.softplus_beta > 0,
            f"{where}.softplus_beta",
            self.softplus_beta,
            "a finite number > 0",
        )
        check(
            math.isfinite(self.eig_tol) and self.eig_tol >= 0,
            f"{where}.eig_tol",
            self.eig_tol,
            "a number >= 0",
        )
        check(
            self.eig_max_iter >= 1,
            f"{where}.eig_max_iter",
            self.eig_max_iter,
            "an integer >= 1",
        )
        check(
            self.trace_probes >= 2,
            f"{where}.trace_probes",
            self.trace_probes,
            "an integer >= 2",
        )


# the images SEP_pos and SEP_neg may be chosen on
CHOICE_SPLITS = ("validation", "test")


@dataclass(frozen=True)
class SepStudySettings:
    """The SEP experiment: SEP (``lib.sep``) on top of ``base`` adversarial training, with noise ``sigma``,
    ``samples`` draws and explanation ``method``. ``lambdas`` per experiment is the lambda sweep (first seed;
    lambda = 0 is the base model of the robustness sweep). SEP_pos and SEP_neg for the main table are the
    largest |lambda| of each sign that did not collapse and whose clean and PGD accuracy both stay within
    ``tolerance_points`` of the base model's (first seed); they are then trained with every seed.

    ``extra_experiments`` are studied by the SEP chapter only (e.g. a second architecture): not swept over
    beta, only their standard and base models are trained, every seed, beside the lambda sweep and SEP models.
    ``trades_experiments``: experiments of ``run`` whose SEP_pos and SEP_neg (chosen on ``base``) are also
    trained on the sweep's largest-beta TRADES model, every seed (SEP on a TRADES base).

    ``choose_on``: the images the choice rule reads accuracy (and chance-level collapse) on: 'validation'
    (images of the training pool the profile does not train on, as many as ``eval.n``; needs a number for
    ``data.n_train`` of every swept experiment), so that test accuracy and the attack pairs are untouched by
    the choice, or 'test' (the test subset). A reading only: it enters no store key."""

    base: str = "mat"
    sigma: float = 0.1
    samples: int = 1
    method: str = "gradient"
    lambdas: dict[str, tuple[float, ...]] = field(default_factory=dict)
    tolerance_points: float = 2.0
    choose_on: str = "validation"
    extra_experiments: tuple[str, ...] = ()
    trades_experiments: tuple[str, ...] = ()

    def validate(self, experiments: Mapping[str, Any], where: str = "sep") -> None:
        check(
            self.base in ("mat", "trades"),
            f"{where}.base",
            self.base,
            "'mat' or 'trades'",
        )
        SepConfig(
            lam=1.0, sigma=self.sigma, samples=self.samples, method=self.method
        ).validate(where)
        check(
            math.isfinite(self.tolerance_points) and self.tolerance_points >= 0,
            f"{where}.tolerance_points",
            self.tolerance_points,
            "a number >= 0",
        )
        check(
            self.choose_on in CHOICE_SPLITS,
            f"{where}.choose_on",
            self.choose_on,
            f"one of {CHOICE_SPLITS}",
        )
        whole_pool = [
            n
            for n in self.lambdas
            if n in experiments and experiments[n].data.n_train is None
        ]
        check(
            self.choose_on == "test" or not whole_pool,
            f"{where}.choose_on",
            self.choose_on,
            "'test' when an experiment with a lambda sweep trains on its whole training pool "
            f"(data.n_train null in {whole_pool}: no image is left for a validation split)",
        )
        for name, lams in self.lambdas.items():
            check(
                name in experiments,
                f"{where}.lambdas",
                name,
                f"names from {sorted(experiments)}",
            )
            check(
                all(math.isfinite(v) and v != 0 for v in lams),
                f"{where}.lambdas.{name}",
                lams,
                "finite, non-zero numbers (lambda = 0 is the base model itself)",
            )
            check_distinct(lams, f"{where}.lambdas.{name}")
        check_distinct(self.extra_experiments, f"{where}.extra_experiments")
        check_distinct(self.trades_experiments, f"{where}.trades_experiments")
        for name in self.extra_experiments:
            check(
                name in self.lambdas,
                f"{where}.extra_experiments",
                name,
                f"experiments with a lambda sweep in {where}.lambdas ({sorted(self.lambdas)})",
            )
        for name in self.trades_experiments:
            check(
                name in self.lambdas,
                f"{where}.trades_experiments",
                name,
                f"experiments with a lambda sweep in {where}.lambdas ({sorted(self.lambdas)})",
            )
        check(
            self.base == "mat" or not self.trades_experiments,
            f"{where}.trades_experiments",
            list(self.trades_experiments),
            "empty when the base is already TRADES",
        )


@dataclass(frozen=True)
class DriversSettings:
    """What drives explanation robustness (the curvature chapter). ``second_beta``: the softplus twin's
    second smoothing for the input-Hessian of the SEP models (the first is ``landscape.softplus_beta``).
    ``cross_method``: the explanation method of the cross-method SEP models, trained with the lambdas chosen
    for ``sep.method`` on ``cross_experiments`` (every seed) and attacked with every method of
    ``cross_attacks``. ``budget``: attack the sweep's and the SEP chapter's models inside the L-inf ball of
    their experiment's PGD radius as well (``sep.method`` only). ``start_share_threshold``: the paper's "driven
    by the start loss" agrees on a unit when the interval of log L_start's share of the between-model variance
    of log L_end lies above it (disagrees when below; a reading only, it enters no store key)."""

    second_beta: float = 100.0
    cross_method: str = "grad_x_input"
    cross_experiments: tuple[str, ...] = ()
    cross_attacks: tuple[str, ...] = ("gradient", "grad_x_input", "guided_backprop")
    budget: bool = True
    start_share_threshold: float = 0.5
    # Issue 30: log L_start = log concentration + log d; the start loss's share is "carried by" the MSE's
    # scale (concentration) or by the scale-free distance when the interval of the difference of their
    # shares lies beyond +-scale_zone, "by both" when it lies inside (a reading only, no store key).
    scale_zone: float = 0.1

    def validate(
        self,
        experiments: Mapping[str, Any],
        sep_lambdas: Mapping[str, Any],
        sep_method: str,
        first_beta: float,
        where: str = "drivers",
    ) -> None:
        check(
            math.isfinite(self.second_beta)
            and self.second_beta > 0
            and self.second_beta != first_beta,
            f"{where}.second_beta",
            self.second_beta,
            f"a finite number > 0 other than landscape.softplus_beta={first_beta}",
        )
        check(
            isinstance(self.start_share_threshold, (int, float))
            and 0 < self.start_share_threshold < 1,
            f"{where}.start_share_threshold",
            self.start_share_threshold,
            "a share strictly between 0 and 1",
        )
        check(
            isinstance(self.scale_zone, (int, float)) and 0 < self.scale_zone < 1,
            f"{where}.scale_zone",
            self.scale_zone,
            "a share strictly between 0 and 1",
        )
        check(
            self.cross_method in EXPLANATION_METHODS
            and self.cross_method != sep_method,
            f"{where}.cross_method",
            self.cross_method,
            f"one of {EXPLANATION_METHODS} other than sep.method={sep_method!r}",
        )
        for name in self.cross_experiments:
            check(
                name in sep_lambdas,
                f"{where}.cross_experiments",
                name,
                f"experiments with a lambda sweep in sep.lambdas ({sorted(sep_lambdas)})",
            )
        check(
            len(self.cross_attacks) > 0,
            f"{where}.cross_attacks",
            self.cross_attacks,
            "a non-empty list",
        )
        check_distinct(self.cross_experiments, f"{where}.cross_experiments")
        check_distinct(self.cross_attacks, f"{where}.cross_attacks")
        for m in self.cross_attacks:
            check(
                m in EXPLANATION_METHODS,
                f"{where}.cross_attacks",
                m,
                f"one of {EXPLANATION_METHODS}",
            )


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
    sep: SepStudySettings = field(default_factory=SepStudySettings)
    drivers: DriversSettings = field(default_factory=DriversSettings)
    experiments: dict[str, ExperimentConfig] = field(default_factory=dict)

    def validate(self) -> None:
        check(
            self.device == "auto"
            or self.device == "cpu"
            or self.device.startswith("cuda")
            or self.device == "mps",
            "device",
            self.device,
            "'auto', 'cpu', 'cuda', 'cuda:N' or 'mps'",
        )
        check(self.threads >= 1, "threads", self.threads, "an integer >= 1")
        check(len(self.seeds) > 0, "seeds", self.seeds, "a non-empty list of integers")
        check_distinct(self.seeds, "seeds")
        check_distinct(self.run, "run")
        for d in self.run:
            check(
                d in self.experiments,
                "run",
                d,
                f"names defined under experiments {sorted(self.experiments)}",
            )
        self.sweep.validate()
        self.manipulation.validate()
        self.prototypes.validate()
        self.landscape.validate()
        self.sep.validate(self.experiments)
        self.drivers.validate(
            self.experiments,
            self.sep.lambdas,
            self.sep.method,
            self.landscape.softplus_beta,
        )
        for v in self.prototypes.validation.experiments:
            check(
                v in self.experiments,
                "prototypes.validation.experiments",
                v,
                f"names from {sorted(self.experiments)} (an empty list: the first of run)",
            )
        for name, exp in self.experiments.items():
            exp.validate(f"experiments.{name}")

    def experiment(self, name: str) -> ExperimentConfig:
        check(
            name in self.experiments,
            "experiment",
            name,
            f"one of {sorted(self.experiments)}",
        )
        return self.experiments[name]


def _set_dotted(tree: dict, dotted: str, value: Any) -> None:
    parts = dotted.split(".")
    node = tree
    for i, p in enumerate(parts[:-1]):
        nxt = node.get(p)
        if nxt is None and p not in node:
            # Let from_dict report the unknown field with its full path.
            nxt = node[p] = {}
        if not isinstance(nxt, dict):
            raise ConfigError(
                f"override {dotted!r}: {'.'.join(parts[: i + 1])} is not a section"
            )
        node = nxt
    node[parts[-1]] = value


def unshared(tree: Any) -> Any:
    """A copy of plain YAML data in which no dict or list is reachable by two paths.

    YAML aliases (``train: *mnist_train``) load as one shared object, and ``copy.deepcopy`` keeps that
    sharing, so an override of one experiment's field would change every experiment that uses the anchor.
    Copied per path, each field is its own value and an override changes exactly the field it names."""
    if isinstance(tree, Mapping):
        return {k: unshared(v) for k, v in tree.items()}
    if isinstance(tree, (list, tuple)):
        return [unshared(v) for v in tree]
    return tree


def apply_overrides(tree: dict, overrides: Mapping[str, Any] | None) -> dict:
    """Merge overrides (dotted keys, or nested dicts that are merged key by key) into an unshared copy of
    ``tree`` (``unshared``: an override changes only the field it names, never an aliased twin)."""
    out = unshared(tree)
    for key, value in (overrides or {}).items():
        if isinstance(value, Mapping) and isinstance(_get_dotted(out, key), dict):
            for sub, v in _flatten(value).items():
                _set_dotted(out, f"{key}.{sub}", unshared(v))
        else:
            _set_dotted(out, key, unshared(value))
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


def load_profile(
    name: str = "smoke", overrides: Mapping[str, Any] | None = None
) -> Profile:
    """Read profile ``name`` (or a path to a YAML file), apply overrides, validate and return it."""
    path = Path(name)
    if not (path.suffix in (".yaml", ".yml") and path.exists()):
        path = PROFILE_DIR / f"{name}.yaml"
        if not path.exists():
            raise ConfigError(
                f"profile={name!r} is not allowed: expected one of {available_profiles()} "
                f"or a path to a YAML file"
            )
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

    if spec == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if spec.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(
            f"device={spec!r} is not allowed: CUDA is not available here (use 'auto' or 'cpu')"
        )
    return spec


def setup_runtime(profile: Profile) -> str:
    """Apply the profile's thread count, determinism settings and the allocator setting of
    ``lib.core.memory``; return the resolved device."""

    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    keep_freed_memory()  # freed tensors stay in the heap for the next step (lib.core.memory)
    torch.set_num_threads(profile.threads)
    device = resolve_device(profile.device)
    # Some CUDA kernels have no deterministic variant: warn there instead of failing, once per kernel and process
    # (ResNet-18's adaptive average pool would otherwise warn at every backward pass, into every chapter page).
    torch.use_deterministic_algorithms(True, warn_only=device.startswith("cuda"))
    if device.startswith("cuda"):
        warnings.filterwarnings(
            "once", message=".*does not have a deterministic implementation.*"
        )
    return device
