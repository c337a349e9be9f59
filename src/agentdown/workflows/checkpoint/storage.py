"""Where checkpoints are kept: the protocol, in memory, and one JSON file per checkpoint."""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import re
import tempfile
import threading
import time
from pathlib import Path
from typing import Protocol, runtime_checkable

from .errors import CheckpointFormatError, CheckpointNotFoundError
from .model import WorkflowCheckpoint, checkpoint_from_json, checkpoint_to_json

__all__ = [
    "CHECKPOINT_ID_PATTERN",
    "CheckpointStorage",
    "FileCheckpointStorage",
    "InMemoryCheckpointStorage",
    "check_checkpoint_id",
    "loaded",
    "require_checkpoint_id",
    "save_time_ns",
    "sortable_timestamp",
]

CHECKPOINT_ID_PATTERN = re.compile(r"[A-Za-z0-9._-]{1,128}")
"""What a checkpoint id may be (the session-id alphabet): safe as a file, blob or row name."""


def check_checkpoint_id(checkpoint_id: str) -> bool:
    """Whether ``checkpoint_id`` is one a storage accepts (``.`` and ``..`` are not)."""
    return (
        isinstance(checkpoint_id, str)
        and CHECKPOINT_ID_PATTERN.fullmatch(checkpoint_id) is not None
        and checkpoint_id.strip(".") != ""
    )


def require_checkpoint_id(checkpoint_id: str) -> str:
    """``checkpoint_id`` itself, or a ``ValueError`` saying what an id may be."""
    if not check_checkpoint_id(checkpoint_id):
        raise ValueError(
            f"checkpoint id {checkpoint_id!r:.140} is not valid: 1 to 128 of A-Z a-z 0-9 . _ - (and not only dots)"
        )
    return checkpoint_id


@runtime_checkable
class CheckpointStorage(Protocol):
    """What a workflow needs of a checkpoint store; every method is safe to call concurrently."""

    async def save(self, checkpoint: WorkflowCheckpoint) -> str:
        """Store ``checkpoint`` (replacing one with the same id) and return its id.

        Raises ``CheckpointEncodingError`` when a value in it cannot be stored, and
        ``ValueError`` for an id outside ``CHECKPOINT_ID_PATTERN``.
        """
        ...

    async def load(self, checkpoint_id: str) -> WorkflowCheckpoint:
        """The checkpoint; ``CheckpointNotFoundError`` when there is none with that id."""
        ...

    async def list_checkpoints(self, workflow_name: str | None = None) -> list[WorkflowCheckpoint]:
        """Every checkpoint (of ``workflow_name`` when given), oldest first."""
        ...

    async def get_latest(self, workflow_name: str) -> WorkflowCheckpoint | None:
        """The newest checkpoint of ``workflow_name``, or ``None``."""
        ...

    async def delete(self, checkpoint_id: str) -> bool:
        """Remove the checkpoint; whether there was one."""
        ...


def _order_key(cp: WorkflowCheckpoint) -> str:
    # The sorts are stable, so checkpoints taken within one clock tick keep the order
    # they were saved in.
    return sortable_timestamp(cp)


def sortable_timestamp(cp: WorkflowCheckpoint) -> str:
    """The checkpoint's timestamp as UTC text that sorts as time does.

    The stored text does not: ``isoformat()`` drops a zero microsecond part, and offsets
    may differ. A timestamp without an offset is taken as UTC.
    """
    moment = dt.datetime.fromisoformat(cp.timestamp)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    # isoformat pads the year to four digits (strftime's %Y does not everywhere).
    return moment.astimezone(dt.UTC).replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


_last_save_ns = 0
_save_lock = threading.Lock()


def save_time_ns() -> int:
    """Now in nanoseconds, strictly later than the last value this process handed out.

    File systems stamp modification times in coarse ticks and blob listings give
    seconds, so storages record this themselves to keep saves within one tick in order.
    """
    global _last_save_ns
    with _save_lock:
        _last_save_ns = max(_last_save_ns + 1, time.time_ns())
        return _last_save_ns


def loaded(document: bytes, checkpoint_id: str, *, where: str) -> WorkflowCheckpoint:
    """The checkpoint in ``document``, which must be the one stored under ``checkpoint_id``."""
    checkpoint = checkpoint_from_json(document, where=where)
    if checkpoint.checkpoint_id != checkpoint_id:
        # A document copied over another's name would otherwise resume the wrong run.
        raise CheckpointFormatError(
            f"{where}: field 'checkpoint_id' is {checkpoint.checkpoint_id!r:.140}, but it is stored as {checkpoint_id!r}"
        )
    return checkpoint


class InMemoryCheckpointStorage:
    """Checkpoints in this process's memory, for tests and runs that need not survive it.

    It keeps the encoded documents, not the objects: a value that cannot be stored fails at
    ``save`` exactly as it would in a durable storage, and every ``load`` returns an
    independent copy that later changes to the run cannot reach.
    """

    def __init__(self) -> None:
        self._entries: dict[str, tuple[str, str, bytes]] = {}
        """Checkpoint id -> (workflow name, sortable timestamp, document), in save order."""

    async def save(self, checkpoint: WorkflowCheckpoint) -> str:
        checkpoint_id = require_checkpoint_id(checkpoint.checkpoint_id)
        document = checkpoint_to_json(checkpoint)
        # Re-saving moves it to the end, as a later save would order it in a durable store.
        self._entries.pop(checkpoint_id, None)
        self._entries[checkpoint_id] = (checkpoint.workflow_name, sortable_timestamp(checkpoint), document)
        return checkpoint_id

    async def load(self, checkpoint_id: str) -> WorkflowCheckpoint:
        entry = self._entries.get(checkpoint_id) if isinstance(checkpoint_id, str) else None
        if entry is None:
            raise CheckpointNotFoundError(f"no checkpoint {checkpoint_id!r:.140} in memory")
        return self._decode(checkpoint_id, entry[2])

    async def list_checkpoints(self, workflow_name: str | None = None) -> list[WorkflowCheckpoint]:
        return [self._decode(cid, entry[2]) for cid, entry in self._ordered(workflow_name)]

    async def get_latest(self, workflow_name: str) -> WorkflowCheckpoint | None:
        # Only the newest document is decoded.
        ordered = self._ordered(workflow_name)
        return self._decode(ordered[-1][0], ordered[-1][1][2]) if ordered else None

    async def delete(self, checkpoint_id: str) -> bool:
        return isinstance(checkpoint_id, str) and self._entries.pop(checkpoint_id, None) is not None

    def _ordered(self, workflow_name: str | None) -> list[tuple[str, tuple[str, str, bytes]]]:
        chosen = [
            (cid, e) for cid, e in self._entries.items() if workflow_name is None or e[0] == workflow_name
        ]
        return sorted(chosen, key=lambda item: item[1][1])  # stable: save order within one tick

    @staticmethod
    def _decode(checkpoint_id: str, document: bytes) -> WorkflowCheckpoint:
        return loaded(document, checkpoint_id, where=f"in-memory checkpoint {checkpoint_id}")


class FileCheckpointStorage:
    """One ``<checkpoint_id>.json`` file per checkpoint in ``directory`` (created on first save).

    Writes are atomic (a temporary file renamed over the old one), so a crash leaves the
    previous checkpoint or the new one, never half of one. Ids are checked against
    ``CHECKPOINT_ID_PATTERN`` before they become file names: a forged id such as
    ``../../etc/passwd`` is refused (``ValueError`` on save, not found on load).
    """

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self.directory = Path(directory)
        """Where the files are."""

    def _path(self, checkpoint_id: str) -> Path | None:
        return self.directory / f"{checkpoint_id}.json" if check_checkpoint_id(checkpoint_id) else None

    async def save(self, checkpoint: WorkflowCheckpoint) -> str:
        checkpoint_id = require_checkpoint_id(checkpoint.checkpoint_id)
        document = checkpoint_to_json(checkpoint)
        saved = save_time_ns()
        await asyncio.to_thread(self._write, self.directory / f"{checkpoint_id}.json", document, saved)
        return checkpoint_id

    def _write(self, path: Path, document: bytes, saved_ns: int) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.directory, prefix=".tmp-", suffix=".json")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(document)
                handle.flush()
                os.fsync(handle.fileno())
            # The modification time orders saves within one timestamp tick (see save_time_ns).
            os.utime(tmp, ns=(saved_ns, saved_ns))
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        _fsync_directory(self.directory)  # the rename itself must survive a power cut too

    async def load(self, checkpoint_id: str) -> WorkflowCheckpoint:
        path = self._path(checkpoint_id)
        document = await asyncio.to_thread(_read, path) if path is not None else None
        if path is None or document is None:
            raise CheckpointNotFoundError(f"no checkpoint {checkpoint_id!r:.140} in {self.directory}")
        return loaded(document, checkpoint_id, where=str(path))

    async def list_checkpoints(self, workflow_name: str | None = None) -> list[WorkflowCheckpoint]:
        found = await asyncio.to_thread(self._read_all)
        if workflow_name is not None:
            found = [cp for cp in found if cp.workflow_name == workflow_name]
        return sorted(found, key=_order_key)

    def _read_all(self) -> list[WorkflowCheckpoint]:
        if not self.directory.is_dir():
            return []
        entries: list[tuple[int, WorkflowCheckpoint]] = []
        for path in self.directory.glob("*.json"):
            if path.name.startswith(".tmp-") or not check_checkpoint_id(path.stem):
                continue
            try:
                stat = path.stat()
                document = path.read_bytes()
            except FileNotFoundError:  # deleted while we listed
                continue
            entries.append((stat.st_mtime_ns, loaded(document, path.stem, where=str(path))))
        # Modification time first so that equal timestamps keep the order they were saved in.
        entries.sort(key=lambda entry: entry[0])
        return [cp for _, cp in entries]

    async def get_latest(self, workflow_name: str) -> WorkflowCheckpoint | None:
        found = await self.list_checkpoints(workflow_name)
        return found[-1] if found else None

    async def delete(self, checkpoint_id: str) -> bool:
        path = self._path(checkpoint_id)
        return path is not None and await asyncio.to_thread(_unlink, path)


def _fsync_directory(directory: Path) -> None:
    if os.name != "posix":  # Windows cannot open a directory; NTFS journals the rename
        return
    fd = os.open(directory, os.O_RDONLY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _read(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None


def _unlink(path: Path) -> bool:
    try:
        path.unlink()
    except FileNotFoundError:
        return False
    return True
