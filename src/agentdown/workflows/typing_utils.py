"""Message types of handlers and edges: runtime checks, compatibility, and a JSON form for checkpoints.

A *type spec* is what an annotation may say: a class, ``Any``, a union, a parametrised
builtin (``list[str]``, ``dict[str, int]``, ``tuple[int, ...]``) or ``None``. Handlers keep
their specs flattened to a tuple of union members, so "accepts" is "any member accepts".
"""

from __future__ import annotations

import sys
import types
import typing
from typing import Any, Union, get_args, get_origin

__all__ = [
    "decode_type",
    "encode_type",
    "flatten",
    "is_compatible",
    "is_instance_of",
    "type_name",
]

_NEVER = (typing.Never, typing.NoReturn)


def flatten(spec: Any) -> tuple[Any, ...]:
    """The union members of ``spec``; ``Never`` is the empty tuple and ``None`` is ``NoneType``."""
    if spec is None:
        return (type(None),)
    if any(spec is never for never in _NEVER):
        return ()
    origin = get_origin(spec)
    if origin is Union or origin is types.UnionType:
        out: list[Any] = []
        for arg in get_args(spec):
            out.extend(member for member in flatten(arg) if member not in out)
        return tuple(out)
    return (spec,)


def is_instance_of(value: Any, spec: Any) -> bool:
    """Whether ``value`` is a ``spec`` at run time, looking inside lists, sets, tuples and dicts."""
    if spec is Any or spec is object:
        return True
    if spec is None or spec is type(None):
        return value is None
    origin = get_origin(spec)
    if origin is None:
        return isinstance(spec, type) and isinstance(value, spec)
    if origin is Union or origin is types.UnionType:
        return any(is_instance_of(value, arg) for arg in get_args(spec))
    if origin is typing.Literal:
        return value in get_args(spec)
    args = get_args(spec)
    if origin in (list, set, frozenset):
        return isinstance(value, origin) and (not args or all(is_instance_of(v, args[0]) for v in value))
    if origin is tuple:
        if not isinstance(value, tuple):
            return False
        if not args or args == ((),):
            return not args or len(value) == 0
        if len(args) == 2 and args[1] is Ellipsis:
            return all(is_instance_of(v, args[0]) for v in value)
        return len(value) == len(args) and all(is_instance_of(v, a) for v, a in zip(value, args, strict=True))
    if origin is dict:
        return isinstance(value, dict) and (
            not args
            or all(is_instance_of(k, args[0]) and is_instance_of(v, args[1]) for k, v in value.items())
        )
    # Other generics (user classes, Sequence[...]): the origin is all that can be checked cheaply.
    return isinstance(origin, type) and isinstance(value, origin)


def is_compatible(source: Any, target: Any) -> bool:
    """Whether every value of ``source`` is acceptable where ``target`` is expected."""
    if target is Any or target is object or source == target:
        return True
    if source is Any:
        # An executor that may send anything can send what the target takes: checked at run time.
        return True
    s_members, t_members = flatten(source), flatten(target)
    if len(s_members) != 1 or len(t_members) != 1:
        return all(any(is_compatible(s, t) for t in t_members) for s in s_members)
    source, target = s_members[0], t_members[0]
    if target is Any or source == target:
        return True
    s_origin, t_origin = get_origin(source), get_origin(target)
    if s_origin is None and t_origin is None:
        return isinstance(source, type) and isinstance(target, type) and issubclass(source, target)
    if s_origin is None or t_origin is None:
        # ``list`` vs ``list[str]``: bare generics are compatible with their parametrised forms.
        bare, other = (source, target) if s_origin is None else (target, source)
        return bare is get_origin(other)
    if s_origin is not t_origin:
        return isinstance(s_origin, type) and isinstance(t_origin, type) and issubclass(s_origin, t_origin)
    s_args, t_args = get_args(source), get_args(target)
    if not s_args or not t_args:
        return True
    if s_origin is tuple and len(t_args) == 2 and t_args[1] is Ellipsis:
        s_items = s_args[:1] if len(s_args) == 2 and s_args[1] is Ellipsis else s_args
        return all(is_compatible(s, t_args[0]) for s in s_items)
    if len(s_args) != len(t_args):
        return False
    return all(a is Ellipsis or is_compatible(a, b) for a, b in zip(s_args, t_args, strict=True))


def type_name(spec: Any) -> str:
    """A short readable name for error messages: ``str``, ``list[int]``, ``str | None``."""
    if spec is Any:
        return "Any"
    if spec is type(None):
        return "None"
    if isinstance(spec, type) and get_origin(spec) is None:
        return spec.__qualname__
    return repr(spec).replace("typing.", "")


def encode_type(spec: Any) -> Any:
    """A JSON-able form of ``spec`` (classes as ``"module:qualname"``) for checkpoints."""
    if spec is Any:
        return "typing:Any"
    if spec is None or spec is type(None):
        return "builtins:NoneType"
    origin = get_origin(spec)
    if origin is Union or origin is types.UnionType:
        return {"union": [encode_type(a) for a in get_args(spec)]}
    if origin is not None:
        args = [{"ellipsis": True} if a is Ellipsis else encode_type(a) for a in get_args(spec)]
        return {"origin": encode_type(origin), "args": args}
    if isinstance(spec, type):
        return f"{spec.__module__}:{spec.__qualname__}"
    raise TypeError(f"cannot record the type {spec!r} in a checkpoint")


def decode_type(raw: Any) -> Any:
    """The type spec :func:`encode_type` wrote.

    Classes are looked up in modules that are already imported, never imported because a
    checkpoint names them: a checkpoint is data and must not run code.
    """
    if isinstance(raw, str):
        module_name, _, qualname = raw.partition(":")
        if module_name == "builtins" and qualname == "NoneType":
            return type(None)
        if module_name == "typing" and qualname == "Any":
            return Any
        module = sys.modules.get(module_name)
        obj: Any = module
        for part in qualname.split("."):
            obj = getattr(obj, part, None)
        if module is None or not isinstance(obj, type):
            raise LookupError(f"type {raw!r} is not defined in this process (import its module first)")
        return obj
    if isinstance(raw, dict) and "union" in raw:
        members = tuple(decode_type(a) for a in raw["union"])
        return Union[members]  # noqa: UP007 - a runtime union of computed members
    if isinstance(raw, dict) and "origin" in raw:
        origin = decode_type(raw["origin"])
        args = tuple(
            Ellipsis if isinstance(a, dict) and a.get("ellipsis") else decode_type(a) for a in raw["args"]
        )
        return origin[args[0] if len(args) == 1 else args]
    raise LookupError(f"not a recorded type: {raw!r}")
