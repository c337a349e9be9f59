"""Function middleware: code that runs around every tool call.

A middleware receives the :class:`FunctionInvocationContext` and ``call_next``.
Before ``await call_next()`` it may inspect or rewrite ``context.arguments``; after
it, ``context.result``. It may also skip ``call_next`` and set ``context.result``
itself, or raise :class:`MiddlewareTermination` to end the call with a result.
Exceptions of the tool propagate out of ``call_next`` so a middleware can catch,
retry or translate them. The first middleware given is the outermost.

Accepted forms: an async function decorated with :func:`function_middleware`; an
async function whose first parameter is annotated ``FunctionInvocationContext``;
an object with an ``async process(context, call_next)`` method (subclassing
:class:`FunctionMiddleware` is optional).
"""

from __future__ import annotations

import contextlib
import inspect
import weakref
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any, Final, Protocol, TypeVar

from agentdown.tools.context import FunctionInvocationContext
from agentdown.tools.schema import is_context_annotation, resolve_annotation

__all__ = [
    "CallNext",
    "FunctionMiddleware",
    "FunctionMiddlewareCallable",
    "MiddlewareTermination",
    "function_middleware",
    "normalize_function_middleware",
    "normalize_middleware",
    "resolve_function_middleware",
    "run_function_middleware",
]


class CallNext(Protocol):
    """Runs the rest of the chain (and the tool). The context argument is optional."""

    def __call__(self, context: FunctionInvocationContext | None = None) -> Awaitable[None]: ...


FunctionMiddlewareCallable = Callable[[FunctionInvocationContext, CallNext], Awaitable[None]]
F = TypeVar("F", bound=Callable[..., Any])

_MARK: Final = "__agentdown_function_middleware__"
_UNSET: Any = object()


class MiddlewareTermination(Exception):
    """Raised by a function middleware to end the call early with ``result``.

    This is not an error: the model reads ``result`` as the tool's result. Without
    ``result=``, the context's current ``result`` is used.
    """

    def __init__(self, message: str = "function middleware ended the call", *, result: Any = _UNSET) -> None:
        super().__init__(message)
        self.result = result
        """The call's result (unset: keep ``context.result``)."""

    @property
    def has_result(self) -> bool:
        """Whether ``result=`` was given."""
        return self.result is not _UNSET


class FunctionMiddleware(ABC):
    """Optional base class of class-based function middleware."""

    @abstractmethod
    async def process(self, context: FunctionInvocationContext, call_next: CallNext) -> None:
        """Run around the call; ``await call_next()`` runs the tool."""


def function_middleware(func: F) -> F:
    """Mark an ``async def (context, call_next)`` function as function middleware."""
    if not inspect.iscoroutinefunction(func):
        raise TypeError(f"@function_middleware needs an async function, got {func!r:.200}")
    try:
        inspect.signature(func).bind(None, None)
    except TypeError as exc:
        raise TypeError(f"function middleware {func!r:.200} must accept (context, call_next): {exc}") from exc
    setattr(func, _MARK, True)
    return func


def _first_param_is_context(func: Callable[..., Any]) -> bool:
    try:
        params = list(inspect.signature(func).parameters.values())
    except (TypeError, ValueError):
        return False
    if not params:
        return False
    annotation = params[0].annotation
    # Unresolvable annotation text is left as is: is_context_annotation reads the name.
    with contextlib.suppress(TypeError):
        annotation = resolve_annotation(func, annotation, repr(func), params[0].name)
    return is_context_annotation(annotation)


_ACCEPTED = (
    "an async function decorated with @function_middleware, an async function whose first "
    "parameter is annotated FunctionInvocationContext, or an object with an async "
    "process(context, call_next) method"
)


def _kind(obj: object) -> str:
    """``"process"`` or ``"call"``; raises TypeError for anything else."""
    if isinstance(obj, type):
        raise TypeError(f"{obj.__qualname__} is a class; pass an instance of it as function middleware")
    process = getattr(obj, "process", None)
    if process is not None and not inspect.isroutine(obj):
        if inspect.iscoroutinefunction(process):
            return "process"
        problem = "its process method is not async" if callable(process) else "its process is not callable"
    elif getattr(obj, _MARK, False) is True or (
        inspect.iscoroutinefunction(obj) and _first_param_is_context(obj)
    ):
        return "call"
    elif callable(obj) and not inspect.iscoroutinefunction(obj):
        problem = "it is not an async function"
    elif callable(obj):
        problem = "its first parameter is not annotated FunctionInvocationContext"
    else:
        problem = "it is neither callable nor has a process method"
    raise TypeError(f"{obj!r:.200} is not a function middleware ({problem}); expected {_ACCEPTED}")


# The kind of each middleware object, so a run does not re-inspect signatures per call.
_kinds: weakref.WeakKeyDictionary[Any, str] = weakref.WeakKeyDictionary()


def _resolve(obj: object) -> FunctionMiddlewareCallable:
    try:
        kind = _kinds.get(obj)
    except TypeError:  # unhashable or not weakly referenceable: inspect every time
        kind = None
    if kind is None:
        kind = _kind(obj)
        with contextlib.suppress(TypeError):
            _kinds[obj] = kind
    if kind == "process":
        process: FunctionMiddlewareCallable = obj.process  # type: ignore[attr-defined]
        return process
    function: FunctionMiddlewareCallable = obj  # type: ignore[assignment]
    return function


def normalize_function_middleware(items: Iterable[object] | None) -> list[object]:
    """Check ``items`` and return them as a list; raises ``TypeError`` naming an unusable one.

    Idempotent: the result can be passed to :func:`invoke_tool_call` (or here) again.
    Call it when an agent is built, to report a bad middleware before any run.
    """
    out = list(items or ())
    for item in out:
        _resolve(item)
    return out


normalize_middleware = normalize_function_middleware
"""Alias of :func:`normalize_function_middleware`."""


def resolve_function_middleware(items: Sequence[object]) -> list[FunctionMiddlewareCallable]:
    """The callables to run for ``items`` (their kinds are cached, so this is cheap per call)."""
    return [_resolve(item) for item in items]


async def run_function_middleware(
    chain: Sequence[FunctionMiddlewareCallable],
    context: FunctionInvocationContext,
    final: Callable[[FunctionInvocationContext], Awaitable[None]],
) -> None:
    """Run ``chain`` (from :func:`resolve_function_middleware`, outermost first) around ``final``."""
    if not chain:
        await final(context)
        return

    async def run(index: int, ctx: FunctionInvocationContext) -> None:
        if index == len(chain):
            await final(ctx)
            return

        async def call_next(context: FunctionInvocationContext | None = None) -> None:
            target = ctx if context is None else context
            await run(index + 1, target)
            if target is not ctx:
                # A middleware handed a different context on; its outcome is this call's.
                ctx.result = target.result
                ctx.exception = target.exception

        await chain[index](ctx, call_next)

    await run(0, context)
