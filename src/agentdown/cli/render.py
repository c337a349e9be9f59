"""Running one turn in the terminal: the answer streams to stdout, tool activity to stderr.

Keeping tool lines off stdout means ``agentdown run APP "..." > answer.txt`` captures
the answer alone, while a person at the terminal still sees each call as it runs.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from typing import Any, TextIO

from rich.console import Console
from rich.text import Text

from agentdown.agent import Agent
from agentdown.knowledge.folder_search import attach_citations
from agentdown.loop.events import (
    AgentRunResult,
    ApprovalRequest,
    RunCompletedEvent,
    TextDeltaEvent,
    ToolCallEndEvent,
    ToolCallStartEvent,
)
from agentdown.sessions import Session

__all__ = ["Approver", "TurnPrinter", "run_turn"]

Approver = Callable[[ApprovalRequest], bool]
"""Decides whether a tool call that requires approval may run."""

_MAX_SHOWN = 300


def _short(text: str) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= _MAX_SHOWN else flat[: _MAX_SHOWN - 3] + "..."


class TurnPrinter:
    """Writes a run's events: text deltas as they come, one line per tool call start and end."""

    def __init__(self, out: TextIO | None = None, err: Console | None = None) -> None:
        self.out = out or sys.stdout
        self.err = err or Console(stderr=True, soft_wrap=True, highlight=False)
        self.at_line_start = True

    def _break_line(self) -> None:
        if not self.at_line_start:
            self.out.write("\n")
            self.out.flush()
            self.at_line_start = True

    def text(self, chunk: str) -> None:
        if chunk:
            self.out.write(chunk)
            self.out.flush()
            self.at_line_start = chunk.endswith("\n")

    def note(self, message: str, style: str = "dim") -> None:
        self._break_line()
        self.err.print(Text(message, style=style))

    def event(self, event: Any) -> None:
        if isinstance(event, TextDeltaEvent):
            self.text(event.text)
        elif isinstance(event, ToolCallStartEvent):
            args = json.dumps(event.arguments or {}, ensure_ascii=False)
            self.note(f"→ {event.name} {_short(args)}", "cyan")
        elif isinstance(event, ToolCallEndEvent):
            mark, style = ("✗", "red") if event.is_error else ("✓", "green")
            self.note(f"{mark} {event.name} ({event.duration * 1000:.0f} ms): {_short(event.output)}", style)

    def finish(self) -> None:
        self._break_line()


async def run_turn(
    agent: Agent, prompt: str, session: Session | None, printer: TurnPrinter, approve: Approver
) -> AgentRunResult[Any]:
    """Stream one turn, asking ``approve`` about calls that need it and resuming until done."""
    result: AgentRunResult[Any] | None = None
    kwargs: dict[str, Any] = {"session": session}
    pending: Any = prompt
    while True:
        async for event in agent.run_stream(pending, **kwargs):
            printer.event(event)
            if isinstance(event, RunCompletedEvent):
                result = event.result
        assert result is not None
        if not (result.requires_action and result.approval_requests):
            break
        printer.finish()
        decisions = {req.call_id: approve(req) for req in result.approval_requests}
        kwargs = {"session": session, "resume": result.state, "approvals": decisions}
        pending = None
    printer.finish()
    if result.pending_tool_calls:
        names = ", ".join(c.name or "?" for c in result.pending_tool_calls)
        printer.note(f"the run stopped: declaration-only tools were called ({names})", "yellow")
    # Sources go to stderr with the tool lines: stdout stays the answer alone.
    for citation in attach_citations(session, result):
        quote = _short(str(citation["quote"]))
        printer.note(f"{citation['marker']} {citation['file_name']}: {quote}", "blue")
    return result
