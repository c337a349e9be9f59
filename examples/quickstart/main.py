"""Run the quickstart agent once, streaming its answer (what `make run` does for now).

The model comes from the environment (see the README's "Models" section). With no
provider configured, the project's loopback fake model server stands in, and this
script says so: it answers from a few keyword rules, enough to show the tool loop,
the streaming events and the run steps end to end over real HTTP.

Usage: python examples/quickstart/main.py ["your prompt"]
"""

from __future__ import annotations

import asyncio
import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

from agentdown import Agent, ConfigurationError, Message, Tool
from agentdown.loop.events import RunCompletedEvent, TextDeltaEvent, ToolCallEndEvent, ToolCallStartEvent
from agentdown.models.base import ChatModel
from agentdown.models.openai_compat import OpenAIChatModel
from agentdown.models.provider import model_from_env
from agentdown.testing import CallInfo, FakeModelServer, Reply, tool_call

HERE = Path(__file__).parent
DEFAULT_PROMPT = "What's the weather in Paris, and what time is it in Tokyo?"


def load_agent_file(path: Path) -> tuple[dict[str, str], str]:
    """The front matter's top-level scalars and the body (the app loader replaces this soon)."""
    text = path.read_text(encoding="utf-8")
    _, front, body = text.split("---", 2)
    meta = {}
    for line in front.strip().splitlines():
        key, _, value = line.partition(":")
        meta[key.strip()] = value.strip()
    return meta, body.strip()


def load_tools() -> list[Tool]:
    tools: list[Tool] = []
    for file in sorted((HERE / "tools").glob("*.py")):
        spec = importlib.util.spec_from_file_location(f"quickstart_tools.{file.stem}", file)
        assert spec is not None and spec.loader is not None
        module: ModuleType = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        tools.extend(v for v in vars(module).values() if isinstance(v, Tool) and not isinstance(v, type))
    return tools


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
    return calls or "I can tell you the weather or the time. Ask me about either!"


async def run(prompt: str, model: ChatModel) -> None:
    meta, instructions = load_agent_file(HERE / "quickstart.agent.md")
    agent = Agent(model, instructions=instructions, tools=load_tools(), name=meta.get("name"))
    print(f"agent: {agent.name} · tools: {', '.join(t.name for t in agent.tools)}\n> {prompt}\n")
    async for event in agent.run_stream(prompt):
        if isinstance(event, ToolCallStartEvent):
            print(f"  [tool] {event.name}({event.arguments})")
        elif isinstance(event, ToolCallEndEvent):
            print(f"  [tool] {event.name} -> {event.output} ({event.duration * 1000:.1f} ms)")
        elif isinstance(event, TextDeltaEvent):
            print(event.text, end="", flush=True)
        elif isinstance(event, RunCompletedEvent):
            result = event.result
            print(f"\n\n{len(result.steps)} steps, {result.usage.total_tokens} tokens")


async def main() -> None:
    prompt = " ".join(sys.argv[1:]) or DEFAULT_PROMPT
    try:
        model: Any = model_from_env()
    except ConfigurationError as exc:
        print(f"No model provider configured ({exc}).")
        print("Using agentdown's offline demo model (the loopback fake model server).\n")
        async with FakeModelServer(demo_handler) as server:
            demo = OpenAIChatModel("demo", base_url=server.base_url, api_key="demo")
            try:
                await run(prompt, demo)
            finally:
                await demo.aclose()
        return
    await run(prompt, model)


if __name__ == "__main__":
    asyncio.run(main())
