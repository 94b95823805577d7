"""The running RPC part of a server: broker, catalogue and recorder, started together."""

from __future__ import annotations

from dataclasses import dataclass

from ..config import ServerConfig
from ..db import Database
from .broker import Broker
from .catalogue import Catalogue
from .memory_broker import InMemoryBroker
from .recorder import Recorder


@dataclass
class RpcState:
    broker: Broker
    catalogue: Catalogue
    recorder: Recorder
    heartbeat_interval: float
    heartbeat_timeout: float

    @classmethod
    async def start(cls, config: ServerConfig, db: Database) -> RpcState:
        catalogue = Catalogue(db, share_with_everyone=config.rpc_share_with_everyone)
        await catalogue.reset_connections()
        recorder = Recorder(db)
        recorder.start()
        broker = InMemoryBroker(
            catalogue,
            recorder,
            reconnect_grace=config.rpc_reconnect_grace,
            keep_finished=2 * config.rpc_reconnect_grace,
        )
        return cls(
            broker=broker,
            catalogue=catalogue,
            recorder=recorder,
            heartbeat_interval=config.rpc_heartbeat_interval,
            heartbeat_timeout=config.rpc_heartbeat_timeout,
        )

    async def stop(self) -> None:
        self.broker.shutdown()
        await self.recorder.stop()
