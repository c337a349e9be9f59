"""JSON errors, request bodies within limits, and logging of what went wrong.

Every error a client sees is JSON ``{"error": "<message>", "code": "<code>"}`` (the
``error`` string is what the Azure Functions agents runtime sends). Messages of
agentdown's own errors are precise and meant to be read; anything unexpected is
logged with its traceback under an error id, and the client gets only that id.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import os
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response

from agentdown.exceptions import AgentdownError, RunTimeoutError, StructuredOutputError
from agentdown.sessions.store import SessionStoreError

__all__ = [
    "STORE_RETRY_AFTER",
    "ApiError",
    "api_endpoint",
    "client_message",
    "error_status",
    "http_exception_handler",
    "json_error",
    "json_type",
    "parse_json",
    "read_body",
    "read_json_object",
    "unexpected_error_handler",
]

logger = logging.getLogger("agentdown.server")

Endpoint = Callable[[Request], Awaitable[Response]]

STORE_RETRY_AFTER = 2
"""Seconds a client is told to wait before resending a request the session store could not serve."""


class ApiError(Exception):
    """A request the server refuses, with the HTTP status and a message for the client."""

    def __init__(
        self,
        status: int,
        message: str,
        code: str,
        headers: dict[str, str] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code
        self.headers = headers or {}
        self.extra = extra or {}


def json_error(
    status: int,
    message: str,
    code: str,
    headers: dict[str, str] | None = None,
    extra: dict[str, Any] | None = None,
) -> JSONResponse:
    return JSONResponse(
        {"error": message, "code": code, **(extra or {})}, status_code=status, headers=headers
    )


def error_id() -> str:
    return os.urandom(6).hex()


def client_message(exc: BaseException) -> tuple[str, str]:
    """``(message, code)`` safe to show a client for an error raised by a run.

    agentdown's own errors carry messages written for people; anything else may hold
    internals, so it is logged here and the client gets an error id to quote.
    """
    if isinstance(exc, SessionStoreError):
        # Not the model's failure: the turn never reached the store, so resending it is safe.
        logger.warning("session store unavailable: %s: %s", type(exc).__name__, exc)
        return (
            f"the session store is unavailable, nothing of this request was saved: {exc}; "
            f"send it again in {STORE_RETRY_AFTER} s"
        ), "store_unavailable"
    if isinstance(exc, AgentdownError):
        logger.warning("run failed: %s: %s", type(exc).__name__, exc)
        if isinstance(exc, RunTimeoutError):
            return str(exc), "timeout"
        if isinstance(exc, StructuredOutputError):
            return f"{exc} (last validation error: {exc.errors})", "invalid_output"
        return str(exc) or type(exc).__name__, "run_failed"
    eid = error_id()
    logger.error("unexpected error %s", eid, exc_info=(type(exc), exc, exc.__traceback__))
    return f"internal server error (error id {eid}; details are in the server log)", "internal_error"


def api_endpoint(endpoint: Endpoint) -> Endpoint:
    """Turn :class:`ApiError` and unexpected exceptions of a route into JSON responses."""

    @functools.wraps(endpoint)
    async def wrapper(request: Request) -> Response:
        try:
            return await endpoint(request)
        except ApiError as exc:
            return json_error(exc.status, exc.message, exc.code, exc.headers, exc.extra)
        except ClientDisconnect:
            return Response(status_code=499)
        except (asyncio.CancelledError, KeyboardInterrupt):
            raise
        except Exception as exc:
            message, code = client_message(exc)
            status, headers = error_status(code)
            return json_error(status, message, code, headers)

    return wrapper


def error_status(code: str) -> tuple[int, dict[str, str]]:
    """The HTTP status (and headers) answering a failed run whose :func:`client_message` code is ``code``.

    504 for a timeout, 502 when the model failed, 503 with ``Retry-After`` when the
    session store could not be read or written (the same request may succeed later),
    500 for anything unexpected.
    """
    if code == "store_unavailable":
        return 503, {"retry-after": str(STORE_RETRY_AFTER)}
    if code == "timeout":
        return 504, {}
    if code in ("run_failed", "invalid_output"):
        return 502, {}
    return 500, {}


async def read_body(request: Request, limit: int) -> bytes:
    """The request body; 413 beyond ``limit`` bytes, checked before and while reading."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.strip().isdigit() and int(declared) > limit:
        raise ApiError(
            413, f"request body too large: {declared} bytes, the limit is {limit}", "body_too_large"
        )
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise ApiError(413, f"request body too large: over {limit} bytes", "body_too_large")
        chunks.append(chunk)
    return b"".join(chunks)


def parse_json(body: bytes) -> Any:
    if not body.strip():
        raise ApiError(400, "the request body is empty: expected a JSON object", "invalid_json")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise ApiError(400, "the request body is not UTF-8 text", "invalid_json") from None
    try:
        return json.loads(text)
    except ValueError as exc:
        raise ApiError(400, f"the request body is not valid JSON: {exc}", "invalid_json") from None


async def read_json_object(request: Request, limit: int) -> dict[str, Any]:
    value = parse_json(await read_body(request, limit))
    if not isinstance(value, dict):
        raise ApiError(400, f"expected a JSON object, got a JSON {json_type(value)}", "invalid_request")
    return value


def json_type(value: Any) -> str:
    """The JSON name of a parsed value's type, for messages."""
    names = {list: "array", str: "string", bool: "boolean", int: "number", float: "number"}
    return "null" if value is None else names.get(type(value), type(value).__name__)


async def http_exception_handler(request: Request, exc: Exception) -> Response:
    """The router's own refusals (unknown route, wrong method) as JSON."""
    assert isinstance(exc, HTTPException)
    if exc.status_code == 404:
        message, code = f"no route {request.url.path}", "not_found"
    elif exc.status_code == 405:
        message, code = f"{request.method} is not allowed on {request.url.path}", "method_not_allowed"
    else:
        message, code = str(exc.detail), "http_error"
    return json_error(exc.status_code, message, code, dict(exc.headers or {}))


async def unexpected_error_handler(request: Request, exc: Exception) -> Response:
    """Last resort (an error outside any route wrapper): logged, never shown."""
    eid = error_id()
    logger.error("unexpected error %s on %s %s", eid, request.method, request.url.path, exc_info=exc)
    return json_error(500, f"internal server error (error id {eid})", "internal_error")
