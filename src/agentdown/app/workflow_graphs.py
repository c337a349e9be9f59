"""Python workflow graphs of an app: the modules of its ``workflows/`` folder.

Each top-level ``workflows/*.py`` module (``_private`` ones are helpers) offers graphs
in one of two ways:

* a module-level :class:`~agentdown.workflows.Workflow` object (``workflow = WorkflowBuilder(...).build()``):
  one object serves every run of the process, so its executors must keep no state of
  their own between runs (workflow state, ``ctx.set_state``, is per run);
* a zero-argument function named ``build_workflow`` returning a ``Workflow``: called once
  here (for its name) and again for every superstep a durable worker runs, so each gets
  a fresh graph.

A graph is known by its ``name`` (``WorkflowBuilder(name=...)``); two graphs of one
name are an error naming both places. A module that fails to import, a
``build_workflow`` that raises or returns something else, and a module that offers no
graph are errors with the file and line: nothing is dropped silently.
"""

from __future__ import annotations

import hashlib
import importlib
import sys
import types
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from agentdown.app.diagnostics import AppLoadError, Problems
from agentdown.app.discovery import _definition_lines, _import_error, _module_files
from agentdown.workflows.workflow import Workflow

__all__ = [
    "FACTORY_NAME",
    "WorkflowGraph",
    "WorkflowGraphs",
    "discover_workflow_graphs",
    "load_workflow_graphs",
]

FACTORY_NAME = "build_workflow"


@dataclass(frozen=True, slots=True)
class WorkflowGraph:
    """One graph of ``workflows/``: where it is defined and how to get it."""

    name: str
    file: Path
    line: int
    workflow: Workflow
    """The module-level object, or what ``build_workflow`` returned at discovery."""
    factory: Callable[[], Workflow] | None = None

    def build(self) -> Workflow:
        """The graph for one step: the module-level object, or a fresh one from ``build_workflow``."""
        if self.factory is None:
            return self.workflow
        built = self.factory()
        if not isinstance(built, Workflow):
            raise TypeError(f"{self.file}:{self.line}: {FACTORY_NAME}() returned {type(built).__name__}")
        return built


class WorkflowGraphs(Mapping[str, WorkflowGraph]):
    """The app's graphs by name, in file order."""

    def __init__(self, graphs: Mapping[str, WorkflowGraph]) -> None:
        self._graphs = dict(graphs)

    def __getitem__(self, name: str) -> WorkflowGraph:
        return self._graphs[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._graphs)

    def __len__(self) -> int:
        return len(self._graphs)


def load_workflow_graphs(app_dir: Path) -> WorkflowGraphs:
    """The graphs of ``app_dir/workflows``; :class:`AppLoadError` listing every problem otherwise."""
    problems = Problems()
    graphs = discover_workflow_graphs(app_dir, problems)
    if problems.errors:
        raise AppLoadError(problems)
    return WorkflowGraphs(graphs)


def discover_workflow_graphs(app_dir: Path, problems: Problems) -> dict[str, WorkflowGraph]:
    folder = app_dir / "workflows"
    if not folder.is_dir():
        return {}
    # A package of its own per app (as tools/ has): two apps' workflows/triage.py stay apart,
    # and modules may import each other relatively.
    digest = hashlib.sha1(str(folder.resolve()).encode()).hexdigest()[:12]
    package = f"_agentdown_app_{digest}_workflows"
    module_package = types.ModuleType(package, f"workflows of the agentdown app at {app_dir}")
    module_package.__path__ = [str(folder)]
    for name in [m for m in sys.modules if m == package or m.startswith(package + ".")]:
        del sys.modules[name]
    sys.modules[package] = module_package
    importlib.invalidate_caches()
    found: dict[str, WorkflowGraph] = {}
    for path in _module_files(folder):
        try:
            module = importlib.import_module(f"{package}.{path.stem}")
        except (Exception, SystemExit) as exc:
            line, text = _import_error(exc, path, app_dir)
            problems.add(
                path, line, f"importing this workflow module failed: {type(exc).__name__}: {exc}\n{text}"
            )
            continue
        for graph in _graphs_of(module, path, app_dir, problems):
            other = found.get(graph.name)
            if other is not None:
                problems.add(
                    graph.file,
                    graph.line,
                    f"a workflow named {graph.name!r} is already defined at {other.file}:{other.line}: "
                    "give one of them another name (WorkflowBuilder(name=...))",
                )
                continue
            found[graph.name] = graph
    return found


def _graphs_of(
    module: types.ModuleType, path: Path, app_dir: Path, problems: Problems
) -> list[WorkflowGraph]:
    lines = _definition_lines(path)
    out: list[WorkflowGraph] = []
    seen: set[int] = set()
    factory = vars(module).get(FACTORY_NAME)
    if callable(factory):
        line = lines.get(FACTORY_NAME, 0)
        try:
            built = factory()
        except Exception as exc:
            where, text = _import_error(exc, path, app_dir)
            problems.add(path, where or line, f"{FACTORY_NAME}() raised {type(exc).__name__}: {exc}\n{text}")
            return []
        if not isinstance(built, Workflow):
            problems.add(
                path,
                line,
                f"{FACTORY_NAME}() must return a Workflow (WorkflowBuilder(...).build()), "
                f"not {type(built).__name__}",
            )
            return []
        out.append(WorkflowGraph(built.name, path, line, built, factory))
        seen.add(id(built))
    for attr, value in vars(module).items():
        if isinstance(value, Workflow) and id(value) not in seen and not attr.startswith("_"):
            seen.add(id(value))
            out.append(WorkflowGraph(value.name, path, lines.get(attr, 0), value))
    if not out:
        problems.add(
            path,
            0,
            f"this workflow module defines no workflow: expected a module-level Workflow "
            f"(WorkflowBuilder(...).build()) or a {FACTORY_NAME}() function returning one",
        )
    return out
