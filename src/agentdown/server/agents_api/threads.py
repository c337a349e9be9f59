"""Routes of threads and their messages.

``/threads`` (create with initial messages, list), ``/threads/{t}`` (get, update,
delete), ``/threads/{t}/messages`` (create, list with the ``run_id`` filter) and
``/threads/{t}/messages/{m}`` (get, update). A thread belongs to the caller that
created it when the caller is a known principal: another caller's thread is a 404,
like one that does not exist. Deleting a thread removes its messages, its runs and
their steps.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from agentdown.runtime.agents_api.assistants import check_tool_resources
from agentdown.runtime.agents_api.attachments import check_message_files, index_attachments
from agentdown.runtime.agents_api.context import AgentsApi
from agentdown.runtime.agents_api.errors import conflict, not_found
from agentdown.runtime.agents_api.ids import PREFIXES, new_record_id
from agentdown.runtime.agents_api.messages import new_message
from agentdown.runtime.agents_api.objects import now
from agentdown.runtime.agents_api.runs.service import busy_run
from agentdown.runtime.agents_api.schemas import (
    DeletionStatus,
    MessageCreate,
    MessageUpdate,
    ThreadCreate,
    ThreadObject,
    ThreadUpdate,
    dump,
)
from agentdown.runtime.agents_api.search_tools import check_resources_owned
from agentdown.runtime.agents_api.store import AgentsStore, Record, mutate, public
from agentdown.server.agents_api.http import agents_endpoint, caller_of, ok, read_model
from agentdown.server.agents_api.paging import MAX_LIMIT, list_query, store_page
from agentdown.server.context import ServerContext

__all__ = ["delete_thread", "require_thread", "thread_routes"]


async def require_thread(store: AgentsStore, thread_id: str, owner: str) -> Record:
    """The thread ``thread_id`` if the caller (``owner``, see ``owner_key``) may see it; else a 404."""
    record = await store.get("thread", "", thread_id)
    if record is None or record.body.get("_owner", "") != owner:
        raise not_found("thread", thread_id)
    return record


async def delete_thread(store: AgentsStore, thread_id: str) -> bool:
    """Remove a thread, then its messages, runs and run steps (steps live under their run)."""
    # The thread goes first: once it is gone nothing can reach what is left under it.
    deleted = await store.delete("thread", "", thread_id)
    after: str | None = None
    while True:
        page = await store.list("run", thread_id, limit=MAX_LIMIT, order="asc", after=after)
        for run in page.records:
            await store.delete_children("step", run.id)
        if not page.has_more or not page.records:
            break
        after = page.records[-1].id
    await store.delete_children("run", thread_id)
    await store.delete_children("message", thread_id)
    return deleted


def thread_routes(ctx: ServerContext, api: AgentsApi) -> list[Route]:
    limit = ctx.settings.max_body_bytes

    @agents_endpoint
    async def create(request: Request) -> Response:
        caller = caller_of(request, ctx.authorizer)
        body = await read_model(request, ThreadCreate, limit)
        check_tool_resources(body.tool_resources)
        await check_resources_owned(api, body.tool_resources, caller.owner, "tool_resources")
        thread = ThreadObject(
            id=new_record_id(PREFIXES["thread"]),
            created_at=now(),
            metadata=body.metadata or {},
            tool_resources=dict(body.tool_resources or {}),
        )
        # Every message is checked before anything is written.
        messages = [new_message(thread.id, m, f"messages[{i}]") for i, m in enumerate(body.messages or [])]
        await check_message_files(api, [(f"messages[{i}]", m) for i, m in enumerate(messages)], caller.owner)
        store = api.store
        served = dump(thread)
        await store.create("thread", "", thread.id, {**served, "_owner": caller.owner})
        for message in messages:
            await store.create("message", thread.id, message["id"], message)
        if await index_attachments(api, thread.id, caller.owner, messages) is not None:
            record = await require_thread(store, thread.id, caller.owner)
            return ok(public(record.body))
        return ok(served)

    @agents_endpoint
    async def list_threads(request: Request) -> Response:
        caller = caller_of(request, ctx.authorizer)
        return ok(await store_page(api.store, "thread", "", list_query(request), {"_owner": caller.owner}))

    @agents_endpoint
    async def get(request: Request) -> Response:
        caller = caller_of(request, ctx.authorizer)
        record = await require_thread(api.store, request.path_params["thread_id"], caller.owner)
        return ok(public(record.body))

    @agents_endpoint
    async def update(request: Request) -> Response:
        caller = caller_of(request, ctx.authorizer)
        thread_id = request.path_params["thread_id"]
        store = api.store
        await require_thread(store, thread_id, caller.owner)
        changes = await read_model(request, ThreadUpdate, limit)
        check_tool_resources(changes.tool_resources)
        await check_resources_owned(api, changes.tool_resources, caller.owner, "tool_resources")

        def change(body: dict[str, Any]) -> dict[str, Any] | None:
            # Metadata and tool_resources are replaced as a whole, as the service does.
            if changes.metadata is None and changes.tool_resources is None:
                return None
            if changes.metadata is not None:
                body["metadata"] = changes.metadata
            if changes.tool_resources is not None:
                body["tool_resources"] = dict(changes.tool_resources)
            return body

        record = await mutate(store, "thread", "", thread_id, change)
        if record is None:
            raise not_found("thread", thread_id)
        return ok(public(record.body))

    @agents_endpoint
    async def delete(request: Request) -> Response:
        caller = caller_of(request, ctx.authorizer)
        thread_id = request.path_params["thread_id"]
        store = api.store
        await require_thread(store, thread_id, caller.owner)
        if not await delete_thread(store, thread_id):
            raise not_found("thread", thread_id)
        return ok(dump(DeletionStatus(id=thread_id, object="thread.deleted")))

    @agents_endpoint
    async def create_message(request: Request) -> Response:
        caller = caller_of(request, ctx.authorizer)
        thread_id = request.path_params["thread_id"]
        store = api.store
        thread = await require_thread(store, thread_id, caller.owner)
        message = new_message(thread_id, await read_model(request, MessageCreate, limit))
        await check_message_files(api, [("", message)], caller.owner)
        active = await busy_run(store, thread)
        if active is not None:
            raise conflict(
                f"thread {thread_id!r} has an active run {active!r}: a message can be added when it ends "
                "(or pass additional_messages with the next run)",
                "thread_busy",
            )
        await store.create("message", thread_id, message["id"], message)
        await index_attachments(api, thread_id, caller.owner, [message])
        return ok(public(message))

    @agents_endpoint
    async def list_messages(request: Request) -> Response:
        caller = caller_of(request, ctx.authorizer)
        thread_id = request.path_params["thread_id"]
        store = api.store
        await require_thread(store, thread_id, caller.owner)
        run_id = request.query_params.get("run_id")
        where = {"run_id": run_id} if run_id else None
        return ok(await store_page(store, "message", thread_id, list_query(request), where))

    @agents_endpoint
    async def get_message(request: Request) -> Response:
        caller = caller_of(request, ctx.authorizer)
        thread_id, message_id = request.path_params["thread_id"], request.path_params["message_id"]
        store = api.store
        await require_thread(store, thread_id, caller.owner)
        record = await store.get("message", thread_id, message_id)
        if record is None:
            raise not_found("message", message_id)
        return ok(public(record.body))

    @agents_endpoint
    async def update_message(request: Request) -> Response:
        caller = caller_of(request, ctx.authorizer)
        thread_id, message_id = request.path_params["thread_id"], request.path_params["message_id"]
        store = api.store
        await require_thread(store, thread_id, caller.owner)
        changes = await read_model(request, MessageUpdate, limit)

        def change(body: dict[str, Any]) -> dict[str, Any] | None:
            return None if changes.metadata is None else {**body, "metadata": changes.metadata}

        record = await mutate(store, "message", thread_id, message_id, change)
        if record is None:
            raise not_found("message", message_id)
        return ok(public(record.body))

    return [
        Route("/threads", create, methods=["POST"]),
        Route("/threads", list_threads, methods=["GET"]),
        Route("/threads/{thread_id}", get, methods=["GET"]),
        Route("/threads/{thread_id}", update, methods=["POST"]),
        Route("/threads/{thread_id}", delete, methods=["DELETE"]),
        Route("/threads/{thread_id}/messages", create_message, methods=["POST"]),
        Route("/threads/{thread_id}/messages", list_messages, methods=["GET"]),
        Route("/threads/{thread_id}/messages/{message_id}", get_message, methods=["GET"]),
        Route("/threads/{thread_id}/messages/{message_id}", update_message, methods=["POST"]),
    ]
