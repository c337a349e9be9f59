"""Running agents for a service: the runner (one turn, sessions, leases); triggers and queues."""

from agentdown.runtime.runner import Runner, TurnResult
from agentdown.runtime.triggers import TriggerHost

__all__ = ["Runner", "TriggerHost", "TurnResult"]
