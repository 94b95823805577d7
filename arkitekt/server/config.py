"""Server configuration from the environment (prefix ``ARKITEKT_``) or arguments."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from arkitekt._paths import user_data_dir


class ServerConfig(BaseSettings):
    """Everything a server needs to start.

    ``ARKITEKT_DATA_DIR`` picks the data folder (SQLite database, local data), and
    ``ARKITEKT_DATABASE_URL`` a different database (e.g. ``postgresql+asyncpg://...``).
    """

    model_config = SettingsConfigDict(env_prefix="ARKITEKT_", extra="ignore")

    data_dir: Path = Field(default_factory=user_data_dir)
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

    graphql_max_body_bytes: int = 1 << 20
    """Bytes of one GraphQL request over HTTP, and of one GraphQL websocket message (queries
    and their variables; data goes to the datalayer)."""
    graphql_max_tokens: int = 2000
    """Tokens (names, brackets, punctuation) of one GraphQL document; more is refused before
    it is parsed."""
    graphql_max_depth: int = 10
    """Nesting of fields in one operation (introspection included)."""
    graphql_max_aliases: int = 20
    """Aliased fields in one document (aliases ask for one field many times)."""
    graphql_max_cost: int = 20_000
    """Estimated fields one operation resolves: each field counts once for every item of the
    lists it sits in (a list's size is its ``limit`` argument, or the maximum page size)."""
    graphql_max_page_size: int = 500
    """Largest page a list field returns (``limit``, ``pagination.limit``); asking for more is
    refused, naming the argument. Lists without a page argument return at most this many."""
    graphql_timeout: float = 15.0
    """Seconds one query or mutation may run (waiting for its turn included); then it is
    stopped and answered with a ``TIMEOUT`` error. Subscriptions are not limited."""
    graphql_user_concurrency: int = 4
    """Queries and mutations of one user that run at once; more wait for their turn."""
    graphql_user_queue: int = 32
    """Queries and mutations of one user that may wait for their turn; more are refused at
    once (``TOO_MANY_REQUESTS``), so one user's flood never queues anyone else's."""

    http_header_timeout: float = 10.0
    """Seconds a connection may take to send a request's complete headers (from its opening,
    or from the end of the previous answer); a stalled (slowloris) connection is dropped."""
    http_max_connections: int = 2000
    """Connections (HTTP and websockets) served at once; further requests get 503."""
    ws_max_message_bytes: int = 16 << 20
    """Largest websocket message accepted (``/rekuest/ws``); bigger ones close the socket
    (1009). GraphQL websocket messages are limited by ``graphql_max_body_bytes``."""

    datalayer: Literal["local", "s3"] = "local"
    """Where image and file bytes live: ``local`` (a folder in ``data_dir``, served over HTTP)
    or ``s3`` (any S3-compatible store, see the ``s3_*`` settings)."""
    storage_grant_ttl: int = 900
    """Seconds a grant to read or write the datalayer stays valid (clients renew them)."""
    storage_upload_grace: int = 3600
    """An upload whose last write grant ended this many seconds ago is abandoned: its record
    and partial objects are removed."""
    storage_sweep_interval: float = 300.0
    """Seconds between sweeps for abandoned uploads."""
    storage_max_object_bytes: int = 5 << 30
    """Largest single object the local datalayer accepts (a zarr chunk, or a file)."""

    s3_endpoint_url: str | None = None
    """The S3 API the server talks to (None: AWS)."""
    s3_public_endpoint_url: str | None = None
    """The S3 API as clients reach it, when it differs (e.g. behind a proxy)."""
    s3_sts_endpoint_url: str | None = None
    """The STS API that issues scoped credentials (default: ``s3_endpoint_url``)."""
    s3_region: str = "us-east-1"
    s3_bucket: str = "arkitekt"
    s3_access_key_id: str | None = None
    s3_secret_access_key: SecretStr | None = None
    s3_role_arn: str = "arn:aws:iam::000000000000:role/arkitekt-datalayer"
    """The role whose temporary credentials are handed out, narrowed to one prefix by a
    session policy (AWS needs a real role; MinIO and Ceph accept any)."""

    def sqlalchemy_url(self) -> str:
        """The database URL, defaulting to ``sqlite+aiosqlite`` in the data folder."""
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{self.data_dir / 'arkitekt.db'}"  # see app.DATABASE_FILES
