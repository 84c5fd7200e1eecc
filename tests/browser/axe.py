"""Where the accessibility tests find axe-core.

The project installs it itself (package.json, `npm ci` in `make test`); the QA
tools' copy in $QA_HOME is the fallback. In CI (INTAKE_REQUIRE_BROWSER=1) a
missing axe-core fails the tests instead of skipping them.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CANDIDATES = [
    ROOT / "node_modules/axe-core/axe.min.js",
    Path(os.environ.get("QA_HOME") or Path.home() / ".cache" / "intake-qa") / "node/node_modules/axe-core/axe.min.js",
]
AXE = next((p for p in CANDIDATES if p.exists()), CANDIDATES[0])

requires_axe = pytest.mark.skipif(
    not AXE.exists() and os.environ.get("INTAKE_REQUIRE_BROWSER") != "1",
    reason="axe-core not installed (make test runs npm ci)",
)
