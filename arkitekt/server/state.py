"""What the running server shares between requests (``request.app.state.arkitekt``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from .config import ServerConfig
from .db import Database
from .keys import KeyStore
from .metrics import ServerMetrics
from .oauth import OAuthCore
from .passwords import PasswordGuard
from .revocation import SessionCheck

if TYPE_CHECKING:
    from .health import Readiness
    from .rpc.cluster import Cluster
    from .rpc.references import ReferenceCheck
    from .rpc.state import RpcState
    from .storage.state import StorageState


@dataclass
class ServerState:
    config: ServerConfig
    db: Database
    keys: KeyStore
    oauth: OAuthCore
    passwords: PasswordGuard
    """Password checks under rate limits (the password grant and the login form)."""
    sessions: SessionCheck
    """Whether an access token's session (its ``sid``) was ended."""
    metrics: ServerMetrics = field(default_factory=ServerMetrics)
    readiness: Readiness = field(init=False)
    """What ``/health/ready`` answers (set by :func:`~.app.open_state`)."""
    stats: dict[str, int] = field(default_factory=dict)
    cluster: Cluster | None = None
    """The link to the other replicas (with ``redis_url``)."""
    rpc: RpcState | None = None
    storage: StorageState | None = None
    references: ReferenceCheck | None = None
    """Refuses websocket calls naming images or files their caller may not see (set once both
    parts run)."""
