"""``knowledge:``: folders (or files, or globs) of the app an agent answers from.

.. code-block:: yaml

    knowledge: [docs/, faq.md, "handbook/**/*.pdf"]

    knowledge:                         # the long form
      paths: [docs/]
      chunking: {max_chunk_size_tokens: 400, chunk_overlap_tokens: 100}
      max_num_results: 8               # 1-50, default 20
      score_threshold: 0.2             # 0-1, default 0

Paths are relative to the app folder (also in ``agents/*.agent.md`` and
``agents.config.yaml``). Nothing outside the app folder can be named: absolute paths,
``~``, ``..`` and symlinks that resolve outside it are errors at load time (and
files reached through such symlinks are refused again when the folders are indexed).
``agents.config.yaml``'s ``knowledge`` is the default of agents that set none; an
agent's own value replaces it, and ``knowledge: false`` (or ``[]``) turns it off.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Any

from agentdown.app.checks import MISSING, Reader, describe
from agentdown.app.frontmatter import KeyPath
from agentdown.knowledge.base import Chunking, ChunkingError
from agentdown.knowledge.parsing import SUPPORTED_EXTENSIONS

__all__ = [
    "DEFAULT_MAX_NUM_RESULTS",
    "KNOWLEDGE_FORM",
    "KnowledgeSpec",
    "read_knowledge",
]

DEFAULT_MAX_NUM_RESULTS = 20
MAX_NUM_RESULTS = 50
KNOWLEDGE_FORM = (
    "a list of folders, files or globs of the app (e.g. [docs/]), false, or "
    "{paths: [...], chunking: {max_chunk_size_tokens, chunk_overlap_tokens}, max_num_results, score_threshold}"
)
_LONG_KEYS = {
    "paths": "a list of folders, files or globs relative to the app folder",
    "chunking": "{max_chunk_size_tokens: 100-4096, chunk_overlap_tokens: at most half of it}",
    "max_num_results": f"a whole number of results per search, 1-{MAX_NUM_RESULTS} (default {DEFAULT_MAX_NUM_RESULTS})",
    "score_threshold": "a number from 0 to 1: weaker results are left out (default 0)",
}
_CHUNKING_KEYS = {
    "max_chunk_size_tokens": "a whole number of tokens, 100-4096 (default 800)",
    "chunk_overlap_tokens": "a whole number of tokens, at most half of max_chunk_size_tokens (default 400)",
}
_GLOB = frozenset("*?[")
_EXTENSIONS = frozenset((*SUPPORTED_EXTENSIONS, ".markdown", ".htm", ".text"))


@dataclass(frozen=True, slots=True)
class KnowledgeSpec:
    """A validated ``knowledge`` value."""

    paths: tuple[str, ...]
    """As written (normalised to ``/``), relative to the app folder; a trailing ``/`` is dropped."""
    chunking: Chunking = field(default_factory=Chunking)
    max_num_results: int = DEFAULT_MAX_NUM_RESULTS
    score_threshold: float = 0.0
    file: Path | None = None
    line: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "paths": list(self.paths),
            "chunking": {
                "max_chunk_size_tokens": self.chunking.max_chunk_size_tokens,
                "chunk_overlap_tokens": self.chunking.chunk_overlap_tokens,
            },
            "max_num_results": self.max_num_results,
            "score_threshold": self.score_threshold,
            "declared_in": f"{self.file}:{self.line}" if self.file is not None else None,
        }


def is_glob(path: str) -> bool:
    return any(c in _GLOB for c in path)


def read_knowledge(reader: Reader, path: KeyPath, app_dir: Path) -> KnowledgeSpec | bool | None:
    """The ``knowledge`` at ``path``: a spec, ``False`` (turned off), or ``None`` (unset or invalid)."""
    value = reader.get(path)
    if value is MISSING or value is None:
        return None
    if value is False or value == []:
        return False
    if value is True:
        reader.error(path, f"expected {KNOWLEDGE_FORM}, got true: name the folders, e.g. knowledge: [docs/]")
        return None
    if isinstance(value, str):
        reader.error(
            path, f"expected a list, e.g. knowledge: [{value.strip() or 'docs/'}], got {describe(value)}"
        )
        return None
    options: dict[str, Any] = {}
    paths_at: KeyPath = path
    if isinstance(value, dict):
        if reader.keys(path, _LONG_KEYS, "knowledge", required=("paths",)) is None:
            return None
        paths_at = (*path, "paths")
        if reader.get(paths_at) in (MISSING, None):
            reader.error(paths_at, f"required: expected {_LONG_KEYS['paths']}")
            return None
        chunking = _chunking(reader, (*path, "chunking"))
        if chunking is None:
            return None
        options["chunking"] = chunking
        results = reader.number(
            (*path, "max_num_results"), _LONG_KEYS["max_num_results"], integer=True, minimum=1
        )
        if results is not None:
            if results > MAX_NUM_RESULTS:
                reader.expected((*path, "max_num_results"), _LONG_KEYS["max_num_results"], results)
                return None
            options["max_num_results"] = int(results)
        threshold = _threshold(reader, (*path, "score_threshold"))
        if threshold is False:
            return None
        if threshold is not None:
            options["score_threshold"] = threshold
    elif not isinstance(value, list):
        reader.expected(path, KNOWLEDGE_FORM, value)
        return None
    entries = reader.get(paths_at)
    if not isinstance(entries, list):
        reader.expected(paths_at, _LONG_KEYS["paths"], entries)
        return None
    if not entries:
        return False
    before = len(reader.problems.errors)
    paths: list[str] = []
    for index, entry in enumerate(entries):
        checked = _check_entry(reader, (*paths_at, index), entry, app_dir)
        if checked is not None and checked not in paths:
            paths.append(checked)
    if len(reader.problems.errors) != before:
        return None
    return KnowledgeSpec(tuple(paths), file=reader.doc.file, line=reader.line(path), **options)


def _chunking(reader: Reader, path: KeyPath) -> Chunking | None:
    value = reader.keys(path, _CHUNKING_KEYS, "knowledge.chunking")
    if value is None:
        return None if reader.get(path) not in (MISSING, None) else Chunking()
    size = reader.number(
        (*path, "max_chunk_size_tokens"), _CHUNKING_KEYS["max_chunk_size_tokens"], integer=True
    )
    overlap = reader.number(
        (*path, "chunk_overlap_tokens"), _CHUNKING_KEYS["chunk_overlap_tokens"], integer=True
    )
    bad = [k for k in _CHUNKING_KEYS if k in value and value[k] is not None]
    if len(bad) != sum(x is not None for x in (size, overlap)):
        return None  # a type error was reported
    max_size = int(size) if size is not None else 800
    chosen = int(overlap) if overlap is not None else min(400, max_size // 2)
    try:
        return Chunking("static", max_size, chosen)
    except ChunkingError as exc:
        key = "max_chunk_size_tokens" if "max_chunk_size_tokens must" in str(exc) else "chunk_overlap_tokens"
        message = str(exc).split(".", 1)[-1] if str(exc).startswith("Chunking.") else str(exc)
        reader.error((*path, key), message.removeprefix(f"{key} ").strip())
        return None


def _threshold(reader: Reader, path: KeyPath) -> float | bool | None:
    value = reader.get(path)
    if value is MISSING or value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
        reader.expected(path, _LONG_KEYS["score_threshold"], value)
        return False
    return float(value)


def _check_entry(reader: Reader, at: KeyPath, entry: Any, app_dir: Path) -> str | None:
    """``entry`` normalised, or ``None`` after reporting why it cannot be used."""
    form = "a folder, file or glob relative to the app folder, e.g. docs/"
    if not isinstance(entry, str) or not entry.strip():
        reader.expected(at, f"a non-empty string: {form}", entry)
        return None
    text = entry.strip()
    if "\x00" in text:
        reader.error(at, f"{text!r} holds a NUL character: expected {form}")
        return None
    if text.startswith("~"):
        reader.error(at, f"{text!r}: '~' (a home folder) is outside the app folder; expected {form}")
        return None
    if (
        PurePosixPath(text).is_absolute()
        or PureWindowsPath(text).is_absolute()
        or PureWindowsPath(text).drive
    ):
        reader.error(
            at, f"{text!r} is an absolute path: knowledge comes from the app folder; expected {form}"
        )
        return None
    parts = [p for p in text.replace("\\", "/").split("/") if p not in ("", ".")]
    if ".." in parts:
        reader.error(at, f"{text!r} leaves the app folder ('..'); expected {form}")
        return None
    normal = "/".join(parts) or "."
    root = Path(os.path.realpath(app_dir))
    glob = is_glob(normal)
    literal = parts
    if glob:
        literal = []
        for part in parts:
            if is_glob(part):
                break
            literal.append(part)
    target = app_dir.joinpath(*literal) if literal else app_dir
    if not os.path.lexists(target):
        where = f"the folder {'/'.join(literal)!r} of the glob" if glob else repr(text)
        reader.error(at, f"{where} does not exist in the app folder ({app_dir})")
        return None
    real = Path(os.path.realpath(target))
    if real != root and root not in real.parents:
        reader.error(
            at, f"{text!r} is a symlink (or passes through one) that leads out of the app folder, to {real}"
        )
        return None
    if not glob and real.is_file() and real.suffix.lower() not in _EXTENSIONS:
        reader.error(
            at,
            f"{text!r} is a {real.suffix or 'extension-less'} file, which cannot be indexed; "
            f"supported: {' '.join(SUPPORTED_EXTENSIONS)}",
        )
        return None
    if not glob and not real.is_dir() and not real.is_file():
        reader.error(at, f"{text!r} is neither a folder nor a file")
        return None
    return normal
