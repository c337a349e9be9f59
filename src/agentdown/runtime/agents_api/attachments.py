"""Message attachments: files given to a thread's ``file_search`` (and kept for ``code_interpreter``).

As the service does, the first ``file_search`` attachment of a thread creates the thread's
own vector store (expiring 7 days after its last use) and names it in the thread's
``tool_resources.file_search.vector_store_ids``; each such attachment's file is added
to it (an ingestion job) and is searched with the assistant's stores. ``code_interpreter``
attachments are stored on the message for the code interpreter to read.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from agentdown.runtime.agents_api.context import AgentsApi
from agentdown.runtime.agents_api.errors import bad_request
from agentdown.runtime.agents_api.images import check_image_files
from agentdown.runtime.agents_api.schemas import Attachment
from agentdown.runtime.agents_api.store import mutate

__all__ = ["THREAD_STORE_DAYS", "attachment_bodies", "check_message_files", "index_attachments"]

THREAD_STORE_DAYS = 7
MAX_ATTACHMENTS = 20


def attachment_bodies(attachments: Sequence[Attachment] | None, field: str) -> list[dict[str, Any]]:
    """The stored ``attachments`` of a message: ``[{file_id, tools: [{type}]}]``; a 400 naming the field."""
    if not attachments:
        return []
    if len(attachments) > MAX_ATTACHMENTS:
        raise bad_request(f"{field}: at most {MAX_ATTACHMENTS} attachments per message", field)
    bodies: list[dict[str, Any]] = []
    for index, attachment in enumerate(attachments):
        where = f"{field}[{index}]"
        if attachment.file_id is None:
            raise bad_request(
                f"{where}.file_id: an attachment names an uploaded file (POST /files); "
                "data_source attachments are not supported, add the blob to a vector store instead",
                f"{where}.file_id",
            )
        if not attachment.tools:
            raise bad_request(
                f"{where}.tools: name at least one tool (file_search, code_interpreter)", f"{where}.tools"
            )
        kinds = list(dict.fromkeys(t.type for t in attachment.tools))
        bodies.append({"file_id": attachment.file_id, "tools": [{"type": k} for k in kinds]})
    return bodies


async def check_message_files(
    api: AgentsApi, messages: Sequence[tuple[str, dict[str, Any]]], owner: str
) -> None:
    """Every file the messages name is the caller's: attachments, and images (:mod:`.images`).

    A 404 (or a 400 for a file that is not an image) naming ``<field>.attachments[i].file_id``
    or ``<field>.content[i].image_file.file_id``.
    """
    files = api.files()
    for field, body in messages:
        prefix = f"{field}." if field else ""
        for index, attachment in enumerate(body.get("attachments") or []):
            await files.require(attachment["file_id"], owner, param=f"{prefix}attachments[{index}].file_id")
    await check_image_files(files, messages, owner)


async def index_attachments(
    api: AgentsApi, thread_id: str, owner: str, messages: Sequence[dict[str, Any]]
) -> str | None:
    """Add the messages' ``file_search`` attachments to the thread's own store (made when missing); its id."""
    wanted: list[str] = []
    for body in messages:
        for attachment in body.get("attachments") or []:
            if any(t.get("type") == "file_search" for t in attachment.get("tools") or []):
                wanted.append(str(attachment["file_id"]))
    wanted = list(dict.fromkeys(wanted))
    if not wanted:
        return None
    from agentdown.runtime.agents_api.vector_stores_files import StoreFiles, check_chunking
    from agentdown.runtime.agents_api.vector_stores_schemas import ExpiresAfter
    from agentdown.runtime.agents_api.vector_stores_sources import file_sources

    stores = api.vector_stores()
    sources = await file_sources(api.files(), owner, wanted, "attachments")
    await api.ensure_ingest()
    store_id = await _thread_store(
        api, thread_id, owner, ExpiresAfter(anchor="last_active_at", days=THREAD_STORE_DAYS)
    )
    record = await stores.require_active(store_id, owner)
    await StoreFiles(api, stores).add(record, sources, check_chunking(None, "chunking_strategy"))
    return store_id


async def _thread_store(api: AgentsApi, thread_id: str, owner: str, expires: Any) -> str:
    """The thread's own store: the one it has (if still usable), else a new one recorded on the thread."""
    stores = api.vector_stores()
    thread = await api.store.get("thread", "", thread_id)
    current = thread.body.get("_attachment_store") if thread is not None else None
    if isinstance(current, str):
        found = await stores.find(current, owner)
        if found is not None and found.body.get("status") != "expired":
            return current
    new = stores.new_body(owner, f"thread {thread_id}", expires, None, None)
    await api.store.create("vector_store", "", new["id"], new)
    chosen: list[str] = []

    def change(body: dict[str, Any]) -> dict[str, Any] | None:
        mine = body.get("_attachment_store")
        if isinstance(mine, str) and mine != current:
            chosen.append(mine)  # another request made one meanwhile: use it
            return None
        resources = dict(body.get("tool_resources") or {})
        search = dict(resources.get("file_search") or {})
        ids = [i for i in search.get("vector_store_ids") or [] if i != current]
        search["vector_store_ids"] = [*ids, new["id"]]
        resources["file_search"] = search
        chosen.append(new["id"])
        return {**body, "tool_resources": resources, "_attachment_store": new["id"]}

    await mutate(api.store, "thread", "", thread_id, change)
    if not chosen or chosen[-1] != new["id"]:
        record = await stores.find(new["id"], None)
        if record is not None:
            await stores.delete(record)
    if not chosen:
        raise bad_request(f"thread {thread_id!r} was deleted meanwhile", "thread_id")
    return chosen[-1]
