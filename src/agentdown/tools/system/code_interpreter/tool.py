"""The ``execute_python`` tool shape both backends share (the other runtime's name and schema)."""

from __future__ import annotations

import copy
import hashlib
import json
import os
import re
from collections import OrderedDict
from typing import Any

from agentdown.messages import Content
from agentdown.tools.context import FunctionInvocationContext

__all__ = [
    "MAX_CODE_CHARS",
    "TOOL_NAME",
    "PythonToolBase",
    "clean_code",
    "error_result",
    "hashed",
    "session_key",
]

TOOL_NAME = "execute_python"
MAX_CODE_CHARS = 1_000_000

_PARAMETERS: dict[str, Any] = {
    "type": "object",
    "properties": {"code": {"type": "string", "description": "Python code to execute"}},
    "required": ["code"],
}

_FENCE = re.compile(
    r"\A\s*```[ \t]*(?:python|py)?[ \t]*\n(?P<body>.*?)\n?```\s*\Z", re.DOTALL | re.IGNORECASE
)


def clean_code(code: str) -> str:
    """The code without the Markdown fence models sometimes wrap it in.

    Only a whole fenced block is unwrapped: code that merely starts with the word
    ``python`` (``python_version = 3``) is left alone.
    """
    match = _FENCE.match(code)
    return match.group("body") if match else code.strip("\n")


_MAX_RUNS = 4096


class _RunKeys:
    """A key per agent run for runs without a session: the run's ``ToolUsage`` object identifies it.

    The object is held (so its ``id`` is not reused while the key lives); the oldest
    runs are forgotten first.
    """

    def __init__(self) -> None:
        self._keys: OrderedDict[int, tuple[object, str]] = OrderedDict()

    def key(self, usage: object) -> str:
        entry = self._keys.get(id(usage))
        if entry is not None and entry[0] is usage:
            self._keys.move_to_end(id(usage))
            return entry[1]
        key = "run:" + os.urandom(16).hex()
        self._keys[id(usage)] = (usage, key)
        while len(self._keys) > _MAX_RUNS:
            self._keys.popitem(last=False)
        return key


def session_key(context: FunctionInvocationContext | None, runs: _RunKeys) -> tuple[str, bool]:
    """``(key, ephemeral)``: the run's session, else the run, else this call alone.

    The key is never used as a path or an identifier as is: callers hash it.
    """
    session = getattr(context, "session", None) if context is not None else None
    session_id = getattr(session, "id", None)
    if isinstance(session_id, str) and session_id:
        return "session:" + session_id, False
    usage = getattr(context, "usage", None) if context is not None else None
    if usage is not None:
        return runs.key(usage), True
    return "call:" + os.urandom(16).hex(), True


def hashed(key: str) -> str:
    """A fixed-length name for a key: safe in paths and URLs whatever the key holds."""
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()[:32]


def error_result(message: str) -> str:
    return json.dumps({"error": message}, ensure_ascii=False)


class PythonToolBase:
    """``execute_python``: what the run loop sees of either backend."""

    name = TOOL_NAME
    kind = "code_interpreter"
    approval_mode = "never_require"

    def __init__(self, description: str, additional_properties: dict[str, Any]) -> None:
        self.description = description
        self.additional_properties = additional_properties
        self._runs = _RunKeys()

    @property
    def parameters(self) -> dict[str, Any]:
        return copy.deepcopy(_PARAMETERS)  # a copy the caller may change

    async def invoke(
        self, arguments: dict[str, Any], context: FunctionInvocationContext
    ) -> str | list[Content]:
        code = arguments.get("code")
        if not isinstance(code, str) or not code.strip():
            return error_result("No code provided")
        if len(code) > MAX_CODE_CHARS:
            return error_result(
                f"The code is {len(code)} characters long; at most {MAX_CODE_CHARS} are accepted."
            )
        key, ephemeral = session_key(context, self._runs)
        return await self.execute(clean_code(code), key, ephemeral)

    async def execute(self, code: str, key: str, ephemeral: bool) -> str | list[Content]:
        raise NotImplementedError

    async def aclose(self) -> None:
        """Release what the tool holds (sandboxes, HTTP sessions)."""
