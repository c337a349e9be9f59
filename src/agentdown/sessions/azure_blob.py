"""Sessions as Azure append blobs: ``<container>/<prefix>/<agent>/<session_id>.jsonl``, one block per turn.

Why this shape:

* An append block is atomic on the service: a turn is committed whole or not at all,
  so there are no torn lines here. ``If-Match: <ETag>`` on the append (and
  ``If-None-Match: *`` on create) is the optimistic concurrency check.
* Committed bytes of an append blob never change, so a load probes the size and reads
  the tail with ranged GETs (:class:`~agentdown.sessions.records.TailScanner`) without
  a condition; a changed creation time reveals a blob deleted and recreated meanwhile.
* The SDK retries a request whose answer was lost. If the lost answer was a success,
  the retry fails ``If-Match``; so on a conflict after a retry the store looks whether
  its own turn is already in the tail (same ``seq`` and message ids) and then reports
  success, never a duplicate.
* Limits: an append blob holds at most 50,000 blocks, so a session holds at most
  50,000 turns; appending past that raises :class:`SessionStoreError` saying so (delete
  or expire the session, or continue under a new id). A turn is at most 4 MiB
  (the portable block size).

The version is ``"<seq>:<total>:<etag>"``: the ETag for the condition, the counters so
an append can number its record without reading the blob again.
"""

from __future__ import annotations

import builtins
import contextlib
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from azure.core import MatchConditions
from azure.core.exceptions import (
    AzureError,
    HttpResponseError,
    ResourceExistsError,
    ResourceModifiedError,
    ResourceNotFoundError,
)
from azure.storage.blob import BlobProperties, BlobType
from azure.storage.blob.aio import BlobClient, BlobServiceClient

from agentdown.exceptions import ConfigurationError
from agentdown.messages import Message
from agentdown.sessions.records import FIRST_BLOCK, TailScanner, encode_turn
from agentdown.sessions.session import SESSION_ID_PATTERN
from agentdown.sessions.store import (
    AGENT_NAME_PATTERN,
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

__all__ = ["MAX_TURN_BYTES", "AzureBlobSessionStore"]

MAX_TURN_BYTES = 4 * 1024 * 1024
_CONTAINER_NAME = re.compile(r"^(?!.*--)[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$")
_SUFFIX = ".jsonl"
_KNOWN_LIMIT = 4096
_PROBE_BYTES = 256 * 1024


@dataclass(frozen=True, slots=True)
class _Version:
    seq: int
    total: int
    etag: str

    def __str__(self) -> str:
        return f"{self.seq}:{self.total}:{self.etag}"

    @classmethod
    def parse(cls, text: str) -> _Version:
        seq, total, etag = text.split(":", 2) if text.count(":") >= 2 else ("", "", "")
        if not (seq.isdigit() and total.isdigit() and etag):
            raise ValueError(f"{text!r} is not a version of the azure_blob session store")
        return cls(int(seq), int(total), etag)


class AzureBlobSessionStore:
    """Sessions in an Azure Storage (or Azurite) container; give a connection string or an account URL.

    With ``account_url`` and no ``credential`` the store signs in with
    ``azure.identity.aio.DefaultAzureCredential`` (for ``managed_identity_client_id``
    if given) and closes it in :meth:`aclose`.
    """

    kind = "azure_blob"

    def __init__(
        self,
        *,
        connection_string: str | None = None,
        account_url: str | None = None,
        credential: Any = None,
        managed_identity_client_id: str | None = None,
        container: str = "agentdown-sessions",
        prefix: str = "sessions",
        turn_cache_bytes: int = DEFAULT_TURN_CACHE_BYTES,
    ) -> None:
        self.container = container
        """The container holding the session blobs (created on the first append)."""
        self.prefix = prefix.strip("/")
        """Blob name prefix before ``<agent>/<session_id>.jsonl``; may be empty."""
        self._service, self._owned_credential = blob_service(
            "AzureBlobSessionStore",
            container,
            connection_string=connection_string,
            account_url=account_url,
            credential=credential,
            managed_identity_client_id=managed_identity_client_id,
        )
        self._container = self._service.get_container_client(container)
        self._container_ready = False
        self.turn_cache = TurnCache(turn_cache_bytes)
        """Decoded turns, reused while their line is unchanged (about ``turn_cache_bytes`` of memory; 0: off)."""
        self._known: dict[str, tuple[int, datetime]] = {}
        """Blob name -> (size, creation time) last seen: lets a load skip the properties request."""

    def __repr__(self) -> str:
        return f"AzureBlobSessionStore({self._service.url!r}, container={self.container!r}, prefix={self.prefix!r})"

    def blob_name(self, agent: str, session_id: str) -> str:
        check_keys(agent, session_id)
        return f"{self._agent_prefix(agent)}{session_id}{_SUFFIX}"

    async def load(self, agent: str, session_id: str, *, max_messages: int | None = None) -> History:
        return await self._load(agent, session_id, max_messages, copy=True)

    async def load_shared(self, agent: str, session_id: str, *, max_messages: int | None = None) -> History:
        """:meth:`load` without copying cached turns: their messages are the cache's, not to be edited."""
        return await self._load(agent, session_id, max_messages, copy=False)

    async def _load(self, agent: str, session_id: str, max_messages: int | None, *, copy: bool) -> History:
        check_max_messages(max_messages)
        name = self.blob_name(agent, session_id)
        blob = self._container.get_blob_client(name)
        where = f"blob {self.container}/{name}"
        for _ in range(5):
            try:
                history = await self._read_tail(blob, name, (agent, session_id), max_messages, where, copy)
            except ResourceNotFoundError:
                self._known.pop(name, None)
                return History(turns=[], version=None)
            except HttpResponseError as exc:
                raise SessionStoreError(f"{where}: reading the session failed: {exc.message}") from exc
            if history is not None:
                return history
        raise SessionStoreError(f"{where}: the blob was recreated while being read, five times in a row")

    async def _read_tail(
        self,
        blob: BlobClient,
        name: str,
        session: tuple[str, str],
        max_messages: int | None,
        where: str,
        copy: bool,
    ) -> History | None:
        """One consistent tail read, or ``None`` when the blob was recreated meanwhile."""
        props, first = await self._probe(blob, name)
        _check_append_blob(props, where)
        scanner = TailScanner(
            _total_size(props), max_messages, where, cache=self.turn_cache, session=session, copy=copy
        )
        if first is not None:
            scanner.feed(first)
        while (span := scanner.next_range()) is not None:
            stream = await blob.download_blob(offset=span[0], length=span[1], max_concurrency=1)
            if stream.properties.creation_time != props.creation_time:
                return None
            scanner.feed(await stream.readall())
        self._remember(name, _total_size(props), props.creation_time)
        last = scanner.last
        version = _Version(last.seq if last else 0, last.total if last else 0, str(props.etag))
        return History(
            turns=scanner.turns,
            version=str(version),
            total_turns=version.seq,
            total_messages=version.total,
            warnings=scanner.warnings,
        )

    async def _probe(self, blob: BlobClient, name: str) -> tuple[BlobProperties, bytes | None]:
        """The blob's properties, plus its tail when the size seen last time is still near the end.

        Reading from a little before the last known end saves the separate properties
        request: one round trip per load when this store wrote or read the session last,
        and also right after a conflict (the bytes another writer appended come along).
        """
        known = self._known.get(name)
        if known is not None and known[0] > 0:
            size, created = known
            offset = size - min(FIRST_BLOCK, size)
            try:
                stream = await blob.download_blob(offset=offset, length=_PROBE_BYTES, max_concurrency=1)
            except HttpResponseError as exc:
                if exc.status_code != 416:  # 416: the blob shrank (was recreated)
                    raise
            else:
                total = _total_size(stream.properties)
                # A short answer reached the end: it is the tail from offset, valid if not recreated.
                if stream.properties.creation_time == created and size <= total < offset + _PROBE_BYTES:
                    return stream.properties, await stream.readall()
        return await blob.get_blob_properties(), None

    def _remember(self, name: str, size: int, created: datetime | None) -> None:
        if created is None:
            return
        if name not in self._known and len(self._known) >= _KNOWN_LIMIT:
            del self._known[next(iter(self._known))]
        self._known[name] = (size, created)

    async def append(
        self, agent: str, session_id: str, messages: Sequence[Message], *, expected_version: str | None
    ) -> str:
        name = self.blob_name(agent, session_id)
        if not messages:
            raise ValueError("a turn needs at least one message")
        base = _Version.parse(expected_version) if expected_version is not None else None
        seq = (base.seq if base else 0) + 1
        total = (base.total if base else 0) + len(messages)
        data = encode_turn(seq, total, messages)
        where = f"blob {self.container}/{name}"
        if len(data) > MAX_TURN_BYTES:
            raise SessionStoreError(
                f"{where}: a turn of {len(data)} bytes exceeds the {MAX_TURN_BYTES}-byte append block limit"
            )
        blob = self._container.get_blob_client(name)
        retried: list[object] = []
        start = base
        try:
            if start is None:
                start = _Version(0, 0, await self._create(blob, agent, session_id))
            result = await blob.append_block(
                data,
                etag=start.etag,
                match_condition=MatchConditions.IfNotModified,
                retry_hook=lambda **info: retried.append(info),
            )
        except ResourceModifiedError as exc:
            if retried and start is not None and await self._landed(agent, session_id, start, seq, messages):
                return str(start)  # ours is in; this token is stale, so the next append re-reads
            raise SessionConflictError(agent, session_id, expected_version, "ETag changed") from exc
        except ResourceNotFoundError as exc:
            raise SessionConflictError(
                agent, session_id, expected_version, "the session was deleted"
            ) from exc
        except HttpResponseError as exc:
            if getattr(exc, "error_code", None) == "BlockCountExceedsLimit":
                raise SessionStoreError(
                    f"{where}: the session reached the append blob limit of 50,000 turns; "
                    "delete or expire it, or continue under a new session id"
                ) from exc
            raise SessionStoreError(f"{where}: appending a turn failed: {exc.message}") from exc
        except AzureError as exc:
            raise SessionStoreError(
                f"{where}: appending a turn failed without an answer, so it may or may not be stored: {exc}"
            ) from exc
        known = self._known.get(name)
        if known is not None and known[0] == int(str(result["blob_append_offset"])):
            self._remember(name, known[0] + len(data), known[1])
        return str(_Version(seq, total, str(result["etag"])))

    async def list(self, agent: str | None = None) -> builtins.list[SessionInfo]:
        if agent is not None:
            validate_agent_name(agent)
        found = [info for info, _ in await self._listing(agent)]
        return sorted(found, key=lambda i: i.updated_at, reverse=True)

    async def delete(self, agent: str, session_id: str) -> bool:
        blob = self._container.get_blob_client(self.blob_name(agent, session_id))
        self.turn_cache.forget([(agent, session_id)])
        try:
            await blob.delete_blob()
        except ResourceNotFoundError:
            return False
        return True

    async def expire(
        self, older_than: timedelta | float, *, agent: str | None = None
    ) -> builtins.list[SessionInfo]:
        if agent is not None:
            validate_agent_name(agent)
        expired = await delete_listed(
            self._container, await self._listing(agent), self.blob_name, cutoff_time(older_than)
        )
        self.turn_cache.forget((info.agent, info.session_id) for info in expired)
        return expired

    async def aclose(self) -> None:
        self.turn_cache.clear()
        await self._service.close()
        if self._owned_credential is not None:
            await self._owned_credential.close()

    def _agent_prefix(self, agent: str) -> str:
        return f"{self.prefix}/{agent}/" if self.prefix else f"{agent}/"

    async def _create(self, blob: BlobClient, agent: str, session_id: str) -> str:
        for attempt in range(2):
            if not self._container_ready:
                with contextlib.suppress(ResourceExistsError):
                    await self._container.create_container()
                self._container_ready = True
            try:
                created = await blob.create_append_blob(match_condition=MatchConditions.IfMissing)
            except (ResourceExistsError, ResourceModifiedError) as exc:
                raise SessionConflictError(agent, session_id, None, "the session already exists") from exc
            except ResourceNotFoundError:
                if attempt:
                    raise
                self._container_ready = False  # someone deleted the container since
                continue
            return str(created["etag"])
        raise AssertionError("unreachable")  # pragma: no cover

    async def _landed(
        self, agent: str, session_id: str, base: _Version, seq: int, messages: Sequence[Message]
    ) -> bool:
        """Whether turn ``seq`` with these messages is already stored (a retried, lost success)."""
        head = await self.load(agent, session_id, max_messages=0)
        if head.total_turns < seq:
            return False
        tail = await self.load(agent, session_id, max_messages=max(1, head.total_messages - base.total))
        ours = [m.message_id for m in messages]
        return any(t.seq == seq and [m.message_id for m in t.messages] == ours for t in tail.turns)

    async def _listing(self, agent: str | None) -> builtins.list[tuple[SessionInfo, str]]:
        start = self._agent_prefix(agent) if agent is not None else (f"{self.prefix}/" if self.prefix else "")
        found: list[tuple[SessionInfo, str]] = []
        try:
            async for props in self._container.list_blobs(name_starts_with=start):
                key = self._parse_name(props.name)
                if key is None:
                    continue
                info = SessionInfo(
                    agent=key[0],
                    session_id=key[1],
                    updated_at=props.last_modified.timestamp(),
                    created_at=props.creation_time.timestamp() if props.creation_time else None,
                    size_bytes=props.size,
                )
                found.append((info, str(props.etag)))
        except ResourceNotFoundError:
            return []
        return found

    def _parse_name(self, name: str) -> tuple[str, str] | None:
        head = f"{self.prefix}/" if self.prefix else ""
        if not name.startswith(head) or not name.endswith(_SUFFIX):
            return None
        agent, _, rest = name[len(head) : -len(_SUFFIX)].partition("/")
        if AGENT_NAME_PATTERN.match(agent) and SESSION_ID_PATTERN.match(rest):
            return agent, rest
        return None


def _total_size(props: BlobProperties) -> int:
    """The whole blob's size, also for a ranged download (whose ``size`` is the range's)."""
    content_range = getattr(props, "content_range", None)
    if content_range and "/" in str(content_range):
        return int(str(content_range).rsplit("/", 1)[1])
    return int(props.size)


def _check_append_blob(props: BlobProperties, where: str) -> None:
    if props.blob_type != BlobType.APPENDBLOB:
        raise SessionStoreError(f"{where}: expected an append blob, found a {props.blob_type} blob")


async def delete_listed(
    container: Any,
    listed: Sequence[tuple[SessionInfo, str]],
    blob_name: Callable[[str, str], str],
    cutoff: float,
) -> builtins.list[SessionInfo]:
    """Delete the listed sessions last updated before ``cutoff``; those deleted.

    Each at the ETag it was listed with: a session appended to meanwhile is kept.
    """
    expired = []
    for info, etag in listed:
        if info.updated_at >= cutoff:
            continue
        blob = container.get_blob_client(blob_name(info.agent, info.session_id))
        try:
            await blob.delete_blob(etag=etag, match_condition=MatchConditions.IfNotModified)
        except (ResourceModifiedError, ResourceNotFoundError):
            continue
        expired.append(info)
    return expired


def blob_service(
    what: str,
    container: str,
    *,
    connection_string: str | None,
    account_url: str | None,
    credential: Any,
    managed_identity_client_id: str | None,
) -> tuple[BlobServiceClient, Any]:
    """``(service client, credential to close or None)`` for one of the stores on Azure Blob.

    Exactly one of ``connection_string`` / ``account_url``; with an account URL and no
    ``credential``, a ``DefaultAzureCredential`` the caller owns (and closes).
    """
    if (connection_string is None) == (account_url is None):
        raise ConfigurationError(f"{what} needs exactly one of connection_string or account_url")
    if not _CONTAINER_NAME.match(container):
        raise ConfigurationError(
            f"invalid blob container name {container!r}: expected 3-63 lowercase letters, digits "
            "and single hyphens, starting and ending with a letter or digit"
        )
    if connection_string is not None:
        return BlobServiceClient.from_connection_string(connection_string), None
    owned: Any = None
    if credential is None:
        from azure.identity.aio import DefaultAzureCredential

        credential = owned = DefaultAzureCredential(managed_identity_client_id=managed_identity_client_id)
    return BlobServiceClient(str(account_url), credential=credential), owned
