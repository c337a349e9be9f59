"""agentdown's versions of the tool decorators of the Azure Functions agents runtime and Agent Framework.

Tool modules written for that runtime import ``tool`` / ``workflow_tool`` from
``azure_functions_agents`` or ``tool`` / ``FunctionTool`` from ``agent_framework``.
The objects here behave as those do where it matters to a tool module, and build
agentdown :class:`~agentdown.tools.FunctionTool` objects:

* ``tool(fn, name=, description=, schema=Model, **options)``: with ``schema``, the
  function takes one argument, an instance of ``Model``, and the model sees the
  model's fields as the tool's parameters (the other runtime's convention);
* a plain function whose only parameter is a pydantic model gets the same treatment
  when ``tools/`` discovery wraps it (:func:`plain_function_tool`);
* ``workflow_tool`` (:mod:`agentdown.workflows.planned.tools`) marks a callable for
  planned workflows: a marked plain function is a workflow tool, not an agent tool (as there).
"""

from __future__ import annotations

import inspect
import typing
from collections.abc import Callable, Mapping
from typing import Any

from pydantic import BaseModel

from agentdown.tools.callables import is_async_callable
from agentdown.tools.function import FunctionTool as _FunctionTool
from agentdown.workflows.planned.marks import (
    WORKFLOW_TOOL_ATTRIBUTE,
    WorkflowToolMark,
    is_workflow_tool,
    workflow_tool,
    workflow_tool_mark,
)

__all__ = [
    "WORKFLOW_TOOL_ATTRIBUTE",
    "AgentFrameworkFunctionTool",
    "WorkflowToolMark",
    "agent_framework_tool",
    "functions_tool",
    "is_workflow_tool",
    "plain_function_tool",
    "single_model_parameter",
    "workflow_tool",
    "workflow_tool_mark",
]


def single_model_parameter(func: Callable[..., Any]) -> type[BaseModel] | None:
    """The pydantic model ``func``'s only parameter is annotated with, else ``None``."""
    try:
        params = [
            p
            for p in inspect.signature(func).parameters.values()
            if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY, p.POSITIONAL_ONLY)
        ]
        hints = typing.get_type_hints(func) if len(params) == 1 else {}
    except Exception:  # unresolvable annotations: the signature decides, as for any function
        return None
    if len(params) != 1:
        return None
    annotation = hints.get(params[0].name, params[0].annotation)
    return annotation if isinstance(annotation, type) and issubclass(annotation, BaseModel) else None


def _takes_model(func: Callable[..., Any], model: type[BaseModel]) -> Callable[..., Any]:
    """A function of the model's fields (keyword arguments) that calls ``func(model(...))``."""
    aliases = {name: field.alias or name for name, field in model.model_fields.items()}

    def build(kwargs: Mapping[str, Any]) -> BaseModel:
        return model.model_validate({aliases.get(k, k): v for k, v in kwargs.items()})

    if is_async_callable(func):

        async def call_async(**kwargs: Any) -> Any:
            return await func(build(kwargs))

        wrapper: Callable[..., Any] = call_async
    else:

        def call(**kwargs: Any) -> Any:
            return func(build(kwargs))

        wrapper = call
    for attr in ("__name__", "__qualname__", "__doc__", "__module__"):
        setattr(wrapper, attr, getattr(func, attr, None))
    # The schema comes from the model; the signature only has to accept its fields.
    wrapper.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        [inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY) for name in model.model_fields]
    )
    return wrapper


def _function_tool(
    func: Callable[..., Any], name: str | None, description: str | None, schema: Any, options: dict[str, Any]
) -> _FunctionTool:
    if isinstance(schema, type) and issubclass(schema, BaseModel):
        # The other runtime's meaning of schema=: the function takes the model instance.
        params = list(inspect.signature(func).parameters)
        if len(params) == 1 and params[0] not in schema.model_fields:
            return _FunctionTool(
                _takes_model(func, schema),
                name=name or getattr(func, "__name__", None),
                description=description,
                schema=schema,
                **options,
            )
    return _FunctionTool(func, name=name, description=description, schema=schema, **options)


def functions_tool(
    func: Callable[..., Any] | None = None,
    *,
    name: str | None = None,
    description: str | None = None,
    schema: Any = None,
    **options: Any,
) -> Any:
    """``azure_functions_agents.tool``: ``@tool``, ``@tool(name=..., schema=Model)`` or ``tool(fn, ...)``."""

    def decorate(inner: Callable[..., Any]) -> _FunctionTool:
        return _function_tool(inner, name, description, schema, options)

    return decorate if func is None else decorate(func)


class AgentFrameworkFunctionTool(_FunctionTool):
    """``agent_framework.FunctionTool``: agentdown's ``FunctionTool`` taking ``input_model=`` too."""

    def __init__(
        self,
        func: Callable[..., Any] | None = None,
        *,
        input_model: Any = None,
        **options: Any,
    ) -> None:
        if input_model is not None and options.get("schema") is None:
            options["schema"] = input_model
        if func is not None and isinstance(options.get("schema"), type):
            model = options["schema"]
            params = list(inspect.signature(func).parameters)
            if issubclass(model, BaseModel) and len(params) == 1 and params[0] not in model.model_fields:
                options.setdefault("name", getattr(func, "__name__", None))
                func = _takes_model(func, model)
        super().__init__(func, **options)


def agent_framework_tool(func: Callable[..., Any] | None = None, **options: Any) -> Any:
    """``agent_framework.tool`` (formerly ``ai_function``): Agent Framework's option names are agentdown's."""

    def decorate(inner: Callable[..., Any]) -> _FunctionTool:
        return AgentFrameworkFunctionTool(inner, **options)

    return decorate if func is None else decorate(func)


def plain_function_tool(func: Callable[..., Any], name: str) -> _FunctionTool:
    """A tool for a plain public function of a tool module (no decorator), as the other runtime makes it.

    A function whose only parameter is a pydantic model is offered with the model's fields
    as its parameters and called with a model instance; any other function as itself.
    """
    model = single_model_parameter(func)
    if model is not None:
        return _FunctionTool(_takes_model(func, model), name=name, schema=model)
    return _FunctionTool(func, name=name)
