"""A store behind ``Agent.run``: load the tail, run, append exactly what the run added."""

from __future__ import annotations

import asyncio

import pytest

from agentdown import Agent, Message, tool
from agentdown.sessions import (
    SessionConflictError,
    SessionStore,
    StoredSession,
    TruncationStrategy,
    append_with_retry,
    load_session,
    open_session,
    save_turn,
)
from agentdown.testing import ScriptedModel, tool_call


@tool
def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


async def test_a_run_is_appended_as_one_turn_and_the_next_run_sees_it(store: SessionStore) -> None:
    model = ScriptedModel([tool_call("add", {"a": 2, "b": 3}, call_id="c1"), "The sum is 5.", "Yes, 5."])
    agent = Agent(model, instructions="Be exact.", tools=[add])
    async with open_session(store, "calc", "s1") as session:
        assert session.messages == [] and session.version is None
        result = await agent.run("2 + 3?", session=session)
        assert result.text == "The sum is 5."
    history = await store.load("calc", "s1")
    assert len(history.turns) == 1
    assert [m.role for m in history.messages] == ["user", "assistant", "tool", "assistant"]

    async with open_session(store, "calc", "s1") as session:
        assert len(session.messages) == 4 and session.saved == 4
        await agent.run("Sure?", session=session)
    sent = model.requests[-1].messages
    assert [m.role for m in sent] == ["system", "user", "assistant", "tool", "assistant", "user"]
    history = await store.load("calc", "s1")
    assert [t.seq for t in history.turns] == [1, 2]
    assert [m.text for m in history.turns[1].messages] == ["Sure?", "Yes, 5."]


async def test_load_session_reads_only_the_tail_the_strategy_needs(store: SessionStore) -> None:
    version = None
    for i in range(100):
        version = await store.append(
            "a", "s", [Message.user(f"q{i}"), Message.assistant(f"a{i}")], expected_version=version
        )
    last = await load_session(store, "a", "s", truncation={"type": "last_messages", "last_messages": 5})
    assert [m.text for m in last.messages] == [f"{k}{i}" for i in range(97, 100) for k in "qa"]
    assert last.total_messages == 200 and last.version == version
    # auto: the tail grows until the estimated tokens cover the budget
    auto = await load_session(store, "a", "s", max_input_tokens=30)
    assert len(auto.messages) == 64 and auto.messages[-1].text == "a99"
    everything = await load_session(
        store, "a", "s", truncation=TruncationStrategy("auto"), max_input_tokens=10**6
    )
    assert len(everything.messages) == 200
    fixed = await load_session(store, "a", "s", max_messages=1)
    assert [m.text for m in fixed.messages] == ["q99", "a99"]


async def test_save_turn_retries_after_another_writer(store: SessionStore) -> None:
    mine = await load_session(store, "a", "s")
    theirs = await load_session(store, "a", "s")
    theirs.messages.append(Message.user("theirs"))
    await save_turn(store, theirs)
    mine.messages.extend([Message.user("mine"), Message.assistant("ok")])
    await save_turn(store, mine)
    assert mine.saved == 2 and mine.total_messages == 2
    assert [t.messages[0].text for t in (await store.load("a", "s")).turns] == ["theirs", "mine"]
    assert await save_turn(store, mine) == mine.version  # nothing new: no append
    assert (await store.load("a", "s", max_messages=0)).total_turns == 2


async def test_retries_are_bounded(store: SessionStore) -> None:
    await store.append("a", "s", [Message.user("x")], expected_version=None)
    with pytest.raises(SessionConflictError):
        await append_with_retry(store, "a", "s", [Message.user("y")], None, attempts=1)
    with pytest.raises(ValueError, match="attempts"):
        await append_with_retry(store, "a", "s", [Message.user("y")], None, attempts=0)


async def test_open_session_saves_what_a_failed_run_committed(store: SessionStore) -> None:
    with pytest.raises(RuntimeError, match="boom"):
        async with open_session(store, "a", "s") as session:
            session.messages.append(Message.user("partial"))
            raise RuntimeError("boom")
    assert [m.text for m in (await store.load("a", "s")).messages] == ["partial"]

    started = asyncio.Event()

    async def cancelled() -> None:
        async with open_session(store, "a", "s") as session:
            session.messages.append(Message.user("before cancel"))
            started.set()
            await asyncio.sleep(10)

    task = asyncio.create_task(cancelled())
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert [m.text for m in (await store.load("a", "s")).messages] == ["partial", "before cancel"]


async def test_stored_session_guards(store: SessionStore) -> None:
    session = await load_session(store, "a", None)
    assert session.id.startswith("sess_") and isinstance(session, StoredSession)
    session.messages.append(Message.user("x"))
    await save_turn(store, session)
    session.messages.clear()
    with pytest.raises(ValueError, match="only be appended"):
        await save_turn(store, session)
    with pytest.raises(ValueError, match="invalid agent name"):
        StoredSession(id="s", agent="no/slash")
    with pytest.raises(ValueError, match="invalid session id"):
        await load_session(store, "a", "bad id")
