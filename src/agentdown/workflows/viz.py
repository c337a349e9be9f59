"""Draw a workflow's graph: Mermaid and Graphviz DOT text, or a rendered SVG/PNG/PDF.

The output follows Agent Framework 1.23: a top-down flowchart, the start executor
labelled ``<id> (Start)``, one ``fan-in`` node per fan-in edge group, and dashed edges
where a message crosses only when a condition (a switch case, a selection) lets it.

Executor ids are arbitrary strings, so nothing of an id reaches the output unescaped:
in Mermaid an id that is not a plain identifier gets a sanitised node id of its own
(never the same as another node's) and is shown only inside an escaped label; in DOT
every id is a quoted, escaped string.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import tempfile
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal, Protocol

from ..exceptions import AgentdownError

__all__ = ["GraphvizNotAvailableError", "VizEdge", "VizEdgeGroup", "VizWorkflow", "WorkflowViz"]

ExportFormat = Literal["svg", "png", "pdf", "dot"]
_FORMATS = ("svg", "png", "pdf", "dot")


class VizEdge(Protocol):
    """What the drawing reads of an edge."""

    @property
    def source_id(self) -> str: ...
    @property
    def target_id(self) -> str: ...
    @property
    def condition(self) -> Callable[..., Any] | None: ...


class VizEdgeGroup(Protocol):
    """What the drawing reads of an edge group."""

    @property
    def id(self) -> str: ...
    @property
    def kind(self) -> str: ...
    @property
    def edges(self) -> Sequence[VizEdge]: ...


class VizWorkflow(Protocol):
    """What the drawing reads of a workflow (``agentdown.workflows.Workflow`` is one)."""

    @property
    def name(self) -> str: ...
    @property
    def start_executor_id(self) -> str: ...
    @property
    def executors(self) -> Mapping[str, Any]: ...
    @property
    def edge_groups(self) -> Sequence[VizEdgeGroup]: ...


class GraphvizNotAvailableError(AgentdownError, ImportError):
    """``export`` to SVG, PNG or PDF needs Graphviz, and this machine lacks part of it.

    The message says which part: the ``graphviz`` Python package (``pip install graphviz``)
    or the ``dot`` program (``apt-get install graphviz``, ``brew install graphviz``,
    https://graphviz.org/download/). ``export(format="dot")`` needs neither.
    """


class WorkflowViz:
    """Mermaid, DOT and rendered pictures of ``workflow``'s graph."""

    def __init__(self, workflow: VizWorkflow) -> None:
        self.workflow = workflow
        """The workflow drawn; read each time a picture is made."""

    def to_mermaid(self, include_internal_executors: bool = False) -> str:
        """A Mermaid ``flowchart TD`` of the graph.

        ``include_internal_executors`` is accepted for Agent Framework compatibility; our
        graphs have no hidden executors, so it changes nothing (here and below).
        """
        graph = _Graph.of(self.workflow)
        ids = _MermaidIds(graph.node_ids())
        lines = ["flowchart TD"]
        for executor_id in graph.executor_ids:
            label = f"{executor_id} (Start)" if executor_id == graph.start else executor_id
            lines.append(f'  {ids[executor_id]}["{_mermaid_text(label)}"];')
        for fan in graph.fan_ins:
            lines.append(f"  {ids[fan.node]}((fan-in))")
        for fan in graph.fan_ins:
            lines.extend(f"  {ids[source]} --> {ids[fan.node]};" for source in fan.sources)
            lines.append(f"  {ids[fan.node]} --> {ids[fan.target]};")
        for source, target, condition in graph.edges:
            arrow = "-->" if condition is None else f"-. {condition} .->"
            lines.append(f"  {ids[source]} {arrow} {ids[target]};")
        return "\n".join(lines)

    def to_digraph(self, include_internal_executors: bool = False) -> str:
        """The graph in Graphviz DOT (``digraph Workflow { ... }``)."""
        graph = _Graph.of(self.workflow)
        lines = [
            "digraph Workflow {",
            "  rankdir=TD;",
            "  node [shape=box, style=filled, fillcolor=lightblue];",
            "  edge [color=black, arrowhead=vee];",
            "",
        ]
        for executor_id in graph.executor_ids:
            if executor_id == graph.start:
                attributes = f'fillcolor=lightgreen, label="{_dot_text(executor_id)}\\n(Start)"'
            else:
                attributes = f'label="{_dot_text(executor_id)}"'
            lines.append(f"  {_dot_id(executor_id)} [{attributes}];")
        for fan in graph.fan_ins:
            lines.append(f'  {_dot_id(fan.node)} [shape=ellipse, fillcolor=lightgoldenrod, label="fan-in"];')
        for fan in graph.fan_ins:
            lines.extend(f"  {_dot_id(source)} -> {_dot_id(fan.node)};" for source in fan.sources)
            lines.append(f"  {_dot_id(fan.node)} -> {_dot_id(fan.target)};")
        for source, target, label in graph.edges:
            attributes = "" if label is None else f' [style=dashed, label="{_dot_text(label)}"]'
            lines.append(f"  {_dot_id(source)} -> {_dot_id(target)}{attributes};")
        lines.append("}")
        return "\n".join(lines)

    def export(
        self,
        format: ExportFormat = "svg",
        filename: str | os.PathLike[str] | None = None,
        include_internal_executors: bool = False,
    ) -> str:
        """Write the picture and return the path of the file written.

        ``format="dot"`` writes the DOT text and needs nothing else; ``svg``, ``png`` and
        ``pdf`` are rendered by Graphviz (the ``graphviz`` package and the ``dot`` program:
        :class:`GraphvizNotAvailableError` says which is missing). Without ``filename`` a
        new temporary file is written; a ``filename`` whose extension is not the format's
        is refused (``ValueError``), one without an extension gets it.
        """
        if format not in _FORMATS:
            raise ValueError(f"unsupported format {format!r}: expected one of {', '.join(_FORMATS)}")
        # Checked before any file is made: a missing Graphviz leaves nothing behind.
        graphviz = _graphviz() if format != "dot" else None
        path = _target_path(format, filename)
        source = self.to_digraph()
        if graphviz is None:
            path.write_text(source, encoding="utf-8")
            return str(path)
        # outfile names the file exactly; cleanup removes the intermediate DOT file graphviz writes.
        rendered = graphviz.Source(source).render(outfile=str(path), format=format, cleanup=True)
        return str(rendered)

    def save_svg(self, filename: str | os.PathLike[str], include_internal_executors: bool = False) -> str:
        """``export(format="svg", filename=filename)``."""
        return self.export("svg", filename)

    def save_png(self, filename: str | os.PathLike[str], include_internal_executors: bool = False) -> str:
        """``export(format="png", filename=filename)``."""
        return self.export("png", filename)

    def save_pdf(self, filename: str | os.PathLike[str], include_internal_executors: bool = False) -> str:
        """``export(format="pdf", filename=filename)``."""
        return self.export("pdf", filename)


def _target_path(format: str, filename: str | os.PathLike[str] | None) -> Path:
    if filename is None:
        fd, name = tempfile.mkstemp(prefix="workflow-", suffix=f".{format}")
        os.close(fd)
        return Path(name)
    path = Path(filename)
    if not path.suffix:
        return path.with_suffix(f".{format}")
    if path.suffix.lower() != f".{format}":
        raise ValueError(f"file name {str(path)!r} does not end in .{format}, the format asked for")
    return path


def _graphviz() -> Any:
    try:
        import graphviz  # type: ignore[import-not-found, unused-ignore]
    except ImportError:
        raise GraphvizNotAvailableError(
            "exporting a workflow as svg, png or pdf needs the graphviz Python package (pip install graphviz) "
            "and the Graphviz programs (apt-get install graphviz, brew install graphviz or "
            "https://graphviz.org/download/); export(format='dot') and to_mermaid() need neither"
        ) from None
    if shutil.which("dot") is None:
        raise GraphvizNotAvailableError(
            "exporting a workflow as svg, png or pdf needs the Graphviz 'dot' program on PATH "
            "(apt-get install graphviz, brew install graphviz or https://graphviz.org/download/); "
            "the graphviz Python package is installed but cannot render without it"
        )
    return graphviz


# --- the graph as drawn ---------------------------------------------------------------


class _FanIn:
    def __init__(self, node: str, sources: list[str], target: str) -> None:
        self.node = node
        self.sources = sources
        self.target = target


class _Graph:
    """The nodes and edges to draw, read once from a workflow."""

    def __init__(
        self,
        start: str,
        executor_ids: list[str],
        fan_ins: list[_FanIn],
        edges: list[tuple[str, str, str | None]],
    ) -> None:
        self.start = start
        self.executor_ids = executor_ids
        self.fan_ins = fan_ins
        self.edges = edges
        """(source, target, label): ``label`` is ``None`` for an unconditional edge."""

    @classmethod
    def of(cls, workflow: VizWorkflow) -> _Graph:
        start = workflow.start_executor_id
        # The start executor first, then the others in the order they were added.
        executor_ids = [start, *(e for e in workflow.executors if e != start)]
        seen = set(executor_ids)
        fan_ins: list[_FanIn] = []
        edges: list[tuple[str, str, str | None]] = []
        for group in workflow.edge_groups:
            for edge in group.edges:
                for end in (edge.source_id, edge.target_id):
                    if end not in seen:  # an edge to something not registered: still drawn
                        seen.add(end)
                        executor_ids.append(end)
            if group.kind == "fan_in" and group.edges:
                sources = sorted(dict.fromkeys(e.source_id for e in group.edges))
                target = group.edges[0].target_id
                node = _fan_in_node(target, sources)
                while node in seen:  # an executor that happens to have that id
                    node += "'"
                seen.add(node)
                fan_ins.append(_FanIn(node, sources, target))
                continue
            edges.extend((e.source_id, e.target_id, _edge_label(group.kind, e)) for e in group.edges)
        return cls(start, executor_ids, fan_ins, edges)

    def node_ids(self) -> list[str]:
        return [*self.executor_ids, *(fan.node for fan in self.fan_ins)]


def _edge_label(kind: str, edge: VizEdge) -> str | None:
    if edge.condition is not None:
        return "conditional"
    if kind == "switch_case":
        return "default"
    if kind == "multi_selection":
        return "selection"
    return None


def _fan_in_node(target: str, sources: list[str]) -> str:
    # Named by what it joins, as MAF does, so the same graph always draws the same ids.
    digest = hashlib.sha256("|".join([target, *sources]).encode()).hexdigest()[:8]
    return f"fan_in::{target}::{digest}"


# --- Mermaid --------------------------------------------------------------------------

_PLAIN_ID = re.compile(r"[A-Za-z][A-Za-z0-9_]*")
_MERMAID_RESERVED = frozenset(
    {"end", "graph", "flowchart", "subgraph", "style", "classdef", "class", "click", "linkstyle", "direction"}
)


class _MermaidIds:
    """A Mermaid node id for every graph node: the id itself when it is a plain
    identifier, otherwise a sanitised one that no other node has."""

    def __init__(self, nodes: list[str]) -> None:
        self._ids: dict[str, str] = {}
        taken: set[str] = set()
        plain = [n for n in nodes if _PLAIN_ID.fullmatch(n) and n.lower() not in _MERMAID_RESERVED]
        for node in plain:
            self._ids[node] = node
            taken.add(node)
        for node in nodes:
            if node in self._ids:
                continue
            base = re.sub(r"[^0-9A-Za-z_]+", "_", node).strip("_") or "node"
            if not base[0].isalpha():
                base = f"n_{base}"
            candidate, n = f"{base}_", 1
            while candidate in taken:
                n += 1
                candidate = f"{base}_{n}"
            self._ids[node] = candidate
            taken.add(candidate)

    def __getitem__(self, node: str) -> str:
        return self._ids[node]


_MERMAID_ESCAPES = {'"': "#34;", "#": "#35;", "&": "#38;", "<": "#60;", ">": "#62;", "`": "#96;"}


def _mermaid_text(text: str) -> str:
    """``text`` safe inside a quoted Mermaid label: entity codes for what would end or
    reinterpret it, spaces for line breaks."""
    out = "".join(_MERMAID_ESCAPES.get(ch, ch) for ch in text)
    return re.sub(r"[\r\n\t]+", " ", out)


# --- DOT ------------------------------------------------------------------------------


def _dot_escape(text: str) -> str:
    # Backslash first, so the quote's own escape is not doubled.
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("\r", "\\r").replace("\n", "\\n")


def _dot_id(node: str) -> str:
    return f'"{_dot_escape(node)}"'


def _dot_text(text: str) -> str:
    return _dot_escape(text)
