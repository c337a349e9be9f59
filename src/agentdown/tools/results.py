"""Turning a tool's return value into what the model reads.

The default serialisation:

* ``str`` as is; ``None`` as ``""`` (an empty result: "done, nothing to report";
  ``"null"`` reads like a failure to some models);
* a :class:`~agentdown.messages.Content` or a non-empty ``list[Content]``: kept as
  the result's ``items`` (images, files...), with the text parts joined as its text;
* pydantic models as ``model_dump_json()``;
* dicts, lists, tuples, numbers, booleans, dataclasses, enums and sets as compact
  JSON; values inside them without a JSON form (datetimes, UUIDs...) as their ``str``;
* anything else as ``str(value)``.

A tool's ``result_parser`` (a callable returning ``str`` or ``list[Content]``)
replaces this; :data:`SKIP_PARSING` passes strings and contents through and
serialises anything else as above.
"""

from __future__ import annotations

import base64
import dataclasses
import datetime
import enum
import json
from collections.abc import Callable
from typing import Any, Final, TypeAlias

from pydantic import BaseModel

from agentdown.messages import Content

__all__ = ["SKIP_PARSING", "ResultParser", "parse_tool_result", "serialize_result"]


class _SkipParsing:
    __slots__ = ()

    def __repr__(self) -> str:
        return "SKIP_PARSING"


SKIP_PARSING: Final = _SkipParsing()
"""``result_parser=SKIP_PARSING``: the return value is used as is (``str``,
``Content`` or ``list[Content]``); other values are serialised by default."""

ResultParser: TypeAlias = Callable[[Any], "str | list[Content]"]
ParsedResult: TypeAlias = tuple[str, list[Content] | None]


def _json_default(obj: Any) -> Any:
    if isinstance(obj, BaseModel):
        return obj.model_dump(mode="json")
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: getattr(obj, f.name) for f in dataclasses.fields(obj)}
    if isinstance(obj, enum.Enum):
        return obj.value
    if isinstance(obj, (datetime.datetime, datetime.date, datetime.time)):
        return obj.isoformat()
    if isinstance(obj, (set, frozenset)):
        return list(obj)
    if isinstance(obj, Content):
        return obj.to_dict()
    if isinstance(obj, (bytes, bytearray)):
        try:
            return bytes(obj).decode("utf-8")
        except UnicodeDecodeError:
            return base64.b64encode(obj).decode("ascii")
    return str(obj)


def _dumps(value: Any) -> str:
    return json.dumps(value, default=_json_default, separators=(",", ":"), ensure_ascii=False)


def _is_contents(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(v, Content) for v in value)


def _from_contents(items: list[Content]) -> ParsedResult:
    text = "\n".join(c.text for c in items if c.type == "text" and c.text)
    return text, list(items)


def serialize_result(value: Any) -> ParsedResult:
    """The default serialisation: ``(text, items)``; ``items`` is ``None`` unless contents."""
    if isinstance(value, str):
        # str.__str__ strips str subclasses (e.g. `class C(str, Enum)` whose str() is "C.X").
        return (value if type(value) is str else str.__str__(value)), None
    if value is None:
        return "", None
    if isinstance(value, Content):
        return _from_contents([value])
    if _is_contents(value):
        return _from_contents(value)
    if isinstance(value, BaseModel):
        return value.model_dump_json(), None
    if isinstance(value, (dict, list, tuple, int, float, set, frozenset, enum.Enum)) or (
        dataclasses.is_dataclass(value) and not isinstance(value, type)
    ):
        return _dumps(value), None
    return str(value), None


def parse_tool_result(value: Any, parser: ResultParser | _SkipParsing | None = None) -> ParsedResult:
    """Apply ``parser`` (a tool's ``result_parser``) or the default serialisation."""
    if parser is None or isinstance(parser, _SkipParsing):
        return serialize_result(value)
    out = parser(value)
    if isinstance(out, str):
        return out, None
    if isinstance(out, list) and all(isinstance(c, Content) for c in out):
        return _from_contents(out)
    raise TypeError(
        f"result_parser {parser!r} returned {type(out).__name__}; it must return str or list[Content]"
    )
