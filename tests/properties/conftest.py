"""Hypothesis settings for the property tests: deterministic, bounded, and leaving no files.

Each test here runs under the ``properties`` profile (``@settings.get_profile("properties")``):
``derandomize`` makes every run try the same examples (a failure reproduces, CI never flakes on a lucky draw), ``database=None``
keeps hypothesis from writing a ``.hypothesis`` folder into the checkout, and the example
counts keep the whole folder within seconds on a loaded two-core machine. Set
``AGENTDOWN_PROPERTIES=thorough`` for a long, randomized hunt (still without a database).

The profile is applied per test (``@PROFILE``), not loaded globally, so other suites that
use hypothesis (schemathesis) keep their own settings.
"""

from __future__ import annotations

import os
import tempfile
from datetime import timedelta
from pathlib import Path

from hypothesis import HealthCheck, Phase, settings
from hypothesis.configuration import set_hypothesis_home_dir

# Hypothesis also caches (source constants, unicode tables) under ./.hypothesis: not in the checkout.
if not os.environ.get("HYPOTHESIS_STORAGE_DIRECTORY"):
    set_hypothesis_home_dir(Path(tempfile.gettempdir()) / "agentdown-hypothesis")

_THOROUGH = os.environ.get("AGENTDOWN_PROPERTIES") == "thorough"

settings.register_profile(
    "properties",
    derandomize=not _THOROUGH,
    database=None,
    max_examples=5000 if _THOROUGH else 60,
    # Generous: the machine is shared; a real hang is caught by this and by pytest-timeout.
    deadline=None if _THOROUGH else timedelta(seconds=10),
    print_blob=False,
    # The explain phase traces every line (slow before Python 3.12); shrinking says enough.
    phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.shrink],
    suppress_health_check=[HealthCheck.too_slow],
)
