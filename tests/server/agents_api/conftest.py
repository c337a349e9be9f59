"""The Agents API tests import the server tests' helpers (``serverkit``)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
