"""Server configuration from the environment (prefix ``ARKITEKT_``) or arguments."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from arkitekt.settings import _user_data_dir


class ServerConfig(BaseSettings):
    """Everything a server needs to start.

    ``ARKITEKT_DATA_DIR`` picks the data folder (SQLite database, local data), and
    ``ARKITEKT_DATABASE_URL`` a different database (e.g. ``postgresql+asyncpg://...``).
    """

    model_config = SettingsConfigDict(env_prefix="ARKITEKT_", extra="ignore")

    data_dir: Path = Field(default_factory=_user_data_dir)
    database_url: str | None = None
    """SQLAlchemy async URL; defaults to an SQLite file in ``data_dir``."""
    deployment_name: str = "arkitekt"

    access_token_ttl: int = 900
    """Seconds an access token (a signed JWT) stays valid."""
    refresh_token_ttl: int = 30 * 24 * 3600
    """Sliding lifetime of a refresh token: unused for this long, the session ends."""
    refresh_chain_ttl: int = 90 * 24 * 3600
    """Absolute lifetime of a refresh-token family, however often it is rotated."""
    refresh_reuse_grace: float = 30.0
    """Seconds during which a rotated refresh token may still be presented (sibling processes
    sharing one cache). After that, presenting it revokes the whole family."""
    device_code_ttl: int = 600
    device_code_interval: int = 5
    web_session_ttl: int = 12 * 3600
    assertion_max_lifetime: int = 300
    """Longest lifetime accepted for a key-login assertion (RFC 7523 ``exp - iat``)."""
    password_login_max_failures: int = 10
    """Failed password logins per user and minute before the server answers ``slow_down``."""

    rpc_heartbeat_interval: float = 5.0
    """Seconds between pings on an app's websocket."""
    rpc_heartbeat_timeout: float = 15.0
    """A websocket silent for this long is closed (a frozen or vanished peer)."""
    rpc_reconnect_grace: float = 15.0
    """How long an agent may be away before its running calls end as lost (and a caller before
    its calls are cancelled)."""
    rpc_share_with_everyone: bool = False
    """Share newly registered functions with every user (by default only their owner sees them)."""

    def sqlalchemy_url(self) -> str:
        """The database URL, defaulting to ``sqlite+aiosqlite`` in the data folder."""
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{self.data_dir / 'arkitekt.db'}"
