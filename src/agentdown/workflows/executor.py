"""``Executor`` and its ``@handler`` / ``@response_handler`` methods: a graph node and the types it handles."""

from __future__ import annotations

import inspect
import typing
import weakref
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar, get_args, get_origin, overload

from agentdown.workflows.context import WorkflowContext
from agentdown.workflows.errors import HandlerSignatureError, UnhandledMessageError
from agentdown.workflows.typing_utils import flatten, is_instance_of, type_name

__all__ = ["Executor", "HandlerSpec", "ResponseHandlerSpec", "handler", "response_handler"]

F = TypeVar("F", bound=Callable[..., Any])

_HANDLER_MARK = "__workflow_handler__"
_RESPONSE_MARK = "__workflow_response_handler__"
_EMPTY = inspect.Parameter.empty


@dataclass(frozen=True, slots=True)
class HandlerSpec:
    """One way an executor handles messages: what it takes, and what it may send and yield."""

    name: str
    call: Callable[[Any, WorkflowContext[Any, Any]], Awaitable[Any]]
    input_types: tuple[Any, ...]
    output_types: tuple[Any, ...]
    workflow_output_types: tuple[Any, ...]


@dataclass(frozen=True, slots=True)
class ResponseHandlerSpec:
    """A handler of the answer to a ``request_info``: ``(original_request, response, ctx)``."""

    name: str
    call: Callable[[Any, Any, WorkflowContext[Any, Any]], Awaitable[Any]]
    request_types: tuple[Any, ...]
    response_types: tuple[Any, ...]
    output_types: tuple[Any, ...]
    workflow_output_types: tuple[Any, ...]


@dataclass(frozen=True, slots=True)
class _Declared:
    """What a decorator recorded on a method; types are resolved when the executor is created."""

    explicit: dict[str, Any] | None


def _explicit(**types: Any) -> dict[str, Any] | None:
    given = {k: v for k, v in types.items() if v is not None}
    return given or None


@overload
def handler(func: F, /) -> F: ...
@overload
def handler(*, input: Any = None, output: Any = None, workflow_output: Any = None) -> Callable[[F], F]: ...
def handler(
    func: F | None = None, /, *, input: Any = None, output: Any = None, workflow_output: Any = None
) -> F | Callable[[F], F]:
    """Mark an ``async def name(self, message: T, ctx: WorkflowContext[U, V])`` method as a handler.

    Types come from the annotations, or (all of them) from ``input=`` / ``output=`` /
    ``workflow_output=`` when any is given. A non-None return value is sent on (or
    yielded when the executor has no outgoing edges), so its annotation counts as output.
    """

    def mark(f: F) -> F:
        setattr(
            f,
            _HANDLER_MARK,
            _Declared(_explicit(input=input, output=output, workflow_output=workflow_output)),
        )
        return f

    return mark(func) if func is not None else mark


@overload
def response_handler(func: F, /) -> F: ...
@overload
def response_handler(
    *, request: Any = None, response: Any = None, output: Any = None, workflow_output: Any = None
) -> Callable[[F], F]: ...
def response_handler(
    func: F | None = None,
    /,
    *,
    request: Any = None,
    response: Any = None,
    output: Any = None,
    workflow_output: Any = None,
) -> F | Callable[[F], F]:
    """Mark ``async def name(self, original_request: R, response: T, ctx)`` as the handler of answers.

    It receives the answer to a ``ctx.request_info(R(...), T)`` this executor made.
    """

    def mark(f: F) -> F:
        declared = _explicit(
            request=request, response=response, output=output, workflow_output=workflow_output
        )
        setattr(f, _RESPONSE_MARK, _Declared(declared))
        return f

    return mark(func) if func is not None else mark


def _hints(func: Callable[..., Any], where: str) -> dict[str, Any]:
    try:
        return typing.get_type_hints(func)
    except Exception as exc:
        raise HandlerSignatureError(
            f"{where}: cannot resolve the annotations ({exc}); types a handler names must be importable "
            "from its module (not defined inside a function)"
        ) from exc


def context_types(annotation: Any, where: str) -> tuple[tuple[Any, ...], tuple[Any, ...]]:
    """``(output types, workflow output types)`` a ``WorkflowContext[...]`` annotation declares."""
    if annotation is _EMPTY or annotation is WorkflowContext:
        return (), ()
    if get_origin(annotation) is not WorkflowContext:
        raise HandlerSignatureError(
            f"{where}: the context parameter must be a WorkflowContext, got {annotation!r}"
        )
    args = get_args(annotation)
    out = flatten(args[0]) if args else ()
    w_out = flatten(args[1]) if len(args) > 1 else ()
    return out, w_out


def _returned(hints: dict[str, Any]) -> tuple[Any, ...]:
    if "return" not in hints:
        return ()
    return tuple(t for t in flatten(hints["return"]) if t is not type(None))


def build_spec(
    func: Callable[..., Any],
    bound: Callable[[Any, WorkflowContext[Any, Any]], Awaitable[Any]],
    explicit: dict[str, Any] | None,
    where: str,
    *,
    skip_self: bool,
) -> HandlerSpec:
    """Read a handler's types from ``explicit`` or from ``func``'s annotations."""
    params = list(inspect.signature(func).parameters.values())[1 if skip_self else 0 :]
    if not 1 <= len(params) <= 2 or any(
        p.kind not in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) for p in params
    ):
        raise HandlerSignatureError(
            f"{where}: a handler takes (message) or (message, ctx), got {len(params)} parameters"
        )
    if explicit is not None:
        if "input" not in explicit:
            raise HandlerSignatureError(f"{where}: explicit handler types need input=")
        return HandlerSpec(
            func.__name__,
            bound,
            flatten(explicit["input"]),
            flatten(explicit.get("output", typing.Never)),
            flatten(explicit.get("workflow_output", typing.Never)),
        )
    hints = _hints(func, where)
    message_type = hints.get(params[0].name, Any)
    out, w_out = context_types(hints.get(params[1].name, _EMPTY) if len(params) == 2 else _EMPTY, where)
    returned = _returned(hints)
    return HandlerSpec(
        func.__name__,
        bound,
        flatten(message_type),
        tuple(dict.fromkeys((*out, *returned))),
        tuple(dict.fromkeys((*w_out, *returned))),
    )


class Executor:
    """A node of a workflow graph: subclass it and write ``@handler`` methods.

    >>> class Upper(Executor):
    ...     @handler
    ...     async def run(self, text: str, ctx: WorkflowContext[str]) -> None:
    ...         await ctx.send_message(text.upper())
    """

    id: str
    """The executor's id, unique in a workflow; edges, events and ``target_id`` use it."""

    def __init__(self, id: str) -> None:
        if not isinstance(id, str) or not id:
            raise HandlerSignatureError(f"an executor id must be a non-empty string, got {id!r}")
        self.id = id
        self.handlers: list[HandlerSpec] = []
        """The handlers in definition order; the first whose input type matches a message takes it."""
        self.response_handlers: list[ResponseHandlerSpec] = []
        self._collect()

    def _collect(self) -> None:
        where = type(self).__qualname__
        for name in _marked_names(type(self)):
            func = getattr(type(self), name)
            method = getattr(self, name)
            if (decl := getattr(func, _HANDLER_MARK, None)) is not None:
                self.handlers.append(
                    build_spec(func, method, decl.explicit, f"{where}.{name}", skip_self=True)
                )
            if (decl := getattr(func, _RESPONSE_MARK, None)) is not None:
                self.response_handlers.append(_response_spec(func, method, decl.explicit, f"{where}.{name}"))

    def __repr__(self) -> str:
        return f"{type(self).__name__}(id={self.id!r})"

    @property
    def input_types(self) -> list[Any]:
        """Every message type some handler accepts."""
        return list(dict.fromkeys(t for h in self.handlers for t in h.input_types))

    @property
    def output_types(self) -> list[Any]:
        """Every type a handler may send (``WorkflowContext``'s first parameter, return annotations)."""
        specs: list[HandlerSpec | ResponseHandlerSpec] = [*self.handlers, *self.response_handlers]
        return list(dict.fromkeys(t for h in specs for t in h.output_types))

    @property
    def workflow_output_types(self) -> list[Any]:
        """Every type a handler may yield as workflow output."""
        specs: list[HandlerSpec | ResponseHandlerSpec] = [*self.handlers, *self.response_handlers]
        return list(dict.fromkeys(t for h in specs for t in h.workflow_output_types))

    def find_handler(self, message: Any) -> HandlerSpec | None:
        """The handler for ``message``: one declared for its exact type, else the first that accepts it."""
        exact = type(message)
        for spec in self.handlers:
            if exact in spec.input_types:
                return spec
        for spec in self.handlers:
            if any(is_instance_of(message, t) for t in spec.input_types):
                return spec
        return None

    def can_handle(self, message: Any) -> bool:
        """Whether some handler accepts ``message``."""
        return self.find_handler(message) is not None

    def find_response_handler(self, request: Any, response: Any) -> ResponseHandlerSpec | None:
        """The ``@response_handler`` for an answer ``response`` to ``request``."""
        for spec in self.response_handlers:
            if any(is_instance_of(request, t) for t in spec.request_types) and any(
                is_instance_of(response, t) for t in spec.response_types
            ):
                return spec
        return None

    async def execute(self, message: Any, ctx: WorkflowContext[Any, Any]) -> Any:
        """Run the handler for ``message``; raises :class:`UnhandledMessageError` when none takes it."""
        spec = self.find_handler(message)
        if spec is None:
            raise UnhandledMessageError(
                f"executor {self.id!r} has no handler for a message of type {type_name(type(message))} "
                f"(it accepts {', '.join(type_name(t) for t in self.input_types) or 'nothing'})"
            )
        return await spec.call(message, ctx)

    def signature_parts(self) -> list[str]:
        """What besides its id, class and types makes this executor part of the graph signature."""
        return []

    async def on_checkpoint_save(self) -> dict[str, Any]:
        """What this executor keeps between supersteps, saved in checkpoints (JSON-codable)."""
        return {}

    async def on_checkpoint_restore(self, state: dict[str, Any]) -> None:
        """Take back what :meth:`on_checkpoint_save` returned."""


_NAMES: weakref.WeakKeyDictionary[type, tuple[str, ...]] = weakref.WeakKeyDictionary()
"""Handler method names by class: scanning the MRO once per class, not once per instance."""


def _marked_names(cls: type) -> tuple[str, ...]:
    cached = _NAMES.get(cls)
    if cached is not None:
        return cached
    names: list[str] = []
    for klass in reversed(cls.__mro__):
        for name, value in vars(klass).items():
            marked = hasattr(value, _HANDLER_MARK) or hasattr(value, _RESPONSE_MARK)
            if marked and name not in names:
                names.append(name)
    _NAMES[cls] = found = tuple(names)
    return found


def _response_spec(
    func: Callable[..., Any],
    bound: Callable[..., Awaitable[Any]],
    explicit: dict[str, Any] | None,
    where: str,
) -> ResponseHandlerSpec:
    params = list(inspect.signature(func).parameters.values())[1:]
    if len(params) != 3:
        raise HandlerSignatureError(f"{where}: a response handler takes (original_request, response, ctx)")
    if explicit is not None:
        if "request" not in explicit or "response" not in explicit:
            raise HandlerSignatureError(
                f"{where}: explicit response handler types need request= and response="
            )
        return ResponseHandlerSpec(
            func.__name__,
            bound,
            flatten(explicit["request"]),
            flatten(explicit["response"]),
            flatten(explicit.get("output", typing.Never)),
            flatten(explicit.get("workflow_output", typing.Never)),
        )
    hints = _hints(func, where)
    out, w_out = context_types(hints.get(params[2].name, _EMPTY), where)
    returned = _returned(hints)
    return ResponseHandlerSpec(
        func.__name__,
        bound,
        flatten(hints.get(params[0].name, Any)),
        flatten(hints.get(params[1].name, Any)),
        tuple(dict.fromkeys((*out, *returned))),
        tuple(dict.fromkeys((*w_out, *returned))),
    )
