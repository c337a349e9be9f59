"""The metrics agentdown records: the GenAI conventions' two histograms and its own counters."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from opentelemetry.metrics import Meter

__all__ = ["DURATION_BUCKETS", "TOKEN_BUCKETS", "Instruments"]

TOKEN_BUCKETS = (1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864)
"""``gen_ai.client.token.usage`` bucket boundaries, as the GenAI metrics conventions advise."""
DURATION_BUCKETS = (0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92)
"""``gen_ai.client.operation.duration`` bucket boundaries (seconds), as the conventions advise."""


class Instruments:
    """The instruments of one meter, created once per installation."""

    def __init__(self, meter: Meter) -> None:
        self.token_usage = meter.create_histogram(
            "gen_ai.client.token.usage",
            unit="{token}",
            description="Number of input and output tokens used.",
            explicit_bucket_boundaries_advisory=list(TOKEN_BUCKETS),
        )
        self.operation_duration = meter.create_histogram(
            "gen_ai.client.operation.duration",
            unit="s",
            description="GenAI operation duration.",
            explicit_bucket_boundaries_advisory=list(DURATION_BUCKETS),
        )
        self.runs = meter.create_counter(
            "agentdown.runs", unit="{run}", description="Runs finished, by kind and status."
        )
        self.queue_depth = meter.create_histogram(
            "agentdown.queue.depth",
            unit="{message}",
            description="Messages a queue poll received (a batch of up to 32), by queue.",
        )
        self.lease_renewals = meter.create_counter(
            "agentdown.lease.renewals", unit="{renewal}", description="Leases of running jobs renewed."
        )
