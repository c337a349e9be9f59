"""Placeholder module for the serve command group; its issue fills it in."""

from __future__ import annotations

from agentdown.cli.main import app

__all__ = ["app"]
