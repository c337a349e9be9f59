"""Running agents for a service: the runner (one turn, sessions, leases); triggers and queues."""

from agentdown.runtime.runner import Runner, TurnResult

__all__ = ["Runner", "TurnResult"]
