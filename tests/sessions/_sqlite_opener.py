"""A process of the SQLite set-up race: at each barrier, open a fresh database (kinds in turn) and write once."""

from __future__ import annotations

import asyncio
import multiprocessing.synchronize
from multiprocessing.queues import Queue
from pathlib import Path

from agentdown.messages import Message
from agentdown.runtime.queues.sqlite import SqliteQueueService
from agentdown.runtime.triggers.state import SqliteStateStore
from agentdown.sessions import SqliteSessionStore


async def write_once(kind: str, path: Path, worker: int) -> None:
    if kind == "sessions":
        sessions = SqliteSessionStore(path)
        try:
            await sessions.append("agent", f"s{worker}", [Message.user("hi")], expected_version=None)
        finally:
            await sessions.aclose()
    elif kind == "queues":
        queues = SqliteQueueService(path)
        try:
            await queues.queue("work").send(f"from {worker}")
        finally:
            await queues.aclose()
    else:
        state = SqliteStateStore(path)
        try:
            assert await state.create(f"key{worker}", {"worker": worker}) is not None
        finally:
            await state.aclose()


KINDS = ("sessions", "queues", "state")


def run(
    folder: str,
    rounds: int,
    worker: int,
    barrier: multiprocessing.synchronize.Barrier,
    results: Queue[list[str]],
) -> None:
    failures: list[str] = []
    for round_ in range(rounds):
        barrier.wait()
        try:
            asyncio.run(write_once(KINDS[round_ % 3], Path(folder) / f"{round_}.db", worker))
        except Exception as exc:
            failures.append(f"round {round_}: {type(exc).__name__}: {exc}")
    results.put(failures)
