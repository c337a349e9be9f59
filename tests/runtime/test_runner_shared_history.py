"""The runner reads history from the store's turn cache without copying it, and user code cannot
corrupt that cache: tools and function middleware get private copies."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from agentdown import FunctionInvocationContext
from agentdown.app import load_app
from agentdown.messages import Message
from agentdown.runtime import Runner
from agentdown.sessions import SqliteSessionStore
from agentdown.testing import CallInfo, FunctionModel, ToolCalls, tool_call
from agentdown.tools import CallNext, normalize_function_middleware

AGENT = """---
name: Helper
description: Helps.
builtin_endpoints: true
---
Be helpful.
"""

TOOLS = '''
from agentdown import FunctionInvocationContext, tool

@tool
async def tamper(context: FunctionInvocationContext) -> str:
    """Edits every message of the session's history in place."""
    for message in context.session.messages:
        message.metadata["tampered"] = True
        for content in message.contents:
            if content.type == "text":
                content.text = "tampered"
    return "done"

@tool
async def noop() -> str:
    """Does nothing."""
    return "ok"
'''


def make_app(tmp_path: Path) -> Path:
    app = tmp_path / "app"
    (app / "tools").mkdir(parents=True)
    (app / "helper.agent.md").write_text(AGENT)
    (app / "tools" / "tools.py").write_text(TOOLS)
    return app


class Recorder:
    """A model's reply function that keeps the message objects of every request (not copies)."""

    def __init__(self) -> None:
        self.requests: list[list[Message]] = []
        self.script: dict[str, Any] = {}

    def __call__(self, messages: list[Message], info: CallInfo) -> Any:
        self.requests.append(messages)
        last = messages[-1]
        if last.role == "user" and last.text in self.script:
            return self.script[last.text]
        return "answer to " + (last.text if last.role == "user" else last.role)


def texts(messages: list[Message]) -> list[str]:
    return [m.text for m in messages if m.role in ("user", "assistant") and m.text]


async def test_turns_send_the_cached_history_objects_without_copying_them(tmp_path: Path) -> None:
    recorder = Recorder()
    store = SqliteSessionStore(tmp_path / "s.db")
    runner = Runner(load_app(make_app(tmp_path), model=FunctionModel(recorder)), store)
    try:
        sid = (await runner.run("helper", "one")).session_id
        for prompt in ("two", "three"):
            await runner.run("helper", prompt, session_id=sid)
        second, third = recorder.requests[1], recorder.requests[2]
        assert texts(third) == ["one", "answer to one", "two", "answer to two", "three"]
        # Turn 1's messages reached turns 2 and 3 as one and the same object each: no copy per load.
        history_2 = [m for m in second if m.role != "system"][:2]
        history_3 = [m for m in third if m.role != "system"][:2]
        assert all(a is b for a, b in zip(history_2, history_3, strict=True))
        assert store.turn_cache.hits >= 1
    finally:
        await runner.aclose()


def tampering_middleware() -> Any:
    async def tamper(context: FunctionInvocationContext, call_next: CallNext) -> None:
        for message in context.session.messages:
            message.metadata["tampered"] = True
            for content in message.contents:
                if content.type == "text":
                    content.text = "tampered"
        await call_next()

    return tamper


@pytest.mark.parametrize("who", ["tool", "middleware"])
async def test_user_code_editing_the_session_history_changes_only_its_own_request(
    tmp_path: Path, who: str
) -> None:
    recorder = Recorder()
    name = "tamper" if who == "tool" else "noop"
    recorder.script["go"] = ToolCalls(tool_call(name, {}, call_id="c1"))
    store = SqliteSessionStore(tmp_path / "s.db")
    runner = Runner(load_app(make_app(tmp_path), model=FunctionModel(recorder)), store)
    if who == "middleware":
        runner.agent("helper").middleware = normalize_function_middleware([tampering_middleware()])
    try:
        sid = (await runner.run("helper", "one")).session_id
        await runner.run("helper", "two", session_id=sid)  # the history is cached (and shared) now
        await runner.run("helper", "go", session_id=sid)
        # The run's own next call sees the edits, as with a copy the request owned...
        after_tool = recorder.requests[-1]
        assert texts(after_tool)[:4] == ["tampered"] * 4
        # ... but the cache does not: the next turn, and the store, have the history as it was.
        await runner.run("helper", "four", session_id=sid)
        sent = recorder.requests[-1]
        assert texts(sent)[:4] == ["one", "answer to one", "two", "answer to two"]
        assert not any(m.metadata.get("tampered") for m in sent)
        stored = await store.load("helper", sid)
        assert texts(stored.messages)[:4] == ["one", "answer to one", "two", "answer to two"]
        shared = await store.load_shared("helper", sid)
        assert not any(m.metadata.get("tampered") for m in shared.messages)
    finally:
        await runner.aclose()


async def test_a_turn_without_tool_calls_keeps_sharing_and_one_with_them_unshares(tmp_path: Path) -> None:
    """What the run loop hands to user code is the session's private copy, never a cached object."""
    seen: list[list[Message]] = []
    recorder = Recorder()
    recorder.script["go"] = ToolCalls(tool_call("noop", {}, call_id="c1"))

    async def spy(context: FunctionInvocationContext, call_next: CallNext) -> None:
        seen.append(list(context.session.messages))
        await call_next()

    store = SqliteSessionStore(tmp_path / "s.db")
    runner = Runner(load_app(make_app(tmp_path), model=FunctionModel(recorder)), store)
    runner.agent("helper").middleware = normalize_function_middleware([spy])
    try:
        sid = (await runner.run("helper", "one")).session_id
        await runner.run("helper", "go", session_id=sid)
        cached = (await store.load_shared("helper", sid)).messages
        (history,) = seen
        assert texts(history) == ["one", "answer to one"]
        assert not any(m is c for m in history for c in cached)
    finally:
        await runner.aclose()
