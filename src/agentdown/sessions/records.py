"""The line format shared by the JSONL and Azure Blob stores, and reading it from the end.

One line per turn: ``{"seq": n, "total": m, "at": unix, "messages": [...]}`` where
``total`` counts the session's messages up to and including this turn, so the last
line alone tells a reader the session's size and the version to append at.

:class:`TailScanner` walks a file or blob backwards in growing blocks and stops as
soon as it holds enough turns, so a load costs the tail it returns, not the
session's length. It only decides which byte range to read next; the caller does
the (sync or async) reading, which lets both stores share it. Given a store's
:class:`~agentdown.sessions.turncache.TurnCache`, it decodes the messages of a line
it decoded before (byte for byte the same line) only once.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from agentdown.messages import Message
from agentdown.sessions.store import SessionStoreError, Turn
from agentdown.sessions.turncache import TurnCache

__all__ = ["LastRecord", "TailScanner", "encode_turn"]

logger = logging.getLogger("agentdown.sessions")

FIRST_BLOCK = 64 * 1024
MAX_BLOCK = 4 * 1024 * 1024


def encode_turn(seq: int, total: int, messages: Sequence[Message], at: float | None = None) -> bytes:
    """One record line, newline-terminated. JSON escapes control characters, so no raw newline inside."""
    if not messages:
        raise ValueError("a turn needs at least one message")
    record = {
        "seq": seq,
        "total": total,
        "at": time.time() if at is None else at,
        "messages": [m.to_dict() for m in messages],
    }
    return json.dumps(record, separators=(",", ":"), ensure_ascii=False).encode("utf-8") + b"\n"


@dataclass(frozen=True, slots=True)
class LastRecord:
    """The newest complete record: what the next append builds on."""

    seq: int
    total: int
    at: float


class TailScanner:
    """Collects the newest whole turns of a ``size``-byte JSONL stream, reading it backwards.

    Usage: ``while (r := scanner.next_range()) is not None: scanner.feed(read(*r))``.
    A last line without a newline (a writer killed mid-write) is skipped and reported;
    ``end`` is then where that torn line starts, so a writer can cut it off.
    """

    def __init__(
        self,
        size: int,
        want_messages: int | None,
        where: str,
        *,
        cache: TurnCache | None = None,
        session: tuple[str, str] = ("", ""),
        copy: bool = True,
    ) -> None:
        self.size = size
        self.want = want_messages
        self.where = where
        self.cache = cache
        """Decoded turns to reuse, keyed by ``session`` (``(agent, session_id)``) and seq."""
        self.session = session
        self.copy = copy
        """``False``: cached turns are handed out uncopied (read-only), see ``load_shared``."""
        self.end = size
        """Offset just past the last complete line."""
        self.last: LastRecord | None = None
        self.warnings: list[str] = []
        self._newest_first: list[Turn] = []
        self._count = 0
        self._pos = size
        self._block = FIRST_BLOCK
        self._carry = b""
        self._tail_pending = True
        self._done = False

    def next_range(self) -> tuple[int, int] | None:
        """``(offset, length)`` to read next, or ``None`` when the scan is over."""
        if self._done or self._pos == 0:
            return None
        length = min(self._block, self._pos)
        self._block = min(self._block * 2, MAX_BLOCK)
        return self._pos - length, length

    def feed(self, data: bytes) -> None:
        """Hand over the bytes of the range :meth:`next_range` asked for."""
        self._pos -= len(data)
        parts = (data + self._carry).split(b"\n")
        # The first piece may be the end of a line that starts before this block.
        self._carry = parts.pop(0) if self._pos > 0 else b""
        if self._tail_pending:
            if not parts:
                return
            tail = parts.pop()
            self._tail_pending = False
            if tail:
                self.end = self.size - len(tail)
                self._warn(f"a torn last line of {len(tail)} bytes (an interrupted write) was skipped")
        for line in reversed(parts):
            if self._done:
                return
            if line.strip():
                self._take(line)

    @property
    def turns(self) -> list[Turn]:
        """The collected turns, oldest first."""
        return self._newest_first[::-1]

    def _take(self, line: bytes) -> None:
        try:
            record = json.loads(line)
            seq, total, at, raw = _fields(record)
        except (ValueError, TypeError, KeyError) as exc:
            self._warn(f"a corrupt record ({exc}) was skipped")
            return
        if self.last is None:
            self.last = LastRecord(seq, total, at)
        if self.want is not None and self._count >= self.want:
            self._done = True
            return
        tokens: int | None = None
        try:
            if self.cache is None:
                messages = _messages(raw)
            else:
                # The line was decoded above for its seq; what a hit saves is building the messages.
                agent, session_id = self.session
                ((messages, tokens),) = self.cache.load(
                    agent, session_id, [(seq, line, at)], lambda _: _messages(raw), copy=self.copy
                )
        except (ValueError, TypeError, KeyError) as exc:
            raise SessionStoreError(f"{self.where}: turn {seq} holds a malformed message: {exc}") from exc
        self._newest_first.append(Turn(seq=seq, messages=messages, created_at=at, tokens=tokens))
        self._count += len(messages)

    def _warn(self, text: str) -> None:
        message = f"{self.where}: {text}"
        logger.warning(message)
        self.warnings.append(message)


def _messages(raw: list[Any]) -> list[Message]:
    return [Message.from_dict(m) for m in raw]


def _fields(record: Any) -> tuple[int, int, float, list[Any]]:
    if not isinstance(record, dict):
        raise TypeError("expected a JSON object")
    seq, total, at, raw = record["seq"], record["total"], record["at"], record["messages"]
    if not isinstance(seq, int) or not isinstance(total, int) or not isinstance(raw, list):
        raise TypeError("expected integer seq/total and a messages list")
    return seq, total, float(at), raw
