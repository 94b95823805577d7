"""Write-behind storage of assignations and their events.

Calls are routed in memory; the database learns about them in batches (every ``interval``
seconds, or sooner when many are pending), so a call never waits for a disk write. A call that
starts and ends between two flushes is inserted once, already finished. Stopping the recorder
flushes what is pending.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
from typing import Any

from sqlalchemy import Table, bindparam

from ..db import Database
from .models import Assignation, AssignationEvent

logger = logging.getLogger("arkitekt.server.rpc")

ASSIGNATIONS: Table = Assignation.__table__  # type: ignore[assignment]
EVENTS: Table = AssignationEvent.__table__  # type: ignore[assignment]


class Recorder:
    def __init__(self, db: Database, *, interval: float = 0.05, batch: int = 2000) -> None:
        self.db = db
        self.interval = interval
        self.batch = batch
        self._new: dict[str, dict[str, Any]] = {}
        self._changed: dict[str, dict[str, Any]] = {}
        self._events: list[dict[str, Any]] = []
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="arkitekt-rpc-recorder")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self.flush()

    def created(self, row: dict[str, Any]) -> None:
        """A new assignation (all columns)."""
        self._new[row["id"]] = row
        self._poke()

    def changed(self, assignation_id: str, **values: Any) -> None:
        """New values for an assignation's columns (status, agent, ...)."""
        pending = self._new.get(assignation_id)
        if pending is not None:
            pending.update(values)
        else:
            self._changed.setdefault(assignation_id, {}).update(values)
        self._poke()

    def event(
        self, assignation_id: str, index: int, kind: str, data: dict[str, Any], at: dt.datetime
    ) -> None:
        self._events.append(
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
        return len(self._new) + len(self._changed) + len(self._events)

    def _poke(self) -> None:
        if self.pending >= self.batch:
            self._wake.set()

    async def _run(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.interval)
            self._wake.clear()
            try:
                await self.flush()
            except Exception:  # keep the server serving; the rows stay pending for the next try
                logger.exception("storing assignations failed; retrying")
                await asyncio.sleep(1.0)

    async def flush(self) -> None:
        async with self._lock:
            new, changed, events = self._new, self._changed, self._events
            if not (new or changed or events):
                return
            self._new, self._changed, self._events = {}, {}, []
            try:
                # Core statements on a plain connection: no ORM unit of work per batch
                async with self.db.engine.begin() as connection:
                    if new:
                        await connection.execute(ASSIGNATIONS.insert(), list(new.values()))
                    groups: dict[tuple[str, ...], list[dict[str, Any]]] = {}
                    for key, values in changed.items():
                        groups.setdefault(tuple(sorted(values)), []).append({"_id": key, **values})
                    for columns, rows in groups.items():
                        statement = (
                            ASSIGNATIONS.update()
                            .where(ASSIGNATIONS.c.id == bindparam("_id"))
                            .values({column: bindparam(column) for column in columns})
                        )
                        await connection.execute(statement, rows)
                    if events:
                        await connection.execute(EVENTS.insert(), events)
            except BaseException:
                # put them back in front of anything that arrived meanwhile
                for key, row in new.items():
                    row.update(self._new.pop(key, {}))
                    self._new[key] = row
                for key, values in changed.items():
                    self._changed[key] = {**values, **self._changed.get(key, {})}
                self._events = events + self._events
                raise
