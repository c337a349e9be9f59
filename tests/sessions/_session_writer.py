"""A writer process for the concurrency tests: appends tool turns to one session through the bridge.

argv: <store config JSON> <agent> <session id> <tag> <turns (0 = until killed)> <padding bytes>
Prints ``ready``, waits for a line on stdin, then prints ``ok <i>`` after each committed turn.
"""

from __future__ import annotations

import asyncio
import json
import sys

from _session_stores import build_store, tool_turn

from agentdown.sessions import load_session, save_turn


async def main() -> None:
    config, agent, session_id, tag = json.loads(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
    turns, padding = int(sys.argv[5]), int(sys.argv[6])
    store = build_store(config)
    print("ready", flush=True)
    sys.stdin.readline()
    try:
        i = 0
        while turns == 0 or i < turns:
            session = await load_session(store, agent, session_id, max_messages=4)
            session.messages.extend(tool_turn(tag, i, padding))
            await save_turn(store, session, attempts=200)
            print(f"ok {i}", flush=True)
            i += 1
    finally:
        await store.aclose()


if __name__ == "__main__":
    asyncio.run(main())
