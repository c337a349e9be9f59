"""The real azure-ai-agents SDK (sync) against a live server: assistants, threads, messages, paging."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from agentskit import APP_IDS, live_api
from azure.ai.agents.models import (
    ConnectedAgentTool,
    FunctionTool,
    MessageImageUrlParam,
    MessageInputImageUrlBlock,
    MessageInputTextBlock,
    ThreadMessageOptions,
)
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError

from agentdown.client import agents_client
from agentdown.runtime.agents_api.objects import message_object, text_block


def add(a: int, b: int) -> int:
    """Add two numbers.

    :param a: The first number.
    :param b: The second number.
    """
    return a + b


def assistants_scenario(url: str) -> None:
    client = agents_client(url)

    # The app's agents are assistants, read-only, with their server-side tools.
    listed = list(client.list_agents(order="asc"))
    assert [a.id for a in listed] == APP_IDS
    helper = client.get_agent("helper")  # the bare slug finds it too
    assert helper.id == "asst_app_helper"
    assert (helper.name, helper.description, helper.model) == ("Helper", "Helps with anything.", "scripted")
    assert helper.instructions == "Be helpful. Use lookup for weather."
    assert helper.metadata["agentdown_source"] == "app"
    assert helper.metadata["agentdown_file"] == "helper.agent.md"
    assert helper.metadata["agentdown_tools"] == "server-side"
    lookup, delegate = helper.tools
    assert lookup.type == "function" and lookup.function.name == "lookup"
    assert lookup.function.parameters["properties"]["city"]["type"] == "string"
    assert delegate.type == "connected_agent"
    assert delegate.connected_agent.id == "asst_app_sorter"
    assert delegate.connected_agent.name == "delegate_sorter"
    sorter = client.get_agent("asst_app_sorter")
    assert sorter.model == "sorter-model"
    assert sorter.response_format["type"] == "json_schema"
    assert sorter.response_format["json_schema"]["schema"]["required"] == ["items"]
    with pytest.raises(HttpResponseError, match="edit the file instead") as refused:
        client.update_agent("asst_app_helper", name="Renamed")
    assert refused.value.status_code == 400
    with pytest.raises(HttpResponseError, match=r"defined by the file helper\.agent\.md"):
        client.delete_agent("helper")
    assert client.get_agent("helper").name == "Helper"

    # Stored assistants: create, get, update (only what is sent changes), delete.
    functions = FunctionTool({add})
    created = client.create_agent(
        model="gpt-4o",
        name="Math",
        instructions="Add numbers.",
        tools=functions.definitions,
        temperature=0.5,
        metadata={"team": "numbers"},
    )
    assert created.id.startswith("asst_") and not created.id.startswith("asst_app_")
    fetched = client.get_agent(created.id)
    assert fetched.as_dict() == created.as_dict()
    assert fetched.tools[0].function.name == "add"
    assert fetched.tools[0].function.parameters == functions.definitions[0].function.parameters
    assert fetched.temperature == 0.5 and fetched.metadata == {"team": "numbers"}
    assert "top_p" not in fetched.as_dict(), "nulls are left out"
    updated = client.update_agent(created.id, name="Math 2", metadata={"team": "n2"})
    assert (updated.name, updated.instructions, updated.model) == ("Math 2", "Add numbers.", "gpt-4o")
    assert client.get_agent(created.id).metadata == {"team": "n2"}

    # connected_agent must name an assistant that exists.
    connected = ConnectedAgentTool(id="asst_app_sorter", name="sort", description="Sorts lists.")
    delegating = client.create_agent(model="m", name="Boss", tools=connected.definitions)
    assert delegating.tools[0].connected_agent.id == "asst_app_sorter"
    missing = ConnectedAgentTool(id="asst_nope", name="nope", description="d")
    with pytest.raises(
        HttpResponseError, match=r"tools\[0\]\.connected_agent\.id: no assistant with id 'asst_nope'"
    ):
        client.create_agent(model="m", tools=missing.definitions)

    # Tools that do not run here are refused, naming the type.
    for kind in ("bing_grounding", "sharepoint_grounding"):
        with pytest.raises(HttpResponseError, match=f"tool type '{kind}'") as bad:
            client.create_agent(body={"model": "m", "tools": [{"type": kind, kind: {}}]})
        assert bad.value.status_code == 400
    with pytest.raises(
        HttpResponseError, match=r"tool_resources\.file_search\.vector_store_ids\[0\]: no vector store 'vs_1'"
    ):
        client.create_agent(
            body={"model": "m", "tool_resources": {"file_search": {"vector_store_ids": ["vs_1"]}}}
        )

    # Resources of a tool there is not, even empty ones: a typo is not silently kept.
    for resources in ({"bing_grounding": {}}, {"file_serach": {"vector_store_ids": []}}, {"x": None}):
        with pytest.raises(HttpResponseError, match=r"tool_resources\.\w+: the '\w+' tool") as bad:
            client.create_agent(body={"model": "m", "tool_resources": resources})
        assert bad.value.status_code == 400
    with pytest.raises(HttpResponseError, match=r"tools: input should be a valid list") as bad:
        client.create_agent(body={"model": "m", "tools": 0})

    # Lists: app agents first, then stored ones by creation; desc is the reverse, at any page size.
    extra = [client.create_agent(model="m", name=f"n{i}").id for i in range(3)]
    expected = [*APP_IDS, created.id, delegating.id, *extra]
    assert [a.id for a in client.list_agents(order="asc", limit=2)] == expected
    assert [a.id for a in client.list_agents(limit=3)] == expected[::-1]
    assert [a.id for a in client.list_agents(order="asc", limit=1, before=created.id)] == APP_IDS
    assert [a.id for a in client.list_agents(order="desc", limit=2, before=APP_IDS[1])] == expected[2:][::-1]
    assert [a.id for a in client.list_agents(order="desc", before=APP_IDS[0])] == expected[1:][::-1]

    client.delete_agent(created.id)
    with pytest.raises(ResourceNotFoundError):
        client.get_agent(created.id)
    with pytest.raises(ResourceNotFoundError):
        client.delete_agent(created.id)
    with pytest.raises(ResourceNotFoundError):
        client.update_agent("asst_missing", name="x")


async def test_assistants(tmp_path: Path) -> None:
    async with live_api(tmp_path) as live:
        await asyncio.to_thread(assistants_scenario, live.url)
        stored = [k for k in live.store.records if k[0] == "assistant"]
        assert len(stored) == 4, "the deleted one is gone; app agents are never stored"


def threads_scenario(url: str) -> str:
    client = agents_client(url, project="any-project-name")
    thread = client.threads.create(
        messages=[
            ThreadMessageOptions(role="user", content="Hello"),
            ThreadMessageOptions(
                role="assistant",
                content=[
                    MessageInputTextBlock(text="Look:"),
                    MessageInputImageUrlBlock(
                        image_url=MessageImageUrlParam(url="https://example.com/cat.png", detail="low")
                    ),
                ],
            ),
        ],
        metadata={"topic": "cats"},
    )
    assert thread.id.startswith("thread_") and thread.metadata == {"topic": "cats"}
    first, second = client.messages.list(thread.id, order="asc")
    assert (first.role, first.text_messages[0].text.value) == ("user", "Hello")
    assert first.thread_id == thread.id and first.status == "completed"
    assert second.role == "assistant"
    assert second.content[0].as_dict() == {"type": "text", "text": {"value": "Look:", "annotations": []}}
    assert second.content[1].as_dict() == {
        "type": "image_url",
        "image_url": {"url": "https://example.com/cat.png", "detail": "low"},
    }

    note = client.messages.create(thread.id, role="user", content="More", metadata={"k": "v"})
    assert client.messages.get(thread.id, note.id).metadata == {"k": "v"}
    client.messages.update(thread.id, note.id, metadata={"k": "w"})
    assert client.messages.get(thread.id, note.id).metadata == {"k": "w"}
    assert client.messages.get(thread.id, note.id).text_messages[0].text.value == "More"
    assert [m.id for m in client.messages.list(thread.id)] == [note.id, second.id, first.id]

    client.threads.update(thread.id, metadata={"topic": "dogs"})
    assert client.threads.get(thread.id).metadata == {"topic": "dogs"}
    other = client.threads.create()
    assert [t.id for t in client.threads.list()] == [other.id, thread.id]

    with pytest.raises(ResourceNotFoundError):
        client.messages.get(thread.id, "msg_missing")
    with pytest.raises(ResourceNotFoundError):
        client.messages.create("thread_missing", role="user", content="hi")
    with pytest.raises(ResourceNotFoundError):
        client.threads.get("thread_missing")
    return thread.id


def run_messages_scenario(url: str, thread_id: str, run_message_id: str) -> None:
    client = agents_client(url)
    assert [m.id for m in client.messages.list(thread_id, run_id="run_1")] == [run_message_id]
    assert client.messages.get(thread_id, run_message_id).run_id == "run_1"
    assert len(list(client.messages.list(thread_id))) == 4
    client.threads.delete(thread_id)
    with pytest.raises(ResourceNotFoundError):
        client.threads.get(thread_id)
    with pytest.raises(ResourceNotFoundError):
        list(client.messages.list(thread_id))
    with pytest.raises(ResourceNotFoundError):
        client.threads.delete(thread_id)


async def test_threads_and_messages(tmp_path: Path) -> None:
    async with live_api(tmp_path) as live:
        thread_id = await asyncio.to_thread(threads_scenario, live.url)
        # A run wrote a message, and has a step: written the way the run executor writes them.
        written = message_object(
            thread_id, "assistant", [text_block("Done.")], run_id="run_1", assistant_id="a"
        )
        await live.store.create("message", thread_id, written["id"], written)
        await live.store.create("run", thread_id, "run_1", {"id": "run_1", "object": "thread.run"})
        await live.store.create("step", "run_1", "step_1", {"id": "step_1", "object": "thread.run.step"})
        await asyncio.to_thread(run_messages_scenario, live.url, thread_id, written["id"])
        assert [k for k in live.store.records if thread_id in k or "run_1" in k] == [], (
            "deleting a thread removes its messages, runs and their steps"
        )


def paging_scenario(url: str, thread_id: str, ids: list[str]) -> None:
    client = agents_client(url)
    assert [m.id for m in client.messages.list(thread_id, order="asc")] == ids
    assert [m.id for m in client.messages.list(thread_id, order="desc", limit=100)] == ids[::-1]
    assert [m.id for m in client.messages.list(thread_id, order="asc", limit=100)] == ids
    assert [m.id for m in client.messages.list(thread_id, limit=7, before=ids[10])] == ids[11:][::-1]
    values = [m.text_messages[0].text.value for m in client.messages.list(thread_id, order="asc", limit=33)]
    assert values == [f"m{i}" for i in range(120)]


async def test_paging_over_more_than_a_hundred(tmp_path: Path) -> None:
    async with live_api(tmp_path) as live:
        thread = await asyncio.to_thread(lambda: agents_client(live.url).threads.create())
        ids = []
        for i in range(120):
            written = message_object(thread.id, "user", [text_block(f"m{i}")])
            await live.store.create("message", thread.id, written["id"], written)
            ids.append(written["id"])
        await asyncio.to_thread(paging_scenario, live.url, thread.id, ids)
