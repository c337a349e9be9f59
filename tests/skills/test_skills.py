"""Skills: discovery, SKILL.md problems with file:line, instructions, loading and confinement."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from agentdown import Agent
from agentdown.app.skills import (
    Skill,
    discover_skills,
    read_skill_resource,
    skill_kit,
    skill_resources,
    skills_instructions,
)
from agentdown.exceptions import ToolError
from agentdown.testing import ScriptedModel, ToolCalls, tool_call


def write(path: Path, text: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def skill_md(name: str, description: str = "Use it for things.", body: str = "Do the thing.") -> str:
    return f"---\nname: {name}\ndescription: {description}\n---\n{body}\n"


@pytest.fixture
def app(tmp_path: Path) -> Path:
    write(
        tmp_path / "skills/pdf-forms/SKILL.md",
        "---\nname: pdf-forms\ndescription: Fill in PDF forms <fast> & well.\nlicense: MIT\n---\n"
        "# PDF forms\n\nRead references/fields.md first.\n",
    )
    write(tmp_path / "skills/pdf-forms/references/fields.md", "Field names are case-sensitive.\n")
    write(tmp_path / "skills/pdf-forms/template.txt", "Name: ____\n")
    write(tmp_path / "skills/pdf-forms/.env", "SECRET=1\n")
    write(tmp_path / "skills/group/code-review/SKILL.md", skill_md("code-review", "Review code."))
    write(tmp_path / "outside.txt", "not yours\n")
    return tmp_path


def test_discovery_finds_nested_skills_sorted(app: Path) -> None:
    skills, problems = discover_skills(app)
    assert not problems
    assert [s.name for s in skills] == ["code-review", "pdf-forms"]
    pdf = skills[1]
    assert pdf.description == "Fill in PDF forms <fast> & well."
    assert pdf.body == "# PDF forms\n\nRead references/fields.md first."
    assert pdf.path == (app / "skills/pdf-forms").resolve()
    assert pdf.file == app / "skills/pdf-forms/SKILL.md"
    assert pdf.metadata["license"] == "MIT"


def test_no_skills_folder(tmp_path: Path) -> None:
    assert discover_skills(tmp_path) == ([], [])


def test_capitalised_skills_folder_and_symlinked_skill(tmp_path: Path) -> None:
    write(tmp_path / "shared/summarise/SKILL.md", skill_md("summarise"))
    (tmp_path / "Skills").mkdir()
    os.symlink(tmp_path / "shared/summarise", tmp_path / "Skills/summarise")
    skills, problems = discover_skills(tmp_path)
    assert not problems and [s.name for s in skills] == ["summarise"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("# no front matter\n", "1: error: expected YAML front matter"),
        ("---\nname: x\n", "1: error: the front matter opened here is never closed"),
        ("---\nname: a\ndescription: [unclosed\n---\nbody\n", "3: error: invalid YAML"),
        ("---\n- a\n- b\n---\n", "2: error: expected front matter keys `name:` and `description:`"),
        (
            "---\ndescription: d\n---\n",
            "1: error: `name:` is required: expected a non-empty string, got nothing",
        ),
        (
            "---\nname: s\ndescription: 42\n---\n",
            "3: error: `description:` is required: expected a non-empty string, got int 42",
        ),
        (
            "---\nname: Bad_Name\ndescription: d\n---\n",
            "2: error: `name: Bad_Name`: expected lowercase letters",
        ),
        (
            "---\nname: s\ndescription: d\nname: t\n---\n",
            "4: error: duplicate key 'name' (first given at line 2)",
        ),
        (
            f"---\nname: s\ndescription: {'x' * 1025}\n---\n",
            "3: error: `description:` is 1025 characters long",
        ),
    ],
)
def test_front_matter_problems_name_file_and_line(tmp_path: Path, text: str, expected: str) -> None:
    file = write(tmp_path / "skills/s/SKILL.md", text)
    skills, problems = discover_skills(tmp_path)
    assert skills == []
    assert any(str(p).startswith(f"{file}:{expected}") for p in problems), [str(p) for p in problems]


def test_duplicate_names_and_folder_mismatch(tmp_path: Path) -> None:
    write(tmp_path / "skills/a/SKILL.md", skill_md("same"))
    second = write(tmp_path / "skills/b/SKILL.md", skill_md("same"))
    skills, problems = discover_skills(tmp_path)
    assert [s.name for s in skills] == ["same"]
    assert [str(p) for p in problems] == [
        f"{tmp_path}/skills/a/SKILL.md:2: warning: `name: same` differs from the folder name 'a'",
        f"{second}:2: warning: `name: same` differs from the folder name 'b'",
        f"{second}:1: error: skill name 'same' is already used by {tmp_path}/skills/a/SKILL.md; names must be unique",
    ]


def test_include_directives(tmp_path: Path) -> None:
    body = "Intro\n{{include: parts/steps.md}}\nOutro"
    write(tmp_path / "skills/inc/SKILL.md", skill_md("inc", body=body))
    write(tmp_path / "skills/inc/parts/steps.md", "1. one\n{{include:parts/more.md}}\n")
    write(tmp_path / "skills/inc/parts/more.md", "2. two\n")
    skills, problems = discover_skills(tmp_path)
    assert not problems
    assert skills[0].body == "Intro\n1. one\n2. two\nOutro"


def test_include_problems(tmp_path: Path) -> None:
    body = "{{include:../../outside.md}}\n{{include:missing.md}}\n{{include:loop.md}}"
    file = write(tmp_path / "skills/inc/SKILL.md", skill_md("inc", body=body))
    write(tmp_path / "outside.md", "secret")
    write(tmp_path / "skills/inc/loop.md", "{{include:loop.md}}\n")
    skills, problems = discover_skills(tmp_path)
    assert skills == []
    folder = (tmp_path / "skills/inc").resolve()
    assert [str(p) for p in problems] == [
        f"{file}:5: error: {{{{include:../../outside.md}}}}: expected the relative path of a file inside the "
        f"skill folder {folder}",
        f"{file}:6: error: {{{{include:missing.md}}}}: expected the relative path of a file inside the skill "
        f"folder {folder}",
        f"{file}:7: error: {{{{include:loop.md}}}}: the file includes itself (a cycle)",
    ]


def test_instructions_list_names_and_descriptions(app: Path) -> None:
    skills, _ = discover_skills(app)
    text = skills_instructions(skills)
    assert "<name>pdf-forms</name>" in text
    assert "<description>Fill in PDF forms &lt;fast&gt; &amp; well.</description>" in text
    assert "`load_skill`" in text and "`read_skill_resource`" in text
    assert "Field names" not in text  # bodies and resources are disclosed only on demand
    assert skills_instructions([]) == ""


def test_skill_kit_tools(app: Path) -> None:
    skills, _ = discover_skills(app)
    kit = skill_kit(skills)
    assert [t.name for t in kit.tools] == ["load_skill", "read_skill_resource"]
    assert kit.tools[1].parameters["required"] == ["skill_name", "resource_name"]
    assert skill_kit([]).tools == [] and skill_kit([]).instructions == ""
    only = skill_kit([s for s in skills if s.name != "pdf-forms"])
    assert "pdf-forms" not in only.instructions


async def test_load_skill_returns_body_and_resources(app: Path) -> None:
    skills, _ = discover_skills(app)
    load = skill_kit(skills).tools[0]
    text = await load.invoke({"skill_name": "PDF-Forms"}, None)  # type: ignore[arg-type]
    assert text == (
        '<skill name="pdf-forms">\n# PDF forms\n\nRead references/fields.md first.\n</skill>\n\n'
        "Resource files of this skill (read one with read_skill_resource):\n- references/fields.md\n- template.txt"
    )
    with pytest.raises(
        ToolError, match="there is no skill named 'nope'; the skills are: code-review, pdf-forms"
    ):
        await load.invoke({"skill_name": "nope"}, None)  # type: ignore[arg-type]


def test_read_resource_and_confinement(app: Path) -> None:
    skills, _ = discover_skills(app)
    pdf = skills[1]
    assert read_skill_resource(pdf, "references/fields.md") == "Field names are case-sensitive.\n"
    assert read_skill_resource(pdf, "./references\\fields.md") == "Field names are case-sensitive.\n"
    # Agent Framework's conventions: case-insensitive names, extension optional.
    assert read_skill_resource(pdf, "References/FIELDS") == "Field names are case-sensitive.\n"
    refused = {
        "../../outside.txt": "without '..'",
        str(app / "outside.txt"): "expected a path relative to the skill's folder",
        "C:/Windows/win.ini": "expected a path relative to the skill's folder",
        ".env": "hidden files and SKILL.md itself are not resources",
        "SKILL.md": "hidden files and SKILL.md itself are not resources",
        "missing.md": "no such file; its files are: references/fields.md, template.txt",
        "": "expected a path relative",
    }
    for path, message in refused.items():
        with pytest.raises(ToolError, match=message.replace(".", r"\.").replace("(", r"\(")):
            read_skill_resource(pdf, path)


def test_symlinks_may_not_lead_out(app: Path) -> None:
    skills, _ = discover_skills(app)
    pdf = skills[1]
    os.symlink(app / "outside.txt", pdf.path / "escape.txt")
    os.symlink(app, pdf.path / "escape-dir")
    os.symlink(pdf.path / "template.txt", pdf.path / "alias.txt")
    for path in ("escape.txt", "escape-dir/outside.txt"):
        with pytest.raises(ToolError, match="it leads outside the skill's folder"):
            read_skill_resource(pdf, path)
    assert read_skill_resource(pdf, "alias.txt") == "Name: ____\n"  # a link inside the folder is fine
    assert "escape.txt" not in skill_resources(pdf) and "alias.txt" in skill_resources(pdf)


def test_binary_and_oversized_files(tmp_path: Path) -> None:
    folder = tmp_path / "skills/big"
    write(folder / "SKILL.md", skill_md("big"))
    write(folder / "logo.png", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
    write(folder / "latin1.txt", "caf\xe9".encode("latin-1"))
    write(folder / "big.txt", "é" * 100)  # 200 bytes of UTF-8
    (skill,) = discover_skills(tmp_path)[0]
    with pytest.raises(ToolError, match=r"it is a binary file \(16 bytes\); only text files can be read"):
        read_skill_resource(skill, "logo.png")
    with pytest.raises(ToolError, match=r"it is not UTF-8 text \(4 bytes\)"):
        read_skill_resource(skill, "latin1.txt")
    # The cap cuts inside a two-byte character: the partial character is dropped, not an error.
    text = read_skill_resource(skill, "big.txt", max_bytes=51)
    assert text == "é" * 25 + "\n\n[truncated: the file has 200 bytes; this is the first 51]"


def test_nested_skill_is_not_a_resource_of_its_parent(tmp_path: Path) -> None:
    write(tmp_path / "skills/outer/SKILL.md", skill_md("outer"))
    write(tmp_path / "skills/outer/notes.md", "n")
    write(tmp_path / "skills/outer/inner/SKILL.md", skill_md("inner"))
    write(tmp_path / "skills/outer/inner/data.md", "d")
    skills, problems = discover_skills(tmp_path)
    assert not problems and [s.name for s in skills] == ["inner", "outer"]
    assert skill_resources(skills[1]) == ["notes.md"]


async def test_agent_loads_a_skill_then_reads_a_resource(app: Path) -> None:
    skills, _ = discover_skills(app)
    kit = skill_kit(skills)
    model = ScriptedModel(
        [
            ToolCalls(tool_call("load_skill", {"skill_name": "pdf-forms"})),
            ToolCalls(
                tool_call(
                    "read_skill_resource", {"skill_name": "pdf-forms", "resource_name": "../../outside.txt"}
                )
            ),
            ToolCalls(
                tool_call(
                    "read_skill_resource",
                    {"skill_name": "pdf-forms", "resource_name": "references/fields.md"},
                )
            ),
            "Done.",
        ]
    )
    agent = Agent(model, instructions="You fill in forms.\n\n" + kit.instructions, tools=kit.tools)
    result = await agent.run("fill the form")
    assert result.text == "Done."
    system = model.requests[0].messages[0].text
    assert system.startswith("You fill in forms.") and "<name>pdf-forms</name>" in system
    outputs = [m.contents[0] for m in result.messages if m.role == "tool"]
    assert "# PDF forms" in (outputs[0].text or "")
    assert outputs[1].is_error and "without '..'" in (outputs[1].text or "")
    assert outputs[2].text == "Field names are case-sensitive.\n"


def test_skill_is_a_plain_value() -> None:
    skill = Skill("x", "d", Path("/s/x"), "body")
    assert (skill.name, skill.metadata) == ("x", {})
