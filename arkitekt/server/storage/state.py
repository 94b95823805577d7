"""The running storage part of a server: datalayer, grant signer, catalogue, grant checks,
thumbnails and the sweeper (abandoned uploads; S3 images to settle)."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from arkitekt.protocol.services import DATALAYER

from ..config import ServerConfig
from ..db import Database
from ..keys import KeyStore
from ..models import utcnow
from .access import GrantAccess
from .catalogue import Model, StorageCatalogue
from .datalayer import Datalayer, LocalDatalayer
from .grants import GrantSigner
from .models import DISCARDED, File, Image, Table
from .multiscales import verify_image
from .parquet_footer import check_parquet
from .thumbnails import Thumbnails
from .validation import InvalidUpload, StorageLimits

logger = logging.getLogger("arkitekt.server.storage")

SETTLE_MARGIN = 60
"""Seconds added to a grant's lifetime before an upload counts as settled (clock skew)."""


@dataclass
class StorageState:
    datalayer: Datalayer
    signer: GrantSigner
    catalogue: StorageCatalogue
    access: GrantAccess
    thumbnails: Thumbnails
    limits: StorageLimits
    grant_ttl: float
    upload_grace: float
    _sweeper: asyncio.Task[None] | None = field(default=None, repr=False)

    @classmethod
    async def start(
        cls,
        config: ServerConfig,
        db: Database,
        keys: KeyStore,
        *,
        lease: Callable[[str, float], Awaitable[bool]] | None = None,
    ) -> StorageState:
        """Open the datalayer and start the sweeper; with replicas, ``lease`` makes one of
        them sweep at a time."""
        signer = GrantSigner(keys.services[DATALAYER.key].key)
        datalayer: Datalayer
        if config.datalayer == "s3":
            from .s3 import S3Datalayer

            datalayer = await S3Datalayer.open(config)
        else:
            datalayer = LocalDatalayer(
                config.data_dir / "datalayer", signer, config.storage_grant_ttl
            )
        catalogue = StorageCatalogue(db)
        state = cls(
            datalayer=datalayer,
            signer=signer,
            catalogue=catalogue,
            access=GrantAccess(catalogue, config.storage_read_check_seconds),
            thumbnails=Thumbnails(datalayer, config),
            limits=StorageLimits.of(config),
            grant_ttl=config.storage_grant_ttl,
            upload_grace=config.storage_upload_grace,
        )
        state._sweeper = asyncio.create_task(
            state._sweep_forever(config.storage_sweep_interval, lease)
        )
        return state

    def upload_deadline(self) -> dt.datetime:
        """When an upload given a write grant now counts as abandoned."""
        return utcnow() + dt.timedelta(seconds=self.grant_ttl + self.upload_grace)

    def settle_after(self) -> dt.datetime | None:
        """When the write grants of an upload finished now have all expired, if they outlive
        the upload (S3 credentials cannot be revoked); None when finishing ends them (local)."""
        seconds = getattr(self.datalayer, "grant_seconds", None)
        if seconds is None:
            return None
        return utcnow() + dt.timedelta(seconds=seconds + SETTLE_MARGIN)

    async def discard(self, model: Model, object_id: str, store: str) -> None:
        """Remove an object: its record first (no grant any more), then bytes and thumbnail.
        Where write grants cannot be revoked (S3) the record stays, invisible, and the sweeper
        deletes the prefix once more after they have expired."""
        until = self.settle_after()
        if until is None:
            await self.catalogue.remove(model, object_id)
        else:
            await self.catalogue.tombstone(model, object_id, until)
        await self._remove_bytes(model, object_id, store)

    async def _remove_bytes(self, model: Model, object_id: str, store: str) -> None:
        self.access.forget_reads()
        await self.datalayer.delete(store)
        if model is Image:
            await self.thumbnails.forget(object_id)

    async def sweep(self) -> int:
        """Remove abandoned uploads (records and partial objects) and settle finished S3
        uploads whose write grants have expired; returns how many uploads were handled."""
        abandoned = await self.catalogue.abandoned(utcnow())
        for model, object_id, store, status in abandoned:
            with self.access.closed(store):
                if status == DISCARDED:  # its write credentials have expired: for good
                    await self.catalogue.remove(model, object_id)
                    await self._remove_bytes(model, object_id, store)
                else:
                    await self.discard(model, object_id, store)
        if abandoned:
            logger.info("swept %d abandoned upload(s)", len(abandoned))
        unsettled = await self.catalogue.unsettled(utcnow())
        for row in unsettled:
            await self.settle(row)
        return len(abandoned) + len(unsettled)

    async def settle(self, row: Image | File | Table) -> None:
        """Check again, now that nothing can write it any more, what finish verified: what was
        written after finish counts (size), and an array changed since is removed."""
        try:
            if isinstance(row, Image):
                await verify_image(self.datalayer, row, self.limits)
            _, size = await self.datalayer.usage(row.store)
            if isinstance(row, File | Table) and size != row.size_bytes:
                raise InvalidUpload(f"{size} bytes are stored, {row.size_bytes} were verified")
            if isinstance(row, Table):
                facts = await check_parquet(self.datalayer, f"{row.store}/data", size)
                if (facts.columns, facts.num_rows) != (row.columns, row.num_rows):
                    raise InvalidUpload("the parquet footer differs from the one verified")
        except InvalidUpload as e:
            logger.warning(
                "removing %s %s, changed after its upload was verified: %s",
                type(row).__name__.lower(),
                row.id,
                e,
            )
            await self.discard(type(row), row.id, row.store)
            return
        await self.catalogue.settled(type(row), row.id, size)
        if isinstance(row, Image):
            await self.thumbnails.forget(row.id)

    async def _sweep_forever(
        self, interval: float, lease: Callable[[str, float], Awaitable[bool]] | None
    ) -> None:
        while True:
            try:
                if lease is None or await lease("upload-sweeper", 3 * interval):
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
