"""A run that fails after its tools ran keeps them in the session; one that ran none leaves it as it was."""

from __future__ import annotations

import pytest

from agentdown import Agent, Session, tool
from agentdown.testing import ScriptedModel, tool_call

charged: list[int] = []


@tool
def charge(amount: int) -> str:
    """Charge the customer."""
    charged.append(amount)
    return f"charged {amount}"


async def test_a_failure_after_a_tool_ran_keeps_the_turn_so_far() -> None:
    charged.clear()
    session = Session(id="s")
    model = ScriptedModel([tool_call("charge", {"amount": 5}, call_id="c1"), RuntimeError("provider down")])
    with pytest.raises(RuntimeError, match="provider down"):
        await Agent(model, tools=[charge]).run("charge me 5", session=session)
    assert charged == [5]
    assert [m.role for m in session.messages] == ["user", "assistant", "tool"]
    assert session.messages[-1].contents[0].text == "charged 5"
    # The next prompt continues from there: the model knows the charge happened.
    retry = ScriptedModel(["You were charged 5."])
    await Agent(retry, tools=[charge]).run("did it work?", session=session)
    assert charged == [5]
    assert [m.role for m in retry.requests[0].messages] == ["user", "assistant", "tool", "user"]


async def test_a_failure_before_any_tool_ran_leaves_the_session_as_it_was() -> None:
    session = Session(id="s")
    with pytest.raises(RuntimeError):
        await Agent(ScriptedModel([RuntimeError("provider down")])).run("hi", session=session)
    assert session.messages == []
