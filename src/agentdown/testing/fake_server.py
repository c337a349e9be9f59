"""A loopback OpenAI-compatible model server for tests and benchmarks.

>>> async with FakeModelServer() as srv:
...     model = OpenAIChatModel("fake-model", base_url=srv.base_url, api_key="test")

Serves ``POST /v1/chat/completions`` (also under the Azure paths
``/openai/deployments/{deployment}/chat/completions`` and ``/openai/v1/chat/completions``),
``POST /v1/embeddings`` (the same Azure paths; deterministic vectors, see
:mod:`agentdown.testing.fake_embeddings`) and ``GET /v1/models``. Replies come from a handler ``fn(messages, info)`` like a
:class:`~agentdown.testing.FunctionModel` function; responses and streams are shaped
like OpenAI's. The default handler makes "one-tool turns" (see :func:`default_handler`).

Run standalone (e.g. for benchmarks in another process)::

    python -m agentdown.testing.fake_server --port 0 --latency-ms 50 --print-url
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import inspect
import json
import signal
import threading
import time
from collections import deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from agentdown.messages import Message
from agentdown.models.base import ToolDefinition
from agentdown.models.wire_server import (
    completion_to_openai,
    messages_from_openai,
    options_from_openai,
    stream_chunks_to_openai,
    tools_from_openai,
)
from agentdown.testing.fake_embeddings import embedding_handler
from agentdown.testing.scripted import CallInfo, RecordedRequest, Reply, ReplyFunction, to_response, tool_call

__all__ = ["FakeModelServer", "default_handler", "example_arguments"]

_dumps = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode


def example_arguments(schema: dict[str, Any]) -> dict[str, Any]:
    """Arguments satisfying the required properties of a JSON schema, with plain sample values."""
    properties: dict[str, Any] = schema.get("properties") or {}
    return {name: _sample(properties.get(name) or {}) for name in schema.get("required") or []}


def _sample(schema: dict[str, Any]) -> Any:
    if schema.get("enum"):
        return schema["enum"][0]
    if "const" in schema:
        return schema["const"]
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    samples: dict[str, Any] = {"string": "test", "integer": 1, "number": 1.0, "boolean": True, "null": None}
    if kind in samples:
        return samples[kind]
    if kind == "array":
        return []
    if kind == "object" or "properties" in schema:
        return example_arguments(schema)
    for key in ("anyOf", "oneOf"):
        if schema.get(key):
            return _sample(schema[key][0])
    return "test"


def default_handler(messages: list[Message], info: CallInfo) -> Reply:
    """One-tool turns: a user message with tools offered calls the first tool (sample
    arguments from its schema); a last message holding tool results gets a final text
    quoting them; anything else is echoed back as ``Echo: <last user text>``."""
    last = messages[-1] if messages else None
    if last is not None and last.role == "tool":
        results = "; ".join(f"{r.name or r.call_id}: {r.text}" for r in last.tool_results)
        return f"Done. Tool results: {results}"
    if last is not None and last.role == "user" and info.tools:
        first = info.tools[0]
        return [tool_call(first.name, example_arguments(first.parameters))]
    user_text = next((m.text for m in reversed(messages) if m.role == "user"), "")
    return f"Echo: {user_text}"


@dataclass(slots=True)
class _Fault:
    status: int
    body: str
    headers: dict[str, str]
    disconnect: bool = False


class FakeModelServer:
    """An OpenAI-compatible HTTP server on ``127.0.0.1`` with an ephemeral port.

    Every request is recorded in :attr:`requests`; :meth:`fail_next` and
    :meth:`disconnect_next` queue faults for retry tests.
    """

    def __init__(
        self,
        handler: ReplyFunction | None = None,
        *,
        latency: float = 0.0,
        model: str = "fake-model",
        host: str = "127.0.0.1",
        port: int = 0,
        fragment_size: int = 8,
        chunk_delay: float = 0.0,
    ) -> None:
        self.handler: ReplyFunction = handler or default_handler
        """``fn(messages, info)`` returning a reply (``info.request`` is the HTTP request)."""
        self.latency = latency
        """Seconds to wait before answering each request."""
        self.model = model
        """Model name reported when the request names none."""
        self.fragment_size = fragment_size
        """Characters per streamed text or argument fragment."""
        self.chunk_delay = chunk_delay
        """Seconds between streamed chunks (0 sends the whole stream at once)."""
        self.requests: list[RecordedRequest] = []
        """Every request received, oldest first."""
        self.embedding_faults: list[int] = []
        """HTTP statuses to answer the next ``/embeddings`` requests with (see fake_embeddings)."""
        self._host = host
        self._port = port
        self._faults: deque[_Fault] = deque()
        self._runner: web.AppRunner | None = None
        self._bound_port: int | None = None

    # -- lifecycle -------------------------------------------------------------------------

    async def start(self) -> FakeModelServer:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_post("/v1/chat/completions", self._chat)
        app.router.add_post("/chat/completions", self._chat)
        app.router.add_post("/openai/v1/chat/completions", self._chat)
        app.router.add_post("/openai/deployments/{deployment}/chat/completions", self._chat)
        embeddings = embedding_handler(self)
        for path in ("/v1/embeddings", "/embeddings", "/openai/v1/embeddings"):
            app.router.add_post(path, embeddings)
        app.router.add_post("/openai/deployments/{deployment}/embeddings", embeddings)
        app.router.add_get("/v1/models", self._models)
        app.router.add_get("/openai/v1/models", self._models)
        runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await runner.setup()
        site = web.TCPSite(runner, self._host, self._port, reuse_address=True)
        await site.start()
        self._bound_port = int(runner.addresses[0][1])
        self._runner = runner
        return self

    async def stop(self) -> None:
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()

    async def __aenter__(self) -> FakeModelServer:
        return await self.start()

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    @contextlib.contextmanager
    def in_thread(self) -> Iterator[FakeModelServer]:
        """Run the server in a background thread for synchronous code (``with srv.in_thread():``)."""
        loop = asyncio.new_event_loop()
        started = threading.Event()
        failure: list[BaseException] = []

        def run() -> None:
            asyncio.set_event_loop(loop)
            try:
                loop.run_until_complete(self.start())
            except BaseException as exc:
                failure.append(exc)
                started.set()
                return
            started.set()
            loop.run_forever()
            loop.run_until_complete(self.stop())
            loop.close()

        thread = threading.Thread(target=run, name="fake-model-server", daemon=True)
        thread.start()
        started.wait(30)
        if failure:
            raise failure[0]
        try:
            yield self
        finally:
            loop.call_soon_threadsafe(loop.stop)
            thread.join(30)

    # -- addresses -------------------------------------------------------------------------

    @property
    def port(self) -> int:
        if self._bound_port is None:
            raise RuntimeError("FakeModelServer is not running")
        return self._bound_port

    @property
    def url(self) -> str:
        """The server root, usable as an Azure OpenAI endpoint."""
        return f"http://{self._host}:{self.port}"

    @property
    def base_url(self) -> str:
        """The OpenAI-style base URL (``.../v1``)."""
        return f"{self.url}/v1"

    # -- fault injection -------------------------------------------------------------------

    def fail_next(
        self,
        status: int,
        body: str | dict[str, Any] | None = None,
        *,
        retry_after: float | str | None = None,
        retry_after_ms: int | None = None,
        headers: dict[str, str] | None = None,
        times: int = 1,
    ) -> None:
        """Answer the next ``times`` chat requests with ``status`` (an OpenAI-style error body by default)."""
        if body is None:
            body = {
                "error": {"message": f"injected failure {status}", "type": "fake_error", "code": str(status)}
            }
        text = body if isinstance(body, str) else json.dumps(body)
        all_headers = dict(headers or {})
        if retry_after is not None:
            all_headers["Retry-After"] = str(retry_after)
        if retry_after_ms is not None:
            all_headers["retry-after-ms"] = str(retry_after_ms)
        for _ in range(times):
            self._faults.append(_Fault(status, text, all_headers))

    def disconnect_next(self, times: int = 1) -> None:
        """Drop the connection of the next ``times`` chat requests without answering."""
        for _ in range(times):
            self._faults.append(_Fault(0, "", {}, disconnect=True))

    # -- handlers --------------------------------------------------------------------------

    async def _record(self, request: web.Request) -> RecordedRequest:
        raw = await request.read()
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = raw.decode("utf-8", "replace")
        peer = request.transport.get_extra_info("peername") if request.transport else None
        recorded = RecordedRequest(
            method=request.method,
            path=request.path,
            query=dict(request.query),
            headers={k.lower(): v for k, v in request.headers.items()},
            body=body,
            peer=f"{peer[0]}:{peer[1]}" if peer else "",
        )
        self.requests.append(recorded)
        return recorded

    async def _models(self, request: web.Request) -> web.Response:
        await self._record(request)
        data = [{"id": self.model, "object": "model", "created": int(time.time()), "owned_by": "agentdown"}]
        return web.json_response({"object": "list", "data": data})

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        recorded = await self._record(request)
        if self.latency > 0:
            await asyncio.sleep(self.latency)
        if self._faults:
            fault = self._faults.popleft()
            if fault.disconnect:
                if request.transport is not None:
                    request.transport.close()
                return web.Response(status=500)
            return web.Response(
                status=fault.status, text=fault.body, headers=fault.headers, content_type="application/json"
            )
        body = recorded.body
        if not isinstance(body, dict) or not isinstance(body.get("messages"), list):
            return _error(400, "request body must be a JSON object with a 'messages' list")
        try:
            messages = messages_from_openai(body["messages"])
            tools: Sequence[ToolDefinition] = tools_from_openai(body.get("tools"))
        except (ValueError, TypeError, AttributeError) as exc:
            return _error(400, f"invalid request: {exc}")
        model = request.match_info.get("deployment") or body.get("model") or self.model
        stream = bool(body.get("stream"))
        info = CallInfo(tools=tools, options=options_from_openai(body), stream=stream, request=recorded)
        try:
            reply = self.handler(messages, info)
            if inspect.isawaitable(reply):
                reply = await reply
            response = to_response(reply, model_name=model, messages=messages, tools=tools)
        except Exception as exc:
            return _error(500, f"handler failed: {type(exc).__name__}: {exc}", "server_error")
        if not stream:
            return web.Response(
                body=_dumps(completion_to_openai(response, model)), content_type="application/json"
            )
        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
        chunks = stream_chunks_to_openai(
            response, model, include_usage=include_usage, fragment_size=self.fragment_size
        )
        out = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
        await out.prepare(request)
        if self.chunk_delay > 0:
            for chunk in chunks:
                await out.write(f"data: {_dumps(chunk)}\n\n".encode())
                await asyncio.sleep(self.chunk_delay)
            await out.write(b"data: [DONE]\n\n")
        else:
            frames = [f"data: {_dumps(chunk)}\n\n" for chunk in chunks]
            frames.append("data: [DONE]\n\n")
            await out.write("".join(frames).encode())
        await out.write_eof()
        return out


def _error(status: int, message: str, kind: str = "invalid_request_error") -> web.Response:
    body = {"error": {"message": message, "type": kind, "param": None, "code": None}}
    return web.Response(status=status, body=_dumps(body), content_type="application/json")


async def _serve(host: str, port: int, latency: float, print_url: bool) -> None:
    server = FakeModelServer(latency=latency, host=host, port=port)
    await server.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    if print_url:
        print(server.base_url, flush=True)
    try:
        await stop.wait()
    finally:
        await server.stop()


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Loopback OpenAI-compatible fake model server.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--latency-ms", type=float, default=0.0, help="delay before each answer")
    parser.add_argument("--print-url", action="store_true", help="print the base URL (.../v1) once listening")
    args = parser.parse_args(argv)
    asyncio.run(_serve(args.host, args.port, args.latency_ms / 1000.0, args.print_url))


if __name__ == "__main__":
    main()
