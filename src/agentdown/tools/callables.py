"""Name, docstring and sync/async nature of any callable a user turns into a tool."""

from __future__ import annotations

import functools
import inspect
import re
from collections.abc import Callable
from typing import Any

__all__ = ["callable_identity", "is_async_callable"]


def _snake_case(name: str) -> str:
    name = re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "_", name)
    return re.sub(r"[^A-Za-z0-9_-]+", "_", name).strip("_").lower()


def callable_identity(func: Callable[..., Any]) -> tuple[str, str | None, str]:
    """``(name, docstring, label for errors)`` of a callable."""
    target: Any = func
    while isinstance(target, functools.partial):
        target = target.func
    if isinstance(target, type):
        raise TypeError(
            f"{target.__qualname__} is a class, not a tool function; pass an instance "
            "(its __call__ becomes the tool) or a function"
        )
    if inspect.isroutine(target):
        qualname = getattr(target, "__qualname__", target.__name__)
        label = f"'{qualname}'"
        if target is func and inspect.isfunction(target) and _looks_unbound(target, qualname):
            raise TypeError(
                f"tool function {label} is a method that is not bound to an instance (its first "
                f"parameter is 'self'); pass the bound method instead: tool(instance.{target.__name__})"
            )
        return target.__name__, target.__doc__, label
    # A callable instance: the class names the tool; its docstrings describe it.
    cls = type(target)
    doc = getattr(cls.__call__, "__doc__", None) or cls.__doc__
    return _snake_case(cls.__name__), doc, f"'{cls.__qualname__}' instance"


def _looks_unbound(func: Callable[..., Any], qualname: str) -> bool:
    # `Class.method` (also `f.<locals>.Class.method`), not `f.<locals>.inner`.
    parts = qualname.split(".")
    if len(parts) < 2 or parts[-2] == "<locals>":
        return False
    params = list(inspect.signature(func).parameters)
    return bool(params) and params[0] == "self"


def is_async_callable(func: Callable[..., Any]) -> bool:
    """Whether calling ``func`` returns a coroutine (async function, partial, or async ``__call__``)."""
    if inspect.iscoroutinefunction(func):
        return True
    target: Any = func
    while isinstance(target, functools.partial):
        target = target.func
    return not inspect.isroutine(target) and inspect.iscoroutinefunction(type(target).__call__)
