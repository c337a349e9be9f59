"""One turn of one agent, with its session: what HTTP routes, triggers and the CLI all call.

The runner resolves the agent in the catalog, takes the session's lease, loads the
tail of its history from the store, runs the agent, and appends the turn as one
atomic record. The lease is an in-process lock per (agent, session): turns of one
session never overlap inside a process; across processes the store's optimistic
concurrency orders them (a conflicting append is retried after the other writer's
turn, so nothing is lost or interleaved).
"""

from __future__ import annotations

import asyncio
import contextlib
import weakref
from collections.abc import AsyncGenerator, AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from agentdown.agent import Agent
from agentdown.app.catalog import AgentCatalog
from agentdown.loop.events import AgentRunResult, RunEvent
from agentdown.messages import Message, new_id
from agentdown.sessions import SessionStore, open_session, validate_session_id
from agentdown.sessions.stored import StoredSession

__all__ = ["Runner", "TurnResult"]

Prompt = str | Message | Sequence[Message]


@dataclass(frozen=True, slots=True)
class TurnResult:
    session_id: str
    result: AgentRunResult[Any]


class Runner:
    """Runs turns of a catalog's agents against one session store; share one per process."""

    def __init__(self, catalog: AgentCatalog, store: SessionStore) -> None:
        self.catalog = catalog
        self.store = store
        self._leases: weakref.WeakValueDictionary[tuple[str, str], asyncio.Lock] = (
            weakref.WeakValueDictionary()
        )

    def agent(self, slug: str) -> Agent:
        """The built agent for ``slug`` (``KeyError`` when unknown)."""
        return self.catalog.build_agent(self.catalog.resolve(slug).slug)

    def _lease(self, slug: str, session_id: str) -> asyncio.Lock:
        key = (slug, session_id)
        lock = self._leases.get(key)
        if lock is None:
            lock = asyncio.Lock()
            self._leases[key] = lock
        return lock

    @contextlib.asynccontextmanager
    async def _turn(self, agent: Agent, session_id: str | None) -> AsyncIterator[StoredSession]:
        sid = validate_session_id(session_id) if session_id is not None else new_id("sess")
        # The lease is taken before the load and released after the save, so turns of one
        # session in this process see each other's messages.
        async with (
            self._lease(agent.name, sid),
            open_session(self.store, agent.name, sid, truncation=agent.truncation) as session,
        ):
            yield session

    async def run(
        self,
        slug: str,
        prompt: Prompt,
        *,
        session_id: str | None = None,
        function_invocation_kwargs: Mapping[str, Any] | None = None,
    ) -> TurnResult:
        """Run one turn to completion; a new session when ``session_id`` is None."""
        agent = self.agent(slug)
        async with self._turn(agent, session_id) as session:
            result = await agent.run(
                prompt, session=session, function_invocation_kwargs=function_invocation_kwargs
            )
        return TurnResult(session.id, result)

    async def stream(
        self,
        slug: str,
        prompt: Prompt,
        *,
        session_id: str | None = None,
        function_invocation_kwargs: Mapping[str, Any] | None = None,
    ) -> AsyncGenerator[tuple[str, RunEvent], None]:
        """Run one turn, yielding ``(session_id, event)``; closing early cancels the run cleanly."""
        agent = self.agent(slug)
        async with self._turn(agent, session_id) as session:
            events = agent.run_stream(
                prompt, session=session, function_invocation_kwargs=function_invocation_kwargs
            )
            try:
                async for event in events:
                    yield session.id, event
            finally:
                await events.aclose()  # type: ignore[attr-defined]

    async def history(self, slug: str, session_id: str, *, max_messages: int | None = None) -> list[Message]:
        """A session's stored messages, oldest first: all, or whole turns covering ``max_messages``."""
        agent = self.agent(slug)
        loaded = await self.store.load(agent.name, validate_session_id(session_id), max_messages=max_messages)
        return loaded.messages

    async def aclose(self) -> None:
        await self.catalog.aclose()
        await self.store.aclose()
