"""An app using every kind of route (chat, triggers, MCP, /v1, Agents API, graphs), and its document."""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from graphapp import write_graph_app
from serverkit import TOOLS, agent_md, live_server

from agentdown.app.catalog import load_app
from agentdown.runtime import Runner
from agentdown.server import ServerSettings, create_app
from agentdown.sessions import SqliteSessionStore
from agentdown.testing import ScriptedModel

WEATHER = agent_md(
    "name: Weather\ndescription: Tells the weather.\nbuiltin_endpoints: true\ntools: {include: [lookup]}",
    "Use the lookup tool.",
)
SUMMARIZER = agent_md(
    """
name: Summarizer
description: Summarizes text.
trigger:
  type: http_trigger
  args: {route: summarize, methods: [POST], auth_level: anonymous}
input_schema:
  type: object
  properties: {text: {type: string}}
  required: [text]
"""
)
ITEMS = agent_md(
    "name: Items\ndescription: Answers in text.\n"
    'trigger: {type: http_trigger, args: {route: "items/{id:int}", methods: [GET, POST], auth_level: function}}'
)


def write_full_app(root: Path) -> Path:
    """The graph test app (a helper agent, two graphs) plus a tool agent and two trigger agents."""
    app = write_graph_app(root)
    (app / "weather.agent.md").write_text(WEATHER)
    (app / "summarizer.agent.md").write_text(SUMMARIZER)
    (app / "items.agent.md").write_text(ITEMS)
    (app / "tools").mkdir(exist_ok=True)
    (app / "tools" / "lookup.py").write_text(TOOLS)
    return app


async def asgi_get(app: Any, path: str, headers: dict[str, str] | None = None) -> tuple[int, Any]:
    """``(status, JSON body)`` of a GET sent straight to the ASGI app (no server, no lifespan)."""
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"127.0.0.1")] + [(k.encode(), v.encode()) for k, v in (headers or {}).items()],
        "client": ("127.0.0.1", 1),
        "server": ("127.0.0.1", 80),
    }
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app(scope, receive, send)
    status = next(m["status"] for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return status, json.loads(body)


def offline_app(app_dir: Path, settings: ServerSettings | None = None) -> Any:
    """The app's ASGI app, built without serving it (its model scripted, its sessions in memory)."""
    catalog = load_app(app_dir, model=ScriptedModel([]), environ={})
    runner = Runner(catalog, SqliteSessionStore(":memory:"))
    return create_app(catalog, runner, settings or ServerSettings(), environ={}, start_triggers=False)


@contextlib.contextmanager
def threaded_server(
    app_dir: Path, settings: ServerSettings, environ: dict[str, str], chunk_delay: float = 0.0
) -> Iterator[str]:
    """:func:`live_server` (uvicorn on loopback, a fake model) on its own loop in a thread; its URL.

    Schemathesis sends its requests synchronously, so the server cannot share the test's loop.
    """
    url: list[str] = []
    failed: list[BaseException] = []
    started, stop = threading.Event(), threading.Event()

    async def serve() -> None:
        async with live_server(app_dir, settings=settings, environ=environ, chunk_delay=chunk_delay) as live:
            url.append(live.url)
            started.set()
            while not stop.is_set():
                await asyncio.sleep(0.05)

    def run() -> None:
        try:
            asyncio.run(serve())
        except BaseException as exc:
            failed.append(exc)
        finally:
            started.set()

    thread = threading.Thread(target=run, name="fuzzed-server", daemon=True)
    thread.start()
    started.wait(60)
    if failed or not url:
        raise AssertionError(f"the server did not start: {failed}")
    try:
        yield url[0]
    finally:
        stop.set()
        thread.join(60)
        if failed:
            raise failed[0]
