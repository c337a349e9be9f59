"""Reading an OpenAPI 3 spec: local ``$ref``s resolved, operations and their argument schemas.

Only references inside the spec (``#/components/...``) are followed: a remote one
(``other.yaml#/x``, ``https://...``) would make loading a spec fetch from wherever its
author, or whoever can edit it, pointed, so it is refused.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml

__all__ = ["Operation", "Parameter", "load_spec", "mapping", "operations", "resolve_refs", "sanitize"]

logger = logging.getLogger("agentdown.tools.system")

METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
LOCATIONS = ("path", "query", "header", "cookie")


def mapping(value: Any) -> Mapping[str, Any]:
    """``value`` if it is a mapping, else an empty one (specs are full of optional objects)."""
    return value if isinstance(value, Mapping) else {}


def load_spec(spec: Mapping[str, Any] | str) -> dict[str, Any]:
    """The spec as a dict (from a mapping, JSON or YAML text), ``$ref``s resolved."""
    if isinstance(spec, str):
        try:
            data: Any = json.loads(spec)
        except ValueError:
            try:
                data = yaml.safe_load(spec)
            except yaml.YAMLError as exc:
                raise ValueError(f"the OpenAPI spec is neither JSON nor YAML: {exc}") from None
    else:
        data = spec
    if not isinstance(data, Mapping):
        raise ValueError("the OpenAPI spec must be an object")
    version = str(data.get("openapi", ""))
    if not version.startswith("3."):
        found = f"swagger {data['swagger']}" if "swagger" in data else repr(data.get("openapi"))
        raise ValueError(f"only OpenAPI 3.x specs are supported (openapi: 3.x), got {found}")
    if not isinstance(data.get("paths"), Mapping):
        raise ValueError("the OpenAPI spec has no paths")
    resolved = resolve_refs(data)
    assert isinstance(resolved, dict)
    return resolved


def _pointer(root: Mapping[str, Any], ref: str) -> Any:
    node: Any = root
    for raw in ref[2:].split("/") if ref != "#" else []:
        part = raw.replace("~1", "/").replace("~0", "~")
        if isinstance(node, Mapping) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            raise ValueError(f"$ref {ref!r} points at nothing in the spec")
    return node


def resolve_refs(root: Mapping[str, Any]) -> Any:
    """A copy of ``root`` with every local ``$ref`` replaced by what it points at.

    A reference back into itself (a recursive schema) becomes ``{}`` (any value) at
    the point it recurs, so the result is finite. Raises ``ValueError`` for remote
    references and references to nothing.
    """

    def walk(node: Any, stack: tuple[str, ...]) -> Any:
        if isinstance(node, Mapping):
            ref = node.get("$ref")
            if isinstance(ref, str):
                if not ref.startswith("#"):
                    raise ValueError(
                        f"remote $ref {ref!r} refused: only references inside the spec (#/...) are followed"
                    )
                if ref in stack:
                    return {"description": "(recursive: any value)"}
                target = walk(_pointer(root, ref), (*stack, ref))
                siblings = {k: walk(v, stack) for k, v in node.items() if k != "$ref"}
                return {**target, **siblings} if isinstance(target, dict) and siblings else target
            return {str(k): walk(v, stack) for k, v in node.items()}
        if isinstance(node, list):
            return [walk(v, stack) for v in node]
        return node

    return walk(root, ())


class _Unsupported(ValueError):
    """An operation we cannot call (a warning: the rest of the spec still loads)."""


@dataclass(frozen=True, slots=True)
class Parameter:
    """One operation parameter; ``argument`` is its property name in the tool's schema."""

    name: str
    location: str
    argument: str
    required: bool
    schema: dict[str, Any]
    style_explode: bool = True


@dataclass(slots=True)
class Operation:
    """One ``paths.<path>.<method>`` entry, ready to become a tool."""

    operation_id: str
    method: str
    path: str
    summary: str
    parameters: list[Parameter] = field(default_factory=list)
    body_argument: str | None = None
    body_schema: dict[str, Any] | None = None
    body_required: bool = False
    body_media_type: str = "application/json"
    security: list[dict[str, Any]] | None = None


def _schema_of(param: Mapping[str, Any]) -> dict[str, Any]:
    schema = param.get("schema")
    if not isinstance(schema, Mapping):
        content = mapping(param.get("content"))
        media = mapping(next(iter(content.values()), None))
        schema = media.get("schema")
    out = _json_schema(schema) if isinstance(schema, Mapping) else {"type": "string"}
    if param.get("description") and "description" not in out:
        out["description"] = str(param["description"])
    return out


def _json_schema(schema: Mapping[str, Any]) -> dict[str, Any]:
    """OpenAPI's schema dialect, close enough to JSON Schema for the model and the validator."""
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key in ("xml", "externalDocs", "discriminator", "example", "nullable"):
            continue
        if isinstance(value, Mapping):
            out[key] = (
                _json_schema(value)
                if key not in ("properties", "patternProperties")
                else {k: _json_schema(v) if isinstance(v, Mapping) else v for k, v in value.items()}
            )
        elif isinstance(value, list) and key in ("allOf", "anyOf", "oneOf", "prefixItems"):
            out[key] = [_json_schema(v) if isinstance(v, Mapping) else v for v in value]
        else:
            out[key] = value
    if schema.get("nullable") is True and isinstance(out.get("type"), str):
        out["type"] = [out["type"], "null"]  # OpenAPI 3.0's nullable is 3.1's type list
    return out


def sanitize(name: str) -> str:
    """A tool-name-safe form: characters outside ``[A-Za-z0-9_-]`` become ``_``."""
    return re.sub(r"_+", "_", re.sub(r"[^A-Za-z0-9_-]", "_", name)).strip("_") or "op"


def _argument_name(param: Mapping[str, Any], taken: set[str]) -> str:
    base = sanitize(str(param["name"]))
    name = base if base not in taken else f"{param['in']}_{base}"
    while name in taken:
        name += "_"
    taken.add(name)
    return name


def _merge_parameters(
    path_item: Mapping[str, Any], op: Mapping[str, Any], where: str
) -> list[Mapping[str, Any]]:
    merged: dict[tuple[str, str], Mapping[str, Any]] = {}
    for source in (path_item.get("parameters") or [], op.get("parameters") or []):
        for param in source:
            if not isinstance(param, Mapping) or param.get("in") not in LOCATIONS or not param.get("name"):
                raise ValueError(f"{where}: each parameter needs a name and in: path|query|header|cookie")
            merged[(str(param["name"]), str(param["in"]))] = param
    return list(merged.values())


def _body(op: Mapping[str, Any], operation: Operation, taken: set[str], where: str) -> None:
    body = op.get("requestBody")
    if not isinstance(body, Mapping):
        return
    content = mapping(body.get("content"))
    media = next((m for m in content if m == "application/json" or m.endswith("+json")), None)
    if media is None:
        offered = ", ".join(content) or "none"
        raise _Unsupported(f"{where}: only JSON request bodies are supported, the spec offers {offered}")
    schema = mapping(content[media]).get("schema")
    operation.body_argument = "body" if "body" not in taken else "request_body"
    taken.add(operation.body_argument)
    operation.body_schema = _json_schema(schema) if isinstance(schema, Mapping) else {}
    if body.get("description") and "description" not in operation.body_schema:
        operation.body_schema["description"] = str(body["description"])
    operation.body_required = bool(body.get("required"))
    operation.body_media_type = media


def operations(spec: Mapping[str, Any]) -> list[Operation]:
    """Every operation of a resolved spec (see :func:`load_spec`), in spec order."""
    out: list[Operation] = []
    for path, item in spec["paths"].items():
        if not isinstance(item, Mapping):
            continue
        for method in METHODS:
            op = item.get(method)
            if not isinstance(op, Mapping):
                continue
            where = f"{method.upper()} {path}"
            operation_id = str(op.get("operationId") or f"{method}_{path}")
            summary = str(op.get("summary") or op.get("description") or where)
            if op.get("summary") and op.get("description"):
                summary = f"{op['summary']}\n\n{op['description']}"
            operation = Operation(sanitize(operation_id), method.upper(), str(path), summary)
            taken: set[str] = set()
            for param in _merge_parameters(item, op, where):
                location = str(param["in"])
                operation.parameters.append(
                    Parameter(
                        name=str(param["name"]),
                        location=location,
                        argument=_argument_name(param, taken),
                        required=location == "path" or bool(param.get("required")),
                        schema=_schema_of(param),
                        style_explode=bool(param.get("explode", param.get("style", "form") == "form")),
                    )
                )
            try:
                _body(op, operation, taken, where)
            except _Unsupported as exc:
                logger.warning("OpenAPI operation skipped: %s", exc)
                continue
            security = op.get("security", spec.get("security"))
            operation.security = list(security) if isinstance(security, list) else None
            out.append(operation)
    return out
