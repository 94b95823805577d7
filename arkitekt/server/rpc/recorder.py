"""Write-behind storage of assignations and their events.

Calls are routed in memory; the database learns about them in batches (every ``interval``
seconds, or sooner when many are pending), so a call never waits for a disk write. A call that
starts and ends between two flushes is inserted once, already finished. Stopping the recorder
flushes what is pending.

What one caller sends can never stop history being stored for everyone:

- an assignation whose id is stored already is not inserted (``ON CONFLICT DO NOTHING``); it is
  *rejected*: its changes and events are dropped, now and later, and the broker is told (it ends
  the call for its caller with ``duplicate``). Ids are client-chosen; the broker refuses ids it
  holds in memory at once, this is the durable check behind it;
- a batch the database refuses for its content (an integrity or data error; anything else,
  such as a lost or refused connection, is an outage: the rows wait) is written again one
  assignation at a time, so only the rows that are really bad are dropped (logged by id, and
  counted in :attr:`Recorder.dropped`);
- :meth:`Recorder.stored` waits until everything recorded so far is in the database (the
  gateway acknowledges an agent's reports only then, so a report the server had not stored when
  it crashed is sent again by the agent);
- while the database is unreachable rows wait, and the backlog is bounded: past
  ``max_backlog`` pending rows :attr:`Recorder.overloaded` is true and the broker refuses new
  calls (``busy``) rather than holding more than it can store.

Log lines name assignation ids and exception types, never SQL or its parameters (arguments are
user data).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Table, bindparam, select
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError, StatementError
from sqlalchemy.ext.asyncio import AsyncConnection

from arkitekt.protocol.ids import lowest_id_since

from ..db import Database
from .models import Assignation, AssignationEvent

logger = logging.getLogger("arkitekt.server.rpc")

ASSIGNATIONS: Table = Assignation.__table__  # type: ignore[assignment]
EVENTS: Table = AssignationEvent.__table__  # type: ignore[assignment]


ROWS_PER_STATEMENT = 64
"""Rows bound per statement. The driver's parameters are prepared on the event loop (JSON,
datetimes), so a statement of a whole batch would hold up every call for milliseconds; with
small statements the loop serves calls between them, within the same transaction."""

REJECTED_MEMORY = 600.0
"""Seconds a rejected id is remembered (its late changes and events are dropped meanwhile)."""


@dataclass
class Batch:
    """Rows waiting to be written: new assignations, column changes, events."""

    new: dict[str, dict[str, Any]] = field(default_factory=dict)
    changed: dict[str, dict[str, Any]] = field(default_factory=dict)
    events: list[dict[str, Any]] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.new) + len(self.changed) + len(self.events)

    def per_assignation(self) -> Iterable[tuple[str, Batch]]:
        """The batch split by assignation, each part in its original order."""
        parts: dict[str, Batch] = {}
        for key, row in self.new.items():
            parts.setdefault(key, Batch()).new[key] = row
        for key, values in self.changed.items():
            parts.setdefault(key, Batch()).changed[key] = values
        for event in self.events:
            parts.setdefault(event["assignation_id"], Batch()).events.append(event)
        return parts.items()

    def without(self, ids: set[str]) -> None:
        """Drop every row of these assignations."""
        for key in ids:
            self.new.pop(key, None)
            self.changed.pop(key, None)
        self.events = [e for e in self.events if e["assignation_id"] not in ids]


class Recorder:
    def __init__(
        self,
        db: Database,
        *,
        interval: float = 0.05,
        batch: int = 2000,
        max_backlog: int = 200_000,
    ) -> None:
        self.db = db
        self.interval = interval
        self.batch = batch
        self.max_backlog = max_backlog
        self.dropped = 0
        """Rows given up on because the database refused them (each logged)."""
        self._pending = Batch()
        self._waiters: list[asyncio.Future[None]] = []
        """Callers of :meth:`stored`, answered by the flush that takes the rows before them."""
        self._rejected: dict[str, float] = {}
        """Ids refused as duplicates -> when (their late rows are dropped too)."""
        self._on_rejected: Callable[[list[str]], None] = lambda ids: None
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()
        self._overload_logged = False

    def on_rejected(self, handler: Callable[[list[str]], None]) -> None:
        """Tell ``handler`` the ids of assignations refused because their id was taken."""
        self._on_rejected = handler

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="arkitekt-rpc-recorder")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self.flush()

    # -- rows ------------------------------------------------------------------------------------

    def created(self, row: dict[str, Any]) -> None:
        """A new assignation (all columns)."""
        self._pending.new[row["id"]] = row
        self._poke()

    def changed(self, assignation_id: str, **values: Any) -> None:
        """New values for an assignation's columns (status, agent, ...)."""
        if assignation_id in self._rejected:
            return
        pending = self._pending.new.get(assignation_id)
        if pending is not None:
            pending.update(values)
        else:
            self._pending.changed.setdefault(assignation_id, {}).update(values)
        self._poke()

    def event(
        self, assignation_id: str, index: int, kind: str, data: dict[str, Any], at: dt.datetime
    ) -> None:
        if assignation_id in self._rejected:
            return
        self._pending.events.append(
            {
                "assignation_id": assignation_id,
                "index": index,
                "kind": kind,
                "data": data,
                "created_at": at,
            }
        )
        self._poke()

    @property
    def pending(self) -> int:
        """Rows waiting to be written (the backlog)."""
        return len(self._pending)

    @property
    def overloaded(self) -> bool:
        """Whether the backlog is full: new calls should be refused until it drains."""
        backlog = self.pending
        full = backlog >= self.max_backlog
        if full != self._overload_logged:
            self._overload_logged = full
            if full:
                logger.warning(
                    "%d call history rows wait to be stored: refusing new calls", backlog
                )
            else:
                logger.warning("the call history backlog drained: accepting calls again")
        return full

    async def stored_ids_since(self, moment: float) -> list[str]:
        """Ids of the stored assignations minted since ``moment`` (time-ordered ids sort by
        time, so this is a range of the primary key)."""
        query = select(ASSIGNATIONS.c.id).where(ASSIGNATIONS.c.id >= lowest_id_since(moment))
        async with self.db.engine.connect() as connection:
            return list((await connection.execute(query)).scalars())

    async def stored(self) -> None:
        """Return once every row recorded before this call is stored (or refused for its
        content, which retrying cannot change). Waits as long as the database is unreachable:
        callers bound the wait themselves (or are cancelled)."""
        if not self._pending and not self._lock.locked():
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        await waiter

    def _poke(self) -> None:
        if self.pending >= self.batch:
            self._wake.set()

    # -- writing ---------------------------------------------------------------------------------

    async def _run(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.interval)
            self._wake.clear()
            try:
                await self.flush()
            except Exception as e:  # unreachable database: the rows wait for the next try
                logger.warning(
                    "storing call history failed (%s); %d rows wait, retrying",
                    _described(e),
                    self.pending,
                )
                await asyncio.sleep(1.0)

    async def flush(self) -> None:
        """Write what is pending. Raises only when the database cannot be reached (the rows
        stay pending); rows it refuses are dropped, one assignation at a time."""
        async with self._lock:
            batch, self._pending = self._pending, Batch()
            waiters, self._waiters = self._waiters, []
            try:
                if batch:
                    await self._write(batch)
            except BaseException as e:
                if isinstance(e, Exception) and _refused(e):
                    try:
                        await self._write_each(batch)
                    except BaseException:
                        self._waiters[:0] = waiters  # the rest was put back: so are they
                        raise
                    _answer(waiters)
                    return
                self._put_back(batch)
                self._waiters[:0] = waiters
                raise
            _answer(waiters)

    async def flush_for_reading(self) -> None:
        """Write what is pending before a read, so the reader sees the latest calls; when the
        database cannot take it now, read what is stored (the recorder keeps retrying)."""
        try:
            await self.flush()
        except Exception as e:
            logger.warning("storing call history failed (%s) before a read", _described(e))

    async def _write_each(self, batch: Batch) -> None:
        """Write a refused batch one assignation at a time, dropping only the bad ones."""
        parts = list(batch.per_assignation())
        for i, (assignation_id, part) in enumerate(parts):
            try:
                await self._write(part)
            except Exception as e:
                if not _refused(e):  # the database went away meanwhile: keep the rest
                    for _, rest in parts[i:]:
                        self._put_back(rest)
                    raise
                self.dropped += len(part)
                logger.warning(
                    "dropped %d history rows of assignation %s the database refused (%s)",
                    len(part),
                    assignation_id,
                    _described(e),
                )

    async def _write(self, batch: Batch) -> None:
        # Core statements on a plain connection: no ORM unit of work per batch
        async with self.db.engine.begin() as connection:
            rejected = await self._insert(connection, batch) if batch.new else set()
            batch.without(rejected)
            groups: dict[tuple[str, ...], list[dict[str, Any]]] = {}
            for key, values in batch.changed.items():
                groups.setdefault(tuple(sorted(values)), []).append({"_id": key, **values})
            for columns, rows in groups.items():
                statement = (
                    ASSIGNATIONS.update()
                    .where(ASSIGNATIONS.c.id == bindparam("_id"))
                    .values({column: bindparam(column) for column in columns})
                )
                for chunk in _chunks(rows):
                    await connection.execute(statement, chunk)
            for chunk in _chunks(batch.events):
                await connection.execute(EVENTS.insert(), chunk)
        if rejected:
            self._reject(rejected)

    async def _insert(self, connection: AsyncConnection, batch: Batch) -> set[str]:
        """Insert the new assignations; returns the ids that were taken already."""
        statement = self.db.insert_or_ignore(Assignation, "id").returning(ASSIGNATIONS.c.id)
        inserted: set[str] = set()
        for chunk in _chunks(list(batch.new.values())):
            inserted.update((await connection.execute(statement, chunk)).scalars())
        return set(batch.new) - inserted

    def _reject(self, ids: set[str]) -> None:
        now = time.monotonic()
        for key in [k for k, at in self._rejected.items() if now - at > REJECTED_MEMORY]:
            del self._rejected[key]
        self._rejected.update(dict.fromkeys(ids, now))
        logger.warning("refused %d assignations whose id was taken: %s", len(ids), sorted(ids))
        self._on_rejected(sorted(ids))

    def _put_back(self, batch: Batch) -> None:
        """Return rows to the front of the queue, ahead of anything that arrived meanwhile."""
        pending = self._pending
        for key, row in batch.new.items():
            row.update(pending.new.pop(key, {}))
        pending.new = {**batch.new, **pending.new}
        for key, values in batch.changed.items():
            pending.changed[key] = {**values, **pending.changed.get(key, {})}
        pending.events = batch.events + pending.events


def _chunks(rows: list[dict[str, Any]]) -> Iterable[list[dict[str, Any]]]:
    for start in range(0, len(rows), ROWS_PER_STATEMENT):
        yield rows[start : start + ROWS_PER_STATEMENT]


def _answer(waiters: list[asyncio.Future[None]]) -> None:
    for waiter in waiters:
        if not waiter.done():
            waiter.set_result(None)


def _refused(error: Exception) -> bool:
    """Whether the database refused the rows for what they hold (retrying cannot help), rather
    than could not take them now (connection refused or lost, server restarting, database
    locked: they wait for the next try; a row is never dropped for an outage)."""
    if isinstance(error, DBAPIError):
        return isinstance(error, IntegrityError | DataError) and not error.connection_invalidated
    return isinstance(error, StatementError)  # a value that could not be sent (not JSON, ...)


def _described(error: Exception) -> str:
    """An exception's kind without its SQL or parameters (they carry user data)."""
    if isinstance(error, DBAPIError) and error.orig is not None:
        return f"{type(error).__name__}: {type(error.orig).__name__}"
    return type(error).__name__
