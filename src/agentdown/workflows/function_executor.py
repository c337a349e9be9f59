"""``FunctionExecutor`` and ``@executor``: a plain function as a graph node."""

from __future__ import annotations

import asyncio
import dataclasses
import inspect
from collections.abc import Callable
from typing import Any, overload

from agentdown.workflows.context import WorkflowContext
from agentdown.workflows.errors import HandlerSignatureError
from agentdown.workflows.executor import Executor, build_spec
from agentdown.workflows.typing_utils import flatten

__all__ = ["FunctionExecutor", "executor"]


class FunctionExecutor(Executor):
    """An executor whose one handler is ``func(message)`` or ``func(message, ctx)``.

    ``func`` may be async or sync; a sync function runs in a worker thread so it cannot
    stall the other executors of its superstep. Its non-None return value is sent along
    the executor's outgoing edges, or yielded as a workflow output when it has none (MAF
    1.23 ignores return values; its documentation, which our users follow, uses them).
    The id defaults to the function's name.
    """

    def __init__(
        self,
        func: Callable[..., Any],
        id: str | None = None,
        *,
        input: Any = None,
        output: Any = None,
        workflow_output: Any = None,
    ) -> None:
        if isinstance(func, staticmethod | classmethod):
            raise HandlerSignatureError(
                "@executor cannot wrap a staticmethod or classmethod; write an Executor subclass with @handler"
            )
        if not callable(func):
            raise HandlerSignatureError(f"FunctionExecutor needs a function, got {func!r}")
        name = getattr(func, "__name__", type(func).__name__)
        super().__init__(id or name)
        self.func = func
        """The wrapped function, as given."""
        params = list(inspect.signature(func).parameters.values())
        takes_ctx = len(params) == 2
        is_async = inspect.iscoroutinefunction(func)

        async def call(message: Any, ctx: WorkflowContext[Any, Any]) -> Any:
            args = (message, ctx) if takes_ctx else (message,)
            if is_async:
                return await func(*args)
            return await asyncio.to_thread(func, *args)

        spec = build_spec(func, call, None, f"function executor {self.id!r}", skip_self=False)
        # Each explicit type replaces what the annotations said about that one thing.
        if input is not None:
            spec = dataclasses.replace(spec, input_types=flatten(input))
        if output is not None:
            spec = dataclasses.replace(spec, output_types=flatten(output))
        if workflow_output is not None:
            spec = dataclasses.replace(spec, workflow_output_types=flatten(workflow_output))
        self.handlers.append(spec)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """Call the wrapped function directly (handy in unit tests of the function itself)."""
        return self.func(*args, **kwargs)


@overload
def executor(func: Callable[..., Any], /) -> FunctionExecutor: ...
@overload
def executor(
    *, id: str | None = None, input: Any = None, output: Any = None, workflow_output: Any = None
) -> Callable[[Callable[..., Any]], FunctionExecutor]: ...
def executor(
    func: Callable[..., Any] | None = None,
    /,
    *,
    id: str | None = None,
    input: Any = None,
    output: Any = None,
    workflow_output: Any = None,
) -> FunctionExecutor | Callable[[Callable[..., Any]], FunctionExecutor]:
    """Turn a function into a :class:`FunctionExecutor`: ``@executor`` or ``@executor(id="...")``.

    ``input=`` / ``output=`` / ``workflow_output=`` override the types the annotations give.
    """
    if func is not None:
        return FunctionExecutor(func, id=id, input=input, output=output, workflow_output=workflow_output)
    return lambda f: FunctionExecutor(f, id=id, input=input, output=output, workflow_output=workflow_output)
