"""Exporting, when the environment asks for it: ``OTEL_*`` (OTLP/HTTP) or Azure Monitor.

Called by ``agentdown serve`` and ``agentdown worker`` at startup. Order:

1. ``OTEL_SDK_DISABLED=true``: nothing.
2. A global ``TracerProvider`` the process already set (the user's own set-up): used as is.
3. ``APPLICATIONINSIGHTS_CONNECTION_STRING``: ``configure_azure_monitor`` (extra
   ``agentdown[monitor]``), which sets the global providers.
4. ``OTEL_EXPORTER_OTLP_ENDPOINT`` / ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`` or
   ``OTEL_TRACES_EXPORTER`` / ``OTEL_METRICS_EXPORTER`` naming ``otlp`` or ``console``: an SDK
   provider with a batch span processor and a periodic metric reader (extra
   ``agentdown[otel]``). The exporters read the usual variables themselves (endpoint, headers,
   timeout); the resource reads ``OTEL_SERVICE_NAME`` and ``OTEL_RESOURCE_ATTRIBUTES``.

A configured exporter whose package is missing is a :class:`ConfigurationError` naming the
extra to install, so a deployment never runs silently without the telemetry it asked for.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from opentelemetry import metrics, trace

from agentdown.exceptions import ConfigurationError
from agentdown.telemetry._state import install

__all__ = ["configure_from_env", "start_telemetry"]

_EXPORTERS = {"otlp", "console", "none"}


def _truthy(value: str | None) -> bool:
    return (value or "").strip().lower() in {"1", "true", "yes", "on"}


def _exporter_names(environ: Mapping[str, str], var: str, default: str) -> list[str]:
    names = [n.strip().lower() for n in environ.get(var, default).split(",") if n.strip()]
    for name in names:
        if name not in _EXPORTERS:
            raise ConfigurationError(f"{var}={name!r}: agentdown supports otlp, console or none")
    return [n for n in names if n != "none"]


def configure_from_env(environ: Mapping[str, str]) -> str | None:
    """Set up export as ``environ`` says; a line describing it, or ``None`` when off."""
    if _truthy(environ.get("OTEL_SDK_DISABLED")):
        return None
    existing = getattr(trace, "_TRACER_PROVIDER", None)
    if existing is not None and not isinstance(existing, trace.ProxyTracerProvider):
        install()
        return f"telemetry: using the process's {type(existing).__name__}"
    connection = environ.get("APPLICATIONINSIGHTS_CONNECTION_STRING", "").strip()
    if connection:
        return _azure_monitor(connection)
    endpoint = environ.get("OTEL_EXPORTER_OTLP_ENDPOINT") or environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
    default = "otlp" if endpoint else "none"
    traces = _exporter_names(environ, "OTEL_TRACES_EXPORTER", default)
    metric_names = _exporter_names(
        environ, "OTEL_METRICS_EXPORTER", "otlp" if endpoint or "otlp" in traces else "none"
    )
    if not traces and not metric_names:
        return None
    protocol = environ.get("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf").strip()
    if protocol != "http/protobuf" and "otlp" in traces + metric_names:
        raise ConfigurationError(
            f"OTEL_EXPORTER_OTLP_PROTOCOL={protocol!r}: agentdown exports OTLP over http/protobuf only"
        )
    _sdk(traces, metric_names)
    return (
        f"telemetry: traces to {', '.join(traces) or 'none'}, metrics to {', '.join(metric_names) or 'none'}"
    )


def _missing(extra: str, exc: ImportError) -> ConfigurationError:
    return ConfigurationError(
        f"telemetry export is configured but {exc.name or 'its package'} is not installed: "
        f"pip install 'agentdown[{extra}]'"
    )


def _sdk(traces: list[str], metric_names: list[str]) -> None:
    try:
        from opentelemetry.sdk.metrics import MeterProvider
        from opentelemetry.sdk.metrics.export import ConsoleMetricExporter, PeriodicExportingMetricReader
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter

        otlp: Any = None
        if "otlp" in traces + metric_names:
            from opentelemetry.exporter.otlp.proto.http import metric_exporter, trace_exporter

            otlp = (trace_exporter.OTLPSpanExporter, metric_exporter.OTLPMetricExporter)
    except ImportError as exc:
        raise _missing("otel", exc) from None
    resource = Resource.create()  # OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES
    tracer_provider = TracerProvider(resource=resource)
    for name in traces:
        exporter = otlp[0]() if name == "otlp" else ConsoleSpanExporter()
        tracer_provider.add_span_processor(BatchSpanProcessor(exporter))
    readers = [
        PeriodicExportingMetricReader(otlp[1]() if name == "otlp" else ConsoleMetricExporter())
        for name in metric_names
    ]
    meter_provider = MeterProvider(resource=resource, metric_readers=readers)
    trace.set_tracer_provider(tracer_provider)
    metrics.set_meter_provider(meter_provider)
    install(tracer_provider, meter_provider)


def _azure_monitor(connection: str) -> str:
    try:
        from azure.monitor.opentelemetry import configure_azure_monitor
    except ImportError as exc:
        raise _missing("monitor", exc) from None
    configure_azure_monitor(connection_string=connection)
    install()
    return "telemetry: exporting to Azure Monitor (Application Insights)"


def start_telemetry(environ: Mapping[str, str] | None = None) -> str | None:
    """:func:`configure_from_env` on ``os.environ`` (default), logging what it set up."""
    import logging
    import os

    described = configure_from_env(os.environ if environ is None else environ)
    if described:
        logging.getLogger("agentdown.telemetry").info("%s", described)
    return described
