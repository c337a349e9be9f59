"""What every :class:`~.store.AgentsStore` backend checks the same way: keys, bodies, ``where`` filters.

Kept out of :mod:`.store` (the protocol) so the backends agree on the edge cases
without each re-deciding them: a body too large is refused before any I/O, a ``where``
value compares as JSON (``True`` never equals ``1``; a missing key equals ``None``).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

from agentdown.runtime.agents_api.ids import order_key
from agentdown.runtime.agents_api.store import MAX_BODY_BYTES, AgentsStoreError, Order

__all__ = ["check_key", "check_list_args", "check_where", "encode_body", "matches", "sort_key"]

Scalar = str | int | float | bool | None


def check_key(kind: str, parent: str, id: str) -> None:
    """``kind`` and ``id`` are non-empty strings, ``parent`` a string (``""`` for top-level kinds)."""
    if not isinstance(kind, str) or not kind:
        raise ValueError(f"a record kind must be a non-empty string, got {kind!r}")
    if not isinstance(parent, str):
        raise ValueError(f"a record parent must be a string, got {parent!r}")
    if not isinstance(id, str) or not id:
        raise ValueError(f"a record id must be a non-empty string, got {id!r}")


_encode = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode


def encode_body(kind: str, id: str, body: Mapping[str, Any]) -> str:
    """The body as compact JSON text; :class:`AgentsStoreError` above :data:`MAX_BODY_BYTES`.

    Encoding once up front means a body that cannot be stored fails before any write.
    """
    if not isinstance(body, Mapping):
        raise TypeError(f"{kind} {id}: a body must be a JSON object, got {type(body).__name__}")
    text = _encode(body)
    if len(text) * 4 <= MAX_BODY_BYTES:  # no character takes more than 4 bytes in UTF-8
        return text
    size = len(text.encode("utf-8", "surrogatepass"))
    if size > MAX_BODY_BYTES:
        raise AgentsStoreError(
            f"{kind} {id}: the body is {size} bytes of JSON, more than the {MAX_BODY_BYTES} a record may hold"
        )
    return text


def check_where(where: Mapping[str, Any] | None) -> dict[str, Scalar]:
    """The ``where`` filter, checked: top-level keys to scalar JSON values."""
    if not where:
        return {}
    checked: dict[str, Scalar] = {}
    for key, value in where.items():
        if not isinstance(key, str) or not key or '"' in key or "\\" in key:
            raise ValueError(f"where: {key!r} is not a usable body key")
        if value is not None and not isinstance(value, str | int | float | bool):
            raise ValueError(f"where: {key} must compare with a string, number, boolean or None")
        if isinstance(value, float) and not math.isfinite(value):
            raise ValueError(f"where: {key} must be a finite number")
        checked[key] = value
    return checked


def _json_equal(actual: Any, wanted: Scalar) -> bool:
    if wanted is None:
        return actual is None
    if isinstance(wanted, bool) or isinstance(actual, bool):
        return isinstance(wanted, bool) and isinstance(actual, bool) and actual is wanted
    if isinstance(wanted, int | float):
        return isinstance(actual, int | float) and actual == wanted
    return isinstance(actual, str) and actual == wanted


def matches(body: Mapping[str, Any], where: Mapping[str, Scalar]) -> bool:
    """Whether ``body`` has each key of ``where`` equal (as JSON) to its value; missing counts as ``None``."""
    return all(_json_equal(body.get(key), value) for key, value in where.items())


def check_list_args(limit: int, order: Order) -> None:
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise ValueError(f"limit must be a positive integer, got {limit!r}")
    if order not in ("asc", "desc"):
        raise ValueError(f"order must be 'asc' or 'desc', got {order!r}")


def sort_key(record_id: str) -> tuple[str, str]:
    """The total order of the SQLite store: :func:`~.ids.order_key`, then the whole id for ties."""
    return (order_key(record_id), record_id)
