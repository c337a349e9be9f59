"""``image_file`` content blocks through the real azure-ai-agents SDK: an uploaded image shown to the model.

The message names the file; the run sends the model its bytes (a ``data:`` URI), read
when the run reads the thread. Guards: another principal's file, a forged id, a file
that is not an image, an ``image_url`` that tries to name a file, and a file deleted
after the message was sent (the model reads a note; the run completes).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any, TypeVar

import aiohttp
from azure.ai.agents import models as m
from serverkit import HELPER, Live, live_server, write_app

from agentdown.client.agents import agents_client
from agentdown.server import ServerSettings

T = TypeVar("T")

# A real 1x1 PNG.
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
)


async def sync(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    return await asyncio.to_thread(fn, *args, **kwargs)


@contextlib.asynccontextmanager
async def served(tmp_path: Path, settings: ServerSettings | None = None) -> AsyncIterator[Live]:
    app = write_app(tmp_path, {"helper.agent.md": HELPER})
    env = {"AGENTDOWN_DATA_DIR": str(tmp_path / "data")}
    async with live_server(app, environ=env, settings=settings) as live:
        yield live


def last_user_content(live: Live) -> Any:
    body = [r for r in live.fake.requests if r.path.endswith("/chat/completions")][-1].body
    return [x for x in body["messages"] if x["role"] == "user"][-1]["content"]


def image_block(file_id: str) -> m.MessageInputImageFileBlock:
    return m.MessageInputImageFileBlock(image_file=m.MessageImageFileParam(file_id=file_id, detail="high"))


async def test_an_uploaded_image_reaches_the_model_as_its_bytes(tmp_path: Path) -> None:
    async with served(tmp_path) as live:
        client = agents_client(live.url)
        image = await sync(client.files.upload, file=PNG, purpose="vision", filename="dot.png")
        blocks: list[m.MessageInputContentBlock] = [
            m.MessageInputTextBlock(text="what is this?"),
            image_block(image.id),
        ]
        thread = await sync(
            client.threads.create, messages=[m.ThreadMessageOptions(role="user", content=blocks)]
        )
        run = await sync(client.runs.create_and_process, thread_id=thread.id, agent_id="helper")
        assert run.status == "completed", run.last_error
        assert last_user_content(live) == [
            {"type": "text", "text": "what is this?"},
            {
                "type": "image_url",
                "image_url": {"url": "data:image/png;base64," + base64.b64encode(PNG).decode()},
            },
        ]
        # The thread keeps the file id, as the service shows it.
        listed = await sync(lambda: list(client.messages.list(thread.id)))
        user = next(x for x in listed if x.role == "user")
        assert user.content[1].type == "image_file"
        assert user.content[1].image_file.file_id == image.id

        # The same image in additional_messages of a second run; then the file is deleted,
        # and a third run reads a note where the image was.
        extra = m.ThreadMessageOptions(role="user", content=[image_block(image.id)])
        run = await sync(
            client.runs.create_and_process,
            thread_id=thread.id,
            agent_id="helper",
            additional_messages=[extra],
        )
        assert run.status == "completed", run.last_error
        assert last_user_content(live)[0]["image_url"]["url"].startswith("data:image/png;base64,")
        await sync(client.files.delete, image.id)
        await sync(client.messages.create, thread.id, role="user", content="and now?")
        run = await sync(client.runs.create_and_process, thread_id=thread.id, agent_id="helper")
        assert run.status == "completed", run.last_error
        body = [r for r in live.fake.requests if r.path.endswith("/chat/completions")][-1].body
        sent = json.dumps(body["messages"])
        assert f"[image file {image.id} was deleted and cannot be shown]" in sent
        assert "data:image/png" not in sent


async def test_image_file_blocks_name_only_the_callers_images(tmp_path: Path) -> None:
    settings = ServerSettings(port=0, trust_client_principal=True)
    async with served(tmp_path, settings) as live, aiohttp.ClientSession() as http:
        base = f"{live.url}/api/projects/p"
        alice = {"x-ms-client-principal": principal("alice")}
        bob = {"x-ms-client-principal": principal("bob")}

        async def upload(data: bytes, name: str, headers: dict[str, str]) -> str:
            form = aiohttp.FormData()
            form.add_field("purpose", "vision")
            form.add_field("file", data, filename=name)
            async with http.post(f"{base}/files", data=form, headers=headers) as r:
                assert r.status == 200, await r.text()
                return str((await r.json())["id"])

        alices = await upload(PNG, "dot.png", alice)
        text = await upload(b"not an image at all", "fake.png", bob)

        def message(file_id: str) -> dict[str, Any]:
            return {"role": "user", "content": [{"type": "image_file", "image_file": {"file_id": file_id}}]}

        async def post(
            path: str, body: dict[str, Any], headers: dict[str, str]
        ) -> tuple[int, dict[str, Any]]:
            async with http.post(base + path, json=body, headers=headers) as r:
                return r.status, await r.json()

        # Alice's file is a 404 to Bob wherever he names it, as a file that does not exist.
        status, answer = await post("/threads", {"messages": [message(alices)]}, bob)
        assert status == 404, answer
        assert answer["error"]["param"] == "messages[0].content[0].image_file.file_id"
        status, thread = await post("/threads", {}, bob)
        assert status == 200
        status, answer = await post(f"/threads/{thread['id']}/messages", message(alices), bob)
        assert status == 404 and answer["error"]["param"] == "content[0].image_file.file_id"
        run = {"assistant_id": "helper", "additional_messages": [message(alices)]}
        status, answer = await post(f"/threads/{thread['id']}/runs", run, bob)
        assert (
            status == 404
            and answer["error"]["param"] == "additional_messages[0].content[0].image_file.file_id"
        )
        both = {"assistant_id": "helper", "thread": {"messages": [message(alices)]}}
        status, answer = await post("/threads/runs", both, bob)
        assert (
            status == 404 and answer["error"]["param"] == "thread.messages[0].content[0].image_file.file_id"
        )
        # Forged ids of every shape are 404s too.
        for forged in ("", "assistant-../../x", "file_abc", "../" + alices):
            status, answer = await post(f"/threads/{thread['id']}/messages", message(forged), bob)
            assert status == 404, (forged, answer)
        # A file named .png that holds text is not an image.
        status, answer = await post(f"/threads/{thread['id']}/messages", message(text), bob)
        assert status == 400
        assert "is not a PNG, JPEG, GIF or WebP image" in answer["error"]["message"]
        # A file cannot be named through image_url either.
        by_url = {
            "role": "user",
            "content": [{"type": "image_url", "image_url": {"url": f"agentdown-file:{alices}"}}],
        }
        status, answer = await post(f"/threads/{thread['id']}/messages", by_url, bob)
        assert status == 400 and "expected an http(s) or data: URL" in answer["error"]["message"]
        # Nothing was written by the refused requests.
        async with http.get(f"{base}/threads/{thread['id']}/messages", headers=bob) as r:
            assert (await r.json())["data"] == []
        # Alice herself may show hers.
        status, answer = await post("/threads", {"messages": [message(alices)]}, alice)
        assert status == 200, answer


def principal(name: str) -> str:
    claims = {"auth_typ": "aad", "claims": [{"typ": "oid", "val": name}, {"typ": "tid", "val": "t"}]}
    return base64.b64encode(json.dumps(claims).encode()).decode()
