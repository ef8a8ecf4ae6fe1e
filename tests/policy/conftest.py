"""The policy tier: rule unit tests and the whole program (tests/infra's mocks harness) under every rule."""

from __future__ import annotations

import sys
from pathlib import Path

# The whole-program test reuses tests/infra's harness, which imports its siblings by bare name.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "infra"))
