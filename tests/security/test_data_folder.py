"""Issue 11, finding 9: the data folder and every database file in it are private (0700 / 0600),
also when an older version left them world-readable."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from arkitekt import local


def _mode(path: Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_the_database_files_are_private(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with local("private", data_dir=data) as app:
        app.http_get("/health")
        files = [p for p in data.iterdir() if p.name.startswith("arkitekt.db")]
        assert files and all(_mode(p) == 0o600 for p in files), {
            p.name: oct(_mode(p)) for p in files
        }
    assert _mode(data) == 0o700


def test_world_readable_files_of_an_older_version_are_narrowed(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with local("first", data_dir=data):
        pass
    os.chmod(data / "arkitekt.db", 0o644)
    with local("second", data_dir=data):
        assert _mode(data / "arkitekt.db") == 0o600
