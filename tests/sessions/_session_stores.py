"""Building a store of each kind from plain strings (shared by fixtures and writer subprocesses)."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

from agentdown.messages import Content, Message
from agentdown.sessions import JsonlSessionStore, SessionStore, SqliteSessionStore
from agentdown.sessions.azure_blob import AzureBlobSessionStore

STORE_KINDS = ["sqlite", "jsonl", "azure_blob"]


def store_config(kind: str, tmp_path: Path, azurite: Any) -> dict[str, str]:
    """What a store needs, as JSON-able strings."""
    if kind == "sqlite":
        return {"kind": kind, "path": str(tmp_path / "sessions.db")}
    if kind == "jsonl":
        return {"kind": kind, "path": str(tmp_path / "sessions")}
    return {
        "kind": kind,
        "connection_string": azurite.connection_string,
        "container": f"t{uuid.uuid4().hex[:20]}",
    }


def build_store(config: dict[str, str]) -> SessionStore:
    if config["kind"] == "sqlite":
        return SqliteSessionStore(config["path"])
    if config["kind"] == "jsonl":
        return JsonlSessionStore(config["path"])
    return AzureBlobSessionStore(connection_string=config["connection_string"], container=config["container"])


def tool_turn(tag: str, i: int, padding: int = 0) -> list[Message]:
    """A realistic turn: prompt, tool call, tool result, answer (4 messages), tagged ``tag:i``."""
    call_id = f"call_{tag}_{i}"
    return [
        Message.user(f"{tag}:{i}:q" + "." * padding),
        Message(
            role="assistant", contents=[Content.from_tool_call("echo", {"tag": tag, "i": i}, call_id=call_id)]
        ),
        Message(role="tool", contents=[Content.from_tool_result(call_id, f"{tag}:{i}", name="echo")]),
        Message.assistant(f"{tag}:{i}:a"),
    ]


def check_tool_turn(messages: list[Message]) -> tuple[str, int]:
    """Assert a turn is exactly one well-formed :func:`tool_turn`; return its ``(tag, i)``."""
    assert [m.role for m in messages] == ["user", "assistant", "tool", "assistant"], messages
    tag, i, _ = messages[0].text.split(":", 2)
    expected = tool_turn(tag, int(i))
    call = messages[1].tool_calls[0]
    result = messages[2].tool_results[0]
    assert call.call_id == result.call_id == f"call_{tag}_{i}"
    assert call.arguments == {"tag": tag, "i": int(i)}
    assert result.text == f"{tag}:{i}" and messages[3].text == expected[3].text
    return tag, int(i)
