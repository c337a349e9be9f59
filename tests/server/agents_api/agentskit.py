"""A live server for the Agents API tests: the app of ``APP`` and an in-memory Agents store."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import uvicorn
from memstore import MemoryAgentsStore
from serverkit import TOOLS, agent_md, write_app

from agentdown.app.catalog import AgentCatalog, load_app
from agentdown.runtime import Runner
from agentdown.server import ServerSettings, create_app
from agentdown.server.serving import bind_socket
from agentdown.sessions import SqliteSessionStore
from agentdown.testing import ScriptedModel

APP = {
    "helper.agent.md": agent_md(
        "name: Helper\ndescription: Helps with anything.\nbuiltin_endpoints: true\n"
        "subagents:\n  - agent: sorter\n    when: Sort things.",
        "Be helpful. Use lookup for weather.",
    ),
    "sorter.agent.md": agent_md(
        "name: Sorter\ndescription: Sorts lists.\nmodel: sorter-model\n"
        "response_schema: {type: object, properties: {items: {type: array}}, required: [items]}",
        "Sort the list.",
    ),
    "tools/weather.py": TOOLS,
}
APP_IDS = ["asst_app_helper", "asst_app_sorter"]
"""The app agents' ids in list (``asc``) order: the files' order."""


@dataclass
class LiveApi:
    url: str
    store: MemoryAgentsStore
    catalog: AgentCatalog


@contextlib.asynccontextmanager
async def live_api(
    tmp_path: Path,
    *,
    settings: ServerSettings | None = None,
    files: dict[str, str] | None = None,
) -> AsyncIterator[LiveApi]:
    """The app served by uvicorn on a loopback port; runs are not exercised here (no model calls)."""
    app_dir = write_app(tmp_path, files or APP)
    catalog = load_app(app_dir, model=ScriptedModel([]), environ={})
    store = MemoryAgentsStore()
    runner = Runner(catalog, SqliteSessionStore(tmp_path / "sessions.db"))
    app = create_app(
        catalog, runner, settings or ServerSettings(port=0), environ={}, close_runner=True, agents_store=store
    )
    sock = bind_socket("127.0.0.1", 0)
    server = uvicorn.Server(uvicorn.Config(app, lifespan="on", log_level="warning", access_log=False))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        for _ in range(500):
            if server.started or task.done():
                break
            await asyncio.sleep(0.01)
        if task.done():
            task.result()
        yield LiveApi(f"http://127.0.0.1:{sock.getsockname()[1]}", store, catalog)
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 30)
        sock.close()
    assert store.closed, "the app closes the Agents store when it stops"
