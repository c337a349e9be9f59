"""``agentdown sessions list|show|prune``: inspect and clean up stored conversations.

The store is the one the runtime uses (:func:`agentdown.sessions.store_settings`:
``AGENTDOWN_SESSION_STORE``, ``AzureWebJobsStorage``... else SQLite under the data
dir); ``--data-dir`` overrides ``AGENTDOWN_DATA_DIR`` for one command. ``show`` ends
with the calls a paused turn waits for, and the ``agentdown approve`` command that
answers them.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import TypeVar

import typer

from agentdown.cli.main import app
from agentdown.exceptions import AgentdownError
from agentdown.messages import Content, Message
from agentdown.runtime.pending import PendingTurn, pending_turn
from agentdown.runtime.triggers.invoke import approve_command
from agentdown.sessions import SessionInfo, SessionStore, open_store, store_settings

__all__ = ["app", "parse_duration", "sessions_app"]

T = TypeVar("T")

sessions_app = typer.Typer(help="Inspect and prune stored conversation sessions.", no_args_is_help=True)
app.add_typer(sessions_app, name="sessions")

_DURATION_PART = re.compile(r"(\d+)([wdhms])")
_UNIT_SECONDS = {"w": 604800, "d": 86400, "h": 3600, "m": 60, "s": 1}

DATA_DIR_OPTION = typer.Option(
    None, "--data-dir", help="Use this data directory instead of AGENTDOWN_DATA_DIR / the per-user default."
)
JSON_OPTION = typer.Option(False, "--json", help="Print JSON instead of text.")


def parse_duration(text: str) -> timedelta:
    """``30d``, ``12h``, ``45m``, ``90s``, ``2w`` or combinations such as ``1d12h``."""
    compact = text.strip().lower().replace(" ", "")
    if not compact or _DURATION_PART.sub("", compact):
        raise typer.BadParameter(f"expected a duration such as 30d, 12h, 45m, 90s or 1w2d, got {text!r}")
    seconds = sum(int(n) * _UNIT_SECONDS[unit] for n, unit in _DURATION_PART.findall(compact))
    return timedelta(seconds=seconds)


def _run(data_dir: Path | None, action: Callable[[SessionStore], Awaitable[T]]) -> T:
    """Open the configured store, run ``action`` on it, close it; errors become a message and exit 1."""
    environ = dict(os.environ)
    if data_dir is not None:
        environ["AGENTDOWN_DATA_DIR"] = str(data_dir)

    async def main() -> T:
        store = open_store(store_settings(environ))
        try:
            return await action(store)
        finally:
            await store.aclose()

    try:
        return asyncio.run(main())
    except AgentdownError as exc:  # configuration (also a ValueError) or store failures
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from exc
    except ValueError as exc:  # an invalid agent name or session id
        raise typer.BadParameter(str(exc)) from exc


def _when(timestamp: float | None) -> str:
    return datetime.fromtimestamp(timestamp).strftime("%Y-%m-%d %H:%M:%S") if timestamp is not None else "-"


def _count(value: int | None) -> str:
    return "-" if value is None else str(value)


def _table(infos: list[SessionInfo]) -> str:
    rows = [("AGENT", "SESSION", "TURNS", "MESSAGES", "UPDATED")]
    rows += [(i.agent, i.session_id, _count(i.turns), _count(i.messages), _when(i.updated_at)) for i in infos]
    widths = [max(len(row[c]) for row in rows) for c in range(len(rows[0]))]
    return "\n".join(
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in rows
    )


@sessions_app.command("list")
def list_command(
    agent: str | None = typer.Option(None, "--agent", "-a", help="Only this agent's sessions."),
    as_json: bool = JSON_OPTION,
    data_dir: Path | None = DATA_DIR_OPTION,
) -> None:
    """List sessions, most recently updated first."""
    infos = _run(data_dir, lambda store: store.list(agent))
    if as_json:
        typer.echo(json.dumps([i.to_dict() for i in infos], indent=2))
    elif infos:
        typer.echo(_table(infos))
    else:
        typer.echo("no sessions", err=True)


@sessions_app.command("show")
def show_command(
    agent: str = typer.Argument(..., help="The agent (slug) the session belongs to."),
    session_id: str = typer.Argument(..., help="The session id."),
    last: int | None = typer.Option(
        None, "--last", "-n", min=1, help="Only the newest turns covering this many messages."
    ),
    as_json: bool = JSON_OPTION,
    data_dir: Path | None = DATA_DIR_OPTION,
) -> None:
    """Print a session's messages, turn by turn."""
    history = _run(data_dir, lambda store: store.load(agent, session_id, max_messages=last))
    for warning in history.warnings:
        typer.echo(f"warning: {warning}", err=True)
    if not history.exists:
        typer.echo(f"error: agent {agent!r} has no session {session_id!r}", err=True)
        raise typer.Exit(1)
    pending = pending_turn(history.messages)
    if as_json:
        turns = [
            {"seq": t.seq, "created_at": t.created_at, "messages": [m.to_dict() for m in t.messages]}
            for t in history.turns
        ]
        body: dict[str, object] = {"agent": agent, "session_id": session_id, "turns": turns}
        if pending is not None:
            body["pending"] = {**pending.to_dict(), "expired": pending.expired}
        typer.echo(json.dumps(body, indent=2))
        return
    skipped = history.total_turns - len(history.turns)
    if skipped:
        typer.echo(f"... {skipped} older turn(s) not shown")
    for turn in history.turns:
        typer.echo(f"--- turn {turn.seq} ({_when(turn.created_at)})")
        for message in turn.messages:
            typer.echo(_render(message))
    if pending is not None:
        typer.echo(_render_pending(agent, session_id, pending))


def _render_pending(agent: str, session_id: str, pending: PendingTurn) -> str:
    if pending.expired:
        return (
            f"--- this turn waited for decisions until {_when(pending.expires_at)} and expired: its calls "
            "are closed as not run when the session is next used"
        )
    lines = [f"--- waiting for decisions (until {_when(pending.expires_at)}):"]
    for call in pending.calls:
        need = "needs approval" if call.kind == "approval" else "needs its result (--output)"
        lines.append(f"  {call.tool}({json.dumps(call.arguments or {})}) [{call.call_id}] {need}")
    hint = " (--deny to refuse)" if any(c.kind == "approval" for c in pending.calls) else ""
    lines.append(f"  answer with: {approve_command(None, agent, session_id, pending.calls)}{hint}")
    return "\n".join(lines)


def _render(message: Message) -> str:
    parts = [_render_content(c) for c in message.contents]
    return f"{message.role}: " + "\n  ".join(p for p in parts if p)


def _render_content(content: Content) -> str:
    if content.type == "tool_call":
        args = content.raw_arguments if content.raw_arguments is not None else json.dumps(content.arguments)
        return f"-> {content.name}({args}) [{content.call_id}]"
    if content.type == "tool_result":
        flag = " (error)" if content.is_error else ""
        return f"<- {content.name or ''}[{content.call_id}]{flag}: {content.text or ''}"
    if content.type == "data":
        return f"[{content.media_type} data, {len(content.data or b'')} bytes]"
    if content.type == "uri":
        return f"[{content.media_type or 'uri'}: {content.uri}]"
    if content.type == "reasoning":
        return f"(reasoning) {content.text or ''}"
    if content.type == "error":
        return f"(error {content.error_code or ''}) {content.text or ''}"
    return content.text or ""


@sessions_app.command("prune")
def prune_command(
    older_than: str = typer.Option(..., "--older-than", help="Idle time, e.g. 30d, 12h, 1w2d."),
    agent: str | None = typer.Option(None, "--agent", "-a", help="Only this agent's sessions."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Only list what would be deleted."),
    data_dir: Path | None = DATA_DIR_OPTION,
) -> None:
    """Delete sessions not appended to for longer than --older-than."""
    age = parse_duration(older_than)

    async def action(store: SessionStore) -> list[SessionInfo]:
        if not dry_run:
            return await store.expire(age, agent=agent)
        cutoff = datetime.now().timestamp() - age.total_seconds()
        return [i for i in await store.list(agent) if i.updated_at < cutoff]

    gone = _run(data_dir, action)
    verb = "would delete" if dry_run else "deleted"
    for info in gone:
        typer.echo(f"{verb} {info.agent}/{info.session_id} (updated {_when(info.updated_at)})")
    typer.echo(f"{verb} {len(gone)} session(s) idle for more than {older_than}")
