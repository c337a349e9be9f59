"""An app using every kind of route (chat, triggers, MCP, /v1, Agents API, graphs), and its document."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from graphapp import write_graph_app
from serverkit import TOOLS, agent_md

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
