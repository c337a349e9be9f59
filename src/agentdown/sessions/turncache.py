"""Decoded stored turns kept by a store, so an unchanged turn is decoded once per process.

An ``auto`` load re-reads the same ~100 newest messages on every request of a long
session; decoding their JSON into :class:`Message` objects was the largest part of a
turn's cost at turn 500 (``bench/session_growth.py``). A stored turn never changes,
so each store keeps what it decoded, keyed by ``(agent, session_id, seq)``: the
sequence number its optimistic concurrency already counts turns by. The SQLite
store skips decoding the row altogether on a hit; the JSONL and Azure Blob stores
still decode a line's JSON (that is how they learn its seq) and skip building its
messages.

Why it stays correct:

* **Other writers.** A hit needs the stored record to be *equal* to the one the entry
  was parsed from (the store reads the record anyway; comparing it costs far less
  than decoding it). A turn another process or store instance appended is a new key;
  a session deleted and recreated (whose sequence numbers start again) holds
  different records under the old keys, so those entries are re-parsed, never
  reused.
* **Callers that mutate what they loaded.** Entries are never handed out: every
  load gets fresh copies (new messages, contents, lists and dicts; only immutable
  strings, bytes and numbers are shared), so a caller editing a loaded message
  changes neither the cache nor another request's messages. Token counts are not
  cached here: the per-request :class:`~agentdown.sessions.truncation.TokenCache`
  counts the copies, with its snapshot check.
* **Memory.** Bounded by an estimate of the bytes held (:data:`DEFAULT_TURN_CACHE_BYTES`
  by default), least recently used turns evicted first. A turn is charged twice its
  record's length (the record, kept for the comparison, and the decoded text) plus
  :data:`MESSAGE_BYTES` per message (the objects). Measured with tracemalloc, that is
  within 5% of what a turn of one-text-content messages of 20 to 1,000 ASCII
  characters really holds; text needing 2 or 4 bytes a character, and messages of
  many contents or large tool arguments, hold more than they are charged. A turn
  charged more than the whole bound is parsed and not kept.

Thread-safe (one lock around the table; parsing and copying happen outside it).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from agentdown.messages import Content, Message

__all__ = ["DEFAULT_TURN_CACHE_BYTES", "MESSAGE_BYTES", "TurnCache", "copy_messages"]

DEFAULT_TURN_CACHE_BYTES = 32 * 1024 * 1024
"""The estimated memory a store's turn cache keeps: about 5,500 turns of two 1,000-character
messages, or the ``auto`` windows (some 70 such turns each) of about 75 long sessions."""

MESSAGE_BYTES = 768
"""What a decoded message's objects (message, content, their lists and dicts, its id) are charged."""

TurnKey = tuple[str, str, int]
"""``(agent, session_id, seq)``."""

Record = str | bytes
"""A turn as the store keeps it: the SQLite row's JSON text, or the JSONL line's bytes."""


class TurnCache:
    """Parsed turns by ``(agent, session_id, seq)``, each valid while its stored record is unchanged."""

    __slots__ = ("_entries", "_lock", "_size", "hits", "max_bytes", "misses")

    def __init__(self, max_bytes: int = DEFAULT_TURN_CACHE_BYTES) -> None:
        if isinstance(max_bytes, bool) or not isinstance(max_bytes, int) or max_bytes < 0:
            raise ValueError(f"max_bytes must be an integer >= 0 (0 disables the cache), got {max_bytes!r}")
        self.max_bytes = max_bytes
        """The bound on the estimated bytes of the cached turns; 0 keeps nothing."""
        self.hits = 0
        """Turns served from the cache (for tests and diagnostics)."""
        self.misses = 0
        """Turns parsed (not cached, or their record changed)."""
        self._entries: OrderedDict[TurnKey, tuple[Record, list[Message], int]] = OrderedDict()
        """Per turn: the record it was parsed from, the parsed messages (never handed out), its charge."""
        self._size = 0
        self._lock = threading.Lock()

    @property
    def size(self) -> int:
        """The estimated bytes of the cached turns (never above :attr:`max_bytes`)."""
        return self._size

    def __len__(self) -> int:
        return len(self._entries)

    def load(
        self,
        agent: str,
        session_id: str,
        records: Sequence[tuple[int, Record]],
        parse: Callable[[Record], list[Message]],
    ) -> list[list[Message]]:
        """Fresh copies of the messages of each ``(seq, record)`` of one session, in the given order.

        Only records not cached (or changed since) are parsed; ``parse`` errors propagate
        and that record is not kept. One lock round for the whole load: a load asks for
        dozens of turns.
        """
        entries = self._entries
        found: list[list[Message] | None] = []
        with self._lock:
            for seq, record in records:
                key = (agent, session_id, seq)
                entry = entries.get(key)
                # ``==`` is a pointer check when the record is the very object cached, else a memcmp.
                if entry is not None and entry[0] == record:
                    entries.move_to_end(key)
                    found.append(entry[1])
                else:
                    found.append(None)
        out: list[list[Message]] = []
        hits = 0
        for (seq, record), cached in zip(records, found, strict=True):
            if cached is None:
                cached = parse(record)
                # The cache owns ``cached`` from now on: the caller gets copies like on a hit.
                self._keep((agent, session_id, seq), record, cached)
            else:
                hits += 1
            out.append(copy_messages(cached))
        with self._lock:
            self.hits += hits
        return out

    def forget(self, sessions: Iterable[tuple[str, str]]) -> None:
        """Drop the turns of these ``(agent, session_id)`` (deleted sessions): memory, not correctness."""
        gone = set(sessions)
        if not gone:
            return
        with self._lock:
            for key in [k for k in self._entries if (k[0], k[1]) in gone]:
                self._size -= self._entries.pop(key)[2]

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._size = 0

    def _keep(self, key: TurnKey, record: Record, parsed: list[Message]) -> None:
        size = 2 * len(record) + MESSAGE_BYTES * len(parsed)
        with self._lock:
            self.misses += 1
            old = self._entries.pop(key, None)
            if old is not None:
                self._size -= old[2]
            if size > self.max_bytes:
                return
            self._entries[key] = (record, parsed, size)
            self._size += size
            while self._size > self.max_bytes:
                _, (_, _, evicted) = self._entries.popitem(last=False)
                self._size -= evicted


def copy_messages(messages: list[Message]) -> list[Message]:
    """Deep copies of messages decoded from JSON, cheaper than ``copy.deepcopy`` or decoding again.

    Every mutable part is new (the messages, their contents and items, and the dicts and
    lists of metadata, arguments and additional properties); strings, bytes and numbers
    are immutable and shared.
    """
    # Positional arguments, in field order: half the cost of keywords on this hot path
    # (a test pins the field order of Message and Content to what is written here).
    return [
        Message(
            m.role,
            [_copy_content(c) for c in m.contents],
            m.author_name,
            m.message_id,
            m.created_at,
            _copy_json(m.metadata) if m.metadata else {},
        )
        for m in messages
    ]


def _copy_content(c: Content) -> Content:
    return Content(
        c.type,
        c.text,
        c.call_id,
        c.name,
        _copy_json(c.arguments) if c.arguments is not None else None,
        c.raw_arguments,
        [_copy_content(i) for i in c.items] if c.items is not None else None,
        c.is_error,
        c.uri,
        c.data,
        c.media_type,
        c.error_code,
        _copy_json(c.additional_properties) if c.additional_properties else {},
    )


def _copy_json(value: Any) -> Any:
    # What JSON decodes to: dicts, lists and immutable scalars, so this is a complete deep copy.
    if isinstance(value, dict):
        return {k: _copy_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_copy_json(v) for v in value]
    return value
