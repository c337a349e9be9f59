"""ISO-8601 durations and timestamps as plans spell them (``PT30S``, ``2026-04-25T17:30:00Z``).

Only the ``PnDTnHnMnS`` subset is accepted, the one the Azure Functions agents runtime
accepts: years, months and weeks have no fixed length, and a plan's waits are bounded
to hours anyway.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

__all__ = ["format_duration", "parse_datetime", "parse_duration"]

_DURATION = re.compile(
    r"P(?:(?P<days>\d{1,6})D)?"
    r"(?:T(?:(?P<hours>\d{1,7})H)?(?:(?P<minutes>\d{1,9})M)?(?:(?P<seconds>\d{1,11}(?:\.\d{1,9})?)S)?)?"
)


def parse_duration(text: object) -> timedelta:
    """The duration ``text`` spells; ``ValueError`` saying what is accepted otherwise."""
    if not isinstance(text, str) or not text:
        raise ValueError("expected a non-empty ISO-8601 duration string such as 'PT30S'")
    match = _DURATION.fullmatch(text)
    if match is None:
        raise ValueError("expected an ISO-8601 duration such as 'PT30S', 'PT5M', 'PT1H30M' or 'P1DT2H'")
    parts = match.groupdict()
    if all(value is None for value in parts.values()):
        raise ValueError("the duration has no components")
    if "T" in text and parts["hours"] is None and parts["minutes"] is None and parts["seconds"] is None:
        raise ValueError("the duration's time section (after 'T') has no components")
    try:
        return timedelta(
            days=int(parts["days"] or 0),
            hours=int(parts["hours"] or 0),
            minutes=int(parts["minutes"] or 0),
            seconds=float(parts["seconds"] or 0),
        )
    except OverflowError:
        raise ValueError("the duration is too large") from None


def parse_datetime(text: object) -> datetime:
    """The UTC instant ``text`` spells; it must carry an offset (or ``Z``)."""
    if not isinstance(text, str) or not text:
        raise ValueError("expected a non-empty ISO-8601 datetime string")
    candidate = text[:-1] + "+00:00" if text.endswith(("Z", "z")) else text
    try:
        moment = datetime.fromisoformat(candidate)
    except ValueError:
        raise ValueError(
            "expected an ISO-8601 datetime such as '2026-04-25T17:30:00Z' or '2026-04-25T10:30:00-07:00'"
        ) from None
    if moment.tzinfo is None:
        raise ValueError(
            "the datetime needs a timezone: a trailing 'Z' for UTC or an offset such as '+02:00'"
        )
    return moment.astimezone(UTC)


def format_duration(delta: timedelta) -> str:
    """``delta`` as ``PnDTnHnMnS`` (for messages and status output)."""
    total = delta.total_seconds()
    days, rest = divmod(int(total), 86400)
    hours, rest = divmod(rest, 3600)
    minutes, seconds = divmod(rest, 60)
    fraction = total - int(total)
    out = "P" + (f"{days}D" if days else "")
    time = (f"{hours}H" if hours else "") + (f"{minutes}M" if minutes else "")
    if seconds or fraction or not (days or hours or minutes):
        sec = seconds + fraction
        time += f"{sec:g}S"
    return out + ("T" + time if time else "")
