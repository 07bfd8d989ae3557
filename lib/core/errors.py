"""The errors bad input raises, at the bottom of the library so that every floor can raise them.

Each is shown to a user as one line (``lib.pipeline.cli.user_errors``): the parameter, the value and what is allowed.
"""

from __future__ import annotations

from typing import Any


class ConfigError(ValueError):
    """A configuration value that is unknown, of the wrong type or out of range."""


class DataNotFoundError(FileNotFoundError):
    """A dataset that is neither on disk nor downloadable."""


class StoreError(RuntimeError):
    """A store entry that cannot be used: a config mismatch or an unreadable file."""


class TrainingDivergedError(RuntimeError):
    """A non-finite loss during training."""


USER_ERRORS = (ConfigError, DataNotFoundError, StoreError, TrainingDivergedError)


def check(ok: bool, name: str, value: Any, allowed: str) -> None:
    """Raise ``ConfigError("<name>=<value> is not allowed: expected <allowed>")`` unless ``ok``."""
    if not ok:
        raise ConfigError(f"{name}={value!r} is not allowed: expected {allowed}")
