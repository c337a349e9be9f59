"""Finding an app's agent files (and their slugs) and the tools in ``tools/``."""

from __future__ import annotations

import ast
import hashlib
import importlib
import re
import sys
import traceback
import types
from dataclasses import dataclass
from pathlib import Path

from agentdown.app.diagnostics import Problems
from agentdown.app.requirements import Requirement, find_requirement, read_requirements
from agentdown.app.workflow_tools import WorkflowToolDef, workflow_tool_def
from agentdown.compat.packages import tool_import_context
from agentdown.compat.tools import is_workflow_tool, plain_function_tool
from agentdown.tools.function import FunctionTool
from agentdown.tools.normalize import protocol_problems
from agentdown.tools.protocol import TOOL_NAME_PATTERN, Tool
from agentdown.tools.toolset import Toolset, is_toolset
from agentdown.workflows.planned.marks import RESERVED_TOOL_NAMES

__all__ = ["AgentFile", "DiscoveredTool", "discover_agent_files", "discover_tools", "slugify"]

AGENT_SUFFIXES = (".agent.md", ".claude.md")
MAIN_ALIASES = ("agent.md", "claude.md")
_NON_SLUG = re.compile(r"[^A-Za-z0-9_]")


@dataclass(frozen=True, slots=True)
class AgentFile:
    """An agent file and the slug it was given."""

    path: Path
    slug: str


@dataclass(frozen=True, slots=True)
class DiscoveredTool:
    """A tool (or run-time toolset) found in ``tools/``, with where it was defined."""

    tool: Tool | Toolset
    name: str
    file: Path
    line: int
    """Line of the module-level name bound to it (0 when unknown)."""

    @property
    def is_toolset(self) -> bool:
        return not isinstance(self.tool, Tool)


def slugify(stem: str) -> str:
    """A file stem as a slug: characters outside ``[A-Za-z0-9_]`` become ``_``, outer ``_``
    are trimmed (as the Azure Functions runtime does), a leading digit gets ``fn_``."""
    slug = _NON_SLUG.sub("_", stem).strip("_")
    if not slug:
        return "agent"
    return f"fn_{slug}" if slug[0].isdigit() else slug


def _stem(path: Path) -> str | None:
    """The stem that names the agent of ``path``, ``None`` when it is not an agent file.

    As the Azure Functions agents runtime reads them: ``*.agent.md`` and ``*.claude.md``,
    and a bare ``agent.md`` or ``CLAUDE.md`` (both ``main``); any case; dotfiles skipped.
    """
    name = path.name
    lower = name.lower()
    if name.startswith("."):
        return None
    if lower in MAIN_ALIASES:
        return "main"
    for suffix in AGENT_SUFFIXES:
        if lower.endswith(suffix) and len(name) > len(suffix):
            return name[: -len(suffix)]
    return None


def discover_agent_files(app_dir: Path, problems: Problems) -> list[AgentFile]:
    """The agent files in ``app_dir`` and its ``agents/`` (or ``Agents/``) folder, in path order.

    Two files with one slug are an error naming both (the slug names the agent's routes
    and its delegation tool; the Azure Functions runtime refuses to start too).
    """
    folders = [app_dir, *(p for p in sorted(app_dir.iterdir()) if p.is_dir() and p.name.lower() == "agents")]
    found = sorted(
        (p for folder in folders for p in folder.iterdir() if p.is_file() and _stem(p) is not None),
        key=lambda p: p.relative_to(app_dir).as_posix(),
    )
    taken: dict[str, Path] = {}
    out: list[AgentFile] = []
    for path in found:
        slug = slugify(_stem(path) or "")
        if slug in taken:
            problems.add(
                path,
                0,
                f"{taken[slug].relative_to(app_dir)} already has the slug '{slug}' (the name of the "
                "agent's routes and delegate tool); rename one of the two files",
            )
            continue
        taken[slug] = path
        out.append(AgentFile(path, slug))
    return out


# -- tools/ -----------------------------------------------------------------------------------


def _package_name(tools_dir: Path) -> str:
    digest = hashlib.sha1(str(tools_dir.resolve()).encode()).hexdigest()[:12]
    return f"_agentdown_app_{digest}_tools"


def _fresh_package(tools_dir: Path) -> str:
    """Register ``tools/`` as a package of its own, dropping modules from an earlier load.

    A per-app package name keeps two apps' ``tools/weather.py`` apart, lets tool modules
    import each other relatively (``from . import helpers``), and leaves ``sys.path`` alone.
    """
    name = _package_name(tools_dir)
    for module in [m for m in sys.modules if m == name or m.startswith(name + ".")]:
        del sys.modules[module]
    package = types.ModuleType(name, f"tools of the agentdown app at {tools_dir.parent}")
    package.__path__ = [str(tools_dir)]
    package.__file__ = None
    sys.modules[name] = package
    importlib.invalidate_caches()
    return name


def _module_files(tools_dir: Path) -> list[Path]:
    """The tool modules: each top-level ``.py`` file of ``tools_dir``, as the Azure Functions
    runtime imports them. ``_private`` files and every subfolder are helpers that tool
    modules import (``from _helpers import x``, ``from .lib import y``), not tool modules.
    """
    return [
        path
        for path in sorted(tools_dir.glob("*.py"))
        if path.is_file() and not path.name.startswith(("_", "."))
    ]


def _definition_lines(path: Path) -> dict[str, int]:
    """Line of each module-level name (def, class, assignment) in ``path``."""
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"))
    except (SyntaxError, ValueError, OSError):
        return {}
    lines: dict[str, int] = {}
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            first = min([node.lineno, *(d.lineno for d in node.decorator_list)])
            lines.setdefault(node.name, first)
        elif isinstance(node, ast.Assign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                if isinstance(target, ast.Name):
                    lines.setdefault(target.id, node.lineno)
    return lines


def _import_error(exc: BaseException, path: Path, app_dir: Path) -> tuple[int, str]:
    """The line in ``path`` where importing failed, and the traceback from the app's own frames."""
    tb = traceback.TracebackException.from_exception(exc)
    line = 0
    if isinstance(exc, SyntaxError) and exc.filename and Path(exc.filename) == path:
        line = exc.lineno or 0
    else:
        for frame in tb.stack:
            if Path(frame.filename) == path and frame.lineno:
                line = frame.lineno
    root = str(app_dir.resolve())
    ours = [f for f in tb.stack if str(Path(f.filename).resolve()).startswith(root)]
    if ours:
        tb.stack = traceback.StackSummary.from_list(ours)
    return line, "".join(tb.format()).rstrip()


def _agentdown_objects() -> set[int]:
    """Ids of the objects agentdown's own modules define (imported ones are not app tools)."""
    return {
        id(value)
        for name, module in list(sys.modules.items())
        if (name == "agentdown" or name.startswith("agentdown.")) and module is not None
        for value in vars(module).values()
    }


def discover_tools(
    app_dir: Path, problems: Problems, workflow_tools: list[WorkflowToolDef] | None = None
) -> list[DiscoveredTool]:
    """Import each top-level module of ``tools/`` and collect its tools.

    Modules are imported as the Azure Functions agents runtime imports them (see
    :mod:`agentdown.compat.packages`): ``tools/`` on ``sys.path``, ``azure_functions_agents``
    and ``agent_framework`` available even when not installed.

    A tool is every module-level ``FunctionTool`` (``@tool``) and every other object that
    satisfies the :class:`~agentdown.tools.Tool` protocol, plus run-time toolsets; a module
    with none of those offers each public function defined in it instead (the Azure
    Functions agents runtime's convention for plain tool files). Classes,
    ``_private`` names and objects imported from agentdown itself are skipped, and an object
    bound to several names (or imported by several modules) counts once. An import error is
    a problem naming the file and line, with the traceback; a missing module that
    ``requirements.txt`` lists is a warning saying what to install.

    ``@workflow_tool`` callables are appended to ``workflow_tools`` (a marked ``@tool`` is
    both an agent tool and a workflow tool; a marked plain function only a workflow tool).
    """
    tools_dir = app_dir / "tools"
    if not tools_dir.is_dir():
        return []
    package = _fresh_package(tools_dir)
    own = _agentdown_objects()
    files = _module_files(tools_dir)
    requirements = read_requirements(app_dir)
    # id -> every (file, line, attr) binding it; an object imported by several modules
    # is reported where it is defined (the binding with a definition line).
    bindings: dict[int, list[tuple[Path, int, str, object]]] = {}
    with tool_import_context(tools_dir, (_source(path) for path in files), package):
        for path in files:
            module_name = f"{package}.{path.stem}"
            try:
                module = importlib.import_module(module_name)
            except (Exception, SystemExit) as exc:
                _report_import_error(exc, path, app_dir, requirements, problems)
                continue
            _collect(module, path, own, bindings, problems, workflow_tools)
    found: list[DiscoveredTool] = []
    for places in bindings.values():
        path, line, attr, value = max(places, key=lambda place: place[1] > 0)
        if not line:
            path, line = _defined_at(value, app_dir) or (path, line)
        tool = _as_tool(value, path, line, attr, problems)
        if tool is not None:
            found.append(tool)
    _check_names(found, app_dir, problems)
    return found


def _source(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return ""  # importing it reports the problem


def _collect(
    module: types.ModuleType,
    path: Path,
    own: set[int],
    bindings: dict[int, list[tuple[Path, int, str, object]]],
    problems: Problems,
    workflow_tools: list[WorkflowToolDef] | None = None,
) -> None:
    """Add the tools of one imported module to ``bindings`` (and its workflow tools to ``workflow_tools``)."""
    lines = _definition_lines(path)
    candidates = 0
    workflow: list[str] = []
    for attr, value in vars(module).items():
        if attr.startswith("_") or isinstance(value, type | types.ModuleType) or id(value) in own:
            continue
        marked = is_workflow_tool(value) and (
            isinstance(value, FunctionTool) or getattr(value, "__module__", None) == module.__name__
        )
        if marked:
            workflow.append(attr)
            _add_workflow_tool(value, path, lines.get(attr, 0), attr, problems, workflow_tools)
        if isinstance(value, FunctionTool) or is_toolset(value) or _looks_like_tool(value):
            bindings.setdefault(id(value), []).append((path, lines.get(attr, 0), attr, value))
            candidates += 1
    if candidates:
        return
    # As in the Azure Functions agents runtime: a module with no explicit tool offers its
    # plain public functions, so tool files written for it load unchanged.
    plain = [(a, f) for a, f in _plain_functions(module) if not is_workflow_tool(f)]
    for attr, function in plain:
        try:
            wrapped = plain_function_tool(function, attr)
        except (TypeError, ValueError) as exc:
            problems.add(path, lines.get(attr, 0), f"`{attr}` cannot be a tool: {exc}")
            continue
        bindings.setdefault(id(wrapped), []).append((path, lines.get(attr, 0), attr, wrapped))
    if not plain and not workflow:
        _report_empty(path, problems)


def _add_workflow_tool(
    value: object,
    path: Path,
    line: int,
    attr: str,
    problems: Problems,
    workflow_tools: list[WorkflowToolDef] | None,
) -> None:
    """Collect one ``@workflow_tool``; a name clash with an earlier one is an error at its line."""
    if workflow_tools is None:
        return
    try:
        found = workflow_tool_def(value, path, line)
    except TypeError as exc:
        problems.add(path, line, f"`{attr}` cannot be a workflow tool: {exc}")
        return
    if any(t.target is value for t in workflow_tools):
        return  # imported by another module as well
    if not TOOL_NAME_PATTERN.fullmatch(found.name):
        problems.add(path, line, f"workflow tool name {found.name!r} must match {TOOL_NAME_PATTERN.pattern}")
        return
    if found.name in RESERVED_TOOL_NAMES:
        problems.add(
            path, line, f"workflow tool name '{found.name}' is reserved for the workflow-management tools"
        )
        return
    for other in workflow_tools:
        if other.name == found.name:
            problems.add(
                path, line, f"workflow tool '{found.name}' is already defined at {other.file}:{other.line}"
            )
            return
    workflow_tools.append(found)


def _report_import_error(
    exc: BaseException, path: Path, app_dir: Path, requirements: list[Requirement], problems: Problems
) -> None:
    line, text = _import_error(exc, path, app_dir)
    summary = f"importing this tool module failed: {type(exc).__name__}: {exc}"
    missing = exc.name if isinstance(exc, ModuleNotFoundError) else None
    if not missing:
        problems.add(path, line, f"{summary}\n{text}")
        return
    listed = find_requirement(missing, requirements)
    if listed is not None:
        # Azure Functions installs requirements.txt on deployment: the app is right, this
        # machine lacks the package. The agents run here without this module's tools.
        where = f"{listed.file.relative_to(app_dir)}:{listed.line}"
        problems.warn(
            path,
            line,
            f"{summary}; '{listed.name}' is listed in {where} but not installed here: run "
            f"`pip install -r {listed.file}` (or `pip install {listed.name}`); until then the agents "
            "run without this module's tools",
        )
        return
    top = missing.split(".")[0]
    problems.add(
        path,
        line,
        f"{summary}; it is not in requirements.txt either: `pip install` the distribution that provides "
        f"'{top}' and list it in requirements.txt (Azure Functions installs only what is listed there)",
    )


def _defined_at(value: object, app_dir: Path) -> tuple[Path, int] | None:
    """Where the function of a tool imported into a tool module (from a helper) is defined."""
    code = getattr(getattr(value, "func", None), "__code__", None)
    if code is None:
        return None
    file = Path(code.co_filename)
    try:
        file.resolve().relative_to(app_dir.resolve())
    except ValueError:
        return None
    return file, code.co_firstlineno


def _looks_like_tool(value: object) -> bool:
    # `invoke` alone is too common (LangChain runnables, clients) to claim every such
    # object; `invoke` plus `parameters` is a tool, or a broken one worth reporting.
    return hasattr(value, "invoke") and hasattr(value, "parameters")


def _as_tool(value: object, path: Path, line: int, attr: str, problems: Problems) -> DiscoveredTool | None:
    if isinstance(value, FunctionTool):
        return DiscoveredTool(value, value.name, path, line)
    if is_toolset(value):
        return DiscoveredTool(value, str(getattr(value, "name", attr)), path, line)  # type: ignore[arg-type]
    missing = protocol_problems(value)
    if missing:
        problems.add(
            path,
            line,
            f"`{attr}` has an `invoke` method but is not a tool: it {', '.join(missing)}; a tool needs "
            "`name: str`, `description: str`, `parameters: dict` and `invoke(arguments, context)`",
        )
        return None
    tool: Tool = value  # type: ignore[assignment]
    return DiscoveredTool(tool, tool.name, path, line)


def _plain_functions(module: types.ModuleType) -> list[tuple[str, types.FunctionType]]:
    return [
        (name, value)
        for name, value in vars(module).items()
        if isinstance(value, types.FunctionType)
        and value.__module__ == module.__name__
        and not name.startswith("_")
    ]


def _report_empty(path: Path, problems: Problems) -> None:
    problems.warn(
        path,
        0,
        "this module defines no tools; decorate functions with @tool (from agentdown import tool) "
        "or define plain public functions (name helper modules _like_this to skip them)",
    )


def _check_names(found: list[DiscoveredTool], app_dir: Path, problems: Problems) -> None:
    first: dict[str, DiscoveredTool] = {}
    for item in found:
        if not item.is_toolset and not TOOL_NAME_PATTERN.fullmatch(item.name):
            problems.add(
                item.file,
                item.line,
                f"invalid tool name {item.name!r}: expected 1-64 letters, digits, '_' or '-'",
            )
            continue
        if item.name in first:
            other = first[item.name]
            problems.add(
                item.file,
                item.line,
                f"two tools are named '{item.name}': this one and the one at "
                f"{other.file.relative_to(app_dir)}:{other.line}; tool names must be unique "
                "(rename one, e.g. @tool(name=...))",
            )
            continue
        first[item.name] = item
