"""The ``file_search`` tool and citations: search results the model reads, markers it cites.

:class:`FileSearchTool` is offered to the model as a function ``file_search(query)``. It
calls the ``search`` callable it was built with (an Agents API store search, a Markdown
agent's knowledge folders...), keeps the results of every call it made in ``hits`` and
shows the model each result under a source marker ``【N†file name】``, ``N`` counting the
results of all its calls in order, so the markers of one run never collide. The model is
asked to cite with those markers; :func:`cite` turns the markers of its final answer into
:class:`Citation` objects whose :meth:`~Citation.to_annotation` is the Agents API's
``file_citation`` annotation (the marker stays in the text, as the service does, and the
annotation's ``text`` is the marker).
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from agentdown.knowledge.base import SearchHit
from agentdown.tools.context import FunctionInvocationContext

__all__ = [
    "DEFAULT_MAX_NUM_RESULTS",
    "MAX_NUM_RESULTS",
    "Citation",
    "FileSearchTool",
    "SearchFunction",
    "cite",
    "format_results",
    "marker",
]

DEFAULT_MAX_NUM_RESULTS = 20
"""The service's default ``max_num_results`` (gpt-4 class models)."""
MAX_NUM_RESULTS = 50
"""The largest ``max_num_results`` the service accepts."""
MAX_QUERY_CHARS = 4096
"""A longer query is cut: it is the model's text, not worth an error."""

SearchFunction = Callable[[str], Awaitable[Sequence[SearchHit]]]
"""``search(query) -> hits``, best first."""

_MARKER = re.compile(r"【(\d{1,6})(?::(\d{1,6}))?(?:†([^】\n]{0,300}))?】")
"""``【N†name】`` (ours) and ``【M:N†name】`` (the service's), the name optional."""
_NAME_UNSAFE = re.compile(r"[\x00-\x1f\x7f【】†]")

_DESCRIPTION = (
    "Search the files attached to this conversation and answer from what they say. "
    "Each result is shown under a source marker like 【0†report.md】; cite every fact you take "
    "from a result by writing its marker right after the fact."
)


def marker(index: int, filename: str) -> str:
    """The source marker of the ``index``-th result: ``【index†filename】``."""
    return f"【{index}†{_safe_name(filename)}】"


def _safe_name(filename: str) -> str:
    # A file name is the uploader's text: it must not be able to forge or break a marker.
    return _NAME_UNSAFE.sub("", filename)[:200] or "file"


def format_results(hits: Sequence[SearchHit], start: int = 0) -> str:
    """What the model reads: each result under its marker, then how to cite."""
    if not hits:
        return "No results were found in the files for this query."
    parts = [
        f"{len(hits)} result{'s' if len(hits) != 1 else ''} from the files. Cite a result by writing its "
        "marker (for example " + marker(start, hits[0].filename) + ") right after what you take from it."
    ]
    for offset, hit in enumerate(hits):
        parts.append(f"{marker(start + offset, hit.filename)} (score {hit.score:.3f})\n{hit.text}")
    return "\n\n".join(parts)


@dataclass(frozen=True, slots=True)
class Citation:
    """A marker of the answer that names a search result."""

    file_id: str
    filename: str
    quote: str
    """The cited result's text."""
    text: str
    """The marker as it stands in the answer."""
    start_index: int
    end_index: int
    """``answer[start_index:end_index] == text``."""

    def to_annotation(self) -> dict[str, Any]:
        """The Agents API's ``file_citation`` annotation (the SDK's ``MessageTextFileCitationAnnotation``)."""
        return {
            "type": "file_citation",
            "text": self.text,
            "start_index": self.start_index,
            "end_index": self.end_index,
            "file_citation": {"file_id": self.file_id, "quote": self.quote},
        }


def cite(text: str, hits: Sequence[SearchHit]) -> tuple[str, list[Citation]]:
    """The answer ``text`` and a :class:`Citation` for each of its markers that names a result.

    ``【N†…】`` names ``hits[N]`` (``【M:N†…】``, the service's form, names ``hits[N]`` too).
    A marker whose number is not a result is left as plain text: the model made it up.
    The text is returned unchanged (the service keeps its markers in the message too).
    """
    citations: list[Citation] = []
    for match in _MARKER.finditer(text):
        index = int(match.group(2) if match.group(2) is not None else match.group(1))
        if index >= len(hits):
            continue
        hit = hits[index]
        citations.append(
            Citation(
                file_id=hit.file_id,
                filename=hit.filename,
                quote=hit.text,
                text=match.group(0),
                start_index=match.start(),
                end_index=match.end(),
            )
        )
    return text, citations


class FileSearchTool:
    """The ``file_search(query)`` function tool over a ``search`` callable.

    ``max_num_results`` (1-50, default 20) bounds the results shown per call and
    ``score_threshold`` (0-1) drops weaker ones, whatever ``search`` returned. ``hits``
    holds the results of every call, in marker order; pass it to :func:`cite`. A tool
    resumed from recorded calls gets their results as ``hits`` so its markers continue.
    """

    name: str
    description: str
    kind: str = "file_search"

    def __init__(
        self,
        search: SearchFunction,
        *,
        max_num_results: int = DEFAULT_MAX_NUM_RESULTS,
        score_threshold: float = 0.0,
        name: str = "file_search",
        description: str = _DESCRIPTION,
        hits: Sequence[SearchHit] = (),
        ranking_options: dict[str, Any] | None = None,
    ) -> None:
        if isinstance(max_num_results, bool) or not isinstance(max_num_results, int):
            raise TypeError(f"max_num_results must be an integer, got {max_num_results!r}")
        if not 1 <= max_num_results <= MAX_NUM_RESULTS:
            raise ValueError(
                f"max_num_results must be between 1 and {MAX_NUM_RESULTS}, got {max_num_results}"
            )
        if isinstance(score_threshold, bool) or not isinstance(score_threshold, (int, float)):
            raise TypeError(f"score_threshold must be a number, got {score_threshold!r}")
        if not 0.0 <= float(score_threshold) <= 1.0:
            raise ValueError(f"score_threshold must be between 0 and 1, got {score_threshold}")
        self._search = search
        self.max_num_results = max_num_results
        self.score_threshold = float(score_threshold)
        self.name = name
        self.description = description
        self.hits: list[SearchHit] = list(hits)
        self.calls: dict[str, tuple[int, list[SearchHit]]] = {}
        """Each call's marker number of its first result and its results, by call id."""
        self.ranking_options = ranking_options or {"ranker": "auto", "score_threshold": self.score_threshold}

    @property
    def parameters(self) -> dict[str, Any]:
        return {
            "type": "object",
            "properties": {"query": {"type": "string", "description": "What to look for in the files."}},
            "required": ["query"],
            "additionalProperties": False,
        }

    async def search(self, query: str) -> tuple[int, list[SearchHit]]:
        """Run one search: the marker number of its first result and its results (kept in ``hits``)."""
        query = query.strip()[:MAX_QUERY_CHARS]
        found = [] if not query else list(await self._search(query))
        kept = [h for h in found if h.score >= self.score_threshold]
        kept.sort(key=lambda h: h.score, reverse=True)
        kept = kept[: self.max_num_results]
        start = len(self.hits)
        self.hits.extend(kept)
        return start, kept

    async def invoke(self, arguments: dict[str, Any], context: FunctionInvocationContext) -> str:
        query = arguments.get("query")
        if not isinstance(query, str):
            raise ValueError("file_search needs a 'query' string")
        start, hits = await self.search(query)
        if context.call_id:
            self.calls[context.call_id] = (start, hits)
        return format_results(hits, start)
