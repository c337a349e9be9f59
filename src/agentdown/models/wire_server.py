"""OpenAI chat-completions JSON to our messages and back, server side.

The mirror image of :mod:`agentdown.models.wire`: used by the loopback fake model
server and by anything that serves an OpenAI-compatible ``/v1/chat/completions``.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from typing import Any

from agentdown.messages import Content, Message, new_id
from agentdown.models.base import ChatOptions, ChatResponse, ToolDefinition

__all__ = [
    "completion_to_openai",
    "messages_from_openai",
    "options_from_openai",
    "split_text",
    "stream_chunks_to_openai",
    "tools_from_openai",
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


def options_from_openai(body: dict[str, Any]) -> ChatOptions:
    """The request's options; keys we have no field for land in ``extra_body``."""
    options = ChatOptions()
    extra: dict[str, Any] = {}
    for key, value in body.items():
        if key in _REQUEST_KEYS:
            continue
        if key in ("max_completion_tokens", "max_tokens"):
            options.max_output_tokens = value
        elif key == "stop":
            options.stop = [value] if isinstance(value, str) else value
        elif key == "tool_choice" and not isinstance(value, str):
            extra[key] = value
        elif key in ChatOptions.__dataclass_fields__ and key != "extra_body":
            setattr(options, key, value)
        else:
            extra[key] = value
    options.extra_body = extra
    return options


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


def _usage_to_openai(response: ChatResponse) -> dict[str, Any]:
    usage = response.usage
    return {
        "prompt_tokens": usage.input_tokens,
        "completion_tokens": usage.output_tokens,
        "total_tokens": usage.total_tokens or usage.input_tokens + usage.output_tokens,
    }


def completion_to_openai(response: ChatResponse, model: str, created: int | None = None) -> dict[str, Any]:
    """A non-streamed response shaped like the real API's."""
    return {
        "id": response.response_id or new_id("chatcmpl"),
        "object": "chat.completion",
        "created": created if created is not None else int(time.time()),
        "model": response.model or model,
        "choices": [
            {
                "index": 0,
                "message": _message_to_openai(response),
                "logprobs": None,
                "finish_reason": _finish_reason(response),
            }
        ],
        "usage": _usage_to_openai(response),
        "system_fingerprint": None,
    }


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
        out: dict[str, Any] = {
            "id": response_id,
            "object": "chat.completion.chunk",
            "created": stamp,
            "model": model_name,
            "system_fingerprint": None,
            "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
        }
        if include_usage:
            out["usage"] = None
        return out

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
        final = chunk({})
        final["choices"] = []
        final["usage"] = _usage_to_openai(response)
        yield final
