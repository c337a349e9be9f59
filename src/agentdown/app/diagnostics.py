"""Problems found while loading an app: each names a file, a line and what was expected."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from agentdown.exceptions import ConfigurationError

__all__ = ["LOAD_LOGGER", "AppLoadError", "Problem", "Problems"]

LOAD_LOGGER = "agentdown.app.load"
"""The logger :func:`~agentdown.app.load_app` reports each warning on (the ``Problem`` in
the record's ``problem`` attribute)."""


@dataclass(frozen=True, slots=True)
class Problem:
    """One problem in one file. ``line`` is 1-based; 0 when it concerns the whole file."""

    file: Path
    line: int
    message: str
    """What is wrong and the expected form, e.g. ``timeout: expected a number of seconds, got 'soon'``."""
    severity: str = "error"

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else str(self.file)
        return f"{where}: {self.severity}: {self.message}"


class Problems(list[Problem]):
    """Collects every problem instead of stopping at the first one."""

    def add(self, file: Path, line: int, message: str) -> None:
        self.append(Problem(file, line, message))

    def warn(self, file: Path, line: int, message: str) -> None:
        """Record something worth knowing that does not stop the app from loading."""
        self.append(Problem(file, line, message, "warning"))

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self if p.severity == "error"]

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self if p.severity == "warning"]

    def raise_if_any(self) -> None:
        if self.errors:
            raise AppLoadError(self)


class AppLoadError(ConfigurationError):
    """An app folder has problems; ``problems`` lists every one of them."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = list(problems)
        lines = "\n".join(f"  {p}" for p in self.problems)
        super().__init__(f"{len(self.problems)} problem(s) in the app:\n{lines}")
