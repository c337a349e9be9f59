"""An asynchronous tool."""

import asyncio
from datetime import datetime
from typing import Annotated
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from agentdown import ToolError, tool


@tool
async def current_time(timezone: Annotated[str, "IANA time zone, e.g. 'Europe/Paris'"] = "UTC") -> str:
    """Get the current date and time in a time zone."""
    await asyncio.sleep(0)
    try:
        zone = ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ToolError(f"unknown time zone {timezone!r}; use an IANA name such as 'Europe/Paris'") from exc
    return datetime.now(zone).strftime("%Y-%m-%d %H:%M %Z")
