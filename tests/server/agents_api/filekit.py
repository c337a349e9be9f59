"""Helpers of the files and vector stores tests: a live server with its ``AgentsApi``, uploads."""

from __future__ import annotations

import asyncio
import contextlib
import importlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")


KNOWLEDGE = importlib.import_module("agentdown.knowledge")
"""The knowledge package (tests patch its ``ingest_file``: the ingestion job looks it up there)."""


@dataclass
class Served:
    url: str
    api: Any
    """The server's ``AgentsApi`` (its ``search_stores`` is what the run executor calls)."""
    data: Path


@contextlib.asynccontextmanager
async def served_api(tmp_path: Path, settings: Any = None, **environ: str) -> AsyncIterator[Served]:
    """An app served by uvicorn on loopback with its real (SQLite) Agents store in ``tmp_path/data``."""
    import uvicorn
    from serverkit import HELPER, write_app

    from agentdown.app.catalog import load_app
    from agentdown.runtime import Runner
    from agentdown.server import ServerSettings, create_app
    from agentdown.server.serving import bind_socket
    from agentdown.sessions import SqliteSessionStore
    from agentdown.testing import ScriptedModel

    data = tmp_path / "data"
    env = {"AGENTDOWN_DATA_DIR": str(data), "AGENTDOWN_INGEST_POLL_SECONDS": "0.2", **environ}
    app_dir = write_app(tmp_path, {"helper.agent.md": HELPER})
    catalog = load_app(app_dir, model=ScriptedModel([]), environ=env)
    runner = Runner(catalog, SqliteSessionStore(tmp_path / "sessions.db"))
    app = create_app(
        catalog, runner, settings or ServerSettings(port=0), environ=env, close_runner=True, execute_runs=True
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
        yield Served(f"http://127.0.0.1:{sock.getsockname()[1]}", app.state.agents_api, data)
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 30)
        sock.close()


async def sync(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """A blocking SDK call off the event loop that serves the app."""
    return await asyncio.to_thread(fn, *args, **kwargs)


def upload(client: Any, name: str, text: str | bytes) -> Any:
    data = text.encode() if isinstance(text, str) else text
    return client.files.upload_and_poll(file=data, purpose="assistants", filename=name, polling_interval=0.1)
