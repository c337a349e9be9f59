"""Agents with ``trigger: {type: http_trigger, args: {route, methods, auth_level}}``.

As in the Azure Functions agents runtime: the request body (JSON, else text; ``{}``
when empty) is validated against ``input_schema`` (400 on failure) and becomes the
prompt ``HTTP request data:`` + a fenced JSON block; an agent with ``response_schema``
or ``response_example`` answers validated JSON (the run loop retries until the model's
answer validates), any other agent answers ``text/plain``. ``x-ms-session-id``
continues a session and is always returned. agentdown also passes route parameters
and the query string to the agent, in blocks of their own, when the request has them.
"""

from __future__ import annotations

import json
import re
from typing import Any

import jsonschema
from jsonschema.exceptions import best_match
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from agentdown.app.spec import AgentSpec, HttpTrigger
from agentdown.exceptions import ConfigurationError, StructuredOutputError
from agentdown.server.context import SESSION_HEADER, ServerContext, session_id_of
from agentdown.server.errors import ApiError, api_endpoint, parse_json, read_body
from agentdown.server.routes import RESERVED_PREFIXES, starlette_path
from agentdown.server.turns import refusals, result_summary

__all__ = ["RESERVED_PREFIXES", "trigger_routes"]


def trigger_routes(ctx: ServerContext) -> list[Route]:
    """One route per HTTP-trigger agent; a ``ConfigurationError`` for clashing or invalid routes."""
    routes: list[Route] = []
    taken: dict[tuple[str, str], str] = {}
    for spec in ctx.catalog.specs.values():
        trigger = spec.trigger
        if not isinstance(trigger, HttpTrigger):
            continue
        where = f"{spec.file}:{spec.line_of('trigger')}"
        path = starlette_path(trigger.route, where)
        for method in trigger.methods:
            shape = (re.sub(r"\{[^}]*\}", "{}", path), method)
            if shape in taken:
                raise ConfigurationError(
                    f"{where}: {method} /{trigger.route} is already the route of agent '{taken[shape]}'"
                )
            taken[shape] = spec.slug
        routes.append(Route(path, _endpoint(ctx, spec, trigger), methods=list(trigger.methods)))
    return routes


def _validator(spec: AgentSpec) -> Any:
    if spec.input_schema is None:
        return None
    schema = dict(spec.input_schema)
    cls = jsonschema.validators.validator_for(schema)
    try:
        cls.check_schema(schema)
    except jsonschema.SchemaError as exc:
        raise ConfigurationError(
            f"{spec.file}:{spec.line_of('input_schema')}: input_schema is not a valid JSON Schema: {exc.message}"
        ) from exc
    return cls(schema)


def _endpoint(ctx: ServerContext, spec: AgentSpec, trigger: HttpTrigger) -> Any:
    validator = _validator(spec)
    structured = (
        spec.response_schema is not None
        or spec.response_example is not None
        or spec.response_example_text is not None
    )

    @api_endpoint
    async def endpoint(request: Request) -> Response:
        principal = ctx.authorizer.require_agent(request, trigger.http_auth)
        session_id = session_id_of(request, new=True)
        data, raw_text = await _request_data(request, ctx.settings.max_body_bytes)
        if validator is not None:
            error = best_match(validator.iter_errors(data))
            if error is not None:
                where = "/".join(str(p) for p in error.absolute_path)
                # The Azure Functions agents runtime's shape: a fixed "error", the reason in "details".
                raise ApiError(
                    400,
                    "Input validation failed",
                    "invalid_input",
                    headers={SESSION_HEADER: str(session_id)},
                    extra={"details": f"{error.message}{' at ' + where if where else ''}"},
                )
        try:
            with refusals(session_id):
                turn = await ctx.runner.run(
                    spec.slug, _prompt(request, data, raw_text), session_id=session_id, principal=principal
                )
        except StructuredOutputError as exc:
            raise ApiError(
                500,
                "Agent returned invalid JSON",
                "invalid_output",
                headers={SESSION_HEADER: str(session_id)},
                extra={"raw_response": exc.raw_text, "details": exc.errors},
            ) from exc
        headers = {SESSION_HEADER: turn.session_id}
        result = turn.result
        if result.requires_action:
            # Kept as a pending turn: answer it through /agents/<slug>/chat or `agentdown approve`.
            body = {"session_id": turn.session_id, **result_summary(result, turn.session_id)}
            return JSONResponse(body, status_code=202, headers=headers)
        if not structured:
            return PlainTextResponse(result.text, headers=headers)
        dump = getattr(result.value, "model_dump", None)
        return JSONResponse(dump(mode="json") if dump else result.value, headers=headers)

    endpoint.__name__ = f"http_trigger_{spec.slug}"
    return endpoint


async def _request_data(request: Request, limit: int) -> tuple[Any, str | None]:
    """``(data, raw_text)``: parsed JSON, or the text itself when the body is not JSON."""
    body = await read_body(request, limit)
    if not body.strip():
        return {}, None
    media = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media == "application/json" or media.endswith("+json"):
        return parse_json(body), None
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise ApiError(400, "the request body is neither JSON nor UTF-8 text", "invalid_body") from None
    try:
        return json.loads(text), None
    except ValueError:
        return text, text


def _prompt(request: Request, data: Any, raw_text: str | None) -> str:
    payload = raw_text if raw_text is not None else json.dumps(data, ensure_ascii=False)
    parts = [f"HTTP request data:\n```json\n{payload}\n```"]
    if request.path_params:
        params = json.dumps(request.path_params, ensure_ascii=False, default=str)
        parts.append(f"Route parameters:\n```json\n{params}\n```")
    query = {k: v for k, v in request.query_params.multi_items() if k != "code"}
    if query:
        parts.append(f"Query parameters:\n```json\n{json.dumps(query, ensure_ascii=False)}\n```")
    return "\n\n".join(parts)
