"""Serve the quickstart app: what `make run` does (same as `agentdown serve examples/quickstart`).

Prints the chat page's URL; the app also answers on its chat API, MCP endpoint and
OpenAI-compatible API. The model comes from the environment (see the README's
"Models" section). When no provider is configured at all, an offline demo model
stands in and the server says so: the project's loopback fake model server,
answering from a few keyword rules, enough to show the tool loop, streaming and the
chat page end to end over real HTTP. That choice lives in :func:`fallback_model`.

Usage: python examples/quickstart/main.py [--host 127.0.0.1] [--port 7071]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import sys
from collections.abc import AsyncIterator, Mapping
from pathlib import Path

from agentdown import ConfigurationError, Message
from agentdown.models.base import ChatModel
from agentdown.models.openai_compat import OpenAIChatModel
from agentdown.server.serving import serve_app
from agentdown.server.settings import DEFAULT_HOST, DEFAULT_PORT, ServerSettings
from agentdown.testing import CallInfo, FakeModelServer, Reply, tool_call

HERE = Path(__file__).parent
PROVIDER_VARIABLES = (
    "AGENTDOWN_PROVIDER",
    "AZURE_FUNCTIONS_AGENTS_PROVIDER",
    "OPENAI_API_KEY",
    "OPENAI_BASE_URL",
    "AZURE_OPENAI_ENDPOINT",
    "FOUNDRY_PROJECT_ENDPOINT",
)
"""Any of these set means the user chose a provider: then it is used (or fails loudly), never the demo."""


def demo_handler(messages: list[Message], info: CallInfo) -> Reply:
    """Keyword rules standing in for a model when none is configured."""
    last = messages[-1]
    if last.role == "tool":
        return "Here is what I found: " + "; ".join(r.text or "" for r in last.tool_results)
    text = last.text.lower()
    calls = []
    if "weather" in text:
        city = next((w.strip("?,.!") for w in last.text.split()[1:] if w[:1].isupper()), "Paris")
        calls.append(tool_call("get_weather", {"city": city}))
    if "time" in text:
        zone = "Asia/Tokyo" if "tokyo" in text else "UTC"
        calls.append(tool_call("current_time", {"timezone": zone}))
    return calls or "I can tell you the **weather** or the **time**. Ask me about either!"


@contextlib.asynccontextmanager
async def fallback_model(environ: Mapping[str, str]) -> AsyncIterator[ChatModel | None]:
    """The model to serve with: ``None`` (the environment's provider), or the offline demo.

    The one place deciding what answers when no provider is configured: a pulled
    local model (``make run`` pulls one), else the clearly announced offline demo.
    """
    if any(environ.get(name, "").strip() for name in PROVIDER_VARIABLES):
        yield None
        return
    from agentdown.models.local import default_local_model

    if default_local_model(environ) is not None:
        yield None  # model_from_env picks the local model and logs that it does
        return
    print("No model provider configured (see the README's 'Models' section).")
    print("OFFLINE DEMO: answers come from agentdown's fake model server and a few keyword rules,")
    print('not from a language model. Try: "What\'s the weather in Paris, and the time in Tokyo?"\n')
    async with FakeModelServer(demo_handler, chunk_delay=0.02) as server:
        model = OpenAIChatModel("offline-demo", base_url=server.base_url, api_key="demo")
        try:
            yield model
        finally:
            await model.aclose()


async def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default=os.environ.get("AGENTDOWN_HOST", DEFAULT_HOST))
    parser.add_argument("--port", type=int, default=int(os.environ.get("AGENTDOWN_PORT", DEFAULT_PORT)))
    args = parser.parse_args(argv)
    try:
        settings = ServerSettings.from_env(host=args.host, port=args.port)
        async with fallback_model(os.environ) as model:
            await serve_app(HERE, settings, model=model, access_log=False)
    except ConfigurationError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"error: cannot listen on {args.host}:{args.port}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        sys.exit(asyncio.run(main(sys.argv[1:])))
