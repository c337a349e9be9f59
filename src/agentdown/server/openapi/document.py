"""The OpenAPI 3.1 document of a running app, built from its routing table and :mod:`.table`.

Every served (method, path) is looked up in the table (or, for ``http_trigger`` routes,
in the agent's spec); the bodies' schemas come from the pydantic models the handlers
validate with. Agent slugs, models and graph names are enums of what this app serves,
and each operation's security is what the server checks for it with the keys it has.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import JsonSchemaMode, models_json_schema
from starlette.routing import BaseRoute, Mount, Route

from agentdown.app.spec import AgentSpec, HttpAuth, HttpTrigger
from agentdown.server.agents_api.app import MOUNT_PATH
from agentdown.server.auth import gate_level
from agentdown.server.context import SESSION_HEADER, ServerContext
from agentdown.server.openapi.agents_table import AGENTS_API
from agentdown.server.openapi.table import (
    CHAT,
    CORE,
    ERRORS,
    GRAPHS,
    MCP,
    OPENAI,
    SSE_EVENT,
    TRIGGER_PENDING,
    Body,
    Op,
)
from agentdown.server.routes import starlette_path
from agentdown.server.schemas import ErrorAnswer
from agentdown.version import __version__

__all__ = ["build_document", "served_operations"]

_PARAM = re.compile(r"\{([^{}:]+)(?::([^{}]+))?\}")
_CONVERTED = {"int": {"type": "integer"}, "float": {"type": "number"}}
_KEYS = ("functionKey", "apiKey", "bearer", "code")
_SCHEMES: dict[str, Any] = {
    "functionKey": {"type": "apiKey", "in": "header", "name": "x-functions-key"},
    "apiKey": {"type": "apiKey", "in": "header", "name": "api-key"},
    "bearer": {"type": "http", "scheme": "bearer"},
    "code": {"type": "apiKey", "in": "query", "name": "code"},
    "easyAuth": {
        "type": "apiKey",
        "in": "header",
        "name": "x-ms-client-principal",
        "description": "The caller's principal, set by App Service authentication (http_auth: entra).",
    },
}
_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")


def served_operations(routes: Sequence[BaseRoute], prefix: str = "") -> Iterator[tuple[str, str]]:
    """``(method, path template)`` of every route, mounts walked (HEAD of GET left out).

    A route answering every method (``/mcp``) is listed as ``POST``: that is its protocol.
    """
    for route in routes:
        if isinstance(route, Mount):
            yield from served_operations(route.routes, prefix + route.path)
        elif isinstance(route, Route):
            for method in sorted(route.methods or {"POST"}):
                if method != "HEAD":
                    yield method, prefix + route.path


class _Builder:
    def __init__(self, ctx: ServerContext) -> None:
        self.ctx = ctx
        self.models: list[tuple[type[BaseModel], JsonSchemaMode, dict[str, Any]]] = []
        self.specs = list(ctx.catalog.specs.values())
        self.door = ctx.catalog.config.http_auth or HttpAuth()
        self.table = self._table()

    def _table(self) -> dict[tuple[str, str], tuple[str, Op, Any]]:
        """(method, full template) -> (family, op, extra): where each known route is served."""
        found: dict[tuple[str, str], tuple[str, Op, Any]] = {}

        def add(family: str, ops: Iterable[Op], prefix: str = "") -> None:
            for op in ops:
                found[(op.method, prefix + op.path)] = (family, op, prefix)

        add("core", CORE)
        add("chat", CHAT)
        prefix = self.ctx.settings.api_prefix.strip("/")
        if prefix:
            add("chat", CHAT, f"/{prefix}")
        add("openai", OPENAI)
        add("agents", AGENTS_API, MOUNT_PATH)
        add("graphs", GRAPHS)
        add("mcp", MCP)
        for spec in self.specs:
            trigger = spec.trigger
            if isinstance(trigger, HttpTrigger):
                path = starlette_path(trigger.route, str(spec.file))
                for method in trigger.methods:
                    op = Op(method.upper(), path, f"trigger_{spec.slug}_{method.lower()}", spec.description)
                    for where in ("", f"/{prefix}" if prefix else None):
                        if where is not None:
                            found[(op.method, where + path)] = ("trigger", op, spec)
        return found

    # -- schemas -------------------------------------------------------------------------------

    def ref(self, body: Body, mode: JsonSchemaMode) -> dict[str, Any]:
        """A schema for ``body``: a ``$ref`` filled in by :meth:`components` for a model."""
        if isinstance(body, dict):
            return body
        placeholder: dict[str, Any] = {}
        self.models.append((body, mode, placeholder))
        return placeholder

    def components(self) -> dict[str, Any]:
        unique = list(dict.fromkeys((model, mode) for model, mode, _ in self.models))
        refs, defs = models_json_schema(unique, ref_template="#/components/schemas/{model}")
        for model, mode, placeholder in self.models:
            # pydantic names a model used in both modes with -Input / -Output where they differ.
            placeholder.update(refs[(model, mode)])
        return {"schemas": dict(defs.get("$defs", {})), "securitySchemes": _SCHEMES}

    # -- security ------------------------------------------------------------------------------

    def security(self, modes: Iterable[str]) -> list[dict[str, list[str]]]:
        """Requirements met by any caller some of ``modes`` admits (keys off when none is configured).

        ``[]`` when some mode admits anyone: the server then checks nothing at the door.
        """
        schemes: list[str] = []
        for mode in set(modes):
            if mode == "anonymous" or (mode != "entra" and not self.ctx.authorizer.keys.configured):
                return []
            for scheme in ("easyAuth",) if mode == "entra" else _KEYS:
                if scheme not in schemes:
                    schemes.append(scheme)
        return [{scheme: []} for scheme in sorted(schemes)]

    def modes(self, family: str, op: Op, extra: Any) -> list[str]:
        if family == "trigger":
            assert isinstance(extra, AgentSpec) and isinstance(extra.trigger, HttpTrigger)
            return [extra.trigger.http_auth.mode]
        if op.id == "health":
            return ["anonymous"]
        if family == "chat":
            return [s.http_auth.mode for s in self.chat_agents(op)] or [self.door.mode]
        if family in ("openai", "mcp"):
            key = "chat_api" if family == "openai" else "mcp"
            specs = [s for s in self.specs if getattr(s.builtin_endpoints, key)]
            door = gate_level(s.http_auth.mode for s in specs)
            return [door, *(s.http_auth.mode for s in specs)] if specs else ["anonymous"]
        return [self.door.mode]

    def chat_agents(self, op: Op) -> list[AgentSpec]:
        key = "debug_chat_ui" if op.id == "chat_page" else "chat_api"
        return [s for s in self.specs if getattr(s.builtin_endpoints, key)]

    # -- operations ----------------------------------------------------------------------------

    def parameters(self, family: str, op: Op, path: str) -> list[dict[str, Any]]:
        params: list[dict[str, Any]] = []
        for match in _PARAM.finditer(path):
            name, kind = match.group(1), match.group(2)
            schema: dict[str, Any] = dict(_CONVERTED.get(kind or "", {"type": "string"}))
            names: list[str] | None = None
            if name == "slug" and family == "chat":
                names = [s.slug for s in self.chat_agents(op)]
            elif name == "model" and family == "openai":
                names = [s.slug for s in self.specs if s.builtin_endpoints.chat_api]
            elif name == "name" and family == "graphs":
                names = list(self.ctx.catalog.workflow_graphs)
            if names:
                schema["enum"] = names
            params.append({"name": name, "in": "path", "required": True, "schema": schema})
        for query in op.query:
            param = {"name": query.name, "in": "query", "required": query.required, "schema": query.schema}
            if query.description:
                param["description"] = query.description
            params.append(param)
        if op.session:
            required = op.session == "required"
            # Surrounding blanks are stripped, and a blank header is no session at all.
            ids = r"[A-Za-z0-9._-]{1,128}" if required else r"[A-Za-z0-9._-]{0,128}"
            params.append(
                {
                    "name": SESSION_HEADER,
                    "in": "header",
                    "required": required,
                    "schema": {"type": "string", "pattern": rf"^\s*{ids}\s*$"},
                    "description": "The session (the answer names it; send it back to continue)."
                    + ("" if required else " Blank or absent: a new session."),
                }
            )
        return params

    def operation(self, family: str, op: Op, extra: Any, path: str) -> dict[str, Any]:
        error = self.ref(ERRORS.get(family, ErrorAnswer), "serialization")
        answer: dict[str, Any] = {}
        request: dict[str, Any] | None = None
        status = str(op.status)
        if family == "trigger":
            spec: AgentSpec = extra
            if spec.input_schema is not None:
                request = {"application/json": {"schema": dict(spec.input_schema)}}
            else:
                request = {"application/json": {"schema": {}}, "text/plain": {"schema": {"type": "string"}}}
            structured = spec.response_schema is not None or spec.response_example is not None
            structured = structured or spec.response_example_text is not None
            schema = dict(spec.response_schema) if spec.response_schema is not None else {}
            answer = (
                {"application/json": {"schema": schema}}
                if structured
                else {"text/plain": {"schema": {"type": "string"}}}
            )
        else:
            if op.request is not None:
                request = {op.request_media: {"schema": self.ref(op.request, "validation")}}
            if op.answer is not None:
                answer = {op.media: {"schema": self.ref(op.answer, "serialization")}}
            elif op.media == "text/html":
                answer = {"text/html": {"schema": {"type": "string"}}}
            if op.streams:
                answer["text/event-stream"] = {"schema": SSE_EVENT}
        responses: dict[str, Any] = {status: {"description": op.summary or "OK", "content": answer}}
        if family == "trigger":
            responses["202"] = {
                "description": "The run waits for approvals or tool outputs (answer it through /chat).",
                "content": {"application/json": {"schema": self.ref(TRIGGER_PENDING, "serialization")}},
            }
        if family == "mcp":
            # The MCP SDK answers protocol errors itself: JSON-RPC, or plain text without a type.
            responses["default"] = {"description": "A JSON-RPC or HTTP error of the MCP transport."}
        else:
            responses["default"] = {
                "description": "An error.",
                "content": {"application/json": {"schema": error}},
            }
        built: dict[str, Any] = {
            "operationId": op.id,
            "summary": op.summary or op.id,
            "tags": [family],
            "parameters": self.parameters(family, op, path),
            "responses": responses,
            "security": self.security(self.modes(family, op, extra)),
        }
        if request is not None:
            # A trigger with an input_schema refuses a missing body; one without takes any.
            needed = family != "trigger" or extra.input_schema is not None
            built["requestBody"] = {"required": needed, "content": request}
        return built


def _openapi_path(template: str) -> str:
    return _PARAM.sub(lambda m: "{" + m.group(1) + "}", template)


def build_document(ctx: ServerContext, routes: Sequence[BaseRoute]) -> dict[str, Any]:
    """The OpenAPI 3.1 document of every route in ``routes`` this server knows how to describe."""
    builder = _Builder(ctx)
    paths: dict[str, dict[str, Any]] = {}
    used: set[str] = set()
    for method, template in served_operations(routes):
        found = builder.table.get((method, template))
        if found is None or method not in _METHODS:
            continue  # tests/server/openapi fails on this; the document still serves
        family, op, extra = found
        operation = builder.operation(family, op, extra, template)
        if operation["operationId"] in used:  # the same route again under the API prefix
            operation["operationId"] += "_" + template.strip("/").split("/")[0]
        used.add(operation["operationId"])
        paths.setdefault(_openapi_path(template), {})[method.lower()] = operation
    return {
        "openapi": "3.1.0",
        "info": {
            "title": f"agentdown: {ctx.catalog.app_dir.name}",
            "version": __version__,
            "description": "Every route this agentdown server serves for its app.",
        },
        "paths": paths,
        "components": builder.components(),
    }
