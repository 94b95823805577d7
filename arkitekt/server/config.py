"""Server configuration from the environment (prefix ``ARKITEKT_``) or arguments."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from arkitekt._paths import user_data_dir

LOOPBACK_NAMES = ("127.0.0.1", "localhost", "[::1]", "::1")
"""How a client on the server's own machine may name it."""


class ServerConfig(BaseSettings):
    """Everything a server needs to start.

    ``ARKITEKT_DATA_DIR`` picks the data folder (SQLite database, local data), and
    ``ARKITEKT_DATABASE_URL`` a different database (e.g. ``postgresql+asyncpg://...``).
    """

    model_config = SettingsConfigDict(env_prefix="ARKITEKT_", extra="ignore")

    data_dir: Path = Field(default_factory=user_data_dir)
    database_url: str | None = None
    """SQLAlchemy async URL; defaults to an SQLite file in ``data_dir``."""
    database_pool_size: int = Field(default=10, ge=1)
    """Connections one server process keeps open to PostgreSQL (SQLite always uses one)."""
    database_max_overflow: int = Field(default=10, ge=0)
    """Connections opened beyond the pool under load, closed again when returned."""
    database_pool_timeout: float = Field(default=30.0, gt=0)
    """Seconds a request waits for a free connection before it fails."""
    metrics_token: SecretStr | None = None
    """The bearer token Prometheus presents to ``/metrics``; without one the route is off."""
    log_format: Literal["text", "json"] = "text"
    """``json``: one JSON object per log line (for log collectors); set by ``arkitekt server``."""
    deployment_name: str = "arkitekt"
    public_url: str | None = None
    """The URL clients reach this server at (e.g. ``https://arkitekt.example.org``). When set,
    the token issuer, the fakts endpoints, login links and datalayer grant URLs use it and the
    request's Host header is ignored; when unset they follow the origin each client used (the
    embedded and loopback default)."""
    allowed_hosts: Annotated[list[str] | None, NoDecode] = None
    """Host names requests may name in their Host header (comma-separated in
    ``ARKITEKT_ALLOWED_HOSTS``; ``*.example.org`` patterns allowed). Default: with
    ``public_url``, its host plus the loopback names; without, any host."""

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
    web_form_max_bytes: int = Field(default=256 * 1024, gt=0)
    """Bytes of one form sent to the web pages (the run page's arguments); more is refused
    (413) before it is parsed."""
    web_stream_max_seconds: float = Field(default=600.0, gt=0)
    """Seconds one call page's live event stream stays open; the browser then reconnects on
    its own (the web session is checked again), so a logged-out session's streams end too."""
    web_streams_per_user: int = Field(default=8, ge=1)
    """Live event streams (open call pages) one user may have on one server process; more
    are refused (429) until one ends."""
    web_stream_keepalive: float = Field(default=15.0, gt=0)
    """Seconds between keep-alive comments on a quiet event stream (how a browser that went
    away without closing is noticed)."""
    assertion_max_lifetime: int = 300
    """Longest lifetime accepted for a key-login assertion (RFC 7523 ``exp - iat``)."""
    password_attempts_per_ip: str = "60/minute"
    """Password logins (right or wrong, any user) one client address may try (a ``limits``
    rate such as ``60/minute``); beyond it the server answers ``slow_down`` (429)."""
    password_attempts_global: str = "600/minute"
    """Password logins the whole server tries, from all addresses together (bounds the CPU
    that password hashing can take)."""
    password_failures_per_user_ip: str = "10/minute"
    """Wrong passwords for one user from one address before that address is slowed down for
    that user; the owner at another address is not affected."""
    password_failures_per_user: str = "50/minute"
    """Wrong passwords for one user from all addresses together before every login of that user
    is slowed down: a third party needs this many failures (5 addresses at the defaults) to
    keep the owner out, and only while it keeps failing."""
    password_check_concurrency: int = Field(default=2, ge=1)
    """Password hashes (argon2: ~64 MiB and tens of ms of CPU each) checked at the same time;
    further logins wait for a turn without holding a database connection."""
    rate_limit_storage: str = "memory://"
    """Where rate-limit counters live, as a ``limits`` storage URI: ``memory://`` (this process)
    or e.g. ``redis://host:6379`` for replicas sharing their limits."""
    session_check_ttl: float = 5.0
    """Seconds a server trusts its answer to "is this token's session still alive" before
    asking the database again (revocation reaches other replicas within this delay)."""

    redis_url: str | None = None
    """Redis shared by the replicas of one server (e.g. ``redis://redis:6379/0``): calls are
    routed between apps connected to different replicas through it. None: one process, all
    routing in memory."""
    redis_key_prefix: str = "arkitekt:"
    """What the replicas' Redis keys start with (two servers may share one Redis)."""
    replica_heartbeat: float = Field(default=1.0, gt=0)
    """Seconds between a replica's heartbeats in Redis."""
    replica_dead_after: float = Field(default=5.0, gt=0)
    """Seconds without a heartbeat after which a replica counts as gone: its apps count as
    disconnected (and get ``rpc_reconnect_grace`` to come back through another replica)."""

    rpc_heartbeat_interval: float = 5.0
    """Seconds between pings on an app's websocket."""
    rpc_heartbeat_timeout: float = 15.0
    """A websocket silent for this long is closed (a frozen or vanished peer)."""
    rpc_reconnect_grace: float = 15.0
    """How long an agent may be away before its running calls end as lost (and a caller before
    its calls are cancelled)."""
    rpc_call_id_window: float = 300.0
    """Seconds either side of the server's clock a new call's (time-ordered) id may be minted
    at. Ids admitted within it are remembered, so a reused id is refused at once; memory grows
    with calls per second times this."""
    rpc_history_max_backlog: int = 200_000
    """Call history rows (calls, changes, events) that may wait to be stored while the database
    is slow or unreachable; beyond, new calls are refused as ``busy``."""
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

    graphql_user_document_rate: str = "100000/second"
    """GraphQL document bytes one user may send (a ``limits`` rate): parsing is the one cost
    of a request that no shape limit can refuse before paying it, so a user sending more is
    refused at once (``TOO_MANY_REQUESTS``). The default (100 kB in any second) is
    hundreds of the SDK's requests per second."""

    http_header_timeout: float = 10.0
    """Seconds a connection may take to send a request's complete headers (from its opening,
    or from the end of the previous answer); a stalled (slowloris) connection is dropped."""
    http_body_timeout: float = Field(default=10.0, gt=0)
    """Seconds a request body may take to start arriving, on top of what its size allows at
    ``http_body_min_rate``; a body trickling in slower is cut off with 408."""
    http_body_min_rate: int = Field(default=1024, gt=0)
    """Bytes per second a request body must average beyond ``http_body_timeout`` (each
    ``http_body_min_rate`` bytes received extend its deadline by one second)."""
    http_max_connections: int = 2000
    """Connections (HTTP and websockets) served at once; further requests get 503."""
    ws_max_message_bytes: int = 16 << 20
    """Largest websocket message accepted (``/rekuest/ws``); bigger ones close the socket
    (1009). GraphQL websocket messages are limited by ``graphql_max_body_bytes``."""

    ws_max_queued_bytes: int = Field(default=64 << 20, gt=0)
    """Bytes the server may hold queued for one ``/rekuest/ws`` client that does not read
    them; beyond it the connection is closed (4009) and the client reconnects."""

    datalayer: Literal["local", "s3"] = "local"
    """Where image and file bytes live: ``local`` (a folder in ``data_dir``, served over HTTP)
    or ``s3`` (any S3-compatible store, see the ``s3_*`` settings)."""
    storage_grant_ttl: int = 900
    """Seconds a grant to read or write the datalayer stays valid (clients renew them). Local
    grants are also checked on every use; S3 credentials cannot be revoked and live at least
    900 s (STS's minimum), see docs/security.md."""
    storage_upload_grace: int = 3600
    """An upload whose last write grant ended this many seconds ago is abandoned: its record
    and partial objects are removed."""
    storage_sweep_interval: float = 300.0
    """Seconds between sweeps for abandoned uploads."""
    storage_max_object_bytes: int = 5 << 30
    """Largest single object the local datalayer accepts (a zarr chunk, or a file)."""
    storage_read_check_seconds: float = 2.0
    """The local datalayer checks on every request that a read grant's user may still see the
    object; a positive answer is reused for this long (a zarr read is many requests). Unsharing
    or deleting through the same server takes effect at once."""
    storage_max_chunk_bytes: int = 128 << 20
    """Largest chunk an image may declare, uncompressed (chunk elements x item size): 128 MiB.
    Microscopy chunks are typically 1-64 MiB; a reader (the dashboard too) decompresses a whole
    chunk at once, so this bounds the memory one chunk can make a reader allocate."""
    storage_max_itemsize: int = 16
    """Largest item size (bytes) of an image's dtype (16: complex128, the widest supported)."""
    storage_max_dims: int = 16
    """Most dimensions an image may have (OME-Zarr uses up to 5)."""
    storage_max_image_bytes: int = 64 << 40
    """Largest image an upload may declare, uncompressed (all elements x item size): 64 TiB."""
    storage_thumbnail_max_read_bytes: int = 256 << 20
    """Uncompressed bytes one dashboard thumbnail may decode in total (chunks are read one at a
    time, so the memory used is about one chunk). A large image is sampled from fewer chunks;
    one whose single chunk exceeds this gets no thumbnail."""
    storage_thumbnail_max_chunks: int = 256
    """Most chunks one thumbnail reads."""
    storage_thumbnail_concurrency: int = 2
    """Thumbnails made at the same time (others wait); each is made once and kept."""

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

    @field_validator("public_url")
    @classmethod
    def _check_public_url(cls, value: str | None) -> str | None:
        if not value:
            return None
        parts = urlsplit(value.strip())
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"public_url {value!r} must be an http:// or https:// URL")
        if parts.path.strip("/") or parts.query or parts.fragment or parts.username:
            raise ValueError(
                f"public_url {value!r} must be an origin only, like https://arkitekt.example.org"
            )
        return f"{parts.scheme}://{parts.netloc}"

    @field_validator("allowed_hosts", mode="before")
    @classmethod
    def _split_hosts(cls, value: object) -> object:
        if isinstance(value, str):
            return [host.strip() for host in value.split(",") if host.strip()]
        return value

    @field_validator(
        "password_attempts_per_ip",
        "password_attempts_global",
        "graphql_user_document_rate",
        "password_failures_per_user_ip",
        "password_failures_per_user",
    )
    @classmethod
    def _check_rate(cls, value: str) -> str:
        from limits import parse

        try:
            parse(value)
        except ValueError as e:
            raise ValueError(f"{value!r} is not a rate like '10/minute' ({e})") from e
        return value

    def trusted_hosts(self) -> list[str]:
        """The Host header values requests are accepted with (see ``allowed_hosts``)."""
        if self.allowed_hosts is not None:
            return self.allowed_hosts
        if self.public_url is None:
            return ["*"]
        host = urlsplit(self.public_url).hostname
        return [h for h in (host, *LOOPBACK_NAMES) if h]

    def sqlalchemy_url(self) -> str:
        """The database URL, defaulting to ``sqlite+aiosqlite`` in the data folder."""
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{self.data_dir / 'arkitekt.db'}"  # see app.DATABASE_FILES
