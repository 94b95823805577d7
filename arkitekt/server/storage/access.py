"""Whether a local-datalayer grant may still be used, checked on every request.

A grant is a signed token that names a prefix and lives for minutes (see :mod:`.grants`), but
what it stands for can end sooner: an upload is finished or aborted, an image is unshared or
deleted. So the object routes ask here on each request:

- a **write** grant works only while its upload is in progress and owned by the grant's
  subject: one primary-key lookup when the request starts and again just before its object
  lands. Finishing first marks the record ``finishing`` (aborting removes it), so that second
  lookup fails for a write still arriving; in this process the prefix is also *closed* while
  finish or abort runs, checked with no ``await`` before the object lands;
- a **read** grant works only while its subject may see the object. A positive answer is kept
  for ``storage_read_check_seconds`` (a zarr read is many requests); sharing changes and
  deletions made through this process clear it at once.

With several processes on one data folder, a write whose last lookup came just before another
process marked the upload can still land in the instant between that lookup and the rename.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

from .catalogue import Model, NotFound, StorageCatalogue
from .grants import GrantClaims
from .models import UPLOADING, File, Image, Table

_MODELS: dict[str, Model] = {"images": Image, "files": File, "tables": Table}


class AccessEnded(PermissionError):
    """The grant is genuine but what it stood for has ended; the message says what."""


def object_of(prefix: str) -> tuple[Model, str] | None:
    """The model and id a store prefix belongs to (``images/<id>``, ``files/<id>``,
    ``tables/<id>``)."""
    folder, _, object_id = prefix.partition("/")
    model = _MODELS.get(folder)
    if model is None or not object_id or "/" in object_id:
        return None
    return model, object_id


class GrantAccess:
    """Checks grants against the catalogue, and keeps track of writes in flight."""

    def __init__(self, catalogue: StorageCatalogue, read_check_seconds: float) -> None:
        self.catalogue = catalogue
        self.read_check_seconds = read_check_seconds
        self._readable: dict[tuple[str, str], float] = {}
        self._closed: set[str] = set()

    # -- checks ----------------------------------------------------------------------------------

    async def check(self, claims: GrantClaims) -> None:
        """Raise :class:`AccessEnded` unless the grant may be used now."""
        if claims.write:
            await self.check_upload(claims)
        else:
            await self._check_read(claims)

    async def check_upload(self, claims: GrantClaims) -> None:
        """The grant's upload is in progress, its subject's, and not being closed here."""
        target = object_of(claims.prefix)
        if target is None or self.is_closed(claims.prefix):
            raise AccessEnded("the upload has ended: this grant no longer writes")
        model, object_id = target
        async with self.catalogue.db.new_session() as s:
            row: Image | File | Table | None = await s.get(model, object_id)
        if row is None or row.status != UPLOADING or row.owner_id != claims.subject:
            raise AccessEnded("the upload has ended: this grant no longer writes")

    async def _check_read(self, claims: GrantClaims) -> None:
        key = (claims.subject, claims.prefix)
        now = time.monotonic()
        if self._readable.get(key, 0.0) > now:
            return
        target = object_of(claims.prefix)
        if target is None:
            raise AccessEnded("this grant no longer reads")
        model, object_id = target
        try:
            found: Image | File | Table
            if model is Image:
                found = await self.catalogue.visible(Image, object_id, claims.subject)
            elif model is Table:
                found = await self.catalogue.visible(Table, object_id, claims.subject)
            else:
                found = await self.catalogue.visible(File, object_id, claims.subject)
        except NotFound:
            self._readable.pop(key, None)
            raise AccessEnded(
                "the object was deleted or is no longer shared with you: this grant no longer reads"
            ) from None
        if found.store != claims.prefix:
            raise AccessEnded("this grant no longer reads")
        if len(self._readable) > 4096:
            self._readable = {k: t for k, t in self._readable.items() if t > now}
        self._readable[key] = now + self.read_check_seconds

    def forget_reads(self) -> None:
        """Sharing changed or something was deleted: check every read grant afresh."""
        self._readable.clear()

    # -- uploads being closed --------------------------------------------------------------------

    def is_closed(self, prefix: str) -> bool:
        """Whether finish or abort is under way for ``prefix`` in this process."""
        return prefix in self._closed

    @contextmanager
    def closed(self, prefix: str) -> Iterator[None]:
        """Refuse writes to ``prefix`` while the body runs. A write in flight checks this
        right before its object lands (no ``await`` in between), so none lands after finish
        or abort has begun; it is never waited for (a slow client cannot stall them)."""
        self._closed.add(prefix)
        try:
            yield
        finally:
            self._closed.discard(prefix)
