"""The runner keeps paused turns: resume across processes, failures mid-resume, re-pausing, TTL."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from agentdown.app import load_app
from agentdown.exceptions import ConfigurationError, ResumeError
from agentdown.messages import Message
from agentdown.runtime import Runner
from agentdown.runtime.pending import SessionNotFoundError, TurnPendingError, pending_ttl_from_env
from agentdown.runtime.runner import Decisions
from agentdown.sessions import SqliteSessionStore
from agentdown.testing import CallInfo, FunctionModel, Reply, ScriptedModel, tool_call

AGENT = """---
name: Ops
description: Runs risky things.
---
Be careful.
"""

TOOLS = '''
from agentdown import tool

@tool(approval_mode="always_require")
async def restart(service: str) -> str:
    """Restart a service."""
    import asyncio
    from pathlib import Path
    await asyncio.sleep(0.01)
    with (Path(__file__).resolve().parents[1] / "restarts.log").open("a") as log:
        log.write(service + "\\n")
    return f"restarted {service}"
'''


def make_app(tmp_path: Path) -> Path:
    app = tmp_path / "app"
    (app / "tools").mkdir(parents=True, exist_ok=True)
    (app / "ops.agent.md").write_text(AGENT)
    (app / "tools" / "ops.py").write_text(TOOLS)
    return app


def runner_for(tmp_path: Path, model: ScriptedModel) -> Runner:
    return Runner(load_app(make_app(tmp_path), model=model), SqliteSessionStore(tmp_path / "s.db"))


def restarts(tmp_path: Path) -> list[str]:
    log = tmp_path / "app" / "restarts.log"
    return log.read_text().split() if log.exists() else []


async def test_resume_in_another_runner_and_a_failure_after_the_tool_ran(tmp_path: Path) -> None:
    first = runner_for(tmp_path, ScriptedModel([tool_call("restart", {"service": "db"}, call_id="r1")]))
    paused = await first.run("ops", "restart db")
    sid = paused.session_id
    assert paused.result.status == "requires_action"
    await first.aclose()

    # A decision that fails before anything runs keeps the turn pending (nothing happened).
    second = runner_for(tmp_path, ScriptedModel([]))
    with pytest.raises(ResumeError):
        await second.resume("ops", sid, Decisions(approvals={"r1": "yes"}))  # type: ignore[dict-item]
    assert await second.pending("ops", sid) is not None
    await second.aclose()

    # "Another process": the approved tool runs, then the model fails. The tool's effect is
    # kept with its result, so nothing can make it run a second time.
    third = runner_for(tmp_path, ScriptedModel([RuntimeError("provider down")]))
    with pytest.raises(RuntimeError, match="provider down"):
        await third.resume("ops", sid, Decisions(approvals={"r1": True}))
    assert restarts(tmp_path) == ["db"]
    assert await third.pending("ops", sid) is None
    stored = await third.history("ops", sid)
    assert [m.role for m in stored] == ["user", "assistant", "tool"]
    assert stored[-1].contents[0].text == "restarted db"
    await third.aclose()

    model = ScriptedModel(["db is back"])
    fourth = runner_for(tmp_path, model)
    done = await fourth.run("ops", "did it work?", session_id=sid)
    assert done.result.text == "db is back"
    assert [m.role for m in model.requests[0].messages if m.role != "system"] == [
        "user",
        "assistant",
        "tool",
        "user",
    ]
    assert restarts(tmp_path) == ["db"]
    await fourth.aclose()


async def test_a_resumed_run_that_pauses_again_stays_pending(tmp_path: Path) -> None:
    model = ScriptedModel(
        [
            tool_call("restart", {"service": "db"}, call_id="r1"),
            tool_call("restart", {"service": "web"}, call_id="r2"),
            "both restarted",
        ]
    )
    runner = runner_for(tmp_path, model)
    paused = await runner.run("ops", "restart all")
    sid = paused.session_id
    again = await runner.resume("ops", sid, Decisions(approvals={"r1": True}))
    assert again.result.status == "requires_action"
    pending = await runner.pending("ops", sid)
    assert pending is not None and [c.call_id for c in pending.calls] == ["r2"]
    with pytest.raises(TurnPendingError):
        await runner.run("ops", "hello", session_id=sid)
    done = await runner.resume("ops", sid, Decisions(approvals={"r2": True}))
    assert done.result.text == "both restarted"
    stored = await runner.history("ops", sid)
    assert [m.role for m in stored] == ["user", "assistant", "tool", "assistant", "tool", "assistant"]
    # The model saw each message once, in order, on the last call.
    roles = [m.role for m in model.requests[-1].messages if m.role != "system"]
    assert roles == ["user", "assistant", "tool", "assistant", "tool"]
    await runner.aclose()


async def test_a_cancelled_resume_keeps_the_session_well_formed(tmp_path: Path) -> None:
    calls = 0

    async def model_fn(messages: list[Message], info: CallInfo) -> Reply:
        nonlocal calls
        calls += 1
        if calls == 1:
            return [tool_call("restart", {"service": "db"}, call_id="r1")]
        await asyncio.sleep(30)  # the answer after the tool never comes: the client gives up
        return "never"

    runner = Runner(
        load_app(make_app(tmp_path), model=FunctionModel(model_fn)), SqliteSessionStore(tmp_path / "s.db")
    )
    sid = (await runner.run("ops", "restart db")).session_id
    task = asyncio.create_task(runner.resume("ops", sid, Decisions(approvals={"r1": True})))
    await asyncio.sleep(0.5)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    stored = await runner.history("ops", sid)
    # The approved call ran and its result is kept; no call is left without a result.
    results = {c.call_id: c.text for m in stored for c in m.tool_results}
    assert results["r1"] == "restarted db"
    assert await runner.pending("ops", sid) is None
    await runner.aclose()


async def test_sessions_belong_to_their_principal(tmp_path: Path) -> None:
    runner = runner_for(tmp_path, ScriptedModel(["hi alice", "hi"]))
    sid = (await runner.run("ops", "I am alice", principal="alice")).session_id
    for principal in ("mallory", None):
        with pytest.raises(SessionNotFoundError):
            await runner.run("ops", "who?", session_id=sid, principal=principal)
        with pytest.raises(SessionNotFoundError):
            await runner.history("ops", sid, principal=principal)
    # An anonymous session is not someone else's either.
    anon = (await runner.run("ops", "anyone")).session_id
    with pytest.raises(SessionNotFoundError):
        await runner.history("ops", anon, principal="alice")
    await runner.aclose()


def test_the_pending_ttl_setting() -> None:
    assert pending_ttl_from_env({}) == 24 * 3600
    assert pending_ttl_from_env({"AGENTDOWN_PENDING_TTL": "60"}) == 60
    for bad in ("0", "-5", "soon"):
        with pytest.raises(ConfigurationError, match="AGENTDOWN_PENDING_TTL"):
            pending_ttl_from_env({"AGENTDOWN_PENDING_TTL": bad})
