"""The OpenAPI tests import the server tests' helpers (``serverkit``) and the graph test app."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "runtime" / "workflow_graphs"))
