"""Query text for FTS5, score normalisation and reciprocal rank fusion."""

from __future__ import annotations

import math
import re
from collections.abc import Sequence

__all__ = ["RRF_K", "bm25_score", "fts_query", "query_terms", "rrf"]

RRF_K = 60
"""Reciprocal rank fusion's constant (Cormack et al. 2009; also Azure AI Search's)."""

_WORD = re.compile(r"\w+", re.UNICODE)

# Words that match most chunks: OR-ing them into the query costs FTS5 a walk over
# nearly every posting list and adds nothing to the ranking (their IDF is ~0).
_STOPWORDS = frozenset(
    """a an and are as at be but by can did do does for from had has have how i if in into is it its
    me my no not of on or our so such than that the their them then there these they this to was
    we were what when where which who whom why will with would you your""".split()  # noqa: SIM905
)


def query_terms(text: str, *, limit: int = 32) -> list[str]:
    """The query's distinct words, lower-cased, stopwords left out (unless nothing else is left)."""
    words = [w.lower() for w in _WORD.findall(text)]
    kept = [w for w in words if w not in _STOPWORDS] or words
    return list(dict.fromkeys(kept))[:limit]


def fts_query(text: str | Sequence[str], *, limit: int = 32) -> str | None:
    """An FTS5 MATCH expression: the query's words (or ``terms``), each quoted, OR-ed;
    ``None`` if there are none.

    Quoting makes every word a literal term, so operators or syntax in user text
    (``AND``, ``NEAR``, ``"``, ``*``, ``:``) can never break or widen the query.
    """
    terms = query_terms(text, limit=limit) if isinstance(text, str) else list(text)
    if not terms:
        return None
    return " OR ".join(f'"{w}"' for w in terms)


def bm25_score(raw: float) -> float:
    """FTS5's ``bm25()`` (negative, lower is better) mapped into [0, 1): x / (x + 10).

    Saturating rather than divided by the best hit, so that a weak best match stays
    weak and ``score_threshold`` means the same from one query to the next.
    """
    x = max(-raw, 0.0)
    return x / (x + 10.0)


def rrf(rankings: Sequence[Sequence[int]], *, k: int = RRF_K) -> list[tuple[int, float]]:
    """Fused order of ids ranked by several retrievers, with scores in [0, 1].

    Each id scores ``sum(1 / (k + rank))`` over the rankings holding it (rank from 1),
    divided by the best possible sum (first in every ranking), so 1.0 means "first
    for every retriever".
    """
    scores: dict[int, float] = {}
    for ranking in rankings:
        for rank, item in enumerate(ranking, start=1):
            scores[item] = scores.get(item, 0.0) + 1.0 / (k + rank)
    best = len([r for r in rankings if r]) / (k + 1)
    if not scores or best <= 0 or math.isclose(best, 0.0):
        return []
    return sorted(((item, score / best) for item, score in scores.items()), key=lambda p: (-p[1], p[0]))
