"""Password logins: rate limits, and argon2 checks that never hold a database connection.

One check (the password grant and the login form both use it):

1. refused at once, without hashing, while the failures of this user from this address, or of
   this user from everywhere, are over their limits;
2. counted against the client address's and the whole server's attempt limits;
3. the stored hash is read in a short session of its own, closed before hashing;
4. argon2 runs on a worker thread, at most ``password_check_concurrency`` at a time, against a
   dummy hash when the user does not exist (the same cost: timing does not reveal who exists);
5. a wrong password is counted per (user, address) and per user.

Failures are counted per address first, so a third party failing from elsewhere slows down
itself, not the owner; only the higher per-user ceiling, reached from several addresses at once,
slows down every login of that user. Counters live in a ``limits`` storage (in memory by
default; a Redis URI shares them between replicas).
"""

from __future__ import annotations

import asyncio
import hashlib
import math
import time
from dataclasses import dataclass

from limits import RateLimitItem, parse
from limits.aio.storage import Storage
from limits.aio.strategies import MovingWindowRateLimiter
from limits.storage import storage_from_string

from .config import ServerConfig
from .db import Database
from .users import check_password, get_user


class TooManyAttempts(Exception):
    """A password login refused by a rate limit (answered 429 with ``Retry-After``)."""

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.message = message
        self.retry_after = retry_after


@dataclass(frozen=True)
class _Limit:
    item: RateLimitItem
    namespace: str
    message: str


def async_storage_uri(uri: str) -> str:
    """``limits`` names its asyncio storages ``async+<scheme>://``; the setting need not."""
    return uri if uri.startswith("async+") else f"async+{uri}"


def rate_limit_storage(config: ServerConfig) -> Storage:
    """Where the server counts rate limits: ``rate_limit_storage``, or, for replicas (with
    ``redis_url``) left at ``memory://``, their Redis, so a limit holds across them."""
    uri = config.rate_limit_storage
    if uri == "memory://" and config.redis_url:
        uri = config.redis_url
    options: dict[str, str] = {}
    if uri.removeprefix("async+").startswith(("redis://", "rediss://", "redis+unix://")):
        options = {"implementation": "redispy", "key_prefix": f"{config.redis_key_prefix}limits"}
    storage = storage_from_string(async_storage_uri(uri), **options)
    assert isinstance(storage, Storage)  # async+ URIs give asyncio storages
    return storage


def _key(username: str) -> str:
    # Fixed length, and no '/' (limits joins identifiers with it): names cannot collide.
    return hashlib.sha256(username.encode()).hexdigest()[:32]


class PasswordGuard:
    """Checks passwords under the server's limits; one per server."""

    def __init__(self, config: ServerConfig, db: Database) -> None:
        self._db = db
        self._limiter = MovingWindowRateLimiter(rate_limit_storage(config))
        self._turns = asyncio.Semaphore(config.password_check_concurrency)
        self._per_user_ip = _Limit(
            parse(config.password_failures_per_user_ip),
            "password-failures-user-ip",
            "too many failed logins for this user from your address",
        )
        self._per_user = _Limit(
            parse(config.password_failures_per_user),
            "password-failures-user",
            "too many failed logins for this user",
        )
        self._per_ip = _Limit(
            parse(config.password_attempts_per_ip),
            "password-attempts-ip",
            "too many password logins from your address",
        )
        self._everyone = _Limit(
            parse(config.password_attempts_global),
            "password-attempts",
            "the server is answering too many password logins",
        )

    async def check(self, username: str, password: str, client_ip: str) -> str | None:
        """The user's id when ``password`` is theirs (and they are active), else None (the
        failure is counted); :class:`TooManyAttempts` when a limit refuses the attempt."""
        user_key = _key(username)
        failures: tuple[tuple[_Limit, tuple[str, ...]], ...] = (
            (self._per_user_ip, (user_key, client_ip)),
            (self._per_user, (user_key,)),
        )
        for limit, ids in failures:
            if not await self._limiter.test(limit.item, limit.namespace, *ids):
                raise await self._refusal(limit, ids)
        attempts: tuple[tuple[_Limit, tuple[str, ...]], ...] = (
            (self._per_ip, (client_ip,)),
            (self._everyone, ()),
        )
        for limit, ids in attempts:
            if not await self._limiter.hit(limit.item, limit.namespace, *ids):
                raise await self._refusal(limit, ids)
        async with self._db.session() as session:  # closed before hashing: no connection held
            user = await get_user(session, username)
        async with self._turns:
            right = await asyncio.to_thread(check_password, user, password)
        if right and user is not None:
            return user.id
        for limit, ids in failures:
            await self._limiter.hit(limit.item, limit.namespace, *ids)
        return None

    async def _refusal(self, limit: _Limit, ids: tuple[str, ...]) -> TooManyAttempts:
        stats = await self._limiter.get_window_stats(limit.item, limit.namespace, *ids)
        retry_after = max(1, math.ceil(stats.reset_time - time.time()))
        return TooManyAttempts(f"{limit.message}; try again in {retry_after} s", retry_after)
