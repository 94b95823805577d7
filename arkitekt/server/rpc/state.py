"""The running RPC part of a server: broker, catalogue and recorder, started together."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..config import ServerConfig
from ..db import Database
from ..metrics import ServerMetrics
from .broker import Broker
from .call_ids import RecentCallIds
from .catalogue import Catalogue
from .memory_broker import InMemoryBroker
from .recorder import Recorder
from .recovery import unfinished_calls

if TYPE_CHECKING:
    from .cluster import Cluster  # the redis extra

logger = logging.getLogger("arkitekt.server.rpc")


@dataclass
class RpcState:
    broker: Broker
    catalogue: Catalogue
    recorder: Recorder
    heartbeat_interval: float
    heartbeat_timeout: float

    @classmethod
    async def start(
        cls, config: ServerConfig, db: Database, metrics: ServerMetrics, cluster: Cluster | None
    ) -> RpcState:
        catalogue = Catalogue(db, share_with_everyone=config.rpc_share_with_everyone)
        recorder = Recorder(db, max_backlog=config.rpc_history_max_backlog)
        call_ids = RecentCallIds(config.rpc_call_id_window)
        for call_id in await recorder.stored_ids_since(time.time() - config.rpc_call_id_window):
            call_ids.remember(call_id)  # taken before a restart: still refused
        options = {
            "reconnect_grace": config.rpc_reconnect_grace,
            "call_ids": call_ids,
            "keep_finished": 2 * config.rpc_reconnect_grace,
            "metrics": metrics,
        }
        broker: Broker
        if cluster is None:
            await catalogue.reset_connections()
            broker = InMemoryBroker(catalogue, recorder, **options)  # type: ignore[arg-type]
        else:
            from .replicated_broker import ReplicatedBroker

            broker = ReplicatedBroker(catalogue, recorder, cluster=cluster, **options)  # type: ignore[arg-type]
            await broker.start()
            if not cluster.others:  # the first replica: nobody is connected yet
                await catalogue.reset_connections()
        recorder.start()
        metrics.read_agents(broker.agents_here)
        metrics.read_recorder_backlog(lambda: recorder.pending)
        orphans = await broker.recover(await unfinished_calls(db))
        if orphans:
            logger.warning(
                "%d calls were running when the server last stopped: waiting up to %g s for "
                "their agents",
                orphans,
                config.rpc_reconnect_grace,
            )
        return cls(
            broker=broker,
            catalogue=catalogue,
            recorder=recorder,
            heartbeat_interval=config.rpc_heartbeat_interval,
            heartbeat_timeout=config.rpc_heartbeat_timeout,
        )

    async def stop(self) -> None:
        await self.broker.shutdown()
        await self.recorder.stop()
