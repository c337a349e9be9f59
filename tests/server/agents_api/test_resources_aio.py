"""The real azure-ai-agents SDK (asyncio client) against a live server."""

from __future__ import annotations

from pathlib import Path

import pytest
from agentskit import APP_IDS, live_api
from azure.ai.agents.models import MessageInputTextBlock, ThreadMessageOptions
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError

from agentdown.client import agents_client
from agentdown.runtime.agents_api.objects import message_object, text_block


async def test_assistants_threads_and_messages_with_the_aio_client(tmp_path: Path) -> None:
    async with live_api(tmp_path) as live, agents_client(live.url, aio=True) as client:
        assert [a.id async for a in client.list_agents(order="asc", limit=1)] == APP_IDS
        helper = await client.get_agent("asst_app_helper")
        assert helper.tools[0].function.name == "lookup"

        created = await client.create_agent(model="gpt-4o", name="A", instructions="Be brief.")
        assert (await client.get_agent(created.id)).instructions == "Be brief."
        updated = await client.update_agent(created.id, instructions="Be very brief.")
        assert (updated.name, updated.instructions) == ("A", "Be very brief.")
        assert [a.id async for a in client.list_agents()] == [created.id, *APP_IDS[::-1]]
        await client.delete_agent(created.id)
        with pytest.raises(ResourceNotFoundError):
            await client.get_agent(created.id)

        thread = await client.threads.create(
            messages=[ThreadMessageOptions(role="user", content=[MessageInputTextBlock(text="Hi")])]
        )
        (first,) = [m async for m in client.messages.list(thread.id)]
        assert first.text_messages[0].text.value == "Hi"
        second = await client.messages.create(thread.id, role="assistant", content="Hello!")
        await client.messages.update(thread.id, second.id, metadata={"seen": "yes"})
        assert (await client.messages.get(thread.id, second.id)).metadata == {"seen": "yes"}

        ids = [first.id, second.id]
        for i in range(105):
            written = message_object(thread.id, "user", [text_block(f"m{i}")])
            await live.store.create("message", thread.id, written["id"], written)
            ids.append(written["id"])
        assert [m.id async for m in client.messages.list(thread.id, order="asc", limit=100)] == ids
        assert [m.id async for m in client.messages.list(thread.id)] == ids[::-1]

        with pytest.raises(HttpResponseError, match=r"content: must not be empty") as bad:
            await client.messages.create(thread.id, role="user", content="")
        assert bad.value.status_code == 400
        await client.threads.delete(thread.id)
        with pytest.raises(ResourceNotFoundError):
            await client.threads.get(thread.id)
        assert not [k for k in live.store.records if k[1] == thread.id]
