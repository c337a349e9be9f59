"""Reading settings from environment variables: one parser per kind of value.

Here, in the lowest layer that reads settings (the model providers do), so that the
models, the server and the CLI share one parser without importing each other. It
depends on nothing but :mod:`agentdown.exceptions`.
"""

from __future__ import annotations

from collections.abc import Mapping

from agentdown.exceptions import ConfigurationError

__all__ = ["positive_int", "positive_seconds"]


def positive_int(environ: Mapping[str, str], name: str, *, unit: str | None = None) -> int | None:
    """The variable ``name`` as an integer >= 1; ``None`` when unset or blank.

    Anything else (``0``, ``-3``, ``2.5``, ``many``) is a :class:`ConfigurationError`
    naming the variable and, when given, the ``unit`` the number counts.
    """
    raw = (environ.get(name) or "").strip()
    if not raw:
        return None
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if value <= 0:
        what = f"a positive whole number of {unit}" if unit else "a positive whole number"
        raise ConfigurationError(f"{name} must be {what}, got {raw!r}")
    return value


def positive_seconds(environ: Mapping[str, str], name: str, default: float) -> float:
    """The variable ``name`` as a finite number of seconds > 0; ``default`` when unset or blank.

    Anything else (``0``, ``-1``, ``inf``, ``soon``) is a :class:`ConfigurationError`
    naming the variable.
    """
    raw = (environ.get(name) or "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not value > 0 or value == float("inf"):
        raise ConfigurationError(f"{name} must be a number of seconds > 0, got {raw!r}")
    return value
