"""The azure-ai-agents SDK against agentdown: the quickstart agent, and an agent with your own function.

Start a server first (``make run``, or ``agentdown serve examples/quickstart``), then:

    python examples/agents-sdk/main.py [--url http://127.0.0.1:7071] [--key KEY]

It runs the quickstart's ``.agent.md`` agent (its tools run in the server), then
creates an agent whose function tool runs here, in this process, through
``requires_action`` as with the Azure AI Agents service, and prints each run's
steps. Needs ``pip install 'agentdown[client]'`` (the SDK).
"""

from __future__ import annotations

import argparse
import json

from azure.ai.agents.models import (
    AgentThreadCreationOptions,
    FunctionTool,
    ListSortOrder,
    ThreadMessageOptions,
    ToolSet,
)

from agentdown.client import agents_client


def packing_list(city: str, days: int) -> str:
    """What to pack for a trip.

    :param city: Where to.
    :param days: How many days.
    :return: The list, as JSON.
    """
    return json.dumps({"city": city, "items": ["passport", "charger", f"{days} shirts"]})


def show(client: object, thread_id: str, run_id: str) -> None:
    for step in client.run_steps.list(thread_id=thread_id, run_id=run_id, order=ListSortOrder.ASCENDING):  # type: ignore[attr-defined]
        if step.type == "tool_calls":
            for call in step.step_details.tool_calls:
                print(f"  step: {call.function.name}({call.function.arguments}) -> {call.function['output']}")
        else:
            print(f"  step: message {step.step_details.message_creation.message_id}")
    for message in client.messages.list(thread_id=thread_id, order=ListSortOrder.ASCENDING):  # type: ignore[attr-defined]
        print(f"  {message.role}: {message.text_messages[0].text.value if message.text_messages else ''}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--url", default="http://127.0.0.1:7071")
    parser.add_argument("--key", default=None, help="a function or master key, when the server has keys")
    parser.add_argument(
        "--model", default=None, help="the model of the created agent (default: the quickstart's)"
    )
    args = parser.parse_args()
    client = agents_client(args.url, args.key)

    # 1. The app's own agent: its tools (get_weather, current_time) run in the server.
    quickstart = next(a for a in client.list_agents() if a.id == "asst_app_quickstart")
    run = client.create_thread_and_process_run(
        agent_id=quickstart.id,
        thread=AgentThreadCreationOptions(
            messages=[ThreadMessageOptions(role="user", content="What's the weather in Paris?")]
        ),
        polling_interval=0.2,
    )
    print(f"{quickstart.name}: run {run.status.value if hasattr(run.status, 'value') else run.status}")
    show(client, run.thread_id, run.id)

    # 2. An agent whose function runs here: the SDK answers requires_action for us.
    functions = FunctionTool(functions={packing_list})
    toolset = ToolSet()
    toolset.add(functions)
    client.enable_auto_function_calls(toolset)
    agent = client.create_agent(
        model=args.model or quickstart.model,
        name="packer",
        instructions="Help people pack. Use packing_list.",
        tools=functions.definitions,
    )
    try:
        thread = client.threads.create()
        client.messages.create(
            thread_id=thread.id, role="user", content="What should I pack for 3 days in Oslo?"
        )
        run = client.runs.create_and_process(thread_id=thread.id, agent_id=agent.id, polling_interval=0.2)
        print(f"packer: run {run.status.value if hasattr(run.status, 'value') else run.status}")
        show(client, thread.id, run.id)
    finally:
        client.delete_agent(agent.id)


if __name__ == "__main__":
    main()
