"""The event loop long-running commands (``serve``, ``worker``) run on.

uvloop (libuv) when it is installed, which it is wherever agentdown's own
dependencies are (not on Windows, where uvloop does not exist): measured with
``bench/agents_api.py`` it takes about a sixth off the server's CPU per request and
roughly doubles the requests one process answers at 50 concurrent clients.
``AGENTDOWN_EVENT_LOOP=asyncio`` picks the standard loop (for debugging, or to
compare); ``uvloop`` insists on uvloop.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Coroutine
from typing import Any, TypeVar

from agentdown.exceptions import ConfigurationError

__all__ = ["run"]

T = TypeVar("T")

_CHOICES = ("auto", "asyncio", "uvloop")


def run(main: Coroutine[Any, Any, T]) -> T:
    """``asyncio.run(main)`` on the chosen loop."""
    choice = (os.environ.get("AGENTDOWN_EVENT_LOOP") or "auto").strip().lower()
    if choice not in _CHOICES:
        main.close()
        raise ConfigurationError(f"AGENTDOWN_EVENT_LOOP must be one of {', '.join(_CHOICES)}, got {choice!r}")
    if choice != "asyncio":
        try:
            import uvloop
        except ImportError:
            if choice == "uvloop":
                main.close()
                raise ConfigurationError(
                    "AGENTDOWN_EVENT_LOOP=uvloop, but uvloop is not installed (pip install uvloop)"
                ) from None
        else:
            return uvloop.run(main)
    return asyncio.run(main)
