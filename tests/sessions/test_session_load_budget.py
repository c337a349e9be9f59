"""How much an ``auto`` load reads, and that the run's truncation counts with the session's counter."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from agentdown import Agent, Message
from agentdown.sessions import SqliteSessionStore, load_session, open_session
from agentdown.sessions.store import History
from agentdown.sessions.truncation import TokenCache, estimate_tokens
from agentdown.testing import ScriptedModel


class CountingStore(SqliteSessionStore):
    """The real SQLite store, recording the ``max_messages`` of every load."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.loads: list[int | None] = []

    async def load(self, agent: str, session_id: str, *, max_messages: int | None = None) -> History:
        self.loads.append(max_messages)
        return await super().load(agent, session_id, max_messages=max_messages)


async def fill(store: SqliteSessionStore, turns: int, text: str = "x" * 400) -> None:
    version = None
    for i in range(turns):
        pair = [Message.user(f"{i} {text}"), Message.assistant(f"{i} {text}")]
        version = await store.append("a", "s", pair, expected_version=version)


async def test_an_auto_load_reads_once_what_the_previous_load_needed(tmp_path: Path) -> None:
    store = CountingStore(tmp_path / "s.db")
    await fill(store, 300)  # 600 messages of ~105 estimated tokens: 32,000 needs ~305 of them
    first = await load_session(store, "a", "s")
    assert store.loads[0] == 64 and len(store.loads) == 2, store.loads  # the first 64, then enough
    assert sum(map(estimate_tokens, first.messages)) >= 32_000
    assert len(first.messages) < 600  # grown from the average size seen, not to the whole session

    await fill_more(store, first)
    store.loads.clear()
    second = await load_session(store, "a", "s")
    assert len(store.loads) == 1, store.loads
    assert sum(map(estimate_tokens, second.messages)) >= 32_000
    assert second.messages[-1].text.startswith("new")
    assert len(second.messages) <= 305 + 16 + 2
    await store.aclose()


async def fill_more(store: SqliteSessionStore, session: Any) -> None:
    await store.append(
        "a",
        "s",
        [Message.user("new " + "y" * 400), Message.assistant("new " + "y" * 400)],
        expected_version=session.version,
    )


async def test_hints_belong_to_their_store(tmp_path: Path) -> None:
    one = CountingStore(tmp_path / "one.db")
    await fill(one, 300)
    await load_session(one, "a", "s")
    other = CountingStore(tmp_path / "other.db")
    await fill(other, 300)
    await load_session(other, "a", "s")
    assert other.loads[-2] == 64  # the same agent and session id in another store starts afresh
    await one.aclose()
    await other.aclose()


async def test_the_run_truncates_with_the_sessions_counter(tmp_path: Path) -> None:
    store = SqliteSessionStore(tmp_path / "s.db")
    await fill(store, 10, text="short")
    model = ScriptedModel(["ok"])
    agent = Agent(model, instructions="Be brief.", max_input_tokens=25_000)
    # Every message "costs" 10,000: the instructions and the new prompt fit, nothing older does.
    async with open_session(store, "a", "s", count_tokens=lambda m: 10_000) as session:
        assert isinstance(session.count_tokens, TokenCache)
        await agent.run("hello", session=session)
    assert [m.text for m in model.requests[0].messages] == ["Be brief.", "hello"]
    await store.aclose()
