"""Fixtures for app-loading tests: write an app folder from a dict of files."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from apphelpers import MakeApp


@pytest.fixture
def make_app(tmp_path: Path) -> MakeApp:
    """``make_app({"main.agent.md": "...", "tools/x.py": "..."})`` -> the new app folder.

    Python files are dedented, so tests can indent them inline.
    """
    counter = iter(range(1000))

    def make(files: dict[str, str]) -> Path:
        root = tmp_path / f"app{next(counter)}"
        root.mkdir()
        for rel, text in files.items():
            path = root / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(textwrap.dedent(text) if rel.endswith(".py") else text, encoding="utf-8")
        return root

    return make
