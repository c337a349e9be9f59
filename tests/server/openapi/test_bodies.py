"""The documented chat body and the chat routes' own parser agree: what one accepts, the other does."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from agentdown.server.errors import ApiError
from agentdown.server.schemas import ChatRequest, validated
from agentdown.server.turns import parse_turn_request

_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner, max_size=3),
    max_leaves=6,
)
_VALUES = {
    "prompt": st.text(max_size=5) | _JSON,
    "approvals": st.dictionaries(st.text(max_size=3), st.booleans(), max_size=2) | _JSON,
    "tool_outputs": st.dictionaries(st.text(max_size=3), _JSON, max_size=2) | _JSON,
    "discard": st.booleans() | _JSON,
    "other": _JSON,
}
_BODIES = st.fixed_dictionaries({}, optional=_VALUES)


@settings(max_examples=400, deadline=None)
@given(_BODIES)
def test_the_parser_accepts_only_what_the_model_accepts(body: dict[str, Any]) -> None:
    try:
        parse_turn_request(body)
    except ApiError as exc:
        status = exc.status
    else:
        status = 200
        ChatRequest.model_validate(body)  # accepted by the route: the document says so too
    assert status in (200, 400)


@pytest.mark.parametrize(
    "body", [{"approvals": []}, {"tool_outputs": False}, {"discard": "true"}, {"prompt": 3}]
)
def test_what_the_model_refuses_the_route_refuses(body: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        ChatRequest.model_validate(body)
    with pytest.raises(ApiError) as raised:
        parse_turn_request(body)
    assert raised.value.status == 400


def test_validated_names_the_field() -> None:
    with pytest.raises(ApiError) as raised:
        validated(ChatRequest, {"approvals": {"c1": "yes"}})
    assert raised.value.status == 400 and raised.value.extra["param"] == "approvals.c1"
