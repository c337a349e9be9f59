"""App commands: ``check``, ``schema``, ``init``, ``run``, ``chat``.

Exit codes: 0 success; 1 the app has problems or the run failed; 2 bad usage (an
unknown agent, a missing prompt); 3 a run stopped waiting for a tool approval.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Annotated, Any

import typer

from agentdown.app.catalog import AgentCatalog, check_app
from agentdown.app.report import app_report
from agentdown.app.schema import front_matter_schema
from agentdown.app.spec import AgentSpec
from agentdown.cli.logs import configure_terminal_logging
from agentdown.cli.main import app
from agentdown.cli.problems import ProblemFormat, print_problems
from agentdown.cli.render import TurnPrinter, run_turn
from agentdown.cli.scaffold import scaffold
from agentdown.cli.scaffold_function import declaration, scaffold_azure_functions, scaffold_function
from agentdown.exceptions import AgentdownError
from agentdown.loop.events import ApprovalRequest
from agentdown.runtime import queue_tools as _queue_tools  # noqa: F401  (run/chat build queue tools)
from agentdown.sessions import (
    Session,
    StoredSession,
    load_session,
    save_turn,
    store_from_env,
    validate_session_id,
)
from agentdown.tools.protocol import check_tool_name

__all__ = ["app"]

AppPath = Annotated[
    Path, typer.Argument(metavar="APP", help="The app folder (holding *.agent.md files).", show_default=False)
]
AgentOpt = Annotated[
    str | None, typer.Option("--agent", "-a", help="The agent's slug (default: main, or the only agent).")
]
SessionOpt = Annotated[
    str | None,
    typer.Option(
        "--session", "-s", help="Continue (or start) this stored session; its id is printed at the end."
    ),
]
EXIT_APPROVAL = 3


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def _describe(catalog: AgentCatalog, spec: AgentSpec) -> str:
    parts = [f"  {spec.slug}: {spec.name}"]
    trigger = spec.trigger or spec.functions_trigger
    if trigger is not None:
        where = " (on Azure Functions)" if spec.functions_trigger is not None else ""
        args = json.dumps(trigger.args, separators=(",", ":"), default=str)
        parts.append(f"trigger {trigger.type}{where} {args}")
    endpoints = [
        n
        for n, on in (
            ("chat page", spec.builtin_endpoints.debug_chat_ui),
            ("chat API", spec.builtin_endpoints.chat_api),
            ("MCP", spec.builtin_endpoints.mcp),
        )
        if on
    ]
    if endpoints:
        parts.append("endpoints: " + ", ".join(endpoints))
    tools = catalog.tool_names(spec.slug)
    parts.append("tools: " + (", ".join(tools) if tools else "none"))
    return " · ".join(parts)


FORMATS = ("text", "json", "github")
VerboseOpt = Annotated[
    bool, typer.Option("--verbose", "-v", help="Show debug logs and the full traceback of a failing tool.")
]


@app.command()
def check(
    path: AppPath,
    require_model: Annotated[
        bool,
        typer.Option("--require-model", help="Treat a missing model provider configuration as an error."),
    ] = False,
    output_format: Annotated[
        str,
        typer.Option(
            "--format",
            "-f",
            help="text (default); json: the resolved app and every problem (docs/check-json.md); "
            "github: problems as GitHub Actions annotations.",
        ),
    ] = "text",
) -> None:
    """Validate an app: print every problem (exit 1), or a summary of what it holds."""
    if output_format not in FORMATS:
        raise typer.BadParameter(
            f"expected one of {', '.join(FORMATS)}, got {output_format!r}", param_hint="--format"
        )
    catalog, problems = check_app(path, require_model=require_model)
    if catalog is not None and (catalog.app_dir / "workflows").is_dir():
        # Workflow graphs are imported by serve and worker at start: check imports them too.
        from agentdown.app.workflow_graphs import discover_workflow_graphs

        before = len(problems.errors)
        discover_workflow_graphs(catalog.app_dir, problems)
        if len(problems.errors) > before:
            catalog = None
    if output_format == "json":
        typer.echo(json.dumps(app_report(path, catalog, problems), indent=2, ensure_ascii=False, default=str))
        if catalog is None:
            raise typer.Exit(1)
        return
    form: ProblemFormat = "github" if output_format == "github" else "text"
    print_problems(problems, err=False, form=form)
    if catalog is None:
        errors = len(problems.errors)
        typer.echo(
            f"{path}: {_plural(errors, 'error')}, {_plural(len(problems.warnings), 'warning')}", err=True
        )
        raise typer.Exit(1)
    s = catalog.summary()
    typer.echo(
        f"{path}: OK · {_plural(s.agents, 'agent')}, {_plural(s.tools, 'tool')}, {_plural(s.skills, 'skill')}, "
        f"{_plural(s.mcp_servers, 'MCP server')}, {_plural(s.triggers, 'trigger')}, "
        f"{_plural(s.endpoints, 'agent')} with endpoints"
    )
    for spec in catalog.specs.values():
        typer.echo(_describe(catalog, spec))


@app.command()
def schema(
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write to this file instead of stdout.")
    ] = None,
) -> None:
    """Print the JSON Schema of .agent.md front matter (for editors)."""
    text = json.dumps(front_matter_schema(), indent=2) + "\n"
    if output is None:
        typer.echo(text, nl=False)
    else:
        output.write_text(text, encoding="utf-8")
        typer.echo(f"wrote {output}", err=True)


@app.command()
def init(
    path: Annotated[
        Path, typer.Argument(metavar="APP", help="The folder to create the app in.", show_default=False)
    ],
    force: Annotated[bool, typer.Option("--force", help="Overwrite files that already exist.")] = False,
    queue_function: Annotated[
        str | None,
        typer.Option(
            "--queue-function",
            metavar="NAME",
            help="Instead: an Azure Functions app (function_app.py, host.json, requirements.txt) answering "
            "the queue tool NAME.",
        ),
    ] = None,
    azure_functions: Annotated[
        bool,
        typer.Option(
            "--azure-functions",
            help="Also (or, on an existing app, only) the Azure Functions files: function_app.py, host.json, "
            "requirements.txt, local.settings.json, .funcignore; existing files are kept.",
        ),
    ] = False,
) -> None:
    """Create a working app: an agent, a tools/ example, agents.config.yaml and a README."""
    if azure_functions:
        _init_azure_functions(path, force=force)
        return
    if queue_function is not None:
        try:
            check_tool_name(queue_function, "--queue-function")
            written = scaffold_function(path, queue_function, force=force)
        except (FileExistsError, ValueError) as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(1) from None
        for file in written:
            typer.echo(f"created {file}")
        typer.echo(f"\nAn agent calls it with this front matter:\n{declaration(queue_function)}")
        return
    try:
        written = scaffold(path, force=force)
    except FileExistsError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    for file in written:
        typer.echo(f"created {file}")
    typer.echo(f'\nNext: configure a model (e.g. OPENAI_API_KEY), then: agentdown run {path} "Roll two dice"')


def _has_agents(path: Path) -> bool:
    folders = [path, path / "agents", path / "Agents"]
    names = ("*.agent.md", "*.claude.md", "agent.md", "CLAUDE.md")
    return any(next(folder.glob(name), None) is not None for folder in folders for name in names)


def _init_azure_functions(path: Path, *, force: bool) -> None:
    if not _has_agents(path):
        try:
            for file in scaffold(path, force=force):
                typer.echo(f"created {file}")
        except FileExistsError as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(1) from None
    written, kept = scaffold_azure_functions(path, force=force)
    for file in written:
        typer.echo(f"created {file}")
    for file in kept:
        typer.echo(f"kept    {file} (exists; --force overwrites it)")
    entry = path / "function_app.py"
    if entry in kept and "azure_functions_agents" in entry.read_text(encoding="utf-8", errors="replace"):
        typer.echo(f"\n{entry}: change its import to `from agentdown.hosting import create_function_app`")
    typer.echo(
        f"\nNext: cd {path} && func start   (Azurite for AzureWebJobsStorage), or agentdown serve {path}"
    )


def _load(path: Path, slug: str | None) -> tuple[AgentCatalog, AgentSpec]:
    # The model is checked when the agent is built, with a clearer error than a warning here.
    catalog, problems = check_app(path, check_models=False)
    print_problems(problems)
    if catalog is None:
        raise typer.Exit(1)
    try:
        return catalog, catalog.resolve(slug)
    except KeyError as exc:
        typer.echo(f"error: {exc.args[0]}", err=True)
        raise typer.Exit(2) from None


def _session_id(value: str | None) -> str | None:
    if value is None:
        return None
    try:
        return validate_session_id(value)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--session") from None


@contextlib.asynccontextmanager
async def _session(
    slug: str, session_id: str | None
) -> AsyncIterator[tuple[Session, Callable[[], Any] | None]]:
    """An in-memory session, or with ``--session`` one loaded from (and saved to) the session store."""
    if session_id is None:
        yield Session(), None
        return
    store = store_from_env(os.environ)
    try:
        stored: StoredSession = await load_session(store, slug, session_id)

        async def save() -> None:
            await save_turn(store, stored)

        yield stored, save
    finally:
        await store.aclose()


def _stdin_approver(printer: TurnPrinter, approve_all: bool) -> Callable[[ApprovalRequest], bool]:
    def ask(request: ApprovalRequest) -> bool:
        args = json.dumps(request.arguments or {}, ensure_ascii=False)
        if approve_all:
            printer.note(f"approved {request.name} {args} (--approve-tools)", "yellow")
            return True
        if not sys.stdin.isatty():
            printer.note(f"denied {request.name} {args}: it needs approval (pass --approve-tools)", "yellow")
            return False
        return typer.confirm(f"Run {request.name} {args}?", default=False, err=True)

    return ask


async def _index_knowledge(catalog: AgentCatalog, spec: AgentSpec, printer: TurnPrinter) -> None:
    """Bring the agent's knowledge index up to date before its first turn (changed files only)."""
    if spec.knowledge is None:
        return
    report = await catalog.knowledge.folder(spec).sync()
    if report.parsed or report.failed:
        printer.note(
            f"knowledge: {report.files} files, {report.chunks} chunks ({len(report.parsed)} indexed now, "
            f"{len(report.failed)} failed: agentdown index {catalog.app_dir} lists them)"
        )


def _fail(exc: BaseException) -> typer.Exit:
    typer.echo(f"error: {exc}", err=True)
    return typer.Exit(1)


@app.command()
def run(
    path: AppPath,
    prompt: Annotated[
        str, typer.Argument(metavar="PROMPT", help='The prompt; "-" reads it from stdin.', show_default=False)
    ],
    agent: AgentOpt = None,
    session: SessionOpt = None,
    approve_tools: Annotated[
        bool, typer.Option("--approve-tools", help="Approve tool calls that need approval.")
    ] = False,
    verbose: VerboseOpt = False,
) -> None:
    """Run one turn of an agent, streaming the answer and showing tool calls as they run."""
    configure_terminal_logging(verbose)
    text = sys.stdin.read() if prompt == "-" else prompt
    if not text.strip():
        typer.echo("error: the prompt is empty", err=True)
        raise typer.Exit(2)
    catalog, spec = _load(path, agent)
    session_id = _session_id(session)
    printer = TurnPrinter()

    async def main() -> int:
        try:
            built = catalog.build_agent(spec.slug)
            await _index_knowledge(catalog, spec, printer)
            async with _session(spec.slug, session_id) as (conversation, save):
                result = await run_turn(
                    built, text, conversation, printer, _stdin_approver(printer, approve_tools)
                )
                if save is not None:
                    await save()
                    printer.note(f"session: {conversation.id}")
            return EXIT_APPROVAL if result.requires_action else 0
        finally:
            await catalog.aclose()

    try:
        code = asyncio.run(main())
    except (AgentdownError, OSError) as exc:
        raise _fail(exc) from None
    if code:
        raise typer.Exit(code)


@app.command()
def chat(
    path: AppPath,
    agent: AgentOpt = None,
    session: SessionOpt = None,
    verbose: VerboseOpt = False,
) -> None:
    """Chat with an agent in the terminal; the conversation keeps its session. /exit ends it."""
    configure_terminal_logging(verbose)
    catalog, spec = _load(path, agent)
    session_id = _session_id(session)
    printer = TurnPrinter()
    interactive = sys.stdin.isatty()
    printer.note(f"{spec.name} ({spec.slug}) · /exit to quit", "bold")

    def read() -> str | None:
        if not interactive:
            line = sys.stdin.readline()
            return None if line == "" else line.rstrip("\n")
        with contextlib.suppress(ImportError):
            import readline  # noqa: F401  (line editing and history for input())
        try:
            return input("you> ")
        except EOFError:
            return None

    async def main() -> None:
        try:
            built = catalog.build_agent(spec.slug)
            await _index_knowledge(catalog, spec, printer)
            async with _session(spec.slug, session_id) as (conversation, save):

                def ask(request: ApprovalRequest) -> bool:
                    args = json.dumps(request.arguments or {}, ensure_ascii=False)
                    printer.note(f"approve {request.name} {args}? [y/N]", "yellow")
                    answer = read()
                    return (answer or "").strip().lower() in ("y", "yes")

                while (line := read()) is not None:
                    if line.strip() in ("/exit", "/quit"):
                        break
                    if not line.strip():
                        continue
                    try:
                        await run_turn(built, line, conversation, printer, ask)
                    except AgentdownError as exc:
                        printer.note(f"error: {exc}", "red")
                    if save is not None:
                        await save()
                printer.note(f"session: {conversation.id}")
        finally:
            await catalog.aclose()

    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        printer.note("interrupted")
    except (AgentdownError, OSError) as exc:
        raise _fail(exc) from None
