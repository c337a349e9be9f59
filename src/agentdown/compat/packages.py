"""Importing an app's ``tools/`` the way the Azure Functions agents runtime does.

While the modules are imported (:func:`tool_import_context`):

* ``tools/`` is first on ``sys.path``, so a tool module imports a helper beside it with
  ``from _helpers import x`` (the other runtime leaves it there; agentdown puts
  ``sys.path`` back and forgets those helper modules afterwards, so two apps with a
  ``_helpers.py`` each, or a reload, never see each other's);
* ``azure_functions_agents`` and ``agent_framework`` resolve even when they are not
  installed: each is then an alias module holding agentdown's own ``tool``,
  ``workflow_tool`` and ``FunctionTool`` (:mod:`agentdown.compat.tools`). An installed
  package is used as it is when the tools it makes satisfy agentdown's
  :class:`~agentdown.tools.Tool` protocol; otherwise the alias stands in front of it
  and every other name still comes from the real package.

Only the packages a tool module names are looked at, and ``sys.modules`` is restored
afterwards: nothing outside ``tools/`` ever sees an alias.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import os
import re
import sys
import types
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from agentdown.compat import tools as compat_tools
from agentdown.tools.normalize import protocol_problems

__all__ = ["ALIASED_PACKAGES", "referenced_packages", "tool_import_context"]


def _functions_agents() -> dict[str, Any]:
    return {
        "tool": compat_tools.functions_tool,
        "workflow_tool": compat_tools.workflow_tool,
        "FunctionTool": compat_tools.AgentFrameworkFunctionTool,
    }


def _agent_framework() -> dict[str, Any]:
    return {
        "tool": compat_tools.agent_framework_tool,
        "ai_function": compat_tools.agent_framework_tool,  # Agent Framework's name before `tool`
        "FunctionTool": compat_tools.AgentFrameworkFunctionTool,
    }


ALIASED_PACKAGES: dict[str, Callable[[], dict[str, Any]]] = {
    "azure_functions_agents": _functions_agents,
    "agent_framework": _agent_framework,
}
_IMPORT = re.compile(r"^\s*(?:from|import)\s+(" + "|".join(ALIASED_PACKAGES) + r")\b", re.MULTILINE)


def referenced_packages(sources: Iterable[str]) -> set[str]:
    """The aliased packages that these module sources import."""
    return {match.group(1) for text in sources for match in _IMPORT.finditer(text)}


def _probe() -> str:
    """Probe."""
    return ""


def _real_package_fits(name: str) -> types.ModuleType | bool | None:
    """``True``: use the installed package as is; a module: it is installed but its tools are not
    agentdown tools (the alias goes in front of it); ``None``: it is not installed."""
    try:
        if importlib.util.find_spec(name) is None:
            return None
        real = importlib.import_module(name)
    except Exception:  # a broken installation is as good as none: the alias is agentdown's own
        return None
    try:
        made = real.tool(_probe)
    except Exception:
        return real
    return True if not protocol_problems(made) else real


def _alias(name: str, real: types.ModuleType | None) -> types.ModuleType:
    module = types.ModuleType(name, f"agentdown's stand-in for {name} while an app's tools/ is imported")
    for attr, value in ALIASED_PACKAGES[name]().items():
        setattr(module, attr, value)
    module.__agentdown_alias__ = True  # type: ignore[attr-defined]
    if real is not None:

        def rest(attr: str) -> Any:
            return getattr(real, attr)

        module.__getattr__ = rest  # type: ignore[method-assign]
        module.__path__ = list(getattr(real, "__path__", []))
    return module


def _within(module: object, folder: str) -> bool:
    file = getattr(module, "__file__", None)
    return isinstance(file, str) and file.startswith(folder + os.sep)


@contextlib.contextmanager
def tool_import_context(tools_dir: Path, sources: Iterable[str], package: str) -> Iterator[set[str]]:
    """Import ``tools/`` modules inside this block; yields the names of the aliases installed.

    ``package`` is the name agentdown imports the tool modules under; they stay imported.
    """
    folder = str(tools_dir.resolve())
    saved_path = list(sys.path)
    before = set(sys.modules)
    saved: dict[str, types.ModuleType] = {}
    aliased: set[str] = set()
    for name in sorted(referenced_packages(sources)):
        fits = _real_package_fits(name)
        if fits is True:
            continue
        if name in sys.modules:
            saved[name] = sys.modules[name]
        sys.modules[name] = _alias(name, fits if isinstance(fits, types.ModuleType) else None)
        aliased.add(name)
    sys.path.insert(0, folder)
    importlib.invalidate_caches()
    try:
        yield aliased
    finally:
        sys.path[:] = saved_path
        for name in aliased:
            for key in [k for k in sys.modules if k == name or k.startswith(name + ".")]:
                if key not in before:
                    del sys.modules[key]
            if name in saved:
                sys.modules[name] = saved[name]
            else:
                sys.modules.pop(name, None)
        for key in [k for k in sys.modules if k not in before]:
            if not (key == package or key.startswith(package + ".")) and _within(sys.modules[key], folder):
                del sys.modules[key]  # a helper imported through sys.path: bound where it was used
