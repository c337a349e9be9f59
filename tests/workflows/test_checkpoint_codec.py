"""What a checkpoint can hold comes back with its types; a forged document constructs nothing."""

from __future__ import annotations

import dataclasses
import datetime as dt
import decimal
import enum
import json
import sys
import uuid
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import pydantic
import pytest

from agentdown.messages import Content, Message
from agentdown.workflows.checkpoint import (
    CheckpointEncodingError,
    CheckpointFormatError,
    decode_value,
    encode_value,
)


class Colour(enum.Enum):
    RED = "red"
    BLUE = "blue"


class Level(enum.IntEnum):
    LOW = 1
    HIGH = 2


class Perm(enum.Flag):
    READ = 1
    WRITE = 2


@dataclass
class Item:
    name: str
    tags: set[str] = field(default_factory=set)


@dataclass(frozen=True, slots=True)
class Report:
    title: str
    items: list[Item]
    colour: Colour
    when: dt.datetime


class Address(pydantic.BaseModel):
    city: str
    since: dt.date


class Person(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="allow")

    name: str = pydantic.Field(alias="fullName")
    address: Address
    payload: Any = None


class Outer:
    @dataclass
    class Inner:
        value: int


@dataclass
class WithInitVar:
    total: int = field(init=False)
    base: dataclasses.InitVar[int]

    def __post_init__(self, base: int) -> None:
        self.total = base * 2


@dataclass(init=False)
class CustomInit:
    value: int

    def __init__(self, raw: str) -> None:
        self.value = int(raw)


@dataclass
class Derived:
    first: int
    doubled: int = field(init=False)

    def __post_init__(self) -> None:
        self.doubled = self.first * 2


class Pair(NamedTuple):
    a: int
    b: int


def roundtrip(value: Any) -> Any:
    # Through real JSON text, as every storage does it.
    return decode_value(json.loads(json.dumps(encode_value(value), allow_nan=False)))


@pytest.mark.parametrize(
    "value",
    [
        None,
        True,
        0,
        -(2**70),
        1.5,
        "text with \u00e9",
        [1, "a", None],
        {"a": {"b": [1, 2]}},
        (1, (2, 3)),
        (),
        {1, 2, 3},
        frozenset({"x"}),
        b"\x00\xff binary",
        bytearray(b"abc"),
        dt.datetime(2026, 1, 2, 3, 4, 5, 678, tzinfo=dt.UTC),
        dt.datetime(2026, 1, 2, 3, 4, 5),
        dt.date(2026, 12, 2),
        dt.time(7, 50, 1),
        dt.timedelta(days=-1, seconds=5, microseconds=7),
        uuid.UUID("12345678-1234-5678-1234-567812345678"),
        decimal.Decimal("0.1000"),
        Colour.BLUE,
        Level.HIGH,
        Perm.READ | Perm.WRITE,
        Perm.WRITE,
        {1: "one", (2, 3): "tuple key", None: "none key"},
        Outer.Inner(5),
        Derived(4),  # a field with init=False is recomputed, not stored
    ],
)
def test_supported_values_come_back_equal_and_of_the_same_type(value: Any) -> None:
    back = roundtrip(value)
    assert back == value
    assert type(back) is type(value)


def test_non_finite_floats_survive_json() -> None:
    back = roundtrip([float("inf"), float("-inf"), float("nan")])
    assert back[0] == float("inf") and back[1] == float("-inf") and back[2] != back[2]


def test_a_plain_dict_with_a_type_key_is_not_taken_for_a_tagged_value() -> None:
    forged_looking = {"$type": "os:system", "value": "rm -rf /"}
    assert roundtrip(forged_looking) == forged_looking
    assert roundtrip({"$type": "tuple", "value": [1]}) == {"$type": "tuple", "value": [1]}
    assert roundtrip([{"$type": 1}, {"nested": {"$type": None}}]) == [
        {"$type": 1},
        {"nested": {"$type": None}},
    ]


def test_nested_dataclasses_keep_every_type() -> None:
    report = Report("r", [Item("a", {"x"}), Item("b")], Colour.RED, dt.datetime(2026, 1, 1, tzinfo=dt.UTC))
    back = roundtrip({"report": report})["report"]
    assert back == report
    assert type(back.items[0]) is Item and back.items[0].tags == {"x"}
    assert back.colour is Colour.RED


def test_pydantic_models_are_rebuilt_by_validation_with_aliases_and_extras() -> None:
    person = Person.model_validate(
        {
            "fullName": "Ada",
            "address": {"city": "London", "since": "1833-06-05"},
            "payload": Item("x"),
            "age": 36,
        }
    )
    back = roundtrip(person)
    assert type(back) is Person and back == person
    assert type(back.address) is Address and back.address.since == dt.date(1833, 6, 5)
    assert type(back.payload) is Item
    assert back.model_extra == {"age": 36}


def test_agentdown_messages_round_trip_with_binary_and_nested_contents() -> None:
    message = Message(
        role="tool",
        contents=[
            Content.from_tool_result("call_1", "done", items=[Content.from_data(b"\x89PNG", "image/png")]),
            Content.from_tool_call("search", {"q": "x"}, call_id="call_2"),
        ],
        author_name="agent",
        metadata={"k": [1, 2]},
    )
    back = roundtrip([message])[0]
    assert back == message
    assert back.contents[0].items[0].data == b"\x89PNG"


def test_an_unsupported_value_is_named_by_its_path_and_type() -> None:
    state = {"report": {"items": [1, 2, 3, object()]}}
    with pytest.raises(CheckpointEncodingError) as err:
        encode_value(state, path="$.state")
    message = str(err.value)
    assert "$.state.report.items[3]" in message
    assert "builtins.object" in message
    assert "dataclasses" in message  # says what is supported


@pytest.mark.parametrize(
    "value",
    [
        Pair(1, 2),  # a tuple subclass would come back as a plain tuple
        lambda: None,
        iter([1]),
        type("S", (str,), {})("str subclass"),
        Report,  # a class, not an instance
        WithInitVar(3),  # could be saved, but never rebuilt from its fields
        CustomInit("7"),
    ],
)
def test_values_that_would_not_come_back_as_they_were_are_refused(value: Any) -> None:
    with pytest.raises(CheckpointEncodingError):
        encode_value({"v": value})


def test_a_class_defined_in_a_function_is_refused_when_saved_not_when_loaded() -> None:
    @dataclass
    class Local:
        x: int

    with pytest.raises(CheckpointEncodingError, match="inside a function"):
        encode_value(Local(1))


def test_a_reference_cycle_is_reported_not_a_recursion_error() -> None:
    cyclic: list[Any] = []
    cyclic.append(cyclic)
    with pytest.raises(CheckpointEncodingError, match=r"\$\[0\].*cycle"):
        encode_value(cyclic)


def test_shared_references_are_not_cycles() -> None:
    shared = [1]
    assert roundtrip({"a": shared, "b": shared}) == {"a": [1], "b": [1]}


def test_keys_that_are_not_identifiers_are_quoted_in_paths() -> None:
    with pytest.raises(CheckpointEncodingError, match=r'\$\["a b"\]'):
        encode_value({"a b": object()})


# --- forged documents ------------------------------------------------------------------

FORGED_TYPES = [
    "os:system",
    "builtins:eval",
    "builtins:exec",
    "subprocess:Popen",
    "posix:system",
    "builtins:object",
    "pickle:loads",
    "agentdown_not_a_module_xyz:Thing",  # not loaded: decoding must not import it
    "json:JSONDecoder",  # loaded, a class, but not a dataclass / model / enum
    f"{__name__}:Outer",  # a plain class in a loaded module
    f"{__name__}:roundtrip",  # a function
    f"{__name__}:Outer.Inner.__init__",
    f"{__name__}:Item.__class__",
    f"{__name__}:pydantic.BaseModel",  # reached through a module attribute that is a module
    "dataclasses:dataclass",
    "enum:Enum.__new__",
    ":",
    "os:",
]


@pytest.mark.parametrize("tag", FORGED_TYPES)
def test_forged_types_are_refused_without_importing_or_calling_anything(tag: str) -> None:
    modules_before = set(sys.modules)
    with pytest.raises(CheckpointFormatError):
        decode_value({"state": {"$type": tag, "value": {"cmd": "touch /tmp/pwned"}}})
    with pytest.raises(CheckpointFormatError):
        decode_value({"$type": tag, "value": "touch /tmp/pwned"})
    assert set(sys.modules) == modules_before


def test_a_module_getattr_hook_is_never_run_by_decoding(monkeypatch: pytest.MonkeyPatch) -> None:
    import types

    calls: list[str] = []
    module = types.ModuleType("agentdown_lazy_probe")

    def lazy(name: str) -> Any:
        calls.append(name)
        return Item

    module.__getattr__ = lazy  # type: ignore[method-assign]
    monkeypatch.setitem(sys.modules, "agentdown_lazy_probe", module)
    with pytest.raises(CheckpointFormatError):
        decode_value({"$type": "agentdown_lazy_probe:Item", "value": {"name": "x"}})
    assert calls == []


@pytest.mark.parametrize(
    "document",
    [
        {"$type": "tuple", "value": "not a list"},
        {"$type": "bytes", "value": "!!not base64!!"},
        {"$type": "datetime", "value": "yesterday"},
        {"$type": "float", "value": "1e999"},
        {"$type": "set", "value": [[1, 2]]},  # unhashable member
        {"$type": "dict", "value": [[[1], "list key"]]},
        {"$type": "dict", "value": [[1]]},
        {"$type": "timedelta", "value": [1, 2]},
        {"$type": "decimal", "value": "abc"},
        {"$type": "no-such-tag", "value": 1},
        {"$type": 7, "value": 1},
        {"$type": "tuple", "value": [], "extra": 1},
        {"$type": "tuple"},
        {"$type": f"{__name__}:Colour", "value": "GREEN"},
        {"$type": f"{__name__}:Colour", "value": ["RED"]},
        {"$type": f"{__name__}:Perm", "value": "READ"},
        {"$type": f"{__name__}:Perm", "value": 64},
        {"$type": f"{__name__}:Item", "value": {"name": "x", "evil": 1}},
        {"$type": f"{__name__}:Item", "value": {}},
        {"$type": f"{__name__}:Item", "value": "x"},
        {"$type": f"{__name__}:Address", "value": {"city": "x", "since": "not a date"}},
    ],
)
def test_tampered_values_are_format_errors(document: dict[str, Any]) -> None:
    with pytest.raises(CheckpointFormatError):
        decode_value({"deep": [document]})


def test_an_enum_is_found_by_member_name_not_called_with_a_value() -> None:
    assert decode_value({"$type": f"{__name__}:Colour", "value": "RED"}) is Colour.RED
    with pytest.raises(CheckpointFormatError):
        decode_value({"$type": f"{__name__}:Colour", "value": "red"})


def test_excessive_nesting_is_refused_both_ways() -> None:
    deep: Any = []
    for _ in range(500):
        deep = [deep]
    with pytest.raises(CheckpointEncodingError, match="nested"):
        encode_value(deep)
    with pytest.raises(CheckpointFormatError, match="nested"):
        decode_value(deep)


def test_a_settings_class_that_reads_the_environment_is_never_built(monkeypatch: pytest.MonkeyPatch) -> None:
    import types

    built: list[str] = []

    class BaseSettings(pydantic.BaseModel):  # stands in for pydantic_settings.BaseSettings
        def __init__(self, **data: Any) -> None:
            built.append("read the environment")
            super().__init__(**data)

    class AppSettings(BaseSettings):
        api_key: str = ""

    settings_module = types.ModuleType("pydantic_settings")
    settings_module.BaseSettings = BaseSettings  # type: ignore[attr-defined]
    app_module = types.ModuleType("agentdown_settings_probe")
    app_module.AppSettings = AppSettings  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "pydantic_settings", settings_module)
    monkeypatch.setitem(sys.modules, "agentdown_settings_probe", app_module)
    with pytest.raises(CheckpointFormatError, match="settings class"):
        decode_value({"$type": "agentdown_settings_probe:AppSettings", "value": {}})
    assert built == []
