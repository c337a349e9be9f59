"""The ``azure_ai_search`` tool of runs: the model's query sent to an Azure AI Search index.

Definition ``{"type": "azure_ai_search"}`` with ``tool_resources.azure_ai_search.indexes:
[{index_connection_id, index_name, query_type, filter, top_k}]`` (one index, as the service).
The connection is found in the environment by the last segment of ``index_connection_id``
(an ARM id ``.../connections/<name>`` or just ``<name>``), normalised to upper case with
``[^A-Z0-9]`` as ``_``:

* ``AGENTDOWN_CONNECTION_<NAME>_ENDPOINT`` — ``https://<service>.search.windows.net``;
* ``AGENTDOWN_CONNECTION_<NAME>_KEY`` — an api-key; without one, an Entra token for
  ``https://search.azure.com/.default`` from ``azure-identity``'s ``DefaultAzureCredential``.

Each search is ``POST {endpoint}/indexes/{index}/docs/search?api-version=2024-07-01``.
The answer is the search service's text: it is bounded (size, documents, characters per
field) and only its string and number fields reach the model.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote, urlsplit

import aiohttp

from agentdown.exceptions import ToolError
from agentdown.runtime.agents_api.errors import bad_request
from agentdown.tools.context import FunctionInvocationContext

__all__ = ["API_VERSION", "QUERY_TYPES", "AzureAISearchTool", "check_search_resources", "connection_settings"]

API_VERSION = "2024-07-01"
QUERY_TYPES = ("simple", "semantic", "vector", "vector_simple_hybrid", "vector_semantic_hybrid")
MAX_RESPONSE_BYTES = 4 * 1024 * 1024
MAX_FIELD_CHARS = 2000
MAX_TOP_K = 50
_INDEX_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,127}$")
_SCOPE = "https://search.azure.com/.default"
_UNMARK = re.compile(r"[【】†]")


def connection_settings(connection_id: str, environ: Mapping[str, str]) -> tuple[str, str | None]:
    """``(endpoint, key or None)`` of the connection ``connection_id`` names; a 400 naming the variable."""
    name = re.sub(r"[^A-Z0-9]", "_", connection_id.rstrip("/").rsplit("/", 1)[-1].upper())
    var = f"AGENTDOWN_CONNECTION_{name}_ENDPOINT"
    endpoint = (environ.get(var) or "").strip().rstrip("/")
    parts = urlsplit(endpoint)
    if not endpoint or parts.scheme not in ("https", "http") or not parts.netloc:
        raise bad_request(
            f"tool_resources.azure_ai_search.indexes[0].index_connection_id: connection {name!r} is not "
            f"configured: set {var} to the search service's URL (and AGENTDOWN_CONNECTION_{name}_KEY, "
            "or sign in for Entra)",
            "tool_resources.azure_ai_search.indexes[0].index_connection_id",
        )
    key = (environ.get(f"AGENTDOWN_CONNECTION_{name}_KEY") or "").strip() or None
    return endpoint, key


def check_search_resources(resources: Any, environ: Mapping[str, str]) -> dict[str, Any]:
    """The one index of ``tool_resources.azure_ai_search``, checked; a 400 naming the field."""
    field = "tool_resources.azure_ai_search.indexes"
    search = resources.get("azure_ai_search") if isinstance(resources, Mapping) else None
    indexes = search.get("indexes") if isinstance(search, Mapping) else None
    if not isinstance(indexes, list) or len(indexes) != 1 or not isinstance(indexes[0], Mapping):
        raise bad_request(f"{field}: an azure_ai_search tool needs exactly one index", field)
    index = dict(indexes[0])
    at = f"{field}[0]"
    if not isinstance(index.get("index_connection_id"), str) or not index["index_connection_id"]:
        raise bad_request(f"{at}.index_connection_id is required", f"{at}.index_connection_id")
    name = index.get("index_name")
    if not isinstance(name, str) or not _INDEX_NAME.match(name):
        raise bad_request(
            f"{at}.index_name must be an index name (a-z 0-9 -), got {name!r}", f"{at}.index_name"
        )
    kind = index.get("query_type") or "simple"
    if kind not in QUERY_TYPES:
        raise bad_request(
            f"{at}.query_type must be one of {list(QUERY_TYPES)}, got {kind!r}", f"{at}.query_type"
        )
    top = index.get("top_k") or 5
    if isinstance(top, bool) or not isinstance(top, int) or not 1 <= top <= MAX_TOP_K:
        raise bad_request(f"{at}.top_k must be an integer from 1 to {MAX_TOP_K}, got {top!r}", f"{at}.top_k")
    if index.get("filter") is not None and not isinstance(index["filter"], str):
        raise bad_request(f"{at}.filter must be an OData filter string", f"{at}.filter")
    if index.get("index_asset_id"):
        raise bad_request(
            f"{at}.index_asset_id: Azure ML index assets are not supported", f"{at}.index_asset_id"
        )
    endpoint, key = connection_settings(index["index_connection_id"], environ)
    return {**index, "query_type": kind, "top_k": top, "endpoint": endpoint, "key": key}


class AzureAISearchTool:
    """``azure_ai_search(query)``: the best documents of the index, each under a ``【N†doc】`` marker."""

    name = "azure_ai_search"
    kind = "azure_ai_search"
    description = (
        "Search the Azure AI Search index attached to this conversation; answer from the documents "
        "found and cite each one by its marker."
    )

    def __init__(self, index: Mapping[str, Any], environ: Mapping[str, str] | None = None) -> None:
        self.index = dict(index)
        self.environ = os.environ if environ is None else environ
        self._vector_fields: list[str] | None = None

    @property
    def parameters(self) -> dict[str, Any]:
        return {
            "type": "object",
            "properties": {"query": {"type": "string", "description": "What to search for."}},
            "required": ["query"],
            "additionalProperties": False,
        }

    async def _headers(self) -> dict[str, str]:
        if self.index.get("key"):
            return {"api-key": str(self.index["key"])}
        try:
            from azure.identity.aio import DefaultAzureCredential
        except ImportError:
            raise ToolError(
                "no api-key is configured for the search connection and azure-identity is not installed"
            ) from None
        async with DefaultAzureCredential() as credential:
            token = await credential.get_token(_SCOPE)
        return {"Authorization": f"Bearer {token.token}"}

    def _url(self, suffix: str) -> str:
        return f"{self.index['endpoint']}/indexes/{quote(str(self.index['index_name']), safe='')}{suffix}?api-version={API_VERSION}"

    async def _json(self, session: aiohttp.ClientSession, method: str, url: str, body: Any = None) -> Any:
        async with session.request(method, url, json=body, headers=await self._headers()) as response:
            raw = await response.content.read(MAX_RESPONSE_BYTES + 1)
            if len(raw) > MAX_RESPONSE_BYTES:
                raise ToolError("the search service's answer is too large")
            if response.status != 200:
                raise ToolError(f"the search service answered HTTP {response.status}")
        try:
            return json.loads(raw)
        except ValueError:
            raise ToolError("the search service's answer is not JSON") from None

    async def _vectors(self, session: aiohttp.ClientSession) -> list[str]:
        """The index's vector fields (``Collection(Edm.Single)`` and kin), read once from its definition."""
        if self._vector_fields is None:
            definition = await self._json(session, "GET", self._url(""))
            fields = definition.get("fields") if isinstance(definition, dict) else None
            self._vector_fields = [
                str(f["name"])
                for f in fields or []
                if isinstance(f, dict)
                and str(f.get("type", "")).startswith("Collection(Edm.")
                and f.get("dimensions")
            ][:10]
        return self._vector_fields

    def request_body(self, query: str, vector_fields: list[str]) -> dict[str, Any]:
        kind = str(self.index["query_type"])
        top = int(self.index["top_k"])
        body: dict[str, Any] = {"search": query if kind != "vector" else "*", "top": top, "count": False}
        if kind in ("semantic", "vector_semantic_hybrid"):
            body["queryType"] = "semantic"
        else:
            body["queryType"] = "simple"
        if kind.startswith("vector"):
            body["vectorQueries"] = [
                {"kind": "text", "text": query, "fields": ",".join(vector_fields), "k": top}
            ]
        if self.index.get("filter"):
            body["filter"] = self.index["filter"]
        return body

    async def invoke(self, arguments: dict[str, Any], context: FunctionInvocationContext) -> str:
        query = arguments.get("query")
        if not isinstance(query, str) or not query.strip():
            raise ToolError("azure_ai_search needs a non-empty 'query'")
        timeout = aiohttp.ClientTimeout(total=30)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            vectors = (
                await self._vectors(session) if str(self.index["query_type"]).startswith("vector") else []
            )
            if str(self.index["query_type"]).startswith("vector") and not vectors:
                raise ToolError(f"index {self.index['index_name']!r} has no vector field for a vector query")
            answer = await self._json(
                session, "POST", self._url("/docs/search"), self.request_body(query.strip()[:4096], vectors)
            )
        return format_documents(answer, int(self.index["top_k"]))


def format_documents(answer: Any, top: int) -> str:
    """What the model reads of a search answer: at most ``top`` documents, their text fields bounded."""
    docs = answer.get("value") if isinstance(answer, dict) else None
    if not isinstance(docs, list) or not docs:
        return "No documents were found in the index for this query."
    parts = ["Documents from the search index; cite one by writing its marker after what you take from it."]
    for number, doc in enumerate([d for d in docs if isinstance(d, dict)][:top]):
        title = next(
            (str(doc[k]) for k in ("title", "name", "id", "url") if isinstance(doc.get(k), str)),
            f"doc{number}",
        )
        title = re.sub(r"[\x00-\x1f【】†]", "", title)[:200]
        score = doc.get("@search.rerankerScore", doc.get("@search.score"))
        lines = [
            f"【{number}†{title}】"
            + (f" (score {float(score):.3f})" if isinstance(score, (int, float)) else "")
        ]
        for key, value in doc.items():
            if key.startswith("@") or isinstance(value, bool) or not isinstance(value, (str, int, float)):
                continue
            # A document's text must not forge markers of other documents.
            lines.append(f"{key[:64]}: {_UNMARK.sub('', str(value)[:MAX_FIELD_CHARS])}")
        parts.append("\n".join(lines))
    return "\n\n".join(parts)
