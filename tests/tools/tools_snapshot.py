"""Exact JSON snapshots of what a model is told about a tool.

``UPDATE_SNAPSHOTS=1 pytest tests/tools`` rewrites them; review the diff before committing.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict
from pathlib import Path
from typing import Any

from agentdown.tools import Tool, tool_definition

SNAPSHOTS = Path(__file__).parent / "snapshots"


def definition(tool: Tool) -> dict[str, Any]:
    return asdict(tool_definition(tool))


def assert_snapshot(name: str, data: Any) -> None:
    path = SNAPSHOTS / f"{name}.json"
    text = json.dumps(data, indent=2, ensure_ascii=False) + "\n"
    if os.environ.get("UPDATE_SNAPSHOTS") == "1":
        path.write_text(text, encoding="utf-8")
        return
    assert path.exists(), f"missing snapshot {path.name}; run with UPDATE_SNAPSHOTS=1 to create it"
    expected = path.read_text(encoding="utf-8")
    assert json.loads(text) == json.loads(expected), f"{path.name} differs:\n{text}"
    assert text == expected, f"{path.name} differs in key order or formatting:\n{text}"
