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
import contextlib
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


async def new_thread(store: Any, text: str) -> dict[str, Any]:
    """A thread with one user message, written straight to the store."""
    thread = thread_object()
    await store.create("thread", "", thread["id"], thread)
    first = message_object(thread["id"], "user", [text_block(text)])
    await store.create("message", thread["id"], first["id"], first)
    return thread


def stop(*procs: subprocess.Popen[str] | None) -> None:
    for proc in procs:
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()


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
        thread = await new_thread(store, "make the report")
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
            stop(worker_a, worker_b)
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


async def test_a_takeover_waits_for_the_azure_function_reply_instead_of_calling_again(
    tmp_path: Path, azurite: Any
) -> None:
    """The worker dies while an ``azure_function`` call is out; the next one gets the reply to that call."""
    import json

    from azure.storage.queue import BinaryBase64DecodePolicy, BinaryBase64EncodePolicy
    from azure.storage.queue.aio import QueueClient

    app = tmp_path / "app"
    app.mkdir()
    (app / "jobs.agent.md").write_text(AGENT.replace("tools: {include: [long_job]}\n", ""))

    def model(messages: list[Message], info: CallInfo) -> Any:
        last = messages[-1]
        if last.role == "tool":
            return "the function said " + (last.tool_results[0].text or "")
        return ToolCalls(tool_call("convert", {"amount": 3}))

    endpoint = f"{azurite.queue_endpoint}/devstoreaccount1"

    def binding(name: str) -> dict[str, Any]:
        return {
            "type": "storage_queue",
            "storage_queue": {"queue_service_endpoint": endpoint, "queue_name": name},
        }

    definition = {
        "type": "azure_function",
        "azure_function": {
            "function": {
                "name": "convert",
                "description": "Convert.",
                "parameters": {"type": "object", "properties": {"amount": {"type": "number"}}},
            },
            "input_binding": binding("convert-in"),
            "output_binding": binding("convert-out"),
        },
    }
    policies = {
        "message_encode_policy": BinaryBase64EncodePolicy(),
        "message_decode_policy": BinaryBase64DecodePolicy(),
    }
    source = QueueClient.from_connection_string(azurite.connection_string, "convert-in", **policies)
    sink = QueueClient.from_connection_string(azurite.connection_string, "convert-out", **policies)
    for q in (source, sink):
        with contextlib.suppress(Exception):
            await q.create_queue()
    async with FakeModelServer(model) as fake:
        env = {
            "AGENTDOWN_DATA_DIR": str(tmp_path / "data"),
            "AzureWebJobsStorage": azurite.connection_string,
            "AGENTDOWN_PROVIDER": "openai_compatible",
            "OPENAI_BASE_URL": fake.base_url,
            "OPENAI_API_KEY": "test",
            "AGENTDOWN_MODEL": "fake-model",
            "AGENTDOWN_RUN_LEASE_SECONDS": "2",
            "AGENTDOWN_RUN_POLL_SECONDS": "0.2",
        }
        model_client = OpenAIChatModel("fake-model", base_url=fake.base_url, api_key="test", max_retries=0)
        catalog = load_app(app, model=model_client, environ=env)
        store = open_agents_store(env)
        api = AgentsApi(store, Runner(catalog, SqliteSessionStore(tmp_path / "s.db")), environ=env)
        host = RunHost(api, env)
        await host.start(consume=False)
        assistant = {
            "id": "asst_converter",
            "object": "assistant",
            "model": "fake-model",
            "name": "c",
            "tools": [definition],
            "_owner": "",
        }
        await store.create("assistant", "", assistant["id"], assistant)
        thread = await new_thread(store, "convert 3")
        run = await host.service.create(thread["id"], RunCreate(assistant_id="asst_converter"))
        worker_a = start_worker(app, env)
        worker_b: subprocess.Popen[str] | None = None
        try:
            calls: list[Any] = []

            async def call_sent() -> bool:
                async for message in source.receive_messages(visibility_timeout=60):
                    calls.append(json.loads(message.content))
                    await source.delete_message(message)
                return bool(calls)

            await wait_for(call_sent, 60, "the first worker to send the call")
            os.kill(worker_a.pid, signal.SIGKILL)
            worker_a.wait(10)
            worker_b = start_worker(app, env)
            await asyncio.sleep(3)  # the lease has run out: the second worker has taken the run over
            reply = {"Value": {"result": 30}, "CorrelationId": calls[0]["CorrelationId"]}
            await sink.send_message(json.dumps(reply).encode())

            async def ended() -> bool:
                record = await store.get("run", thread["id"], run["id"])
                assert record is not None
                return record.body["status"] not in ("queued", "in_progress")

            await wait_for(ended, 60, "the second worker to finish the run")
            await call_sent()
            assert len(calls) == 1, calls  # nothing was sent again
        finally:
            stop(worker_a, worker_b)
            await source.close()
            await sink.close()
        record = await store.get("run", thread["id"], run["id"])
        assert record is not None and record.body["status"] == "completed", record and record.body.get(
            "last_error"
        )
        assert len(calls) == 1 and calls[0]["amount"] == 3
        steps = (await store.list("step", run["id"], limit=10, order="asc")).records
        assert json.loads(steps[0].body["step_details"]["tool_calls"][0]["function"]["output"]) == {
            "result": 30
        }
        messages = (await store.list("message", thread["id"], limit=10, order="asc")).records
        said = messages[-1].body["content"][0]["text"]["value"]
        assert json.loads(said.removeprefix("the function said ")) == {"result": 30}
        await host.aclose()
        await store.aclose()
        await model_client.aclose()
