"""Planned workflows of an agent (``workflows: {enabled: true}``): its workflow tools, policy and prompt.

``tools/`` discovery collects the ``@workflow_tool`` callables (:class:`WorkflowToolDef`);
an agent's plans may use the public ones minus ``workflows.exclude`` and hand work to the
``workflows.subagents``. The five management tools that start and follow workflows
need the durable runner, which is the runtime's: like queue tools, the runtime registers
a factory here (:func:`register_workflow_tool_factory`, on import of
``agentdown.runtime.workflows``) and :meth:`AgentCatalog.build_agent
<agentdown.app.catalog.AgentCatalog.build_agent>` asks it for the bound tools
(:func:`workflow_setup`), adding the system-prompt addendum of
:func:`agentdown.workflows.planned.workflow_addendum`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from agentdown.exceptions import ConfigurationError
from agentdown.tools.function import FunctionTool
from agentdown.tools.protocol import Tool
from agentdown.workflows.planned.marks import workflow_tool_mark, workflow_tool_name

if TYPE_CHECKING:
    from agentdown.app.catalog import AgentCatalog
    from agentdown.app.spec import AgentSpec
    from agentdown.workflows.planned import PlanPolicy

__all__ = [
    "WorkflowToolDef",
    "WorkflowToolFactory",
    "register_workflow_tool_factory",
    "workflow_policy",
    "workflow_setup",
    "workflow_tool_def",
    "workflow_tool_factory",
    "workflow_tools_of",
]


@dataclass(frozen=True, slots=True)
class WorkflowToolDef:
    """One ``@workflow_tool`` of ``tools/``: what plans call it, and what runs."""

    name: str
    """The name in plans (the mark's ``name``, else the function's or tool's own)."""
    target: Any
    """The marked callable (called with one ``args`` dict) or ``FunctionTool`` (called with its arguments)."""
    description: str
    """What the planning model reads (the mark's ``description``, else the docstring's first paragraph)."""
    public: bool
    file: Path
    line: int


def workflow_tool_def(value: object, file: Path, line: int) -> WorkflowToolDef:
    """The definition of a marked ``value`` (``TypeError`` when it has no usable name)."""
    mark = workflow_tool_mark(value)
    assert mark is not None
    name = workflow_tool_name(value)
    description = mark.description
    if not description:
        if isinstance(value, FunctionTool):
            description = value.description
        else:
            doc = (getattr(value, "__doc__", None) or "").strip()
            description = doc.split("\n\n", 1)[0].strip()
    return WorkflowToolDef(name, value, " ".join((description or name).split()), mark.public, file, line)


class WorkflowToolFactory(Protocol):
    def __call__(self, catalog: AgentCatalog, spec: AgentSpec, policy: PlanPolicy) -> list[Tool]: ...


_factory: list[WorkflowToolFactory] = []


def register_workflow_tool_factory(factory: WorkflowToolFactory) -> None:
    """Make ``factory`` build the management tools of every workflow-enabled agent (the runtime does this)."""
    _factory[:] = [factory]


def workflow_tool_factory() -> WorkflowToolFactory | None:
    return _factory[0] if _factory else None


def workflow_tools_of(catalog: AgentCatalog, spec: AgentSpec) -> list[WorkflowToolDef]:
    """The workflow tools ``spec``'s plans may use: public ones, minus ``workflows.exclude``."""
    settings = spec.workflows
    if settings is None or not settings.enabled:
        return []
    excluded = set(settings.exclude)
    return [t for t in catalog.workflow_tools if t.public and t.name not in excluded]


def workflow_policy(catalog: AgentCatalog, spec: AgentSpec) -> PlanPolicy:
    """What ``spec``'s plans may use (fixed when the agent is built)."""
    # Here, not at the top: the plan models (pydantic) stay off the path of loading an app.
    from agentdown.workflows.planned import PlanPolicy

    subagents = spec.workflows.subagents if spec.workflows is not None else ()
    return PlanPolicy(
        allowed_tools=frozenset(t.name for t in workflow_tools_of(catalog, spec)),
        allowed_subagents=frozenset(s.agent for s in subagents),
    )


def workflow_setup(catalog: AgentCatalog, spec: AgentSpec) -> tuple[list[Tool], str]:
    """The management tools and the system-prompt addendum of ``spec`` (nothing unless workflows are on)."""
    settings = spec.workflows
    if settings is None or not settings.enabled:
        return [], ""
    factory = workflow_tool_factory()
    if factory is None:
        raise ConfigurationError(
            f"agent '{spec.slug}' has workflows enabled, which the runtime runs: "
            "import agentdown.runtime.workflows first (agentdown serve, worker, run and chat do)"
        )
    from agentdown.workflows.planned import workflow_addendum

    policy = workflow_policy(catalog, spec)
    tools = {t.name: t.description for t in workflow_tools_of(catalog, spec)}
    subagents = {
        s.agent: s.when or getattr(catalog.specs.get(s.agent), "description", s.agent)
        for s in settings.subagents
    }
    trigger = spec.trigger is not None and not spec.builtin_endpoints.chat_api
    return factory(catalog, spec, policy), workflow_addendum(tools, subagents, trigger=trigger)
