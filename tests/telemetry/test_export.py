"""Export as configured by the environment: OTLP/HTTP protobuf to a loopback collector, Azure
Monitor to a loopback ingestion endpoint, and a clear error for what cannot work."""

from __future__ import annotations

import asyncio
import gzip
import json
import os
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from agentdown.exceptions import ConfigurationError
from agentdown.telemetry.setup import configure_from_env

CHILD = Path(__file__).with_name("_export_child.py")
SRC = Path(__file__).resolve().parents[2] / "src"


@dataclass
class Collector:
    url: str
    posts: list[tuple[str, dict[str, str], bytes]] = field(default_factory=list)


@pytest.fixture
async def collector() -> AsyncIterator[Collector]:
    found = Collector("")

    async def record(request: web.Request) -> web.Response:
        found.posts.append((request.path, dict(request.headers), await request.read()))
        if request.path.startswith("/v2"):  # Application Insights' track API
            return web.json_response({"itemsReceived": 1, "itemsAccepted": 1, "errors": []})
        return web.Response(body=b"", content_type="application/x-protobuf")

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", record)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    found.url = f"http://127.0.0.1:{port}"
    yield found
    await runner.cleanup()


def _clean_env(**extra: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("OTEL_", "APPLICATIONINSIGHTS_")) and "proxy" not in k.lower()
    }
    env["PYTHONPATH"] = str(SRC)
    env.update(extra)
    return env


async def _child(env: dict[str, str]) -> str:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, str(CHILD), env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await asyncio.wait_for(proc.communicate(), 120)
    assert proc.returncode == 0, err.decode()
    return out.decode()


async def test_otlp_http_export_to_a_loopback_collector(collector: Collector) -> None:
    out = await _child(
        _clean_env(
            OTEL_EXPORTER_OTLP_ENDPOINT=collector.url,
            OTEL_SERVICE_NAME="agentdown-export-test",
            OTEL_EXPORTER_OTLP_HEADERS="x-collector-key=abc",
        )
    )
    assert "traces to otlp, metrics to otlp" in out
    traces = [body for path, _, body in collector.posts if path == "/v1/traces"]
    assert traces, [p for p, _, _ in collector.posts]
    headers = next(h for path, h, _ in collector.posts if path == "/v1/traces")
    assert headers["Content-Type"] == "application/x-protobuf" and headers["x-collector-key"] == "abc"
    spans: dict[str, Any] = {}
    service_names = set()
    for body in traces:
        request = ExportTraceServiceRequest()
        request.ParseFromString(gzip.decompress(body) if body[:2] == b"\x1f\x8b" else body)
        for rs in request.resource_spans:
            service_names |= {a.value.string_value for a in rs.resource.attributes if a.key == "service.name"}
            for ss in rs.scope_spans:
                assert ss.scope.name == "agentdown"
                spans.update({s.name: s for s in ss.spans})
    assert service_names == {"agentdown-export-test"}
    chats = [name for name in spans if name.startswith("chat ")]
    assert {"invoke_agent exporter", "execute_tool lookup"} <= set(spans) and chats, sorted(spans)
    agent = spans["invoke_agent exporter"]
    assert spans["execute_tool lookup"].parent_span_id == agent.span_id
    assert spans[chats[0]].parent_span_id == agent.span_id
    attrs = {a.key: a.value for a in agent.attributes}
    assert attrs["gen_ai.operation.name"].string_value == "invoke_agent"
    metric_bodies = [body for path, _, body in collector.posts if path == "/v1/metrics"]
    names = set()
    for body in metric_bodies:
        request = ExportMetricsServiceRequest()
        request.ParseFromString(gzip.decompress(body) if body[:2] == b"\x1f\x8b" else body)
        names |= {m.name for rm in request.resource_metrics for sm in rm.scope_metrics for m in sm.metrics}
    assert {"gen_ai.client.operation.duration", "gen_ai.client.token.usage", "agentdown.runs"} <= names


async def test_azure_monitor_export_to_a_loopback_ingestion_endpoint(collector: Collector) -> None:
    connection = (
        "InstrumentationKey=00000000-0000-0000-0000-000000000000;"
        f"IngestionEndpoint={collector.url}/;LiveEndpoint={collector.url}/"
    )
    out = await _child(
        _clean_env(
            APPLICATIONINSIGHTS_CONNECTION_STRING=connection,
            # Offline: no statsbeat to Microsoft's endpoints, no Azure VM metadata probe.
            APPLICATIONINSIGHTS_STATSBEAT_DISABLED_ALL="true",
            OTEL_EXPERIMENTAL_RESOURCE_DETECTORS="otel",
            # The distro's default sampler is rate-limited (a few traces/s), which may drop
            # a span of this short run; every span is wanted here.
            OTEL_TRACES_SAMPLER="microsoft.fixed_percentage",
            OTEL_TRACES_SAMPLER_ARG="1.0",
        )
    )
    assert "Azure Monitor" in out
    tracks = [body for path, _, body in collector.posts if path.endswith("/v2.1/track")]
    assert tracks, [p for p, _, _ in collector.posts]
    envelopes = []
    for body in tracks:
        text = (gzip.decompress(body) if body[:2] == b"\x1f\x8b" else body).decode()
        envelopes += (
            json.loads(text) if text.startswith("[") else [json.loads(line) for line in text.splitlines()]
        )
    names = {e.get("data", {}).get("baseData", {}).get("name") for e in envelopes}
    assert "invoke_agent exporter" in names and "execute_tool lookup" in names, names


def test_nothing_configured_is_off() -> None:
    assert configure_from_env({}) is None
    assert configure_from_env({"OTEL_TRACES_EXPORTER": "none"}) is None
    assert (
        configure_from_env({"OTEL_SDK_DISABLED": "true", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://x"}) is None
    )


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"OTEL_TRACES_EXPORTER": "zipkin"}, "OTEL_TRACES_EXPORTER='zipkin': agentdown supports otlp"),
        (
            {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:1", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"},
            "exports OTLP over http/protobuf only",
        ),
    ],
)
def test_what_cannot_work_is_a_clear_error(environ: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        configure_from_env(environ)


def test_a_missing_extra_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    # The import system's own way of saying a package is absent.
    monkeypatch.setitem(sys.modules, "opentelemetry.exporter.otlp.proto.http", None)
    with pytest.raises(ConfigurationError, match=r"pip install 'agentdown\[otel\]'"):
        configure_from_env({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:1"})
    monkeypatch.setitem(sys.modules, "azure.monitor.opentelemetry", None)
    with pytest.raises(ConfigurationError, match=r"pip install 'agentdown\[monitor\]'"):
        configure_from_env({"APPLICATIONINSIGHTS_CONNECTION_STRING": "InstrumentationKey=x"})
