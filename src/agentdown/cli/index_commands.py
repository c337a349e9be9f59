"""``agentdown index APP``: build the agents' ``knowledge`` indexes ahead of time.

Prints, per agent, what the sync did: files added, updated, unchanged and removed,
the chunks in the index, and each file that failed with its reason (a file that cannot
be parsed is reported, not fatal: exit 0). Exit 1 when the app has problems or an
index could not be built at all; 2 for an unknown ``--agent``.
"""

from __future__ import annotations

import asyncio
import json
from typing import Annotated, Any

import typer

from agentdown.app.catalog import AgentCatalog, check_app
from agentdown.app.spec import AgentSpec
from agentdown.cli.app_commands import AgentOpt, AppPath
from agentdown.cli.main import app
from agentdown.cli.problems import print_problems
from agentdown.exceptions import AgentdownError
from agentdown.knowledge.base import KnowledgeError
from agentdown.knowledge.folders import SyncReport

__all__ = ["index", "report_lines"]

_SHOWN = 10
"""Files listed per kind before '... and N more'."""


def _listed(label: str, files: list[str]) -> list[str]:
    if not files:
        return []
    shown = ", ".join(files[:_SHOWN]) + (
        f" ... and {len(files) - _SHOWN} more" if len(files) > _SHOWN else ""
    )
    return [f"    {label}: {shown}"]


def report_lines(spec: AgentSpec, report: SyncReport) -> list[str]:
    """What ``index`` prints for one agent."""
    assert spec.knowledge is not None
    head = (
        f"{spec.slug} ({', '.join(spec.knowledge.paths)}): {report.files} file{'s' if report.files != 1 else ''}, "
        f"{report.chunks} chunk{'s' if report.chunks != 1 else ''} · {len(report.added)} added, "
        f"{len(report.updated)} updated, {len(report.unchanged)} unchanged, {len(report.removed)} removed, "
        f"{len(report.failed)} failed · {report.seconds:.2f} s"
    )
    lines = [head, *_listed("added", report.added), *_listed("updated", report.updated)]
    lines += _listed("removed", report.removed)
    lines += [f"    failed: {path}: {reason}" for path, reason in report.failed]
    if report.ignored:
        kinds = sorted({p.rsplit(".", 1)[-1].lower() if "." in p else "(none)" for p in report.ignored})
        lines.append(
            f"    ignored: {len(report.ignored)} file{'s' if len(report.ignored) != 1 else ''} of types "
            f"that cannot be indexed ({', '.join(kinds)})"
        )
    return lines


async def _index(catalog: AgentCatalog, specs: list[AgentSpec]) -> list[tuple[AgentSpec, SyncReport | str]]:
    out: list[tuple[AgentSpec, SyncReport | str]] = []
    try:
        for spec in specs:
            try:
                out.append((spec, await catalog.knowledge.folder(spec).sync()))
            except (AgentdownError, KnowledgeError, OSError) as exc:
                out.append((spec, str(exc)))
    finally:
        await catalog.aclose()
    return out


@app.command()
def index(
    path: AppPath,
    agent: AgentOpt = None,
    output_format: Annotated[
        str, typer.Option("--format", "-f", help="text (default) or json (one object per agent).")
    ] = "text",
) -> None:
    """Build (or bring up to date) the indexes of the agents' knowledge folders."""
    if output_format not in ("text", "json"):
        raise typer.BadParameter(f"expected text or json, got {output_format!r}", param_hint="--format")
    catalog, problems = check_app(path, check_models=False)
    print_problems(problems)
    if catalog is None:
        raise typer.Exit(1)
    if agent is not None:
        try:
            specs = [catalog.resolve(agent)]
        except KeyError as exc:
            typer.echo(f"error: {exc.args[0]}", err=True)
            raise typer.Exit(2) from None
        if specs[0].knowledge is None:
            typer.echo(f"error: agent '{specs[0].slug}' has no knowledge: (nothing to index)", err=True)
            raise typer.Exit(2)
    else:
        specs = [s for s in catalog.specs.values() if s.knowledge is not None]
    if not specs:
        typer.echo(f"{path}: no agent has knowledge: (nothing to index)")
        return
    typer.echo(f"indexing into {catalog.knowledge.root}", err=True)
    results = asyncio.run(_index(catalog, specs))
    failed = False
    records: list[dict[str, Any]] = []
    for spec, outcome in results:
        if isinstance(outcome, str):
            failed = True
            records.append({"agent": spec.slug, "error": outcome})
            if output_format == "text":
                typer.echo(f"{spec.slug}: error: the index could not be built: {outcome}", err=True)
            continue
        records.append(
            {
                "agent": spec.slug,
                "paths": list(spec.knowledge.paths if spec.knowledge else ()),
                **outcome.to_dict(),
            }
        )
        if output_format == "text":
            for line in report_lines(spec, outcome):
                typer.echo(line)
    if output_format == "json":
        typer.echo(json.dumps({"app": str(path), "agents": records}, indent=2, ensure_ascii=False))
    if failed:
        raise typer.Exit(1)
