"""Record ids that sort by creation time, so a store pages a list by its ids alone.

An id is ``<prefix>_<13 hex digits: microseconds since 1970><8 random hex digits>``
(``msg_0641c2f5a9b1c3f0e91a2b7``). Within one process the time part strictly
increases, so two messages created in the same microsecond still list in order;
across processes the clocks decide, which is what "created at" means anyway. The
random part keeps ids unguessable enough that a forged id is a 404, never another
caller's record (authorization does not rely on it: see the routes).
"""

from __future__ import annotations

import os
import re
import threading
import time

__all__ = ["ID_PATTERN", "PREFIXES", "is_record_id", "new_record_id", "order_key"]

PREFIXES: dict[str, str] = {
    "assistant": "asst",
    "thread": "thread",
    "message": "msg",
    "run": "run",
    "step": "step",
    "file": "assistant",
    "vector_store": "vs",
    "vector_store_file_batch": "vsfb",
    "call": "call",
}
"""The id prefix of each record kind (the service's own prefixes)."""

ID_PATTERN = re.compile(r"^[a-z]{2,16}_[0-9a-f]{21}$")

_lock = threading.Lock()
_last = 0


def new_record_id(prefix: str) -> str:
    """A fresh id with ``prefix``, later than every id this process made before."""
    global _last
    with _lock:
        now = max(time.time_ns() // 1000, _last + 1)
        _last = now
    return f"{prefix}_{now:013x}{os.urandom(4).hex()}"


def is_record_id(value: str) -> bool:
    """Whether ``value`` has the shape of an id made by :func:`new_record_id`."""
    return bool(ID_PATTERN.match(value))


def order_key(record_id: str) -> str:
    """What a store sorts ``record_id`` by: the part after the prefix (time, then randomness).

    Ids of other shapes (an app agent's ``asst_app_<slug>``) sort by their whole text.
    """
    _, sep, rest = record_id.partition("_")
    return rest if sep and len(rest) == 21 else record_id
