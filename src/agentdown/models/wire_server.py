"""OpenAI chat-completions JSON to our messages and back, server side.

The mirror image of :mod:`agentdown.models.wire`: used by the loopback fake model
server and by the server's OpenAI-compatible ``/v1/chat/completions``
(:mod:`agentdown.server.openai_api`), so both shape bodies, chunks and options the
same way. The server may import this module; this module never imports the server.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator, Mapping
from typing import Any

from agentdown.messages import Content, Message, Usage, new_id
from agentdown.models.base import ChatOptions, ChatResponse, ToolDefinition

__all__ = [
    "chunk_to_openai",
    "completion_body",
    "completion_to_openai",
    "messages_from_openai",
    "option_fields",
    "options_from_openai",
    "split_text",
    "stream_chunks_to_openai",
    "tools_from_openai",
    "usage_chunk_to_openai",
    "usage_to_openai",
]

_AUDIO_MEDIA_TYPES = {"wav": "audio/wav", "mp3": "audio/mpeg"}
_REQUEST_KEYS = frozenset({"messages", "tools", "stream", "stream_options"})


def _text_of(content: Any) -> str:
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    return "".join(
        part.get("text") or part.get("refusal") or ""
        for part in content
        if isinstance(part, dict) and part.get("type") in ("text", "refusal")
    )


def _part_to_content(part: dict[str, Any]) -> Content:
    kind = part.get("type")
    if kind == "text":
        return Content.from_text(part.get("text") or "")
    if kind == "image_url":
        image = part.get("image_url") or {}
        return Content.from_uri(image.get("url") or "", media_type="image/*")
    if kind == "input_audio":
        audio = part.get("input_audio") or {}
        media_type = _AUDIO_MEDIA_TYPES.get(audio.get("format") or "", "audio/wav")
        return Content.from_data(base64.b64decode(audio.get("data") or ""), media_type)
    if kind == "file":
        file = part.get("file") or {}
        content = Content.from_uri(file.get("file_data") or file.get("file_id") or "")
        if file.get("filename"):
            content.additional_properties["filename"] = file["filename"]
        return content
    raise ValueError(f"unsupported content part type {kind!r}")


def _parse_arguments(raw: str) -> tuple[dict[str, Any] | None, str | None]:
    if not raw.strip():
        return {}, None
    try:
        parsed = json.loads(raw)
    except ValueError:
        return None, raw
    return (parsed, None) if isinstance(parsed, dict) else (None, raw)


def messages_from_openai(raw_messages: list[dict[str, Any]]) -> list[Message]:
    """OpenAI request messages as ours; consecutive tool messages become one ``tool`` message."""
    out: list[Message] = []
    names: dict[str, str] = {}
    for raw in raw_messages:
        role = raw.get("role")
        content = raw.get("content")
        if role in ("system", "developer"):
            out.append(Message.system(_text_of(content)))
        elif role == "user":
            if isinstance(content, list):
                out.append(Message(role="user", contents=[_part_to_content(p) for p in content]))
            else:
                out.append(Message.user(content or ""))
        elif role == "assistant":
            contents: list[Content] = []
            reasoning = raw.get("reasoning_content") or raw.get("reasoning")
            if isinstance(reasoning, str) and reasoning:
                contents.append(Content.from_reasoning(reasoning))
            text = _text_of(content)
            if text:
                contents.append(Content.from_text(text))
            for call in raw.get("tool_calls") or []:
                function = call.get("function") or {}
                arguments, raw_arguments = _parse_arguments(function.get("arguments") or "")
                name = function.get("name") or ""
                names[call.get("id") or ""] = name
                contents.append(Content.from_tool_call(name, arguments, call.get("id"), raw_arguments))
            out.append(Message(role="assistant", contents=contents))
        elif role == "tool":
            call_id = raw.get("tool_call_id") or ""
            result = Content.from_tool_result(call_id, _text_of(content), name=names.get(call_id))
            if out and out[-1].role == "tool":
                out[-1].contents.append(result)
            else:
                out.append(Message(role="tool", contents=[result]))
        else:
            raise ValueError(f"unsupported message role {role!r}")
    return out


def tools_from_openai(raw_tools: list[dict[str, Any]] | None) -> list[ToolDefinition]:
    tools: list[ToolDefinition] = []
    for raw in raw_tools or []:
        function = raw.get("function") or {}
        tools.append(
            ToolDefinition(
                name=function.get("name") or "",
                description=function.get("description") or "",
                parameters=function.get("parameters") or {"type": "object", "properties": {}},
            )
        )
    return tools


def option_fields(body: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Request keys as :class:`ChatOptions` field values, and the keys with no field (for ``extra_body``).

    ``max_completion_tokens`` (or the older ``max_tokens``) is ``max_output_tokens``, a
    string ``stop`` becomes a list, an object ``tool_choice`` (a named function) has no
    field and goes to the extras. The request's own keys (``messages``, ``tools``,
    ``stream``...) are the caller's to leave out.
    """
    fields: dict[str, Any] = {}
    extra: dict[str, Any] = {}
    for key, value in body.items():
        if key in ("max_completion_tokens", "max_tokens"):
            continue
        if key == "stop":
            fields["stop"] = (
                [value] if isinstance(value, str) else (list(value) if value is not None else None)
            )
        elif key == "tool_choice" and not isinstance(value, str):
            extra[key] = value
        elif key in ChatOptions.__dataclass_fields__ and key != "extra_body":
            fields[key] = value
        else:
            extra[key] = value
    for key in ("max_tokens", "max_completion_tokens"):  # the newer name wins when both are set
        if body.get(key) is not None:
            fields["max_output_tokens"] = body[key]
    return fields, extra


def options_from_openai(body: dict[str, Any]) -> ChatOptions:
    """The request's options; keys we have no field for land in ``extra_body``."""
    fields, extra = option_fields({k: v for k, v in body.items() if k not in _REQUEST_KEYS})
    return ChatOptions(**fields, extra_body=extra)


def _message_to_openai(response: ChatResponse) -> dict[str, Any]:
    message = response.message
    out: dict[str, Any] = {"role": "assistant", "content": message.text or None, "refusal": None}
    reasoning = "".join(c.text or "" for c in message.contents if c.type == "reasoning")
    if reasoning:
        out["reasoning_content"] = reasoning
    calls = message.tool_calls
    if calls:
        out["tool_calls"] = [
            {
                "id": call.call_id,
                "type": "function",
                "function": {"name": call.name, "arguments": _arguments_text(call)},
            }
            for call in calls
        ]
    return out


def _arguments_text(call: Content) -> str:
    if call.arguments is not None:
        return json.dumps(call.arguments, ensure_ascii=False)
    return call.raw_arguments or "{}"


def _finish_reason(response: ChatResponse) -> str:
    if response.finish_reason:
        return response.finish_reason
    return "tool_calls" if response.message.tool_calls else "stop"


def usage_to_openai(usage: Usage) -> dict[str, Any]:
    """OpenAI's ``usage`` object (the total is the sum when the model did not give one)."""
    return {
        "prompt_tokens": usage.input_tokens,
        "completion_tokens": usage.output_tokens,
        "total_tokens": usage.total_tokens or usage.input_tokens + usage.output_tokens,
    }


def completion_body(
    completion_id: str, created: int, model: str, message: dict[str, Any], finish_reason: str, usage: Usage
) -> dict[str, Any]:
    """A ``chat.completion`` object around one choice's ``message``."""
    return {
        "id": completion_id,
        "object": "chat.completion",
        "created": created,
        "model": model,
        "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": finish_reason}],
        "usage": usage_to_openai(usage),
        "system_fingerprint": None,
    }


def completion_to_openai(response: ChatResponse, model: str, created: int | None = None) -> dict[str, Any]:
    """A non-streamed response shaped like the real API's."""
    return completion_body(
        response.response_id or new_id("chatcmpl"),
        created if created is not None else int(time.time()),
        response.model or model,
        _message_to_openai(response),
        _finish_reason(response),
        response.usage,
    )


def chunk_to_openai(
    completion_id: str,
    created: int,
    model: str,
    delta: dict[str, Any],
    finish_reason: str | None = None,
    *,
    include_usage: bool,
) -> dict[str, Any]:
    """One ``chat.completion.chunk``; with ``include_usage`` it carries ``usage: null`` as OpenAI's do."""
    out: dict[str, Any] = {
        "id": completion_id,
        "object": "chat.completion.chunk",
        "created": created,
        "model": model,
        "system_fingerprint": None,
        "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}],
    }
    if include_usage:
        out["usage"] = None
    return out


def usage_chunk_to_openai(completion_id: str, created: int, model: str, usage: Usage) -> dict[str, Any]:
    """The last chunk of a stream asked for ``stream_options.include_usage``: no choices, the usage."""
    final = chunk_to_openai(completion_id, created, model, {}, include_usage=True)
    final["choices"] = []
    final["usage"] = usage_to_openai(usage)
    return final


def split_text(text: str, size: int) -> list[str]:
    """``text`` in pieces of at most ``size`` characters (at least one piece)."""
    if size <= 0 or len(text) <= size:
        return [text]
    return [text[i : i + size] for i in range(0, len(text), size)]


def stream_chunks_to_openai(
    response: ChatResponse,
    model: str,
    *,
    include_usage: bool,
    fragment_size: int = 8,
    created: int | None = None,
) -> Iterator[dict[str, Any]]:
    """The chunks OpenAI would stream for ``response``: role, deltas, finish, usage."""
    response_id = response.response_id or new_id("chatcmpl")
    stamp = created if created is not None else int(time.time())
    model_name = response.model or model

    def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        return chunk_to_openai(response_id, stamp, model_name, delta, finish, include_usage=include_usage)

    yield chunk({"role": "assistant", "content": "", "refusal": None})
    for content in response.message.contents:
        if content.type == "reasoning" and content.text:
            for piece in split_text(content.text, fragment_size):
                yield chunk({"reasoning_content": piece})
    text = response.message.text
    if text:
        for piece in split_text(text, fragment_size):
            yield chunk({"content": piece})
    for index, call in enumerate(response.message.tool_calls):
        pieces = split_text(_arguments_text(call), fragment_size)
        yield chunk(
            {
                "tool_calls": [
                    {
                        "index": index,
                        "id": call.call_id,
                        "type": "function",
                        "function": {"name": call.name, "arguments": ""},
                    }
                ]
            }
        )
        for piece in pieces:
            yield chunk({"tool_calls": [{"index": index, "function": {"arguments": piece}}]})
    yield chunk({}, _finish_reason(response))
    if include_usage:
        yield usage_chunk_to_openai(response_id, stamp, model_name, response.usage)
