"""Settings read from the environment (prefix ``ARKITEKT_``) and cached per process."""

from __future__ import annotations

import functools
import logging
from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from ._paths import user_cache_dir, user_data_dir


class Settings(BaseSettings):
    """Client settings.

    Every field can be set with an environment variable of the same name in upper case, prefixed
    with ``ARKITEKT_`` (``ARKITEKT_URL``, ``ARKITEKT_DATA_DIR`` ...). Arguments given to a builder
    always win over these.
    """

    model_config = SettingsConfigDict(env_prefix="ARKITEKT_", extra="ignore")

    url: str | None = None
    """The server to connect to. ``FAKTS_URL`` is read too, for compatibility."""
    token: SecretStr | None = None
    """An access token to log in with (unattended use)."""
    mandate_key: SecretStr | None = None
    """A mandate key to log in with (unattended use)."""
    cache_dir: Path = Field(default_factory=user_cache_dir)
    """Where login sessions are cached (files are private to the user, mode 0600)."""
    data_dir: Path = Field(default_factory=user_data_dir)
    """Where the integrated server keeps its database and data."""
    log_level: str | None = None
    """When set, the level of the ``arkitekt`` logger (e.g. ``INFO``); otherwise left alone."""
    headless: bool = False
    """Never try to open a browser; print the login link instead."""
    proxy: str | None = None
    """An HTTP(S) proxy for every request. The standard ``HTTPS_PROXY``/``HTTP_PROXY``/``NO_PROXY``
    variables are honoured when this is not set."""
    timeout: float = 30.0
    """Seconds allowed for one HTTP request to the server."""
    progress: bool | None = None
    """Progress bars for remote calls and transfers: ``true``/``false``; unset shows them where
    someone is watching (a terminal or a notebook) and never in logs or pipes."""

    def resolved_url(self) -> str | None:
        """The server URL from ``ARKITEKT_URL``, falling back to ``FAKTS_URL``."""
        import os

        return self.url or os.environ.get("FAKTS_URL") or None


@functools.cache
def get_settings() -> Settings:
    """The process-wide settings, read once from the environment.

    Call ``get_settings.cache_clear()`` after changing the environment to read it again.
    """
    settings = Settings()
    if settings.log_level:
        logging.getLogger("arkitekt").setLevel(settings.log_level.upper())
    return settings
