"""``agentdown worker`` and ``agentdown enqueue`` as processes: kill a worker mid-message, lose nothing."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path
from typing import Any

from _triggers_apps import agent_file, base_environ, eventually, make_app, trigger_data, unique
from _triggers_processes import Worker, process_environ, run_cli

from agentdown.messages import Message
from agentdown.runtime.queues import open_queue_service, resolve_account
from agentdown.testing import CallInfo, FakeModelServer


def queue_app(tmp_path: Path, queue: str) -> Path:
    return make_app(
        tmp_path, {"worker": agent_file(f"  type: queue_trigger\n  args:\n    queue_name: {queue}\n")}
    )


class Model:
    """The fake server's handler: records every run; ``hold`` bodies block on their first delivery."""

    def __init__(self, hold: tuple[str, ...] = (), delay: float = 0.0) -> None:
        self.seen: list[dict[str, Any]] = []
        self.hold = hold
        self.delay = delay
        self.holding = asyncio.Event()
        self.release = asyncio.Event()

    async def __call__(self, messages: list[Message], info: CallInfo) -> str:
        data = trigger_data(messages)
        self.seen.append(data)
        if data["body"] in self.hold and data["dequeue_count"] == 1:
            self.holding.set()
            await asyncio.wait_for(self.release.wait(), 60)
        await asyncio.sleep(self.delay)
        return f"done {data['body']}"

    def deliveries(self, body: str) -> list[int]:
        return [d["dequeue_count"] for d in self.seen if d["body"] == body]


async def send(environ: dict[str, str], queue: str, *bodies: str) -> None:
    service = open_queue_service(resolve_account("AzureWebJobsStorage", environ))
    try:
        await service.queue(queue).create()
        for body in bodies:
            await service.queue(queue).send(body)
    finally:
        await service.aclose()


def emptied(environ: dict[str, str], queue: str) -> Any:
    async def check() -> bool:
        service = open_queue_service(resolve_account("AzureWebJobsStorage", environ))
        try:
            return await service.queue(queue).approximate_count() == 0
        finally:
            await service.aclose()

    return check


async def test_a_killed_worker_loses_no_message(tmp_path: Path, environ: dict[str, str]) -> None:
    queue = unique("jobs")
    app = queue_app(tmp_path, queue)
    bodies = ["first", "slow", "second", "third"]
    model = Model(hold=("slow",))
    settings = {**environ, "AGENTDOWN_QUEUE_LEASE_SECONDS": "2"}
    async with FakeModelServer(model) as fake:
        env = process_environ(settings, fake.base_url)
        await send(environ, queue, *bodies)
        doomed = Worker(app, env)
        try:
            await asyncio.wait_for(model.holding.wait(), 30)
        finally:
            doomed.process.send_signal(signal.SIGKILL)  # mid-message: no chance to release it
            doomed.finish()
        rescuer = Worker(app, env)
        await asyncio.to_thread(rescuer.wait_ready)
        try:
            await eventually(emptied(environ, queue), timeout=30)
        finally:
            rescuer.process.send_signal(signal.SIGTERM)
            code = rescuer.finish()
            model.release.set()
    assert code == 0, rescuer.output
    assert {d["body"] for d in model.seen} == set(bodies)
    assert model.deliveries("slow") == [1, 2]  # the second worker got it once the lease ran out
    assert "Traceback" not in rescuer.output and "ERROR" not in rescuer.output


async def test_enqueue_reaches_a_running_worker(tmp_path: Path) -> None:
    queue = unique("inbox")
    app = queue_app(tmp_path, queue)
    settings = base_environ(tmp_path / "data")
    model = Model()
    async with FakeModelServer(model) as fake:
        env = process_environ(settings, fake.base_url)
        worker = Worker(app, env, "--concurrency", "2")
        try:
            await asyncio.to_thread(worker.wait_ready)
            assert f"queue {queue} on embedded ({tmp_path / 'data'})" in worker.output
            assert "concurrency 2" in worker.output
            sent = await asyncio.to_thread(run_cli, "enqueue", str(app), queue, '{"n": 1}', env=env)
            assert sent.returncode == 0, sent.stderr
            assert f"on queue {queue} (embedded" in sent.stdout
            await eventually(lambda: len(model.seen) == 1, timeout=20)
        finally:
            worker.process.send_signal(signal.SIGINT)
            code = worker.finish()
    assert code == 0, worker.output
    assert model.seen[0]["body_json"] == {"n": 1}
    assert "worker (queue_trigger) answered" in worker.output


async def test_enqueue_reaches_a_running_serve(tmp_path: Path) -> None:
    queue = unique("served")
    app = queue_app(tmp_path, queue)
    settings = base_environ(tmp_path / "data")
    model = Model()
    async with FakeModelServer(model) as fake:
        env = process_environ(settings, fake.base_url)
        server = Worker(app, env, "--port", "0", command="serve")
        try:
            await asyncio.to_thread(server.wait_ready, 30.0, "agentdown.triggers: listening:")
            sent = await asyncio.to_thread(run_cli, "enqueue", str(app), queue, "to the server", env=env)
            assert sent.returncode == 0, sent.stderr
            await eventually(lambda: len(model.seen) == 1, timeout=20)
        finally:
            server.process.send_signal(signal.SIGTERM)
            server.finish()
    assert model.seen[0]["body"] == "to the server"


async def test_sigterm_lets_the_run_in_progress_finish(tmp_path: Path) -> None:
    queue = unique("drain")
    app = queue_app(tmp_path, queue)
    settings = base_environ(tmp_path / "data")
    model = Model(delay=1.5)
    async with FakeModelServer(model) as fake:
        worker = Worker(app, process_environ(settings, fake.base_url))
        await asyncio.to_thread(worker.wait_ready)
        await send(settings, queue, "almost done")
        await eventually(lambda: len(model.seen) == 1, timeout=20)
        worker.process.send_signal(signal.SIGTERM)
        code = await asyncio.to_thread(worker.finish)
    assert code == 0, worker.output
    assert "stopping: finishing runs in progress" in worker.output
    assert await emptied(settings, queue)()  # handled, then deleted, before exiting
    assert model.deliveries("almost done") == [1]


def test_worker_errors_name_the_problem(tmp_path: Path) -> None:
    env = process_environ(base_environ(tmp_path / "data"), "http://127.0.0.1:9/v1")
    chat_only = make_app(
        tmp_path / "a", {"helper": "---\nname: H\ndescription: d\nbuiltin_endpoints: true\n---\nHi.\n"}
    )
    result = run_cli("worker", str(chat_only), "--no-agents-api", env=env)
    assert result.returncode == 1 and "has no timer, queue or blob triggers" in result.stderr
    app = queue_app(tmp_path / "b", "orders")
    result = run_cli("worker", str(app), env={**env, "AzureWebJobsStorage": "nonsense"})
    assert result.returncode == 1
    assert "AzureWebJobsStorage: expected a storage connection string" in result.stderr
    result = run_cli("enqueue", str(app), "Bad_Name", "x", env=env)
    assert result.returncode == 2 and "invalid queue name" in result.stderr
