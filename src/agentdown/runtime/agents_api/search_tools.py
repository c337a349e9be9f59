"""The ``file_search`` tool of runs: its definition, its resources and the stores it searches.

A run's file search searches the vector stores its ``tool_resources.file_search.vector_store_ids``
name, from the assistant, the thread (including the thread's own store that message
attachments fill) and the run, all the caller's own: an id of another caller's store, or
of none, is a 400 naming where it came from, checked when the run is created. The
thread's stores are read again at each search, so a store the thread got after the run
was planned is searched too.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from agentdown.knowledge import SearchHit
from agentdown.knowledge.file_search import DEFAULT_MAX_NUM_RESULTS, MAX_NUM_RESULTS, FileSearchTool
from agentdown.runtime.agents_api.context import AgentsApi
from agentdown.runtime.agents_api.errors import ApiProblem, bad_request

__all__ = [
    "FILE_SEARCH_CONTENT",
    "MAX_STORES",
    "build_file_search_tool",
    "check_file_search_definition",
    "check_file_search_resources",
    "file_search_options",
    "store_ids_of",
]

FILE_SEARCH_CONTENT = "step_details.tool_calls[*].file_search.results[*].content"
"""The one ``include[]`` value: file search results with their text."""
MAX_STORES = 20
"""Vector stores one resource list may name (the service allows one per assistant and thread)."""
_RANKERS = ("auto", "default_2024_08_21", "default-2024-08-21", "default_2024_11_15")


def check_file_search_definition(body: Any, where: str) -> None:
    """``{max_num_results?, ranking_options?: {ranker, score_threshold}}``, else a 400 naming the field."""
    if body is None:
        return
    if not isinstance(body, Mapping):
        raise bad_request(f"{where} must be an object", where)
    count = body.get("max_num_results")
    if count is not None and (
        isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= MAX_NUM_RESULTS
    ):
        raise bad_request(
            f"{where}.max_num_results must be an integer from 1 to {MAX_NUM_RESULTS}, got {count!r}",
            f"{where}.max_num_results",
        )
    ranking = body.get("ranking_options")
    if ranking is None:
        return
    at = f"{where}.ranking_options"
    if not isinstance(ranking, Mapping):
        raise bad_request(f"{at} must be {{'ranker', 'score_threshold'}}", at)
    ranker = ranking.get("ranker")
    if ranker is not None and ranker not in _RANKERS:
        raise bad_request(f"{at}.ranker must be one of {list(_RANKERS)}, got {ranker!r}", f"{at}.ranker")
    threshold = ranking.get("score_threshold")
    if threshold is not None and (
        isinstance(threshold, bool) or not isinstance(threshold, (int, float)) or not 0 <= threshold <= 1
    ):
        raise bad_request(
            f"{at}.score_threshold must be a number from 0 to 1, got {threshold!r}", f"{at}.score_threshold"
        )


def file_search_options(definition: Mapping[str, Any]) -> tuple[int, dict[str, Any]]:
    """``(max_num_results, ranking_options)`` of a checked definition, the service's defaults filled in."""
    body = definition.get("file_search") or {}
    count = body.get("max_num_results") or DEFAULT_MAX_NUM_RESULTS
    ranking = dict(body.get("ranking_options") or {})
    ranking.setdefault("ranker", "default_2024_08_21")
    ranking["score_threshold"] = float(ranking.get("score_threshold") or 0.0)
    return int(count), ranking


def check_file_search_resources(value: Any, field: str) -> None:
    """``{"vector_store_ids": [str, ...]}`` (``vector_stores`` to create is not supported), else a 400."""
    if not isinstance(value, Mapping):
        raise bad_request(f"{field} must be {{'vector_store_ids': [...]}}", field)
    if value.get("vector_stores"):
        raise bad_request(
            f"{field}.vector_stores: creating stores inline is not supported; create them with "
            "POST /vector_stores and name them in vector_store_ids",
            f"{field}.vector_stores",
        )
    ids = value.get("vector_store_ids")
    if ids is None:
        return
    if not isinstance(ids, list) or not all(isinstance(i, str) and i for i in ids):
        raise bad_request(
            f"{field}.vector_store_ids must be a list of vector store ids", f"{field}.vector_store_ids"
        )
    if len(ids) > MAX_STORES:
        raise bad_request(
            f"{field}.vector_store_ids: at most {MAX_STORES} stores, got {len(ids)}",
            f"{field}.vector_store_ids",
        )


def store_ids_of(resources: Any) -> list[str]:
    """The vector store ids of a ``tool_resources`` object (``[]`` when it has none)."""
    if not isinstance(resources, Mapping):
        return []
    search = resources.get("file_search")
    if not isinstance(search, Mapping):
        return []
    ids = search.get("vector_store_ids")
    return [i for i in ids if isinstance(i, str)] if isinstance(ids, list) else []


async def _check_owned(api: AgentsApi, ids: Sequence[str], owner: str | None, field: str) -> None:
    stores = api.vector_stores()
    for index, store_id in enumerate(ids):
        param = f"{field}.file_search.vector_store_ids[{index}]"
        try:
            await stores.require_active(store_id, owner, param)
        except ApiProblem as problem:
            if problem.status != 404:
                raise ApiProblem(
                    problem.status, f"{param}: {problem.message}", problem.code, param=param
                ) from None
            raise bad_request(
                f"{param}: no vector store {store_id!r} (it does not exist, or it is not yours)", param
            ) from None


async def build_file_search_tool(
    api: AgentsApi,
    definition: Mapping[str, Any],
    *,
    owner: str | None,
    thread_id: str | None,
    resources: Sequence[tuple[str, Any]],
    check: bool = True,
) -> FileSearchTool:
    """The run's ``file_search`` tool over the stores of ``resources`` (``(field, tool_resources)``
    pairs, checked to be ``owner``'s when ``check``) and of the thread, read at each search."""
    fixed: list[str] = []
    for field, value in resources:
        ids = store_ids_of(value)
        if check:
            await _check_owned(api, ids, owner, field)
        fixed += ids
    count, ranking = file_search_options(definition)

    async def search(query: str) -> list[SearchHit]:
        ids = list(fixed)
        if thread_id is not None:
            thread = await api.store.get("thread", "", thread_id)
            if thread is not None and (owner is None or thread.body.get("_owner", "") == owner):
                ids += store_ids_of(thread.body.get("tool_resources"))
        ids = list(dict.fromkeys(ids))
        if not ids:
            return []
        hits: list[SearchHit] = await api.vector_stores().search(
            ids, query, count, ranking["score_threshold"], owner=owner
        )
        return hits

    return FileSearchTool(
        search, max_num_results=count, score_threshold=ranking["score_threshold"], ranking_options=ranking
    )
