"""An agent as a workflow node, its model a real HTTP peer: the loopback fake model server.

The researcher's answer goes downstream to the writer, whose answer is the workflow's
output; the server saw both requests, the writer's with the researcher's answer in its
conversation.
"""

from __future__ import annotations

from agentdown import Agent
from agentdown.messages import Message
from agentdown.models.openai_compat import OpenAIChatModel
from agentdown.testing import CallInfo, FakeModelServer
from agentdown.workflows import WorkflowBuilder


def reply(messages: list[Message], info: CallInfo) -> str:
    system = messages[0].text if messages and messages[0].role == "system" else ""
    if "researcher" in system:
        return "Finding: the Zorblat river floods in May."
    return "Report: " + messages[-1].text


async def test_agents_in_a_chain_talk_to_the_model_over_http() -> None:
    async with FakeModelServer(reply) as fake:
        model = OpenAIChatModel(model="fake", base_url=fake.base_url, api_key="test")
        researcher = Agent(model, name="researcher", instructions="You are the researcher.")
        writer = Agent(model, name="writer", instructions="You are the writer.")
        workflow = WorkflowBuilder(start_executor=researcher).add_edge(researcher, writer).build()
        result = await workflow.run("When does the river flood?")
        await model.aclose()
    (output,) = result.get_outputs()
    text = getattr(output, "text", None) or str(output)
    assert "Report:" in text and "floods in May" in text
    assert len(fake.requests) == 2
    second = [m["content"] for m in fake.requests[1].body["messages"]]
    assert any("floods in May" in str(c) for c in second)
