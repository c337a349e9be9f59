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
"""

from __future__ import annotations

import importlib.util
import sys
import threading
from types import ModuleType

__all__ = ["lazy_module"]

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
