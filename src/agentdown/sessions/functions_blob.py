"""A session store that reads and writes the Azure Functions agents runtime's session blobs.

Layout: container ``azure-functions-agents`` (``AZURE_FUNCTIONS_AGENTS_SESSION_CONTAINER``),
one append blob per session at ``agent-sessions/<slug>/<session_id>.jsonl``, one message
per line (:mod:`agentdown.sessions.functions_format`). Versions before 0.1.0b17 wrote
``agent-sessions/<session_id>.jsonl``: such a blob is read when the per-agent one does not
exist, and later turns are appended to it, so a session moved over keeps its history.

The whole blob is read on each load (the format has no turn index to read a tail by);
appends are conditional on the blob's ETag, so two writers never interleave.

When it is used: :func:`agentdown.sessions.select.select_store` (re-exported here).

It needs a blob account, resolved as for agentdown's own blob store (``AzureWebJobsStorage``
connection string, ``UseDevelopmentStorage=true``, or ``AzureWebJobsStorage__blobServiceUri``
with ``AzureWebJobsStorage__clientId`` / ``AZURE_CLIENT_ID``). Without one the other
runtime keeps sessions in local files; agentdown then uses its own default store and says so.
"""

from __future__ import annotations

import builtins
import contextlib
import logging
from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import Any

from azure.core import MatchConditions
from azure.core.exceptions import (
    HttpResponseError,
    ResourceExistsError,
    ResourceModifiedError,
    ResourceNotFoundError,
)
from azure.storage.blob.aio import BlobClient

from agentdown.messages import Message
from agentdown.sessions.azure_blob import blob_service, delete_listed
from agentdown.sessions.config import store_from_env, store_settings
from agentdown.sessions.functions_format import line_of, parse_lines, split_turns
from agentdown.sessions.select import select_store, uses_functions_format
from agentdown.sessions.store import (
    History,
    SessionConflictError,
    SessionInfo,
    SessionStore,
    SessionStoreError,
    Turn,
    check_keys,
    check_max_messages,
    cutoff_time,
    validate_agent_name,
)

__all__ = [
    "CONTAINER",
    "PREFIX",
    "FunctionsBlobSessionStore",
    "functions_store",
    "select_store",
    "uses_functions_format",
]

CONTAINER = "azure-functions-agents"
PREFIX = "agent-sessions"
_LEGACY = "l:"
_SLUG = "s:"
logger = logging.getLogger("agentdown.sessions")


class FunctionsBlobSessionStore:
    """Sessions in the Azure Functions agents runtime's blobs (see the module docstring)."""

    kind = "functions_blob"

    def __init__(
        self,
        *,
        connection_string: str | None = None,
        account_url: str | None = None,
        credential: Any = None,
        managed_identity_client_id: str | None = None,
        container: str = CONTAINER,
    ) -> None:
        self.container = container
        self._service, self._owned_credential = blob_service(
            "FunctionsBlobSessionStore",
            container,
            connection_string=connection_string,
            account_url=account_url,
            credential=credential,
            managed_identity_client_id=managed_identity_client_id,
        )
        self._container = self._service.get_container_client(container)
        self._container_ready = False

    def __repr__(self) -> str:
        return f"FunctionsBlobSessionStore({self._service.url!r}, container={self.container!r})"

    def blob_name(self, agent: str, session_id: str) -> str:
        check_keys(agent, session_id)
        return f"{PREFIX}/{agent}/{session_id}.jsonl"

    async def _read(self, name: str) -> tuple[str, str] | None:
        """``(text, etag)`` of a blob, ``None`` when it does not exist."""
        blob = self._container.get_blob_client(name)
        try:
            downloader = await blob.download_blob()
            data = await downloader.readall()
        except ResourceNotFoundError:
            return None
        except HttpResponseError as exc:
            raise SessionStoreError(
                f"blob {self.container}/{name}: reading the session failed: {exc.message}"
            ) from exc
        return data.decode("utf-8"), str(downloader.properties.etag)

    async def load(self, agent: str, session_id: str, *, max_messages: int | None = None) -> History:
        check_max_messages(max_messages)
        name = self.blob_name(agent, session_id)
        found, tag = await self._read(name), _SLUG
        if found is None:
            name, tag = f"{PREFIX}/{session_id}.jsonl", _LEGACY
            found = await self._read(name)
        if found is None:
            return History(turns=[], version=None)
        text, etag = found
        try:
            messages = parse_lines(text, f"blob {self.container}/{name}")
        except ValueError as exc:
            raise SessionStoreError(str(exc)) from None
        turns = [Turn(seq, group, group[0].created_at) for seq, group in enumerate(split_turns(messages), 1)]
        kept = _tail(turns, max_messages)
        return History(turns=kept, version=tag + etag, total_turns=len(turns), total_messages=len(messages))

    async def append(
        self, agent: str, session_id: str, messages: Sequence[Message], *, expected_version: str | None
    ) -> str:
        if not messages:
            raise ValueError("a turn needs at least one message")
        name = self.blob_name(agent, session_id)
        if expected_version is not None and expected_version.startswith(_LEGACY):
            name = f"{PREFIX}/{session_id}.jsonl"
        data = "".join(line_of(m) + "\n" for m in messages).encode("utf-8")
        blob = self._container.get_blob_client(name)
        try:
            etag = expected_version[2:] if expected_version is not None else await self._create(blob)
            result = await blob.append_block(data, etag=etag, match_condition=MatchConditions.IfNotModified)
        except (ResourceModifiedError, ResourceExistsError) as exc:
            raise SessionConflictError(agent, session_id, expected_version, "ETag changed") from exc
        except ResourceNotFoundError as exc:
            raise SessionConflictError(
                agent, session_id, expected_version, "the session was deleted"
            ) from exc
        except HttpResponseError as exc:
            raise SessionStoreError(
                f"blob {self.container}/{name}: appending a turn failed: {exc.message}"
            ) from exc
        prefix = _LEGACY if name != self.blob_name(agent, session_id) else _SLUG
        return prefix + str(result["etag"])

    async def _create(self, blob: BlobClient) -> str:
        if not self._container_ready:
            with contextlib.suppress(ResourceExistsError):
                await self._container.create_container()
            self._container_ready = True
        created = await blob.create_append_blob(match_condition=MatchConditions.IfMissing)
        return str(created["etag"])

    async def _listing(self, agent: str | None) -> builtins.list[tuple[SessionInfo, str]]:
        start = f"{PREFIX}/{agent}/" if agent is not None else f"{PREFIX}/"
        found: builtins.list[tuple[SessionInfo, str]] = []
        try:
            async for item in self._container.list_blobs(name_starts_with=start):
                parts = item.name[len(PREFIX) + 1 :].split("/")
                if len(parts) != 2 or not parts[1].endswith(".jsonl"):
                    continue  # a legacy blob names no agent
                created = item.creation_time.timestamp() if item.creation_time else None
                info = SessionInfo(
                    parts[0],
                    parts[1][: -len(".jsonl")],
                    item.last_modified.timestamp(),
                    created,
                    size_bytes=item.size,
                )
                found.append((info, str(item.etag)))
        except ResourceNotFoundError:
            return []
        return found

    async def list(self, agent: str | None = None) -> builtins.list[SessionInfo]:
        if agent is not None:
            validate_agent_name(agent)
        return sorted((i for i, _ in await self._listing(agent)), key=lambda i: i.updated_at, reverse=True)

    async def delete(self, agent: str, session_id: str) -> bool:
        try:
            await self._container.get_blob_client(self.blob_name(agent, session_id)).delete_blob()
        except ResourceNotFoundError:
            return False
        return True

    async def expire(
        self, older_than: timedelta | float, *, agent: str | None = None
    ) -> builtins.list[SessionInfo]:
        if agent is not None:
            validate_agent_name(agent)
        return await delete_listed(
            self._container, await self._listing(agent), self.blob_name, cutoff_time(older_than)
        )

    async def aclose(self) -> None:
        await self._service.close()
        if self._owned_credential is not None:
            await self._owned_credential.close()


def _tail(turns: builtins.list[Turn], max_messages: int | None) -> builtins.list[Turn]:
    if max_messages is None:
        return turns
    kept: builtins.list[Turn] = []
    count = 0
    for turn in reversed(turns):
        if count >= max_messages:
            break
        kept.append(turn)
        count += len(turn.messages)
    return kept[::-1]


def functions_store(environ: Mapping[str, str]) -> SessionStore:
    """The store :func:`~agentdown.sessions.select.select_store` picks when this format is chosen."""
    env = environ
    settings = store_settings(env)
    if settings.kind != "azure_blob":
        logger.warning(
            "sessions: the Azure Functions agents runtime's format needs a blob account (AzureWebJobsStorage); "
            "none is configured, so sessions go to %s",
            settings.describe(),
        )
        return store_from_env(env)
    container = env.get("AZURE_FUNCTIONS_AGENTS_SESSION_CONTAINER", "").strip() or CONTAINER
    client_id = settings.managed_identity_client_id or env.get("AZURE_CLIENT_ID", "").strip() or None
    return FunctionsBlobSessionStore(
        connection_string=settings.connection_string,
        account_url=settings.account_url if settings.connection_string is None else None,
        managed_identity_client_id=client_id,
        container=container,
    )
