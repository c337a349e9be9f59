"""The root ``agentdown`` command; subcommands register themselves on :data:`app`."""

from __future__ import annotations

import typer

from agentdown.version import __version__

app = typer.Typer(help="agentdown: AI agents written as Markdown.", no_args_is_help=True)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"agentdown {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """agentdown: AI agents written as Markdown."""
