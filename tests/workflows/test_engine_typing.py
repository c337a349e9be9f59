"""The type rules edges are checked with at build time and messages are matched with at run time."""

from __future__ import annotations

from typing import Any

import pytest

from agentdown.messages import Message
from agentdown.workflows.typing_utils import decode_type, encode_type, flatten, is_compatible, is_instance_of


class Animal:
    pass


class Dog(Animal):
    pass


@pytest.mark.parametrize(
    ("source", "target", "ok"),
    [
        (str, str, True),
        (Dog, Animal, True),
        (Animal, Dog, False),
        (int, str, False),
        (str, str | int, True),
        (str | int, str, False),
        (str | int, str | int | None, True),
        (list[Message], list[str | Message], True),
        (list[int], list[str], False),
        (list[int], list, True),
        (dict[str, int], dict[str, int | float], True),
        (tuple[int, int], tuple[int, ...], True),
        (int, Any, True),
        (Any, int, True),
    ],
)
def test_edge_compatibility(source: Any, target: Any, ok: bool) -> None:
    assert is_compatible(source, target) is ok


@pytest.mark.parametrize(
    ("value", "spec", "ok"),
    [
        ("a", str, True),
        (Dog(), Animal, True),
        ([1, 2], list[int], True),
        ([1, "a"], list[int], False),
        ([1, "a"], list[int | str], True),
        ({"a": 1}, dict[str, int], True),
        ({1: 1}, dict[str, int], False),
        ((1, "a"), tuple[int, str], True),
        ((1, 2, 3), tuple[int, ...], True),
        (None, str | None, True),
        (3, Any, True),
    ],
)
def test_runtime_matching(value: Any, spec: Any, ok: bool) -> None:
    assert is_instance_of(value, spec) is ok


def test_never_flattens_to_nothing_and_unions_to_their_members() -> None:
    from typing import Never

    assert flatten(Never) == ()
    assert flatten(int | str | None) == (int, str, type(None))


@pytest.mark.parametrize(
    "spec", [int, Dog, list[int], dict[str, list[Dog]], int | None, tuple[int, ...], Any]
)
def test_recorded_types_come_back(spec: Any) -> None:
    assert decode_type(encode_type(spec)) == spec


def test_a_recorded_type_of_a_module_not_loaded_is_not_imported() -> None:
    with pytest.raises(LookupError, match="not defined in this process"):
        decode_type("some_module_nobody_imported:Thing")
