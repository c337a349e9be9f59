"""Our messages to OpenAI chat-completions JSON and back, client side.

Plain dicts and ``json`` only: this runs on every model call, and building pydantic
models per request would cost more than the rest of the client together.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from typing import Any

from agentdown.exceptions import ModelError
from agentdown.messages import Content, Message, Usage
from agentdown.models.base import (
    ChatOptions,
    ChatResponse,
    ModelStreamEvent,
    ReasoningDelta,
    TextDelta,
    ToolCallDelta,
    ToolDefinition,
)

__all__ = [
    "StreamAssembler",
    "build_request_body",
    "message_to_openai",
    "messages_to_openai",
    "parse_completion",
    "parse_usage",
    "tools_to_openai",
]

_TEXT_ROLES = frozenset(("system", "user", "assistant"))
_AUDIO_FORMATS = {"audio/wav": "wav", "audio/x-wav": "wav", "audio/mpeg": "mp3", "audio/mp3": "mp3"}


def _media_part(content: Content) -> dict[str, Any]:
    media_type = content.media_type or ""
    if media_type.startswith("image/") or (content.type == "uri" and not media_type):
        # A bare URL with no media type is most often an image link; the provider
        # rejects it with a clear message if it is not.
        url = content.data_uri if content.data is not None else content.uri
        return {"type": "image_url", "image_url": {"url": url}}
    if content.data is not None and media_type in _AUDIO_FORMATS:
        encoded = base64.b64encode(content.data).decode("ascii")
        return {"type": "input_audio", "input_audio": {"data": encoded, "format": _AUDIO_FORMATS[media_type]}}
    if content.data is not None and media_type == "application/pdf":
        filename = content.additional_properties.get("filename", "document.pdf")
        return {"type": "file", "file": {"filename": filename, "file_data": content.data_uri}}
    raise ModelError(
        f"cannot send {content.type} content with media type {media_type or 'unknown'!r} to an "
        "OpenAI-compatible chat model (supported: images, wav/mp3 audio, PDF)"
    )


def _user_content(message: Message) -> str | list[dict[str, Any]]:
    contents = message.contents
    if not contents:
        return ""
    if len(contents) == 1 and contents[0].type == "text":
        return contents[0].text or ""
    # Several parts stay separate (joining texts could run words together).
    parts: list[dict[str, Any]] = []
    for content in contents:
        if content.type == "text":
            parts.append({"type": "text", "text": content.text or ""})
        elif content.type in ("data", "uri"):
            parts.append(_media_part(content))
        else:
            raise ModelError(f"a {message.role} message cannot carry {content.type} content")
    return parts


def _arguments_json(call: Content) -> str:
    if call.arguments is not None:
        return json.dumps(call.arguments, ensure_ascii=False)
    return call.raw_arguments if call.raw_arguments is not None else "{}"


def message_to_openai(message: Message) -> list[dict[str, Any]]:
    """One of our messages as OpenAI messages (a tool message holds one result each)."""
    role = message.role
    if role == "system":
        return [{"role": "system", "content": message.text}]
    if role == "user":
        return [{"role": "user", "content": _user_content(message)}]
    if role == "assistant":
        text_parts: list[str] = []
        tool_calls: list[dict[str, Any]] = []
        for content in message.contents:
            if content.type == "text":
                text_parts.append(content.text or "")
            elif content.type == "tool_call":
                tool_calls.append(
                    {
                        "id": content.call_id,
                        "type": "function",
                        "function": {"name": content.name, "arguments": _arguments_json(content)},
                    }
                )
            elif content.type != "reasoning":
                # Reasoning is deliberately not sent back; anything else would be lost.
                raise ModelError(f"an assistant message cannot carry {content.type} content")
        out: dict[str, Any] = {"role": "assistant", "content": "".join(text_parts) if text_parts else None}
        if tool_calls:
            out["tool_calls"] = tool_calls
        elif out["content"] is None:
            out["content"] = ""
        return [out]
    results: list[dict[str, Any]] = []
    media: list[dict[str, Any]] = []
    for content in message.contents:
        if content.type in ("tool_result", "error") and content.call_id is not None:
            results.append({"role": "tool", "tool_call_id": content.call_id, "content": content.text or ""})
            media.extend(_result_media(content))
        else:
            raise ModelError(f"a tool message cannot carry {content.type} content without a call_id")
    if media:
        # Chat-completions tool messages carry text only, so images a tool returned follow
        # the results as one user message: the model sees them, the call/result pairs stay intact.
        intro = {"type": "text", "text": "Media returned by the tool calls above:"}
        results.append({"role": "user", "content": [intro, *media]})
    return results


def _result_media(result: Content) -> list[dict[str, Any]]:
    parts: list[dict[str, Any]] = []
    for item in result.items or ():
        if item.type not in ("data", "uri"):
            continue
        label = f"from {result.name or 'tool'} (call {result.call_id})"
        try:
            part = _media_part(item)
        except ModelError:
            parts.append(
                {
                    "type": "text",
                    "text": f"[{item.media_type or 'a file'} {label} cannot be shown to the model]",
                }
            )
            continue
        parts += [{"type": "text", "text": label}, part]
    return parts


def messages_to_openai(messages: Sequence[Message]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for message in messages:
        contents = message.contents
        # Most of a history: one text content and no call, which every role sends as this dict
        # (what message_to_openai builds for it, without its lists).
        if len(contents) == 1 and message.role in _TEXT_ROLES:
            only = contents[0]
            if only.type == "text":
                out.append({"role": message.role, "content": only.text or ""})
                continue
        out.extend(message_to_openai(message))
    return out


def tools_to_openai(tools: Sequence[ToolDefinition]) -> list[dict[str, Any]]:
    return [
        {
            "type": "function",
            "function": {"name": t.name, "description": t.description, "parameters": t.parameters},
        }
        for t in tools
    ]


def build_request_body(
    model: str,
    messages: Sequence[Message],
    tools: Sequence[ToolDefinition],
    options: ChatOptions | None,
    *,
    stream: bool,
    max_tokens_field: str = "max_completion_tokens",
) -> dict[str, Any]:
    """The chat-completions request body, shaped as the openai SDK sends it."""
    body: dict[str, Any] = {"messages": messages_to_openai(messages), "model": model}
    if tools:
        body["tools"] = tools_to_openai(tools)
    if options is not None:
        if options.model:
            body["model"] = options.model
        # tool_choice / parallel_tool_calls without tools is a 400 at OpenAI.
        if tools and options.tool_choice is not None:
            body["tool_choice"] = options.tool_choice
        if tools and options.parallel_tool_calls is not None:
            body["parallel_tool_calls"] = options.parallel_tool_calls
        if options.temperature is not None:
            body["temperature"] = options.temperature
        if options.top_p is not None:
            body["top_p"] = options.top_p
        if options.max_output_tokens is not None:
            body[max_tokens_field] = options.max_output_tokens
        if options.stop is not None:
            body["stop"] = options.stop
        if options.seed is not None:
            body["seed"] = options.seed
        if options.response_format is not None:
            body["response_format"] = options.response_format
        if options.user is not None:
            body["user"] = options.user
    if stream:
        body["stream"] = True
        body["stream_options"] = {"include_usage": True}
    if options is not None and options.extra_body:
        body.update(options.extra_body)
    return body


def parse_usage(raw: Any) -> Usage:
    if not isinstance(raw, dict):
        return Usage(requests=1)
    prompt = int(raw.get("prompt_tokens") or 0)
    completion = int(raw.get("completion_tokens") or 0)
    total = int(raw.get("total_tokens") or (prompt + completion))
    return Usage(input_tokens=prompt, output_tokens=completion, total_tokens=total, requests=1)


def _tool_call_content(call_id: str | None, name: str, raw_args: str) -> Content:
    arguments: dict[str, Any] | None
    raw: str | None = None
    text = raw_args.strip()
    if not text:
        arguments = {}
    else:
        try:
            parsed = json.loads(text)
        except ValueError:
            parsed = None
        if isinstance(parsed, dict):
            arguments = parsed
        else:
            arguments, raw = None, raw_args
    return Content.from_tool_call(name, arguments, call_id=call_id or None, raw_arguments=raw)


def _reasoning_of(obj: dict[str, Any]) -> str | None:
    value = obj.get("reasoning_content")
    if value is None:
        value = obj.get("reasoning")
    return value if isinstance(value, str) and value else None


def parse_completion(data: dict[str, Any]) -> ChatResponse:
    """A non-streamed chat-completions response as a :class:`ChatResponse`."""
    if isinstance(data.get("error"), dict):
        raise ModelError(f"model returned an error: {data['error'].get('message') or data['error']}")
    choices = data.get("choices") or []
    if not choices:
        raise ModelError("model response has no choices")
    choice = choices[0]
    raw_message = choice.get("message") or {}
    contents: list[Content] = []
    reasoning = _reasoning_of(raw_message)
    if reasoning:
        contents.append(Content.from_reasoning(reasoning))
    text = raw_message.get("content")
    if isinstance(text, str) and text:
        contents.append(Content.from_text(text))
    refusal = raw_message.get("refusal")
    if isinstance(refusal, str) and refusal:
        contents.append(Content.from_text(refusal, refusal=True))
    for call in raw_message.get("tool_calls") or []:
        function = call.get("function") or {}
        contents.append(
            _tool_call_content(call.get("id"), function.get("name") or "", function.get("arguments") or "")
        )
    return ChatResponse(
        message=Message(role="assistant", contents=contents),
        usage=parse_usage(data.get("usage")),
        finish_reason=choice.get("finish_reason"),
        model=data.get("model"),
        response_id=data.get("id"),
    )


class _PartialCall:
    __slots__ = ("arguments", "call_id", "name")

    def __init__(self) -> None:
        self.call_id: str | None = None
        self.name = ""
        self.arguments: list[str] = []


class StreamAssembler:
    """Turns chat-completion chunks into deltas and, at the end, one :class:`ChatResponse`."""

    def __init__(self) -> None:
        self._text: list[str] = []
        self._reasoning: list[str] = []
        self._calls: dict[int, _PartialCall] = {}
        self._usage: Usage | None = None
        self.finish_reason: str | None = None
        self.model: str | None = None
        self.response_id: str | None = None

    def feed(self, chunk: dict[str, Any]) -> list[ModelStreamEvent]:
        if isinstance(chunk.get("error"), dict):
            raise ModelError(
                f"model stream reported an error: {chunk['error'].get('message') or chunk['error']}"
            )
        if self.response_id is None:
            self.response_id = chunk.get("id")
        if self.model is None:
            self.model = chunk.get("model")
        if chunk.get("usage"):
            self._usage = parse_usage(chunk["usage"])
        events: list[ModelStreamEvent] = []
        for choice in chunk.get("choices") or ():
            if choice.get("index", 0) != 0:
                continue
            delta = choice.get("delta") or {}
            reasoning = _reasoning_of(delta)
            if reasoning:
                self._reasoning.append(reasoning)
                events.append(ReasoningDelta(reasoning))
            text = delta.get("content")
            if isinstance(text, str) and text:
                self._text.append(text)
                events.append(TextDelta(text))
            for call in delta.get("tool_calls") or ():
                events.append(self._feed_call(call))
            if choice.get("finish_reason"):
                self.finish_reason = choice["finish_reason"]
        return events

    def _feed_call(self, call: dict[str, Any]) -> ToolCallDelta:
        index = call.get("index")
        if not isinstance(index, int):
            # Some servers omit the index and send each call whole: a new id starts a new call.
            index = len(self._calls) if call.get("id") or not self._calls else max(self._calls)
        partial = self._calls.get(index)
        if partial is None:
            partial = self._calls[index] = _PartialCall()
        function = call.get("function") or {}
        call_id = call.get("id")
        name = function.get("name")
        if call_id and partial.call_id is None:
            partial.call_id = call_id
        if name and not partial.name:
            partial.name = name
        fragment = function.get("arguments") or ""
        if fragment:
            partial.arguments.append(fragment)
        return ToolCallDelta(index=index, call_id=call_id or None, name=name or None, arguments=fragment)

    def result(self) -> ChatResponse:
        contents: list[Content] = []
        if self._reasoning:
            contents.append(Content.from_reasoning("".join(self._reasoning)))
        if self._text:
            contents.append(Content.from_text("".join(self._text)))
        for index in sorted(self._calls):
            call = self._calls[index]
            contents.append(_tool_call_content(call.call_id, call.name, "".join(call.arguments)))
        return ChatResponse(
            message=Message(role="assistant", contents=contents),
            usage=self._usage if self._usage is not None else Usage(requests=1),
            finish_reason=self.finish_reason,
            model=self.model,
            response_id=self.response_id,
        )
