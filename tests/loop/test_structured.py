"""Structured output: formats, tolerance of fences, retries with the validation error."""

from __future__ import annotations

import pytest
from pydantic import BaseModel

from agentdown import Agent, JsonSchema, ResponseExample
from agentdown.exceptions import ConfigurationError, StructuredOutputError
from agentdown.testing import ScriptedModel


class City(BaseModel):
    name: str
    population: int


async def test_pydantic_model_value() -> None:
    model = ScriptedModel(['{"name": "Paris", "population": 2100000}'])
    result = await Agent(model, response_format=City).run("biggest French city?")
    assert result.value == City(name="Paris", population=2100000)
    system = model.requests[0].messages[0].text
    assert "JSON Schema" in system and '"population"' in system


async def test_fenced_json_is_tolerated() -> None:
    model = ScriptedModel(['Here you go:\n```json\n{"name": "Lyon", "population": 500000}\n```'])
    result = await Agent(model, response_format=City).run("?")
    assert result.value == City(name="Lyon", population=500000)


async def test_json_schema_dict_and_example() -> None:
    schema = {"type": "object", "properties": {"ok": {"type": "boolean"}}, "required": ["ok"]}
    result = await Agent(ScriptedModel(['{"ok": true}']), response_format=schema).run("?")
    assert result.value == {"ok": True}
    result = await Agent(ScriptedModel(['{"ok": false}']), response_format=JsonSchema(schema)).run("?")
    assert result.value == {"ok": False}

    example = ResponseExample({"summary": "text", "tags": ["a"], "score": 1.5})
    result = await Agent(
        ScriptedModel(['{"summary": "s", "tags": ["x", "y"], "score": 2}']), response_format=example
    ).run("?")
    assert result.value == {"summary": "s", "tags": ["x", "y"], "score": 2}


async def test_invalid_answer_is_retried_with_the_error() -> None:
    model = ScriptedModel(['{"name": "Paris"}', '{"name": "Paris", "population": 2}'])
    result = await Agent(model, response_format=City).run("?")
    assert result.value == City(name="Paris", population=2)
    retry_prompt = model.requests[1].messages[-1]
    assert retry_prompt.role == "user"
    assert "population" in retry_prompt.text and "Field required" in retry_prompt.text


async def test_retries_exhausted_raise_with_raw_text() -> None:
    model = ScriptedModel(["nope", "still nope", "never json"])
    with pytest.raises(StructuredOutputError) as info:
        await Agent(model, response_format=City).run("?")
    assert info.value.raw_text == "never json"
    assert len(model.requests) == 3  # the first answer plus 2 retries (the default)

    model = ScriptedModel(["nope"])
    with pytest.raises(StructuredOutputError):
        await Agent(model, response_format=City, output_retries=0).run("?")


def test_bad_response_formats_are_refused() -> None:
    with pytest.raises(ConfigurationError, match="does not look like a JSON Schema"):
        Agent(ScriptedModel([]), response_format={"summary": "text"})
    with pytest.raises(ConfigurationError, match="response_format must be"):
        Agent(ScriptedModel([]), response_format=42)


async def test_native_mode_sends_response_format() -> None:
    model = ScriptedModel(['{"name": "Nice", "population": 1}'])
    await Agent(model, response_format=City, structured_output_mode="native").run("?")
    options = model.requests[0].options
    assert options is not None and options.response_format is not None
    assert options.response_format["type"] == "json_schema"
