"""The Azure Functions agents runtime's session lines: one Agent Framework message per line.

Its blob history writes each message as ``json.dumps(Message.to_dict())`` on a line of
its own (Agent Framework's serialisation)::

    {"type": "message", "role": "user", "contents": [{"type": "text", "text": "hi"}], ...}

Contents are ``text``, ``text_reasoning``, ``function_call`` (``call_id``, ``name``,
``arguments`` as a JSON string or an object), ``function_result`` (``call_id``, ``result``,
``exception``), ``error``, ``uri`` and ``data``; older versions wrote the role as
``{"type": "role", "value": "user"}``. Other content types (usage, hosted files) carry
nothing a conversation replays and are left out when read.

agentdown's own per-message fields (metadata such as the session owner and a pending
turn's state, the creation time, a tool result's name) ride in ``additional_properties``
under ``agentdown.*`` keys, which Agent Framework keeps and ignores, so a session stays
readable by both runtimes. Turns are not stored: a turn starts at each user message.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, cast

from agentdown.messages import Content, Message, Role

__all__ = ["line_of", "message_of", "parse_lines", "split_turns"]

_ROLES = ("system", "user", "assistant", "tool")
_META = "agentdown.metadata"
_CREATED = "agentdown.created_at"
_NAME = "agentdown.name"


def _content_of(raw: dict[str, Any]) -> Content | None:
    kind = raw.get("type")
    if kind == "text":
        return Content.from_text(str(raw.get("text") or ""))
    if kind == "text_reasoning":
        return Content.from_reasoning(str(raw.get("text") or ""))
    if kind == "function_call":
        arguments = raw.get("arguments")
        parsed: dict[str, Any] | None = arguments if isinstance(arguments, dict) else None
        raw_arguments: str | None = None
        if isinstance(arguments, str):
            try:
                loaded = json.loads(arguments) if arguments.strip() else {}
            except ValueError:
                loaded = None
            parsed = loaded if isinstance(loaded, dict) else None
            raw_arguments = None if parsed is not None else arguments
        return Content.from_tool_call(
            str(raw.get("name") or ""), parsed, call_id=raw.get("call_id"), raw_arguments=raw_arguments
        )
    if kind == "function_result":
        exception = raw.get("exception")
        result = raw.get("result")
        text = (
            result if isinstance(result, str) else "" if result is None else json.dumps(result, default=str)
        )
        extra = raw.get("additional_properties") or {}
        return Content.from_tool_result(
            str(raw.get("call_id") or ""),
            str(exception) if exception and not text else text,
            name=extra.get(_NAME) if isinstance(extra, dict) else None,
            is_error=bool(exception),
        )
    if kind == "error":
        return Content.from_error(str(raw.get("message") or raw.get("text") or ""), raw.get("error_code"))
    if kind in ("uri", "data") and isinstance(raw.get("uri"), str):
        return Content.from_uri(raw["uri"], raw.get("media_type"))
    return None


def message_of(raw: dict[str, Any]) -> Message:
    """Our :class:`Message` for one line's object (``ValueError`` when it is not a message)."""
    role = raw.get("role")
    if isinstance(role, dict):
        role = role.get("value")
    if role not in _ROLES:
        raise ValueError(f"not a message: role {role!r}")
    contents = [
        c for c in (_content_of(item) for item in raw.get("contents") or [] if isinstance(item, dict)) if c
    ]
    props = raw.get("additional_properties")
    extra: dict[str, Any] = props if isinstance(props, dict) else {}
    message = Message(role=cast(Role, role), contents=contents, author_name=raw.get("author_name"))
    if isinstance(raw.get("message_id"), str) and raw["message_id"]:
        message.message_id = raw["message_id"]
    if isinstance(extra.get(_META), dict):
        message.metadata = dict(extra[_META])
    if isinstance(extra.get(_CREATED), int | float):
        message.created_at = float(extra[_CREATED])
    return message


def _content_line(content: Content) -> dict[str, Any]:
    if content.type == "text":
        return {"type": "text", "text": content.text or ""}
    if content.type == "reasoning":
        return {"type": "text_reasoning", "text": content.text or ""}
    if content.type == "tool_call":
        arguments = content.raw_arguments if content.arguments is None else content.arguments
        return {
            "type": "function_call",
            "call_id": content.call_id,
            "name": content.name,
            "arguments": arguments if arguments is not None else {},
        }
    if content.type == "tool_result":
        out: dict[str, Any] = {"type": "function_result", "call_id": content.call_id, "result": content.text}
        if content.is_error:
            out["exception"] = content.text
        if content.name:
            out["additional_properties"] = {_NAME: content.name}
        return out
    if content.type == "error":
        return {"type": "error", "message": content.text or "", "error_code": content.error_code}
    uri = content.data_uri or ""
    return {
        "type": "data" if uri.startswith("data:") else "uri",
        "uri": uri,
        "media_type": content.media_type,
    }


def line_of(message: Message) -> str:
    """One line (without its newline) for ``message``, in Agent Framework's shape."""
    extra: dict[str, Any] = {_CREATED: message.created_at}
    if message.metadata:
        extra[_META] = message.metadata
    out: dict[str, Any] = {
        "type": "message",
        "role": message.role,
        "contents": [_content_line(c) for c in message.contents],
        "message_id": message.message_id,
        "additional_properties": extra,
    }
    if message.author_name is not None:
        out["author_name"] = message.author_name
    # json.dumps escapes newlines inside strings, so one message is always one line.
    return json.dumps(out, ensure_ascii=False, default=str)


def parse_lines(text: str, where: str) -> list[Message]:
    """Every message of a session blob; ``ValueError`` naming the line for one that is not."""
    messages = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line:
            continue
        try:
            payload = json.loads(line)
            if not isinstance(payload, dict):
                raise ValueError("not a JSON object")
            messages.append(message_of(payload))
        except ValueError as exc:
            raise ValueError(f"{where}: line {number} is not a session message: {exc}") from None
    return messages


def split_turns(messages: Sequence[Message]) -> list[list[Message]]:
    """Messages grouped into turns: each user message starts one (tool results never do)."""
    turns: list[list[Message]] = []
    for message in messages:
        starts = message.role == "user" and not message.tool_results
        if starts or not turns:
            turns.append([message])
        else:
            turns[-1].append(message)
    return turns
