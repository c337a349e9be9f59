"""The trigger host: runs an app's timer, queue and blob triggers in this process.

>>> host = TriggerHost(runner)             # resolves settings and storage; no I/O yet
>>> for trigger in host.triggers: print(trigger)
>>> await host.start()                     # creates queues/containers, starts polling
>>> await host.stop()                      # stops polling; lets runs finish, abandons the rest

``agentdown serve`` runs one next to the HTTP server; ``agentdown worker`` runs only
this, so that N workers share the same Azure Storage queues and containers.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from agentdown.app.catalog import AgentCatalog
from agentdown.app.spec import BlobTrigger, QueueTrigger, TimerTrigger
from agentdown.exceptions import ConfigurationError
from agentdown.runtime.queues.base import poison_queue_name, validate_queue_name
from agentdown.runtime.queues.config import (
    DEFAULT_CONNECTION,
    StorageAccount,
    resolve_account,
)
from agentdown.runtime.runner import Runner
from agentdown.runtime.triggers.bindings import BindingError, OutputBinding, PathPattern, parse_output
from agentdown.runtime.triggers.blob import BLOB_POISON_QUEUE, BlobListener
from agentdown.runtime.triggers.invoke import Invoker, TriggerBinding, logger
from agentdown.runtime.triggers.listener import Listener, worker_id
from agentdown.runtime.triggers.ncrontab import Schedule
from agentdown.runtime.triggers.queue import QueueListener
from agentdown.runtime.triggers.resources import Resources
from agentdown.runtime.triggers.settings import TriggerSettings
from agentdown.runtime.triggers.timer import TimerListener

__all__ = ["TriggerDescription", "TriggerHost", "bindings_from_catalog"]

_RESTART_DELAY = 5.0


@dataclass(frozen=True, slots=True)
class TriggerDescription:
    """What the host runs for one agent (read-only; ``str()`` gives one line for logs)."""

    agent: str
    type: str
    """``timer_trigger``, ``queue_trigger`` or ``blob_trigger``."""
    args: Mapping[str, Any]
    """The trigger's arguments as loaded (schedule normalised to six fields)."""
    storage: str
    """Where it listens: the queue or container and its account, or the timer's status store."""
    concurrency: int
    """Runs at once for this trigger (timers: 1)."""
    output: str | None = None
    """Where answers are written besides the log."""
    session_key: str | None = None

    def __str__(self) -> str:
        args = json.dumps(dict(self.args), separators=(",", ":"), default=str)
        parts = [f"{self.agent}: {self.type} {args}", self.storage, f"concurrency {self.concurrency}"]
        if self.output:
            parts.append(f"output: {self.output}")
        if self.session_key:
            parts.append(f"session_key: {self.session_key}")
        return " · ".join(parts)


def bindings_from_catalog(catalog: AgentCatalog) -> list[TriggerBinding]:
    """The event triggers of a catalog (HTTP triggers are the server's), with output and session key.

    ``output`` and ``session_key`` are read from the spec when the loader provides them.
    """
    bindings = []
    for spec in catalog.specs.values():
        if not isinstance(spec.trigger, TimerTrigger | QueueTrigger | BlobTrigger):
            continue
        raw_output = getattr(spec, "output", None)
        try:
            output = parse_output(raw_output) if raw_output is not None else None
        except BindingError as exc:
            raise ConfigurationError(f"{spec.file}: {exc}") from None
        bindings.append(TriggerBinding(spec.slug, spec.trigger, output, getattr(spec, "session_key", None)))
    return bindings


@dataclass(frozen=True, slots=True)
class _Plan:
    binding: TriggerBinding
    account: StorageAccount
    """The trigger's storage (timers: the host storage)."""
    state_account: StorageAccount
    output_account: StorageAccount | None
    description: TriggerDescription


class TriggerHost:
    """Runs the timer, queue and blob triggers of ``runner``'s catalog (see the module docstring).

    ``environ`` (default: the process environment) holds the connection settings and
    the ``AGENTDOWN_*`` trigger settings (:class:`TriggerSettings`); ``concurrency``
    overrides ``AGENTDOWN_TRIGGER_CONCURRENCY``. ``bindings`` replaces the triggers
    read from the catalog (embedding, tests). Storage settings are resolved here, so
    a bad one raises :class:`ConfigurationError` naming it before anything starts.
    """

    def __init__(
        self,
        runner: Runner,
        *,
        environ: Mapping[str, str] | None = None,
        concurrency: int | None = None,
        bindings: Sequence[TriggerBinding] | None = None,
    ) -> None:
        env: Mapping[str, str] = dict(os.environ) if environ is None else environ
        settings = TriggerSettings.from_environ(env)
        if concurrency is not None:
            if concurrency < 1:
                raise ConfigurationError(
                    f"concurrency: expected a whole number of at least 1, got {concurrency}"
                )
            settings = replace(settings, concurrency=concurrency)
        self.runner = runner
        self.settings = settings
        self._environ = env
        self._host_account = resolve_account(DEFAULT_CONNECTION, env)
        chosen = bindings if bindings is not None else bindings_from_catalog(runner.catalog)
        self._plans = tuple(self._plan(b) for b in chosen)
        self._owner = worker_id()
        self._resources = Resources(settings)
        self._listeners: list[Listener] = []
        self._tasks: list[asyncio.Task[None]] = []
        self._state = "new"
        self._stopped = asyncio.Event()
        self._stop_started = False

    # -- what it runs ------------------------------------------------------------------------

    @property
    def triggers(self) -> tuple[TriggerDescription, ...]:
        """One description per trigger this host runs, in catalog order."""
        return tuple(plan.description for plan in self._plans)

    @property
    def running(self) -> bool:
        return self._state == "running"

    def _plan(self, binding: TriggerBinding) -> _Plan:
        trigger, agent = binding.trigger, binding.agent
        where = f"agent '{agent}': trigger.args"
        concurrency = self.settings.concurrency
        try:
            if isinstance(trigger, TimerTrigger):
                Schedule(trigger.schedule)
                account = self._host_account
                concurrency = 1
            elif isinstance(trigger, QueueTrigger):
                if "%" in trigger.queue_name or "$" in trigger.queue_name:
                    raise ValueError(f"queue_name: {trigger.queue_name!r} holds an unset variable")
                validate_queue_name(trigger.queue_name)
                poison_queue_name(trigger.queue_name)
                account = resolve_account(trigger.connection, self._environ)
            else:
                PathPattern(trigger.path)
                account = resolve_account(trigger.connection, self._environ)
                if trigger.source == "EventGrid":
                    logger.info(
                        "%s: source EventGrid is for Azure Functions hosting; here the container is scanned",
                        agent,
                    )
        except ValueError as exc:
            if isinstance(exc, ConfigurationError):
                raise
            raise ConfigurationError(f"{where}: {exc}") from None
        if trigger.type != "timer_trigger" and not account.is_azure and account.setting != DEFAULT_CONNECTION:
            logger.warning(
                "%s: connection setting %s is not set; using the embedded storage %s",
                agent,
                account.setting,
                account.data_dir,
            )
        state_account = self._host_account
        if not state_account.is_azure and account.is_azure:
            state_account = account
        output = binding.output
        output_account = resolve_account(output.connection, self._environ) if output is not None else None
        description = TriggerDescription(
            agent=agent,
            type=trigger.type,
            args=trigger.args,
            storage=self._where(trigger, account, state_account),
            concurrency=concurrency,
            output=_describe_output(output, output_account),
            session_key=binding.session_key,
        )
        return _Plan(binding, account, state_account, output_account, description)

    def _where(
        self,
        trigger: TimerTrigger | QueueTrigger | BlobTrigger,
        account: StorageAccount,
        state: StorageAccount,
    ) -> str:
        if isinstance(trigger, TimerTrigger):
            return f"schedule in {self.settings.time_zone}; status in {state.describe()}"
        if isinstance(trigger, QueueTrigger):
            return f"queue {trigger.queue_name} on {account.describe()}"
        container = trigger.path.strip("/").split("/", 1)[0]
        if account.blobs_dir is not None:
            return f"folder {account.blobs_dir / container}; receipts in {state.describe()}"
        return f"container {container} on {account.describe()}; receipts in {state.describe()}"

    # -- lifecycle -----------------------------------------------------------------------------

    async def start(self) -> None:
        """Check every triggered agent builds, prepare storage, and start listening."""
        if self._state != "new":
            raise RuntimeError(f"TriggerHost.start(): the host is {self._state}; a host starts once")
        self._state = "starting"
        try:
            for plan in self._plans:
                self.runner.agent(plan.binding.agent)  # a missing model fails here, not per message
            self._listeners = [self._listener(plan) for plan in self._plans]
            for listener in self._listeners:
                await listener.start()
                if isinstance(listener.invoker, Invoker) and listener.invoker.output is not None:
                    await listener.invoker.output.start()
        except BaseException:
            await self._resources.aclose()
            self._state = "stopped"
            self._stopped.set()
            raise
        self._tasks = [asyncio.create_task(self._supervise(listener)) for listener in self._listeners]
        self._state = "running"
        for plan in self._plans:
            logger.info("listening: %s", plan.description)

    def _listener(self, plan: _Plan) -> Listener:
        binding, settings, resources = plan.binding, self.settings, self._resources
        output = None
        if binding.output is not None:
            assert plan.output_account is not None
            output = self._resources.output_sink(binding.output, plan.output_account)
        spec = self.runner.catalog.specs.get(binding.agent)
        invoker = Invoker(self.runner, binding, output, log_answers=spec.logger if spec is not None else True)
        trigger = binding.trigger
        if isinstance(trigger, TimerTrigger):
            return TimerListener(
                binding,
                invoker,
                settings,
                schedule=Schedule(trigger.schedule),
                state=resources.state(plan.state_account),
            )
        concurrency = plan.description.concurrency
        queues = resources.queues(plan.account)
        if isinstance(trigger, QueueTrigger):
            return QueueListener(
                binding,
                invoker,
                settings,
                concurrency,
                queue=queues.queue(trigger.queue_name),
                poison=queues.queue(poison_queue_name(trigger.queue_name)),
                polling_interval=settings.polling_interval(queues.kind),
            )
        pattern = PathPattern(trigger.path)
        return BlobListener(
            binding,
            invoker,
            settings,
            concurrency,
            container=resources.container(plan.account, pattern.container),
            pattern=pattern,
            state=resources.state(plan.state_account),
            poison=queues.queue(BLOB_POISON_QUEUE),
            owner=self._owner,
        )

    async def _supervise(self, listener: Listener) -> None:
        while not listener.stopping:
            try:
                await listener.run()
                return
            except Exception:
                logger.exception(
                    "%s: the listener failed; restarting it in %.0f s", listener.label, _RESTART_DELAY
                )
                await listener.sleep(_RESTART_DELAY)

    async def stop(self, *, timeout: float | None = None) -> None:
        """Stop polling; give runs in progress ``timeout`` seconds (default ``AGENTDOWN_DRAIN_SECONDS``)
        to finish, then cancel them so their messages and blobs are delivered again. Idempotent;
        a second call while the first is draining hurries it with its own (shorter) timeout."""
        if self._state in ("new", "stopped"):
            self._state = "stopped"
            self._stopped.set()
            return
        grace = self.settings.drain_seconds if timeout is None else max(0.0, timeout)
        if self._stop_started:
            if grace < self.settings.drain_seconds:
                for listener in self._listeners:
                    listener.hurry()
            await self._stopped.wait()
            return
        self._stop_started = True
        self._state = "stopping"
        try:
            for listener in self._listeners:
                listener.request_stop()
            _, stuck = (
                await asyncio.wait(self._tasks, timeout=max(grace, 1.0)) if self._tasks else ((), set())
            )
            for task in stuck:
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
            await asyncio.gather(*(listener.drain(grace) for listener in self._listeners))
        finally:
            for listener in self._listeners:
                await listener.aclose()
            await self._resources.aclose()
            self._state = "stopped"
            self._stopped.set()
            logger.info("trigger host stopped")

    async def __aenter__(self) -> TriggerHost:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()


def _describe_output(output: OutputBinding | None, account: StorageAccount | None) -> str | None:
    if output is None or account is None:
        return None
    target = f"queue {output.queue_name}" if output.type == "queue_output" else f"blob {output.path}"
    return f"{output.type} {target} on {account.describe()}"
