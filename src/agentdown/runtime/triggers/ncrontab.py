"""NCRONTAB schedules: parsed in :mod:`agentdown.app.ncrontab` (the app layer validates them at load
time, and a lower layer never imports a higher one); re-exported here for the trigger host."""

from agentdown.app.ncrontab import Schedule

__all__ = ["Schedule"]
