"""``WorkflowBuilder``: add executors (or agents) and edges fluently, then ``build()`` a checked ``Workflow``."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any, Literal

from agentdown.exceptions import ConfigurationError
from agentdown.workflows.agents import AgentExecutor, is_agent
from agentdown.workflows.edges import Case, Condition, Default, Edge, EdgeGroup, EdgeKind, SelectionFunc
from agentdown.workflows.executor import Executor
from agentdown.workflows.signature import compute_signature
from agentdown.workflows.validation import validate_graph
from agentdown.workflows.workflow import OutputSelection, Workflow

__all__ = ["WorkflowBuilder"]


class WorkflowBuilder:
    """Builds a :class:`Workflow`; every ``add_*`` method returns the builder.

    Sources and targets are executors or agents (anything with a name and an async
    ``run``: it becomes an :class:`AgentExecutor` whose id is the agent's name).

    ``output_from`` chooses the executors whose ``yield_output`` is a workflow ``output``
    (default: every executor's); ``intermediate_output_from`` (a list, ``"all"`` or
    ``"all_other"``) those whose yields are ``intermediate`` events. When either is given,
    yields of executors in neither are not emitted.
    """

    def __init__(
        self,
        *,
        start_executor: Any,
        max_iterations: int = 100,
        name: str | None = None,
        description: str | None = None,
        checkpoint_storage: Any = None,
        output_from: Sequence[Any] | Literal["all"] | None = None,
        intermediate_output_from: Sequence[Any] | Literal["all", "all_other"] | None = None,
    ) -> None:
        if isinstance(max_iterations, bool) or not isinstance(max_iterations, int) or max_iterations < 1:
            raise ConfigurationError(f"max_iterations must be an integer >= 1, got {max_iterations!r}")
        self._executors: dict[str, Executor] = {}
        self._wrapped: dict[int, tuple[Any, Executor]] = {}
        self._duplicates: list[str] = []
        self._groups: list[EdgeGroup] = []
        self._start_id = self._node(start_executor)
        self._max_iterations = max_iterations
        self._name = name
        self._description = description
        self._checkpoint_storage = checkpoint_storage
        self._output_from = output_from
        self._intermediate_from = intermediate_output_from

    def _node(self, obj: Any) -> str:
        """Register ``obj`` (wrapping an agent once) and return its executor id."""
        known = self._wrapped.get(id(obj))
        if known is not None:
            return known[1].id
        if isinstance(obj, Executor):
            if not hasattr(obj, "handlers"):
                raise ConfigurationError(
                    f"{type(obj).__name__}.__init__ must call super().__init__(id) so its handlers are registered"
                )
            executor = obj
        elif is_agent(obj):
            executor = AgentExecutor(obj)
        else:
            raise ConfigurationError(
                f"{obj!r} is neither an Executor nor an agent (a named object with an async run method)"
            )
        # Keep obj alive with its entry, so id(obj) is never reused by another object.
        self._wrapped[id(obj)] = (obj, executor)
        existing = self._executors.get(executor.id)
        if existing is None:
            self._executors[executor.id] = executor
        elif existing is not executor:
            self._duplicates.append(executor.id)
        return executor.id

    def _group(self, kind: EdgeKind, edges: list[Edge], **extra: Any) -> WorkflowBuilder:
        group_id = f"{kind}:{len(self._groups)}:{edges[0].source_id}"
        self._groups.append(EdgeGroup(group_id, kind, edges, **extra))
        return self

    def add_edge(self, source: Any, target: Any, condition: Condition | None = None) -> WorkflowBuilder:
        """``source`` → ``target``; with ``condition``, only messages for which it is true cross."""
        return self._group("single", [Edge(self._node(source), self._node(target), condition)])

    def add_fan_out_edges(self, source: Any, targets: Sequence[Any]) -> WorkflowBuilder:
        """Every message of ``source`` goes to each of ``targets`` that accepts its type."""
        src = self._node(source)
        return self._group("fan_out", [Edge(src, self._node(t)) for t in _non_empty(targets, "targets")])

    def add_fan_in_edges(self, sources: Sequence[Any], target: Any) -> WorkflowBuilder:
        """``target`` receives one ``list`` once every source has sent (messages in source order).

        As in Agent Framework, what a source sends waits in the group's buffer across
        supersteps (and checkpoints) until the last source has sent too.
        """
        tgt = self._node(target)
        srcs = [self._node(s) for s in _non_empty(sources, "sources")]
        self._groups.append(
            EdgeGroup(f"fan_in:{len(self._groups)}:{tgt}", "fan_in", [Edge(s, tgt) for s in srcs])
        )
        return self

    def add_switch_case_edge_group(self, source: Any, cases: Sequence[Case | Default]) -> WorkflowBuilder:
        """The first ``Case`` whose condition is true takes the message, else the ``Default``."""
        src = self._node(source)
        edges: list[Edge] = []
        for case in _non_empty(cases, "cases"):
            if not isinstance(case, Case | Default):
                raise ConfigurationError(f"switch cases must be Case(...) or Default(...), got {case!r}")
            condition = case.condition if isinstance(case, Case) else None
            edges.append(Edge(src, self._node(case.target), condition))
        return self._group("switch_case", edges, cases=list(cases))

    def add_multi_selection_edge_group(
        self, source: Any, targets: Sequence[Any], selection_func: SelectionFunc
    ) -> WorkflowBuilder:
        """``selection_func(message, target_ids)`` returns the ids of the targets that get the message."""
        src = self._node(source)
        edges = [Edge(src, self._node(t)) for t in _non_empty(targets, "targets")]
        return self._group("multi_selection", edges, selection_func=selection_func)

    def add_chain(self, executors: Sequence[Any]) -> WorkflowBuilder:
        """Edges ``a → b → c`` for ``[a, b, c]``."""
        items = _non_empty(executors, "executors")
        for source, target in itertools.pairwise(items):
            self.add_edge(source, target)
        return self

    def build(self) -> Workflow:
        """Check the graph and return the workflow; raises a ``WorkflowValidationError`` subclass."""
        validate_graph(self._start_id, self._executors, self._groups, self._duplicates)
        signature = compute_signature(self._start_id, self._executors, self._groups)
        return Workflow(
            start_executor_id=self._start_id,
            executors=dict(self._executors),
            edge_groups=list(self._groups),
            max_iterations=self._max_iterations,
            name=self._name or f"workflow-{signature[:12]}",
            description=self._description,
            checkpoint_storage=self._checkpoint_storage,
            signature=signature,
            outputs=OutputSelection(
                self._selection(self._output_from), self._selection(self._intermediate_from)
            ),
        )

    def _selection(self, chosen: Sequence[Any] | str | None) -> frozenset[str] | str | None:
        if chosen is None or isinstance(chosen, str):
            if isinstance(chosen, str) and chosen not in ("all", "all_other"):
                raise ConfigurationError(
                    f"an output selection is a list of executors, 'all' or 'all_other', not {chosen!r}"
                )
            return chosen
        ids = frozenset(self._node(c) for c in chosen)
        unknown = ids - self._executors.keys()
        if unknown:  # pragma: no cover - _node registers what it names
            raise ConfigurationError(f"unknown executors in an output selection: {sorted(unknown)}")
        return ids


def _non_empty(items: Sequence[Any], what: str) -> list[Any]:
    listed = list(items)
    if not listed:
        raise ConfigurationError(f"{what} must not be empty")
    return listed
