"""A list of the profile never repeats a value: a repeated seed, beta, lambda, experiment or method would
silently mean double work or a wrong count, so it is one ``ConfigError`` naming the field, the value and
what is allowed."""

from __future__ import annotations

import dataclasses
import typing

import pytest

from lib.core.errors import ConfigError
from lib.core.profile import Profile, check_distinct, load_profile

# every list field of a profile, with a repeat planted on the cpu profile
REPEATS = {
    "seeds": [0, 1, 0],
    "run": ["mnist", "mnist"],
    "sweep.betas": [0.0, 1, 1.0],
    "prototypes.methods": ["gradient", "gradient"],
    "prototypes.validation.experiments": ["mnist", "mnist"],
    "prototypes.validation.timing_pairs": [10, 10],
    "sep.lambdas.mnist": [4000.0, -3000, 4000],
    "sep.extra_experiments": ["mnist-resnet18", "mnist-resnet18"],
    "sep.trades_experiments": ["fashion-mnist", "fashion-mnist"],
    "drivers.cross_experiments": ["mnist", "mnist"],
    "drivers.cross_attacks": ["gradient", "gradient"],
}


def _list_fields(cls: type, prefix: str = "") -> set[str]:
    """The dotted names of every tuple-valued field of a settings dataclass (a dict of tuples by its key
    ``<name>``, as sep.lambdas)."""
    out = set()
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        tp, name = hints[f.name], f"{prefix}{f.name}"
        origin, args = typing.get_origin(tp), typing.get_args(tp)
        if dataclasses.is_dataclass(tp):
            out |= _list_fields(tp, name + ".")
        elif origin is tuple:
            out.add(name)
        elif origin is dict and typing.get_origin(args[1]) is tuple:
            out.add(name + ".<name>")
    return out


def test_every_list_of_a_profile_is_checked_for_repeats():
    """A new list field fails here until it is checked and planted below."""
    covered = {k if k != "sep.lambdas.mnist" else "sep.lambdas.<name>" for k in REPEATS}
    assert _list_fields(Profile) == covered


@pytest.mark.parametrize("field", sorted(REPEATS))
def test_a_repeated_value_is_one_clear_error(field):
    with pytest.raises(ConfigError) as err:
        load_profile("cpu", {field: REPEATS[field]})
    msg = str(err.value)
    assert "\n" not in msg
    assert msg.startswith(f"{field}=[")  # the field and the whole list
    assert "expected a list without repeats" in msg
    assert "is listed 2 times" in msg


def test_the_issue_examples_name_the_repeated_value():
    with pytest.raises(
        ConfigError, match=r"^seeds=\[0, 0\] is not allowed: .*\(0 is listed 2 times\)"
    ):
        load_profile("cpu", {"seeds": [0, 0]})
    # 1 and 1.0 are the same beta
    with pytest.raises(
        ConfigError, match=r"^sweep.betas=\[1.0, 1.0\] .*\(1.0 is listed 2 times\)"
    ):
        load_profile("smoke", {"sweep.betas": [1, 1.0]})


def test_distinct_lists_pass_and_the_shipped_profiles_load():
    check_distinct((0, 1, 2), "seeds")
    check_distinct((), "run")
    with pytest.raises(ConfigError, match=r"\('a' is listed 3 times\)"):
        check_distinct(("a", "b", "a", "a"), "run")
    for name in ("smoke", "cpu", "paper"):
        p = load_profile(name)
        assert len(set(p.seeds)) == len(p.seeds) >= 1
    assert load_profile("cpu", {"seeds": [2, 0, 1]}).seeds == (2, 0, 1)
