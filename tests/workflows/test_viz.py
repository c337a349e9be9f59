"""WorkflowViz draws the graph a user built, in Mermaid and DOT, and no executor id can break the drawing."""

from __future__ import annotations

import asyncio
import re
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from agentdown.workflows.viz import GraphvizNotAvailableError, WorkflowViz


@dataclass
class FakeEdge:
    source_id: str
    target_id: str
    condition: Callable[..., Any] | None = None


@dataclass
class FakeGroup:
    kind: str
    edges: list[FakeEdge]
    id: str = "group"


@dataclass
class FakeWorkflow:
    start_executor_id: str
    executors: dict[str, Any]
    edge_groups: list[FakeGroup] = field(default_factory=list)
    name: str = "fake"


def workflow(start: str, *groups: FakeGroup, extra: tuple[str, ...] = ()) -> FakeWorkflow:
    ids = dict.fromkeys(
        [start, *extra, *(e for g in groups for edge in g.edges for e in (edge.source_id, edge.target_id))]
    )
    return FakeWorkflow(start, {i: object() for i in ids}, list(groups))


def single(source: str, target: str, condition: Callable[..., Any] | None = None) -> FakeGroup:
    return FakeGroup("single", [FakeEdge(source, target, condition)])


# A line of our Mermaid output is one of these shapes; anything injected would not match.
MERMAID_ID = r"[A-Za-z][A-Za-z0-9_]*"
MERMAID_LINE = re.compile(
    rf'  {MERMAID_ID}\["[^"\n]*"\];'
    rf"|  {MERMAID_ID}\(\(fan-in\)\)"
    rf"|  {MERMAID_ID} (?:-->|-\. (?:conditional|default|selection) \.->) {MERMAID_ID};"
)
DOT_ID = r'"((?:[^"\\]|\\.)*)"'
DOT_LINE = re.compile(
    rf"  {DOT_ID} \[(?:fillcolor=lightgreen, )?label={DOT_ID}\];"
    rf'|  {DOT_ID} \[shape=ellipse, fillcolor=lightgoldenrod, label="fan-in"\];'
    rf'|  {DOT_ID} -> {DOT_ID}(?: \[style=dashed, label="(?:conditional|default|selection)"\])?;'
)
DOT_HEADER = [
    "digraph Workflow {",
    "  rankdir=TD;",
    "  node [shape=box, style=filled, fillcolor=lightblue];",
    "  edge [color=black, arrowhead=vee];",
    "",
]


def assert_well_formed_mermaid(text: str) -> list[str]:
    lines = text.split("\n")
    assert lines[0] == "flowchart TD"
    for line in lines[1:]:
        assert MERMAID_LINE.fullmatch(line), line
    return lines[1:]


def dot_unescape(text: str) -> str:
    return re.sub(r"\\(.)", lambda m: {"n": "\n", "r": "\r"}.get(m.group(1), m.group(1)), text)


def assert_well_formed_dot(text: str) -> list[str]:
    lines = text.split("\n")
    assert lines[: len(DOT_HEADER)] == DOT_HEADER and lines[-1] == "}"
    body = lines[len(DOT_HEADER) : -1]
    for line in body:
        assert DOT_LINE.fullmatch(line), line
    return body


def mermaid_nodes(text: str) -> dict[str, str]:
    """Mermaid node id -> label, as a renderer would read them (entity codes decoded)."""
    found = dict(re.findall(rf'^  ({MERMAID_ID})\["([^"]*)"\];$', text, re.M))
    return {k: re.sub(r"#(\d+);", lambda m: chr(int(m.group(1))), v) for k, v in found.items()}


def mermaid_edges(text: str) -> list[tuple[str, str, str]]:
    return [
        (s, t, arrow)
        for s, arrow, t in re.findall(rf"^  ({MERMAID_ID}) (-->|-\. \w+ \.->) ({MERMAID_ID});$", text, re.M)
    ]


def test_mermaid_follows_agent_framework_shape() -> None:
    wf = workflow("upper_case", single("upper_case", "word_counter"))
    assert WorkflowViz(wf).to_mermaid() == (
        'flowchart TD\n  upper_case["upper_case (Start)"];\n  word_counter["word_counter"];\n'
        "  upper_case --> word_counter;"
    )


def test_conditional_switch_and_selection_edges_are_dashed() -> None:
    wf = workflow(
        "router",
        single("router", "checker", condition=lambda m: bool(m)),
        FakeGroup(
            "switch_case",
            [FakeEdge("checker", "spam", lambda m: m == "spam"), FakeEdge("checker", "ham")],
        ),
        FakeGroup("multi_selection", [FakeEdge("ham", "a"), FakeEdge("ham", "b")]),
        FakeGroup("fan_out", [FakeEdge("spam", "x"), FakeEdge("spam", "y")]),
    )
    text = WorkflowViz(wf).to_mermaid()
    assert_well_formed_mermaid(text)
    assert mermaid_edges(text) == [
        ("router", "checker", "-. conditional .->"),
        ("checker", "spam", "-. conditional .->"),
        ("checker", "ham", "-. default .->"),
        ("ham", "a", "-. selection .->"),
        ("ham", "b", "-. selection .->"),
        ("spam", "x", "-->"),
        ("spam", "y", "-->"),
    ]
    dot = WorkflowViz(wf).to_digraph()
    assert_well_formed_dot(dot)
    assert '  "router" -> "checker" [style=dashed, label="conditional"];' in dot
    assert '  "spam" -> "x";' in dot


def test_a_fan_in_group_is_drawn_through_one_fan_in_node() -> None:
    wf = workflow(
        "split",
        FakeGroup("fan_out", [FakeEdge("split", "a"), FakeEdge("split", "b")]),
        FakeGroup("fan_in", [FakeEdge("b", "join"), FakeEdge("a", "join")]),
    )
    text = WorkflowViz(wf).to_mermaid()
    lines = assert_well_formed_mermaid(text)
    fan_nodes = [line.strip()[: -len("((fan-in))")] for line in lines if line.endswith("((fan-in))")]
    assert len(fan_nodes) == 1
    fan = fan_nodes[0]
    assert ("a", fan, "-->") in mermaid_edges(text) and ("b", fan, "-->") in mermaid_edges(text)
    assert (fan, "join", "-->") in mermaid_edges(text)
    assert not any(t == "join" and s in ("a", "b") for s, t, _ in mermaid_edges(text))
    dot = WorkflowViz(wf).to_digraph()
    assert_well_formed_dot(dot)
    assert dot.count('label="fan-in"') == 1
    # The same graph draws the same ids every time (diffable, cacheable).
    assert WorkflowViz(wf).to_mermaid() == text


def test_the_start_executor_comes_first_and_is_marked() -> None:
    wf = workflow("b", single("b", "a"), extra=("a",))
    wf.executors = {"a": object(), "b": object()}
    nodes = list(mermaid_nodes(WorkflowViz(wf).to_mermaid()).items())
    assert nodes == [("b", "b (Start)"), ("a", "a")]
    assert '"b" [fillcolor=lightgreen, label="b\\n(Start)"];' in WorkflowViz(wf).to_digraph()


HOSTILE_IDS = [
    'say "hi"',
    "a b",
    "a_b",  # a plain id that a sanitised "a b" must not take
    "x --> y",
    "x; click x call alert(1)",
    'q"]; evil["pwned',
    "end",  # a Mermaid keyword
    "3rd",
    "fan-in",
    "<b>bold</b> & #quot;",
    "`markdown`",
    "back\\slash\\",
    'trail"\\',
    "line\nbreak",
    "%% comment",
    "}",
    "é",
]


def test_hostile_executor_ids_cannot_break_or_inject_into_mermaid() -> None:
    start = HOSTILE_IDS[0]
    wf = workflow(start, *(single(start, other) for other in HOSTILE_IDS[1:]))
    text = WorkflowViz(wf).to_mermaid()
    assert_well_formed_mermaid(text)
    nodes = mermaid_nodes(text)
    # One distinct node per executor, labelled with its id exactly (line breaks as spaces).
    assert len(nodes) == len(HOSTILE_IDS)
    assert sorted(nodes.values()) == sorted(
        [f"{start} (Start)", *(i.replace("\n", " ") for i in HOSTILE_IDS[1:])]
    )
    by_label = {label: node for node, label in nodes.items()}
    assert by_label["a_b"] == "a_b"
    assert by_label["a b"] != "a_b"
    assert by_label["end"] != "end"
    assert len(mermaid_edges(text)) == len(HOSTILE_IDS) - 1
    assert all(s == by_label[f"{start} (Start)"] for s, _, _ in mermaid_edges(text))


def test_hostile_executor_ids_cannot_break_or_inject_into_dot() -> None:
    start = HOSTILE_IDS[0]
    wf = workflow(start, *(single(start, other) for other in HOSTILE_IDS[1:]))
    body = assert_well_formed_dot(WorkflowViz(wf).to_digraph())
    node_ids = [dot_unescape(m.group(1)) for line in body if (m := re.fullmatch(rf"  {DOT_ID} \[.*", line))]
    assert node_ids == HOSTILE_IDS
    edges = [
        (dot_unescape(m.group(1)), dot_unescape(m.group(2)))
        for line in body
        if (m := re.fullmatch(rf"  {DOT_ID} -> {DOT_ID};", line))
    ]
    assert edges == [(start, other) for other in HOSTILE_IDS[1:]]


def test_export_dot_writes_the_digraph_needing_nothing(tmp_path: Path) -> None:
    wf = workflow("a", single("a", "b"))
    path = WorkflowViz(wf).export(format="dot", filename=tmp_path / "graph")
    assert path == str(tmp_path / "graph.dot")
    assert Path(path).read_text(encoding="utf-8") == WorkflowViz(wf).to_digraph()
    temporary = Path(WorkflowViz(wf).export(format="dot"))
    try:
        assert temporary.suffix == ".dot" and temporary.read_text(encoding="utf-8").startswith("digraph")
    finally:
        temporary.unlink()


def test_agent_framework_call_forms_are_accepted(tmp_path: Path) -> None:
    viz = WorkflowViz(workflow("a", single("a", "b")))
    assert viz.to_mermaid(include_internal_executors=True) == viz.to_mermaid()
    assert viz.to_digraph(include_internal_executors=True) == viz.to_digraph()
    path = viz.export("dot", str(tmp_path / "g.dot"), include_internal_executors=False)
    assert Path(path).read_text(encoding="utf-8") == viz.to_digraph()


def test_export_refuses_an_unknown_format_or_a_mismatched_extension(tmp_path: Path) -> None:
    viz = WorkflowViz(workflow("a", single("a", "b")))
    with pytest.raises(ValueError, match="unsupported format 'gif'"):
        viz.export(format="gif")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"\.dot"):
        viz.export(format="dot", filename=tmp_path / "graph.svg")
    assert list(tmp_path.iterdir()) == []


def graphviz_available() -> bool:
    try:
        import graphviz  # type: ignore[import-not-found, unused-ignore]  # noqa: F401
    except ImportError:
        return False
    return shutil.which("dot") is not None


@pytest.mark.skipif(graphviz_available(), reason="graphviz is installed here")
@pytest.mark.parametrize("fmt", ["svg", "png", "pdf"])
def test_rendering_without_graphviz_says_what_to_install(
    fmt: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    viz = WorkflowViz(workflow("a", single("a", "b")))
    with pytest.raises(GraphvizNotAvailableError) as err:
        viz.export(format=fmt, filename=tmp_path / f"graph.{fmt}")  # type: ignore[arg-type]
    message = str(err.value)
    assert "graphviz" in message and "install" in message
    assert isinstance(err.value, ImportError)  # what MAF raises, so except ImportError still works
    save = {"svg": viz.save_svg, "png": viz.save_png, "pdf": viz.save_pdf}[fmt]
    with pytest.raises(GraphvizNotAvailableError):
        save(tmp_path / f"graph.{fmt}")
    assert list(tmp_path.iterdir()) == []  # nothing half-written
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    with pytest.raises(GraphvizNotAvailableError):
        viz.export(format=fmt)  # type: ignore[arg-type]
    assert list(scratch.iterdir()) == []  # no stray temporary file either


@pytest.mark.skipif(not graphviz_available(), reason="needs the graphviz package and the dot program")
def test_rendering_svg_with_graphviz(tmp_path: Path) -> None:
    path = WorkflowViz(workflow("a", single("a", 'b "quoted"'))).export(
        format="svg", filename=tmp_path / "g.svg"
    )
    assert path.endswith("g.svg") and "<svg" in Path(path).read_text()


# --- with the engine ------------------------------------------------------------------


def test_the_documentation_example_runs_and_draws_upper_case_to_word_counter() -> None:
    from agentdown.workflows import FunctionExecutor, WorkflowBuilder, executor

    @executor(id="upper_case")
    async def upper_case(text: str) -> str:
        return text.upper()

    def word_count(text: str) -> int:
        return len(text.split())

    counter = FunctionExecutor(word_count, id="word_counter")
    workflow_ = WorkflowBuilder(start_executor=upper_case).add_edge(upper_case, counter).build()
    assert asyncio.run(workflow_.run("hello world")).get_outputs() == [2]
    mermaid = WorkflowViz(workflow_).to_mermaid()
    assert_well_formed_mermaid(mermaid)
    assert "  upper_case --> word_counter;" in mermaid.split("\n")
    assert '  upper_case["upper_case (Start)"];' in mermaid.split("\n")
    assert '  "upper_case" -> "word_counter";' in WorkflowViz(workflow_).to_digraph()


def test_a_built_graph_with_every_group_kind_draws_well_formed() -> None:
    from agentdown.workflows import Case, Default, FunctionExecutor, WorkflowBuilder

    def ident(text: str) -> str:
        return text

    def join(texts: list[str]) -> str:
        return "+".join(texts)

    start, a, b, c, joined = (FunctionExecutor(ident, id=i) for i in ("start", "a", "b", "c", "no-op"))
    final = FunctionExecutor(join, id="join")
    built = (
        WorkflowBuilder(start_executor=start)
        .add_switch_case_edge_group(start, [Case(lambda t: t == "a", a), Default(b)])
        .add_fan_out_edges(a, [c, joined])
        .add_edge(b, c)
        .add_fan_in_edges([c, joined], final)
        .build()
    )
    mermaid = WorkflowViz(built).to_mermaid()
    assert_well_formed_mermaid(mermaid)
    edges = mermaid_edges(mermaid)
    assert ("start", "a", "-. conditional .->") in edges and ("start", "b", "-. default .->") in edges
    assert mermaid.count("((fan-in))") == 1
    assert_well_formed_dot(WorkflowViz(built).to_digraph())


def test_an_executor_named_like_a_fan_in_node_stays_a_separate_node() -> None:
    groups = (FakeGroup("fan_in", [FakeEdge("a", "join"), FakeEdge("b", "join")]),)
    plain = WorkflowViz(workflow("a", *groups, extra=("b",))).to_digraph()
    fan_node = dot_unescape(re.findall(rf"  {DOT_ID} \[shape=ellipse", plain)[0])
    clash = workflow("a", *groups, extra=("b", fan_node))
    dot = WorkflowViz(clash).to_digraph()
    body = assert_well_formed_dot(dot)
    declared = [dot_unescape(m.group(1)) for line in body if (m := re.fullmatch(rf"  {DOT_ID} \[.*", line))]
    assert len(declared) == len(set(declared)) == 5  # a, b, join, the clashing executor, the fan-in node
    assert_well_formed_mermaid(WorkflowViz(clash).to_mermaid())
