"""Session store cost per turn as a session grows: it should stay flat.

For each store (sqlite, jsonl, azure_blob against an Azurite this script starts) one
session is grown to 10, 1,000 and 10,000 stored messages. At each size, a "turn" is
what a runner does per request: load the bounded tail (the newest whole turns covering
20 messages) and append one 2-message turn at the version it loaded. Prints median
and p95 milliseconds for the load, the append and both.

Filling uses 50-message turns (it is not timed), then a few ordinary 2-message turns
so the tail read looks like a real conversation's.

Usage: python bench/sessions.py [--turns 50] [--stores sqlite,jsonl,azure_blob]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
import uuid
from contextlib import ExitStack
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from agentdown.messages import Message
from agentdown.sessions import JsonlSessionStore, SessionStore, SqliteSessionStore
from azurite_peer import running_azurite

SIZES = (10, 1_000, 10_000)
TAIL = 20
FILL_TURN = 50
AGENT = "bench"


def small_turn(i: int) -> list[Message]:
    return [Message.user(f"question {i}: " + "q" * 200), Message.assistant(f"answer {i}: " + "a" * 400)]


def fill_turn(i: int) -> list[Message]:
    return [m for k in range(FILL_TURN // 2) for m in small_turn(i * 1000 + k)]


async def grow_to(store: SessionStore, session_id: str, target: int) -> None:
    """Append (untimed) until the session holds about ``target`` messages, ending with small turns."""
    head = await store.load(AGENT, session_id, max_messages=0)
    version, count, i = head.version, head.total_messages, 0
    while count + FILL_TURN + 20 <= target:
        version = await store.append(AGENT, session_id, fill_turn(i), expected_version=version)
        count, i = count + FILL_TURN, i + 1
    while count + 2 <= target:
        version = await store.append(AGENT, session_id, small_turn(i), expected_version=version)
        count, i = count + 2, i + 1


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def measure(store: SessionStore, turns: int) -> list[tuple[int, list[float], list[float]]]:
    session_id = f"s{uuid.uuid4().hex[:8]}"
    rows = []
    for size in SIZES:
        await grow_to(store, session_id, size)
        stored = (await store.load(AGENT, session_id, max_messages=0)).total_messages
        loads, appends = [], []
        for i in range(turns):
            t0 = time.perf_counter()
            history = await store.load(AGENT, session_id, max_messages=TAIL)
            t1 = time.perf_counter()
            await store.append(AGENT, session_id, small_turn(i), expected_version=history.version)
            t2 = time.perf_counter()
            loads.append((t1 - t0) * 1000)
            appends.append((t2 - t1) * 1000)
        rows.append((stored, loads, appends))
    return rows


def report(kind: str, rows: list[tuple[int, list[float], list[float]]]) -> None:
    for stored, loads, appends in rows:
        turn = [a + b for a, b in zip(loads, appends, strict=True)]
        cells = [f"{pct(v, 0.5):7.2f} {pct(v, 0.95):7.2f}" for v in (loads, appends, turn)]
        print(f"{kind:<11} {stored:>8}   " + "   ".join(cells), flush=True)


async def bench(kind: str, workdir: Path, connection_string: str | None, turns: int) -> None:
    store: SessionStore
    if kind == "sqlite":
        store = SqliteSessionStore(workdir / "sessions.db")
    elif kind == "jsonl":
        store = JsonlSessionStore(workdir / "sessions")
    else:
        from agentdown.sessions.azure_blob import AzureBlobSessionStore

        assert connection_string is not None
        store = AzureBlobSessionStore(connection_string=connection_string, container="bench")
    try:
        report(kind, await measure(store, turns))
    finally:
        await store.aclose()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--turns", type=int, default=50, help="timed turns per session size")
    parser.add_argument("--stores", default="sqlite,jsonl,azure_blob")
    args = parser.parse_args()
    kinds = [k.strip() for k in args.stores.split(",") if k.strip()]
    print(f"load = newest whole turns covering {TAIL} messages; append = one 2-message turn; ms")
    print(
        f"{'store':<11} {'stored':>8}   {'load p50/p95':>15}   {'append p50/p95':>15}   {'turn p50/p95':>15}"
    )
    with ExitStack() as stack:
        workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="agentdown-bench-")))
        azurite = stack.enter_context(running_azurite()) if "azure_blob" in kinds else None
        for kind in kinds:
            conn = azurite.connection_string if azurite is not None else None
            asyncio.run(bench(kind, workdir, conn, args.turns))


if __name__ == "__main__":
    main()
