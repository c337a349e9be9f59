"""A worker killed (SIGKILL) in the middle of a run: another worker finishes it, exactly once.

Real ``agentdown worker`` processes on each queue backend (the embedded SQLite queue
and Azure Storage queues on Azurite, with the record store that goes with each),
a real tool that marks when it starts, and the loopback fake model. The first
worker is killed while the tool runs; the second takes the run over after the
lease expires, gives the interrupted call an error result instead of running it
again, and completes the run with every step recorded.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from agentdown.app.catalog import load_app
from agentdown.messages import Message
from agentdown.models.openai_compat import OpenAIChatModel
from agentdown.runtime import Runner
from agentdown.runtime.agents_api.config import open_agents_store
from agentdown.runtime.agents_api.context import AgentsApi
from agentdown.runtime.agents_api.objects import message_object, text_block, thread_object
from agentdown.runtime.agents_api.runs.executor import INTERRUPTED_RESULT
from agentdown.runtime.agents_api.runs.host import RunHost
from agentdown.runtime.agents_api.runs.schemas import RunCreate
from agentdown.sessions import SqliteSessionStore
from agentdown.testing import FakeModelServer
from agentdown.testing.scripted import CallInfo, ToolCalls, tool_call

MARKED_TOOL = '''
import os, time
from agentdown import tool

@tool
def long_job(name: str) -> str:
    """Do a long job."""
    with open(os.environ["MARKER_FILE"], "a") as f:
        f.write(f"{os.getpid()}\\n")
    time.sleep(60)
    return "job done"
'''

AGENT = (
    "---\nname: jobs\ndescription: Runs jobs.\ntools: {include: [long_job]}\n---\nRun the job asked for.\n"
)


def reply(messages: list[Message], info: CallInfo) -> Any:
    last = messages[-1]
    if last.role == "tool":
        return "after the job: " + (last.tool_results[0].text or "")
    return ToolCalls(tool_call("long_job", {"name": "report"}))


@pytest.fixture(params=["sqlite", "azurite"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[dict[str, str]]:
    env = {"AGENTDOWN_DATA_DIR": str(tmp_path / "data")}
    if request.param == "sqlite":
        yield env
        return
    azurite = request.getfixturevalue("azurite")
    yield {**env, "AzureWebJobsStorage": azurite.connection_string}


def start_worker(app: Path, env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "agentdown.cli", "worker", str(app), "--log-level", "warning"],
        env={**os.environ, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


async def wait_for(predicate: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await predicate():
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


async def test_killed_worker_run_completes_exactly_once(tmp_path: Path, backend: dict[str, str]) -> None:
    app = tmp_path / "app"
    (app / "tools").mkdir(parents=True)
    (app / "jobs.agent.md").write_text(AGENT)
    (app / "tools" / "jobs.py").write_text(MARKED_TOOL)
    marker = tmp_path / "started.txt"
    async with FakeModelServer(reply) as fake:
        env = {
            **backend,
            "AGENTDOWN_PROVIDER": "openai_compatible",
            "OPENAI_BASE_URL": fake.base_url,
            "OPENAI_API_KEY": "test",
            "AGENTDOWN_MODEL": "fake-model",
            "AGENTDOWN_RUN_LEASE_SECONDS": "2",
            "AGENTDOWN_RUN_POLL_SECONDS": "0.2",
            "MARKER_FILE": str(marker),
        }
        model = OpenAIChatModel("fake-model", base_url=fake.base_url, api_key="test", max_retries=0)
        catalog = load_app(app, model=model, environ=env)
        store = open_agents_store(env)
        api = AgentsApi(store, Runner(catalog, SqliteSessionStore(tmp_path / "s.db")))
        host = RunHost(api, env)
        await host.start(consume=False)  # this process only creates the run; workers execute it
        thread = thread_object()
        await store.create("thread", "", thread["id"], thread)
        first = message_object(thread["id"], "user", [text_block("make the report")])
        await store.create("message", thread["id"], first["id"], first)
        run = await host.service.create(thread["id"], RunCreate(assistant_id="jobs"))

        worker_a = start_worker(app, env)
        worker_b: subprocess.Popen[str] | None = None
        try:

            async def tool_started() -> bool:
                return marker.exists() and marker.read_text().strip() != ""

            await wait_for(tool_started, 60, "the tool to start in the first worker")
            os.kill(worker_a.pid, signal.SIGKILL)
            worker_a.wait(10)
            worker_b = start_worker(app, env)

            async def ended() -> bool:
                record = await store.get("run", thread["id"], run["id"])
                assert record is not None
                return record.body["status"] not in ("queued", "in_progress")

            await wait_for(ended, 60, "the second worker to finish the run")
        finally:
            for proc in (worker_a, worker_b):
                if proc is not None and proc.poll() is None:
                    proc.send_signal(signal.SIGTERM)
                    try:
                        proc.wait(20)
                    except subprocess.TimeoutExpired:
                        proc.kill()
        record = await store.get("run", thread["id"], run["id"])
        assert record is not None
        body = record.body
        assert body["status"] == "completed", body.get("last_error")
        assert marker.read_text().split() == [str(worker_a.pid)]  # the tool ran once, in the killed worker
        steps = (await store.list("step", run["id"], limit=10, order="asc")).records
        assert [(s.body["type"], s.body["status"]) for s in steps] == [
            ("tool_calls", "completed"),
            ("message_creation", "completed"),
        ]
        assert steps[0].body["step_details"]["tool_calls"][0]["function"]["output"] == INTERRUPTED_RESULT
        messages = (await store.list("message", thread["id"], limit=10, order="asc")).records
        assert [(m.body["role"], m.body["status"]) for m in messages] == [
            ("user", "completed"),
            ("assistant", "completed"),
        ]
        assert messages[1].body["content"][0]["text"]["value"] == "after the job: " + INTERRUPTED_RESULT
        assert messages[1].body["run_id"] == run["id"]
        await host.aclose()
        await store.aclose()
        await model.aclose()
