"""What a web worker carries: modules only the command line needs stay out of it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_web_app_does_not_import_cli_only_or_bulky_packages(tmp_path):
    # faker: only `flask demo` uses it (about 5 MB); zipcodes: routing reads it in a child process (about 37 MB).
    script = ("import sys; from intake import create_app; create_app(); "
              "print(sorted({m.split('.')[0] for m in sys.modules} & {'faker', 'zipcodes'}))")
    env = {**os.environ, "INTAKE_CONFIG": "development", "DATABASE_URL": f"sqlite:///{tmp_path / 'x.db'}"}
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True, cwd=ROOT,
                          env=env)
    assert done.stdout.strip() == "[]"
