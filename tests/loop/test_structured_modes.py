"""How a response format is asked for (auto/native/prompt), and retry prompts that stay out of history."""

from __future__ import annotations

from typing import Any

import pytest

from agentdown import Agent, Session
from agentdown.exceptions import ConfigurationError
from agentdown.loop.structured import strict_compatible
from agentdown.testing import ScriptedModel

STRICT = {
    "type": "object",
    "properties": {"city": {"type": "string"}, "temp": {"type": "number"}},
    "required": ["city", "temp"],
    "additionalProperties": False,
}
OPEN = {"type": "object", "properties": {"city": {"type": "string"}}}


async def _first_request(mode: Any, schema: dict[str, Any]) -> tuple[Any, str]:
    model = ScriptedModel(['{"city": "Paris", "temp": 18}'])
    await Agent(model, instructions="Be brief.", response_format=schema, structured_output_mode=mode).run(
        "go"
    )
    request = model.requests[0]
    assert request.options is not None
    system = request.messages[0].text if request.messages[0].role == "system" else ""
    return request.options.response_format, system


async def test_auto_is_the_default_and_sends_native_format_and_instructions() -> None:
    model = ScriptedModel(['{"city": "Paris", "temp": 18}'])
    result = await Agent(model, response_format=STRICT).run("go")
    assert result.value == {"city": "Paris", "temp": 18}
    options = model.requests[0].options
    assert options is not None
    assert options.response_format == {
        "type": "json_schema",
        "json_schema": {"name": "response", "schema": STRICT, "strict": True},
    }
    assert "JSON Schema" in model.requests[0].messages[0].text


async def test_strict_only_where_the_schema_allows_it() -> None:
    fmt, _ = await _first_request("auto", OPEN)
    assert fmt["json_schema"]["schema"] == OPEN
    assert "strict" not in fmt["json_schema"]
    assert strict_compatible(STRICT)
    nested = {**STRICT, "properties": {**STRICT["properties"], "tags": {"type": "array", "items": OPEN}}}
    nested["required"] = [*STRICT["required"], "tags"]
    assert not strict_compatible(nested)


async def test_prompt_mode_sends_no_response_format() -> None:
    fmt, system = await _first_request("prompt", STRICT)
    assert fmt is None
    assert "JSON Schema" in system


async def test_native_mode_sends_no_instructions() -> None:
    fmt, system = await _first_request("native", STRICT)
    assert fmt["type"] == "json_schema"
    assert system == "Be brief."


def test_unknown_mode_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match="structured_output_mode"):
        Agent(ScriptedModel([]), response_format=STRICT, structured_output_mode="json")  # type: ignore[arg-type]


async def test_the_retry_prompt_is_marked_synthetic_and_never_replayed() -> None:
    model = ScriptedModel(["not json", '{"city": "Paris", "temp": 18}', "plain answer"])
    agent = Agent(model, response_format=STRICT)
    session = Session(id="s")
    result = await agent.run("weather?", session=session)
    assert result.value == {"city": "Paris", "temp": 18}
    # The model saw the retry prompt in this run ...
    assert [m.role for m in model.requests[1].messages[1:]] == ["user", "assistant", "user"]
    retry = session.messages[2]
    assert retry.role == "user" and retry.metadata["agentdown.synthetic"] == "output_retry"
    assert session.messages[1].metadata["agentdown.superseded"] is True
    # ... and the next turn does not replay it, nor the rejected answer, as conversation.
    agent2 = Agent(model)
    await agent2.run("and tomorrow?", session=session)
    replayed = [(m.role, m.text) for m in model.requests[2].messages]
    assert replayed == [
        ("user", "weather?"),
        ("assistant", '{"city": "Paris", "temp": 18}'),
        ("user", "and tomorrow?"),
    ]
