"""Front matter and YAML with line numbers, so every problem can name its line.

PyYAML's composed node tree carries a mark (line, column) for every key and value;
:func:`parse_yaml` keeps the line of each key path next to the plain Python data.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from agentdown.app.diagnostics import Problems

__all__ = ["FrontMatter", "KeyPath", "YamlDoc", "format_path", "parse_yaml", "split_front_matter"]

KeyPath = tuple[str | int, ...]
"""Where a value sits in a document: mapping keys and sequence indexes from the root."""

_MERGE_TAG = "tag:yaml.org,2002:merge"
_FRONT_MATTER_FORM = (
    "expected YAML front matter: a first line '---', keys such as `name:` and `description:`, "
    "then a closing '---' line, then the instructions"
)


def format_path(path: KeyPath) -> str:
    """``trigger.args.schedule`` / ``subagents[0].agent``."""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "<root>"


@dataclass(frozen=True, slots=True)
class YamlDoc:
    """Parsed YAML data and the 1-based file line of every key path in it."""

    data: Any
    lines: Mapping[KeyPath, int]
    file: Path
    first_line: int
    """The file line where the YAML text starts (problems about the whole document point here)."""

    def line(self, path: KeyPath) -> int:
        """The line of ``path``, or of its nearest ancestor that has one."""
        while path:
            if path in self.lines:
                return self.lines[path]
            path = path[:-1]
        return self.first_line


@dataclass(frozen=True, slots=True)
class FrontMatter:
    """An agent file split in two: the YAML text and the Markdown body."""

    yaml_text: str
    yaml_line: int
    """File line of the first YAML line (2: right after the opening ``---``)."""
    body: str
    body_line: int
    """File line of the first body line."""


def split_front_matter(text: str, file: Path, problems: Problems) -> FrontMatter | None:
    """Split ``---``-delimited front matter from the body; a problem and ``None`` if malformed."""
    lines = text.removeprefix("\ufeff").splitlines(keepends=True)
    if not lines or lines[0].strip() != "---":
        problems.add(file, 1, _FRONT_MATTER_FORM)
        return None
    for index in range(1, len(lines)):
        if lines[index].rstrip() in ("---", "..."):
            return FrontMatter(
                yaml_text="".join(lines[1:index]),
                yaml_line=2,
                body="".join(lines[index + 1 :]),
                body_line=index + 2,
            )
    problems.add(file, 1, "the front matter opened here is never closed: expected a '---' line after it")
    return None


def parse_yaml(text: str, file: Path, first_line: int, problems: Problems) -> YamlDoc | None:
    """Parse one YAML document, recording key lines; duplicate keys are problems too.

    Returns ``None`` (after adding a problem) when the text is not valid YAML. An
    empty document is ``None`` data.
    """
    try:
        # The reader checks the characters as it is built: a control character raises here.
        loader = yaml.SafeLoader(text)
    except yaml.reader.ReaderError as exc:
        line = first_line + len((text[: exc.position] + "x").splitlines()) - 1
        what = f"#x{exc.character:04x}" if isinstance(exc.character, int) else repr(exc.character)
        problems.add(file, line, f"invalid YAML: unacceptable character {what}: {exc.reason}")
        return None
    try:
        node = loader.get_single_node()
        lines: dict[KeyPath, int] = {}
        if node is not None and not _walk(node, (), lines, file, first_line, problems, loader):
            return None  # PyYAML cannot build a mapping with such keys; the problem is reported
        data = loader.construct_document(node) if node is not None else None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        if mark is not None and exc.context_mark is not None and mark.line >= len(text.splitlines()):
            mark = exc.context_mark  # "unexpected end": where the unclosed thing began says more
        line = first_line + mark.line if mark is not None else first_line
        what = " ".join(p for p in (exc.context, exc.problem) if p) or "invalid YAML"
        problems.add(file, line, f"invalid YAML: {what}")
        return None
    except yaml.YAMLError as exc:
        problems.add(file, first_line, f"invalid YAML: {exc}")
        return None
    finally:
        loader.dispose()
    return YamlDoc(data=data, lines=lines, file=file, first_line=first_line)


def _walk(
    node: yaml.Node,
    path: KeyPath,
    lines: dict[KeyPath, int],
    file: Path,
    first_line: int,
    problems: Problems,
    loader: yaml.SafeLoader,
) -> bool:
    """Record lines below ``node``; ``False`` when a key is a list or mapping (not constructible)."""
    ok = True
    if isinstance(node, yaml.MappingNode):
        seen: dict[object, int] = {}
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE_TAG:
                continue  # `<<: *anchor` keys are YAML's merge feature, not duplicates
            line = first_line + key_node.start_mark.line
            if not isinstance(key_node, yaml.ScalarNode):
                problems.add(
                    file, line, "a mapping key must be a plain value such as `name`, not a list or mapping"
                )
                ok = False
                continue
            key = loader.construct_object(key_node)
            if not isinstance(key, str | int):
                key = str(key_node.value)
            if key in seen:
                problems.add(
                    file,
                    line,
                    f"duplicate key '{key}' (first given at line {seen[key]}); each key may appear once",
                )
                continue
            seen[key] = line
            lines[(*path, key)] = line
            ok = _walk(value_node, (*path, key), lines, file, first_line, problems, loader) and ok
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            lines[(*path, index)] = first_line + item.start_mark.line
            ok = _walk(item, (*path, index), lines, file, first_line, problems, loader) and ok
    return ok
