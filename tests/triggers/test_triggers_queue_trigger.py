"""queue_trigger through TriggerHost on both backends: prompt data, retries, poison, leases, outputs."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

from _triggers_apps import agent_file, eventually, make_app, prompt_type, trigger_data, unique

from agentdown.app import load_app
from agentdown.app.spec import QueueTrigger
from agentdown.messages import Message
from agentdown.runtime import Runner
from agentdown.runtime.queues import open_queue_service, resolve_account
from agentdown.runtime.triggers import OutputBinding, TriggerBinding, TriggerHost
from agentdown.sessions import SqliteSessionStore
from agentdown.testing import CallInfo, FunctionModel


def queue_app(tmp_path: Path, queue: str) -> Path:
    return make_app(
        tmp_path, {"worker": agent_file(f"  type: queue_trigger\n  args:\n    queue_name: {queue}\n")}
    )


class Recorder:
    """A model recording each run's trigger data; ``fail`` decides which runs raise."""

    def __init__(self, fail: Any = None, delay: float = 0.0) -> None:
        self.data: list[dict[str, Any]] = []
        self.types: list[str] = []
        self.fail = fail
        self.delay = delay
        self.active = 0
        self.most_active = 0

    async def __call__(self, messages: list[Message], info: CallInfo) -> str:
        data = trigger_data(messages)
        self.data.append(data)
        self.types.append(prompt_type(messages))
        self.active += 1
        self.most_active = max(self.most_active, self.active)
        try:
            await asyncio.sleep(self.delay)
            if self.fail is not None and self.fail(data):
                raise RuntimeError(f"model refused {data.get('body')!r}")
            return f"handled {data.get('body')}"
        finally:
            self.active -= 1

    def bodies(self) -> list[str]:
        return [d["body"] for d in self.data]


async def send(environ: dict[str, str], queue: str, *bodies: str) -> None:
    service = open_queue_service(resolve_account("AzureWebJobsStorage", environ))
    try:
        for body in bodies:
            await service.queue(queue).create()
            await service.queue(queue).send(body)
    finally:
        await service.aclose()


async def count(environ: dict[str, str], queue: str) -> int:
    service = open_queue_service(resolve_account("AzureWebJobsStorage", environ))
    try:
        return await service.queue(queue).approximate_count()
    finally:
        await service.aclose()


def runner(app: Path, model: Recorder, tmp_path: Path) -> Runner:
    return Runner(load_app(app, model=FunctionModel(model)), SqliteSessionStore(tmp_path / "sessions.db"))


async def test_a_message_runs_the_agent_with_the_contract_prompt(
    tmp_path: Path, environ: dict[str, str]
) -> None:
    queue = unique("orders")
    model = Recorder()
    host = TriggerHost(runner(queue_app(tmp_path, queue), model, tmp_path), environ=environ)
    [description] = host.triggers
    assert (description.agent, description.type, description.args["queue_name"]) == (
        "worker",
        "queue_trigger",
        queue,
    )
    await host.start()
    try:
        await send(environ, queue, '{"customer_id": 42, "item": "tea"}', "plain words")
        await eventually(lambda: len(model.data) == 2)
        await eventually(_empty(environ, queue))
    finally:
        await host.stop()
    assert model.types == ["queue_trigger", "queue_trigger"]
    by_body = {d["body"]: d for d in model.data}
    first = by_body['{"customer_id": 42, "item": "tea"}']
    assert first["body_json"] == {"customer_id": 42, "item": "tea"}
    assert first["body_encoding"] == "utf-8" and first["dequeue_count"] == 1
    assert {"id", "insertion_time", "expiration_time", "time_next_visible", "pop_receipt"} <= first.keys()
    assert "body_json" not in by_body["plain words"]


def _empty(environ: dict[str, str], queue: str) -> Any:
    async def check() -> bool:
        return await count(environ, queue) == 0

    return check


async def test_a_failing_message_is_retried_then_poisoned(tmp_path: Path, environ: dict[str, str]) -> None:
    queue = unique("flaky")
    model = Recorder(fail=lambda data: data["body"] == "poison me" or data["dequeue_count"] < 2)
    host = TriggerHost(
        runner(queue_app(tmp_path, queue), model, tmp_path),
        environ={**environ, "AGENTDOWN_QUEUE_MAX_DEQUEUE_COUNT": "3"},
    )
    await host.start()
    try:
        await send(environ, queue, "fine on retry", "poison me")
        await eventually(_empty(environ, queue))
        await eventually(_has(environ, f"{queue}-poison", 1))
    finally:
        await host.stop()
    retried = [d["dequeue_count"] for d in model.data if d["body"] == "fine on retry"]
    poisoned = [d["dequeue_count"] for d in model.data if d["body"] == "poison me"]
    assert retried == [1, 2] and poisoned == [1, 2, 3]
    service = open_queue_service(resolve_account("AzureWebJobsStorage", environ))
    try:
        [copy] = await service.queue(f"{queue}-poison").receive(1, 30)
        assert copy.body == b"poison me"
    finally:
        await service.aclose()


def _has(environ: dict[str, str], queue: str, n: int) -> Any:
    async def check() -> bool:
        return await count(environ, queue) == n

    return check


async def test_a_message_delivered_too_often_is_poisoned_without_running(
    tmp_path: Path, environ: dict[str, str]
) -> None:
    queue = unique("crashy")
    await send(environ, queue, "dies every time")
    service = open_queue_service(resolve_account("AzureWebJobsStorage", environ))
    try:
        for _ in range(2):  # two workers took it and died (never deleted, never released)
            [taken] = await service.queue(queue).receive(1, 1)
            await asyncio.sleep(1.2)
    finally:
        await service.aclose()
    model = Recorder()
    host = TriggerHost(
        runner(queue_app(tmp_path, queue), model, tmp_path),
        environ={**environ, "AGENTDOWN_QUEUE_MAX_DEQUEUE_COUNT": "2"},
    )
    await host.start()
    try:
        await eventually(_has(environ, f"{queue}-poison", 1))
    finally:
        await host.stop()
    assert model.data == [] and taken.dequeue_count == 2


async def test_the_concurrency_limit_holds(tmp_path: Path, environ: dict[str, str]) -> None:
    queue = unique("busy")
    model = Recorder(delay=0.3)
    host = TriggerHost(runner(queue_app(tmp_path, queue), model, tmp_path), environ=environ, concurrency=2)
    assert host.triggers[0].concurrency == 2
    await send(environ, queue, *[f"m{i}" for i in range(6)])
    await host.start()
    try:
        await eventually(lambda: len(model.data) == 6)
        await eventually(_empty(environ, queue))
    finally:
        await host.stop()
    assert model.most_active == 2 and sorted(model.bodies()) == [f"m{i}" for i in range(6)]


async def test_a_long_run_keeps_its_message_hidden(tmp_path: Path, environ: dict[str, str]) -> None:
    queue = unique("slow")
    model = Recorder(delay=2.5)  # longer than the 1 s lease: the lease must be renewed
    host = TriggerHost(
        runner(queue_app(tmp_path, queue), model, tmp_path),
        environ={**environ, "AGENTDOWN_QUEUE_LEASE_SECONDS": "1"},
    )
    await host.start()
    try:
        await send(environ, queue, "take your time")
        await eventually(_empty(environ, queue))
    finally:
        await host.stop()
    assert [d["dequeue_count"] for d in model.data] == [1]


async def test_stop_abandons_a_run_in_progress_and_the_message_comes_back(
    tmp_path: Path, environ: dict[str, str]
) -> None:
    queue = unique("abandon")
    model = Recorder(delay=30)
    app = queue_app(tmp_path, queue)
    host = TriggerHost(
        runner(app, model, tmp_path), environ={**environ, "AGENTDOWN_QUEUE_LEASE_SECONDS": "30"}
    )
    await host.start()
    await send(environ, queue, "interrupted")
    await eventually(lambda: len(model.data) == 1)
    await host.stop(timeout=0.1)
    assert not host.running
    quick = Recorder()
    again = TriggerHost(runner(app, quick, tmp_path), environ=environ)
    await again.start()
    try:  # released at once, not after the 30 s lease
        await eventually(lambda: len(quick.data) == 1, timeout=5)
    finally:
        await again.stop()
    assert quick.data[0]["dequeue_count"] == 2


async def test_output_binding_and_session_key(tmp_path: Path, environ: dict[str, str]) -> None:
    queue, answers = unique("in"), unique("answers")
    model = Recorder()
    app = queue_app(tmp_path, queue)
    run = runner(app, model, tmp_path)
    binding = TriggerBinding(
        "worker",
        QueueTrigger(queue_name=queue),
        output=OutputBinding("queue_output", queue_name=answers),
        session_key="customer-{customer_id}",
    )
    host = TriggerHost(run, environ=environ, bindings=[binding])
    assert host.triggers[0].output is not None and answers in host.triggers[0].output
    await host.start()
    try:
        await send(environ, queue, '{"customer_id": "c 1"}')
        await eventually(_has(environ, answers, 1))
        await send(environ, queue, '{"customer_id": "c 1"}')
        await eventually(_has(environ, answers, 2))
    finally:
        await host.stop()
    history = await run.history("worker", "customer-c_1")
    assert [m.role for m in history] == ["user", "assistant", "user", "assistant"]
    service = open_queue_service(resolve_account("AzureWebJobsStorage", environ))
    try:
        replies = await service.queue(answers).receive(5, 30)
    finally:
        await service.aclose()
    assert [m.body for m in replies] == [b'handled {"customer_id": "c 1"}'] * 2
    await run.aclose()


async def test_a_structured_answer_is_written_as_json(tmp_path: Path) -> None:
    from _triggers_apps import base_environ

    environ = base_environ(tmp_path / "data")
    queue, answers = unique("in"), unique("out")
    app = make_app(
        tmp_path,
        {
            "worker": agent_file(
                f"  type: queue_trigger\n  args:\n    queue_name: {queue}\n",
                extra="response_example: '{\"total\": 1}'\n",
            )
        },
    )
    model = FunctionModel(lambda messages, info: json.dumps({"total": 3}))
    run = Runner(load_app(app, model=model), SqliteSessionStore(tmp_path / "s.db"))
    binding = TriggerBinding(
        "worker", QueueTrigger(queue_name=queue), output=OutputBinding("queue_output", queue_name=answers)
    )
    async with TriggerHost(run, environ=environ, bindings=[binding]):
        await send(environ, queue, "count")
        await eventually(_has(environ, answers, 1))
    service = open_queue_service(resolve_account("AzureWebJobsStorage", environ))
    try:
        [reply] = await service.queue(answers).receive(1, 30)
    finally:
        await service.aclose()
    assert json.loads(reply.body) == {"total": 3}
