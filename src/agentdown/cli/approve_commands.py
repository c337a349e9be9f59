"""``agentdown approve``: answer a paused turn from the terminal (triggered runs above all).

A triggered run that pauses (a tool that needs approval, a declaration-only tool) is
kept in its session and its log names the command that resumes it::

    agentdown approve APP AGENT SESSION CALL_ID... [--deny] [--output JSON]

Each listed call gets the decision its kind needs: a call that needs approval is
approved, or refused with ``--deny``; a declaration-only tool's call gets ``--output``
as its result (JSON when it parses, else the text as given). Every pending call needs a
decision in the one command, as a resumed run needs them all. The app is loaded as
``agentdown run`` loads it, the answer streams to stdout (tool activity to stderr),
and when the agent has an output binding and the turn was started by its trigger, the
answer is written there as the trigger would have.

Exit codes: 0 answered (and the output written); 1 the app has problems, the run
failed or writing the output failed (the answer is in the session); 2 bad usage: an
unknown agent or session, nothing pending, a call id that is not pending, a pending
call without a decision; 3 the resumed run paused again (the new calls and the command
are printed); 4 the pending turn had expired (it is now closed, its calls not run).
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import typer

from agentdown.app.catalog import AgentCatalog, check_app
from agentdown.cli.main import app
from agentdown.cli.render import TurnPrinter
from agentdown.exceptions import AgentdownError
from agentdown.loop.events import AgentRunResult, RunCompletedEvent
from agentdown.runtime.pending import (
    NothingPendingError,
    PendingCall,
    PendingExpiredError,
    PendingTurn,
    SessionNotFoundError,
    calls_of,
)
from agentdown.runtime.queues import resolve_account
from agentdown.runtime.runner import Decisions, Runner
from agentdown.runtime.triggers import TriggerSettings, bindings_from_catalog
from agentdown.runtime.triggers.bindings import OutputBinding
from agentdown.runtime.triggers.invoke import (
    TriggerOrigin,
    answer_of,
    approve_command,
    trigger_origin,
)
from agentdown.runtime.triggers.resources import Resources
from agentdown.sessions import store_from_env, validate_session_id

__all__ = ["EXIT_EXPIRED", "EXIT_PAUSED", "app", "approve", "parse_output_value"]

EXIT_PAUSED = 3
EXIT_EXPIRED = 4


class _Usage(Exception):
    """Bad usage found once the session is read (exit 2)."""


def parse_output_value(text: str) -> Any:
    """``--output``: JSON when it parses (``42``, ``{"a": 1}``, ``"quoted"``), else the text itself."""
    try:
        return json.loads(text)
    except ValueError:
        return text


@dataclass(frozen=True, slots=True)
class _Answer:
    decisions: Decisions
    said: list[str]
    """One line per call: what it gets."""


def _decide(pending: PendingTurn, call_ids: list[str], deny: bool, output: str | None, where: str) -> _Answer:
    """The decisions for ``pending`` from the command line, or :class:`_Usage` naming what is wrong."""
    by_id = {c.call_id: c for c in pending.calls}
    unknown = [cid for cid in call_ids if cid not in by_id]
    if unknown:
        raise _Usage(f"{where}: not pending: {', '.join(unknown)}. It waits for: {_list(pending.calls)}")
    missing = [c for c in pending.calls if c.call_id not in call_ids]
    if missing:
        raise _Usage(
            f"{where}: every pending call needs a decision in this command; missing: {_list(missing)}"
        )
    approvals: dict[str, bool] = {}
    outputs: dict[str, Any] = {}
    said: list[str] = []
    for cid in dict.fromkeys(call_ids):
        call = by_id[cid]
        if call.kind == "approval":
            approvals[cid] = not deny
            said.append(f"{'denied' if deny else 'approved'} {call.tool} [{cid}]")
        elif output is None:
            raise _Usage(
                f"{where}: {call.tool} [{cid}] is a tool without code: give its result with --output JSON"
            )
        else:
            outputs[cid] = parse_output_value(output)
            said.append(f"gave {call.tool} [{cid}] its result")
    # A flag that applies to none of the listed calls is a mistake worth stopping for.
    if output is not None and not outputs:
        raise _Usage(f"{where}: --output was given, but none of the listed calls needs a result")
    if deny and not approvals:
        raise _Usage(f"{where}: --deny was given, but none of the listed calls needs approval")
    return _Answer(Decisions(approvals=approvals, tool_outputs=outputs), said)


def _list(calls: list[PendingCall]) -> str:
    kinds = {"approval": "needs approval", "output": "needs --output"}
    return ", ".join(f"{c.call_id} ({c.tool}, {kinds[c.kind]})" for c in calls)


def _load(path: Path, agent: str) -> tuple[AgentCatalog, str]:
    catalog, problems = check_app(path, check_models=False)
    for problem in problems:
        typer.echo(str(problem), err=True)
    if catalog is None:
        raise typer.Exit(1)
    try:
        return catalog, catalog.resolve(agent).slug
    except KeyError as exc:
        typer.echo(f"error: {exc.args[0]}", err=True)
        raise typer.Exit(2) from None


def _output_binding(catalog: AgentCatalog, slug: str) -> OutputBinding | None:
    for binding in bindings_from_catalog(catalog):
        if binding.agent == slug:
            return binding.output
    return None


async def _write_output(
    output: OutputBinding, origin: TriggerOrigin, result: AgentRunResult[Any], environ: Mapping[str, str]
) -> str:
    """Write the answer where the trigger host would have (the same sink, the same storage)."""
    resources = Resources(TriggerSettings.from_environ(environ))
    try:
        account = resolve_account(output.connection, environ)
        sink = resources.output_sink(output, account)
        await sink.start()
        answer, is_json = answer_of(result)
        return await sink.write(answer, is_json, origin.data, origin.captures)
    finally:
        await resources.aclose()


@app.command()
def approve(
    path: Annotated[
        Path,
        typer.Argument(metavar="APP", help="The app folder (holding *.agent.md files).", show_default=False),
    ],
    agent: Annotated[str, typer.Argument(metavar="AGENT", help="The agent's slug.", show_default=False)],
    session: Annotated[
        str, typer.Argument(metavar="SESSION", help="The session of the paused turn.", show_default=False)
    ],
    call_ids: Annotated[
        list[str] | None,
        typer.Argument(
            metavar="CALL_ID", help="The pending calls to answer (all of them).", show_default=False
        ),
    ] = None,
    deny: Annotated[bool, typer.Option("--deny", help="Refuse the listed calls that need approval.")] = False,
    output: Annotated[
        str | None,
        typer.Option(
            "--output",
            metavar="JSON",
            help="The result of the listed calls to tools without code (JSON, else taken as text).",
        ),
    ] = None,
) -> None:
    """Answer a paused turn: approve (or --deny) its calls, or give results with --output; then resume it.

    Exit codes: 0 answered; 1 the app or the run failed, or writing the output binding
    failed; 2 bad usage (unknown agent or session, nothing waiting, a missing or unknown
    call id); 3 the resumed run paused again; 4 the turn had expired.
    """
    try:
        session_id = validate_session_id(session)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="SESSION") from None
    catalog, slug = _load(path, agent)
    where = f"session {session_id!r} of agent {slug!r}"
    printer = TurnPrinter()
    environ = dict(os.environ)

    async def main() -> int:
        runner = Runner(catalog, store_from_env(environ))
        try:
            pending = await runner.pending(slug, session_id)
            if pending is None:
                raise NothingPendingError(f"{where} has no turn waiting for decisions")
            answer = _decide(pending, list(call_ids or []), deny, output, where)
            history = await runner.history(slug, session_id, max_messages=max(pending.run_messages, 1))
            origin = trigger_origin(history[-pending.run_messages :] if pending.run_messages else history)
            for line in answer.said:
                printer.note(line, "yellow")
            result: AgentRunResult[Any] | None = None
            async for _, event in runner.stream(
                slug, None, session_id=session_id, decisions=answer.decisions
            ):
                printer.event(event)
                if isinstance(event, RunCompletedEvent):
                    result = event.result
            printer.finish()
            assert result is not None
            return await _after(runner, slug, session_id, result, origin, environ, printer)
        finally:
            await runner.aclose()

    try:
        code = asyncio.run(main())
    except _Usage as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    except (NothingPendingError, SessionNotFoundError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    except PendingExpiredError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(EXIT_EXPIRED) from None
    except (AgentdownError, OSError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    if code:
        raise typer.Exit(code)


async def _after(
    runner: Runner,
    slug: str,
    session_id: str,
    result: AgentRunResult[Any],
    origin: TriggerOrigin | None,
    environ: Mapping[str, str],
    printer: TurnPrinter,
) -> int:
    """Report a paused-again run, or write the trigger's output binding for the answer."""
    if result.requires_action and result.state is not None:
        calls = calls_of(result.state)
        printer.note(f"the run waits again for decisions on: {_list(calls)}", "yellow")
        printer.note(f"answer with: {approve_command(runner.catalog.app_dir, slug, session_id, calls)}")
        return EXIT_PAUSED
    printer.note(f"session: {session_id}")
    binding = _output_binding(runner.catalog, slug)
    if binding is None:
        return 0
    if origin is None:
        printer.note(
            f"{slug} has an output binding, but this turn was not started by its trigger: nothing written",
            "yellow",
        )
        return 0
    try:
        wrote = await _write_output(binding, origin, result, environ)
    except (AgentdownError, OSError, ValueError) as exc:
        printer.note(f"error: writing the answer to the output binding failed: {exc}", "red")
        return 1
    printer.note(f"answer written to {wrote}")
    return 0
