"""Skills: ``skills/<name>/SKILL.md`` folders, disclosed to the model progressively.

The format is the Agent Skills one that the Azure Functions agents runtime hands to
Microsoft Agent Framework's ``SkillsProvider``: YAML front matter with ``name``
(lowercase letters, digits and single hyphens, at most 64 characters; expected to
match the folder name) and ``description`` (at most 1024 characters), then a Markdown
body; other front matter keys (``license``, ``metadata``...) are kept as metadata.
A body line ``{{include:path}}`` is replaced by that file of the skill's folder, as
in the Azure Functions runtime.

Progressive disclosure: the instructions only list each skill's name and
description; ``load_skill`` returns a skill's body and its resource files;
``read_skill_resource`` reads one of those files, read-only, confined to the skill's
folder (no ``..``, no absolute paths, no symlink leading out, no hidden files),
text only and capped in size. The tool names and arguments are Agent Framework's.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from html import escape
from pathlib import Path, PurePosixPath
from typing import Any

from agentdown.app.diagnostics import Problems
from agentdown.app.frontmatter import parse_yaml, split_front_matter
from agentdown.exceptions import ToolError
from agentdown.tools.function import FunctionTool
from agentdown.tools.protocol import Tool

__all__ = [
    "MAX_RESOURCE_BYTES",
    "Skill",
    "SkillKit",
    "discover_skills",
    "read_skill_resource",
    "skill_kit",
    "skill_resources",
    "skills_instructions",
]

SKILL_FILE = "SKILL.md"
MAX_RESOURCE_BYTES = 256 * 1024
"""What ``read_skill_resource`` returns at most of one file (the rest is cut, with a note)."""
_MAX_LISTED = 200
_NAME = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
_INCLUDE = re.compile(r"^[ \t]*\{\{include:[ \t]*(.*?)[ \t]*\}\}[ \t]*$")


@dataclass(frozen=True, slots=True)
class Skill:
    """One skill: its folder, what the model is told about it, and its instructions."""

    name: str
    """The front matter ``name``; the model loads the skill by it."""
    description: str
    """When to use the skill; listed in the agent's instructions."""
    path: Path
    """The skill's folder (resolved); resource reads are confined to it."""
    body: str
    """The Markdown after the front matter, ``{{include:...}}`` lines resolved."""
    file: Path = Path()
    """The ``SKILL.md`` file."""
    metadata: Mapping[str, Any] = field(default_factory=dict)
    """The whole front matter."""


def _skills_root(app_dir: Path) -> Path | None:
    for name in ("skills", "Skills"):  # the Azure Functions runtime accepts both spellings
        if (app_dir / name).is_dir():
            return app_dir / name
    return None


def _skill_files(root: Path) -> list[Path]:
    found: list[Path] = []
    seen: set[str] = set()
    # Symlinked skill folders are followed (shared skills); `seen` stops link cycles.
    for folder, dirs, files in os.walk(root, followlinks=True):
        real = os.path.realpath(folder)
        if real in seen:
            dirs[:] = []
            continue
        seen.add(real)
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and d != "__pycache__")
        if SKILL_FILE in files:
            found.append(Path(folder) / SKILL_FILE)
    return found


def _within(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


def _resolve_includes(body: str, folder: Path, file: Path, first_line: int, problems: Problems) -> str:
    def expand(text: str, chain: tuple[Path, ...], line_of: int | None) -> str:
        out: list[str] = []
        for offset, line in enumerate(text.splitlines(keepends=True)):
            match = _INCLUDE.match(line.rstrip("\r\n"))
            if match is None:
                out.append(line)
                continue
            where = line_of if line_of is not None else first_line + offset
            rel = match.group(1)
            target = (folder / rel).resolve()
            if not rel or Path(rel).is_absolute() or not _within(target, folder) or not target.is_file():
                problems.add(
                    file,
                    where,
                    f"{{{{include:{rel}}}}}: expected the relative path of a file inside the skill folder {folder}",
                )
            elif target in chain:
                problems.add(file, where, f"{{{{include:{rel}}}}}: the file includes itself (a cycle)")
            else:
                try:
                    included = target.read_text(encoding="utf-8-sig")
                except (OSError, UnicodeDecodeError) as exc:
                    problems.add(file, where, f"{{{{include:{rel}}}}}: cannot read it as UTF-8 text: {exc}")
                    continue
                out.append(expand(included, (*chain, target), where))
                if not out[-1].endswith("\n") and line.endswith("\n"):
                    out.append("\n")
        return "".join(out)

    return expand(body, (), None)


def _parse_skill(file: Path, problems: Problems) -> Skill | None:
    try:
        text = file.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        problems.add(file, 0, f"cannot read the skill: {exc}")
        return None
    before = len(problems.errors)
    parts = split_front_matter(text, file, problems)
    doc = parse_yaml(parts.yaml_text, file, parts.yaml_line, problems) if parts else None
    if parts is None or doc is None:
        return None
    data = doc.data
    if not isinstance(data, dict):
        problems.add(file, parts.yaml_line, "expected front matter keys `name:` and `description:`")
        return None
    values: dict[str, str] = {}
    for key, limit in (("name", 64), ("description", 1024)):
        value = data.get(key)
        line = doc.line((key,)) if key in data else 1
        if not isinstance(value, str) or not value.strip():
            got = "nothing" if value is None else f"{type(value).__name__} {value!r}"
            problems.add(file, line, f"`{key}:` is required: expected a non-empty string, got {got}")
        elif len(value) > limit:
            problems.add(file, line, f"`{key}:` is {len(value)} characters long; at most {limit} are allowed")
        else:
            values[key] = value.strip()
    name = values.get("name")
    folder = file.parent.resolve()
    if name is not None and not _NAME.match(name):
        problems.add(
            file,
            doc.line(("name",)),
            f"`name: {name}`: expected lowercase letters, digits and single hyphens (e.g. `pdf-forms`)",
        )
    elif name is not None and name != file.parent.name:
        problems.warn(
            file, doc.line(("name",)), f"`name: {name}` differs from the folder name {file.parent.name!r}"
        )
    body = _resolve_includes(parts.body, folder, file, parts.body_line, problems)
    if len(problems.errors) > before:
        return None
    return Skill(values["name"], values["description"], folder, body.strip("\n"), file, data)


def discover_skills(app_dir: Path) -> tuple[list[Skill], Problems]:
    """Every skill under ``app_dir/skills`` (any depth), sorted by name, and every problem found."""
    problems = Problems()
    root = _skills_root(app_dir)
    if root is None:
        return [], problems
    skills: dict[str, Skill] = {}
    for file in _skill_files(root):
        skill = _parse_skill(file, problems)
        if skill is None:
            continue
        first = skills.get(skill.name)
        if first is not None:
            problems.add(
                file, 1, f"skill name {skill.name!r} is already used by {first.file}; names must be unique"
            )
            continue
        skills[skill.name] = skill
    return sorted(skills.values(), key=lambda s: s.name), problems


def skills_instructions(skills: Sequence[Skill]) -> str:
    """The system-prompt text listing ``skills`` and how to load them (``""`` for none)."""
    if not skills:
        return ""
    entries = "\n".join(
        f"  <skill>\n    <name>{escape(s.name)}</name>\n    <description>{escape(s.description)}</description>\n"
        "  </skill>"
        for s in sorted(skills, key=lambda s: s.name)
    )
    return (
        "You have skills: instructions and reference files for specific kinds of tasks.\n\n"
        f"<available_skills>\n{entries}\n</available_skills>\n\n"
        "When a task matches a skill's description, call `load_skill` with its name before doing the task, "
        "then follow the instructions it returns. Those instructions may refer to resource files of the "
        "skill; read one with `read_skill_resource` (the skill name and the file's path exactly as "
        "`load_skill` lists it). Load only the skills and files you need."
    )


def _visible(parts: Iterable[str]) -> bool:
    return not any(part.startswith(".") or part == "__pycache__" for part in parts)


def skill_resources(skill: Skill) -> list[str]:
    """The skill's resource files (``/``-separated, relative to its folder), excluding nested skills."""
    out: list[str] = []
    for folder, dirs, files in os.walk(skill.path):
        here = Path(folder)
        # A nested folder with its own SKILL.md is another skill, not a resource of this one.
        dirs[:] = sorted(d for d in dirs if _visible([d]) and not (here / d / SKILL_FILE).exists())
        for name in sorted(files):
            path = here / name
            rel = path.relative_to(skill.path)
            if rel.as_posix() == SKILL_FILE or not _visible([name]):
                continue
            if path.is_symlink() and not _within(path.resolve(), skill.path):
                continue
            out.append(rel.as_posix())
    return sorted(out)


def _find(skills: Sequence[Skill], name: str) -> Skill:
    wanted = name.strip().lower()
    for skill in skills:
        if skill.name.lower() == wanted:
            return skill
    known = ", ".join(s.name for s in skills) or "none"
    raise ToolError(f"there is no skill named {name!r}; the skills are: {known}")


def read_skill_resource(skill: Skill, resource: str, max_bytes: int = MAX_RESOURCE_BYTES) -> str:
    """The text of ``resource`` (a path relative to the skill's folder); :class:`ToolError` if not allowed."""
    rel = PurePosixPath(resource.strip().replace("\\", "/"))
    refuse = f"cannot read {resource!r} of skill {skill.name!r}"
    if not rel.parts or rel.is_absolute() or re.match(r"^[A-Za-z]:", str(rel)) or ".." in rel.parts:
        raise ToolError(f"{refuse}: expected a path relative to the skill's folder, without '..'")
    if not _visible(rel.parts) or rel.as_posix() == SKILL_FILE:
        raise ToolError(f"{refuse}: hidden files and SKILL.md itself are not resources (use load_skill)")
    target = (skill.path / rel).resolve()
    if not _within(target, skill.path):
        raise ToolError(f"{refuse}: it leads outside the skill's folder")
    if not target.is_file():
        listed = skill_resources(skill)
        # Agent Framework matches names case-insensitively and teaches models to drop extensions.
        wanted = rel.as_posix().lower()
        near = [f for f in listed if wanted in (f.lower(), f.rsplit(".", 1)[0].lower())]
        if len(near) == 1:
            return read_skill_resource(skill, near[0], max_bytes)
        hint = f"; its files are: {', '.join(listed[:20])}" if listed else "; the skill has no resource files"
        raise ToolError(f"{refuse}: no such file{hint}")
    size = target.stat().st_size
    with target.open("rb") as handle:
        data = handle.read(max_bytes)
    if b"\x00" in data[:8192]:
        raise ToolError(f"{refuse}: it is a binary file ({size} bytes); only text files can be read")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        # A cut in the middle of a multi-byte character is not a binary file.
        if size <= max_bytes or exc.start < len(data) - 3:
            raise ToolError(f"{refuse}: it is not UTF-8 text ({size} bytes)") from None
        text = data[: exc.start].decode("utf-8-sig")
    if size > max_bytes:
        text += f"\n\n[truncated: the file has {size} bytes; this is the first {len(data)}]"
    return text


@dataclass(frozen=True, slots=True)
class SkillKit:
    """What an agent needs for a set of skills: instructions to append and the two tools."""

    instructions: str
    tools: list[Tool]


def skill_kit(skills: Sequence[Skill], *, max_bytes: int = MAX_RESOURCE_BYTES) -> SkillKit:
    """The instructions and the ``load_skill`` / ``read_skill_resource`` tools for ``skills``.

    Give it the agent's chosen subset (after ``skills: false`` / ``exclude``); no
    skills means no instructions and no tools.
    """
    chosen = list(skills)
    if not chosen:
        return SkillKit("", [])

    def load_skill(skill_name: str) -> str:
        """Loads the full instructions of a skill and lists its resource files.

        :param skill_name: The name of the skill to load.
        """
        skill = _find(chosen, skill_name)
        files = skill_resources(skill)
        listing = "\n".join(f"- {f}" for f in files[:_MAX_LISTED])
        if len(files) > _MAX_LISTED:
            listing += f"\n- ... and {len(files) - _MAX_LISTED} more"
        resources = (
            f"\n\nResource files of this skill (read one with read_skill_resource):\n{listing}"
            if files
            else ""
        )
        return f'<skill name="{escape(skill.name)}">\n{skill.body}\n</skill>{resources}'

    def read_resource(skill_name: str, resource_name: str) -> str:
        """Reads a resource file of a skill, such as a reference document or a template.

        :param skill_name: The name of the skill.
        :param resource_name: The file's path as load_skill lists it, e.g. references/guide.md.
        """
        return read_skill_resource(_find(chosen, skill_name), resource_name, max_bytes)

    return SkillKit(
        skills_instructions(chosen),
        [
            FunctionTool(load_skill, kind="skill"),
            FunctionTool(read_resource, name="read_skill_resource", kind="skill"),
        ],
    )
