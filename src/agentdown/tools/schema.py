"""JSON Schema inference from a Python signature, via a pydantic model per function.

The pydantic model is built once per tool and reused to validate every call, so
the schema the model sees and the validation it gets can never disagree.
"""

from __future__ import annotations

import inspect
import re
import types
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Annotated, Any, Union, cast, get_args, get_origin

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, create_model

from agentdown.tools.context import FunctionInvocationContext

__all__ = [
    "DataParam",
    "SignatureInfo",
    "build_arguments_model",
    "clean_schema",
    "inspect_signature",
    "is_context_annotation",
    "model_schema",
    "resolve_annotation",
]

EMPTY: Any = inspect.Parameter.empty

_ARGS_CONFIG = ConfigDict(extra="forbid", protected_namespaces=(), arbitrary_types_allowed=False)
# A context parameter whose annotation cannot be evaluated (imported only under
# TYPE_CHECKING, the usual way to avoid import cycles) is still recognised by name.
_CONTEXT_TEXT = re.compile(
    r"^\s*(?:(?:typing\.)?Optional\[\s*)?(?:[\w.]+\.)?FunctionInvocationContext\s*\]?\s*(?:\|\s*None)?\s*$"
)


@dataclass(frozen=True, slots=True)
class DataParam:
    """A parameter the model fills in (it appears in the schema)."""

    name: str
    """The Python parameter name, which is also the JSON property name."""
    field: str
    """The pydantic field name: ``name`` unless that would clash with pydantic itself."""
    annotation: Any
    default: Any
    """``inspect.Parameter.empty`` when required."""


@dataclass(frozen=True, slots=True)
class SignatureInfo:
    """How to call a function: which parameters come from the model, which are injected."""

    data: tuple[DataParam, ...]
    context: frozenset[str]
    """Parameters that receive the :class:`FunctionInvocationContext`."""
    positional_only: tuple[str, ...]
    """Positional-only parameters in order (data or context); passed positionally."""
    var_keyword: bool
    """The function takes ``**kwargs``."""
    names: frozenset[str]
    """Every named (non-variadic) parameter."""


def is_context_annotation(annotation: Any) -> bool:
    """``FunctionInvocationContext``, optionally wrapped in ``Optional``/``| None``/``Annotated``."""
    if annotation is FunctionInvocationContext:
        return True
    if isinstance(annotation, str):
        return _CONTEXT_TEXT.match(annotation) is not None
    origin = get_origin(annotation)
    if origin is Annotated:
        return is_context_annotation(get_args(annotation)[0])
    if origin is Union or origin is types.UnionType:
        members = [a for a in get_args(annotation) if a is not type(None)]
        return len(members) == 1 and is_context_annotation(members[0])
    return False


def _globals_of(func: Callable[..., Any]) -> dict[str, Any]:
    target: Any = func
    while True:
        if isinstance(target, types.MethodType):
            target = target.__func__
        elif hasattr(target, "func") and callable(getattr(target, "func", None)):  # functools.partial
            target = target.func
        elif not inspect.isfunction(target) and not inspect.isbuiltin(target) and callable(target):
            target = type(target).__call__
        else:
            break
    target = inspect.unwrap(target)
    return cast(dict[str, Any], getattr(target, "__globals__", {}))


def _resolve(annotation: Any, globalns: dict[str, Any], label: str, pname: str) -> Any:
    if not isinstance(annotation, str):
        return annotation
    try:
        return eval(annotation, globalns)  # annotations are the tool author's own code
    except Exception as exc:
        if is_context_annotation(annotation):
            return FunctionInvocationContext
        raise TypeError(
            f"cannot resolve the annotation {annotation!r} of parameter '{pname}' of tool function "
            f"{label}: {exc}. Import the type at module level (not only under TYPE_CHECKING) "
            "and do not define it inside a function."
        ) from exc


def inspect_signature(func: Callable[..., Any], label: str) -> SignatureInfo:
    """Classify ``func``'s parameters; ``label`` names the function in errors."""
    try:
        sig = inspect.signature(func)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"cannot read the signature of tool function {label}: {exc}") from exc
    globalns = _globals_of(func)
    data: list[DataParam] = []
    context: set[str] = set()
    positional_only: list[str] = []
    var_keyword = False
    for param in sig.parameters.values():
        if param.kind is param.VAR_KEYWORD:
            var_keyword = True
            continue
        if param.kind is param.VAR_POSITIONAL:
            continue
        if param.kind is param.POSITIONAL_ONLY:
            positional_only.append(param.name)
        annotation = _resolve(param.annotation, globalns, label, param.name)
        if is_context_annotation(annotation):
            context.add(param.name)
            continue
        if annotation is EMPTY:
            annotation = Any
        # Leading underscores and BaseModel attribute names cannot be pydantic field
        # names; those fields get a safe name and keep the real one as their alias.
        field = param.name
        if field.startswith("_") or hasattr(BaseModel, field):
            field = f"p{len(data)}_{param.name.lstrip('_')}"
        data.append(DataParam(param.name, field, annotation, param.default))
    return SignatureInfo(
        data=tuple(data),
        context=frozenset(context),
        positional_only=tuple(positional_only),
        var_keyword=var_keyword,
        names=frozenset(
            p for p, v in sig.parameters.items() if v.kind not in (v.VAR_KEYWORD, v.VAR_POSITIONAL)
        ),
    )


def _describe(annotation: Any, doc: str | None) -> Any:
    """Turn string ``Annotated`` metadata into descriptions; docstring text ranks lowest."""
    if get_origin(annotation) is Annotated:
        base, *meta = get_args(annotation)
        meta = [Field(description=m) if isinstance(m, str) else m for m in meta]
    else:
        base, meta = annotation, []
    if doc:
        # pydantic merges Annotated metadata left to right, later wins: Annotated /
        # Field descriptions written in the signature override the docstring.
        meta.insert(0, Field(description=doc))
    if not meta:
        return base
    return cast(Any, Annotated)[(base, *meta)]


def build_arguments_model(
    name: str, info: SignatureInfo, param_docs: Mapping[str, str], module: str | None, label: str
) -> tuple[type[BaseModel], dict[str, Any]]:
    """A pydantic model whose fields are ``info``'s data parameters, and its cleaned schema."""
    fields: dict[str, Any] = {}
    for p in info.data:
        annotation = _describe(p.annotation, param_docs.get(p.name))
        if p.field != p.name:
            annotation = cast(Any, Annotated)[annotation, Field(alias=p.name)]
        fields[p.field] = (annotation, ... if p.default is EMPTY else p.default)
    try:
        model: type[BaseModel] = create_model(
            f"{name}_arguments", __config__=_ARGS_CONFIG, __module__=module or __name__, **fields
        )
        schema = model.model_json_schema()
    except Exception as exc:
        for p in info.data:
            try:
                TypeAdapter(p.annotation).json_schema()
            except Exception as inner:
                raise TypeError(
                    f"parameter '{p.name}' of tool function {label} has a type the model cannot be "
                    f"told about ({p.annotation!r}): {inner}. Use JSON-compatible types (str, int, "
                    "float, bool, list, dict, Literal, Enum, pydantic models, dataclasses)."
                ) from exc
        raise TypeError(f"cannot build the argument schema of tool function {label}: {exc}") from exc
    return model, clean_schema(schema)


def model_schema(model: type[BaseModel]) -> dict[str, Any]:
    """The cleaned JSON Schema of a pydantic model."""
    return clean_schema(model.model_json_schema())


# Keywords whose value is a map of name -> schema, a list of schemas, or one schema.
_SCHEMA_MAPS = frozenset({"properties", "patternProperties", "dependentSchemas"})
_SCHEMA_LISTS = frozenset({"anyOf", "oneOf", "allOf", "prefixItems"})
_SCHEMA_ONE = frozenset(
    {
        "items",
        "additionalProperties",
        "not",
        "contains",
        "if",
        "then",
        "else",
        "propertyNames",
        "unevaluatedProperties",
        "unevaluatedItems",
    }
)
_DEFS_PREFIX = "#/$defs/"


def _refs(node: Any, found: set[str]) -> set[str]:
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith(_DEFS_PREFIX):
            found.add(ref[len(_DEFS_PREFIX) :])
        for value in node.values():
            _refs(value, found)
    elif isinstance(node, list):
        for value in node:
            _refs(value, found)
    return found


def _recursive(defs: Mapping[str, Any]) -> set[str]:
    edges = {name: _refs(body, set()) for name, body in defs.items()}
    cyclic: set[str] = set()
    for start in edges:
        stack, seen = list(edges[start]), set()
        while stack:
            cur = stack.pop()
            if cur == start:
                cyclic.add(start)
                break
            if cur not in seen:
                seen.add(cur)
                stack.extend(edges.get(cur, ()))
    return cyclic


def _bare_type(member: Any) -> bool:
    return isinstance(member, dict) and member.keys() == {"type"} and isinstance(member["type"], str)


# What a reader (human or model) wants first; the remaining keys keep pydantic's order.
_KEY_ORDER = ("type", "description", "enum", "const", "properties", "required", "items")


def _ordered(node: dict[str, Any]) -> dict[str, Any]:
    head = {k: node[k] for k in _KEY_ORDER if k in node}
    head.update((k, v) for k, v in node.items() if k not in head)
    return head


def clean_schema(schema: Mapping[str, Any]) -> dict[str, Any]:
    """Make a pydantic JSON Schema compact for a model.

    Drops ``title`` keywords (never property names called ``title``), inlines every
    non-recursive ``$defs`` entry (a ``$ref``'s sibling keys such as the field's
    description win over the definition's), keeps ``$defs`` only for recursive
    models, and writes ``anyOf`` of bare types as a type list (``["integer", "null"]``).
    """
    defs: Mapping[str, Any] = schema.get("$defs") or {}
    recursive = _recursive(defs)
    kept: dict[str, Any] = {}
    pending: list[str] = []

    def walk(node: Any) -> Any:
        if not isinstance(node, dict):
            return node
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith(_DEFS_PREFIX):
            target = ref[len(_DEFS_PREFIX) :]
            if target in defs and target not in recursive:
                siblings = walk({k: v for k, v in node.items() if k != "$ref"})
                return {**walk(defs[target]), **siblings}
            if target in defs and target not in kept:
                kept[target] = None
                pending.append(target)
        out: dict[str, Any] = {}
        for key, value in node.items():
            if (key == "title" and isinstance(value, str)) or key == "$defs":
                continue
            if key in _SCHEMA_MAPS and isinstance(value, dict):
                out[key] = {k: walk(v) for k, v in value.items()}
            elif key in _SCHEMA_LISTS and isinstance(value, list):
                out[key] = [walk(v) for v in value]
            elif key in _SCHEMA_ONE:
                out[key] = walk(value)
            else:
                out[key] = value
        members = out.get("anyOf")
        if "type" not in out and isinstance(members, list) and all(_bare_type(m) for m in members):
            del out["anyOf"]
            out["type"] = [m["type"] for m in members]
        return _ordered(out)

    root = dict(schema)
    root_ref = root.get("$ref")
    root_target = root_ref[len(_DEFS_PREFIX) :] if isinstance(root_ref, str) else ""
    if root_target in defs:
        # A recursive model as the whole schema: the root must be the object itself.
        del root["$ref"]
        root = {**defs[root_target], **root}
    result: dict[str, Any] = walk(root)
    while pending:
        name = pending.pop()
        kept[name] = walk(defs[name])
    if kept:
        result["$defs"] = {name: kept[name] for name in sorted(kept)}
    return result


def resolve_annotation(func: Callable[..., Any], annotation: Any, label: str, pname: str) -> Any:
    """Evaluate a (possibly string) annotation of ``func`` in ``func``'s module."""
    return _resolve(annotation, _globals_of(func), label, pname)
