"""Calling a created FunctionApp's functions as the Functions host does."""

from __future__ import annotations

import asyncio
import inspect
import json
from pathlib import Path
from typing import Any

import azure.functions as func

HERE = Path(__file__).parent
SAMPLE = HERE / "apps" / "sample"
SAMPLES = HERE / "samples"


class Hosted:
    """A created FunctionApp, its functions indexed once (as the host does) by name."""

    def __init__(self, app: func.FunctionApp) -> None:
        self.app = app
        self.functions = {f.get_function_name(): f for f in app.get_functions()}

    def bindings(self, name: str) -> list[dict[str, Any]]:
        raw: list[dict[str, Any]] = json.loads(self.functions[name].get_function_json())["bindings"]
        return raw

    def streams(self, name: str) -> bool:
        """Whether function ``name`` takes the streaming worker's Request (not ``func.HttpRequest``)."""
        fn = self.functions[name].get_user_function()
        params = list(inspect.signature(fn).parameters.values())
        return bool(params) and params[0].annotation is not func.HttpRequest and self.is_http(name)

    def is_http(self, name: str) -> bool:
        return any(b["type"] == "httpTrigger" for b in self.bindings(name))

    async def call(self, name: str, *args: Any) -> Any:
        """Call ``name`` as the host does; a streaming HTTP function's answer is read whole."""
        streaming = self.streams(name) and args and isinstance(args[0], func.HttpRequest)
        if streaming:
            args = (asgi_request(args[0]), *args[1:])
        result = await self.call_raw(name, *args)
        return await collected(result) if streaming else result

    async def call_raw(self, name: str, *args: Any) -> Any:
        result = self.functions[name].get_user_function()(*args)
        return await result if hasattr(result, "__await__") else result

    async def aclose(self) -> None:
        await self.app.agentdown.aclose()  # type: ignore[attr-defined]


def http(method: str, path: str, body: Any = None, headers: dict[str, str] | None = None) -> func.HttpRequest:
    """A request as the host hands it over (routePrefix "")."""
    data = b"" if body is None else body if isinstance(body, bytes) else json.dumps(body).encode()
    merged = {"content-type": "application/json", **(headers or {})}
    return func.HttpRequest(method, f"http://localhost:7071{path}", headers=merged, body=data)


def asgi_request(req: func.HttpRequest) -> Any:
    """What the streaming worker hands a function for ``req``: the extension's (FastAPI's) Request."""
    from urllib.parse import urlsplit

    from azurefunctions.extensions.http.fastapi import Request  # type: ignore[import-untyped]

    url = urlsplit(req.url)
    pending = [{"type": "http.request", "body": req.get_body(), "more_body": False}]

    async def receive() -> dict[str, Any]:
        if pending:
            return pending.pop()
        await asyncio.Event().wait()  # the client stays until the test ends
        return {"type": "http.disconnect"}

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": req.method,
        "scheme": "http",
        "path": url.path,
        "raw_path": url.path.encode(),
        "query_string": url.query.encode(),
        "root_path": "",
        "headers": [(k.lower().encode(), v.encode()) for k, v in req.headers.items()],
        "client": ("127.0.0.1", 50000),
        "server": ("localhost", 7071),
    }
    return Request(scope, receive)


async def collected(response: Any) -> func.HttpResponse:
    """A returned FastAPI response sent as the worker's server sends it, read whole."""
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        await asyncio.Event().wait()
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await response({"type": "http", "asgi": {"version": "3.0"}, "method": "GET"}, receive, send)
    headers = {k.decode(): v.decode() for k, v in sent[0].get("headers", [])}
    body = b"".join(m.get("body", b"") for m in sent[1:])
    kind = headers.get("content-type", "text/plain").split(";")[0]
    return func.HttpResponse(body, status_code=sent[0]["status"], headers=headers, mimetype=kind)
