"""``knowledge:`` in front matter and agents.config.yaml: forms, errors with file:line, traversal guards."""

from __future__ import annotations

import json
import os
from pathlib import Path

import jsonschema
import pytest
from apphelpers import MakeApp, agent_md, errors, problems_of
from typer.testing import CliRunner

from agentdown.app.catalog import check_app, load_app
from agentdown.app.schema import front_matter_schema
from agentdown.cli import app as cli

ENV = {"OPENAI_API_KEY": "test", "AGENTDOWN_EMBEDDING_MODEL": "none"}


def front(knowledge: str) -> str:
    return agent_md(f"name: Helper\ndescription: Helps.\n{knowledge}")


def docs(**extra: str) -> dict[str, str]:
    return {"docs/guide.md": "# Guide\nRefunds take 14 days.", **extra}


def test_short_and_long_forms(make_app: MakeApp) -> None:
    root = make_app(
        {
            "main.agent.md": front("knowledge: [docs/, ./faq.md, 'docs/**/*.md', docs]"),
            "other.agent.md": front(
                "knowledge:\n  paths: [docs]\n  chunking: {max_chunk_size_tokens: 300, chunk_overlap_tokens: 50}\n"
                "  max_num_results: 5\n  score_threshold: 0.25"
            ),
            "faq.md": "Q: A",
            **docs(),
        }
    )
    catalog = load_app(root, environ=ENV)
    main = catalog["main"].knowledge
    assert main is not None and main.paths == ("docs", "faq.md", "docs/**/*.md")
    assert main.chunking.max_chunk_size_tokens == 800 and main.max_num_results == 20
    assert main.file == root / "main.agent.md" and main.line == 4
    other = catalog["other"].knowledge
    assert other is not None and other.paths == ("docs",)
    assert (
        other.chunking.kind,
        other.chunking.max_chunk_size_tokens,
        other.chunking.chunk_overlap_tokens,
    ) == (
        "static",
        300,
        50,
    )
    assert (other.max_num_results, other.score_threshold) == (5, 0.25)
    assert "file_search" in catalog.tool_names("main")


def test_a_functions_runtime_file_is_unaffected(make_app: MakeApp) -> None:
    root = make_app({"main.agent.md": front("builtin_endpoints: true"), **docs()})
    catalog = load_app(root, environ=ENV)
    assert catalog["main"].knowledge is None
    assert "file_search" not in catalog.tool_names("main")
    assert not catalog.has_knowledge


def test_config_default_agent_override_and_off(make_app: MakeApp) -> None:
    root = make_app(
        {
            "agents.config.yaml": "knowledge: [docs/]\n",
            "inherits.agent.md": front("model: x"),
            "own.agent.md": front("knowledge: [faq.md]"),
            "off.agent.md": front("knowledge: false"),
            "empty.agent.md": front("knowledge: []"),
            "faq.md": "Q: A",
            **docs(),
        }
    )
    catalog = load_app(root, environ=ENV)
    assert catalog["inherits"].knowledge is not None and catalog["inherits"].knowledge.paths == ("docs",)
    assert catalog["inherits"].knowledge.file == root / "agents.config.yaml"
    assert catalog["own"].knowledge is not None and catalog["own"].knowledge.paths == ("faq.md",)
    assert catalog["off"].knowledge is None and catalog["empty"].knowledge is None


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("knowledge: [missing/]", "knowledge[0]: 'missing/' does not exist in the app folder"),
        ("knowledge: [../outside]", "knowledge[0]: '../outside' leaves the app folder ('..')"),
        ("knowledge: [docs/../../outside]", "leaves the app folder ('..')"),
        ("knowledge: [/etc]", "knowledge[0]: '/etc' is an absolute path"),
        ("knowledge: ['C:\\\\Windows']", "is an absolute path"),
        ("knowledge: ['~/notes']", "'~' (a home folder) is outside the app folder"),
        ("knowledge: ['../*/secrets']", "leaves the app folder"),
        ("knowledge: ['nope/**/*.md']", "the folder 'nope' of the glob does not exist"),
        ("knowledge: docs/", "knowledge: expected a list, e.g. knowledge: [docs/], got 'docs/'"),
        ("knowledge: true", "name the folders, e.g. knowledge: [docs/]"),
        ("knowledge: 3", "knowledge: expected a list of folders"),
        ("knowledge: [docs/, 3]", "knowledge[1]: expected a non-empty string"),
        ("knowledge: [logo.png]", "knowledge[0]: 'logo.png' is a .png file, which cannot be indexed"),
        ("knowledge: {paths: docs}", "knowledge.paths: expected a list of folders"),
        ("knowledge: {chunking: {}}", "knowledge.paths: required"),
        ("knowledge: {paths: [docs], max_results: 3}", "unknown key 'max_results' in knowledge"),
        (
            "knowledge: {paths: [docs], max_num_results: 51}",
            "knowledge.max_num_results: expected a whole number",
        ),
        ("knowledge: {paths: [docs], max_num_results: 0}", "knowledge.max_num_results: expected"),
        (
            "knowledge: {paths: [docs], score_threshold: 2}",
            "knowledge.score_threshold: expected a number from 0 to 1",
        ),
        (
            "knowledge: {paths: [docs], chunking: {max_chunk_size_tokens: 50}}",
            "knowledge.chunking.max_chunk_size_tokens: must be between 100 and 4096, got 50",
        ),
        (
            "knowledge: {paths: [docs], chunking: {max_chunk_size_tokens: 200, chunk_overlap_tokens: 150}}",
            "knowledge.chunking.chunk_overlap_tokens: must be between 0 and half of max_chunk_size_tokens (100)",
        ),
        (
            "knowledge: {paths: [docs], chunking: {max_chunk_size_tokens: big}}",
            "expected a whole number of tokens",
        ),
    ],
)
def test_errors_name_file_line_and_field(make_app: MakeApp, value: str, expected: str) -> None:
    root = make_app({"main.agent.md": front(value), "logo.png": "x", **docs()})
    found = errors(problems_of(root))
    assert len(found) == 1, found
    assert found[0].startswith(f"{root / 'main.agent.md'}:4"), found
    assert expected in found[0]


def test_symlinks_out_of_the_app_folder_are_refused(make_app: MakeApp, tmp_path: Path) -> None:
    outside = tmp_path / "secret"
    outside.mkdir()
    (outside / "passwords.md").write_text("hunter2")
    root = make_app({"main.agent.md": front("knowledge: [linked, docs/inner, 'linked/*.md', ok]"), **docs()})
    os.symlink(outside, root / "linked")
    os.symlink(outside, root / "docs" / "inner")
    os.symlink(root / "docs", root / "ok")  # inside the app: fine
    found = errors(problems_of(root))
    assert len(found) == 3, found
    for index, name in enumerate(["linked", "docs/inner", "linked/*.md"]):
        assert (
            f"knowledge[{index}]: '{name}' is a symlink (or passes through one) that leads out"
            in found[index]
        )


def test_config_errors_point_at_the_config_file(make_app: MakeApp) -> None:
    root = make_app({"agents.config.yaml": "model: x\nknowledge: [../up]\n", "main.agent.md": front("")})
    found = errors(problems_of(root))
    assert found == [
        f"{root / 'agents.config.yaml'}:2: error: knowledge[0]: '../up' leaves the app folder ('..'); "
        "expected a folder, file or glob relative to the app folder, e.g. docs/"
    ]


def test_a_tools_file_search_clashes(make_app: MakeApp) -> None:
    tool = "from agentdown import tool\n\n@tool\ndef file_search(query: str) -> str:\n    '''Find.'''\n    return ''\n"
    root = make_app({"main.agent.md": front("knowledge: [docs]"), "tools/fs.py": tool, **docs()})
    found = errors(problems_of(root))
    assert len(found) == 1 and "tools/ has a tool named file_search too" in found[0]
    assert found[0].startswith(f"{root / 'main.agent.md'}:4")


def test_schema_and_check_json(make_app: MakeApp) -> None:
    schema = front_matter_schema()
    validator = jsonschema.Draft7Validator(schema)
    ok = [
        ["docs/"],
        False,
        {"paths": ["docs"], "chunking": {"max_chunk_size_tokens": 300}, "max_num_results": 5},
    ]
    bad = [True, ["../x"], ["/etc"], {"paths": ["docs"], "max_num_results": 99}, {"chunking": {}}]
    for value in ok:
        assert validator.is_valid({"name": "a", "description": "b", "knowledge": value}), value
    for value in bad:
        assert not validator.is_valid({"name": "a", "description": "b", "knowledge": value}), value
    root = make_app({"main.agent.md": front("knowledge: [docs/]"), **docs()})
    result = CliRunner().invoke(cli, ["check", str(root), "--format", "json"], env=ENV)
    assert result.exit_code == 0, result.output
    agent = json.loads(result.output)["agents"][0]
    assert agent["knowledge"] == {
        "paths": ["docs"],
        "chunking": {"max_chunk_size_tokens": 800, "chunk_overlap_tokens": 400},
        "max_num_results": 20,
        "score_threshold": 0.0,
        "declared_in": f"{root / 'main.agent.md'}:4",
    }
    schema_out = CliRunner().invoke(cli, ["schema"])
    assert "knowledge" in json.loads(schema_out.output)["properties"]


def test_check_app_catalog_is_none_on_error(make_app: MakeApp) -> None:
    root = make_app({"main.agent.md": front("knowledge: [../x]")})
    catalog, problems = check_app(root, environ=ENV)
    assert catalog is None and problems.errors
