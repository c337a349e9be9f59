"""Result references in task arguments: ``${node_id.result}``, ``${node_id.result.a.0.b}``, ``${item}``.

The grammar is the Azure Functions agents runtime's: a reference names an upstream task
and, optionally, a dotted path into its JSON result (list indexes are digits). A string
that is exactly one reference becomes the referenced value with its own type; a
reference inside a longer string is replaced by the value's text (strings as they are,
anything else as JSON). Any other ``${...}`` is an error rather than left in place, so a
typo never reaches a tool as literal text.

``${item}`` / ``${item.path}`` (the current element of a ``for_each`` task) is
agentdown's addition.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from agentdown.exceptions import AgentdownError

__all__ = [
    "ITEM",
    "MAX_VALUE_DEPTH",
    "Reference",
    "ReferenceSyntaxError",
    "TemplateResolutionError",
    "format_path",
    "lookup",
    "parse_reference",
    "references_in",
    "resolve_value",
    "walk_strings",
]

ITEM = "item"
"""The name ``for_each`` tasks use for their current element (``${item}``)."""

MAX_VALUE_DEPTH = 32
"""How deeply arguments may nest; deeper values are refused instead of walked."""

_SEGMENT = r"[A-Za-z0-9_-]+"
_NODE_REF = re.compile(rf"({_SEGMENT})\.result((?:\.{_SEGMENT})*)")
_ITEM_REF = re.compile(rf"{ITEM}((?:\.{_SEGMENT})*)")


class ReferenceSyntaxError(AgentdownError, ValueError):
    """A ``${...}`` in a plan that is not a well-formed reference; the model reads the message."""


class TemplateResolutionError(AgentdownError, ValueError):
    """A reference that could not be resolved while the workflow ran; the task fails with this message."""


@dataclass(frozen=True, slots=True)
class Reference:
    """One parsed ``${...}``."""

    node: str | None
    """The referenced task id; ``None`` for ``${item}``."""
    path: tuple[str, ...]
    """The dotted path after ``result`` (or after ``item``)."""
    text: str
    """The reference as written, for messages."""


def parse_reference(inner: str) -> Reference:
    """The reference whose text between ``${`` and ``}`` is ``inner``."""
    text = "${" + inner + "}"
    node = _NODE_REF.fullmatch(inner)
    if node is not None:
        return Reference(node.group(1), tuple(filter(None, node.group(2).split("."))), text)
    item = _ITEM_REF.fullmatch(inner)
    if item is not None:
        return Reference(None, tuple(filter(None, item.group(1).split("."))), text)
    raise ReferenceSyntaxError(
        f"malformed template reference {text!r}: expected ${{node_id.result}} or ${{node_id.result.path}}"
    )


def _spans(text: str) -> Iterator[tuple[int, int, Reference]]:
    """Every reference in ``text`` with its span; a ``${`` never closed is an error."""
    pos = 0
    while (start := text.find("${", pos)) != -1:
        end = text.find("}", start + 2)
        if end == -1:
            raise ReferenceSyntaxError(
                f"unterminated template reference {text[start : start + 40]!r}: missing '}}'"
            )
        yield start, end + 1, parse_reference(text[start + 2 : end])
        pos = end + 1


def references_in(text: str) -> list[Reference]:
    """The references in one string (``ReferenceSyntaxError`` on the first malformed one)."""
    return [ref for _, _, ref in _spans(text)]


def walk_strings(value: Any) -> Iterator[tuple[tuple[str | int, ...], str]]:
    """Every string inside ``value`` with its path; iterative and depth-bounded."""
    stack: list[tuple[tuple[str | int, ...], Any]] = [((), value)]
    while stack:
        path, current = stack.pop()
        if len(path) > MAX_VALUE_DEPTH:
            raise ReferenceSyntaxError(f"value nests deeper than {MAX_VALUE_DEPTH} levels")
        if isinstance(current, str):
            yield path, current
        elif isinstance(current, Mapping):
            stack.extend(((*path, str(k)), v) for k, v in reversed(list(current.items())))
        elif isinstance(current, list):
            stack.extend(((*path, i), v) for i, v in reversed(list(enumerate(current))))


def format_path(root: str, path: tuple[str | int, ...]) -> str:
    """``args.a[0].b`` for messages."""
    return root + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in path)


def _follow(ref: Reference, value: Any) -> Any:
    for i, segment in enumerate(ref.path):
        if value is None and ref.node is not None and i == 0:
            return None
        if isinstance(value, Mapping):
            if segment not in value:
                raise TemplateResolutionError(
                    f"template path {ref.text} failed at segment {segment!r}: key not present"
                )
            value = value[segment]
        elif isinstance(value, list):
            if not segment.isdigit():
                raise TemplateResolutionError(
                    f"template path {ref.text} failed at segment {segment!r}: list index must be an integer"
                )
            if int(segment) >= len(value):
                raise TemplateResolutionError(
                    f"template path {ref.text} failed at segment {segment!r}: index out of range"
                )
            value = value[int(segment)]
        else:
            where = ".".join(ref.path[:i]) or "<root>"
            raise TemplateResolutionError(
                f"template path {ref.text} failed at segment {segment!r}: value at {where} is not a dict or list"
            )
    return value


def lookup(ref: Reference, results: Mapping[str, Any], item: Any = None) -> Any:
    """The value ``ref`` names.

    A task that finished without a result (skipped, or failed with ``continue_on_error``)
    is in ``results`` as ``None``; every path into it is ``None`` too, so a downstream
    task can test for it instead of failing.
    """
    if ref.node is None:
        return _follow(ref, item)
    if ref.node not in results:
        raise TemplateResolutionError(
            f"template references {ref.node!r} but no result is available (upstream task hasn't completed)"
        )
    return _follow(ref, results[ref.node])


def _resolve_string(text: str, results: Mapping[str, Any], item: Any) -> Any:
    spans = list(_spans(text))
    if not spans:
        return text
    if len(spans) == 1 and spans[0][0] == 0 and spans[0][1] == len(text):
        return lookup(spans[0][2], results, item)
    out: list[str] = []
    pos = 0
    for start, end, ref in spans:
        value = lookup(ref, results, item)
        out += [text[pos:start], value if isinstance(value, str) else json.dumps(value, sort_keys=True)]
        pos = end
    out.append(text[pos:])
    return "".join(out)


def resolve_value(value: Any, results: Mapping[str, Any], item: Any = None, _depth: int = 0) -> Any:
    """``value`` with every reference replaced (``TemplateResolutionError`` names the failing one)."""
    if _depth > MAX_VALUE_DEPTH:
        raise TemplateResolutionError(f"value nests deeper than {MAX_VALUE_DEPTH} levels")
    try:
        if isinstance(value, str):
            return _resolve_string(value, results, item)
    except ReferenceSyntaxError as exc:  # validation was bypassed: fail the task, not the process
        raise TemplateResolutionError(str(exc)) from None
    if isinstance(value, Mapping):
        return {k: resolve_value(v, results, item, _depth + 1) for k, v in value.items()}
    if isinstance(value, list):
        return [resolve_value(v, results, item, _depth + 1) for v in value]
    return value
