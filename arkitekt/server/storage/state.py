"""The running storage part of a server: datalayer, grant signer, catalogue and the sweeper."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
from dataclasses import dataclass, field

from arkitekt.protocol.services import DATALAYER

from ..config import ServerConfig
from ..db import Database
from ..keys import KeyStore
from ..models import utcnow
from .catalogue import StorageCatalogue
from .datalayer import Datalayer, LocalDatalayer
from .grants import GrantSigner

logger = logging.getLogger("arkitekt.server.storage")


@dataclass
class StorageState:
    datalayer: Datalayer
    signer: GrantSigner
    catalogue: StorageCatalogue
    grant_ttl: float
    upload_grace: float
    _sweeper: asyncio.Task[None] | None = field(default=None, repr=False)

    @classmethod
    async def start(cls, config: ServerConfig, db: Database, keys: KeyStore) -> StorageState:
        signer = GrantSigner(keys.services[DATALAYER.key].key)
        datalayer: Datalayer
        if config.datalayer == "s3":
            from .s3 import S3Datalayer

            datalayer = await S3Datalayer.open(config)
        else:
            datalayer = LocalDatalayer(
                config.data_dir / "datalayer", signer, config.storage_grant_ttl
            )
        state = cls(
            datalayer=datalayer,
            signer=signer,
            catalogue=StorageCatalogue(db),
            grant_ttl=config.storage_grant_ttl,
            upload_grace=config.storage_upload_grace,
        )
        state._sweeper = asyncio.create_task(state._sweep_forever(config.storage_sweep_interval))
        return state

    def upload_deadline(self) -> dt.datetime:
        """When an upload given a write grant now counts as abandoned."""
        return utcnow() + dt.timedelta(seconds=self.grant_ttl + self.upload_grace)

    async def sweep(self) -> int:
        """Remove abandoned uploads (records and partial objects); returns how many."""
        abandoned = await self.catalogue.abandoned(utcnow())
        for model, object_id, store in abandoned:
            await self.datalayer.delete(store)
            await self.catalogue.remove(model, object_id)
        if abandoned:
            logger.info("swept %d abandoned upload(s)", len(abandoned))
        return len(abandoned)

    async def _sweep_forever(self, interval: float) -> None:
        while True:
            try:
                await self.sweep()
            except Exception:  # a failed sweep must not end the loop; the next one retries
                logger.exception("sweeping abandoned uploads failed")
            await asyncio.sleep(interval)

    async def stop(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sweeper
        await self.datalayer.close()
