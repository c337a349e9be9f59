"""Apps, environments and prompt parsing shared by the trigger tests."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from agentdown.messages import Message


def agent_file(trigger: str, *, name: str = "Worker", extra: str = "") -> str:
    """An agent file with ``trigger`` (YAML lines below ``trigger:``)."""
    return (
        f"---\nname: {name}\ndescription: Handles events.\ntrigger:\n{trigger}{extra}---\nHandle the event.\n"
    )


def make_app(root: Path, agents: dict[str, str]) -> Path:
    app = root / "app"
    app.mkdir(parents=True, exist_ok=True)
    for slug, text in agents.items():
        (app / f"{slug}.agent.md").write_text(text)
    return app


def unique(prefix: str) -> str:
    """A queue or container name no other test uses (Azurite lives for the whole run)."""
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def base_environ(data_dir: Path, **extra: str) -> dict[str, str]:
    """Fast polling and short leases, so redelivery tests take seconds."""
    return {
        "AGENTDOWN_DATA_DIR": str(data_dir),
        "AGENTDOWN_QUEUE_MAX_POLLING_INTERVAL": "0.05",
        "AGENTDOWN_BLOB_POLLING_INTERVAL": "0.1",
        "AGENTDOWN_QUEUE_LEASE_SECONDS": "3",
        "AGENTDOWN_DRAIN_SECONDS": "5",
        "AGENTDOWN_HOSTS_CONTAINER": unique("hosts"),
        **extra,
    }


def trigger_data(messages: list[Message]) -> dict[str, Any]:
    """The trigger data of the prompt among ``messages`` (the contract's fenced JSON block)."""
    prompt = next(m.text for m in messages if m.role == "user")
    head, _, rest = prompt.partition("\n\nTrigger data:\n```json\n")
    assert head.startswith("Triggered by: "), prompt
    assert rest.endswith("\n```"), prompt
    return dict(json.loads(rest[: -len("\n```")]))


def prompt_type(messages: list[Message]) -> str:
    prompt = next(m.text for m in messages if m.role == "user")
    return prompt.split("\n", 1)[0].removeprefix("Triggered by: ")


async def eventually(
    check: Callable[[], Awaitable[bool]] | Callable[[], bool], timeout: float = 15.0
) -> None:
    """Wait until ``check()`` is true (polling), failing after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if isinstance(result, Awaitable):
            result = await result
        if result:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        await asyncio.sleep(0.05)
