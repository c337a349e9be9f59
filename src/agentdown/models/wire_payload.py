"""The request body as bytes, with each long history message encoded once, not on every request.

A conversation sends its history again with every request, and encoding that history
to JSON is most of what a request costs the client once the history is long. A stored
message never changes and the session store hands out copies that share its strings,
so the JSON of a one-text message is kept, keyed by the identity of its text (the entry
holds the string, so the key cannot be reused while it lives), and the body is the
encoded options with the messages' fragments spliced in. The bytes are what encoding
the whole body at once would give, up to key order.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from agentdown.messages import Message
from agentdown.models.base import ChatOptions, ToolDefinition
from agentdown.models.wire import build_request_body, message_to_openai

__all__ = ["encode_json", "request_payload"]

_TEXT_ROLES = frozenset(("system", "user", "assistant"))
_CACHED_FROM = 200
"""Texts shorter than this are encoded each time: cheaper than keeping them."""
_MAX_CACHED_BYTES = 32 * 2**20
_fragments: dict[int, tuple[str, str, bytes]] = {}
_cached_bytes = 0


def encode_json(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def _fragment(message: Message) -> bytes:
    contents = message.contents
    role = message.role
    if len(contents) == 1 and role in _TEXT_ROLES and contents[0].type == "text":
        text = contents[0].text or ""
        if len(text) < _CACHED_FROM:
            return encode_json({"role": role, "content": text})
        hit = _fragments.get(id(text))
        if hit is not None and hit[1] is text and hit[0] == role:
            return hit[2]
        encoded = encode_json({"role": role, "content": text})
        _remember(id(text), (role, text, encoded))
        return encoded
    return b",".join(encode_json(part) for part in message_to_openai(message))


def _remember(key: int, entry: tuple[str, str, bytes]) -> None:
    global _cached_bytes
    if _cached_bytes + len(entry[2]) > _MAX_CACHED_BYTES:
        # Simple and bounded: forget everything (the next requests encode their history once again).
        _fragments.clear()
        _cached_bytes = 0
    _fragments[key] = entry
    _cached_bytes += len(entry[2])


def request_payload(
    model: str,
    messages: Sequence[Message],
    tools: Sequence[ToolDefinition],
    options: ChatOptions | None,
    *,
    stream: bool,
    max_tokens_field: str = "max_completion_tokens",
) -> tuple[str, bytes]:
    """``(model, body bytes)`` of the chat-completions request (:func:`build_request_body`'s body)."""
    if options is not None and options.extra_body and "messages" in options.extra_body:
        body = build_request_body(
            model, messages, tools, options, stream=stream, max_tokens_field=max_tokens_field
        )
        return str(body["model"]), encode_json(body)
    body = build_request_body(model, (), tools, options, stream=stream, max_tokens_field=max_tokens_field)
    del body["messages"]
    head = encode_json(body)
    history = b",".join(_fragment(m) for m in messages)
    return str(body["model"]), head[:-1] + b',"messages":[' + history + b"]}"
