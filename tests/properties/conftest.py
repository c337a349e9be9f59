"""Hypothesis settings for the property tests: a fixed seed and a bounded budget.

``derandomize`` makes every run (``make test``, CI) try the same examples, so a failure
reproduces; the example counts keep the whole directory within about 30 seconds on a
loaded two-core machine. ``HYPOTHESIS_PROFILE=deep`` explores more, with a random seed.
The suite's autouse fixtures only set environment variables, which is safe to share
between examples, hence the suppressed function-scoped-fixture health check.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

_SHARED = {"suppress_health_check": [HealthCheck.function_scoped_fixture, HealthCheck.too_slow]}
settings.register_profile(
    "agentdown", derandomize=True, max_examples=60, deadline=2000, print_blob=True, **_SHARED
)
settings.register_profile("deep", max_examples=3000, deadline=5000, **_SHARED)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "agentdown"))
