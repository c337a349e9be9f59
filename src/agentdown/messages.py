"""Provider-neutral message types shared by models, tools, sessions and the run loop.

Plain slotted dataclasses rather than pydantic models: messages are built on every
model call and the run loop's overhead budget is well under a millisecond per turn.
Every type round-trips through ``to_dict`` / ``from_dict`` as plain JSON.
"""

from __future__ import annotations

import base64
import json
import os
import time
from dataclasses import dataclass, field
from typing import Any, Literal

Role = Literal["system", "user", "assistant", "tool"]
ContentType = Literal["text", "reasoning", "tool_call", "tool_result", "error", "data", "uri"]

__all__ = ["Content", "ContentType", "Message", "Role", "Usage", "new_id"]


def new_id(prefix: str) -> str:
    """A short random identifier such as ``call_3f2a...``."""
    # 96 random bits: as collision-proof as a uuid4 for our purposes, at a quarter of the cost.
    return f"{prefix}_{os.urandom(12).hex()}"


@dataclass(slots=True)
class Content:
    """One part of a message.

    A single class with a ``type`` tag (as in Agent Framework) keeps messages easy
    to serialise; the factory class methods are the supported way to build one.
    """

    type: ContentType
    text: str | None = None
    """Text for ``text``, ``reasoning`` and ``error``; what the model reads for ``tool_result``."""
    call_id: str | None = None
    """Links a ``tool_call`` to its ``tool_result``."""
    name: str | None = None
    """The tool name of a ``tool_call`` or ``tool_result``."""
    arguments: dict[str, Any] | None = None
    """Parsed arguments of a ``tool_call``."""
    raw_arguments: str | None = None
    """The arguments exactly as the model produced them, kept when they were not valid JSON."""
    items: list[Content] | None = None
    """Rich results of a ``tool_result`` (when a result parser returned contents)."""
    is_error: bool = False
    """A ``tool_result`` that reports a failure to the model."""
    uri: str | None = None
    data: bytes | None = None
    media_type: str | None = None
    error_code: str | None = None
    additional_properties: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_text(cls, text: str, **additional_properties: Any) -> Content:
        return cls(type="text", text=text, additional_properties=additional_properties)

    @classmethod
    def from_reasoning(cls, text: str) -> Content:
        return cls(type="reasoning", text=text)

    @classmethod
    def from_uri(cls, uri: str, media_type: str | None = None) -> Content:
        if uri.startswith("data:"):
            header, _, payload = uri.partition(",")
            mt = header[5:].split(";", 1)[0] or media_type
            if ";base64" in header:
                return cls.from_data(base64.b64decode(payload), mt or "application/octet-stream")
        return cls(type="uri", uri=uri, media_type=media_type)

    @classmethod
    def from_data(cls, data: bytes, media_type: str) -> Content:
        if not isinstance(data, (bytes, bytearray)):
            raise TypeError(f"Content.from_data expects bytes, got {type(data).__name__}")
        return cls(type="data", data=bytes(data), media_type=media_type)

    @classmethod
    def from_error(cls, message: str, error_code: str | None = None) -> Content:
        return cls(type="error", text=message, error_code=error_code)

    @classmethod
    def from_tool_call(
        cls,
        name: str,
        arguments: dict[str, Any] | None,
        call_id: str | None = None,
        raw_arguments: str | None = None,
    ) -> Content:
        return cls(
            type="tool_call",
            name=name,
            arguments=arguments,
            call_id=call_id or new_id("call"),
            raw_arguments=raw_arguments,
        )

    @classmethod
    def from_tool_result(
        cls,
        call_id: str,
        text: str,
        *,
        name: str | None = None,
        items: list[Content] | None = None,
        is_error: bool = False,
    ) -> Content:
        return cls(type="tool_result", call_id=call_id, text=text, name=name, items=items, is_error=is_error)

    @property
    def data_uri(self) -> str | None:
        """``data:`` URI of binary data, as providers expect images inline."""
        if self.data is None:
            return self.uri
        encoded = base64.b64encode(self.data).decode("ascii")
        return f"data:{self.media_type or 'application/octet-stream'};base64,{encoded}"

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": self.type}
        for key in (
            "text",
            "call_id",
            "name",
            "arguments",
            "raw_arguments",
            "uri",
            "media_type",
            "error_code",
        ):
            value = getattr(self, key)
            if value is not None:
                out[key] = value
        if self.items is not None:
            out["items"] = [item.to_dict() for item in self.items]
        if self.is_error:
            out["is_error"] = True
        if self.data is not None:
            out["data"] = base64.b64encode(self.data).decode("ascii")
        if self.additional_properties:
            out["additional_properties"] = self.additional_properties
        return out

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> Content:
        data = raw.get("data")
        items = raw.get("items")
        return cls(
            type=raw["type"],
            text=raw.get("text"),
            call_id=raw.get("call_id"),
            name=raw.get("name"),
            arguments=raw.get("arguments"),
            raw_arguments=raw.get("raw_arguments"),
            items=[cls.from_dict(i) for i in items] if items is not None else None,
            is_error=bool(raw.get("is_error", False)),
            uri=raw.get("uri"),
            data=base64.b64decode(data) if data is not None else None,
            media_type=raw.get("media_type"),
            error_code=raw.get("error_code"),
            additional_properties=dict(raw.get("additional_properties") or {}),
        )


@dataclass(slots=True)
class Message:
    """A chat message: a role and its contents."""

    role: Role
    contents: list[Content] = field(default_factory=list)
    author_name: str | None = None
    """Which agent (or user) wrote it; informational, not sent to the model."""
    message_id: str = field(default_factory=lambda: new_id("msg"))
    created_at: float = field(default_factory=time.time)
    """Unix seconds."""
    metadata: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def system(cls, text: str) -> Message:
        return cls(role="system", contents=[Content.from_text(text)])

    @classmethod
    def user(cls, text: str) -> Message:
        return cls(role="user", contents=[Content.from_text(text)])

    @classmethod
    def assistant(cls, text: str) -> Message:
        return cls(role="assistant", contents=[Content.from_text(text)])

    @property
    def text(self) -> str:
        """The concatenated ``text`` contents (reasoning excluded)."""
        return "".join(c.text or "" for c in self.contents if c.type == "text")

    @property
    def tool_calls(self) -> list[Content]:
        return [c for c in self.contents if c.type == "tool_call"]

    @property
    def tool_results(self) -> list[Content]:
        return [c for c in self.contents if c.type == "tool_result"]

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "role": self.role,
            "contents": [c.to_dict() for c in self.contents],
            "message_id": self.message_id,
            "created_at": self.created_at,
        }
        if self.author_name is not None:
            out["author_name"] = self.author_name
        if self.metadata:
            out["metadata"] = self.metadata
        return out

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> Message:
        return cls(
            role=raw["role"],
            contents=[Content.from_dict(c) for c in raw.get("contents", [])],
            author_name=raw.get("author_name"),
            message_id=raw.get("message_id") or new_id("msg"),
            created_at=float(raw.get("created_at") or time.time()),
            metadata=dict(raw.get("metadata") or {}),
        )

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), separators=(",", ":"), ensure_ascii=False)


@dataclass(slots=True)
class Usage:
    """Token usage; adds up across model calls."""

    input_tokens: int = 0
    output_tokens: int = 0
    total_tokens: int = 0
    requests: int = 0
    """How many model requests contributed."""

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            self.input_tokens + other.input_tokens,
            self.output_tokens + other.output_tokens,
            self.total_tokens + other.total_tokens,
            self.requests + other.requests,
        )

    def to_dict(self) -> dict[str, int]:
        return {
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "total_tokens": self.total_tokens,
            "requests": self.requests,
        }
