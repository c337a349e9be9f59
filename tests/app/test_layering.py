"""No module of agentdown imports a higher layer (DESIGN.md's layout, lowest first).

Every import counts, including those under ``TYPE_CHECKING`` and inside functions: a
"lazy" upward import is still a dependency of the lower layer on the higher one.
"""

from __future__ import annotations

import ast
from pathlib import Path

import agentdown

SRC = Path(agentdown.__file__).parent

# Rank of each top-level module or package; a module may import its own rank or lower.
LAYERS: dict[str, int] = {
    "exceptions": 0,
    "version": 0,
    "lazy": 0,
    "telemetry": 0,
    "messages": 1,
    "models": 2,
    "sessions": 2,
    "tools": 3,
    "loop": 4,
    "agent": 5,
    "knowledge": 5,
    "workflows": 5,
    "app": 6,
    "compat": 6,
    "runtime": 7,
    "server": 8,
    "cli": 9,
    "hosting": 9,
    "client": 9,
}
HELPERS = {"testing"}
"""Helper layers: they may import any layer below the server, and only cli/tests import them."""


def _imports(tree: ast.AST) -> list[tuple[int, str]]:
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.lineno, node.module))
    return found


def _layer_of(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[0] == "agentdown" else None


def violations(src: Path) -> list[str]:
    out: list[str] = []
    for path in sorted(src.rglob("*.py")):
        rel = path.relative_to(src)
        own = rel.parts[0].removesuffix(".py")
        if own == "__init__":
            continue  # the public API re-exports every layer
        for line, module in _imports(ast.parse(path.read_text(encoding="utf-8"))):
            target = _layer_of(module)
            if target is None or target == own or target == "__init__":
                continue
            if target not in LAYERS and target not in HELPERS:
                out.append(f"{rel}:{line}: {module}: layer '{target}' is not in the layer list")
            elif target in HELPERS and own not in ("cli", *HELPERS):
                out.append(f"{rel}:{line}: {module}: only cli uses the '{target}' helper layer")
            elif own in HELPERS:
                if LAYERS.get(target, 0) >= LAYERS["server"]:
                    out.append(f"{rel}:{line}: {module}: the '{own}' helper layer imports '{target}'")
            elif own not in LAYERS:
                out.append(f"{rel}:{line}: '{own}' is not in the layer list")
            elif LAYERS[target] > LAYERS[own]:
                out.append(f"{rel}:{line}: {own} imports the higher layer {module}")
    return out


def test_no_module_imports_a_higher_layer() -> None:
    assert violations(SRC) == []


def test_the_check_finds_an_upward_import(tmp_path: Path) -> None:
    # The walk itself must work: a lower layer importing a higher one (even lazily) is found.
    (tmp_path / "tools").mkdir()
    (tmp_path / "tools" / "x.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from agentdown.app.spec import AgentSpec\n"
        "def f():\n    import agentdown.server.app\n"
    )
    (tmp_path / "app.py").write_text("from agentdown.tools import tool\nfrom agentdown.testing import x\n")
    assert violations(tmp_path) == [
        "app.py:2: agentdown.testing: only cli uses the 'testing' helper layer",
        "tools/x.py:3: tools imports the higher layer agentdown.app.spec",
        "tools/x.py:5: tools imports the higher layer agentdown.server.app",
    ]
