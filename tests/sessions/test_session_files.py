"""What only the file-backed stores promise: torn lines, tail reads, the on-disk layout."""

from __future__ import annotations

import logging
import os
import sqlite3
from pathlib import Path

import pytest

from agentdown.messages import Message
from agentdown.sessions import JsonlSessionStore, SqliteSessionStore, load_session
from agentdown.sessions.records import TailScanner, encode_turn


def turn(tag: str, padding: int = 0) -> list[Message]:
    return [Message.user(tag + "." * padding), Message.assistant(tag)]


async def test_jsonl_layout_is_one_line_per_turn(tmp_path: Path) -> None:
    store = JsonlSessionStore(tmp_path)
    v = await store.append("agent", "s1", turn("a"), expected_version=None)
    await store.append("agent", "s1", turn("b"), expected_version=v)
    path = tmp_path / "agent" / "s1.jsonl"
    assert store.path("agent", "s1") == path
    lines = path.read_bytes().splitlines()
    assert len(lines) == 2 and path.read_bytes().endswith(b"\n")


async def test_jsonl_torn_last_line_is_reported_and_repaired(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    store = JsonlSessionStore(tmp_path)
    v = await store.append("agent", "s", turn("a"), expected_version=None)
    v = await store.append("agent", "s", turn("b"), expected_version=v)
    path = store.path("agent", "s")
    whole = path.read_bytes()
    torn = encode_turn(3, 6, turn("c"))[:-20]  # a writer killed mid-write
    path.write_bytes(whole + torn)
    with caplog.at_level(logging.WARNING, logger="agentdown.sessions"):
        history = await store.load("agent", "s")
    assert [t.seq for t in history.turns] == [1, 2] and history.version == v
    assert len(history.warnings) == 1 and "torn last line" in history.warnings[0]
    assert str(path) in history.warnings[0] and "torn last line" in caplog.text
    # The next append cuts the torn bytes off before writing.
    await store.append("agent", "s", turn("c"), expected_version=v)
    assert path.read_bytes().startswith(whole) and path.read_bytes().count(b"\n") == 3
    history = await store.load("agent", "s")
    assert [t.messages[0].text for t in history.turns] == ["a", "b", "c"] and history.warnings == []


async def test_jsonl_file_holding_only_a_torn_line(tmp_path: Path) -> None:
    store = JsonlSessionStore(tmp_path)
    path = store.path("agent", "s")
    path.parent.mkdir(parents=True)
    path.write_bytes(b'{"seq":1,"tot')
    history = await store.load("agent", "s")
    assert history.version is None and history.turns == [] and history.warnings
    await store.append("agent", "s", turn("a"), expected_version=None)
    assert [t.seq for t in (await store.load("agent", "s")).turns] == [1]


async def test_jsonl_corrupt_middle_line_is_skipped_with_a_warning(tmp_path: Path) -> None:
    store = JsonlSessionStore(tmp_path)
    path = store.path("agent", "s")
    path.parent.mkdir(parents=True)
    path.write_bytes(encode_turn(1, 2, turn("a")) + b"not json\n" + encode_turn(2, 4, turn("b")))
    history = await store.load("agent", "s")
    assert [t.seq for t in history.turns] == [1, 2]
    assert any("corrupt record" in w for w in history.warnings)
    # A skipped record leaves fewer turns than the counters say; loading by tokens still ends.
    session = await load_session(store, "agent", "s", max_input_tokens=10**6)
    assert len(session.messages) == 4 and session.warnings


def test_tail_scanner_reads_only_the_tail_of_a_long_stream() -> None:
    data = b"".join(encode_turn(i, 2 * i, turn(f"t{i}", padding=500)) for i in range(1, 2001))
    reads: list[tuple[int, int]] = []
    scanner = TailScanner(len(data), 10, "mem")
    while (span := scanner.next_range()) is not None:
        reads.append(span)
        scanner.feed(data[span[0] : span[0] + span[1]])
    assert [t.seq for t in scanner.turns] == [1996, 1997, 1998, 1999, 2000]
    assert sum(length for _, length in reads) <= 64 * 1024 < len(data) / 10
    assert scanner.last is not None and (scanner.last.seq, scanner.last.total) == (2000, 4000)


def test_tail_scanner_handles_lines_longer_than_a_block() -> None:
    data = encode_turn(1, 2, turn("a", padding=300_000)) + encode_turn(2, 4, turn("b", padding=200_000))
    for tail in (b"", b'{"seq":3,"total":6,"at":1,"messages":[' + b"x" * 100_000):
        scanner = TailScanner(len(data + tail), None, "mem")
        while (span := scanner.next_range()) is not None:
            scanner.feed((data + tail)[span[0] : span[0] + span[1]])
        assert [t.seq for t in scanner.turns] == [1, 2]
        assert scanner.end == len(data) and bool(scanner.warnings) == bool(tail)


async def test_sqlite_uses_wal_and_an_index_for_the_tail(tmp_path: Path) -> None:
    store = SqliteSessionStore(tmp_path / "deep" / "sessions.db")
    await store.append("agent", "s", turn("a"), expected_version=None)
    await store.aclose()
    conn = sqlite3.connect(tmp_path / "deep" / "sessions.db")
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    plan = " ".join(
        str(row)
        for row in conn.execute(
            "EXPLAIN QUERY PLAN SELECT seq, body FROM agentdown_turns "
            "WHERE agent = 'agent' AND session_id = 's' ORDER BY seq DESC"
        )
    )
    assert "USING INDEX" in plan and "TEMP B-TREE" not in plan
    conn.close()


async def test_closed_sqlite_store_refuses_work(tmp_path: Path) -> None:
    store = SqliteSessionStore(tmp_path / "s.db")
    await store.aclose()
    await store.aclose()
    with pytest.raises(Exception, match="closed"):
        await store.load("agent", "s")


async def test_jsonl_ignores_foreign_files_when_listing(tmp_path: Path) -> None:
    store = JsonlSessionStore(tmp_path)
    await store.append("agent", "s", turn("a"), expected_version=None)
    (tmp_path / "agent" / "notes.txt").write_text("x")
    (tmp_path / "agent" / "bad name.jsonl").write_text("x")
    (tmp_path / "loose-file").write_text("x")
    assert [(i.agent, i.session_id) for i in await store.list()] == [("agent", "s")]
    assert os.path.exists(tmp_path / "agent" / "notes.txt")
