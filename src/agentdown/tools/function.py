"""``FunctionTool`` and the ``@tool`` decorator: a Python callable as a tool."""

from __future__ import annotations

import asyncio
import copy
import inspect
from collections.abc import Callable, Mapping
from typing import Any, Literal, overload

from pydantic import BaseModel

from agentdown.exceptions import ToolError
from agentdown.tools.arguments import JsonSchemaValidator, ModelArguments, SchemaArguments, ToolArgumentsError
from agentdown.tools.callables import callable_identity, is_async_callable
from agentdown.tools.context import FunctionInvocationContext, ToolUsage
from agentdown.tools.docstrings import parse_docstring
from agentdown.tools.protocol import APPROVAL_MODES, ApprovalMode, check_tool_name
from agentdown.tools.results import SKIP_PARSING, ResultParser, _SkipParsing
from agentdown.tools.schema import SignatureInfo, build_arguments_model, inspect_signature, model_schema

__all__ = ["SKIP_PARSING", "FunctionTool", "LimitScope", "tool"]

LimitScope = Literal["run", "process"]

_EMPTY_OBJECT: dict[str, Any] = {"type": "object", "properties": {}}


def _positive(value: int | None, option: str, name: str) -> int | None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
        raise ValueError(f"{option} of tool '{name}' must be a positive integer or None, got {value!r}")
    return value


class FunctionTool:
    """A Python function (sync or async), bound method or callable object as a tool.

    The name comes from the function (or the snake_cased class of a callable
    object), the description from its docstring without the parameter sections,
    and the JSON Schema from its signature. A parameter annotated
    :class:`FunctionInvocationContext` receives the call's context and is hidden from
    the schema; a ``**kwargs`` parameter receives the run's
    ``function_invocation_kwargs`` (those not named like another parameter).

    With ``func=None`` the tool is declaration-only: the model is told about it,
    and the run loop reports its calls instead of running them.

    Calling the tool object itself calls the function directly, so ``@tool`` does
    not stop a function from being used as a function.
    """

    name: str
    """The name the model calls the tool by (``^[A-Za-z0-9_-]{1,64}$``)."""
    description: str
    """What the model reads about the tool."""
    approval_mode: ApprovalMode
    """``"always_require"``: every call waits for a human approval first."""
    max_invocations: int | None
    """After this many calls the tool refuses further ones (the function is not run)."""
    max_invocation_exceptions: int | None
    """After the function raised this many times the tool refuses further calls."""
    result_parser: ResultParser | _SkipParsing | None
    """Turns the return value into the model's text (``str``) or contents."""
    kind: str
    """A free-form tag for the kind of tool (``"function"``; e.g. ``"agent"`` for agent-as-tool)."""
    additional_properties: dict[str, Any]
    """Anything else to keep with the tool (not sent to the model)."""
    func: Callable[..., Any] | None
    """The implementation; ``None`` for a declaration-only tool."""
    limit_scope: LimitScope
    """What the limits count: ``"run"`` (default) the calls of one run; ``"process"`` every call
    of this tool object, as Agent Framework does (one caller's failures then disable the tool
    for every other session until the process restarts: opt in knowingly)."""
    invocation_count: int
    """How many times the function was run in this process (statistics)."""
    invocation_exception_count: int
    """How many of those runs raised."""

    def __init__(
        self,
        func: Callable[..., Any] | None = None,
        *,
        name: str | None = None,
        description: str | None = None,
        approval_mode: ApprovalMode | None = None,
        max_invocations: int | None = None,
        max_invocation_exceptions: int | None = None,
        result_parser: ResultParser | _SkipParsing | None = None,
        kind: str = "function",
        additional_properties: Mapping[str, Any] | None = None,
        schema: type[BaseModel] | Mapping[str, Any] | None = None,
        limit_scope: LimitScope = "run",
    ) -> None:
        if isinstance(func, FunctionTool):
            if func.func is None:
                raise TypeError(f"{func!r} is declaration-only; there is no function to wrap again")
            func = func.func  # re-wrapping a tool with other options
        if func is not None and not callable(func):
            raise TypeError(f"FunctionTool needs a callable, got {type(func).__name__}: {func!r:.200}")
        if func is None:
            if name is None:
                raise ValueError("a declaration-only FunctionTool (func=None) needs name=...")
            own_name, doc, label = name, None, f"'{name}'"
        else:
            own_name, doc, label = callable_identity(func)
        self.name = check_tool_name(name if name is not None else own_name, f"tool function {label}")
        parsed = parse_docstring(doc)
        self.description = parsed.description if description is None else description
        mode = approval_mode if approval_mode is not None else "never_require"
        if mode not in APPROVAL_MODES:
            raise ValueError(
                f"approval_mode of tool '{self.name}' must be one of {', '.join(map(repr, APPROVAL_MODES))}, "
                f"got {approval_mode!r}"
            )
        self.approval_mode = mode
        self.max_invocations = _positive(max_invocations, "max_invocations", self.name)
        self.max_invocation_exceptions = _positive(
            max_invocation_exceptions, "max_invocation_exceptions", self.name
        )
        if not (result_parser is None or callable(result_parser) or isinstance(result_parser, _SkipParsing)):
            raise TypeError(f"result_parser of tool '{self.name}' must be callable or SKIP_PARSING")
        self.result_parser = result_parser
        self.kind = kind
        self.additional_properties = dict(additional_properties or {})
        self.func = func
        if limit_scope not in ("run", "process"):
            raise ValueError(
                f"limit_scope of tool '{self.name}' must be 'run' or 'process', got {limit_scope!r}"
            )
        self.limit_scope = limit_scope
        self.invocation_count = 0
        self.invocation_exception_count = 0
        self._signature: SignatureInfo | None = None
        self._is_async = False
        if func is not None:
            self._signature = inspect_signature(func, label)
            self._is_async = is_async_callable(func)
        self._arguments: ModelArguments | SchemaArguments
        self._parameters: dict[str, Any]
        self._renames: dict[str, str] = {}
        self._setup_schema(schema, parsed.params, func, label)

    def _setup_schema(
        self,
        schema: type[BaseModel] | Mapping[str, Any] | None,
        param_docs: Mapping[str, str],
        func: Callable[..., Any] | None,
        label: str,
    ) -> None:
        sig = self._signature
        if isinstance(schema, type) and issubclass(schema, BaseModel):
            self._parameters = model_schema(schema)
            fields = [(f.alias or n, n) for n, f in schema.model_fields.items()]
            self._arguments = ModelArguments(schema, fields)
            # An aliased field reaches the function under its Python name.
            self._renames = {alias: n for alias, n in fields if alias != n}
            self._check_explicit_schema([n for _, n in fields], label)
        elif isinstance(schema, Mapping):
            if schema.get("type", "object") != "object":
                raise ValueError(f"the schema of tool '{self.name}' must describe an object (type: object)")
            self._parameters = copy.deepcopy(dict(schema))
            self._arguments = SchemaArguments(JsonSchemaValidator(self._parameters, f"tool '{self.name}'"))
            self._check_explicit_schema(list(self._parameters.get("properties") or {}), label)
        elif schema is not None:
            raise TypeError(
                f"schema of tool '{self.name}' must be a pydantic model class or a JSON Schema dict, "
                f"got {type(schema).__name__}"
            )
        elif sig is None:
            self._parameters = dict(_EMPTY_OBJECT)
            self._arguments = SchemaArguments(JsonSchemaValidator(self._parameters, f"tool '{self.name}'"))
        else:
            module = getattr(func, "__module__", None)
            model, self._parameters = build_arguments_model(self.name, sig, param_docs, module, label)
            self._arguments = ModelArguments(model, [(p.name, p.field) for p in sig.data])

    def _check_explicit_schema(self, properties: list[str], label: str) -> None:
        # An explicit schema replaces the signature for the model, so make sure the
        # function can actually be called with what the schema lets the model send.
        sig = self._signature
        if sig is None:
            return
        empty = inspect.Parameter.empty
        required = [p.name for p in sig.data if p.default is empty and p.name not in properties]
        if required:
            raise ValueError(
                f"tool function {label} requires parameter(s) {', '.join(required)} "
                f"that the schema of tool '{self.name}' does not define"
            )
        unknown = [p for p in properties if p not in sig.names or p in sig.context]
        if unknown and not sig.var_keyword:
            raise ValueError(
                f"the schema of tool '{self.name}' defines {', '.join(unknown)} but tool function "
                f"{label} has no such parameter(s) (and no **kwargs)"
            )

    @property
    def parameters(self) -> dict[str, Any]:
        """The JSON Schema of the arguments (an object schema). Shared: do not mutate it."""
        return self._parameters

    @property
    def declaration_only(self) -> bool:
        """``True`` when there is no implementation to run (``func=None``)."""
        return self.func is None

    def validate_arguments(self, arguments: Mapping[str, Any]) -> dict[str, Any]:
        """Validate (and coerce) arguments; raises :class:`ToolArgumentsError` listing problems."""
        return self._arguments.validate(self.name, arguments)

    def _counts(self, usage: ToolUsage | None) -> tuple[int, int]:
        if self.limit_scope == "run" and usage is not None:
            return usage.calls.get(self.name, 0), usage.errors.get(self.name, 0)
        return self.invocation_count, self.invocation_exception_count

    def _check_limits(self, usage: ToolUsage | None) -> None:
        calls, errors = self._counts(usage)
        if self.max_invocations is not None and calls >= self.max_invocations:
            raise ToolError(
                f"the tool '{self.name}' may be called at most {self.max_invocations} time(s) and that "
                "limit has been reached; it was not run. Do not call it again; continue without it."
            )
        limit = self.max_invocation_exceptions
        if limit is not None and errors >= limit:
            raise ToolError(
                f"the tool '{self.name}' failed {errors} time(s) and is no longer "
                "available; it was not run. Do not call it again; continue without it."
            )

    def _bind(
        self, values: dict[str, Any], context: FunctionInvocationContext
    ) -> tuple[list[Any], dict[str, Any]]:
        sig = self._signature
        assert sig is not None
        kwargs = dict(values)
        for json_name, py_name in self._renames.items():
            if json_name in kwargs:
                kwargs[py_name] = kwargs.pop(json_name)
        if not sig.var_keyword:
            unknown = [k for k in kwargs if k not in sig.names or k in sig.context]
            if unknown:
                raise ToolArgumentsError(
                    f"invalid arguments for tool '{self.name}':\n"
                    f"- unexpected argument(s): {', '.join(unknown)}"
                )
        for name in sig.context:
            kwargs[name] = context
        if sig.var_keyword:
            for key, value in context.function_invocation_kwargs.items():
                if key not in sig.names:
                    kwargs.setdefault(key, value)
        args = []
        for name in sig.positional_only:
            if name not in kwargs:
                break
            args.append(kwargs.pop(name))
        return args, kwargs

    async def invoke(
        self, arguments: Mapping[str, Any], context: FunctionInvocationContext | None = None
    ) -> Any:
        """Validate ``arguments``, run the function and return its raw result.

        Sync functions run in a worker thread so a blocking tool never blocks the
        event loop. Raises :class:`ToolError` when the tool is declaration-only or a
        limit is reached, :class:`ToolArgumentsError` for invalid arguments, and
        whatever the function raises.
        """
        func = self.func
        if func is None:
            raise ToolError(
                f"the tool '{self.name}' is declaration-only: it has no implementation in this process and "
                "cannot be run here."
            )
        usage = context.usage if context is not None else None
        self._check_limits(usage)
        values = self.validate_arguments(arguments)
        if context is None:
            context = FunctionInvocationContext(tool=self, arguments=values)
        args, kwargs = self._bind(values, context)
        # Counted before the first await, so parallel calls cannot overshoot a limit.
        self.invocation_count += 1
        if usage is not None:
            usage.calls[self.name] = usage.calls.get(self.name, 0) + 1
        try:
            if self._is_async:
                result = await func(*args, **kwargs)
            else:
                result = await asyncio.to_thread(func, *args, **kwargs)
                if inspect.isawaitable(result):
                    result = await result
        except Exception:
            self.invocation_exception_count += 1
            if usage is not None:
                usage.errors[self.name] = usage.errors.get(self.name, 0) + 1
            raise
        return result

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """Call the function directly (no validation, limits or counting)."""
        if self.func is None:
            raise ToolError(f"the tool '{self.name}' is declaration-only and has no function to call")
        return self.func(*args, **kwargs)

    def __repr__(self) -> str:
        target = "declaration-only" if self.func is None else f"func={self.func!r:.120}"
        return f"FunctionTool(name={self.name!r}, {target})"


@overload
def tool(
    func: Callable[..., Any],
    /,
    *,
    name: str | None = None,
    description: str | None = None,
    approval_mode: ApprovalMode | None = None,
    max_invocations: int | None = None,
    max_invocation_exceptions: int | None = None,
    result_parser: ResultParser | _SkipParsing | None = None,
    kind: str = "function",
    additional_properties: Mapping[str, Any] | None = None,
    schema: type[BaseModel] | Mapping[str, Any] | None = None,
    limit_scope: LimitScope = "run",
) -> FunctionTool: ...


@overload
def tool(
    func: None = None,
    /,
    *,
    name: str | None = None,
    description: str | None = None,
    approval_mode: ApprovalMode | None = None,
    max_invocations: int | None = None,
    max_invocation_exceptions: int | None = None,
    result_parser: ResultParser | _SkipParsing | None = None,
    kind: str = "function",
    additional_properties: Mapping[str, Any] | None = None,
    schema: type[BaseModel] | Mapping[str, Any] | None = None,
    limit_scope: LimitScope = "run",
) -> Callable[[Callable[..., Any]], FunctionTool]: ...


def tool(
    func: Callable[..., Any] | None = None,
    /,
    *,
    name: str | None = None,
    description: str | None = None,
    approval_mode: ApprovalMode | None = None,
    max_invocations: int | None = None,
    max_invocation_exceptions: int | None = None,
    result_parser: ResultParser | _SkipParsing | None = None,
    kind: str = "function",
    additional_properties: Mapping[str, Any] | None = None,
    schema: type[BaseModel] | Mapping[str, Any] | None = None,
    limit_scope: LimitScope = "run",
) -> FunctionTool | Callable[[Callable[..., Any]], FunctionTool]:
    """Make a :class:`FunctionTool`: ``@tool``, ``@tool(name=...)`` or ``tool(fn, ...)``."""

    def wrap(fn: Callable[..., Any]) -> FunctionTool:
        return FunctionTool(
            fn,
            name=name,
            description=description,
            approval_mode=approval_mode,
            max_invocations=max_invocations,
            max_invocation_exceptions=max_invocation_exceptions,
            result_parser=result_parser,
            kind=kind,
            additional_properties=additional_properties,
            schema=schema,
            limit_scope=limit_scope,
        )

    return wrap if func is None else wrap(func)
