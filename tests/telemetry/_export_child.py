"""Child process of test_export: set up export from the environment as ``agentdown serve``
does, run one tool-using agent turn, flush and exit. A process of its own, because the
OpenTelemetry API lets a process set its global providers once."""

from __future__ import annotations

import asyncio
import sys

from opentelemetry import metrics, trace

from agentdown import Agent
from agentdown.telemetry.setup import start_telemetry
from agentdown.testing import ScriptedModel, ToolCalls, tool_call


def lookup(city: str) -> str:
    """Weather for a city."""
    return f"sunny in {city}"


async def main() -> None:
    model = ScriptedModel([ToolCalls(tool_call("lookup", {"city": "Oslo"})), "It is sunny."])
    await Agent(model, tools=[lookup], name="exporter").run("weather?")


if __name__ == "__main__":
    print(start_telemetry(), flush=True)
    asyncio.run(main())
    for provider in (trace.get_tracer_provider(), metrics.get_meter_provider()):
        flush = getattr(provider, "force_flush", None)
        if flush is not None:
            flush()
        getattr(provider, "shutdown", lambda: None)()
    sys.exit(0)
