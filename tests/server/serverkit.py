"""Helpers for the server tests: app folders, a live server on a loopback port, SSE parsing."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import uvicorn

from agentdown.app.catalog import AgentCatalog, load_app
from agentdown.models.openai_compat import OpenAIChatModel
from agentdown.runtime import Runner
from agentdown.server import ServerSettings, create_app
from agentdown.server.serving import bind_socket
from agentdown.sessions import SqliteSessionStore
from agentdown.testing import FakeModelServer, ReplyFunction

REPO = Path(__file__).resolve().parents[2]

TOOLS = '''
import asyncio
from agentdown import tool

@tool
async def lookup(city: str) -> str:
    """Look up the weather of a city."""
    await asyncio.sleep(0.05)
    return f"{city}: sunny"
'''

SLOW_TOOL = '''
import asyncio
from agentdown import tool

@tool
async def wait_a_while(seconds: float) -> str:
    """Wait, then answer."""
    await asyncio.sleep(seconds)
    return "waited"
'''


def agent_md(front: str, body: str = "Be helpful.") -> str:
    return f"---\n{front.strip()}\n---\n{body}\n"


HELPER = agent_md("name: Helper\ndescription: Helps with anything.\nbuiltin_endpoints: true")


def write_app(root: Path, files: dict[str, str]) -> Path:
    """An app folder under ``root`` holding ``files`` (relative path -> text)."""
    app = root / "app"
    for name, text in files.items():
        target = app / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
    return app


@dataclass
class Live:
    url: str
    fake: FakeModelServer
    catalog: AgentCatalog
    runner: Runner
    logs: list[str] = field(default_factory=list)


@contextlib.asynccontextmanager
async def live_server(
    app_dir: Path,
    handler: ReplyFunction | None = None,
    *,
    settings: ServerSettings | None = None,
    store_path: Path | None = None,
    environ: dict[str, str] | None = None,
    chunk_delay: float = 0.0,
) -> AsyncIterator[Live]:
    """The app served in-process by uvicorn on 127.0.0.1, its model a loopback fake model server."""
    env = environ or {}
    async with FakeModelServer(handler, chunk_delay=chunk_delay) as fake:
        model = OpenAIChatModel("fake-model", base_url=fake.base_url, api_key="test", max_retries=0)
        catalog = load_app(app_dir, model=model, environ=env)
        runner = Runner(catalog, SqliteSessionStore(store_path or app_dir.parent / "sessions.db"))
        app = create_app(catalog, runner, settings or ServerSettings(port=0), environ=env, close_runner=True)
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
            yield Live(f"http://127.0.0.1:{sock.getsockname()[1]}", fake, catalog, runner)
        finally:
            server.should_exit = True
            await asyncio.wait_for(task, 30)
            await model.aclose()
            sock.close()


def parse_sse(text: str) -> list[tuple[str, dict[str, Any]]]:
    """``(event, data)`` of every frame of an event stream body."""
    events = []
    for block in text.split("\n\n"):
        if not block.strip():
            continue
        name, data = "", ""
        for line in block.split("\n"):
            if line.startswith("event: "):
                name = line[7:]
            elif line.startswith("data: "):
                data += line[6:]
        events.append((name, json.loads(data)))
    return events


async def post_json(
    session: aiohttp.ClientSession, url: str, body: Any, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], Any]:
    async with session.post(url, json=body, headers=headers) as response:
        text = await response.text()
        try:
            parsed: Any = json.loads(text)
        except ValueError:
            parsed = text
        return response.status, dict(response.headers), parsed


# -- serve processes ------------------------------------------------------------------------------


def serve_args(app: Path) -> list[str]:
    """``python`` arguments that serve ``app`` on a free port, quietly."""
    return [
        "-m",
        "agentdown.cli",
        "serve",
        str(app),
        "--port",
        "0",
        "--log-level",
        "warning",
        "--no-access-log",
    ]


SERVING = re.compile(r"serving .* at (http://\S+)")


class ServeProcess:
    """``agentdown serve`` (or the quickstart) in a subprocess; ``url`` once it listens."""

    def __init__(self, args: list[str], env: dict[str, str], cwd: Path | None = None) -> None:
        self.process = subprocess.Popen(
            [sys.executable, *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env={**os.environ, **env},
            cwd=cwd,
        )
        self.output: list[str] = []
        self.url = ""
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.output.append(line)
            match = SERVING.search(line)
            if match:
                self.url = match.group(1)
            if line.startswith("Press Ctrl+C"):
                break
        if not self.url:
            self.process.wait(10)
            raise AssertionError("the server did not start:\n" + "".join(self.output))

    def stop(self) -> str:
        """Stop it (SIGINT, as Ctrl+C) and return everything it printed."""
        self.process.send_signal(2)
        try:
            rest, _ = self.process.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            rest, _ = self.process.communicate()
        return "".join(self.output) + (rest or "")


@contextlib.contextmanager
def serve_process(args: list[str], env: dict[str, str], cwd: Path | None = None) -> Iterator[ServeProcess]:
    proc = ServeProcess(args, env, cwd)
    try:
        yield proc
    finally:
        if proc.process.poll() is None:
            proc.stop()
