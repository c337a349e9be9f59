"""Heavy dependencies imported on first use, to keep them off a cold start's import path.

An Azure Functions worker imports ``function_app`` (and so all of agentdown's loading code)
before the first invocation, on every cold start; ``aiohttp`` alone was a quarter of that
for an app of 20 agents, though nothing is contacted until a model is called. A module
that needs it at run time only writes::

    if TYPE_CHECKING:
        import aiohttp
    else:
        aiohttp = lazy_module("aiohttp")

and the real import happens on the first attribute read (``aiohttp.ClientSession``, an
``except aiohttp.ClientError``). Top-level packages only: ``from x.y import z`` imports ``x``.

A package that re-exports names from its submodules without importing them all up front
binds ``__getattr__ = lazy_exports(__name__, {"Name": "submodule", ...})`` (PEP 562).
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import threading
from collections.abc import Callable, Mapping
from types import ModuleType
from typing import Any

__all__ = ["lazy_exports", "lazy_module"]

_lock = threading.Lock()


def lazy_module(name: str) -> ModuleType:
    """The module ``name``, executed when first used (already imported: the module itself)."""
    with _lock:
        found = sys.modules.get(name)
        if found is not None:
            return found
        spec = importlib.util.find_spec(name)
        if spec is None or spec.loader is None:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        loader = importlib.util.LazyLoader(spec.loader)
        spec.loader = loader
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        loader.exec_module(module)
        return module


def lazy_exports(package: str, homes: Mapping[str, str]) -> Callable[[str], Any]:
    """A module ``__getattr__`` for ``package`` that imports each name's home on first use.

    ``homes`` maps an exported name to the module defining it: a dotted absolute name
    (``"agentdown.sessions.sqlite"``) or a submodule of ``package`` (``"sqlite"``). The value
    is then bound in the package, so later reads are plain attribute lookups.
    """
    targets = {name: home if "." in home else f"{package}.{home}" for name, home in homes.items()}

    def __getattr__(name: str) -> Any:
        home = targets.get(name)
        if home is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(home), name)
        setattr(sys.modules[package], name, value)
        return value

    return __getattr__
