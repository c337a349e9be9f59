"""How commands print an app's load problems: one function for check, run, chat, worker and serve.

``text`` is ``file:line: severity: message``, one per line; ``github`` is GitHub Actions
workflow commands (``::warning file=...,line=...::message``), which the Actions runner
turns into annotations on the files.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Literal

import typer

from agentdown.app.diagnostics import LOAD_LOGGER, Problem

__all__ = ["ProblemFormat", "format_problem", "github_annotation", "print_problems", "show_load_problems"]

ProblemFormat = Literal["text", "github"]


def _escape(text: str, *, prop: bool = False) -> str:
    # GitHub's escaping for workflow command data and properties.
    text = text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
    return text.replace(":", "%3A").replace(",", "%2C") if prop else text


def github_annotation(problem: Problem) -> str:
    where = f"file={_escape(str(problem.file), prop=True)}"
    if problem.line:
        where += f",line={problem.line}"
    return f"::{problem.severity} {where}::{_escape(problem.message)}"


def format_problem(problem: Problem, form: ProblemFormat = "text") -> str:
    return github_annotation(problem) if form == "github" else str(problem)


def print_problems(problems: Iterable[Problem], *, err: bool = True, form: ProblemFormat = "text") -> None:
    """Print each problem (to stderr unless ``err=False``)."""
    for problem in problems:
        typer.echo(format_problem(problem, form), err=err)


class _ProblemEcho(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        problem = getattr(record, "problem", None)
        if isinstance(problem, Problem):
            print_problems([problem])
        else:
            typer.echo(record.getMessage(), err=True)


def show_load_problems() -> None:
    """Print the warnings a later ``load_app`` reports (``serve`` loads the app itself), as
    ``check``, ``run`` and ``worker`` print theirs."""
    logger = logging.getLogger(LOAD_LOGGER)
    logger.handlers = [h for h in logger.handlers if not isinstance(h, _ProblemEcho)] + [_ProblemEcho()]
    logger.propagate = False
    logger.setLevel(logging.WARNING)
