"""Reading typed values out of parsed YAML, with a file:line problem for each bad one.

Each reader method returns the value, or ``None`` when the key is absent or invalid
(invalid values have added a problem, so a load that met one fails anyway).
"""

from __future__ import annotations

import contextlib
import difflib
import math
from collections.abc import Mapping
from typing import Any

from agentdown.app.diagnostics import Problem, Problems
from agentdown.app.frontmatter import KeyPath, YamlDoc, format_path

__all__ = ["MISSING", "Reader", "describe"]

MISSING: Any = object()


def describe(value: Any) -> str:
    """How a YAML value reads in a message: ``'soon'``, ``a list``, ``true``, ``null``."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        text = value if len(value) <= 60 else value[:57] + "..."
        return repr(text)
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return repr(value)


class Reader:
    """Validating access to one YAML document (an agent's front matter or a config file).

    ``raw`` is the document before ``$VAR`` substitution: a number or boolean written
    as a placeholder (``timeout: $TIMEOUT``) is read from its substituted text, while
    the same text written literally (``timeout: "90"``) is a type error, as in YAML.
    """

    def __init__(self, doc: YamlDoc, data: Any, raw: Any, problems: Problems) -> None:
        self.doc = doc
        self.data = data
        self.raw = raw
        self.problems = problems

    # -- plumbing ----------------------------------------------------------------------------

    def line(self, path: KeyPath) -> int:
        return self.doc.line(path)

    def get(self, path: KeyPath, root: Any = MISSING) -> Any:
        node = self.data if root is MISSING else root
        for part in path:
            in_list = isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node)
            if not (in_list or (isinstance(node, dict) and part in node)):
                return MISSING
            node = node[part]
        return node

    def error(self, path: KeyPath, message: str) -> None:
        prefix = f"{format_path(path)}: " if path else ""
        self.problems.add(self.doc.file, self.line(path), prefix + message)

    def warn(self, path: KeyPath, message: str) -> None:
        prefix = f"{format_path(path)}: " if path else ""
        self.problems.append(Problem(self.doc.file, self.line(path), prefix + message, "warning"))

    def expected(self, path: KeyPath, form: str, value: Any) -> None:
        self.error(path, f"expected {form}, got {describe(value)}")

    def _substituted(self, path: KeyPath, value: Any) -> bool:
        return isinstance(value, str) and self.get(path, self.raw) != value

    # -- shapes ------------------------------------------------------------------------------

    def mapping(self, path: KeyPath, form: str = "a mapping") -> dict[str, Any] | None:
        value = self.get(path)
        if value is MISSING or value is None:
            return None
        if not isinstance(value, dict):
            self.expected(path, form, value)
            return None
        return value

    def keys(
        self,
        path: KeyPath,
        allowed: Mapping[str, str],
        what: str,
        special: Mapping[str, str] | None = None,
        *,
        unknown_note: str | None = None,
        required: tuple[str, ...] = (),
    ) -> dict[str, Any] | None:
        """The mapping at ``path`` after reporting every key not in ``allowed`` (key -> form).

        Keys in ``special`` are reported with their own message (known but unsupported keys).
        With ``unknown_note`` an unknown key is a warning ending with that note (for mappings
        the Azure Functions runtime passes through rather than rejects), else an error; still
        an error when it looks like a misspelt ``required`` key that is missing (that fails
        there too).
        """
        value = self.data if not path else self.get(path)
        if value is MISSING or value is None:
            return None
        if not isinstance(value, dict):
            self.expected(path, f"{what} (a mapping with keys {', '.join(allowed)})", value)
            return None
        for key in value:
            if special and key in special:
                self.error((*path, key), special[key])
            elif key not in allowed:
                hint = difflib.get_close_matches(str(key), list(allowed), n=1)
                guess = f" (did you mean '{hint[0]}'?)" if hint else ""
                message = f"unknown key '{key}' in {what}{guess}; expected one of: {', '.join(allowed)}"
                misspelt = bool(hint) and hint[0] in required and hint[0] not in value
                if unknown_note is None or misspelt:
                    self.error((*path, key), message)
                else:
                    self.warn((*path, key), f"{message}; {unknown_note}")
        return value

    # -- scalars -----------------------------------------------------------------------------

    def string(self, path: KeyPath, form: str = "a string", *, required: bool = False) -> str | None:
        value = self.get(path)
        if value is MISSING or value is None:
            if required:
                self.error(path, f"required: expected {form}")
            return None
        if not isinstance(value, str):
            self.expected(path, form, value)
            return None
        if required and not value.strip():
            self.error(path, f"must not be empty: expected {form}")
            return None
        return value

    def boolean(self, path: KeyPath, form: str = "true or false") -> bool | None:
        value = self.get(path)
        if value is MISSING or value is None:
            return None
        if isinstance(value, bool):
            return value
        if self._substituted(path, value) and str(value).strip().lower() in ("true", "false"):
            return str(value).strip().lower() == "true"
        self.expected(path, form, value)
        return None

    def number(
        self, path: KeyPath, form: str, *, integer: bool = False, minimum: float | None = None
    ) -> float | None:
        """A number (``integer``: a whole one); ``minimum`` is exclusive for floats, inclusive for ints."""
        value = self.get(path)
        if value is MISSING or value is None:
            return None
        if self._substituted(path, value):
            with contextlib.suppress(ValueError):
                value = int(value) if integer else float(value)
        ok = isinstance(value, int) if integer else isinstance(value, int | float)
        if isinstance(value, bool) or not ok or (isinstance(value, float) and not math.isfinite(value)):
            self.expected(path, form, value)
            return None
        if minimum is not None and (value < minimum if integer else value <= minimum):
            self.expected(path, form, value)
            return None
        return float(value) if not integer else value

    def string_list(self, path: KeyPath, form: str = "a list of strings") -> tuple[str, ...] | None:
        value = self.get(path)
        if value is MISSING or value is None:
            return None
        if not isinstance(value, list):
            self.expected(path, form, value)
            return None
        out: list[str] = []
        for index, item in enumerate(value):
            if not isinstance(item, str) or not item.strip():
                self.expected((*path, index), f"a non-empty string in {form}", item)
            else:
                out.append(item.strip())
        return tuple(out)

    def choice(self, path: KeyPath, choices: tuple[str, ...], *, fold_case: bool = True) -> str | None:
        """One of ``choices`` (compared case-insensitively unless ``fold_case=False``)."""
        value = self.get(path)
        if value is MISSING or value is None:
            return None
        form = "one of " + ", ".join(choices)
        if not isinstance(value, str):
            self.expected(path, form, value)
            return None
        key = value.strip().lower() if fold_case else value
        if key not in choices:
            self.expected(path, form, value)
            return None
        return key
