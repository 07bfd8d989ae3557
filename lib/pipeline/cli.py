"""What the command lines of the stages share: ``--profile`` and ``--set FIELD=YAML`` overrides, and a
one-line ``error: ...`` exit for bad input instead of a traceback."""

from __future__ import annotations

import argparse
import contextlib
from collections.abc import Iterator

import yaml

from lib.core.errors import USER_ERRORS
from lib.core.profile import Profile, load_profile, setup_runtime


def stage_parser(description: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--profile", default="cpu")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="FIELD=YAML",
        help="override a profile field, e.g. --set experiments.mnist.train.epochs=2",
    )
    return parser


def overrides_of(args: argparse.Namespace) -> dict:
    """The ``--set FIELD=YAML`` overrides as a dict."""
    return {
        field: yaml.safe_load(value)
        for field, _, value in (s.partition("=") for s in args.set)
    }


def load(args: argparse.Namespace) -> tuple[Profile, str]:
    """The profile with the ``--set`` overrides applied, and the device after runtime set-up."""
    profile = load_profile(args.profile, overrides_of(args))
    return profile, setup_runtime(profile)


@contextlib.contextmanager
def user_errors() -> Iterator[None]:
    """Turn the errors bad input raises into ``error: <one line>`` and a non-zero exit."""
    try:
        yield
    except USER_ERRORS as exc:
        raise SystemExit(f"error: {exc}") from None
