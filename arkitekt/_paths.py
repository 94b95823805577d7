"""The folders arkitekt uses by default, shared by the client settings and the server config."""

from __future__ import annotations

from pathlib import Path


def user_cache_dir() -> Path:
    """Where login sessions are cached (per user)."""
    import platformdirs

    return Path(platformdirs.user_cache_dir("arkitekt", appauthor=False))


def user_data_dir() -> Path:
    """Where the integrated server keeps its database and data (per user)."""
    import platformdirs

    return Path(platformdirs.user_data_dir("arkitekt", appauthor=False))
