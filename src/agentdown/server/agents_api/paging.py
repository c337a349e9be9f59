"""List queries (``limit``, ``order``, ``after``, ``before``) and list pages.

A page is ``{"object": "list", "data", "first_id", "last_id", "has_more"}``. The SDK's
pager asks again with ``after=<last_id>`` until a page has no ``last_id``: the page
after the last one is empty, with ``first_id`` and ``last_id`` null, which ends it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, cast

from starlette.requests import Request

from agentdown.runtime.agents_api.errors import bad_request
from agentdown.runtime.agents_api.schemas import ListBody
from agentdown.runtime.agents_api.store import AgentsStore, Order, public

__all__ = ["DEFAULT_LIMIT", "MAX_LIMIT", "ListQuery", "list_body", "list_query", "store_page"]

DEFAULT_LIMIT = 20
MAX_LIMIT = 100


@dataclass(frozen=True, slots=True)
class ListQuery:
    limit: int = DEFAULT_LIMIT
    order: Order = "desc"
    after: str | None = None
    before: str | None = None


def list_query(request: Request) -> ListQuery:
    """The list parameters of ``request``'s query string; a 400 naming the bad one."""
    query = request.query_params
    raw_limit = query.get("limit")
    limit = DEFAULT_LIMIT
    if raw_limit is not None:
        text = raw_limit.strip()
        if not text.isdigit() or not 1 <= int(text) <= MAX_LIMIT:
            raise bad_request(f"limit: expected an integer from 1 to {MAX_LIMIT}, got {raw_limit!r}", "limit")
        limit = int(text)
    order = query.get("order", "desc")
    if order not in ("asc", "desc"):
        raise bad_request(f"order: expected 'asc' or 'desc', got {order!r}", "order")
    return ListQuery(limit, cast(Order, order), query.get("after") or None, query.get("before") or None)


def list_body(data: list[dict[str, Any]], has_more: bool) -> dict[str, Any]:
    first = str(data[0]["id"]) if data else None
    last = str(data[-1]["id"]) if data else None
    return ListBody(data=data, first_id=first, last_id=last, has_more=has_more).model_dump(mode="json")


async def store_page(
    store: AgentsStore, kind: str, parent: str, query: ListQuery, where: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """One page of ``kind`` records under ``parent`` as a list body."""
    page = await store.list(
        kind,
        parent,
        limit=query.limit,
        order=query.order,
        after=query.after,
        before=query.before,
        where=where,
    )
    return list_body([public(r.body) for r in page.records], page.has_more)
