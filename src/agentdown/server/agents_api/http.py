"""Requests and answers of the Agents API: bodies, errors in the service's shape, who is calling.

Every error under ``/api/projects/{project}`` is ``{"error": {"code", "message"}}``
with its HTTP status, so the SDK raises ``HttpResponseError`` (``ResourceNotFoundError``
for a 404) carrying the message. Unexpected failures are logged under an error id and
only that id is answered; an unavailable store is a 503 with ``Retry-After`` (nothing
was changed, the same request may succeed later).
"""

from __future__ import annotations

import asyncio
import functools
import logging
from dataclasses import dataclass
from typing import Any, TypeVar

from pydantic import BaseModel
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, HTTPConnection, Request
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from agentdown.app.spec import AgentSpec, HttpAuth
from agentdown.runtime.agents_api.assistants import owner_key
from agentdown.runtime.agents_api.errors import ApiProblem
from agentdown.runtime.agents_api.schemas import ErrorBody, ErrorDetail, dump, parse
from agentdown.runtime.agents_api.store import AgentsStoreError
from agentdown.server.auth import Authorizer
from agentdown.server.errors import STORE_RETRY_AFTER, ApiError, Endpoint, error_id, read_json_object

__all__ = [
    "AgentsDoor",
    "Caller",
    "agents_endpoint",
    "caller_of",
    "not_routed",
    "ok",
    "problem",
    "read_model",
]

logger = logging.getLogger("agentdown.server")

Model = TypeVar("Model", bound=BaseModel)


def problem(status: int, message: str, code: str, headers: dict[str, str] | None = None) -> JSONResponse:
    body = dump(ErrorBody(error=ErrorDetail(code=code, message=message)))
    return JSONResponse(body, status_code=status, headers=headers)


def ok(body: dict[str, Any]) -> JSONResponse:
    return JSONResponse(body)


def agents_endpoint(endpoint: Endpoint) -> Endpoint:
    """Answer whatever a route raises in the Agents API's error shape."""

    @functools.wraps(endpoint)
    async def wrapper(request: Request) -> Response:
        try:
            return await endpoint(request)
        except ApiProblem as exc:
            return JSONResponse(exc.body(), status_code=exc.status)
        except ApiError as exc:  # the server's own checks: body size, JSON, keys
            return problem(exc.status, exc.message, exc.code, exc.headers)
        except AgentsStoreError as exc:
            logger.warning("agents store unavailable: %s: %s", type(exc).__name__, exc)
            return problem(
                503,
                f"the Agents API store is unavailable, nothing of this request was changed: {exc}; "
                f"send it again in {STORE_RETRY_AFTER} s",
                "store_unavailable",
                {"retry-after": str(STORE_RETRY_AFTER)},
            )
        except ClientDisconnect:
            return Response(status_code=499)
        except (asyncio.CancelledError, KeyboardInterrupt):
            raise
        except Exception as exc:
            eid = error_id()
            logger.error("unexpected error %s on %s %s", eid, request.method, request.url.path, exc_info=exc)
            return problem(
                500,
                f"internal server error (error id {eid}; details are in the server log)",
                "internal_error",
            )

    return wrapper


async def read_model(request: Request, model: type[Model], limit: int) -> Model:
    """The JSON body as ``model``: 413 over ``limit`` bytes, 400 naming the field at fault."""
    return parse(model, await read_json_object(request, limit))


async def not_routed(request: Request, exc: Exception) -> Response:
    """Unknown routes and methods under the mount, in this API's error shape."""
    assert isinstance(exc, HTTPException)
    if exc.status_code == 404:
        return problem(404, f"no route {request.url.path} in the Agents API", "not_found")
    if exc.status_code == 405:
        message = f"{request.method} is not allowed on {request.url.path}"
        return problem(405, message, "method_not_allowed", dict(exc.headers or {}))
    return problem(exc.status_code, str(exc.detail), "http_error", dict(exc.headers or {}))


def keyed(conn: HTTPConnection) -> HTTPConnection:
    """``conn`` with an ``api-key`` header also presented as ``x-functions-key``.

    Azure clients send keys as ``api-key``; the server's :class:`Authorizer` reads the
    Functions ways, so the key is handed over in one of them (and compared there).
    """
    raw: list[tuple[bytes, bytes]] = conn.scope["headers"]
    key = next((value for name, value in raw if name == b"api-key"), None)  # ASGI names are lowercase
    if key is None or any(name == b"x-functions-key" for name, _ in raw):
        return conn
    return HTTPConnection({**conn.scope, "headers": [*raw, (b"x-functions-key", key)]})


class AgentsDoor:
    """Checks every request under the mount (unknown routes included) against the door's ``http_auth``."""

    def __init__(self, app: ASGIApp, authorizer: Authorizer, auth: HttpAuth) -> None:
        self.app = app
        self.authorizer = authorizer
        self.auth = auth

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and not self.authorizer.admits_all(self.auth):
            try:
                self.authorizer.require_agent(keyed(HTTPConnection(scope)), self.auth)
            except ApiError as exc:
                await problem(exc.status, exc.message, exc.code, exc.headers)(scope, receive, send)
                return
        await self.app(scope, receive, send)


@dataclass(frozen=True, slots=True)
class Caller:
    """Who is calling: whose records they see, and which app agents they may use."""

    owner: str
    """The :func:`owner_key` of the caller's principal (``""`` when none is known)."""
    request: HTTPConnection
    authorizer: Authorizer

    def allow(self, spec: AgentSpec) -> bool:
        """Whether the agent's own ``http_auth`` admits the caller (as its chat API would)."""
        if self.authorizer.admits_all(spec.http_auth):
            return True
        try:
            self.authorizer.require_agent(self.request, spec.http_auth)
        except ApiError:
            return False
        return True


def caller_of(request: HTTPConnection, authorizer: Authorizer) -> Caller:
    return Caller(owner_key(authorizer.principal(request)), keyed(request), authorizer)
