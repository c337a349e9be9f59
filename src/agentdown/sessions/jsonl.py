"""Sessions as JSONL files: ``<root>/<agent>/<session_id>.jsonl``, one line per turn.

Why this shape:

* An append writes one whole line with ``O_APPEND``, then ``fsync``: a committed turn
  is on disk, and a writer killed mid-write leaves at most a torn last line.
* ``fcntl.flock`` on the file makes check-version-and-append atomic across processes;
  readers take a shared lock so they never see a line being written.
* A torn last line (no newline) is skipped with a warning when read and cut off by the
  next append, which holds the exclusive lock.
* Loads read backwards from the end (:class:`~agentdown.sessions.records.TailScanner`),
  so their cost follows the tail they return, not the file's length; the messages of a
  line read before (byte for byte) come from the store's
  :class:`~agentdown.sessions.turncache.TurnCache` instead of being built again.
* Deleting unlinks under the exclusive lock; a writer that opened the file just before
  notices (its inode has no links left) and reopens the path.

The version is the last turn's ``seq`` (as a string). POSIX only (``flock``).
"""

from __future__ import annotations

import asyncio
import builtins
import contextlib
import errno
import logging
import os
import sys
from collections.abc import Iterator, Sequence
from datetime import timedelta
from pathlib import Path

from agentdown.exceptions import ConfigurationError
from agentdown.messages import Message
from agentdown.sessions.records import TailScanner, encode_turn
from agentdown.sessions.session import SESSION_ID_PATTERN
from agentdown.sessions.store import (
    History,
    SessionConflictError,
    SessionInfo,
    SessionStoreError,
    check_keys,
    check_max_messages,
    cutoff_time,
    validate_agent_name,
)
from agentdown.sessions.turncache import DEFAULT_TURN_CACHE_BYTES, TurnCache

if sys.platform != "win32":
    import fcntl

__all__ = ["JsonlSessionStore"]

logger = logging.getLogger("agentdown.sessions")

SUFFIX = ".jsonl"


class JsonlSessionStore:
    """Sessions as one JSONL file each under ``root`` (created on first append)."""

    kind = "jsonl"

    def __init__(
        self, root: str | os.PathLike[str], *, turn_cache_bytes: int = DEFAULT_TURN_CACHE_BYTES
    ) -> None:
        if sys.platform == "win32":  # pragma: no cover
            raise ConfigurationError("the jsonl session store needs POSIX file locks; use sqlite on Windows")
        self.root = Path(root)
        """The directory holding one sub-directory per agent."""
        self.turn_cache = TurnCache(turn_cache_bytes)
        """Decoded turns, reused while their line is unchanged (about ``turn_cache_bytes`` of memory; 0: off)."""

    def __repr__(self) -> str:
        return f"JsonlSessionStore({str(self.root)!r})"

    def path(self, agent: str, session_id: str) -> Path:
        """The file of one session."""
        check_keys(agent, session_id)
        return self.root / agent / f"{session_id}{SUFFIX}"

    async def load(self, agent: str, session_id: str, *, max_messages: int | None = None) -> History:
        check_max_messages(max_messages)
        path = self.path(agent, session_id)
        return await asyncio.to_thread(self._load, path, (agent, session_id), max_messages, True)

    async def load_shared(self, agent: str, session_id: str, *, max_messages: int | None = None) -> History:
        """:meth:`load` without copying cached turns: their messages are the cache's, not to be edited."""
        check_max_messages(max_messages)
        path = self.path(agent, session_id)
        return await asyncio.to_thread(self._load, path, (agent, session_id), max_messages, False)

    async def append(
        self, agent: str, session_id: str, messages: Sequence[Message], *, expected_version: str | None
    ) -> str:
        path = self.path(agent, session_id)
        if not messages:
            raise ValueError("a turn needs at least one message")
        return await asyncio.to_thread(
            self._append, path, agent, session_id, list(messages), expected_version
        )

    async def list(self, agent: str | None = None) -> builtins.list[SessionInfo]:
        if agent is not None:
            validate_agent_name(agent)
        infos = await asyncio.to_thread(lambda: [i for i in map(self._info, self._files(agent)) if i])
        return sorted(infos, key=lambda i: i.updated_at, reverse=True)

    async def delete(self, agent: str, session_id: str) -> bool:
        path = self.path(agent, session_id)
        gone = await asyncio.to_thread(self._delete, path, None)
        self.turn_cache.forget([(agent, session_id)])
        return gone

    async def expire(
        self, older_than: timedelta | float, *, agent: str | None = None
    ) -> builtins.list[SessionInfo]:
        if agent is not None:
            validate_agent_name(agent)
        cutoff = cutoff_time(older_than)

        def run() -> list[SessionInfo]:
            expired = []
            for agent_name, session_id, path in self._files(agent):
                info = self._info((agent_name, session_id, path))
                if info is not None and info.updated_at < cutoff and self._delete(path, cutoff):
                    expired.append(info)
            return expired

        expired = await asyncio.to_thread(run)
        self.turn_cache.forget((info.agent, info.session_id) for info in expired)
        return expired

    async def aclose(self) -> None:
        """Drops the turn cache; nothing else to release: files are opened per operation."""
        self.turn_cache.clear()

    def _load(self, path: Path, session: tuple[str, str], max_messages: int | None, copy: bool) -> History:
        try:
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        except FileNotFoundError:
            return History(turns=[], version=None)
        try:
            fcntl.flock(fd, fcntl.LOCK_SH)
            scanner = _scan(fd, max_messages, str(path), self.turn_cache, session, copy)
        finally:
            os.close(fd)
        last = scanner.last
        return History(
            turns=scanner.turns,
            version=str(last.seq) if last else None,
            total_turns=last.seq if last else 0,
            total_messages=last.total if last else 0,
            warnings=scanner.warnings,
        )

    def _append(
        self, path: Path, agent: str, session_id: str, messages: builtins.list[Message], expected: str | None
    ) -> str:
        _make_dirs(path.parent)
        with _locked(path, os.O_RDWR | os.O_CREAT | os.O_APPEND, fcntl.LOCK_EX) as fd:
            size = os.fstat(fd).st_size
            scanner = _scan(fd, 0, str(path))
            last = scanner.last
            current = str(last.seq) if last else None
            if current != expected:
                raise SessionConflictError(agent, session_id, expected, f"it is at {current or 'no session'}")
            if scanner.end < size:
                os.ftruncate(fd, scanner.end)
                logger.warning("%s: cut off a torn last line of %d bytes", path, size - scanner.end)
            data = encode_turn(
                (last.seq if last else 0) + 1, (last.total if last else 0) + len(messages), messages
            )
            try:
                _write_all(fd, data)
                os.fsync(fd)
            except OSError as exc:
                with contextlib.suppress(OSError):
                    os.ftruncate(fd, scanner.end)  # leave no half line behind a failed write
                raise SessionStoreError(f"{path}: appending a turn failed: {exc}") from exc
            if size == 0:
                _fsync_dir(path.parent)  # make the new file's directory entry durable too
            return str((last.seq if last else 0) + 1)

    def _delete(self, path: Path, cutoff: float | None) -> bool:
        """Unlink under the exclusive lock; with ``cutoff``, only if still not modified since then."""
        try:
            with _locked(path, os.O_RDONLY, fcntl.LOCK_EX) as fd:
                if cutoff is not None and os.fstat(fd).st_mtime >= cutoff:
                    return False
                os.unlink(path)
                return True
        except FileNotFoundError:
            return False

    def _files(self, agent: str | None) -> Iterator[tuple[str, str, Path]]:
        try:
            agents = [agent] if agent is not None else sorted(os.listdir(self.root))
        except FileNotFoundError:
            return
        for name in agents:
            directory = self.root / name
            if not directory.is_dir():
                continue
            for entry in sorted(os.listdir(directory)):
                session_id = entry[: -len(SUFFIX)]
                if entry.endswith(SUFFIX) and SESSION_ID_PATTERN.match(session_id):
                    yield name, session_id, directory / entry
                else:
                    logger.debug("%s: not a session file, ignored", directory / entry)

    def _info(self, item: tuple[str, str, Path]) -> SessionInfo | None:
        agent, session_id, path = item
        try:
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        except FileNotFoundError:
            return None
        try:
            fcntl.flock(fd, fcntl.LOCK_SH)
            stat = os.fstat(fd)
            last = _scan(fd, 0, str(path)).last
        finally:
            os.close(fd)
        return SessionInfo(
            agent=agent,
            session_id=session_id,
            updated_at=stat.st_mtime,
            turns=last.seq if last else 0,
            messages=last.total if last else 0,
            size_bytes=stat.st_size,
        )


@contextlib.contextmanager
def _locked(path: Path, flags: int, operation: int) -> Iterator[int]:
    """Open ``path`` and lock it, retrying when it was unlinked between the open and the lock."""
    while True:
        fd = os.open(path, flags | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, operation)
            if os.fstat(fd).st_nlink > 0:
                yield fd
                return
        finally:
            os.close(fd)


def _scan(
    fd: int,
    max_messages: int | None,
    where: str,
    turns: TurnCache | None = None,
    session: tuple[str, str] = ("", ""),
    copy: bool = True,
) -> TailScanner:
    scanner = TailScanner(os.fstat(fd).st_size, max_messages, where, cache=turns, session=session, copy=copy)
    while (span := scanner.next_range()) is not None:
        offset, length = span
        data = os.pread(fd, length, offset)
        if len(data) != length:
            raise SessionStoreError(f"{where}: short read at offset {offset} (file changed while locked?)")
        scanner.feed(data)
    return scanner


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        if written <= 0:
            raise OSError(errno.EIO, "write returned 0")
        view = view[written:]


def _make_dirs(directory: Path) -> None:
    if directory.is_dir():
        return
    directory.mkdir(parents=True, exist_ok=True)
    _fsync_dir(directory.parent)


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
