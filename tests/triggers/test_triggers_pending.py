"""Triggered runs that pause: kept in the session, their event completed, resumed by ``agentdown approve``.

A queue-triggered agent calls a tool that needs approval. The trigger host keeps the
paused turn in the session store and only then completes the message; the output
binding is not written. ``agentdown approve`` (a real subprocess, on the same storage)
resumes the turn: the tool runs, the session gets the final answer, and the answer is
written to the output binding as the trigger would have written it.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from _triggers_apps import agent_file, base_environ, eventually, make_app, unique

from agentdown.app import load_app
from agentdown.loop.engine import REJECTED_RESULT
from agentdown.messages import Message
from agentdown.models.openai_compat import OpenAIChatModel
from agentdown.runtime import Runner
from agentdown.runtime.pending import PendingTurn
from agentdown.runtime.queues import open_queue_service, resolve_account
from agentdown.runtime.triggers import TriggerHost
from agentdown.runtime.triggers.blobstore import open_blob_container
from agentdown.runtime.triggers.invoke import TRIGGER_KEY
from agentdown.sessions import SessionStore, SqliteSessionStore, store_from_env
from agentdown.testing import CallInfo, FakeModelServer, Reply, tool_call

TOOLS = '''
from pathlib import Path

from agentdown import tool

RAN = Path(__file__).resolve().parent.parent / "refunds.log"


@tool(approval_mode="always_require")
def refund(order: int) -> str:
    """Refund an order (a person approves it first)."""
    with RAN.open("a", encoding="utf-8") as log:
        log.write(f"{order}\\n")
    return f"refunded order {order}"
'''


def model(messages: list[Message], info: CallInfo) -> Reply:
    last = messages[-1]
    if last.role == "tool":
        return f"Answer: {last.contents[0].text}"
    order = json.loads(last.text.split("```json\n", 1)[1].rsplit("\n```", 1)[0])["body_json"]["order"]
    return [tool_call("refund", {"order": order}, call_id=f"call_refund_{order}")]


def refund_app(tmp_path: Path, queue: str, answers: str) -> Path:
    output = f"output:\n  type: queue_output\n  args:\n    queue_name: {answers}\n"
    trigger = f"  type: queue_trigger\n  args:\n    queue_name: {queue}\n"
    app = make_app(tmp_path, {"refunder": agent_file(trigger, name="Refunder", extra=output)})
    (app / "tools").mkdir()
    (app / "tools" / "ops.py").write_text(TOOLS, encoding="utf-8")
    return app


async def send(environ: dict[str, str], queue: str, body: str) -> None:
    service = open_queue_service(resolve_account("AzureWebJobsStorage", environ))
    try:
        await service.queue(queue).create()
        await service.queue(queue).send(body)
    finally:
        await service.aclose()


async def drain(environ: dict[str, str], queue: str, *, receive: bool = True) -> tuple[int, list[str]]:
    """``(messages in the queue, the bodies of those received now)``; ``receive=False`` only counts
    (receiving hides a message from the worker)."""
    service = open_queue_service(resolve_account("AzureWebJobsStorage", environ))
    try:
        target = service.queue(queue)
        await target.create()
        count = await target.approximate_count()
        received = await target.receive(32, 30) if receive else []
        return count, [m.text or "" for m in received]
    finally:
        await service.aclose()


async def paused_session(store: SessionStore, runner: Runner) -> tuple[str, PendingTurn] | None:
    for info in await store.list("refunder"):
        pending = await runner.pending("refunder", info.session_id)
        if pending is not None:
            return info.session_id, pending
    return None


async def agentdown(*args: str, env: dict[str, str]) -> tuple[int, str, str]:
    """``agentdown ARGS`` in a subprocess: exit code, stdout, stderr."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "agentdown.cli",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, **env},
    )
    out, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


def cli_env(environ: dict[str, str], fake: FakeModelServer) -> dict[str, str]:
    return {**environ, "OPENAI_BASE_URL": fake.base_url, "OPENAI_API_KEY": "test", "COLUMNS": "400"}


class _Host:
    """The app's trigger host on ``environ``'s storage, with the fake model server as its model."""

    def __init__(
        self, app: Path, environ: dict[str, str], fake: FakeModelServer, store: SessionStore
    ) -> None:
        self.model = OpenAIChatModel("fake-model", base_url=fake.base_url, api_key="test", max_retries=0)
        self.runner = Runner(load_app(app, model=self.model, environ=environ), store)
        self.host = TriggerHost(self.runner, environ=environ)

    async def __aenter__(self) -> _Host:
        await self.host.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.host.stop()
        await self.runner.aclose()
        await self.model.aclose()


def _messages(caplog: pytest.LogCaptureFixture) -> Sequence[str]:
    return [r.getMessage() for r in caplog.records if r.name == "agentdown.triggers"]


async def test_a_paused_queue_run_is_kept_its_message_completed_and_approve_resumes_it(
    tmp_path: Path, environ: dict[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, "agentdown.triggers")
    queue, answers = unique("refunds"), unique("answers")
    app = refund_app(tmp_path, queue, answers)
    async with FakeModelServer(model) as fake:
        env = cli_env(environ, fake)
        async with _Host(app, env, fake, store_from_env(env)) as worker:
            await send(env, queue, '{"order": 42}')
            await eventually(lambda: len(fake.requests) == 1)

            async def message_gone() -> bool:
                return (await drain(env, queue, receive=False))[0] == 0

            await eventually(message_gone)
            # The message is completed only after the paused turn was saved: it is there already.
            found = await paused_session(worker.runner.store, worker.runner)
            assert found is not None
            await asyncio.sleep(0.3)  # a redelivery would have run the model again by now
            assert len(fake.requests) == 1
        session_id, pending = found
        [call] = pending.calls
        assert (call.call_id, call.tool, call.arguments, call.kind) == (
            "call_refund_42",
            "refund",
            {"order": 42},
            "approval",
        )
        assert not (app / "refunds.log").exists()
        assert await drain(env, answers) == (0, [])  # a paused run writes no output
        assert await drain(env, f"{queue}-poison") == (0, [])
        command = f"agentdown approve {app} refunder {session_id} call_refund_42"
        [waits] = [m for m in _messages(caplog) if "waits in session" in m]
        assert 'refund {"order": 42} [call_refund_42] (needs approval)' in waits
        assert f"resume it with: {command} (--deny to refuse)" in waits
        assert "output binding is written then" in waits

        # The pending calls are listed by `sessions show`, with the command that answers them.
        code, out, err = await agentdown("sessions", "show", "refunder", session_id, env=env)
        assert code == 0, err
        assert 'refund({"order": 42}) [call_refund_42] needs approval' in out
        assert f"answer with: agentdown approve APP refunder {session_id} call_refund_42" in out

        code, out, err = await agentdown(
            "approve", str(app), "refunder", session_id, "call_refund_42", env=env
        )
        assert code == 0, err
        assert out == "Answer: refunded order 42\n"
        assert "approved refund [call_refund_42]" in err
        assert f"answer written to queue {answers}" in err
        assert (app / "refunds.log").read_text() == "42\n"
        assert await drain(env, answers) == (1, ["Answer: refunded order 42"])

        store = store_from_env(env)
        try:
            history = (await store.load("refunder", session_id)).messages
        finally:
            await store.aclose()
        assert history[-1].role == "assistant" and history[-1].text == "Answer: refunded order 42"
        assert [m.role for m in history] == ["user", "assistant", "tool", "assistant"]
        # Approving twice is refused: nothing waits any more.
        code, _, err = await agentdown("approve", str(app), "refunder", session_id, "call_refund_42", env=env)
        assert code == 2
        assert "has no turn waiting for decisions" in err


async def test_a_denied_triggered_call_never_runs_and_the_answer_is_still_written(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    env_base = base_environ(tmp_path / "data")
    queue, answers = unique("refunds"), unique("answers")
    app = refund_app(tmp_path, queue, answers)
    async with FakeModelServer(model) as fake:
        env = cli_env(env_base, fake)
        async with _Host(app, env, fake, store_from_env(env)) as worker:
            await send(env, queue, '{"order": 7}')

            async def paused() -> bool:
                return await paused_session(worker.runner.store, worker.runner) is not None

            await eventually(paused)
            found = await paused_session(worker.runner.store, worker.runner)
        assert found is not None
        session_id = found[0]
        code, out, err = await agentdown(
            "approve", str(app), "refunder", session_id, "call_refund_7", "--deny", env=env
        )
        assert code == 0, err
        assert out == f"Answer: {REJECTED_RESULT}\n"
        assert "denied refund [call_refund_7]" in err
        assert not (app / "refunds.log").exists()
        assert await drain(env, answers) == (1, [f"Answer: {REJECTED_RESULT}"])


class _FailingFirstAppend(SqliteSessionStore):
    """The real SQLite store, whose first append fails as a full disk would."""

    failed = 0

    async def append(
        self, agent: str, session_id: str, messages: Sequence[Message], *, expected_version: str | None
    ) -> str:
        if not self.failed:
            self.failed += 1
            raise OSError(28, "No space left on device")
        return await super().append(agent, session_id, messages, expected_version=expected_version)


async def test_a_pause_that_could_not_be_saved_leaves_the_message_for_a_retry(tmp_path: Path) -> None:
    env_base = base_environ(tmp_path / "data")
    queue, answers = unique("refunds"), unique("answers")
    app = refund_app(tmp_path, queue, answers)
    store = _FailingFirstAppend(tmp_path / "sessions.db")
    async with FakeModelServer(model) as fake:
        env = cli_env(env_base, fake)
        async with _Host(app, env, fake, store) as worker:
            await send(env, queue, '{"order": 9}')

            async def kept() -> Any:
                return await paused_session(store, worker.runner)

            await eventually(kept)
            # The first delivery paused but could not save its turn: the message came back.
            assert store.failed == 1
            assert len(fake.requests) == 2

            async def message_gone() -> bool:
                return (await drain(env, queue, receive=False))[0] == 0

            await eventually(message_gone)
        sessions = await SqliteSessionStore(tmp_path / "sessions.db").list("refunder")
        assert len(sessions) == 1  # the failed save left nothing behind


async def test_the_trigger_data_is_recorded_on_the_prompt_for_the_output_binding(tmp_path: Path) -> None:
    env_base = base_environ(tmp_path / "data")
    queue, answers = unique("refunds"), unique("answers")
    app = refund_app(tmp_path, queue, answers)
    async with FakeModelServer(model) as fake:
        env = cli_env(env_base, fake)
        async with _Host(app, env, fake, store_from_env(env)) as worker:
            await send(env, queue, '{"order": 5}')

            async def kept() -> Any:
                return await paused_session(worker.runner.store, worker.runner)

            await eventually(kept)
            found = await paused_session(worker.runner.store, worker.runner)
            assert found is not None
            [prompt, _] = await worker.runner.history("refunder", found[0])
        origin = prompt.metadata[TRIGGER_KEY]
        assert origin["type"] == "queue_trigger"
        assert origin["data"]["body_json"] == {"order": 5}
        assert origin["captures"] == {}


def blob_model(messages: list[Message], info: CallInfo) -> Reply:
    last = messages[-1]
    if last.role == "tool":
        return f"Summary: {last.contents[0].text}"
    return [tool_call("refund", {"order": 3}, call_id="call_blob")]


async def test_approving_a_paused_blob_run_writes_the_blob_named_from_its_captures(tmp_path: Path) -> None:
    env_base = base_environ(tmp_path / "data")
    trigger = "  type: blob_trigger\n  args:\n    path: uploads/{name}.txt\n"
    output = "output:\n  type: blob_output\n  args:\n    path: results/{name}.md\n"
    app = make_app(tmp_path, {"refunder": agent_file(trigger, name="Refunder", extra=output)})
    (app / "tools").mkdir()
    (app / "tools" / "ops.py").write_text(TOOLS, encoding="utf-8")
    account = resolve_account("AzureWebJobsStorage", env_base)
    async with FakeModelServer(blob_model) as fake:
        env = cli_env(env_base, fake)
        async with _Host(app, env, fake, store_from_env(env)) as worker:
            uploads = open_blob_container(account, "uploads")
            try:
                await uploads.start()
                await uploads.write("invoice.txt", b"scan me", "text/plain")
            finally:
                await uploads.aclose()

            async def kept() -> Any:
                return await paused_session(worker.runner.store, worker.runner)

            await eventually(kept)
            found = await paused_session(worker.runner.store, worker.runner)
        assert found is not None
        results = open_blob_container(account, "results")
        await results.start()
        try:
            assert await results.scan("") == []  # nothing written while the turn waits
            code, out, err = await agentdown("approve", str(app), "refunder", found[0], "call_blob", env=env)
            assert code == 0, err
            assert out == "Summary: refunded order 3\n"

            # Named from the blob path's capture, recorded with the paused run's prompt.
            # A local container lists a blob once it has settled (half a second unchanged).
            async def written() -> bool:
                return bool(await results.scan(""))

            await eventually(written)
            assert [item.name for item in await results.scan("")] == ["invoice.md"], err
            assert await results.read("invoice.md", 1000) == b"Summary: refunded order 3"
            assert "answer written to" in err
        finally:
            await results.aclose()


async def test_an_event_for_a_session_that_waits_fails_saying_so_and_is_poisoned(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, "agentdown.triggers")
    env_base = base_environ(tmp_path / "data", AGENTDOWN_QUEUE_MAX_DEQUEUE_COUNT="2")
    queue, answers = unique("refunds"), unique("answers")
    app = refund_app(tmp_path, queue, answers)
    agent_md = app / "refunder.agent.md"
    agent_md.write_text(
        agent_md.read_text().replace("---\nHandle", 'session_key: "customer-{customer}"\n---\nHandle')
    )
    async with FakeModelServer(model) as fake:
        env = cli_env(env_base, fake)
        async with _Host(app, env, fake, store_from_env(env)) as worker:
            await send(env, queue, '{"order": 1, "customer": 77}')

            async def kept() -> Any:
                return await paused_session(worker.runner.store, worker.runner)

            await eventually(kept)
            await send(env, queue, '{"order": 2, "customer": 77}')

            async def poisoned() -> bool:
                return (await drain(env, f"{queue}-poison", receive=False))[0] == 1

            await eventually(poisoned)
        assert len(fake.requests) == 1  # the second event never reached the model
        refused = [m for m in _messages(caplog) if "still waits for decisions" in m]
        assert len(refused) == 2  # once per delivery
        assert refused[0] == (
            "refunder (queue_trigger): session customer-77 still waits for decisions on refund "
            f"[call_refund_1]; this event runs once they are given: agentdown approve {app} refunder "
            "customer-77 call_refund_1"
        )
