"""Event triggers: timer (NCRONTAB), queue and blob, run in-process by :class:`TriggerHost`."""

from agentdown.runtime.triggers.bindings import OutputBinding, parse_output
from agentdown.runtime.triggers.host import TriggerDescription, TriggerHost, bindings_from_catalog
from agentdown.runtime.triggers.invoke import TriggerBinding
from agentdown.runtime.triggers.ncrontab import Schedule
from agentdown.runtime.triggers.settings import TriggerSettings

__all__ = [
    "OutputBinding",
    "Schedule",
    "TriggerBinding",
    "TriggerDescription",
    "TriggerHost",
    "TriggerSettings",
    "bindings_from_catalog",
    "parse_output",
]
