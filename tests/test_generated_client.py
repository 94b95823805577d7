"""Generated code is up to date: CI fails when someone forgot to regenerate.

- the typed GraphQL clients are what turms makes of the server's current schema and the
  operations (``python scripts/generate_api.py``);
- ``arkitekt.find``, ``arkitekt.images``, ... are generated from the service methods, one source
  per operation (``python scripts/generate_functions.py``).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("script", ["generate_api.py", "generate_functions.py"])
def test_generated_code_is_up_to_date(script: str) -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / script), "--check"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
