"""Markdown apps: ``*.agent.md`` files, ``agents.config.yaml``, ``tools/``, ``skills/``, ``mcp.json``.

:func:`load_app` turns an app folder into a validated :class:`AgentCatalog`;
:func:`check_app` returns every problem instead of raising.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from agentdown.lazy import lazy_exports

if TYPE_CHECKING:
    from agentdown.app.catalog import AgentCatalog, AppSummary, check_app, load_app
    from agentdown.app.diagnostics import AppLoadError, Problem, Problems
    from agentdown.app.spec import AgentSpec
    from agentdown.app.substitution import substitute_markdown, substitute_string, substitute_values
    from agentdown.app.triggers import trigger_prompt

__all__ = [
    "AgentCatalog",
    "AgentSpec",
    "AppLoadError",
    "AppSummary",
    "Problem",
    "Problems",
    "check_app",
    "load_app",
    "substitute_markdown",
    "substitute_string",
    "substitute_values",
    "trigger_prompt",
]

_HOMES = {
    "AgentCatalog": "catalog",
    "AppSummary": "catalog",
    "check_app": "catalog",
    "load_app": "catalog",
    "AppLoadError": "diagnostics",
    "Problem": "diagnostics",
    "Problems": "diagnostics",
    "AgentSpec": "spec",
    "substitute_markdown": "substitution",
    "substitute_string": "substitution",
    "substitute_values": "substitution",
    "trigger_prompt": "triggers",
}


# Lazy: importing one submodule (say agentdown.app.spec, for a type) must not pull in
# the whole loader and the agent, which CLI start-up time depends on.
__getattr__ = lazy_exports(__name__, _HOMES)
