"""Split a docstring into the tool description and per-parameter descriptions.

Understands the three common conventions: Google (``Args:``), Sphinx
(``:param x:``) and numpy (``Parameters`` underlined with dashes). Only the
parameter sections are removed from the description; everything else (summary,
body, ``Returns:``...) is what the model reads about the tool.
"""

from __future__ import annotations

import inspect
import re
from dataclasses import dataclass, field

__all__ = ["ParsedDocstring", "parse_docstring"]

_GOOGLE_HEADER = re.compile(
    r"^(\s*)(?:Args|Arguments|Parameters|Params|Keyword Args|Keyword Arguments|Kwargs|Other Parameters):\s*$"
)
# `name (type): text`, `name: text`, `*args: text`; the type may hold brackets and commas.
_GOOGLE_ENTRY = re.compile(r"^\*{0,2}([A-Za-z_]\w*)\s*(?:\([^)]*\)|\[[^\]]*\])?\s*:(?:\s+(.*))?$")
_SPHINX_PARAM = re.compile(r"^(\s*):(?:param|parameter|arg|argument|key|keyword)\s+([^:]+?)\s*:\s*(.*)$")
_SPHINX_TYPE = re.compile(r"^(\s*):(?:type|vartype)\s+[^:]+:.*$")
_NUMPY_UNDERLINE = re.compile(r"^\s*-{3,}\s*$")
_NUMPY_PARAM_HEADERS = frozenset({"parameters", "other parameters", "keyword arguments", "params"})
_NUMPY_ENTRY = re.compile(r"^([*A-Za-z_][\w*]*(?:\s*,\s*[*A-Za-z_][\w*]*)*)\s*(?::.*)?$")


@dataclass(slots=True)
class ParsedDocstring:
    """The result of :func:`parse_docstring`."""

    description: str = ""
    """The docstring without its parameter sections, whitespace-normalised."""
    params: dict[str, str] = field(default_factory=dict)
    """Parameter name (without ``*``) to its description."""


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


def _join(parts: list[str]) -> str:
    return " ".join(p.strip() for p in parts if p.strip())


def _google(lines: list[str], params: dict[str, str]) -> list[str]:
    out: list[str] = []
    i = 0
    while i < len(lines):
        header = _GOOGLE_HEADER.match(lines[i])
        if header is None:
            out.append(lines[i])
            i += 1
            continue
        base = len(header.group(1))
        i += 1
        entry_indent: int | None = None
        current: str | None = None
        while i < len(lines):
            line = lines[i]
            if line.strip() and _indent(line) <= base:
                break  # dedent ends the section
            if line.strip():
                ind = _indent(line)
                if entry_indent is None:
                    entry_indent = ind
                match = _GOOGLE_ENTRY.match(line.strip()) if ind <= entry_indent else None
                if match is not None:
                    current = match.group(1)
                    params[current] = (match.group(2) or "").strip()
                elif current is not None:
                    params[current] = _join([params[current], line])
            i += 1
    return out


def _sphinx(lines: list[str], params: dict[str, str]) -> list[str]:
    out: list[str] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        match = _SPHINX_PARAM.match(line)
        if match is None and _SPHINX_TYPE.match(line) is None:
            out.append(line)
            i += 1
            continue
        base = _indent(line)
        parts: list[str] = []
        if match is not None:
            # `:param int x:` / `:param dict[str, int] x:` - the name is the last word.
            name = match.group(2).split()[-1].lstrip("*")
            parts.append(match.group(3))
        i += 1
        while i < len(lines) and lines[i].strip() and _indent(lines[i]) > base:
            parts.append(lines[i])
            i += 1
        if match is not None:
            params[name] = _join(parts)
    return out


def _numpy(lines: list[str], params: dict[str, str]) -> list[str]:
    out: list[str] = []
    i = 0
    while i < len(lines):
        is_header = i + 1 < len(lines) and _NUMPY_UNDERLINE.match(lines[i + 1]) is not None
        if not (is_header and lines[i].strip().lower() in _NUMPY_PARAM_HEADERS):
            out.append(lines[i])
            i += 1
            continue
        base = _indent(lines[i])
        i += 2
        names: list[str] = []
        while i < len(lines):
            line = lines[i]
            if i + 1 < len(lines) and _NUMPY_UNDERLINE.match(lines[i + 1]) and line.strip():
                break  # the next section starts
            if line.strip():
                match = _NUMPY_ENTRY.match(line.strip()) if _indent(line) <= base else None
                if match is not None:
                    names = [n.strip().lstrip("*") for n in match.group(1).split(",")]
                    for n in names:
                        params[n] = ""
                else:
                    for n in names:
                        params[n] = _join([params[n], line])
            i += 1
    return out


def _tidy(lines: list[str]) -> str:
    text = "\n".join(line.rstrip() for line in lines).strip()
    return re.sub(r"\n{3,}", "\n\n", text)


def parse_docstring(doc: str | None) -> ParsedDocstring:
    """Parse ``doc`` (raw or already cleaned); ``None`` gives an empty result."""
    if not doc or not doc.strip():
        return ParsedDocstring()
    lines = inspect.cleandoc(doc).splitlines()
    params: dict[str, str] = {}
    lines = _numpy(lines, params)
    lines = _google(lines, params)
    lines = _sphinx(lines, params)
    return ParsedDocstring(description=_tidy(lines), params={k: v for k, v in params.items() if v})
