"""Real OS processes on one session: two writers never lose or interleave a turn; SIGKILL loses none committed."""

from __future__ import annotations

import json
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from _session_stores import build_store, check_tool_turn

WRITER = Path(__file__).with_name("_session_writer.py")


def start_writer(config: dict[str, str], tag: str, turns: int, padding: int = 0) -> subprocess.Popen[str]:
    process = subprocess.Popen(
        [sys.executable, str(WRITER), json.dumps(config), "agent", "shared", tag, str(turns), str(padding)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    assert process.stdout.readline().strip() == "ready"
    return process


async def test_two_processes_append_200_turns_each(store_config_for: dict[str, str]) -> None:
    writers = [start_writer(store_config_for, tag, 200) for tag in ("p", "q")]
    for process in writers:  # release both at once
        assert process.stdin is not None
        process.stdin.write("go\n")
        process.stdin.flush()
    for process in writers:
        assert process.wait(timeout=90) == 0
    store = build_store(store_config_for)
    try:
        history = await store.load("agent", "shared")
    finally:
        await store.aclose()
    assert len(history.turns) == 400 and history.total_turns == 400 and history.total_messages == 1600
    assert [t.seq for t in history.turns] == list(range(1, 401))
    seen = [check_tool_turn(t.messages) for t in history.turns]
    for tag in ("p", "q"):
        assert [i for t, i in seen if t == tag] == list(range(200))


@pytest.mark.parametrize("round_", range(2))
async def test_sigkill_during_writes_keeps_every_committed_turn(
    store_config_for: dict[str, str], round_: int
) -> None:
    padding = 200_000 if store_config_for["kind"] != "azure_blob" else 20_000
    process = start_writer(store_config_for, "k", 0, padding)
    assert process.stdin is not None and process.stdout is not None
    process.stdin.write("go\n")
    process.stdin.flush()
    committed = 0
    deadline = time.monotonic() + random.uniform(0.3, 0.9)
    while time.monotonic() < deadline or committed < 3:
        line = process.stdout.readline()
        assert line.startswith("ok "), line
        committed = int(line.split()[1]) + 1
    process.send_signal(signal.SIGKILL)
    rest = process.stdout.read()
    process.wait(timeout=10)
    committed += len(rest.split()) // 2  # "ok <i>" lines printed before the kill landed
    store = build_store(store_config_for)
    try:
        history = await store.load("agent", "shared")
        indexes = [check_tool_turn(t.messages)[1] for t in history.turns]
        # Everything reported is there, in order; at most the one turn in flight besides.
        assert indexes[:committed] == list(range(committed))
        assert len(indexes) - committed in (0, 1)
        # The session stays writable after the crash (a torn line would be repaired here).
        await store.append("agent", "shared", history.turns[-1].messages, expected_version=history.version)
        assert (await store.load("agent", "shared", max_messages=0)).total_turns == len(indexes) + 1
    finally:
        await store.aclose()
