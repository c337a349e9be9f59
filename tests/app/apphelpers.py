"""Helpers shared by the app-loading tests."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path

from agentdown.app.catalog import check_app
from agentdown.app.diagnostics import Problems

MakeApp = Callable[[dict[str, str]], Path]
"""The ``make_app`` fixture: files by relative path -> the new app folder."""


def agent_md(front: str, body: str = "Be helpful.") -> str:
    """An agent file: ``front`` (dedented YAML) between ``---`` lines, then ``body``."""
    return f"---\n{textwrap.dedent(front).strip()}\n---\n{body}\n"


MINIMAL = agent_md("name: Helper\ndescription: Helps.\nbuiltin_endpoints: true")


def problems_of(app_dir: Path, environ: dict[str, str] | None = None) -> Problems:
    """Every problem of the app, with a provider configured so none is about the model."""
    _, problems = check_app(app_dir, environ={"OPENAI_API_KEY": "test", **(environ or {})})
    return problems


def messages(problems: Problems) -> list[str]:
    return [str(p) for p in problems]


def errors(problems: Problems) -> list[str]:
    return [str(p) for p in problems.errors]
