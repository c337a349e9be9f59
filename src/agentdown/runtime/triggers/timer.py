"""``timer_trigger``: runs on an NCRONTAB schedule, once per occurrence however many workers run.

Every worker keeps the schedule; at each occurrence they race to advance the timer's
status record (``Last`` = this occurrence) with a conditional write, and only the
winner runs it. With ``use_monitor`` (the default) the status also remembers the
``Next`` occurrence, so a worker starting after that moment passed unobserved runs it
once at once with ``past_due: true``, as Azure Functions does. ``run_on_startup``
runs the agent whenever a worker starts (on every worker, like Functions' scale-out).

A timer keeps one status record (``timers/<agent>/status``), so what piles up is the
records of timers no worker runs any more (an agent renamed or removed): a status
whose ``Next`` occurrence (for a schedule that ended, its ``Last``) passed more than
:attr:`TimerListener.stale_after` ago is deleted by the timers still running, at
their start and then hourly. A worker fleet stopped for longer than that loses its
one past-due catch-up run.

Trigger data, as the Functions runtime serializes ``TimerRequest``:
``{"past_due", "schedule_status": {"Last", "Next", "LastUpdated"} | null, "schedule": {"AdjustForDST"}}``.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any

from agentdown.app.spec import TimerTrigger
from agentdown.runtime.queues.base import StorageError
from agentdown.runtime.triggers.invoke import Invoker, TriggerBinding, logger
from agentdown.runtime.triggers.listener import Listener
from agentdown.runtime.triggers.ncrontab import Schedule
from agentdown.runtime.triggers.settings import TriggerSettings
from agentdown.runtime.triggers.state import Record, StateStore

__all__ = ["TimerListener", "next_occurrence"]

PAST_DUE_AFTER = timedelta(seconds=5)
"""A run starting this late is flagged ``past_due`` (a busy or suspended process)."""


def next_occurrence(schedule: Schedule, after: datetime, zone: tzinfo) -> datetime | None:
    """The first occurrence after the aware ``after``, with the schedule read in ``zone``; in UTC."""
    local = after.astimezone(zone).replace(tzinfo=None)
    for _ in range(3):  # a wall-clock time repeated by a DST change may map before ``after``
        found = schedule.next_after(local)
        if found is None:
            return None
        # In the hour a DST change repeats, the wall time is there twice: fold=1 is the second.
        for fold in (0, 1):
            moment = found.replace(tzinfo=zone, fold=fold).astimezone(UTC)
            if moment > after:
                return moment
        local = found
    return None


class TimerListener(Listener):
    stale_after = timedelta(days=7)
    """A timer status whose occurrence passed this long ago unrun belongs to a timer nobody runs."""
    prune_interval = timedelta(hours=1)

    def __init__(
        self,
        binding: TriggerBinding,
        invoker: Invoker,
        settings: TriggerSettings,
        *,
        schedule: Schedule,
        state: StateStore,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        super().__init__(binding, invoker, settings, 1)
        assert isinstance(binding.trigger, TimerTrigger)
        self.trigger: TimerTrigger = binding.trigger
        self.schedule = schedule
        self.state = state
        self.clock = clock or (lambda: datetime.now(UTC))
        self.key = f"timers/{binding.agent}/status"
        self._next_prune: datetime | None = None

    async def start(self) -> None:
        await self.state.start()

    async def run(self) -> None:
        await self._prune_stale()
        if self.trigger.run_on_startup:
            await self._fire(self._data(False, None, self.clock()))
        if self.trigger.use_monitor:
            await self._catch_up()
        zone = self.settings.time_zone
        while not self.stopping:
            due = next_occurrence(self.schedule, self.clock(), zone)
            if due is None:
                logger.error(
                    "%s: schedule %s has no further occurrence", self.label, self.schedule.expression
                )
                return
            if await self.sleep((due - self.clock()).total_seconds()):
                return
            try:
                previous = await self._claim(due)
            except (StorageError, OSError) as exc:
                logger.warning(
                    "%s: could not record the occurrence at %s, skipping it: %s",
                    self.label,
                    due.isoformat(),
                    exc,
                )
                continue
            if previous is None:
                continue  # another worker runs this occurrence
            now = self.clock()
            await self._fire(self._data(now - due > PAST_DUE_AFTER, due, now, previous or None))
            await self._prune_stale()

    async def _catch_up(self) -> None:
        try:
            record = await self.state.get(self.key)
            missed = _time(record.data.get("Next")) if record is not None else None
            now = self.clock()
            if missed is None or missed > now:
                return
            previous = await self._claim(missed, record)
        except (StorageError, OSError) as exc:
            logger.warning("%s: could not check the schedule status for a missed run: %s", self.label, exc)
            return
        if previous is not None:
            logger.info("%s: the occurrence at %s was missed; running it now", self.label, missed.isoformat())
            await self._fire(self._data(True, missed, now, previous or None))

    async def _prune_stale(self) -> None:
        now = self.clock()
        if self._next_prune is not None and now < self._next_prune:
            return
        self._next_prune = now + self.prune_interval
        pruned = 0
        try:
            for key in await self.state.keys("timers/"):
                if key == self.key or self.stopping:
                    continue
                record = await self.state.get(key)
                if record is None:
                    continue
                occurrence = _time(record.data.get("Next")) or _time(record.data.get("Last"))
                # A record without a readable occurrence is not a status this code wrote: left alone.
                if occurrence is not None and now - occurrence > self.stale_after:
                    pruned += await self.state.delete(key, record.version)
        except (StorageError, OSError, ValueError) as exc:
            logger.warning("%s: pruning the status of timers nobody runs failed: %s", self.label, exc)
        if pruned:
            logger.info(
                "%s: pruned the status of %d timers nobody ran for %s", self.label, pruned, self.stale_after
            )

    async def _claim(self, due: datetime, record: Record | None = None) -> dict[str, Any] | None:
        """Advance the status to ``due``; the status before (``{}`` if none), ``None`` if another worker did."""
        if record is None:
            record = await self.state.get(self.key)
        last = _time(record.data.get("Last")) if record is not None else None
        if last is not None and last >= due:
            return None
        following = next_occurrence(self.schedule, due, self.settings.time_zone)
        status = {
            "Last": due.isoformat(),
            "Next": following.isoformat() if following is not None else None,
            "LastUpdated": self.clock().isoformat(),
        }
        if record is None:
            won = await self.state.create(self.key, status)
        else:
            won = await self.state.replace(self.key, status, record.version)
        if won is None:
            return None
        return dict(record.data) if record is not None else {}

    def _data(
        self, past_due: bool, due: datetime | None, now: datetime, previous: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        status = None
        if self.trigger.use_monitor:
            status = {
                "Last": (previous or {}).get("Last"),
                "Next": (due or now).isoformat(),
                "LastUpdated": now.isoformat(),
            }
        return {"past_due": past_due, "schedule_status": status, "schedule": {"AdjustForDST": True}}

    async def _fire(self, data: dict[str, Any]) -> None:
        # One occurrence at a time: like Functions, a long run delays (never overlaps) the next.
        self.spawn(self._run(data))
        await self.wait_idle()

    async def _run(self, data: dict[str, Any]) -> None:
        try:
            await self.invoker(data)
        except Exception:
            logger.exception("%s: the scheduled run failed", self.label)


def _time(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)
