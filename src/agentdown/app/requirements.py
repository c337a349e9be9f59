"""``requirements.txt``: which distributions an app declares, to explain a tool module's missing import.

Azure Functions installs ``requirements.txt`` when the app is deployed, so a module listed
there but missing here is this machine's problem, not the app's: ``agentdown check`` says
what to install instead of only showing the ``ModuleNotFoundError``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Requirement", "find_requirement", "read_requirements"]

REQUIREMENTS_FILE = "requirements.txt"
_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")
# Import names that differ from their distribution's name (the common ones; any other is
# matched by the name itself, with '.', '-' and '_' alike).
_DISTRIBUTION_OF = {
    "yaml": "pyyaml",
    "pil": "pillow",
    "dateutil": "python-dateutil",
    "dotenv": "python-dotenv",
    "jwt": "pyjwt",
    "bs4": "beautifulsoup4",
    "sklearn": "scikit-learn",
    "cv2": "opencv-python",
    "docx": "python-docx",
    "magic": "python-magic",
    "google.protobuf": "protobuf",
    "azure.functions": "azure-functions",
}


@dataclass(frozen=True, slots=True)
class Requirement:
    """One distribution named in ``requirements.txt``."""

    name: str
    file: Path
    line: int


def _normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def read_requirements(app_dir: Path) -> list[Requirement]:
    """The distributions ``app_dir/requirements.txt`` names (options, paths and URLs skipped)."""
    path = app_dir / REQUIREMENTS_FILE
    try:
        lines = path.read_text(encoding="utf-8-sig").splitlines()
    except (OSError, UnicodeDecodeError):
        return []
    found: list[Requirement] = []
    for number, line in enumerate(lines, 1):
        text = line.split("#", 1)[0].strip()
        if not text or text.startswith(("-", ".", "/")) or "://" in text:
            continue
        match = _NAME.match(text)
        if match:
            found.append(Requirement(match.group(1), path, number))
    return found


def find_requirement(module: str, requirements: list[Requirement]) -> Requirement | None:
    """The requirement that provides the import ``module`` (``azure.identity``, ``jmespath``), if listed."""
    parts = module.split(".")
    candidates = [".".join(parts[:n]) for n in range(len(parts), 0, -1)]
    wanted = {_normal(_DISTRIBUTION_OF.get(c.lower(), c)) for c in candidates}
    for requirement in requirements:
        if _normal(requirement.name) in wanted:
            return requirement
    return None
