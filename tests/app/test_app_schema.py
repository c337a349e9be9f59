"""The front matter JSON Schema: valid, complete, and in agreement with the loader."""

from __future__ import annotations

from pathlib import Path

import jsonschema
import pytest
import yaml

from agentdown.app.agentfile import AGENT_KEYS
from agentdown.app.schema import front_matter_schema

FIXTURES = Path(__file__).parent / "fixtures" / "functions_app"
EXAMPLES = Path(__file__).parents[2] / "examples"


def front_matter(path: Path) -> object:
    return yaml.safe_load(path.read_text(encoding="utf-8").split("---", 2)[1])


@pytest.fixture(scope="module")
def validator() -> jsonschema.Draft7Validator:
    schema = front_matter_schema()
    jsonschema.Draft7Validator.check_schema(schema)
    return jsonschema.Draft7Validator(schema)


def test_schema_lists_exactly_the_loader_keys() -> None:
    schema = front_matter_schema()
    assert list(schema["properties"]) == list(AGENT_KEYS)
    assert schema["required"] == ["name", "description"]
    assert all(prop.get("description") for prop in schema["properties"].values())


@pytest.mark.parametrize(
    "path",
    [*sorted(FIXTURES.rglob("*.agent.md")), *sorted(EXAMPLES.rglob("*.agent.md"))],
    ids=lambda p: p.name,
)
def test_real_agent_files_validate(validator: jsonschema.Draft7Validator, path: Path) -> None:
    assert [e.message for e in validator.iter_errors(front_matter(path))] == []


@pytest.mark.parametrize(
    "data",
    [
        {"description": "no name"},
        {"name": "n", "description": "d", "colour": "blue"},
        {"name": "n", "description": "d", "trigger": {"type": "cron"}},
        {"name": "n", "description": "d", "trigger": {"type": "timer_trigger", "args": {"when": "now"}}},
        {"name": "n", "description": "d", "builtin_endpoints": {"chat": True}},
        {"name": "n", "description": "d", "tools": {"only": ["x"]}},
        {"name": "n", "description": "d", "subagents": [{"when": "always"}]},
        {"name": "n", "description": "d", "http_auth": "open"},
    ],
)
def test_invalid_front_matter_fails(validator: jsonschema.Draft7Validator, data: dict[str, object]) -> None:
    assert list(validator.iter_errors(data))
