"""``file_search`` over a :class:`~agentdown.knowledge.folders.FolderIndex`, with per-session markers.

A Markdown agent is built once and serves every session, so its tool cannot keep the
results of "the run" on itself as :class:`~agentdown.knowledge.file_search.FileSearchTool`
does for an Agents API run. :class:`KnowledgeSearchTool` keeps them on the run's
session instead (``session.metadata``, which is never stored): the markers
``【N†file】`` count the results of every search made on that session object, so
parallel calls never share a number. When the run ends, :func:`attach_citations`
turns the markers of the answer into citations on the answer message
(``metadata["citations"]``: stored with the session, shown by the chat page).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from agentdown.knowledge.base import SearchHit
from agentdown.knowledge.file_search import FileSearchTool, cite, format_results
from agentdown.knowledge.folders import FolderIndex
from agentdown.loop.events import AgentRunResult
from agentdown.messages import Message
from agentdown.tools.context import FunctionInvocationContext

__all__ = ["CITATIONS_KEY", "HITS_KEY", "KnowledgeSearchTool", "attach_citations", "citations_of"]

HITS_KEY = "agentdown.knowledge.hits"
"""Where a session object keeps the file_search results of its runs (in memory only)."""
CITATIONS_KEY = "citations"
"""The answer message's metadata key holding its citations."""
STILL_INDEXING = (
    "(The knowledge files are still being indexed: these results come from the part indexed so far.)"
)


def _description(sources: Sequence[str]) -> str:
    shown = ", ".join(sources[:5]) + (", ..." if len(sources) > 5 else "")
    return (
        f"Search this agent's knowledge files ({shown}) and answer from what they say. Each result is "
        "shown under a source marker like 【0†docs/guide.md】; cite every fact you take from a result "
        "by writing its marker right after the fact."
    )


def _session_hits(session: Any) -> list[SearchHit]:
    metadata = getattr(session, "metadata", None)
    if not isinstance(metadata, dict):
        return []
    hits = metadata.setdefault(HITS_KEY, [])
    return hits if isinstance(hits, list) else []


class KnowledgeSearchTool:
    """The ``file_search(query)`` tool of an agent with ``knowledge`` (see the module docstring)."""

    kind = "file_search"

    def __init__(
        self, folder: FolderIndex, *, max_num_results: int = 20, score_threshold: float = 0.0
    ) -> None:
        self.folder = folder
        self._template = FileSearchTool(
            self._search,
            max_num_results=max_num_results,
            score_threshold=score_threshold,
            description=_description(folder.sources),
        )
        self.name = self._template.name
        self.description = self._template.description
        self.max_num_results = max_num_results
        self.score_threshold = self._template.score_threshold

    @property
    def parameters(self) -> dict[str, Any]:
        return self._template.parameters

    async def _search(self, query: str) -> list[SearchHit]:
        return await self.folder.search(
            query, max_results=self.max_num_results, score_threshold=self.score_threshold
        )

    async def invoke(self, arguments: dict[str, Any], context: FunctionInvocationContext) -> str:
        query = arguments.get("query")
        if not isinstance(query, str):
            raise ValueError("file_search needs a 'query' string")
        # A fresh FileSearchTool per call filters and orders the results; the numbering is the session's.
        once = FileSearchTool(
            self._search, max_num_results=self.max_num_results, score_threshold=self.score_threshold
        )
        _, kept = await once.search(query)
        hits = _session_hits(context.session)
        start = len(hits)  # no await between reading and extending: parallel calls never share numbers
        hits.extend(kept)
        text = format_results(kept, start)
        return text if self.folder.ready else f"{text}\n\n{STILL_INDEXING}"


def _answer(messages: Sequence[Message]) -> Message | None:
    for message in reversed(messages):
        if message.role == "assistant" and message.text:
            return message
    return None


def attach_citations(session: Any, result: AgentRunResult[Any]) -> list[dict[str, Any]]:
    """Cite the answer of ``result`` from the file_search results made on ``session``.

    The citations (one per cited result, in the order first cited) are set on the answer
    message's ``metadata["citations"]`` and returned; none when nothing was cited.
    """
    metadata = getattr(session, "metadata", None)
    hits = metadata.get(HITS_KEY) if isinstance(metadata, dict) else None
    answer = _answer(result.messages)
    if not hits or answer is None:
        return []
    _, citations = cite(answer.text, hits)
    records: list[dict[str, Any]] = []
    seen: set[tuple[str, str]] = set()
    for c in citations:
        key = (c.file_id, c.quote)
        if key in seen:
            continue
        seen.add(key)
        records.append({"marker": c.text, "file_id": c.file_id, "file_name": c.filename, "quote": c.quote})
    if records:
        answer.metadata[CITATIONS_KEY] = records
    return records


def citations_of(result: AgentRunResult[Any] | Sequence[Message] | Message) -> list[dict[str, Any]]:
    """The citations :func:`attach_citations` set on an answer (of a result, or a message)."""
    if isinstance(result, Message):
        answer: Message | None = result
    else:
        answer = _answer(result.messages if isinstance(result, AgentRunResult) else result)
    found = answer.metadata.get(CITATIONS_KEY) if answer is not None else None
    return [dict(c) for c in found if isinstance(c, dict)] if isinstance(found, list) else []
