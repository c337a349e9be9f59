"""The API objects a run writes and reads: thread messages, and their conversion to :class:`Message`.

Routes (user messages) and runs (assistant messages) build thread messages with the
same function, so every message has one shape whoever wrote it.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any, Literal

from agentdown.messages import Content, Message
from agentdown.runtime.agents_api.ids import PREFIXES, new_record_id

__all__ = ["FILE_URI", "message_object", "now", "text_block", "thread_object", "to_model_message"]

FILE_URI = "agentdown-file:"
"""How an ``image_file`` block reaches the run, which reads the file (``images.resolve_images``)."""


def now() -> int:
    """Unix seconds, the API's timestamps."""
    return int(time.time())


def text_block(value: str) -> dict[str, Any]:
    """A stored text content block."""
    return {"type": "text", "text": {"value": value, "annotations": []}}


def thread_object(
    metadata: Mapping[str, str] | None = None, tool_resources: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """A ``thread`` body."""
    return {
        "id": new_record_id(PREFIXES["thread"]),
        "object": "thread",
        "created_at": now(),
        "metadata": dict(metadata or {}),
        "tool_resources": dict(tool_resources or {}),
    }


def message_object(
    thread_id: str,
    role: str,
    content: Sequence[dict[str, Any]],
    *,
    assistant_id: str | None = None,
    run_id: str | None = None,
    attachments: Sequence[dict[str, Any]] = (),
    metadata: Mapping[str, str] | None = None,
    status: str = "completed",
    message_id: str | None = None,
) -> dict[str, Any]:
    """A ``thread.message`` body; ``content`` is already in stored block form (see :func:`text_block`)."""
    created = now()
    return {
        "id": message_id or new_record_id(PREFIXES["message"]),
        "object": "thread.message",
        "created_at": created,
        "thread_id": thread_id,
        "status": status,
        "completed_at": created if status == "completed" else None,
        "role": role,
        "content": list(content),
        "assistant_id": assistant_id,
        "run_id": run_id,
        "attachments": list(attachments),
        "metadata": dict(metadata or {}),
    }


def to_model_message(body: Mapping[str, Any]) -> Message:
    """What the model reads of a stored thread message."""
    contents: list[Content] = []
    assistant = body.get("role") == "assistant"
    for block in body.get("content") or []:
        kind = block.get("type")
        if kind == "text":
            contents.append(Content.from_text(str(block["text"]["value"])))
        elif kind == "image_url":
            contents.append(Content.from_uri(str(block["image_url"]["url"])))
        elif kind == "image_file" and assistant:
            # An image a run made (a code interpreter chart): chat models take no images in
            # assistant turns, and the code that made it is in the conversation already.
            contents.append(Content.from_text(f"\n[image file {block['image_file']['file_id']}]"))
        elif kind == "image_file":
            # Stored only after the file was found to be the caller's image; the run reads its bytes.
            contents.append(Content.from_uri(FILE_URI + str(block["image_file"]["file_id"])))
    role: Literal["assistant", "user"] = "assistant" if assistant else "user"
    created = body.get("created_at")
    message = Message(role=role, contents=contents, message_id=str(body.get("id") or new_record_id("msg")))
    if isinstance(created, int | float):
        message.created_at = float(created)
    return message
