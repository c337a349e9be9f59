"""Decoded stored turns kept by a store, so an unchanged turn is decoded once per process.

An ``auto`` load re-reads the same ~100 newest messages on every request of a long
session; decoding their JSON into :class:`Message` objects was the largest part of a
turn's cost at turn 500 (``bench/session_growth.py``). A stored turn never changes,
so each store keeps what it decoded, keyed by ``(agent, session_id, seq)``: the
sequence number its optimistic concurrency already counts turns by.

Two ways to a hit:

* **By record** (every store): the store reads the turn's record anyway and the entry
  is used only if that record is *equal* to the one the entry was parsed from
  (comparing costs far less than decoding). The JSONL and Azure Blob stores, which
  learn a line's seq by decoding it, skip only building its messages.
* **By generation** (:meth:`TurnCache.walk`, the SQLite store): the store keeps a
  counter that every deletion or rewrite of a stored turn increases (in the same
  transaction, by a trigger). Appends never touch a stored turn, so an entry taken
  while the counter read *g* still holds the row's content as long as it reads *g*:
  the store then reads from the database only the turns newer than the newest it
  has cached (:meth:`TurnCache.top`), not even the records of the others.

Why it stays correct:

* **Other writers.** A turn another process or store instance appended is a new key,
  newer than any cached one. A session deleted and recreated (whose sequence numbers
  start again) changed the generation, so its entries are checked by record again,
  and the turns now under the old keys hold other records: they are re-parsed.
* **Callers that mutate what they loaded.** A store's ``load`` never hands out
  entries: it gets fresh copies (:func:`~agentdown.sessions.copies.copy_messages`),
  so a caller editing a loaded message changes neither the cache nor another
  request's messages. Only ``load_shared`` (``copy=False`` here), which the runner
  uses because its loop only reads history, hands out the cached objects
  themselves (messages, and from :meth:`TurnCache.walk` whole :class:`Turn` objects),
  never to be edited: copying a long ``auto`` window on every request was most
  of what a turn at turn 500 cost beyond the request itself. Whoever takes such a
  load must not edit any of it; :meth:`StoredSession.unshare
  <agentdown.sessions.stored.StoredSession.unshare>` swaps in private copies before
  the session reaches user code (tools and function middleware).
* **Memory.** Bounded by an estimate of the bytes held (:data:`DEFAULT_TURN_CACHE_BYTES`
  by default), least recently used turns evicted first. A turn is charged twice its
  record's length (the record, kept for the comparison, and the decoded text) plus
  :data:`MESSAGE_BYTES` per message (the objects). Measured with tracemalloc, that is
  within 5% of what a turn of one-text-content messages of 20 to 1,000 ASCII
  characters really holds; text needing 2 or 4 bytes a character, and messages of
  many contents or large tool arguments, hold more than they are charged. A turn
  charged more than the whole bound is parsed and not kept. Per session with cached
  turns, one small record (its newest cached seq) is kept besides; it goes with the
  session's last entry.

Thread-safe (one lock around the table; parsing and copying happen outside it).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence

from agentdown.messages import Message
from agentdown.sessions.copies import copy_messages
from agentdown.sessions.store import Turn
from agentdown.sessions.truncation import estimate_tokens

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

StoredTurn = tuple[int, Record, float]
"""``(seq, record, created_at)`` as a store read it."""


class _Entry:
    __slots__ = ("count", "created_at", "generation", "messages", "record", "seq", "size", "tokens", "turn")

    def __init__(
        self,
        seq: int,
        record: Record,
        messages: list[Message],
        size: int,
        generation: int | None,
        created_at: float,
    ) -> None:
        self.seq = seq
        self.record = record
        self.messages = messages
        """Parsed once; handed out only to shared loads (``copy=False``), which never edit them."""
        self.count = len(messages)
        self.tokens = sum(map(estimate_tokens, messages))
        """Their estimated tokens: counted once per turn, not once per load."""
        self.size = size
        self.generation = generation
        """The store's generation when the record was last read equal (``None``: no generations)."""
        self.created_at = created_at
        self.turn: Turn | None = None
        """The :class:`Turn` shared loads get, built on the first (a walk hands out dozens per load)."""

    def shared(self) -> Turn:
        turn = self.turn
        if turn is None:
            turn = self.turn = Turn(self.seq, self.messages, self.created_at, self.tokens)
        return turn

    def copied(self) -> Turn:
        return Turn(self.seq, copy_messages(self.messages), self.created_at, self.tokens)


class _Newest:
    """Per session: the newest seq cached under ``generation``, and how many entries it has."""

    __slots__ = ("entries", "generation", "seq")

    def __init__(self) -> None:
        self.generation: int | None = None
        self.seq = 0
        self.entries = 0

    def saw(self, seq: int, generation: int | None) -> None:
        if generation is None:
            return
        if generation != self.generation:
            self.generation, self.seq = generation, seq
        elif seq > self.seq:
            self.seq = seq


class TurnCache:
    """Parsed turns by ``(agent, session_id, seq)``, each valid while its stored record is unchanged."""

    __slots__ = ("_entries", "_lock", "_newest", "_size", "hits", "max_bytes", "misses")

    def __init__(self, max_bytes: int = DEFAULT_TURN_CACHE_BYTES) -> None:
        if isinstance(max_bytes, bool) or not isinstance(max_bytes, int) or max_bytes < 0:
            raise ValueError(f"max_bytes must be an integer >= 0 (0 disables the cache), got {max_bytes!r}")
        self.max_bytes = max_bytes
        """The bound on the estimated bytes of the cached turns; 0 keeps nothing."""
        self.hits = 0
        """Turns served from the cache (for tests and diagnostics)."""
        self.misses = 0
        """Turns parsed (not cached, or their record changed)."""
        self._entries: OrderedDict[TurnKey, _Entry] = OrderedDict()
        self._newest: dict[tuple[str, str], _Newest] = {}
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
        records: Sequence[StoredTurn],
        parse: Callable[[Record], list[Message]],
        *,
        generation: int | None = None,
        copy: bool = True,
    ) -> list[tuple[list[Message], int]]:
        """Fresh copies of the messages of each ``(seq, record, created_at)`` of one session, in order,
        each with the estimated tokens of those messages.

        Only records not cached (or changed since) are parsed; ``parse`` errors propagate
        and that record is not kept. ``generation`` is the store's as of this read (see
        :meth:`walk`). One lock round for the whole load: a load asks for dozens of turns.
        ``copy=False`` gives the cached messages themselves (in new lists), which the
        caller must never edit.
        """
        entries = self._entries
        found: list[_Entry | None] = []
        with self._lock:
            for seq, record, _ in records:
                key = (agent, session_id, seq)
                entry = entries.get(key)
                # ``==`` is a pointer check when the record is the very object cached, else a memcmp.
                if entry is not None and entry.record == record:
                    entries.move_to_end(key)
                    entry.generation = generation
                    newest = self._newest.get((agent, session_id))
                    if newest is not None:
                        newest.saw(seq, generation)
                    found.append(entry)
                else:
                    found.append(None)
        out: list[tuple[list[Message], int]] = []
        hits = 0
        for (seq, record, created_at), cached in zip(records, found, strict=True):
            if cached is None:
                # The cache owns the parsed messages from now on: the caller gets copies like on a hit.
                cached = _Entry(seq, record, parse(record), 0, generation, created_at)
                self._keep((agent, session_id, seq), cached)
            else:
                hits += 1
            out.append((copy_messages(cached.messages) if copy else list(cached.messages), cached.tokens))
        with self._lock:
            self.hits += hits
        return out

    def top(self, agent: str, session_id: str, generation: int) -> int:
        """The newest seq of the session that may be cached under ``generation`` (0: none).

        A hint for where :meth:`walk` starts: the store reads the turns after it itself.
        """
        with self._lock:
            newest = self._newest.get((agent, session_id))
            if newest is None or newest.generation != generation:
                return 0
            return newest.seq

    def walk(
        self,
        agent: str,
        session_id: str,
        seq: int,
        generation: int,
        want: int | None,
        *,
        copy: bool = True,
    ) -> list[Turn]:
        """Copies of the cached turns ``seq``, ``seq - 1``, ... taken under ``generation``, newest first
        (``copy=False``: the cached turns themselves, messages and lists, never to be edited).

        Stops at the first turn not cached under that generation (or at seq 0), or once
        the turns hold ``want`` messages (``None``: no limit). The store's generation
        must still be ``generation`` (read in the same transaction as the caller's other
        reads): then no stored turn was deleted or rewritten since these were read, so
        no record needs reading.
        """
        # Per turn as little as possible: an ``auto`` load walks some 70 turns on every request.
        get, touch = self._entries.get, self._entries.move_to_end
        run: list[_Entry] = []
        add = run.append
        count = 0
        with self._lock:
            while seq > 0 and (want is None or count < want):
                key = (agent, session_id, seq)
                entry = get(key)
                if entry is None or entry.generation != generation:
                    break
                touch(key)
                add(entry)
                count += entry.count
                seq -= 1
            self.hits += len(run)
        return [entry.copied() for entry in run] if copy else [entry.shared() for entry in run]

    def forget(self, sessions: Iterable[tuple[str, str]]) -> None:
        """Drop the turns of these ``(agent, session_id)`` (deleted sessions): memory, not correctness."""
        gone = set(sessions)
        if not gone:
            return
        with self._lock:
            for key in [k for k in self._entries if (k[0], k[1]) in gone]:
                self._drop(key)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._newest.clear()
            self._size = 0

    def _keep(self, key: TurnKey, entry: _Entry) -> None:
        entry.size = 2 * len(entry.record) + MESSAGE_BYTES * len(entry.messages)
        with self._lock:
            self.misses += 1
            if key in self._entries:
                self._drop(key)
            if entry.size > self.max_bytes:
                return
            self._entries[key] = entry
            self._size += entry.size
            newest = self._newest.get(key[:2])
            if newest is None:
                newest = self._newest[key[:2]] = _Newest()
            newest.entries += 1
            newest.saw(key[2], entry.generation)
            while self._size > self.max_bytes:
                self._drop(next(iter(self._entries)))

    def _drop(self, key: TurnKey) -> None:
        """Remove one entry (the lock is held)."""
        self._size -= self._entries.pop(key).size
        session = (key[0], key[1])
        newest = self._newest[session]
        newest.entries -= 1
        if newest.entries == 0:
            del self._newest[session]
