"""From a grant to bytes: zarr stores and object stores over the datalayer, kept authorised.

A grant opens one key prefix for a while (see the server's ``datalayer`` module). Three kinds
of access come out of it, all through obstore:

- the prefix's folder, when the server runs in this process (found through that server; a
  grant never names a filesystem path): no HTTP at all;
- the local datalayer over HTTP (``grant.url`` + bearer ``grant.token``);
- S3 with temporary credentials scoped to the prefix.

:class:`GrantedStore` is the zarr store images are read and written through: before each
operation it checks the grant, and renews it shortly before it expires, so a lazily read image
stays readable for as long as the app lives.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from zarr.abc.store import ByteRequest, Store
from zarr.core.buffer import Buffer, BufferPrototype
from zarr.storage import ObjectStore, WrapperStore

from ...errors import ServerError

if TYPE_CHECKING:
    from obstore.store import ClientConfig
    from obstore.store import ObjectStore as ObstoreStore

    from .api import Grant

RENEW_MARGIN = 60.0
"""Seconds before expiry at which a grant is renewed."""


def object_store(
    grant: Grant, *, folder: Path | None = None, proxy: str | None = None
) -> ObstoreStore:
    """An obstore store rooted at the grant's prefix.

    ``folder``: the prefix's folder, when the server runs in this process (used as is).
    ``proxy``: an HTTP proxy for the transfers (None: the environment's proxy variables).
    """
    from obstore.store import HTTPStore, LocalStore, S3Store

    if grant.kind == "http":
        if folder is not None:
            folder.mkdir(parents=True, exist_ok=True)
            return LocalStore(folder, mkdir=True)
        if not grant.url or not grant.token:
            raise ServerError("an http grant needs a url and a token")
        return HTTPStore.from_url(
            grant.url.rstrip("/"),
            client_options=_with_proxy(
                {
                    "allow_http": True,
                    "default_headers": {"authorization": f"Bearer {grant.token}"},
                    "timeout": "120s",
                    "connect_timeout": "10s",
                },
                proxy,
            ),
        )
    if grant.kind == "s3":
        if not grant.bucket or not grant.access_key_id or not grant.secret_access_key:
            raise ServerError("an s3 grant needs a bucket and credentials")
        options: ClientConfig = {"timeout": "120s", "connect_timeout": "10s"}
        if grant.endpoint and grant.endpoint.startswith("http://"):
            options["allow_http"] = True
        return S3Store(
            grant.bucket,
            prefix=grant.prefix,
            endpoint=grant.endpoint,
            region=grant.region or "us-east-1",
            access_key_id=grant.access_key_id,
            secret_access_key=grant.secret_access_key,
            token=grant.session_token,
            virtual_hosted_style_request=False,
            client_options=_with_proxy(options, proxy),
        )
    raise ServerError(f"this client does not know datalayer grants of kind {grant.kind!r}")


def _with_proxy(options: ClientConfig, proxy: str | None) -> ClientConfig:
    if proxy:
        options["proxy_url"] = proxy
    return options


class GrantKeeper:
    """The current grant for one prefix, renewed through the app's loop when it runs out.

    zarr runs store operations on its own event loop thread, while asking the server for a grant
    must happen on the app's loop (its HTTP session lives there): renewals are handed over.
    """

    def __init__(
        self,
        grant: Grant,
        renew: Callable[[], Awaitable[Grant]],
        loop: asyncio.AbstractEventLoop,
        proxy: str | None = None,
    ) -> None:
        self.grant = grant
        self.proxy = proxy
        self._renew = renew
        self._loop = loop
        self._lock = threading.Lock()
        self._pending: Any = None  # concurrent.futures.Future of a renewal in flight
        self.store = object_store(grant, proxy=proxy)

    def _expiring(self) -> bool:
        remaining = self.grant.expires_at - dt.datetime.now(dt.UTC)
        return remaining.total_seconds() < RENEW_MARGIN

    async def fresh(self) -> ObstoreStore:
        """The obstore store, renewed first when the grant is about to run out."""
        if not self._expiring():
            return self.store
        if asyncio.get_running_loop() is self._loop:
            await self._apply(await self._renew())
            return self.store
        with self._lock:
            if self._pending is None:
                self._pending = asyncio.run_coroutine_threadsafe(self._renew_here(), self._loop)
            pending = self._pending
        await asyncio.wait_for(asyncio.wrap_future(pending), timeout=60)
        return self.store

    def fresh_blocking(self, timeout: float = 60) -> ObstoreStore:
        """:meth:`fresh` for a worker thread with no event loop (parquet reads): a renewal is
        run on the app's loop and waited for."""
        if self._expiring():
            asyncio.run_coroutine_threadsafe(self.fresh(), self._loop).result(timeout)
        return self.store

    async def _renew_here(self) -> None:
        try:
            await self._apply(await self._renew())
        finally:
            with self._lock:
                self._pending = None

    async def _apply(self, grant: Grant) -> None:
        self.store = object_store(grant, proxy=self.proxy)
        self.grant = grant


class GrantedStore(WrapperStore[ObjectStore[Any]]):
    """A zarr store over a grant's prefix that renews the grant as needed."""

    def __init__(self, keeper: GrantKeeper, *, read_only: bool = False) -> None:
        super().__init__(ObjectStore(keeper.store, read_only=read_only))
        self.keeper = keeper
        self._read_only = read_only
        self._current = keeper.store

    def _with_store(self, store: ObjectStore[Any]) -> GrantedStore:
        return GrantedStore(self.keeper, read_only=store.read_only)

    def with_read_only(self, read_only: bool = False) -> GrantedStore:
        return GrantedStore(self.keeper, read_only=read_only)

    async def _fresh(self) -> Store:
        current = await self.keeper.fresh()
        if current is not self._current:
            self._store = ObjectStore(current, read_only=self._read_only)
            self._current = current
        return self._store

    def __eq__(self, value: object) -> bool:
        return isinstance(value, GrantedStore) and value.keeper is self.keeper

    def __repr__(self) -> str:
        return f"GrantedStore({self.keeper.grant.kind}, {self.keeper.grant.prefix!r})"

    async def get(
        self, key: str, prototype: BufferPrototype, byte_range: ByteRequest | None = None
    ) -> Buffer | None:
        return await (await self._fresh()).get(key, prototype, byte_range)

    async def get_partial_values(
        self, prototype: BufferPrototype, key_ranges: Iterable[tuple[str, ByteRequest | None]]
    ) -> list[Buffer | None]:
        return await (await self._fresh()).get_partial_values(prototype, key_ranges)

    async def exists(self, key: str) -> bool:
        return await (await self._fresh()).exists(key)

    async def set(self, key: str, value: Buffer) -> None:
        await (await self._fresh()).set(key, value)

    async def set_if_not_exists(self, key: str, value: Buffer) -> None:
        await (await self._fresh()).set_if_not_exists(key, value)

    async def delete(self, key: str) -> None:
        await (await self._fresh()).delete(key)

    async def is_empty(self, prefix: str) -> bool:
        return await (await self._fresh()).is_empty(prefix)

    async def list(self) -> AsyncIterator[str]:
        async for key in (await self._fresh()).list():
            yield key

    async def list_prefix(self, prefix: str) -> AsyncIterator[str]:
        async for key in (await self._fresh()).list_prefix(prefix):
            yield key

    async def list_dir(self, prefix: str) -> AsyncIterator[str]:
        async for key in (await self._fresh()).list_dir(prefix):
            yield key
