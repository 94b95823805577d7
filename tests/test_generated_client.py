"""Generated code is up to date. The typed GraphQL clients are what turms generates
from the server's current schema and the operations (CI fails when someone forgot to run
``python scripts/generate_api.py``)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_generated_client_is_up_to_date() -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "generate_api.py"), "--check"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_module_level_functions_are_up_to_date() -> None:
    """``arkitekt.find``, ``arkitekt.images``, ... are generated from the service methods (one
    source per operation): CI fails when a method changed without regenerating."""
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "generate_functions.py"), "--check"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
