"""``$VAR`` / ``%VAR%`` substitution, as the Azure Functions agents runtime does it.

The rules (the compatibility contract in DESIGN.md, plus the runtime's escapes):

* ``$NAME`` and ``%NAME%`` are replaced by the variable's value, where ``NAME`` matches
  ``[A-Za-z_][A-Za-z0-9_]*``. ``$NAME`` ends at the first character outside that set,
  so ``$VAR-NAME`` becomes ``<VAR>-NAME``; ``%NAME%`` needs its closing ``%`` right
  after the name, so ``%VAR-NAME%`` stays literal.
* A variable that is not set stays literal (``$UNSET`` remains ``$UNSET``).
* ``${VAR}`` is not a placeholder (``{`` cannot start a name), nor is ``$9PORT``.
* ``$$NAME`` renders as a literal ``$NAME`` and ``%%NAME%%`` as ``%NAME%``.
* Only string values are substituted, never mapping keys.
* In Markdown, text inside fenced code blocks (````` ``` ````` or ``~~~``) is kept as is.

Substitution is a single pass: a variable's value is never itself substituted again.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

__all__ = ["PLACEHOLDER", "has_placeholders", "substitute_markdown", "substitute_string", "substitute_values"]

_NAME = r"[A-Za-z_][A-Za-z0-9_]*"
# Escapes come first in the alternation so that `$$X` is never read as `$` + `$X`.
PLACEHOLDER = re.compile(
    rf"\$\$(?P<esc_d>{_NAME})|%%(?P<esc_p>{_NAME})%%|\$(?P<dollar>{_NAME})|%(?P<pct>{_NAME})%"
)
"""Matches one placeholder or escape; see the module docstring."""

_FENCE_OPEN = re.compile(r"^ {0,3}(?P<fence>`{3,}|~{3,})(?P<info>.*)$")


def _replace(match: re.Match[str], environ: Mapping[str, str]) -> str:
    if (name := match.group("esc_d")) is not None:
        return f"${name}"
    if (name := match.group("esc_p")) is not None:
        return f"%{name}%"
    name = match.group("dollar") or match.group("pct")
    value = environ.get(name)
    return match.group(0) if value is None else value


def substitute_string(text: str, environ: Mapping[str, str]) -> str:
    """``text`` with every placeholder replaced by its variable (unset ones stay literal)."""
    if "$" not in text and "%" not in text:
        return text
    return PLACEHOLDER.sub(lambda m: _replace(m, environ), text)


def has_placeholders(text: str) -> bool:
    """Whether ``text`` still holds a ``$VAR`` / ``%VAR%`` placeholder (not counting escapes)."""
    return any(m.group("dollar") or m.group("pct") for m in PLACEHOLDER.finditer(text))


def substitute_values(value: Any, environ: Mapping[str, str]) -> Any:
    """A copy of YAML/JSON data with every string *value* substituted; keys are left alone."""
    if isinstance(value, str):
        return substitute_string(value, environ)
    if isinstance(value, list):
        return [substitute_values(item, environ) for item in value]
    if isinstance(value, dict):
        return {key: substitute_values(item, environ) for key, item in value.items()}
    return value


def substitute_markdown(text: str, environ: Mapping[str, str]) -> str:
    """Substitute a Markdown body, leaving fenced code blocks untouched.

    Fences follow CommonMark: a line of at least three backticks or tildes (indented
    by at most three spaces) opens a block that a line of the same character, at
    least as long and with nothing after it, closes. An unclosed block runs to the end.
    """
    out: list[str] = []
    fence: str | None = None
    for line in text.splitlines(keepends=True):
        stripped = line.rstrip("\r\n")
        if fence is None:
            opened = _FENCE_OPEN.match(stripped)
            # A backtick fence's info string may not contain backticks (CommonMark), so
            # "```code```" on one line is inline code, not a fence.
            if opened and not (opened["fence"][0] == "`" and "`" in opened["info"]):
                fence = opened["fence"]
                out.append(line)
            else:
                out.append(substitute_string(line, environ))
            continue
        out.append(line)
        closing = stripped.strip()
        if closing and set(closing) == {fence[0]} and len(closing) >= len(fence) and _indent(stripped) <= 3:
            fence = None
    return "".join(out)


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" "))
