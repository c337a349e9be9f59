"""One turn of one agent, with its session: what HTTP routes, triggers and the CLI all call.

The runner resolves the agent in the catalog, takes the session's lease, loads the
tail of its history from the store, runs the agent, and appends the turn as one
atomic record. The lease is an in-process lock per (agent, session): turns of one
session never overlap inside a process; across processes the store's optimistic
concurrency orders them (a conflicting append is retried after the other writer's
turn, so nothing is lost or interleaved).

A run that pauses for approvals or tool outputs is kept as a pending turn
(:mod:`agentdown.runtime.pending`): :meth:`Runner.resume` continues it with the
caller's decisions, :meth:`Runner.discard` closes it, and a new prompt meanwhile is
refused with :class:`TurnPendingError`. With ``principal`` given, sessions belong to
that caller and are invisible to everyone else.

A new turn loads its history without copying what the store keeps decoded
(``open_session(..., shared=True)``): the loop only reads the history and appends the
turn's messages. The run loop gives the session private copies before the first tool
call (tools and function middleware see it as ``context.session``), so editing
``context.session.messages`` affects that request only, as always; a custom
:class:`~agentdown.models.base.ChatModel` must not edit the messages it is sent (the
built-in ones never do). Resumes, discards and :meth:`Runner.history` load copies.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import weakref
from collections.abc import AsyncGenerator, AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from agentdown.agent import Agent
from agentdown.app.catalog import AgentCatalog
from agentdown.knowledge.folder_search import attach_citations
from agentdown.loop.events import AgentRunResult, RunCompletedEvent, RunEvent
from agentdown.messages import Message, new_id
from agentdown.runtime import queue_tools as _queue_tools  # noqa: F401  (registers the queue tool factory)
from agentdown.runtime import workflows as _workflows  # noqa: F401  (registers the workflow tool factory)
from agentdown.runtime.pending import (
    NothingPendingError,
    PendingExpiredError,
    PendingTurn,
    SessionNotFoundError,
    TurnPendingError,
    closing_message,
    mark_pending,
    owner_digest,
    pending_ttl_from_env,
    pending_turn,
    session_owner,
    stamp_owner,
)
from agentdown.sessions import Session, SessionStore, open_session, validate_session_id
from agentdown.sessions.stored import StoredSession

__all__ = ["Decisions", "Runner", "TurnResult"]

Prompt = str | Message | Sequence[Message]


@dataclass(frozen=True, slots=True)
class TurnResult:
    session_id: str
    result: AgentRunResult[Any]


@dataclass(frozen=True, slots=True)
class Decisions:
    """The caller's answers to a pending turn."""

    approvals: Mapping[str, bool] = field(default_factory=dict)
    tool_outputs: Mapping[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class _Plan:
    """How one turn runs on its stored session; ``finish`` records what the run produced."""

    stored: StoredSession
    owner: str | None
    ttl: float
    session: Session
    """What the agent runs on: the stored session, or a view without the paused messages."""
    resume: PendingTurn | None = None
    history_len: int = 0
    result: AgentRunResult[Any] | None = None

    def finish(self) -> None:
        """Move the run's messages into the stored session (once; also after a cancelled run)."""
        stored, result = self.stored, self.result
        if self.resume is not None:
            # The agent extended the view (completed / cancelled runs) or, paused again, nothing.
            done = self.session.messages[self.history_len + self.resume.run_messages :]
            stored.messages.extend(done)
        if result is not None and result.requires_action and result.state is not None:
            already = self.resume.run_messages if self.resume is not None else 0
            new = [Message.from_dict(m) for m in result.state["messages"][already:]]
            if new:
                mark_pending(new[-1], result.state, self.ttl)
                stored.messages.extend(new)
        stamp_owner(stored.unsaved, self.owner)


class Runner:
    """Runs turns of a catalog's agents against one session store; share one per process."""

    def __init__(
        self, catalog: AgentCatalog, store: SessionStore, *, pending_ttl: float | None = None
    ) -> None:
        self.catalog = catalog
        self.store = store
        self.pending_ttl = pending_ttl_from_env(os.environ) if pending_ttl is None else pending_ttl
        if self.pending_ttl <= 0:
            raise ValueError(f"pending_ttl must be > 0 seconds, got {self.pending_ttl}")
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
    async def _session(
        self, agent: Agent, session_id: str | None, principal: str | None, *, shared: bool = False
    ) -> AsyncIterator[tuple[StoredSession, str | None]]:
        """The leased, loaded session, checked to belong to ``principal``; saved on exit.

        ``shared``: loaded without copying the store's cached messages (read-only, see
        :attr:`StoredSession.shared`), for a turn whose only other reader is the run loop.
        """
        sid = validate_session_id(session_id) if session_id is not None else new_id("sess")
        owner = owner_digest(principal)
        # The lease is taken before the load and released after the save, so turns of one
        # session in this process see each other's messages.
        async with (
            self._lease(agent.name, sid),
            open_session(
                self.store,
                agent.name,
                sid,
                truncation=agent.truncation,
                max_input_tokens=agent.max_input_tokens,
                shared=shared,
            ) as stored,
        ):
            if stored.version is not None and session_owner(stored.messages) != owner:
                raise SessionNotFoundError(f"no session {sid!r} for agent {agent.name!r}")
            yield stored, owner

    @contextlib.asynccontextmanager
    async def _new_turn(
        self, agent: Agent, session_id: str | None, principal: str | None
    ) -> AsyncIterator[_Plan]:
        # Shared: this code and the loop only read the loaded messages (the closing message
        # and the owner stamp go on new ones); the loop unshares before user code runs.
        async with self._session(agent, session_id, principal, shared=True) as (stored, owner):
            pending = pending_turn(stored.messages)
            if pending is not None:
                if not pending.expired:
                    raise TurnPendingError(stored.id, pending)
                # Closed in the same append as the new turn: one atomic record.
                stored.messages.append(closing_message(pending, "expired"))
            plan = _Plan(stored, owner, self.pending_ttl, session=stored)
            try:
                yield plan
            finally:
                plan.finish()

    @contextlib.asynccontextmanager
    async def _resumed_turn(
        self, agent: Agent, session_id: str, principal: str | None
    ) -> AsyncIterator[_Plan]:
        async with self._session(agent, session_id, principal) as (stored, owner):
            pending = pending_turn(stored.messages)
            if pending is None:
                raise NothingPendingError(f"session {stored.id!r} has no turn waiting for decisions")
            if pending.expired:
                stored.messages.append(closing_message(pending, "expired"))
                stamp_owner(stored.unsaved, owner)
                raise PendingExpiredError(
                    f"the pending turn of session {stored.id!r} expired; its calls were not run"
                )
            keep = max(0, len(stored.messages) - pending.run_messages)
            view = Session(id=stored.id, messages=stored.messages[:keep])
            plan = _Plan(stored, owner, self.pending_ttl, session=view, resume=pending, history_len=keep)
            try:
                yield plan
            finally:
                plan.finish()

    async def run(
        self,
        slug: str,
        prompt: Prompt,
        *,
        session_id: str | None = None,
        principal: str | None = None,
        function_invocation_kwargs: Mapping[str, Any] | None = None,
    ) -> TurnResult:
        """Run one turn (a new session when ``session_id`` is None); a paused run is kept as pending."""
        agent = self.agent(slug)
        async with self._new_turn(agent, session_id, principal) as plan:
            plan.result = await agent.run(
                prompt, session=plan.session, function_invocation_kwargs=function_invocation_kwargs
            )
            attach_citations(plan.session, plan.result)
        return TurnResult(plan.stored.id, plan.result)

    async def resume(
        self,
        slug: str,
        session_id: str,
        decisions: Decisions,
        *,
        principal: str | None = None,
        function_invocation_kwargs: Mapping[str, Any] | None = None,
    ) -> TurnResult:
        """Continue the session's pending turn with the caller's decisions."""
        agent = self.agent(slug)
        async with self._resumed_turn(agent, session_id, principal) as plan:
            assert plan.resume is not None
            plan.result = await agent.run(
                session=plan.session,
                resume=plan.resume.state,
                approvals=decisions.approvals,
                tool_outputs=decisions.tool_outputs,
                function_invocation_kwargs=function_invocation_kwargs,
            )
            attach_citations(plan.session, plan.result)
        return TurnResult(plan.stored.id, plan.result)

    async def stream(
        self,
        slug: str,
        prompt: Prompt | None,
        *,
        session_id: str | None = None,
        principal: str | None = None,
        decisions: Decisions | None = None,
        function_invocation_kwargs: Mapping[str, Any] | None = None,
    ) -> AsyncGenerator[tuple[str, RunEvent], None]:
        """Run (or, with ``decisions``, resume) one turn, yielding ``(session_id, event)``.

        Closing the generator early cancels the run cleanly.
        """
        agent = self.agent(slug)
        if decisions is not None:
            if session_id is None:
                raise NothingPendingError("decisions need the session id of the pending turn")
            turn = self._resumed_turn(agent, session_id, principal)
        else:
            turn = self._new_turn(agent, session_id, principal)
        async with turn as plan:
            if plan.resume is not None and decisions is not None:
                events = agent.run_stream(
                    session=plan.session,
                    resume=plan.resume.state,
                    approvals=decisions.approvals,
                    tool_outputs=decisions.tool_outputs,
                    function_invocation_kwargs=function_invocation_kwargs,
                )
            else:
                events = agent.run_stream(
                    prompt, session=plan.session, function_invocation_kwargs=function_invocation_kwargs
                )
            try:
                async for event in events:
                    if isinstance(event, RunCompletedEvent):
                        plan.result = event.result
                        attach_citations(plan.session, event.result)
                    yield plan.stored.id, event
            finally:
                await events.aclose()  # type: ignore[attr-defined]

    async def discard(self, slug: str, session_id: str, *, principal: str | None = None) -> PendingTurn:
        """Close the session's pending turn without running its calls; returns what was discarded."""
        agent = self.agent(slug)
        async with self._session(agent, session_id, principal) as (stored, owner):
            pending = pending_turn(stored.messages)
            if pending is None:
                raise NothingPendingError(f"session {stored.id!r} has no turn waiting for decisions")
            stored.messages.append(closing_message(pending, "discarded"))
            stamp_owner(stored.unsaved, owner)
        return pending

    async def pending(
        self, slug: str, session_id: str, *, principal: str | None = None
    ) -> PendingTurn | None:
        """The session's pending turn, if any (``SessionNotFoundError`` for another caller's session)."""
        return pending_turn(await self._owned_tail(slug, session_id, 1, principal))

    async def history(
        self,
        slug: str,
        session_id: str,
        *,
        max_messages: int | None = None,
        principal: str | None = None,
    ) -> list[Message]:
        """A session's stored messages, oldest first: all, or whole turns covering ``max_messages``."""
        return await self._owned_tail(slug, session_id, max_messages, principal)

    async def _owned_tail(
        self, slug: str, session_id: str, max_messages: int | None, principal: str | None
    ) -> list[Message]:
        """The session's newest messages, read without the lease, if they belong to ``principal``."""
        agent = self.agent(slug)
        loaded = await self.store.load(agent.name, validate_session_id(session_id), max_messages=max_messages)
        if loaded.version is not None and session_owner(loaded.messages) != owner_digest(principal):
            raise SessionNotFoundError(f"no session {session_id!r} for agent {agent.name!r}")
        return loaded.messages

    async def aclose(self) -> None:
        await self.catalog.aclose()
        await self.store.aclose()
