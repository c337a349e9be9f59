"""Schemathesis over ``/openapi.json`` against a live server: no 500s, answers as documented.

Every operation of the document gets a bounded number of generated requests (valid and
invalid ones) with a fixed seed; ``make fuzz`` runs the same with more examples
(``AGENTDOWN_FUZZ_EXAMPLES``). The app has a tool-using agent, trigger agents, MCP,
graphs and the Agents API, its model the loopback fake model server.
"""

from __future__ import annotations

import asyncio
import logging
import os
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, settings
from hypothesis import seed as fixed_seed
from openapikit import asgi_get, offline_app, threaded_server, write_full_app
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    ignored_auth,
    negative_data_rejection,
    positive_data_acceptance,
    response_schema_conformance,
    status_code_conformance,
)

from agentdown.server import ServerSettings
from agentdown.server.settings import Keys

KEY = "fuzz-function-key-0123456789"
EXAMPLES = int(os.environ.get("AGENTDOWN_FUZZ_EXAMPLES", "5"))
COVERAGE = os.environ.get("AGENTDOWN_FUZZ_COVERAGE", "") == "1"
ALL_CHECKS = os.environ.get("AGENTDOWN_FUZZ_ALL_CHECKS", "1" if COVERAGE else "") == "1"
SEED = int(os.environ.get("AGENTDOWN_FUZZ_SEED", "20261202"))
HANG = 20.0
"""Seconds a request may take (a chat turn runs the agent and its tool on a loaded machine)."""
PER_GRAPH_INPUT = "POST /workflows/{name}/runs"
"""Its ``input`` is the start executor's type of the graph ``name`` names, which one OpenAPI
operation cannot tie to the path: a schema-valid input of one graph is another's 400."""


def _decisions_without_session(case: Any) -> bool:
    """Answering or discarding a pending turn needs the session header: a 400 without it.

    The document cannot tie a body field to a header, so such a schema-valid request is
    not expected to be accepted (tests/server/test_chat*.py check the 400 itself).
    """
    if not case.operation.label.endswith(("/chat", "/chatstream")) or not isinstance(case.body, dict):
        return False
    session = str((case.headers or {}).get("x-ms-session-id") or "").strip()
    asks = {"approvals", "tool_outputs"} & set(case.body) or case.body.get("discard") is True
    return bool(asks) and not session


def _blob_source(case: Any) -> bool:
    """A vector store fed from a blob needs an Azure Storage account; the fuzzed server has none.

    (A 400 naming the field; tests/server/agents_api/test_vector_stores_azurite.py feeds blobs.)
    """
    body = case.body if isinstance(case.body, dict) else {}
    configuration = body.get("configuration")
    sources = configuration.get("data_sources") if isinstance(configuration, dict) else None
    return bool(sources or body.get("data_sources") or body.get("data_source"))


def _float_chunk_sizes(case: Any) -> bool:
    """Chunk sizes written as 800.0 are refused on purpose (tests/knowledge/test_chunking.py),
    though JSON Schema calls 800.0 an integer."""
    body = case.body if isinstance(case.body, dict) else {}
    strategy = body.get("chunking_strategy")
    static = strategy.get("static") if isinstance(strategy, dict) else None
    return isinstance(static, dict) and any(isinstance(v, float) for v in static.values())


def _tool_definitions(case: Any) -> bool:
    """Beyond its ``type``, what a tool definition or a tool's resources need depends on the type
    (a function's name, an OpenAPI spec that parses, the store ids ``file_search`` takes): the
    document gives their shape; tests/server/agents_api/test_resources.py checks each refusal."""
    body = case.body if isinstance(case.body, dict) else {}
    thread = body.get("thread") if isinstance(body.get("thread"), dict) else {}
    resources = [body.get("tool_resources"), thread.get("tool_resources")]
    given = [v for r in resources if isinstance(r, dict) for v in r.values() if v not in (None, {}, [])]
    return bool(body.get("tools")) or bool(given)


def _multipart(case: Any) -> bool:
    """A multipart form carries text: a ``null`` or a number the generator meant as a schema
    violation reaches the server as its text (``"null"``), a valid value; the upload's own
    refusals are tested in tests/server/agents_api/test_files.py."""
    return str(case.media_type or "").startswith("multipart/")


CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


class _Unexpected(logging.Handler):
    """Collects the server's "unexpected error" records: a 500 the status alone might hide."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture(scope="module")
def unexpected() -> Iterator[_Unexpected]:
    handler = _Unexpected()
    logger = logging.getLogger("agentdown")
    logger.addHandler(handler)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)


# The document comes from the app built offline (collection needs the operations); the
# server fixture serves the same app folder and checks it publishes the same document.
_APP_ROOT = tempfile.TemporaryDirectory(prefix="agentdown-fuzz-")
_APP = write_full_app(Path(_APP_ROOT.name))
_SETTINGS = ServerSettings(port=0, keys=Keys(function=(KEY,)))
_DOCUMENT = asyncio.run(asgi_get(offline_app(_APP, _SETTINGS), "/openapi.json", {"x-functions-key": KEY}))[1]
schema = schemathesis.openapi.from_dict(_DOCUMENT)
# The coverage phase (boundary and negative values of every field) multiplies the requests:
# `make fuzz` turns it on.
schema.config.phases.coverage.enabled = COVERAGE


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, unexpected: _Unexpected) -> Iterator[str]:
    environ = {"AGENTDOWN_DATA_DIR": str(tmp_path_factory.mktemp("fuzz") / "data")}
    with threaded_server(_APP, _SETTINGS, environ) as url:
        served = requests.get(f"{url}/openapi.json", headers={"x-functions-key": KEY}, timeout=30)
        assert served.status_code == 200 and served.json() == _DOCUMENT
        yield url


@pytest.mark.timeout(600)
@schema.parametrize()
@fixed_seed(SEED)
@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), database=None)
def test_every_operation(case: Any, server: str, unexpected: _Unexpected) -> None:
    started = time.monotonic()
    checks = None if ALL_CHECKS else CHECKS  # None: every check schemathesis has
    excluded = [ignored_auth]
    if case.operation.label == PER_GRAPH_INPUT or any(
        f(case) for f in (_decisions_without_session, _blob_source, _float_chunk_sizes, _tool_definitions)
    ):
        excluded.append(positive_data_acceptance)
    if _multipart(case):
        excluded.append(negative_data_rejection)
    # ignored_auth is left out: it spoils one scheme's credential while the valid key of
    # another is still sent, which the server rightly accepts (any one scheme suffices).
    case.call_and_validate(
        base_url=server,
        headers={"x-functions-key": KEY},
        checks=checks,
        excluded_checks=excluded,
        timeout=HANG,
    )
    # A hang is a finding too (GET /mcp was held open): schemathesis lets some timeouts pass.
    assert time.monotonic() - started < HANG - 1, case.as_curl_command()
    assert [r.getMessage() for r in unexpected.records] == []
