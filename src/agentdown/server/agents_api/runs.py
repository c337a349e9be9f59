"""Routes of runs and run steps: create (streamed or not), list, get, update, submit tool outputs, cancel.

Every route checks the thread belongs to the caller first (another principal's
thread is a 404, whatever the run id), then hands over to the
:class:`~agentdown.runtime.agents_api.runs.service.RunService`.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from agentdown.runtime.agents_api.context import AgentsApi
from agentdown.runtime.agents_api.errors import ApiProblem, bad_request, not_found
from agentdown.runtime.agents_api.runs.records import served_step
from agentdown.runtime.agents_api.runs.schemas import (
    RunCreate,
    RunUpdate,
    SubmitToolOutputs,
    ThreadAndRunCreate,
)
from agentdown.runtime.agents_api.runs.service import Frames, RunService
from agentdown.runtime.agents_api.search_tools import FILE_SEARCH_CONTENT
from agentdown.runtime.agents_api.store import AgentsStoreError, Record, mutate, public
from agentdown.server.agents_api.http import Caller, agents_endpoint, caller_of, ok, read_model
from agentdown.server.agents_api.paging import list_query, store_page
from agentdown.server.agents_api.threads import require_thread
from agentdown.server.context import ServerContext
from agentdown.server.sse import EventStream

__all__ = ["run_routes", "sse_frame"]

_DONE_FRAME = b"event: done\ndata: [DONE]\n\n"
_dumps = json.JSONEncoder(separators=(",", ":")).encode


def sse_frame(event: str, data: Any) -> bytes:
    """One frame as the SDK's parser reads it: an ``event:`` line, one ``data:`` line, LF only."""
    return f"event: {event}\ndata: {_dumps(data)}\n\n".encode()


def _event_stream(frames: Frames) -> EventStream:
    # The run goes on in its own task when the client goes away (a persisted run, readable
    # with runs.get): the response only stops reading its frames.
    async def body() -> AsyncIterator[bytes]:
        async for batch in frames:
            yield b"".join(sse_frame(event, data) for event, data in batch)
        yield _DONE_FRAME

    return EventStream(body())


def include_of(request: Request) -> list[str]:
    """The ``include[]`` query values (the SDK joins them with commas); a 400 for an unknown one."""
    query: bytes = request.scope.get("query_string", b"")
    if b"include" not in query and b"%" not in query:
        return []  # not asked for: the query is not parsed (every run request passes here)
    values: list[str] = []
    for raw in request.query_params.getlist("include[]") + request.query_params.getlist("include"):
        for value in raw.split(","):
            value = value.strip()
            if not value:
                continue
            if value != FILE_SEARCH_CONTENT:
                raise bad_request(
                    f"include[]: unknown value {value[:100]!r}; the one supported is {FILE_SEARCH_CONTENT!r}",
                    "include[]",
                )
            if value not in values:
                values.append(value)
    return values


def run_routes(ctx: ServerContext, api: AgentsApi) -> list[BaseRoute]:
    limit = ctx.settings.max_body_bytes
    directory = api.assistants()

    async def service() -> RunService:
        try:
            return await api.ensure_runs()
        except (ApiProblem, AgentsStoreError):
            raise
        except Exception as exc:
            raise ApiProblem(503, f"runs cannot be executed here: {exc}", "runs_unavailable") from exc

    async def check_assistant(caller: Caller, assistant_id: str) -> None:
        await directory.require(assistant_id, owner=caller.owner, allow=caller.allow)

    async def owned_thread(request: Request) -> tuple[Caller, Record]:
        caller = caller_of(request, ctx.authorizer)
        return caller, await require_thread(api.store, request.path_params["thread_id"], caller.owner)

    async def owned_run(request: Request) -> Record:
        """The run of the path if the caller owns its thread (the run carries the owner: one read)."""
        caller = caller_of(request, ctx.authorizer)
        thread_id, run_id = request.path_params["thread_id"], request.path_params["run_id"]
        record = await api.store.get("run", thread_id, run_id)
        if record is None or record.body.get("_owner", "") != caller.owner:
            # Another caller's run (or thread) is as absent as one that never existed.
            await require_thread(api.store, thread_id, caller.owner)
            raise not_found("run", run_id)
        return record

    @agents_endpoint
    async def create(request: Request) -> Response:
        caller, thread = await owned_thread(request)
        body = await read_model(request, RunCreate, limit)
        body = body.model_copy(update={"include": include_of(request)})
        await check_assistant(caller, body.assistant_id)
        if body.stream:
            return _event_stream(await (await service()).stream(thread.id, body, thread=thread))
        return ok(await (await service()).create(thread.id, body, thread=thread))

    @agents_endpoint
    async def create_thread_and_run(request: Request) -> Response:
        caller = caller_of(request, ctx.authorizer)
        body = await read_model(request, ThreadAndRunCreate, limit)
        body = body.model_copy(update={"include": include_of(request)})
        await check_assistant(caller, body.assistant_id)
        if body.stream:
            return _event_stream(await (await service()).stream_thread_and_run(body, caller.owner))
        return ok(await (await service()).create_thread_and_run(body, caller.owner))

    @agents_endpoint
    async def list_runs(request: Request) -> Response:
        _, thread = await owned_thread(request)
        return ok(await store_page(api.store, "run", thread.id, list_query(request)))

    @agents_endpoint
    async def get(request: Request) -> Response:
        return ok(await (await service()).view(await owned_run(request)))

    @agents_endpoint
    async def update(request: Request) -> Response:
        run = await owned_run(request)
        thread_id, run_id = run.parent, run.id
        body = await read_model(request, RunUpdate, limit)

        def change(run: dict[str, Any]) -> dict[str, Any] | None:
            if body.metadata is None:
                return None
            run["metadata"] = body.metadata
            return run

        record = await mutate(api.store, "run", thread_id, run_id, change)
        if record is None:
            raise not_found("run", run_id)
        return ok(public(record.body))

    @agents_endpoint
    async def submit(request: Request) -> Response:
        run = await owned_run(request)
        body = await read_model(request, SubmitToolOutputs, limit)
        outcome = await (await service()).submit_tool_outputs(run.parent, run.id, body)
        if isinstance(outcome, dict):
            return ok(outcome)
        return _event_stream(outcome)

    @agents_endpoint
    async def cancel(request: Request) -> Response:
        run = await owned_run(request)
        return ok(await (await service()).cancel(run.parent, run.id))

    @agents_endpoint
    async def list_steps(request: Request) -> Response:
        run = await owned_run(request)
        content = bool(include_of(request))
        page = await store_page(api.store, "step", run.id, list_query(request))
        page["data"] = [served_step(step, include_content=content) for step in page["data"]]
        return ok(page)

    @agents_endpoint
    async def get_step(request: Request) -> Response:
        run = await owned_run(request)
        content = bool(include_of(request))
        step_id = request.path_params["step_id"]
        step = await api.store.get("step", run.id, step_id)
        if step is None:
            raise not_found("run step", step_id)
        return ok(served_step(step.body, include_content=content))

    runs = "/threads/{thread_id}/runs"
    return [
        Route("/threads/runs", create_thread_and_run, methods=["POST"]),
        Route(runs, create, methods=["POST"]),
        Route(runs, list_runs, methods=["GET"]),
        Route(runs + "/{run_id}", get, methods=["GET"]),
        Route(runs + "/{run_id}", update, methods=["POST"]),
        Route(runs + "/{run_id}/submit_tool_outputs", submit, methods=["POST"]),
        Route(runs + "/{run_id}/cancel", cancel, methods=["POST"]),
        Route(runs + "/{run_id}/steps", list_steps, methods=["GET"]),
        Route(runs + "/{run_id}/steps/{step_id}", get_step, methods=["GET"]),
    ]
