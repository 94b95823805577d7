"""Grants of the local datalayer: signed, short-lived, scoped to one key prefix.

A grant is a JWT signed with the datalayer's own key (not the access-token key, so neither can
stand in for the other). It names the prefix it opens, whether it may write, and when it ends.
The HTTP object routes verify it on every request; verified grants are cached until they expire,
so a zarr read of many chunks pays for one signature check.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import OKPKey

GRANT_TYPE = "dl+jwt"
GRANT_AUDIENCE = "arkitekt-datalayer"
_ALGORITHM = "Ed25519"
_CACHE_LIMIT = 4096


class GrantError(Exception):
    """The grant is missing, malformed, expired, or does not cover the request."""


@dataclass(frozen=True)
class GrantClaims:
    prefix: str
    write: bool
    subject: str
    expires_at: float

    def covers(self, key: str) -> bool:
        return key == self.prefix or key.startswith(self.prefix + "/")


class GrantSigner:
    """Issues and verifies local-datalayer grants with one Ed25519 key."""

    def __init__(self, key: OKPKey) -> None:
        self._key = key
        self._cache: dict[str, GrantClaims] = {}

    def issue(self, prefix: str, *, write: bool, subject: str, ttl: float) -> tuple[str, float]:
        """A grant for ``prefix``; returns the token and when it expires (epoch seconds)."""
        now = time.time()
        expires_at = int(now + ttl)
        token = jwt.encode(
            {"alg": _ALGORITHM, "typ": GRANT_TYPE},
            {
                "aud": GRANT_AUDIENCE,
                "sub": subject,
                "pfx": prefix,
                "w": write,
                "iat": int(now),
                "exp": expires_at,
            },
            self._key,
            algorithms=[_ALGORITHM],
        )
        return token, float(expires_at)

    def verify(self, token: str) -> GrantClaims:
        claims = self._cache.get(token)
        now = time.time()
        if claims is not None:
            if claims.expires_at <= now:
                self._cache.pop(token, None)
                raise GrantError("the grant has expired: ask for a new one")
            return claims
        try:
            decoded = jwt.decode(token, self._key, algorithms=[_ALGORITHM])
            if decoded.header.get("typ") != GRANT_TYPE:
                raise GrantError("not a datalayer grant")
            jwt.JWTClaimsRegistry(
                aud={"essential": True, "value": GRANT_AUDIENCE},
                exp={"essential": True},
                pfx={"essential": True},
            ).validate(decoded.claims)
        except (JoseError, ValueError) as e:
            raise GrantError(f"the grant is not valid ({e})") from e
        data = decoded.claims
        claims = GrantClaims(
            prefix=str(data["pfx"]),
            write=bool(data.get("w", False)),
            subject=str(data.get("sub", "")),
            expires_at=float(data["exp"]),
        )
        if claims.expires_at <= now:
            raise GrantError("the grant has expired: ask for a new one")
        if len(self._cache) >= _CACHE_LIMIT:
            self._cache = {t: c for t, c in self._cache.items() if c.expires_at > now}
            if len(self._cache) >= _CACHE_LIMIT:
                self._cache.clear()
        self._cache[token] = claims
        return claims
