"""An OpenAI-compatible API: ``GET /v1/models``, ``POST /v1/chat/completions``.

Every agent with the chat API is a model whose id is its slug. A completion runs the
agent (its instructions, tools and response format) on the messages the client sends;
like OpenAI's API it keeps no state (the client sends the conversation each time).
Errors use OpenAI's shape ``{"error": {"message", "type", "param", "code"}}`` so the
``openai`` SDK raises its usual exceptions. The client's own ``tools`` cannot be
honoured (the agent's tools run server-side), so such requests are refused.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import time
from collections.abc import AsyncIterator
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from agentdown.agent import Agent
from agentdown.app.spec import AgentSpec
from agentdown.loop.events import ReasoningDeltaEvent, RunCompletedEvent, RunErrorEvent, TextDeltaEvent
from agentdown.messages import Message, Usage, new_id
from agentdown.models.base import ChatOptions
from agentdown.models.wire_server import (
    chunk_to_openai,
    completion_body,
    messages_from_openai,
    option_fields,
    usage_chunk_to_openai,
)
from agentdown.server.auth import gate_level
from agentdown.server.context import ServerContext
from agentdown.server.errors import ApiError, Endpoint, client_message, read_json_object
from agentdown.server.schemas import CompletionRequest, validated
from agentdown.server.sse import EventStream, encode_frame

__all__ = ["openai_routes"]

_dumps = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, default=str).encode
_APPLIED = {"model", "messages", "stream", "stream_options", "n", "temperature", "top_p", "max_tokens"}
_APPLIED |= {"max_completion_tokens", "stop", "seed", "user"}
_PASSED_TO_MODEL = {"presence_penalty", "frequency_penalty", "logit_bias", "reasoning_effort"}
_OPTIONS = (_APPLIED - {"model", "messages", "stream", "stream_options", "n"}) | _PASSED_TO_MODEL
"""The keys that become the run's model options (the agent's own options fill the rest)."""
_REFUSED = {
    "tools": "the agent runs its own tools server-side; 'tools' cannot be given",
    "functions": "the agent runs its own tools server-side; 'functions' cannot be given",
    "tool_choice": "the agent decides its own tool use; 'tool_choice' cannot be given",
    "function_call": "the agent decides its own tool use; 'function_call' cannot be given",
    "response_format": "the agent's response_schema / response_example decides the answer's format",
}
_TYPES = {400: "invalid_request_error", 401: "authentication_error", 404: "invalid_request_error"}


def _openai_error(status: int, message: str, code: str | None, param: str | None = None) -> JSONResponse:
    kind = _TYPES.get(status, "invalid_request_error" if status < 500 else "server_error")
    body = {"error": {"message": message, "type": kind, "param": param, "code": code}}
    return JSONResponse(body, status_code=status)


def _openai_endpoint(endpoint: Endpoint) -> Endpoint:
    @functools.wraps(endpoint)
    async def wrapper(request: Request) -> Response:
        try:
            return await endpoint(request)
        except ApiError as exc:
            return _openai_error(exc.status, exc.message, exc.code, exc.extra.get("param"))
        except Exception as exc:
            message, code = client_message(exc)
            return _openai_error(502 if code != "internal_error" else 500, message, code)

    return wrapper


def openai_routes(ctx: ServerContext) -> list[Route]:
    exposed = {s.slug: s for s in ctx.catalog.specs.values() if s.builtin_endpoints.chat_api}
    door = gate_level(s.http_auth.mode for s in exposed.values())
    created = {
        slug: int(spec.file.stat().st_mtime) if spec.file.exists() else 0 for slug, spec in exposed.items()
    }

    def model_entry(spec: AgentSpec) -> dict[str, Any]:
        return {"id": spec.slug, "object": "model", "created": created[spec.slug], "owned_by": "agentdown"}

    def allowed(request: Request, spec: AgentSpec) -> bool:
        try:
            ctx.authorizer.require_agent(request, spec.http_auth)
        except ApiError:
            return False
        return True

    def resolve(request: Request, model: Any) -> AgentSpec:
        if not isinstance(model, str) or not model:
            raise ApiError(
                400, "'model' is required: the slug of an agent (see GET /v1/models)", "missing_model"
            )
        spec = exposed.get(model)
        if spec is None:
            known = ", ".join(exposed) or "none"
            raise ApiError(
                404, f"The model '{model}' does not exist here; the models are: {known}", "model_not_found"
            )
        ctx.authorizer.require_agent(request, spec.http_auth)
        return spec

    @_openai_endpoint
    async def list_models(request: Request) -> Response:
        ctx.authorizer.require(request, door)
        data = [model_entry(s) for s in exposed.values() if allowed(request, s)]
        return JSONResponse({"object": "list", "data": data})

    @_openai_endpoint
    async def get_model(request: Request) -> Response:
        return JSONResponse(model_entry(resolve(request, request.path_params["model"])))

    @_openai_endpoint
    async def completions(request: Request) -> Response:
        body = await read_json_object(request, ctx.settings.max_body_bytes)
        spec = resolve(request, body.get("model"))
        agent = ctx.runner.agent(spec.slug)
        asked, messages, options = _parse(body, agent)
        completion_id = new_id("chatcmpl")
        if asked.stream:
            include_usage = bool(asked.stream_options and asked.stream_options.include_usage)
            frames = _stream(agent, messages, options, spec.slug, completion_id, include_usage)
            return EventStream(frames)
        result = await agent.run(messages, options=options)
        if result.requires_action:
            raise ApiError(
                409, "the run stopped waiting for a tool approval or tool output", "requires_action"
            )
        message = {"role": "assistant", "content": result.text, "refusal": None}
        body = completion_body(completion_id, int(time.time()), spec.slug, message, "stop", result.usage)
        return JSONResponse(body)

    return [
        Route("/v1/models", list_models, methods=["GET"]),
        Route("/v1/models/{model}", get_model, methods=["GET"]),
        Route("/v1/chat/completions", completions, methods=["POST"]),
    ]


def _parse(body: dict[str, Any], agent: Agent) -> tuple[CompletionRequest, list[Message], ChatOptions]:
    for key, reason in _REFUSED.items():
        if body.get(key) not in (None, [], "none", "auto"):
            raise ApiError(400, reason, "unsupported_parameter", extra={"param": key})
    unknown = sorted(set(body) - _APPLIED - _PASSED_TO_MODEL - set(_REFUSED) - {"logprobs"})
    if unknown:
        supported = ", ".join(sorted(_APPLIED | _PASSED_TO_MODEL))
        raise ApiError(
            400,
            f"unsupported parameter(s): {', '.join(unknown)}; supported: {supported}",
            "unsupported_parameter",
        )
    if body.get("logprobs"):
        raise ApiError(
            400,
            "logprobs are not available from an agent",
            "unsupported_parameter",
            extra={"param": "logprobs"},
        )
    if body.get("n") not in (None, 1):
        raise ApiError(400, "only n=1 is supported", "unsupported_parameter", extra={"param": "n"})
    raw = body.get("messages")
    if not isinstance(raw, list) or not raw or not all(isinstance(m, dict) for m in raw):
        raise ApiError(400, "'messages' must be a non-empty list of message objects", "invalid_messages")
    # Then the types, against the model /openapi.json documents (a 400 naming the field).
    asked = validated(CompletionRequest, body)
    try:
        messages = messages_from_openai(raw)
    except (ValueError, TypeError, AttributeError) as exc:
        raise ApiError(
            400, f"invalid 'messages': {exc}", "invalid_messages", extra={"param": "messages"}
        ) from None
    fields, extra = option_fields({k: v for k, v in body.items() if k in _OPTIONS and v is not None})
    options = dataclasses.replace(agent.options, **fields, extra_body={**agent.options.extra_body, **extra})
    return asked, messages, options


async def _stream(
    agent: Agent,
    messages: list[Message],
    options: ChatOptions,
    model: str,
    completion_id: str,
    include_usage: bool,
) -> AsyncIterator[bytes]:
    created = int(time.time())

    def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        return chunk_to_openai(completion_id, created, model, delta, finish, include_usage=include_usage)

    yield _data(chunk({"role": "assistant", "content": ""}))
    usage = Usage()
    events = agent.run_stream(messages, options=options)

    def error_frame(exc: BaseException) -> bytes:
        message, code = client_message(exc)
        return _data({"error": {"message": message, "type": "server_error", "param": None, "code": code}})

    try:
        async for event in events:
            if isinstance(event, TextDeltaEvent) and event.text:
                yield _data(chunk({"content": event.text}))
            elif isinstance(event, ReasoningDeltaEvent) and event.text:
                yield _data(chunk({"reasoning_content": event.text}))
            elif isinstance(event, RunCompletedEvent):
                usage = event.result.usage
            elif isinstance(event, RunErrorEvent):
                yield error_frame(event.error)
                return
    except Exception as exc:
        # run_stream reports a failure as an event first; this is a failure around it.
        yield error_frame(exc)
        return
    finally:
        await events.aclose()  # type: ignore[attr-defined]
    yield _data(chunk({}, "stop"))
    if include_usage:
        yield _data(usage_chunk_to_openai(completion_id, created, model, usage))
    yield b"data: [DONE]\n\n"


def _data(body: dict[str, Any]) -> bytes:
    return encode_frame(f"data: {_dumps(body)}\n\n")
