"""Argument validation shared by :class:`FunctionTool` and the invocation pipeline.

Validation errors are written for the model: one line per problem with the path
of the offending field, so it can correct its call.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ValidationError

from agentdown.exceptions import ConfigurationError, ToolError

if TYPE_CHECKING:
    from jsonschema.protocols import Validator

__all__ = [
    "JsonSchemaValidator",
    "ModelArguments",
    "SchemaArguments",
    "ToolArgumentsError",
    "format_pydantic_error",
    "protocol_tool_validator",
]

_MAX_LINES = 12


class ToolArgumentsError(ToolError):
    """The model's arguments did not match the tool's schema; the tool did not run.

    The message (always shown to the model) lists every problem with its field path.
    """


def _path(parts: Iterable[Any]) -> str:
    out = ""
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(arguments)"


def _truncate(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _short(value: Any, limit: int = 80) -> str:
    return _truncate(repr(value), limit)


def _message(tool_name: str, lines: list[str]) -> str:
    if len(lines) > _MAX_LINES:
        lines = [*lines[:_MAX_LINES], f"... and {len(lines) - _MAX_LINES} more"]
    body = "\n".join(f"- {line}" for line in lines)
    return f"invalid arguments for tool '{tool_name}':\n{body}\nCall the tool again with corrected arguments."


def format_pydantic_error(tool_name: str, exc: ValidationError) -> str:
    """One line per pydantic error: ``path: message (got <input>)``."""
    lines = []
    for err in exc.errors(include_url=False):
        line = f"{_path(err['loc'])}: {err['msg']}"
        if err["type"] not in ("missing", "extra_forbidden"):
            line += f" (got {_short(err.get('input'))})"
        lines.append(line)
    return _message(tool_name, lines)


def _compile(schema: Mapping[str, Any], label: str) -> Validator:
    import jsonschema  # here: a third of the tools' import time, needed only once a tool has a schema

    cls = jsonschema.validators.validator_for(schema, default=jsonschema.Draft202012Validator)
    try:
        cls.check_schema(dict(schema))
    except jsonschema.SchemaError as exc:
        raise ConfigurationError(
            f"the parameters schema of {label} is not valid JSON Schema: {exc.message}"
        ) from exc
    return cls(dict(schema))


class JsonSchemaValidator:
    """A compiled JSON-Schema validator for tool arguments."""

    __slots__ = ("_validator",)

    def __init__(self, schema: Mapping[str, Any], label: str) -> None:
        self._validator = _compile(schema, label)

    def validate(self, tool_name: str, arguments: Mapping[str, Any]) -> None:
        """Raise :class:`ToolArgumentsError` listing every violation."""
        errors = list(self._validator.iter_errors(arguments))
        if errors:
            errors.sort(key=lambda e: [str(p) for p in e.absolute_path])
            lines = [f"{_path(e.absolute_path)}: {_truncate(e.message, 200)}" for e in errors]
            raise ToolArgumentsError(_message(tool_name, lines))


class _ValidatorCache:
    """Compiled validators of protocol tools, compiled once per tool and schema.

    Keyed by ``id(tool)`` because protocol tools need not be hashable or weakly
    referenceable; each entry holds the tool, so an id cannot be reused while its
    entry lives, and the LRU bound keeps short-lived tools from accumulating.
    """

    def __init__(self, size: int = 512) -> None:
        self._size = size
        self._entries: OrderedDict[int, tuple[object, object, JsonSchemaValidator]] = OrderedDict()

    def get(self, tool: Any) -> JsonSchemaValidator:
        params = tool.parameters
        key = id(tool)
        entry = self._entries.get(key)
        if entry is not None and entry[0] is tool and (entry[1] is params or entry[1] == params):
            self._entries.move_to_end(key)
            return entry[2]
        validator = JsonSchemaValidator(params, f"tool '{tool.name}' ({type(tool).__name__})")
        self._entries[key] = (tool, params, validator)
        if len(self._entries) > self._size:
            self._entries.popitem(last=False)
        return validator


_cache = _ValidatorCache()


def protocol_tool_validator(tool: Any) -> JsonSchemaValidator:
    """The cached validator for ``tool.parameters``."""
    return _cache.get(tool)


class ModelArguments:
    """Validates with a pydantic model; keys are JSON names, values are coerced Python values."""

    __slots__ = ("fields", "model")

    def __init__(self, model: type[BaseModel], fields: list[tuple[str, str]]) -> None:
        self.model = model
        self.fields = fields
        """``(json name, pydantic field name)`` pairs."""

    def validate(self, tool_name: str, arguments: Mapping[str, Any]) -> dict[str, Any]:
        try:
            instance = self.model.model_validate(arguments)
        except ValidationError as exc:
            raise ToolArgumentsError(format_pydantic_error(tool_name, exc)) from None
        values = instance.__dict__
        out = {json_name: values[field] for json_name, field in self.fields}
        if instance.__pydantic_extra__:  # an explicit model with extra="allow"
            out.update(instance.__pydantic_extra__)
        return out


class SchemaArguments:
    """Validates with a JSON Schema; the arguments are passed on unchanged."""

    __slots__ = ("validator",)

    def __init__(self, validator: JsonSchemaValidator) -> None:
        self.validator = validator

    def validate(self, tool_name: str, arguments: Mapping[str, Any]) -> dict[str, Any]:
        self.validator.validate(tool_name, arguments)
        return dict(arguments)
