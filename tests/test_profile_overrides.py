"""An override changes exactly the field it names: the profiles share settings through YAML anchors
(``train: *mnist_train``), and every field reachable through an alias is planted with an override on each
of its paths, in each profile, to check that no other field of any experiment or study moved."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from lib.core.errors import ConfigError
from lib.core.profile import PROFILE_DIR, load_profile, unshared
from lib.core.schema import to_dict
from lib.core.settings import DATASETS

PROFILES = ("smoke", "cpu", "paper")


def _leaves(tree: Any, path: str = "") -> dict[str, Any]:
    """Every leaf of plain data by its dotted path (lists count as one leaf)."""
    if isinstance(tree, dict) and tree:
        out: dict[str, Any] = {}
        for k, v in tree.items():
            out.update(_leaves(v, f"{path}.{k}" if path else str(k)))
        return out
    return {path: tree}


def anchored_fields(name: str) -> list[str]:
    """The dotted path of every leaf reachable through a YAML alias in profile ``name``, on each of its
    paths (the anchor's and every alias's): the fields an override used to change in several places."""
    raw = yaml.safe_load((PROFILE_DIR / f"{name}.yaml").read_text())
    paths: dict[int, list[str]] = {}
    nodes: dict[int, Any] = {}

    def walk(node: Any, path: str) -> None:
        if isinstance(node, (dict, list)):
            paths.setdefault(id(node), []).append(path)
            nodes[id(node)] = node
        if isinstance(node, dict):
            for k, v in node.items():
                walk(v, f"{path}.{k}" if path else str(k))

    walk(raw, "")
    out = []
    for key, where in paths.items():
        if len(where) > 1 and isinstance(nodes[key], dict):
            for prefix in where:
                out += [f"{prefix}.{leaf}" for leaf in _leaves(nodes[key])]
    # a shared dict inside a shared dict (none today) would list its leaves twice
    return sorted(set(out))


def _candidates(field: str, value: Any) -> list[Any]:
    """Other values for a field, in order of preference; the first that the profile accepts is planted."""
    if isinstance(value, bool):
        return [not value]
    if isinstance(value, int):
        return [value + 1, value - 1, value * 2]
    if isinstance(value, float):
        return [value * 1.5, value / 2, value + 1.0]
    if value is None:
        return [100, 1]
    if field.endswith("data.name"):
        return [d for d in DATASETS if d != value]
    raise AssertionError(f"no other value to plant for {field}={value!r}")


def _flat(profile) -> dict[str, Any]:
    return _leaves(to_dict(profile))


def _plant(name: str, field: str, value: Any):
    """The profile with ``field`` overridden by the first other value it accepts, and that value."""
    for other in _candidates(field, value):
        try:
            return load_profile(name, {field: other}), other
        except ConfigError:
            continue
    raise AssertionError(f"{name}: no candidate value for {field} is accepted")


def _sections(experiments: tuple[str, ...], parts: tuple[str, ...]) -> set:
    return {(e, p) for e in experiments for p in parts}


# The (experiment, section) pairs each profile shares through aliases today; a new anchor fails here first,
# so that the list of covered fields stays the one stated.
ANCHORED = {
    "smoke": _sections(("digits", "digits-resnet18"), ("data", "train", "eval")),
    "cpu": _sections(("mnist", "mnist-resnet18"), ("data", "train", "eval")),
    "paper": _sections(
        ("mnist", "mnist-resnet18", "cifar10", "cifar10-resnet18"), ("train", "eval")
    ),
}


@pytest.mark.parametrize("name", PROFILES)
def test_the_anchored_sections_are_the_known_ones(name):
    fields = anchored_fields(name)
    assert {tuple(f.split(".")[1:3]) for f in fields} == ANCHORED[name]
    if name == "cpu":  # the README's example and the are among them
        assert "experiments.mnist.train.epochs" in fields
        assert "experiments.mnist-resnet18.eval.attack.eps" in fields


@pytest.mark.parametrize("name", PROFILES)
def test_an_override_on_an_anchored_field_changes_only_that_field(name):
    base = _flat(load_profile(name))
    fields = anchored_fields(name)
    assert (
        len(fields) >= 40
    )  # both paths of data, train and eval (paper: train and eval)
    for field in fields:
        planted, value = _plant(name, field, base[field])
        after = _flat(planted)
        moved = sorted(k for k in base if after[k] != base[k])
        assert moved == [field], f"{name}: --set {field}={value!r} moved {moved}"
        assert after[field] == value


def test_the_readme_example_trains_only_mnist_longer():
    """Known answer: cpu trains every experiment 6 epochs; the README's override makes mnist's 10."""
    for overrides in (
        {"experiments.mnist.train.epochs": 10},
        {"experiments.mnist.train": {"epochs": 10}},
        {"experiments": {"mnist": {"train": {"epochs": 10}}}},
    ):
        p = load_profile("cpu", overrides)
        epochs = {n: e.train.epochs for n, e in p.experiments.items()}
        assert epochs == {
            "mnist": 10,
            "mnist-resnet18": 6,
            "fashion-mnist": 6,
            "cifar10": 10,  # its own setting, not the override
        }, overrides


def test_unshared_copies_every_alias_apart():
    shared = {"eps": 0.3}
    tree = {"a": {"attack": shared, "list": [shared]}, "b": {"attack": shared}}
    out = unshared(tree)
    assert out == tree
    out["a"]["attack"]["eps"] = 0.1
    assert out["b"]["attack"]["eps"] == 0.3 and out["a"]["list"][0]["eps"] == 0.3
    assert shared == {"eps": 0.3}  # the input is left alone
