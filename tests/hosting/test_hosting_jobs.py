"""The durable queues and queue tools as queue functions: bindings, and jobs taken from Azurite.

The tests play the Functions host: they receive a message from Azurite's queue, hand it to
the function as the package's own ``func.QueueMessage`` (id, pop receipt, dequeue count),
and delete it when the function returns, as the host does.
"""

from __future__ import annotations

import asyncio
import base64
import json
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import azure.functions as func
import pytest
from _hosting_kit import SAMPLE, Hosted, http
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError
from azure.storage.queue.aio import QueueClient

from agentdown.hosting import create_function_app
from agentdown.messages import Message
from agentdown.testing import CallInfo, FakeModelServer, ToolCalls, tool_call
from azurite_peer import Azurite

CHAIN = """
from agentdown.workflows import Executor, WorkflowBuilder, WorkflowContext, handler


class Count(Executor):
    @handler
    async def step(self, n: int, ctx: WorkflowContext[int, int]) -> None:
        if n >= 3:
            await ctx.yield_output(n)
        else:
            await ctx.send_message(n + 1)


def build_workflow():
    count = Count("count")
    return WorkflowBuilder(start_executor=count, name="chain", max_iterations=10).add_edge(count, count).build()
"""


def _bindings(hosted: Hosted, name: str) -> dict[str, dict[str, Any]]:
    return {b["direction"]: b for b in hosted.bindings(name)}


@pytest.fixture
def storage(env: dict[str, str], azurite: Azurite) -> dict[str, str]:
    return {**env, "AzureWebJobsStorage": azurite.connection_string}


@pytest.fixture
async def on_azurite(storage: dict[str, str]) -> AsyncIterator[Hosted]:
    app = Hosted(create_function_app(SAMPLE, environ=storage))
    yield app
    await app.aclose()


def bound(item: Any) -> func.QueueMessage:
    """A received Azure queue message as the Python worker binds it: the package's own converter."""
    from azure.functions.meta import Datum
    from azure.functions.queue import QueueMessageInConverter

    metadata = {
        "Id": Datum(item.id, "string"),
        "PopReceipt": Datum(item.pop_receipt, "string"),
        "DequeueCount": Datum(item.dequeue_count, "int"),
        "InsertionTime": Datum(item.inserted_on.isoformat(), "string"),
        "ExpirationTime": Datum(item.expires_on.isoformat(), "string"),
        "NextVisibleTime": Datum(item.next_visible_on.isoformat(), "string"),
    }
    # The host decodes base64 text (host.json messageEncoding, base64 by default) before binding.
    body = Datum(base64.b64decode(item.content), "bytes")
    message: func.QueueMessage = QueueMessageInConverter.decode(body, trigger_metadata=metadata)
    return message


async def _receive(azurite: Azurite, queue: str, *, timeout: float = 10.0) -> func.QueueMessage:
    """The next message of ``queue``, hidden for 30 s, as the host binds it."""
    async with QueueClient.from_connection_string(azurite.connection_string, queue) as client:
        for _ in range(int(timeout / 0.05)):
            async for item in client.receive_messages(max_messages=1, visibility_timeout=30):
                return bound(item)
            await asyncio.sleep(0.05)
    raise AssertionError(f"no message on {queue} within {timeout}s")


async def _count(azurite: Azurite, queue: str) -> int:
    async with QueueClient.from_connection_string(azurite.connection_string, queue) as client:
        try:
            return int((await client.get_queue_properties()).approximate_message_count or 0)
        except ResourceNotFoundError:
            return 0


def test_the_job_queues_are_queue_functions_on_the_agents_connection(env: dict[str, str]) -> None:
    from agentdown.hosting.jobs import queue_name
    from agentdown.runtime.agents_api.ingest import INGEST_QUEUE
    from agentdown.runtime.agents_api.runs.service import RUNS_QUEUE
    from agentdown.runtime.workflow_graphs import STEPS_QUEUE
    from agentdown.runtime.workflows import WORKFLOWS_QUEUE

    # The hosting's names are the services' own (it does not import them at indexing).
    assert [queue_name(f, {}) for f in ("agentdown_runs", "agentdown_ingest")] == [RUNS_QUEUE, INGEST_QUEUE]
    assert queue_name("agentdown_workflows", {}) == WORKFLOWS_QUEUE
    assert queue_name("agentdown_workflow_steps", {}) == STEPS_QUEUE
    settings = {**env, "AGENTDOWN_AGENTS_CONNECTION": "AgentsStorage", "AGENTDOWN_RUNS_QUEUE": "my-runs"}
    hosted = Hosted(create_function_app(SAMPLE, environ=settings))
    runs = _bindings(hosted, "agentdown_runs")["IN"]
    assert (runs["type"], runs["queueName"], runs["connection"]) == (
        "queueTrigger",
        "my-runs",
        "AgentsStorage",
    )
    ingest = _bindings(hosted, "agentdown_ingest")["IN"]
    assert (ingest["queueName"], ingest["connection"]) == ("agentdown-ingest", "AgentsStorage")
    api = _bindings(hosted, "agentdown_agents_api")["IN"]
    assert (api["route"], api["authLevel"]) == ("api/projects/{project}/{*path}", "FUNCTION")
    # No planned workflows, no graphs in the sample: no functions for their queues.
    assert (
        "agentdown_workflows" not in hosted.functions and "agentdown_workflow_steps" not in hosted.functions
    )


async def test_the_vector_store_sweep_is_a_timer_function(on_azurite: Hosted) -> None:
    from azure.functions.timer import TimerRequest

    timer = _bindings(on_azurite, "agentdown_vector_store_sweep")["IN"]
    assert (timer["type"], timer["schedule"]) == ("timerTrigger", "0 */10 * * * *")
    created = await on_azurite.call(
        "agentdown_agents_api",
        http(
            "POST",
            "/api/projects/p/vector_stores",
            {"name": "old", "expires_after": {"anchor": "last_active_at", "days": 1}},
        ),
    )
    assert created.status_code == 200, created.get_body()
    store = json.loads(created.get_body())
    api = on_azurite.app.agentdown.agents_api  # type: ignore[attr-defined]
    record = await api.store.get("vector_store", "", store["id"])
    assert record is not None
    await api.store.replace(record, {**record.body, "last_active_at": 1, "expires_at": 86401})  # long ago
    await on_azurite.call("agentdown_vector_store_sweep", TimerRequest(past_due=False))
    swept = await api.store.get("vector_store", "", store["id"])  # the record itself, not a view of it
    assert swept is not None and swept.body["status"] == "expired", swept.body


async def test_an_agents_api_run_is_completed_by_the_queue_function_once(
    on_azurite: Hosted, azurite: Azurite, fake: FakeModelServer
) -> None:
    body = {"assistant_id": "main", "thread": {"messages": [{"role": "user", "content": "hello"}]}}
    created = await on_azurite.call(
        "agentdown_agents_api", http("POST", "/api/projects/p/threads/runs", body)
    )
    assert created.status_code == 200, created.get_body()
    run = json.loads(created.get_body())
    assert run["status"] == "queued"  # the HTTP function only queues it
    path = f"/api/projects/p/threads/{run['thread_id']}/runs/{run['id']}"

    message = await _receive(azurite, "agentdown-runs")
    assert json.loads(message.get_body()) == {"thread_id": run["thread_id"], "run_id": run["id"]}
    calls = len(fake.requests)
    await on_azurite.call("agentdown_runs", message)
    shown = json.loads((await on_azurite.call("agentdown_agents_api", http("GET", path))).get_body())
    assert shown["status"] == "completed", shown
    executed = len(fake.requests) - calls
    assert executed == 2  # the model called the clock tool, then answered
    assert await _count(azurite, "agentdown-runs") == 0  # the function deleted its job

    # The host delivers the same message again (its delete was lost, say), and a copy comes
    # through the queue: neither runs the run again.
    await on_azurite.call("agentdown_runs", message)
    async with QueueClient.from_connection_string(azurite.connection_string, "agentdown-runs") as client:
        await client.send_message(base64.b64encode(message.get_body()).decode())
    again = await _receive(azurite, "agentdown-runs")
    await on_azurite.call("agentdown_runs", again)
    assert len(fake.requests) == calls + executed
    assert await _count(azurite, "agentdown-runs") == 0
    listed = await on_azurite.call(
        "agentdown_agents_api", http("GET", f"/api/projects/p/threads/{run['thread_id']}/messages")
    )
    roles = sorted(m["role"] for m in json.loads(listed.get_body())["data"])
    assert roles == ["assistant", "user"]  # one answer: the run was executed once


async def test_a_job_whose_run_a_live_worker_holds_stays_on_the_queue(
    on_azurite: Hosted, azurite: Azurite
) -> None:
    from agentdown.runtime.agents_api.runs.lease import acquire

    body = {"assistant_id": "main", "thread": {"messages": [{"role": "user", "content": "hello"}]}}
    created = await on_azurite.call(
        "agentdown_agents_api", http("POST", "/api/projects/p/threads/runs", body)
    )
    run = json.loads(created.get_body())
    message = await _receive(azurite, "agentdown-runs")
    api = on_azurite.app.agentdown.agents_api  # type: ignore[attr-defined]
    held = await acquire(api.store, run["thread_id"], run["id"], "another-worker", 60)
    assert held is not None
    await on_azurite.call("agentdown_runs", message)  # returns: the host would now delete it ...
    async with QueueClient.from_connection_string(azurite.connection_string, "agentdown-runs") as client:
        with pytest.raises(HttpResponseError):
            # ... with the receipt it received it with, which the function replaced: not lost.
            await client.delete_message(message.id, message.pop_receipt)
        assert await _count(azurite, "agentdown-runs") == 1
        await client.clear_messages()  # the other tests' jobs only


async def test_a_message_that_is_no_job_is_dropped_and_a_failing_job_raises_for_the_host(
    on_azurite: Hosted, azurite: Azurite, fake: FakeModelServer
) -> None:
    # Not a job: dropped (it would fail the same way every time), the function succeeds.
    await on_azurite.call("agentdown_runs", func.QueueMessage(id="x", body=b"not a job", pop_receipt="r"))
    body = {"assistant_id": "main", "thread": {"messages": [{"role": "user", "content": "hello"}]}}
    created = await on_azurite.call(
        "agentdown_agents_api", http("POST", "/api/projects/p/threads/runs", body)
    )
    run = json.loads(created.get_body())
    message = await _receive(azurite, "agentdown-runs")
    api = on_azurite.app.agentdown.agents_api  # type: ignore[attr-defined]
    store = api.store

    async def broken(*args: Any, **kwargs: Any) -> Any:
        raise OSError("the table service is down")

    original = store.get
    store.get = broken
    try:
        with pytest.raises(OSError, match="table service is down"):
            await on_azurite.call("agentdown_runs", message)  # the host retries, then poisons
    finally:
        store.get = original
    await on_azurite.call("agentdown_runs", message)  # the next delivery runs it
    path = f"/api/projects/p/threads/{run['thread_id']}/runs/{run['id']}"
    shown = json.loads((await on_azurite.call("agentdown_agents_api", http("GET", path))).get_body())
    assert shown["status"] == "completed", shown


def _queue_tool_app(root: Path) -> Path:
    app = root / "app"
    (app / "tools").mkdir(parents=True)
    (app / "forecaster.agent.md").write_text(
        "---\nname: Forecaster\ndescription: Forecasts.\nqueue_tools:\n"
        "  - name: GetWeather\n    description: The weather of a city.\n"
        "    parameters: {type: object, properties: {city: {type: string}}, required: [city]}\n"
        "    input_queue: weather-in\n    output_queue: weather-out\n"
        "  - name: Elsewhere\n    description: Served by another app.\n"
        "    input_queue: elsewhere-in\n    output_queue: elsewhere-out\n"
        "---\nForecast the weather.\n"
    )
    (app / "tools" / "weather.py").write_text(
        "from agentdown import tool\n\n@tool(name='GetWeather')\n"
        'def get_weather(city: str) -> dict:\n    """The weather."""\n'
        "    return {'city': city, 'forecast': f'sunny in {city}'}\n"
    )
    return app


async def test_a_queue_tool_is_answered_through_its_queue_output_binding(
    tmp_path: Path, env: dict[str, str]
) -> None:
    hosted = Hosted(create_function_app(_queue_tool_app(tmp_path), environ=env))
    try:
        assert [n for n in hosted.functions if n.startswith("agentdown_queue_tool_")] == [
            "agentdown_queue_tool_GetWeather"  # Elsewhere is no tools/ tool: only called from here
        ]
        bindings = _bindings(hosted, "agentdown_queue_tool_GetWeather")
        assert (bindings["IN"]["type"], bindings["IN"]["queueName"]) == ("queueTrigger", "weather-in")
        out = bindings["OUT"]
        assert (out["type"], out["name"], out["queueName"], out["connection"]) == (
            "queue",
            "reply",
            "weather-out",
            "AzureWebJobsStorage",
        )
        reply: func.Out[str] = _Out()
        call = json.dumps({"city": "Oslo", "CorrelationId": "qt1-abc"}).encode()
        await hosted.call("agentdown_queue_tool_GetWeather", func.QueueMessage(id="1", body=call), reply)
        assert json.loads(reply.get()) == {
            "Value": {"city": "Oslo", "forecast": "sunny in Oslo"},
            "CorrelationId": "qt1-abc",
        }
        # Bad arguments are a Value the model reads; a body that is no call fails for the host to poison.
        await hosted.call(
            "agentdown_queue_tool_GetWeather",
            func.QueueMessage(id="2", body=b'{"CorrelationId": "qt1-x", "city": 5}'),
            reply,
        )
        assert json.loads(reply.get())["Value"].startswith("Error")
        with pytest.raises(Exception, match="CorrelationId"):
            await hosted.call(
                "agentdown_queue_tool_GetWeather", func.QueueMessage(id="3", body=b"[1]"), _Out()
            )
    finally:
        await hosted.aclose()


class _Out(func.Out[str]):
    """What the worker passes for a ``func.Out[str]`` output binding."""

    def __init__(self) -> None:
        self._value: str | None = None

    def set(self, val: str) -> None:
        self._value = val

    def get(self) -> str:
        assert self._value is not None
        return self._value


async def test_a_workflow_graph_step_runs_through_its_queue_function(
    tmp_path: Path, storage: dict[str, str], azurite: Azurite
) -> None:
    app = tmp_path / "graphs"
    shutil.copytree(SAMPLE, app)
    (app / "workflows").mkdir()
    (app / "workflows" / "chain.py").write_text(CHAIN)
    hosted = Hosted(create_function_app(app, environ=storage))
    try:
        steps = _bindings(hosted, "agentdown_workflow_steps")["IN"]
        assert (steps["queueName"], steps["connection"]) == (
            "agentdown-workflow-steps",
            "AzureWebJobsStorage",
        )
        started = await hosted.call(
            "agentdown_workflow_runs", http("POST", "/workflows/chain/runs", {"input": 0})
        )
        assert started.status_code == 202, started.get_body()
        run = json.loads(started.get_body())
        for _ in range(10):  # one superstep per message: 0 -> 1 -> 2 -> 3, then the output
            shown = await hosted.call(
                "agentdown_workflow_runs", http("GET", f"/workflows/chain/runs/{run['id']}")
            )
            if json.loads(shown.get_body())["status"] == "IDLE":
                break
            await hosted.call("agentdown_workflow_steps", await _receive(azurite, "agentdown-workflow-steps"))
        body = json.loads(shown.get_body())
        assert body["status"] == "IDLE" and body["outputs"] == [3], body
    finally:
        await hosted.aclose()


PLANNER = """---
name: Planner
description: Plans workflows.
builtin_endpoints: true
workflows: {enabled: true}
---
Plan the work as a workflow.
"""
PLANNED_TOOLS = """
from typing import Any

from azure_functions_agents import workflow_tool


@workflow_tool(description="Count the letters of a word. Args: {word: str}.")
def count_letters(args: dict[str, Any]) -> dict[str, Any]:
    return {"word": args["word"], "letters": len(args["word"])}
"""


def planner(messages: list[Message], info: CallInfo) -> Any:
    last = messages[-1]
    if last.role == "tool":
        return f"tool said: {last.tool_results[0].text}"
    plan = {"tasks": [{"id": "count", "tool": "count_letters", "args": {"word": "agents"}}]}
    return ToolCalls(tool_call("start_workflow", plan))


async def test_a_planned_workflow_step_runs_through_its_queue_function(
    tmp_path: Path, storage: dict[str, str], azurite: Azurite
) -> None:
    app = tmp_path / "planned"
    (app / "tools").mkdir(parents=True)
    (app / "planner.agent.md").write_text(PLANNER)
    (app / "tools" / "count.py").write_text(PLANNED_TOOLS)
    async with FakeModelServer(planner) as model:
        settings = {**storage, "OPENAI_BASE_URL": model.base_url, "AGENTDOWN_WORKFLOW_EXECUTE": "true"}
        hosted = Hosted(create_function_app(app, environ=settings))
        try:
            jobs = _bindings(hosted, "agentdown_workflows")["IN"]
            assert (jobs["queueName"], jobs["connection"]) == ("agentdown-workflows", "AzureWebJobsStorage")
            assert "agent_planner_builtin_workflows" in hosted.functions
            chat = await hosted.call(
                "agent_planner_builtin_chat", http("POST", "/agents/planner/chat", {"prompt": "go"})
            )
            assert chat.status_code == 200, chat.get_body()
            session = json.loads(chat.get_body())["session_id"]
            workflow_id = json.loads(chat.get_body())["response"].split('"workflow_id": "')[1].split('"')[0]
            status = f"/agents/planner/workflow-status?workflow_id={workflow_id}"
            headers = {"x-ms-session-id": session}
            # The chat turn only queued the steps: AGENTDOWN_WORKFLOW_EXECUTE=true notwithstanding, no
            # consumer runs in the HTTP function (it would take the jobs _receive waits for).
            for _ in range(10):
                shown = await hosted.call(
                    "agent_planner_builtin_workflow_status", http("GET", status, headers=headers)
                )
                envelope = json.loads(shown.get_body())
                if envelope.get("runtime_status") == "Completed":
                    break
                await hosted.call("agentdown_workflows", await _receive(azurite, "agentdown-workflows"))
            assert envelope["runtime_status"] == "Completed", envelope
            assert envelope["output"]["results"]["count"] == {"word": "agents", "letters": 6}, envelope
        finally:
            await hosted.aclose()


@pytest.mark.parametrize(
    ("host_json", "given", "attempts"),
    [
        ('{"version": "2.0", "extensions": {"queues": {"maxDequeueCount": 3}}}', None, "2"),
        ('{"version": "2.0"}', None, "4"),  # the extension's default, 5
        ("{not json", None, "4"),
        ('{"extensions": {"queues": {"maxDequeueCount": true}}}', None, "4"),
        ('{"extensions": {"queues": {"maxDequeueCount": 1}}}', None, "1"),
        ('{"extensions": {"queues": {"maxDequeueCount": 3}}}', "9", "9"),  # an explicit setting stands
    ],
)
def test_ingestion_gives_up_before_the_host_poisons_its_job(
    tmp_path: Path, env: dict[str, str], host_json: str, given: str | None, attempts: str
) -> None:
    from agentdown.runtime.agents_api.ingest import IngestSettings

    app = tmp_path / "app"
    shutil.copytree(SAMPLE, app)
    (app / "host.json").write_text(host_json)
    settings = {**env, **({"AGENTDOWN_INGEST_MAX_ATTEMPTS": given} if given else {})}
    hosted = Hosted(create_function_app(app, environ=settings))
    environ = hosted.app.agentdown.environ  # type: ignore[attr-defined]
    assert environ["AGENTDOWN_INGEST_MAX_ATTEMPTS"] == attempts
    assert IngestSettings.from_env(environ).max_attempts == int(attempts)
