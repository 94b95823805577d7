"""What the running server shares between requests (``request.app.state.arkitekt``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from .config import ServerConfig
from .db import Database
from .keys import KeyStore
from .oauth import OAuthCore

if TYPE_CHECKING:
    from .rpc.state import RpcState
    from .storage.state import StorageState


@dataclass
class ServerState:
    config: ServerConfig
    db: Database
    keys: KeyStore
    oauth: OAuthCore
    stats: dict[str, int] = field(default_factory=dict)
    rpc: RpcState | None = None
    storage: StorageState | None = None
