"""Whether the session an access token descends from still lives.

Access tokens issued for a refresh-token session (device code, password, refresh) carry the
session's id, its refresh-token family, as the ``sid`` claim; tokens exchanged from them inherit
it, however long the chain. A session ends when its refresh token is revoked (RFC 7009, the
SDK's logout, reuse of a rotated token), its client registration is replaced or removed, or its
user is deactivated or removed. From then on its access tokens, exchanged ones included, are
refused. Tokens without a session (mandate keys, key logins) carry no ``sid`` and are not
affected.

Checked on every use, so the answer is cached for ``session_check_ttl`` seconds: a revocation on
this server is seen at once, on another replica within that delay.
"""

from __future__ import annotations

from cachetools import TTLCache
from sqlalchemy import select

from .db import Database
from .models import RefreshToken, User

MAX_CACHED = 10_000
"""Sessions whose answer is kept (the least recently checked are forgotten first)."""


class SessionCheck:
    """Answers "is session ``sid`` still alive?" from the database, cached briefly."""

    def __init__(self, db: Database, ttl: float) -> None:
        self._db = db
        self._cache: TTLCache[str, bool] = TTLCache(maxsize=MAX_CACHED, ttl=max(ttl, 0.001))

    async def alive(self, sid: str) -> bool:
        cached: bool | None = self._cache.get(sid)
        if cached is not None:
            return cached
        async with self._db.session() as session:
            row = (
                await session.execute(
                    select(RefreshToken.id)
                    .join(User, User.id == RefreshToken.user_id)
                    .where(
                        RefreshToken.family_id == sid,
                        RefreshToken.revoked_at.is_(None),
                        User.is_active.is_(True),
                    )
                    .limit(1)
                )
            ).first()
        alive = row is not None
        self._cache[sid] = alive
        return alive

    def ended(self, sid: str) -> None:
        """Note that this server just ended session ``sid`` (seen at once, not after the TTL)."""
        self._cache[sid] = False
