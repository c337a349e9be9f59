"""Structured output: a response format, the instructions it adds, and validation of answers."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ValidationError

from agentdown.exceptions import ConfigurationError

__all__ = ["JsonSchema", "OutputSpec", "OutputValidationError", "ResponseExample", "extract_json"]

_FENCE = re.compile(r"```(?:json|JSON)?\s*\n(.*?)\n?```", re.DOTALL)
_JSON_TYPES = {"object", "array", "string", "number", "integer", "boolean", "null"}


@dataclass(frozen=True, slots=True)
class ResponseExample:
    """An example JSON document the answer must resemble (``response_example`` in agent files).

    The schema is derived from it: same types, every key of each object required.
    """

    example: Any


@dataclass(frozen=True, slots=True)
class JsonSchema:
    """An explicit JSON Schema (a plain dict passed as ``response_format`` means the same)."""

    schema: dict[str, Any]
    name: str = "response"


class OutputValidationError(ValueError):
    """The answer is not valid JSON for the response format; the message is sent to the model."""


def schema_from_example(example: Any) -> dict[str, Any]:
    """A JSON Schema that documents shaped like ``example`` satisfy."""
    if isinstance(example, bool):
        return {"type": "boolean"}
    if isinstance(example, int):
        return {"type": "integer"}
    if isinstance(example, float):
        return {"type": "number"}
    if isinstance(example, str):
        return {"type": "string"}
    if example is None:
        return {}
    if isinstance(example, list):
        return {"type": "array", "items": schema_from_example(example[0])} if example else {"type": "array"}
    if isinstance(example, dict):
        return {
            "type": "object",
            "properties": {str(k): schema_from_example(v) for k, v in example.items()},
            "required": [str(k) for k in example],
        }
    raise ConfigurationError(f"response example must be JSON data, got {type(example).__name__}")


def strict_compatible(schema: Any) -> bool:
    """True when OpenAI's strict structured outputs accept ``schema`` as it is.

    Strict mode needs every object to list all its properties as required and to
    forbid others; a schema that leaves either open would be rejected (or silently
    changed in meaning), so it is sent without ``strict`` and validated here instead.
    """
    if isinstance(schema, list):
        return all(strict_compatible(item) for item in schema)
    if not isinstance(schema, dict):
        return True
    if schema.get("type") == "object" or "properties" in schema:
        properties = schema.get("properties")
        if not isinstance(properties, dict) or schema.get("additionalProperties") is not False:
            return False
        if set(schema.get("required") or ()) != set(properties):
            return False
    return all(strict_compatible(v) for k, v in schema.items() if k not in ("enum", "const", "default"))


_NAME_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")


def _format_name(name: str) -> str:
    """OpenAI's ``json_schema.name`` allows ``[A-Za-z0-9_-]{1,64}``."""
    return _NAME_UNSAFE.sub("_", name)[:64] or "response"


def extract_json(text: str) -> Any:
    """Parse the answer as JSON, tolerating a fenced block or prose around one document."""
    stripped = text.strip()
    try:
        return json.loads(stripped)
    except json.JSONDecodeError:
        pass
    fence = _FENCE.search(text)
    if fence:
        try:
            return json.loads(fence.group(1))
        except json.JSONDecodeError as exc:
            raise OutputValidationError(f"the fenced JSON block is not valid JSON: {exc}") from exc
    starts = [i for i in (stripped.find("{"), stripped.find("[")) if i >= 0]
    if starts:
        try:
            value, _ = json.JSONDecoder().raw_decode(stripped[min(starts) :])
            return value
        except json.JSONDecodeError:
            pass
    raise OutputValidationError("the answer is not a JSON document")


class OutputSpec:
    """A compiled response format: how to ask for the answer and how to check it."""

    def __init__(self, response_format: Any) -> None:
        self.model: type[BaseModel] | None = None
        if isinstance(response_format, type) and issubclass(response_format, BaseModel):
            self.model = response_format
            self.schema = response_format.model_json_schema()
            self.name = response_format.__name__
        elif isinstance(response_format, ResponseExample):
            self.schema = schema_from_example(response_format.example)
            self.name = "response"
            self.example: Any = response_format.example
        elif isinstance(response_format, JsonSchema | dict):
            schema = response_format.schema if isinstance(response_format, JsonSchema) else response_format
            self.name = response_format.name if isinstance(response_format, JsonSchema) else "response"
            self._check_schema(schema)
            self.schema = schema
        else:
            raise ConfigurationError(
                "response_format must be a pydantic model class, a JSON Schema dict, JsonSchema(...) or "
                f"ResponseExample(...); got {response_format!r:.80}"
            )
        import jsonschema  # on use: 35-95 ms to import, and most agents have no response format

        self._validator = jsonschema.Draft202012Validator(self.schema) if self.model is None else None

    @staticmethod
    def _check_schema(schema: dict[str, Any]) -> None:
        looks_like_schema = (
            "$schema" in schema
            or "properties" in schema
            or "$ref" in schema
            or any(k in schema for k in ("anyOf", "oneOf", "allOf", "enum"))
            or schema.get("type") in _JSON_TYPES
            or (isinstance(schema.get("type"), list) and set(schema["type"]) <= _JSON_TYPES)
        )
        if not looks_like_schema:
            raise ConfigurationError(
                "response_format dict does not look like a JSON Schema (no type/properties/$schema); "
                "wrap an example document in ResponseExample(...)"
            )
        import jsonschema  # on use (see __init__)

        try:
            jsonschema.Draft202012Validator.check_schema(schema)
        except jsonschema.SchemaError as exc:
            raise ConfigurationError(f"response_format is not a valid JSON Schema: {exc.message}") from exc

    def instructions(self) -> str:
        """Text appended to the system prompt so any model, native JSON mode or not, knows the format."""
        schema = json.dumps(self.schema, separators=(",", ":"))
        return (
            "When you give your final answer, reply with only a JSON document (no prose) that "
            f"validates against this JSON Schema:\n{schema}"
        )

    def response_format(self) -> dict[str, Any]:
        """OpenAI's native ``response_format``; ``strict`` when the schema meets strict mode's rules."""
        spec: dict[str, Any] = {"name": _format_name(self.name), "schema": self.schema}
        if strict_compatible(self.schema):
            spec["strict"] = True
        return {"type": "json_schema", "json_schema": spec}

    def validate(self, text: str) -> Any:
        """Return the validated value or raise :class:`OutputValidationError` with what is wrong."""
        data = extract_json(text)
        if self.model is not None:
            try:
                return self.model.model_validate(data)
            except ValidationError as exc:
                problems = "; ".join(
                    f"{'.'.join(str(p) for p in e['loc']) or '<root>'}: {e['msg']}" for e in exc.errors()
                )
                raise OutputValidationError(problems) from exc
        assert self._validator is not None
        errors = sorted(self._validator.iter_errors(data), key=lambda e: list(e.absolute_path))
        if errors:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e.absolute_path) or '<root>'}: {e.message}" for e in errors[:10]
            )
            raise OutputValidationError(problems)
        return data
