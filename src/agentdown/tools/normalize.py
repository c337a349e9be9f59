"""Turning whatever a user passes as ``tools=`` into a list of :class:`Tool` objects.

Every item either becomes a tool or is refused with a ``TypeError`` that says
exactly why; nothing is dropped. Accepted, in this order:

* a :class:`FunctionTool`, or any object satisfying the :class:`Tool` protocol
  (``name: str``, ``description: str``, ``parameters: dict``, callable ``invoke``)
  - kept as is, whatever its class;
* an OpenAI-style function dict (``{"type": "function", "function": {...}}`` or the
  flat ``{"name", "description", "parameters"}``) - a declaration-only tool;
* lists, tuples, sets and iterators of items - flattened;
* an object with ``as_tool()`` (an agent) - what it returns;
* an object with ``get_tools()`` (a toolset) - each tool it returns;
* a function, bound method, ``functools.partial`` or callable object - a
  :class:`FunctionTool`.

An object that has an ``invoke`` attribute is taken to mean the protocol: if it
does not satisfy it, it is refused rather than wrapped as a callable.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any, cast

from agentdown.exceptions import ConfigurationError
from agentdown.tools.function import FunctionTool
from agentdown.tools.protocol import Tool, check_tool_name

if TYPE_CHECKING:
    from agentdown.models.base import ToolDefinition

__all__ = ["normalize_tools", "protocol_problems", "tool_definition"]

_MISSING: Any = object()
_DICT_KEYS = frozenset({"name", "description", "parameters", "strict"})
_PROTOCOL = (
    "a tool is a FunctionTool, a function or callable object, an OpenAI function dict, or any object with "
    "`name: str`, `description: str`, `parameters: dict` and a callable `invoke(arguments, context)`"
)


def _repr(obj: object, limit: int = 120) -> str:
    try:
        text = repr(obj)
    except Exception:
        text = f"<{type(obj).__qualname__} object>"
    return text if len(text) <= limit else text[: limit - 3] + "..."


def protocol_problems(obj: object) -> list[str]:
    """What keeps ``obj`` from satisfying the :class:`Tool` protocol (empty: nothing)."""
    problems: list[str] = []
    for attr, expected in (("name", str), ("description", str), ("parameters", dict)):
        try:
            value = getattr(obj, attr, _MISSING)
        except Exception as exc:
            problems.append(f"reading `{attr}` raised {type(exc).__name__}: {exc}")
            continue
        if value is _MISSING:
            problems.append(f"lacks `{attr}`")
        elif not isinstance(value, expected):
            problems.append(f"has `{attr}` of type {type(value).__name__} (expected {expected.__name__})")
    invoke = getattr(obj, "invoke", _MISSING)
    if invoke is _MISSING:
        problems.append("lacks `invoke`")
    elif not callable(invoke):
        problems.append(f"has `invoke` of type {type(invoke).__name__} (expected a method)")
    return problems


def _refuse(obj: object, problems: list[str]) -> TypeError:
    if isinstance(obj, type):
        problems = ["is a class (pass an instance)", *problems]
    detail = "; it " + ", ".join(problems) if problems else ""
    return TypeError(f"{_repr(obj)} ({type(obj).__qualname__}) is not a tool{detail}. {_PROTOCOL}.")


def _from_dict(raw: Mapping[Any, Any]) -> FunctionTool:
    spec: Mapping[Any, Any] = raw
    kind = raw.get("type")
    if kind == "function" and isinstance(raw.get("function"), Mapping):
        spec = raw["function"]
        outer_extra = set(raw) - {"type", "function"}
    elif kind is None or kind == "function":
        outer_extra = set()
        spec = {k: v for k, v in raw.items() if k != "type"}
    else:
        raise TypeError(
            f"tool dict {_repr(raw)} has type {kind!r}; only OpenAI function tools "
            '({"type": "function", "function": {"name", "description", "parameters"}}) are supported'
        )
    unknown = sorted(map(str, (set(spec) - _DICT_KEYS) | outer_extra))
    if "name" not in spec or unknown:
        problem = f"has unknown key(s) {', '.join(unknown)}" if unknown else "lacks 'name'"
        raise TypeError(
            f"tool dict {_repr(raw)} {problem}; expected an OpenAI function tool with "
            "name, description and parameters"
        )
    description = spec.get("description", "")
    parameters = spec.get("parameters")
    if not isinstance(description, str) or not isinstance(parameters, (Mapping, type(None))):
        raise TypeError(
            f"tool dict {_repr(raw)}: description must be a string and parameters a JSON Schema object"
        )
    extra = {"strict": spec["strict"]} if "strict" in spec else None
    return FunctionTool(
        None, name=spec["name"], description=description, schema=parameters, additional_properties=extra
    )


def _expand(item: object) -> Iterator[tuple[object, Tool]]:
    """``(what the user passed, the tool)`` pairs for one item."""
    if item is None:
        raise TypeError(f"None is not a tool; {_PROTOCOL}")
    if isinstance(item, FunctionTool):
        yield item, item
        return
    if hasattr(item, "invoke"):
        problems = protocol_problems(item)
        if problems:
            raise _refuse(item, problems)
        tool = cast(Tool, item)
        check_tool_name(tool.name, f"tool {_repr(item)}")
        yield item, tool
        return
    if isinstance(item, Mapping):
        yield item, _from_dict(item)
        return
    if isinstance(item, (str, bytes)):
        raise TypeError(
            f"{_repr(item)} ({type(item).__name__}) is not a tool: tools are not looked up by name here; "
            "pass the function or tool object itself"
        )
    if isinstance(item, (list, tuple, set, frozenset, Iterator)):
        for sub in item:
            yield from _expand(sub)
        return
    as_tool = getattr(item, "as_tool", None)
    if callable(as_tool):
        for _, tool in _expand(as_tool()):
            yield item, tool
        return
    get_tools = getattr(item, "get_tools", None)
    if callable(get_tools):
        for _, tool in _expand(list(get_tools())):
            yield item, tool
        return
    if callable(item):
        yield item, FunctionTool(item)
        return
    raise _refuse(item, protocol_problems(item))


def normalize_tools(items: object) -> list[Tool]:
    """The tools for ``items``: one item, an iterable of items, or ``None`` (no tools).

    Raises ``TypeError`` for anything that is not a tool (naming what it lacks),
    ``ValueError`` for an invalid tool name, and
    :class:`~agentdown.exceptions.ConfigurationError` when two tools share a name.
    Converting a plain function builds its schema, so call this once when an agent
    is built, not per run.
    """
    if items is None:
        return []
    tools: list[Tool] = []
    sources: dict[str, object] = {}
    for source, tool in _expand(items):
        if tool.name in sources:
            first = sources[tool.name]
            same = " (the same object twice)" if first is source else ""
            raise ConfigurationError(
                f"two tools are named '{tool.name}': {_repr(first)} and {_repr(source)}{same}; "
                "tool names must be unique (pass name=... to rename one)"
            )
        sources[tool.name] = source
        tools.append(tool)
    return tools


def tool_definition(tool: Tool) -> ToolDefinition:
    """What a model is told about ``tool`` (its ``parameters`` dict is shared, not copied)."""
    # Imported here: agentdown.models may itself import agentdown.tools.
    from agentdown.models.base import ToolDefinition

    return ToolDefinition(name=tool.name, description=tool.description, parameters=tool.parameters)
