"""The runner: one turn with its session, leases, streaming, history."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from agentdown.app import load_app
from agentdown.loop.events import TextDeltaEvent, ToolCallStartEvent
from agentdown.runtime import Runner
from agentdown.sessions import SqliteSessionStore
from agentdown.testing import FunctionModel, ScriptedModel, tool_call

AGENT = """---
name: Helper
description: Helps.
builtin_endpoints: true
---
Be helpful.
"""

TOOLS = '''
from agentdown import tool

@tool
async def echo(text: str) -> str:
    """Echo."""
    import asyncio
    await asyncio.sleep(0.05)
    return text
'''


def make_app(tmp_path: Path) -> Path:
    app = tmp_path / "app"
    (app / "tools").mkdir(parents=True)
    (app / "helper.agent.md").write_text(AGENT)
    (app / "tools" / "echo.py").write_text(TOOLS)
    return app


async def test_turns_persist_and_continue(tmp_path: Path) -> None:
    model = ScriptedModel(["one", "two"])
    runner = Runner(load_app(make_app(tmp_path), model=model), SqliteSessionStore(tmp_path / "s.db"))
    first = await runner.run("helper", "hi")
    second = await runner.run("helper", "again", session_id=first.session_id)
    assert second.session_id == first.session_id
    assert [m.text for m in model.requests[1].messages if m.role != "system"] == ["hi", "one", "again"]
    history = await runner.history("helper", first.session_id)
    assert [m.text for m in history] == ["hi", "one", "again", "two"]
    await runner.aclose()


async def test_concurrent_turns_on_one_session_are_serialised(tmp_path: Path) -> None:
    seen: list[list[str]] = []

    async def slow(messages, info):  # type: ignore[no-untyped-def]
        seen.append([m.text for m in messages if m.role == "user"])
        await asyncio.sleep(0.05)
        return "ok"

    runner = Runner(
        load_app(make_app(tmp_path), model=FunctionModel(slow)), SqliteSessionStore(tmp_path / "s.db")
    )
    await asyncio.gather(*(runner.run("helper", f"q{i}", session_id="shared") for i in range(3)))
    # Each turn saw every earlier turn of the session.
    assert sorted(len(s) for s in seen) == [1, 2, 3]
    history = await runner.history("helper", "shared")
    assert len(history) == 6
    await runner.aclose()


async def test_stream_closed_early_keeps_session_consistent(tmp_path: Path) -> None:
    model = ScriptedModel([tool_call("echo", {"text": "x"}), "never seen"])
    runner = Runner(load_app(make_app(tmp_path), model=model), SqliteSessionStore(tmp_path / "s.db"))
    stream = runner.stream("helper", "go", session_id="s1")
    async for sid, event in stream:
        assert sid == "s1"
        if isinstance(event, ToolCallStartEvent):
            break
    await stream.aclose()
    history = await runner.history("helper", "s1")
    answered = {c.call_id for m in history for c in m.tool_results}
    assert history[0].text == "go"
    assert all(c.call_id in answered for m in history for c in m.tool_calls)
    await runner.aclose()


async def test_stream_yields_session_and_events(tmp_path: Path) -> None:
    runner = Runner(
        load_app(make_app(tmp_path), model=ScriptedModel(["hello world"])),
        SqliteSessionStore(tmp_path / "s.db"),
    )
    events = [e async for e in runner.stream("helper", "hi")]
    sids = {sid for sid, _ in events}
    assert len(sids) == 1
    assert "".join(e.text for _, e in events if isinstance(e, TextDeltaEvent)) == "hello world"
    await runner.aclose()


async def test_bad_session_id_and_unknown_agent(tmp_path: Path) -> None:
    runner = Runner(
        load_app(make_app(tmp_path), model=ScriptedModel([])), SqliteSessionStore(tmp_path / "s.db")
    )
    with pytest.raises(ValueError, match="invalid session id"):
        await runner.run("helper", "hi", session_id="../etc")
    with pytest.raises(KeyError):
        await runner.run("nope", "hi")
    await runner.aclose()
