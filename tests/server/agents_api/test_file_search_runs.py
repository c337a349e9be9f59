"""File search in runs through the real azure-ai-agents SDK against a live server.

Files are uploaded and ingested (``create_and_poll``) by the server's own ingestion jobs;
the model is the loopback fake model server, scripted to call ``file_search`` with the
user's question and to answer citing the first marker it was shown. Asserted: the
``file_search`` step with its results (their text only with ``include[]``), the
``file_citation`` annotation, ``max_num_results`` / ``score_threshold``, ids of stores
that do not exist or are another caller's refused, and a thread store made from a
message attachment.
"""

from __future__ import annotations

import asyncio
import base64
import json
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import aiohttp
import pytest
from azure.ai.agents import models as m
from azure.core.exceptions import HttpResponseError
from serverkit import agent_md, live_server, write_app

from agentdown.client.agents import agents_client
from agentdown.messages import Message
from agentdown.server import ServerSettings
from agentdown.testing.scripted import CallInfo, ToolCalls, tool_call

T = TypeVar("T")
POLL = 0.1
MARKER = re.compile(r"【\d+†[^】]*】")
TULIPS = "Tulips bloom in April in the Keukenhof gardens near Lisse."
ROCKETS = "The rocket engine burns liquid oxygen and kerosene at high pressure."
INCLUDE = [m.RunAdditionalFieldList.FILE_SEARCH_CONTENTS]


def reply(messages: list[Message], info: CallInfo) -> Any:
    last = messages[-1]
    if last.role == "tool":
        shown = "".join(r.text or "" for r in last.tool_results)
        found = MARKER.search(shown)
        return f"The answer{found.group(0)} is in the files." if found else "Nothing found."
    if "file_search" in [t.name for t in info.tools]:
        return ToolCalls(tool_call("file_search", {"query": last.text}))
    return "no search tool"


async def sync(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    return await asyncio.to_thread(fn, *args, **kwargs)


def served(tmp_path: Path, settings: ServerSettings | None = None) -> Any:
    app = write_app(tmp_path, {"plain.agent.md": agent_md("name: plain\ndescription: Plain.", "Answer.")})
    env = {"AGENTDOWN_DATA_DIR": str(tmp_path / "data"), "AGENTDOWN_INGEST_POLL_SECONDS": "0.2"}
    return live_server(app, reply, environ=env, settings=settings)


def upload(client: Any, name: str, text: str) -> Any:
    return client.files.upload_and_poll(
        file=text.encode(), purpose="assistants", filename=name, polling_interval=POLL
    )


def _store(client: Any) -> tuple[Any, Any, Any]:
    tulips = upload(client, "tulips.md", TULIPS)
    rockets = upload(client, "rockets.txt", ROCKETS)
    store = client.vector_stores.create_and_poll(file_ids=[tulips.id, rockets.id], polling_interval=POLL)
    assert store.file_counts.completed == 2
    return store, tulips, rockets


def run_to_end(client: Any, thread_id: str, agent_id: str, **fields: Any) -> Any:
    """``runs.create`` with raw overrides, polled to its end (``create_and_process`` takes a toolset)."""
    run = client.runs.create(thread_id=thread_id, agent_id=agent_id, **fields)
    while run.status in ("queued", "in_progress"):
        time.sleep(POLL)
        run = client.runs.get(thread_id=thread_id, run_id=run.id)
    return run


def _search_call(steps: list[Any]) -> Any:
    tool_steps = [s for s in steps if s.type == "tool_calls"]
    assert len(tool_steps) == 1
    (call,) = tool_steps[0].step_details.tool_calls
    assert call.type == "file_search"
    return call


async def test_file_search_run_steps_results_and_citations(tmp_path: Path) -> None:
    async with served(tmp_path) as live:
        client = agents_client(live.url)

        def scenario() -> None:
            store, tulips, _ = _store(client)
            tool = m.FileSearchTool(vector_store_ids=[store.id])
            agent = client.create_agent(
                model="fake-model",
                name="librarian",
                instructions="Answer from the files.",
                tools=tool.definitions,
                tool_resources=tool.resources,
            )
            thread = client.threads.create()
            client.messages.create(thread_id=thread.id, role="user", content="When do tulips bloom in April?")
            run = client.runs.create_and_process(
                thread_id=thread.id, agent_id=agent.id, polling_interval=POLL
            )
            assert run.status == "completed", run.last_error
            steps = list(client.run_steps.list(thread_id=thread.id, run_id=run.id, order="asc"))
            call = _search_call(steps)
            results = call.file_search.results
            assert results and results[0].file_id == tulips.id and results[0].file_name == "tulips.md"
            assert 0 <= results[0].score <= 1
            assert all(r.get("content") is None for r in results)  # text only when include[] asks
            assert call.file_search.ranking_options.score_threshold == 0
            with_text = list(
                client.run_steps.list(thread_id=thread.id, run_id=run.id, order="asc", include=INCLUDE)
            )
            first = _search_call(with_text).file_search.results[0]
            assert first.content[0].type == "text" and "Keukenhof" in first.content[0].text
            one = client.run_steps.get(
                thread_id=thread.id, run_id=run.id, step_id=steps[0].id, include=INCLUDE
            )
            assert (
                one.step_details.tool_calls[0].file_search.results[0].content[0].text == first.content[0].text
            )

            answer = client.messages.get_last_message_text_by_role(thread_id=thread.id, role="assistant")
            assert answer is not None
            (citation,) = answer.text.annotations
            assert citation.type == "file_citation"
            assert citation.file_citation.file_id == tulips.id
            assert "Keukenhof" in citation.file_citation.quote
            assert answer.text.value[citation.start_index : citation.end_index] == citation.text
            assert citation.text.startswith("【0†tulips.md")

        await sync(scenario)
        chat = [r.body for r in live.fake.requests if r.path.endswith("/chat/completions")]
        offered = [t["function"]["name"] for t in chat[0]["tools"]]
        assert offered == ["file_search"]
        tool_message = next(x for x in chat[-1]["messages"] if x["role"] == "tool")
        assert "【0†tulips.md】" in json.dumps(tool_message, ensure_ascii=False)


async def test_run_override_limits_and_include_on_stream(tmp_path: Path) -> None:
    async with served(tmp_path) as live:
        client = agents_client(live.url)

        def scenario() -> None:
            store, _, _ = _store(client)
            agent = client.create_agent(model="fake-model", name="plain", instructions="Answer.")
            thread = client.threads.create()
            client.messages.create(thread_id=thread.id, role="user", content="tulips rocket engine kerosene")
            tools = [{"type": "file_search", "file_search": {"max_num_results": 1}}]
            run = run_to_end(
                client,
                thread.id,
                agent.id,
                tools=tools,
                tool_resources=m.ToolResources(
                    file_search=m.FileSearchToolResource(vector_store_ids=[store.id])
                ),
            )
            assert run.status == "completed", run.last_error
            steps = list(client.run_steps.list(thread_id=thread.id, run_id=run.id))
            assert len(_search_call(steps).file_search.results) == 1

            client.messages.create(thread_id=thread.id, role="user", content="tulips")
            strict = [
                {
                    "type": "file_search",
                    "file_search": {"ranking_options": {"ranker": "auto", "score_threshold": 1.0}},
                }
            ]
            run = run_to_end(
                client,
                thread.id,
                agent.id,
                tools=strict,
                tool_resources={"file_search": {"vector_store_ids": [store.id]}},
            )
            steps = list(client.run_steps.list(thread_id=thread.id, run_id=run.id))
            call = _search_call(steps)
            assert call.file_search.ranking_options.score_threshold == 1.0
            assert all(r.score >= 1.0 for r in call.file_search.results)

            # Streamed with include[]: the step events carry the results' text.
            client.messages.create(thread_id=thread.id, role="user", content="When do tulips bloom?")
            seen: list[Any] = []

            class Handler(m.AgentEventHandler):  # type: ignore[type-arg]
                def on_run_step(self, step: Any) -> None:
                    if step.type == "tool_calls" and step.status == "completed":
                        seen.append(step)

            with client.runs.stream(
                thread_id=thread.id,
                agent_id=agent.id,
                tools=[{"type": "file_search"}],
                tool_resources={"file_search": {"vector_store_ids": [store.id]}},
                include=INCLUDE,
                event_handler=Handler(),
            ) as stream:
                stream.until_done()
            results = seen[0].step_details.tool_calls[0].file_search.results
            assert "Keukenhof" in results[0].content[0].text

        await sync(scenario)


@pytest.mark.parametrize(
    ("tools", "field"),
    [
        (
            [{"type": "file_search", "file_search": {"max_num_results": 0}}],
            "tools[0].file_search.max_num_results",
        ),
        (
            [{"type": "file_search", "file_search": {"max_num_results": 51}}],
            "tools[0].file_search.max_num_results",
        ),
        (
            [
                {
                    "type": "file_search",
                    "file_search": {"ranking_options": {"ranker": "auto", "score_threshold": 2}},
                }
            ],
            "tools[0].file_search.ranking_options.score_threshold",
        ),
        ([{"type": "file_search"}, {"type": "file_search"}], "tools[1].type"),
    ],
)
async def test_bad_definitions_are_refused(tmp_path: Path, tools: list[Any], field: str) -> None:
    async with served(tmp_path) as live:
        client = agents_client(live.url)

        def scenario() -> None:
            agent = client.create_agent(model="fake-model", name="plain")
            thread = client.threads.create()
            with pytest.raises(HttpResponseError) as caught:
                client.runs.create(thread_id=thread.id, agent_id=agent.id, tools=tools)
            assert caught.value.status_code == 400
            assert field in str(caught.value)

        await sync(scenario)


def _principal(oid: str) -> dict[str, str]:
    claims = [{"typ": "oid", "val": oid}, {"typ": "tid", "val": "t1"}]
    raw = json.dumps({"auth_typ": "aad", "claims": claims}).encode()
    return {"x-ms-client-principal": base64.b64encode(raw).decode()}


async def test_forged_and_foreign_store_ids_are_refused(tmp_path: Path) -> None:
    alice, bob = _principal("alice"), _principal("bob")
    settings = ServerSettings(port=0, trust_client_principal=True)
    async with served(tmp_path, settings) as live, aiohttp.ClientSession() as http:
        api = f"{live.url}/api/projects/p"
        form = aiohttp.FormData()
        form.add_field("purpose", "assistants")
        form.add_field("file", TULIPS.encode(), filename="secret.md")
        async with http.post(f"{api}/files", data=form, headers=alice) as response:
            file = await response.json()
        async with http.post(
            f"{api}/vector_stores", json={"file_ids": [file["id"]]}, headers=alice
        ) as response:
            store = await response.json()
        async with http.post(f"{api}/assistants", json={"model": "fake-model"}, headers=bob) as response:
            agent = await response.json()
        async with http.post(f"{api}/threads", json={}, headers=bob) as response:
            thread = await response.json()
        for ids in ([store["id"]], ["vs_forged0000000000000000"], ["../../etc"]):
            run = {
                "assistant_id": agent["id"],
                "tools": [{"type": "file_search"}],
                "tool_resources": {"file_search": {"vector_store_ids": ids}},
                "stream": False,
            }
            async with http.post(f"{api}/threads/{thread['id']}/runs", json=run, headers=bob) as response:
                answer = await response.json()
            assert response.status == 400, answer
            assert "tool_resources.file_search.vector_store_ids[0]" in answer["error"]["message"]
            assert "secret" not in json.dumps(answer)
        # The thread's resources are checked too, when it is created.
        bad_thread = {"tool_resources": {"file_search": {"vector_store_ids": [store["id"]]}}}
        async with http.post(f"{api}/threads", json=bad_thread, headers=bob) as response:
            answer = await response.json()
        assert response.status == 400, answer
        assert "tool_resources.file_search.vector_store_ids[0]" in answer["error"]["message"]
        # Alice's own run searches her store.
        async with http.post(f"{api}/assistants", json={"model": "fake-model"}, headers=alice) as response:
            mine = await response.json()
        async with http.post(f"{api}/threads", json=bad_thread, headers=alice) as response:
            own = await response.json()
        assert own["tool_resources"]["file_search"]["vector_store_ids"] == [store["id"]]
        run = {"assistant_id": mine["id"], "tools": [{"type": "file_search"}], "stream": False}
        async with http.post(f"{api}/threads/{own['id']}/runs", json=run, headers=alice) as response:
            assert response.status == 200, await response.text()


async def test_an_attachment_is_searched_without_a_prebuilt_store(tmp_path: Path) -> None:
    async with served(tmp_path) as live:
        client = agents_client(live.url)

        def scenario() -> None:
            rockets = upload(client, "rockets.txt", ROCKETS)
            notes = upload(client, "notes.txt", "kept for the code interpreter")
            agent = client.create_agent(
                model="fake-model", name="reader", tools=m.FileSearchTool().definitions
            )
            thread = client.threads.create()
            attachment = m.MessageAttachment(file_id=rockets.id, tools=m.FileSearchTool().definitions)
            code = m.MessageAttachment(file_id=notes.id, tools=[m.CodeInterpreterToolDefinition()])
            message = client.messages.create(
                thread_id=thread.id,
                role="user",
                content="What does the rocket engine burn?",
                attachments=[attachment, code],
            )
            assert [a.file_id for a in message.attachments] == [rockets.id, notes.id]
            thread = client.threads.get(thread.id)
            (store_id,) = thread.tool_resources.file_search.vector_store_ids
            store = client.vector_stores.get(store_id)
            assert store.expires_after.days == 7 and store.expires_after.anchor == "last_active_at"
            run = client.runs.create_and_process(
                thread_id=thread.id, agent_id=agent.id, polling_interval=POLL
            )
            assert run.status == "completed", run.last_error
            steps = list(client.run_steps.list(thread_id=thread.id, run_id=run.id))
            results = _search_call(steps).file_search.results
            assert [r.file_id for r in results] == [rockets.id]  # the code interpreter's file is not indexed
            answer = client.messages.get_last_message_text_by_role(thread_id=thread.id, role="assistant")
            assert answer is not None and answer.text.annotations[0].file_citation.file_id == rockets.id

            # A second attachment goes to the same thread store.
            client.messages.create(
                thread_id=thread.id,
                role="user",
                content="more",
                attachments=[m.MessageAttachment(file_id=notes.id, tools=m.FileSearchTool().definitions)],
            )
            again = client.threads.get(thread.id)
            assert again.tool_resources.file_search.vector_store_ids == [store_id]

            with pytest.raises(HttpResponseError) as caught:
                client.messages.create(
                    thread_id=thread.id,
                    role="user",
                    content="x",
                    attachments=[
                        m.MessageAttachment(
                            file_id="assistant-forged000000000000", tools=m.FileSearchTool().definitions
                        )
                    ],
                )
            assert caught.value.status_code == 404 and "assistant-forged" in str(caught.value)

        await sync(scenario)


async def test_attachments_of_additional_messages_and_of_a_new_thread(tmp_path: Path) -> None:
    async with served(tmp_path) as live:
        client = agents_client(live.url)

        def scenario() -> None:
            tulips = upload(client, "tulips.md", TULIPS)
            agent = client.create_agent(model="fake-model", name="r", tools=m.FileSearchTool().definitions)
            attach = [m.MessageAttachment(file_id=tulips.id, tools=m.FileSearchTool().definitions)]
            thread = client.threads.create()
            extra = m.ThreadMessageOptions(role="user", content="When do tulips bloom?", attachments=attach)
            run = run_to_end(client, thread.id, agent.id, additional_messages=[extra])
            assert run.status == "completed", run.last_error
            steps = list(client.run_steps.list(thread_id=thread.id, run_id=run.id))
            assert [r.file_id for r in _search_call(steps).file_search.results] == [tulips.id]

            run = client.create_thread_and_run(
                agent_id=agent.id,
                thread=m.AgentThreadCreationOptions(
                    messages=[m.ThreadMessageOptions(role="user", content="tulips April", attachments=attach)]
                ),
            )
            while run.status in ("queued", "in_progress"):
                time.sleep(POLL)
                run = client.runs.get(thread_id=run.thread_id, run_id=run.id)
            assert run.status == "completed", run.last_error
            steps = list(client.run_steps.list(thread_id=run.thread_id, run_id=run.id))
            assert [r.file_id for r in _search_call(steps).file_search.results] == [tulips.id]

        await sync(scenario)
