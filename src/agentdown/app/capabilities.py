"""The app's MCP servers (``mcp.json``) and skills (``skills/``), through their own modules.

This is the one place the catalog meets :mod:`agentdown.app.mcp_config`,
:mod:`agentdown.tools.mcp` and :mod:`agentdown.app.skills`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from agentdown.app.diagnostics import Problems
from agentdown.app.mcp_config import McpServerConfig, load_mcp_file
from agentdown.app.skills import Skill, SkillKit, discover_skills, skill_kit

__all__ = ["SKILL_TOOL_NAMES", "Capabilities", "load_capabilities"]

MCP_FILE = "mcp.json"
SKILL_TOOL_NAMES = ("load_skill", "read_skill_resource")
"""The tools an agent with skills gets (names taken from Agent Framework)."""


@dataclass(frozen=True, slots=True)
class Capabilities:
    """What ``mcp.json`` and ``skills/`` provide to the agents of an app."""

    mcp_servers: Mapping[str, McpServerConfig] = field(default_factory=dict)
    skills: Sequence[Skill] = ()
    skipped_mcp_servers: Mapping[str, str] = field(default_factory=dict)
    """Servers of ``mcp.json`` left out (with a warning), by name, with the reason: agents that
    would use one run without it; naming one in ``mcp: {exclude}`` is fine."""

    @property
    def skill_names(self) -> list[str]:
        return [s.name for s in self.skills]

    def skill_kit(self, allowed: Sequence[str]) -> SkillKit:
        """Instructions and tools for the skills named in ``allowed`` (nothing for none)."""
        keep = set(allowed)
        return skill_kit([s for s in self.skills if s.name in keep])


def load_capabilities(app_dir: Path, environ: Mapping[str, str], problems: Problems) -> Capabilities:
    mcp = load_mcp_file(app_dir / MCP_FILE, environ)
    problems.extend(mcp.problems)
    skills, skill_problems = discover_skills(app_dir)
    problems.extend(skill_problems)
    return Capabilities(mcp_servers=mcp.servers, skills=tuple(skills), skipped_mcp_servers=mcp.skipped)
