"""Replicas of one server, talking through Redis: who is alive, inboxes, call homes, leases.

Every replica has an id (random, chosen at start) and an *inbox*: a Redis stream only it reads.
Replicas send each other *envelopes* (small JSON objects, see :mod:`.replicated_broker`): a
writer task gathers what was posted since its last turn and sends it in one pipeline, one
stream entry per destination, so a burst of calls costs one round trip, not one per message.
Streams rather than pub/sub: a replica that loses its Redis connection for a moment reads on
from where it stopped.

Liveness: each replica writes its heartbeat (a score in a sorted set) every ``heartbeat``
seconds; one silent for ``dead_after`` seconds is gone, and :attr:`on_replica_gone` is told
(its agents and callers count as disconnected there, with the usual grace). A replica that
stops cleanly sets its score to 0, so the others know at their next heartbeat.

Redis itself may restart and lose everything it held (inboxes, call homes, heartbeats). A
replica notices from Redis' run id and tells :attr:`on_redis_restarted`: what was in flight
between replicas may be lost, so the apps reconnect and send again what was not acknowledged.
A replica missing from a restarted Redis counts as gone only if it does not beat again within
``3 * dead_after``.

A call's *home* is the replica whose broker holds it (the one its caller sent it to); its id
maps to the home for a while (:meth:`set_home`, written behind), so a caller that reconnects
to another replica is forwarded to its calls.

Leases (:meth:`lease`) make work that must run once per cluster (sweeping uploads, adopting a
dead replica's calls) run on one replica at a time.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import redis.asyncio as redis
from redis.exceptions import RedisError

from ..config import ServerConfig

logger = logging.getLogger("arkitekt.server.rpc.cluster")

Envelope = dict[str, Any]
"""One message between replicas (JSON)."""

INBOX_MAX_ENTRIES = 100_000
"""Entries an inbox keeps (approximately): a replica that stopped reading cannot fill Redis."""
INBOX_TTL = 120
"""Seconds an inbox outlives its replica's last heartbeat."""


@dataclass(frozen=True)
class Home:
    """Where a call is held: the replica, and the sessions of its caller and of its agent."""

    replica: str
    caller: tuple[str, str, str]
    agent: tuple[str, str, str] | None

    @classmethod
    def of(cls, value: str) -> Home:
        data = json.loads(value)
        agent = data.get("a")
        return cls(
            replica=str(data["r"]),
            caller=(str(data["c"][0]), str(data["c"][1]), str(data["c"][2])),
            agent=(str(agent[0]), str(agent[1]), str(agent[2])) if agent else None,
        )


class Cluster:
    """This replica's link to the others (see the module's docstring)."""

    def __init__(
        self,
        url: str,
        *,
        prefix: str = "arkitekt:",
        heartbeat: float = 1.0,
        dead_after: float = 5.0,
        home_ttl: float = 3600.0,
    ) -> None:
        self.replica = uuid.uuid4().hex[:12]
        self.prefix = prefix
        self.heartbeat = heartbeat
        self.dead_after = dead_after
        self.home_ttl = home_ttl
        options: dict[str, Any] = {"decode_responses": True, "socket_connect_timeout": 5}
        self._redis: redis.Redis = redis.from_url(url, socket_timeout=10, **options)
        self._reader_redis: redis.Redis = redis.from_url(url, **options)
        self._outbox: dict[str, list[Envelope]] = {}
        self._homes: list[tuple[str, str]] = []
        self._posted = asyncio.Event()
        self._alive: set[str] = set()
        self._missing_since: dict[str, float] = {}
        self._run_id: str | None = None
        """Redis' run id when this replica joined (it changes when Redis restarts)."""
        self._tasks: list[asyncio.Task[None]] = []
        self.on_envelope: Callable[[str, Envelope], Awaitable[None]] | None = None
        """Told every envelope that arrives, with the replica it came from."""
        self.on_replica_gone: Callable[[str], None] | None = None
        """Told the id of a replica that stopped beating."""
        self.on_redis_restarted: Callable[[], None] | None = None
        """Told when Redis restarted (and lost what it held)."""

    @classmethod
    def of(cls, config: ServerConfig) -> Cluster:
        """The cluster a server's configuration names (``redis_url``), not joined yet."""
        if config.redis_url is None:
            raise ValueError("redis_url is not set: a server without Redis runs alone")
        return cls(
            config.redis_url,
            prefix=config.redis_key_prefix,
            heartbeat=config.replica_heartbeat,
            dead_after=config.replica_dead_after,
            home_ttl=max(3600.0, config.rpc_call_id_window),
        )

    # -- keys ------------------------------------------------------------------------------------

    def _inbox(self, replica: str) -> str:
        return f"{self.prefix}inbox:{replica}"

    @property
    def _replicas(self) -> str:
        return f"{self.prefix}replicas"

    def _home(self, call_id: str) -> str:
        return f"{self.prefix}home:{call_id}"

    # -- running ---------------------------------------------------------------------------------

    async def start(self) -> None:
        """Join: announce this replica, learn the others, start reading and writing."""
        await self._redis.ping()
        await self._beat()
        self._tasks = [
            asyncio.create_task(self._read_forever(), name="arkitekt-cluster-read"),
            asyncio.create_task(self._write_forever(), name="arkitekt-cluster-write"),
            asyncio.create_task(self._beat_forever(), name="arkitekt-cluster-beat"),
        ]

    async def stop(self) -> None:
        """Leave: send what is posted, stop the tasks, and say goodbye (others need not wait
        ``dead_after`` to know)."""
        with contextlib.suppress(RedisError, OSError):
            async with asyncio.timeout(2):
                await self._flush()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        with contextlib.suppress(RedisError, OSError, TimeoutError):
            async with asyncio.timeout(2):
                await self._redis.zadd(self._replicas, {self.replica: 0})  # stopped: now
        await self._redis.aclose()
        await self._reader_redis.aclose()

    async def ping(self) -> None:
        """Return when Redis answers (raises otherwise)."""
        await self._redis.ping()

    @property
    def others(self) -> set[str]:
        """The other replicas alive at the last heartbeat."""
        return self._alive - {self.replica}

    def alive(self, replica: str) -> bool:
        return replica == self.replica or replica in self._alive

    # -- sending ---------------------------------------------------------------------------------

    def post(self, replica: str, envelope: Envelope) -> None:
        """Send an envelope to one replica (written behind, in order per destination)."""
        self._outbox.setdefault(replica, []).append(envelope)
        self._posted.set()

    def broadcast(self, envelope: Envelope) -> None:
        """Send an envelope to every other replica alive."""
        for replica in self.others:
            self.post(replica, envelope)

    def set_home(self, call_id: str, caller: list[str], agent: list[str] | None) -> None:
        """Remember (written behind) that this replica holds the call, for ``caller`` (its
        session: whoever takes the call over after this replica stopped tells it), running on
        ``agent`` (its session, once chosen: calls made from inside it are checked against it)."""
        value = {"r": self.replica, "c": caller, "a": agent}
        self._homes.append((call_id, json.dumps(value, separators=(",", ":"))))
        self._posted.set()

    async def home(self, call_id: str) -> Home | None:
        """Where the call is held, if known."""
        value: Any = await self._redis.get(self._home(call_id))
        return Home.of(value) if value is not None else None

    async def homes(self, call_ids: list[str]) -> dict[str, Home]:
        """Where each of the calls is held, for those known."""
        if not call_ids:
            return {}
        values: list[Any] = await self._redis.mget([self._home(i) for i in call_ids])
        return {
            call_id: Home.of(value)
            for call_id, value in zip(call_ids, values, strict=True)
            if value is not None
        }

    async def done(self, name: str) -> bool:
        """Whether a one-time job (:meth:`mark_done`) was done already, by any replica."""
        return bool(await self._redis.exists(f"{self.prefix}done:{name}"))

    async def mark_done(self, name: str, seconds: float) -> None:
        """Mark a one-time job done (remembered for ``seconds``)."""
        await self._redis.set(f"{self.prefix}done:{name}", self.replica, ex=int(seconds))

    async def _write_forever(self) -> None:
        while True:
            await self._posted.wait()
            self._posted.clear()
            try:
                await self._flush()
            except (RedisError, OSError) as e:
                logger.warning("sending to other replicas failed (retrying): %r", e)
                await asyncio.sleep(0.2)
                self._posted.set()

    async def _flush(self) -> None:
        outbox, self._outbox = self._outbox, {}
        homes, self._homes = self._homes, []
        if not outbox and not homes:
            return
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                for replica, envelopes in outbox.items():
                    pipe.xadd(
                        self._inbox(replica),
                        {"o": self.replica, "b": json.dumps(envelopes, separators=(",", ":"))},
                        maxlen=INBOX_MAX_ENTRIES,
                        approximate=True,
                    )
                ttl = int(self.home_ttl)
                for call_id, value in homes:
                    pipe.set(self._home(call_id), value, ex=ttl)
                await pipe.execute()
        except BaseException:
            for replica, envelopes in outbox.items():  # put back, in front of newer ones
                self._outbox[replica] = envelopes + self._outbox.get(replica, [])
            self._homes = homes + self._homes
            raise

    # -- receiving -------------------------------------------------------------------------------

    async def _read_forever(self) -> None:
        inbox = self._inbox(self.replica)
        last = "$"
        while True:
            try:
                answer: Any = await self._reader_redis.xread({inbox: last}, count=1000, block=1000)
            except (RedisError, OSError) as e:
                logger.warning("reading from other replicas failed (retrying): %r", e)
                await asyncio.sleep(0.5)
                continue
            for _stream, entries in answer or ():
                for entry_id, fields in entries:
                    last = entry_id
                    for envelope in json.loads(fields["b"]):
                        await self._deliver(fields["o"], envelope)

    async def _deliver(self, origin: str, envelope: Envelope) -> None:
        self._alive.add(origin)  # a replica that just joined, before the next heartbeat
        if self.on_envelope is None:
            return
        try:
            await self.on_envelope(origin, envelope)
        except Exception:  # one bad envelope must not stop the inbox
            logger.exception("handling a message from replica %s failed", origin)

    # -- liveness --------------------------------------------------------------------------------

    async def _beat_forever(self) -> None:
        while True:
            await asyncio.sleep(self.heartbeat)
            try:
                await self._beat()
            except (RedisError, OSError) as e:
                logger.warning("replica heartbeat failed (retrying): %r", e)

    async def _beat(self) -> None:
        now = time.time()
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.zadd(self._replicas, {self.replica: now})
            pipe.expire(self._inbox(self.replica), INBOX_TTL)
            pipe.zrange(self._replicas, 0, -1, withscores=True)
            pipe.zremrangebyscore(self._replicas, "-inf", now - INBOX_TTL)
            pipe.info("server")
            answers: list[Any] = await pipe.execute()
        run_id = str(answers[4].get("run_id", ""))
        if self._run_id is None:
            self._run_id = run_id
        elif run_id != self._run_id:
            self._run_id = run_id
            logger.warning("Redis restarted: apps reconnect and send again what was in flight")
            if self.on_redis_restarted is not None:
                self.on_redis_restarted()
        scores = {str(replica): float(score) for replica, score in answers[2]}
        alive = {r for r, score in scores.items() if score >= now - self.dead_after}
        for replica in self._alive - set(scores):  # missing (Redis restarted): wait a while
            since = self._missing_since.setdefault(replica, now)
            if now - since < 3 * self.dead_after:
                alive.add(replica)
        for replica in alive & set(scores):
            self._missing_since.pop(replica, None)
        alive.add(self.replica)
        gone = self._alive - alive
        self._alive = alive
        for replica in gone:
            self._missing_since.pop(replica, None)
            logger.warning("replica %s stopped answering", replica)
            if self.on_replica_gone is not None:
                self.on_replica_gone(replica)

    # -- leases ----------------------------------------------------------------------------------

    async def lease(self, name: str, seconds: float) -> bool:
        """Take (or keep) the lease ``name`` for ``seconds``; False when another replica
        holds it."""
        key = f"{self.prefix}lease:{name}"
        taken = await self._redis.set(key, self.replica, nx=True, px=int(seconds * 1000))
        if taken:
            return True
        holder: Any = await self._redis.get(key)
        if holder == self.replica:
            await self._redis.pexpire(key, int(seconds * 1000))
            return True
        return False
