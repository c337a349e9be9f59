"""Values in a checkpoint as plain JSON, with the Python types they had: never pickle.

A checkpoint may sit in a blob store that someone else can write to, so decoding is
built to be safe on a hostile document: it never imports a module, never calls
``__reduce__``/``__setstate__`` and never calls anything but the constructor (or
pydantic validation) of a class that is already loaded and is a dataclass, a pydantic
model or an Enum (not a pydantic-settings class, which reads the environment). That
constructor does run, with ``__post_init__`` and validators: keep those of the classes
you checkpoint free of side effects.

Encoding, value by value:

* ``None``, ``bool``, ``int``, ``str`` and finite ``float`` are themselves; NaN and the
  infinities are ``{"$type": "float", "value": "nan"}`` (JSON has no spelling for them).
* ``list`` is a JSON array; a ``dict`` whose keys are all ``str`` is a JSON object.
* Everything else is a tagged object ``{"$type": tag, "value": ...}``: tags ``tuple``,
  ``set``, ``frozenset``, ``bytes`` (base64), ``datetime``/``date``/``time`` (ISO 8601),
  ``timedelta`` (seconds), ``uuid``, ``decimal``; ``dict`` for a dict with non-``str``
  keys (``"value"`` is a list of ``[key, value]`` pairs) or a plain dict that itself has
  a ``"$type"`` key (``"value"`` is the object, so it round-trips unchanged); and
  ``"module:qualname"`` for an Enum member (``"value"`` is its name; for a ``Flag``, whose
  combinations have no name, its integer value), a dataclass or a pydantic model
  (``"value"`` maps field names to encoded values).

Aware datetimes keep their UTC offset (not a named zone); dataclass fields with
``init=False`` are recomputed by the class, not stored; pydantic private attributes are
not stored.

Only exact types are accepted: a ``str`` or ``tuple`` subclass (a NamedTuple, say) would
come back as its base type, so it is refused rather than silently changed.
"""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import decimal
import enum
import inspect
import json
import math
import re
import sys
import uuid
import weakref
from collections.abc import Callable
from typing import Any

from .errors import CheckpointEncodingError, CheckpointFormatError

__all__ = ["SUPPORTED_TYPES", "decode_value", "encode_value"]

SUPPORTED_TYPES = (
    "None, bool, int, float, str, list, tuple, set, frozenset, dict, bytes, bytearray, datetime, date, "
    "time, timedelta, UUID, Decimal, Enum members, dataclasses and pydantic models"
)
"""What a checkpoint can hold, as error messages say it."""

MAX_DEPTH = 200
"""Deepest nesting encoded or decoded; deeper is refused rather than overflowing the stack."""

_TAG = "$type"
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def encode_value(value: Any, *, path: str = "$") -> Any:
    """``value`` as JSON-compatible data that :func:`decode_value` turns back into it.

    Raises :class:`CheckpointEncodingError` naming the path of the first value that
    cannot be stored (``$.state.report.items[3]``), its type and what is supported.
    """
    return _Encoder().encode(value, path, 0)


def decode_value(data: Any) -> Any:
    """The value :func:`encode_value` encoded as ``data``.

    Raises :class:`CheckpointFormatError` for anything :func:`encode_value` would not have
    written: an unknown tag, a class that is not loaded or not a dataclass / pydantic model
    / Enum, fields the class does not have, values of the wrong shape.
    """
    return _decode(data, "$", 0)


def _key_path(path: str, key: str) -> str:
    return f"{path}.{key}" if _IDENT.fullmatch(key) else f"{path}[{json.dumps(key)}]"


def _class_tag(cls: type) -> str:
    return f"{cls.__module__}:{cls.__qualname__}"


class _Encoder:
    def __init__(self) -> None:
        # Containers on the current path: a cycle would otherwise recurse until the stack
        # overflows, with a message that says nothing about where.
        self._active: set[int] = set()

    def encode(self, value: Any, path: str, depth: int) -> Any:
        if depth > MAX_DEPTH:
            raise CheckpointEncodingError(f"{path}: nested more than {MAX_DEPTH} levels deep")
        kind = type(value)
        if value is None or kind is bool or kind is int or kind is str:
            return value
        if kind is float:
            if math.isfinite(value):
                return value
            return {_TAG: "float", "value": repr(value)}
        if isinstance(value, enum.Flag):
            # A combination of flags has no member name of its own: stored by value.
            return {_TAG: self._tag_of(kind, path), "value": self.encode(value.value, path, depth + 1)}
        if isinstance(value, enum.Enum):
            return {_TAG: self._tag_of(kind, path), "value": value.name}
        scalar = _encode_scalar(value)
        if scalar is not None:
            return scalar
        if id(value) in self._active:
            raise CheckpointEncodingError(f"{path}: {kind.__name__} contains itself (a reference cycle)")
        self._active.add(id(value))
        try:
            return self._encode_container(value, path, depth + 1)
        finally:
            self._active.discard(id(value))

    def _encode_container(self, value: Any, path: str, depth: int) -> Any:
        kind = type(value)
        if kind is list:
            return [self.encode(v, f"{path}[{i}]", depth) for i, v in enumerate(value)]
        if kind is dict:
            return self._encode_dict(value, path, depth)
        if kind is tuple:
            return {
                _TAG: "tuple",
                "value": [self.encode(v, f"{path}[{i}]", depth) for i, v in enumerate(value)],
            }
        if kind is set or kind is frozenset:
            items = [self.encode(v, f"{path}[{i}]", depth) for i, v in enumerate(value)]
            # Sorted: equal sets give byte-equal documents, whatever their iteration order.
            items.sort(key=lambda item: json.dumps(item, sort_keys=True))
            return {_TAG: kind.__name__, "value": items}
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            problem = _rebuild_problem(kind)
            if problem is not None:
                raise CheckpointEncodingError(f"{path}: {kind.__qualname__} cannot be stored: {problem}")
            fields = {
                f.name: self.encode(getattr(value, f.name), _key_path(path, f.name), depth)
                for f in dataclasses.fields(value)
                if f.init
            }
            return {_TAG: self._tag_of(kind, path), "value": fields}
        if _is_pydantic_model(kind):
            return {_TAG: self._tag_of(kind, path), "value": self._encode_model(value, path, depth)}
        raise CheckpointEncodingError(
            f"{path}: a {kind.__module__}.{kind.__qualname__} cannot be stored in a checkpoint; "
            f"supported: {SUPPORTED_TYPES} (convert it to one of these first)"
        )

    def _encode_dict(self, value: dict[Any, Any], path: str, depth: int) -> Any:
        if all(type(k) is str for k in value):
            encoded = {k: self.encode(v, _key_path(path, k), depth) for k, v in value.items()}
            # A plain dict that has a "$type" key of its own is wrapped, or decoding would
            # take it for a tagged value.
            return {_TAG: "dict", "value": encoded} if _TAG in value else encoded
        pairs = [
            [self.encode(k, f"{path}<key {i}>", depth), self.encode(v, f"{path}[{k!r}]", depth)]
            for i, (k, v) in enumerate(value.items())
        ]
        return {_TAG: "dict", "value": pairs}

    def _encode_model(self, model: Any, path: str, depth: int) -> dict[str, Any]:
        names = list(type(model).model_fields)
        out = {name: self.encode(getattr(model, name), _key_path(path, name), depth) for name in names}
        extra = model.__pydantic_extra__ or {}
        out.update({k: self.encode(v, _key_path(path, k), depth) for k, v in extra.items()})
        return out

    @staticmethod
    def _tag_of(cls: type, path: str) -> str:
        if "<locals>" in cls.__qualname__:
            # Decoding finds a class by its qualified name in its module; a class defined
            # inside a function has none, so the checkpoint could never be loaded.
            raise CheckpointEncodingError(
                f"{path}: {cls.__qualname__} is defined inside a function, so a checkpoint could not "
                "find it again; define it at module level"
            )
        return _class_tag(cls)


def _encode_scalar(value: Any) -> dict[str, Any] | None:
    kind = type(value)
    if kind is bytes or kind is bytearray:
        return {_TAG: kind.__name__, "value": base64.b64encode(value).decode("ascii")}
    if kind is dt.datetime or kind is dt.date or kind is dt.time:
        return {_TAG: kind.__name__, "value": value.isoformat()}
    if kind is dt.timedelta:
        # Days, seconds and microseconds exactly: a float of seconds would round.
        return {_TAG: "timedelta", "value": [value.days, value.seconds, value.microseconds]}
    if kind is uuid.UUID:
        return {_TAG: "uuid", "value": str(value)}
    if kind is decimal.Decimal:
        return {_TAG: "decimal", "value": str(value)}
    return None


_REBUILD_PROBLEMS: weakref.WeakKeyDictionary[type, str | None] = weakref.WeakKeyDictionary()


def _rebuild_problem(cls: type) -> str | None:
    """Why ``cls(**stored fields)`` could not rebuild an instance, or ``None``.

    Checked when saving, so that a checkpoint that saves also loads: an ``InitVar`` or a
    hand-written ``__init__`` takes other arguments than the fields stored.
    """
    if cls not in _REBUILD_PROBLEMS:
        _REBUILD_PROBLEMS[cls] = _find_rebuild_problem(cls)
    return _REBUILD_PROBLEMS[cls]


def _find_rebuild_problem(cls: type) -> str | None:
    stored = {f.name for f in dataclasses.fields(cls) if f.init}
    try:
        params = list(inspect.signature(cls).parameters.values())
    except (TypeError, ValueError):
        return "its constructor's signature cannot be read"
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params):
        accepted = stored
    else:
        accepted = {p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}
    required = {
        p.name for p in params if p.default is p.empty and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
    }
    missing, refused = sorted(required - stored), sorted(stored - accepted)
    if missing:
        return f"its constructor needs {missing}, which are not fields (an InitVar?)"
    if refused:
        return f"its constructor does not take the fields {refused}"
    return None


def _is_pydantic_model(cls: type) -> bool:
    # Only when pydantic is already imported: a model instance implies it is.
    pydantic = sys.modules.get("pydantic")
    return pydantic is not None and isinstance(cls, type) and issubclass(cls, pydantic.BaseModel)


# --- decoding -------------------------------------------------------------------------


def _fail(path: str, problem: str) -> CheckpointFormatError:
    return CheckpointFormatError(f"{path}: {problem}")


def _decode(data: Any, path: str, depth: int) -> Any:
    if depth > MAX_DEPTH:
        raise _fail(path, f"nested more than {MAX_DEPTH} levels deep")
    if data is None or isinstance(data, (bool, int, float, str)):
        return data
    if isinstance(data, list):
        return [_decode(v, f"{path}[{i}]", depth + 1) for i, v in enumerate(data)]
    if not isinstance(data, dict):
        raise _fail(path, f"{type(data).__name__} is not JSON")
    if _TAG not in data:
        return {k: _decode(v, _key_path(path, k), depth + 1) for k, v in data.items()}
    tag = data[_TAG]
    if set(data) != {_TAG, "value"}:
        raise _fail(path, f'a tagged value has exactly the keys "$type" and "value", not {sorted(data)}')
    if not isinstance(tag, str):
        raise _fail(path, f'"$type" must be a string, not {type(tag).__name__}')
    value = data["value"]
    if ":" in tag:
        return _decode_class(tag, value, path, depth + 1)
    return _decode_builtin(tag, value, path, depth + 1)


def _decode_builtin(tag: str, value: Any, path: str, depth: int) -> Any:
    try:
        if tag in ("tuple", "set", "frozenset"):
            items = _decode(_expect(value, list, path), path, depth)
            return {"tuple": tuple, "set": set, "frozenset": frozenset}[tag](items)
        if tag == "dict":
            if isinstance(value, dict):
                return {k: _decode(v, _key_path(path, k), depth + 1) for k, v in value.items()}
            pairs = _expect(value, list, path)
            out: dict[Any, Any] = {}
            for i, pair in enumerate(pairs):
                if not isinstance(pair, list) or len(pair) != 2:
                    raise _fail(f"{path}[{i}]", "a dict entry is a [key, value] pair")
                out[_decode(pair[0], f"{path}<key {i}>", depth + 1)] = _decode(
                    pair[1], f"{path}[{i}]", depth + 1
                )
            return out
        if tag == "float":
            if value not in ("nan", "inf", "-inf"):
                raise _fail(path, f'a "float" tag holds "nan", "inf" or "-inf", not {value!r}')
            return float(value)
        if tag in ("bytes", "bytearray"):
            raw = base64.b64decode(_expect(value, str, path), validate=True)
            return raw if tag == "bytes" else bytearray(raw)
        if tag == "timedelta":
            parts = _expect(value, list, path)
            if len(parts) != 3 or not all(type(p) is int for p in parts):
                raise _fail(path, "a timedelta is [days, seconds, microseconds]")
            return dt.timedelta(days=parts[0], seconds=parts[1], microseconds=parts[2])
        parse = _STRING_TAGS.get(tag)
        if parse is None:
            raise _fail(path, f"unknown type tag {tag!r}")
        return parse(_expect(value, str, path))
    except CheckpointFormatError:
        raise
    except (ValueError, TypeError, OverflowError, decimal.InvalidOperation) as exc:
        # binascii.Error is a ValueError; an unhashable set member or key is a TypeError.
        raise _fail(path, f"not a valid {tag}: {exc}") from None


_STRING_TAGS: dict[str, Callable[[str], Any]] = {
    "datetime": dt.datetime.fromisoformat,
    "date": dt.date.fromisoformat,
    "time": dt.time.fromisoformat,
    "uuid": uuid.UUID,
    "decimal": decimal.Decimal,
}


def _expect(value: Any, kind: type, path: str) -> Any:
    if not isinstance(value, kind):
        raise _fail(path, f"expected a JSON {kind.__name__}, got {type(value).__name__}")
    return value


def _resolve_class(tag: str, path: str) -> type:
    """The already-loaded class ``tag`` names, if it is one a checkpoint may construct."""
    module_name, _, qualname = tag.partition(":")
    module = sys.modules.get(module_name)
    if module is None:
        # Importing would run the module's code on the say-so of the document.
        raise _fail(path, f"type {tag!r}: module {module_name!r} is not loaded (a checkpoint never imports)")
    target: Any = module
    for part in qualname.split("."):
        # vars(), not getattr(): a module-level __getattr__ or a descriptor would run code.
        namespace = vars(target) if isinstance(target, type) or target is module else {}
        if not _IDENT.fullmatch(part) or part not in namespace:
            raise _fail(path, f"type {tag!r}: no class {qualname!r} in {module_name!r}")
        target = namespace[part]
    if not isinstance(target, type):
        raise _fail(path, f"type {tag!r} is not a class")
    if not (issubclass(target, enum.Enum) or dataclasses.is_dataclass(target) or _is_pydantic_model(target)):
        raise _fail(
            path, f"type {tag!r} is not a dataclass, pydantic model or Enum; a checkpoint constructs no other"
        )
    if _reads_environment(target):
        raise _fail(path, f"type {tag!r} is a settings class (it reads the environment when built); refused")
    return target


def _reads_environment(cls: type) -> bool:
    # pydantic-settings models fill themselves from environment variables and .env files:
    # a forged document must not be able to pull secrets into a run's state.
    settings = getattr(sys.modules.get("pydantic_settings"), "BaseSettings", None)
    return isinstance(settings, type) and issubclass(cls, settings)


def _decode_class(tag: str, value: Any, path: str, depth: int) -> Any:
    cls = _resolve_class(tag, path)
    if issubclass(cls, enum.Flag):
        if type(value) is not int:
            raise _fail(path, f"{tag} is stored as an integer, not {type(value).__name__}")
        try:
            return cls(value)
        except ValueError:
            raise _fail(path, f"{value} is not a value of {tag}") from None
    if issubclass(cls, enum.Enum):
        name = _expect(value, str, path)
        member = cls.__members__.get(name)
        if member is None:
            raise _fail(path, f"{tag} has no member {name!r}")
        return member
    raw = _expect(value, dict, path)
    fields = {k: _decode(v, _key_path(path, k), depth + 1) for k, v in raw.items()}
    if dataclasses.is_dataclass(cls):
        allowed = {f.name for f in dataclasses.fields(cls) if f.init}
        unknown = sorted(set(fields) - allowed)
        if unknown:
            raise _fail(path, f"{tag} has no field(s) {unknown}")
        try:
            return cls(**fields)
        except TypeError as exc:  # a missing required field
            raise _fail(path, f"cannot build {tag}: {exc}") from None
    return _validate_model(cls, tag, fields, path)


def _validate_model(cls: Any, tag: str, fields: dict[str, Any], path: str) -> Any:
    import pydantic  # already loaded: _resolve_class only accepts a model class when it is

    try:
        if issubclass(cls, pydantic.RootModel):
            return cls.model_validate(fields.get("root"))
        # by_name: the document holds field names (what getattr gave), not aliases.
        return cls.model_validate(fields, by_alias=False, by_name=True)
    except pydantic.ValidationError as exc:
        raise _fail(path, f"{tag} does not validate: {exc}") from None
