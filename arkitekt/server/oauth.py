"""OAuth2 core: clients, access tokens (signed JWTs), rotating refresh tokens, the fakts envelope.

Nothing here knows about HTTP; :mod:`arkitekt.server.fakts_routes` turns requests into these calls
and :class:`OAuthError` into RFC 6749 error answers.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
import time
import uuid
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from joserfc import jwt
from joserfc.errors import JoseError
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from arkitekt.protocol.text import nul_path

from .config import ServerConfig
from .keys import JWT_ALGORITHM, KeyStore
from .models import OAuthClient, RefreshToken, User, utcnow
from .services import BY_IDENTIFIER

SUPPORTED_SCOPES = frozenset({"openid", "profile", "email", "offline_access", "read", "write"})
CLIENT_KINDS = frozenset({"development", "website", "desktop", "hub", "relying_party", "mobile"})
CLIENT_ROLES = frozenset({"interface", "agent"})
ACCESS_TOKEN_AUDIENCE = "arkitekt"


class OAuthError(Exception):
    """An OAuth2 error answer (RFC 6749 §5.2): a machine-readable code and a sentence."""

    def __init__(
        self, error: str, description: str, status: int = 400, *, retry_after: int | None = None
    ) -> None:
        super().__init__(f"{error}: {description}")
        self.error = error
        self.description = description
        self.status = status
        self.retry_after = retry_after
        """Seconds after which a refused (rate-limited) request may be tried again."""


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_secret() -> str:
    """A high-entropy URL-safe token (never contains ':')."""
    return secrets.token_urlsafe(32)


@dataclass(frozen=True)
class Origin:
    """Where the client reached us: aliases and endpoints are built from it."""

    scheme: str
    host: str
    port: int

    @property
    def base(self) -> str:
        default = 443 if self.scheme == "https" else 80
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.scheme}://{host}" + ("" if self.port == default else f":{self.port}")

    def alias(self, name: str, path: str, challenge: str) -> dict[str, Any]:
        return {
            "id": f"{name}@{self.host}:{self.port}",
            "host": self.host,
            "port": self.port,
            "ssl": self.scheme == "https",
            "path": path,
            "challenge": challenge,
        }


@dataclass(frozen=True)
class AccessClaims:
    """What a verified access token says."""

    user_id: str
    username: str
    client_id: str
    app_identifier: str
    scopes: tuple[str, ...]
    expires_at: int
    session_id: str | None = None
    """The refresh-token family (session) the token descends from, also through exchanges;
    None for tokens of a standing credential (mandate key, key login)."""


@dataclass(frozen=True)
class ManifestInfo:
    """The parts of a fakts manifest the server acts on, validated."""

    identifier: str
    version: str
    device_id: str
    scopes: list[str]
    requirements: list[dict[str, Any]]
    raw: dict[str, Any]


def parse_manifest(raw: Any) -> ManifestInfo:
    """Validate a manifest sent by a client; raises ``invalid_request`` naming the field."""
    if not isinstance(raw, dict):
        raise OAuthError("invalid_request", "'manifest' must be a JSON object")
    where = nul_path(raw)
    if where is not None:
        raise OAuthError("invalid_request", f"'manifest.{where[:64]}' contains a NUL character")
    identifier = raw.get("identifier")
    if not isinstance(identifier, str) or not identifier or len(identifier) > 255:
        raise OAuthError("invalid_request", "'manifest.identifier' must be a non-empty string")
    version = raw.get("version")
    if not isinstance(version, str) or not version or len(version) > 64:
        raise OAuthError("invalid_request", "'manifest.version' must be a non-empty string")
    device_id = raw.get("device_id") or raw.get("node_id") or ""
    if not isinstance(device_id, str) or len(device_id) > 255:
        raise OAuthError("invalid_request", "'manifest.device_id' must be a string")
    scopes = raw.get("scopes") or []
    if not isinstance(scopes, list) or not all(isinstance(s, str) for s in scopes):
        raise OAuthError("invalid_request", "'manifest.scopes' must be a list of strings")
    unknown = sorted(set(scopes) - SUPPORTED_SCOPES)
    if unknown:
        raise OAuthError(
            "invalid_scope",
            f"unknown scope(s) {', '.join(unknown)}; "
            f"supported: {', '.join(sorted(SUPPORTED_SCOPES))}",
        )
    requirements = raw.get("requirements") or []
    if not isinstance(requirements, list):
        raise OAuthError("invalid_request", "'manifest.requirements' must be a list")
    for index, requirement in enumerate(requirements):
        if not (
            isinstance(requirement, dict)
            and isinstance(requirement.get("key"), str)
            and isinstance(requirement.get("service"), str)
        ):
            raise OAuthError(
                "invalid_request",
                f"'manifest.requirements[{index}]' needs string fields 'key' and 'service'",
            )
    return ManifestInfo(identifier, version, device_id, list(scopes), requirements, raw)


def check_client_kind(kind: Any, role: Any) -> tuple[str, str]:
    kind = kind or "development"
    role = role or "interface"
    if not isinstance(kind, str) or kind not in CLIENT_KINDS:
        raise OAuthError(
            "invalid_request",
            f"'requested_client_kind' {kind!r} is not known; "
            f"use one of {', '.join(sorted(CLIENT_KINDS))}",
        )
    if not isinstance(role, str) or role not in CLIENT_ROLES:
        raise OAuthError(
            "invalid_request",
            f"'requested_client_role' {role!r} is not known; "
            f"use one of {', '.join(sorted(CLIENT_ROLES))}",
        )
    return kind, role


class OAuthCore:
    """Issues and checks every credential of the server."""

    def __init__(self, config: ServerConfig, keys: KeyStore) -> None:
        self.config = config
        self.keys = keys

    # -- clients ---------------------------------------------------------------------------------

    async def register_client(
        self,
        session: AsyncSession,
        user: User,
        manifest: ManifestInfo,
        kind: str,
        role: str,
        *,
        client_id: str | None = None,
        replace: bool,
    ) -> OAuthClient:
        """The client for this user + app + device, created when missing.

        ``replace`` (an interactive approval) mints a new ``client_id``, which ends every session
        of the previous registration; headless logins reuse the registration they find.
        """
        existing = (
            await session.execute(
                select(OAuthClient).where(
                    OAuthClient.user_id == user.id,
                    OAuthClient.app_identifier == manifest.identifier,
                    OAuthClient.device_id == manifest.device_id,
                )
            )
        ).scalar_one_or_none()
        if existing is not None and not replace:
            existing.app_version = manifest.version
            existing.manifest = manifest.raw
            existing.scopes = manifest.scopes
            existing.last_used_at = utcnow()
            return existing
        if existing is not None:
            await session.delete(existing)
            await session.flush()
        client = OAuthClient(
            client_id=client_id or f"ark_{secrets.token_urlsafe(16)}",
            user_id=user.id,
            app_identifier=manifest.identifier,
            app_version=manifest.version,
            device_id=manifest.device_id,
            kind=kind,
            role=role,
            scopes=manifest.scopes,
            manifest=manifest.raw,
            last_used_at=utcnow(),
        )
        session.add(client)
        await session.flush()
        return client

    async def client_by_id(self, session: AsyncSession, client_id: str) -> OAuthClient | None:
        return (
            await session.execute(select(OAuthClient).where(OAuthClient.client_id == client_id))
        ).scalar_one_or_none()

    # -- access tokens ---------------------------------------------------------------------------

    def issue_access_token(
        self,
        user: User,
        client: OAuthClient,
        origin: Origin,
        *,
        not_after: int | None = None,
        session_id: str | None = None,
    ) -> tuple[str, int]:
        """A signed access token and its lifetime in seconds; ``not_after`` caps its expiry (an
        exchanged token never outlives the token it was exchanged for); ``session_id`` (the
        ``sid`` claim) ties it to the session whose end also ends it."""
        now = int(time.time())
        ttl = self.config.access_token_ttl
        if not_after is not None:
            ttl = max(0, min(ttl, not_after - now))
        claims = {
            "iss": origin.base,
            "sub": user.id,
            "aud": ACCESS_TOKEN_AUDIENCE,
            "iat": now,
            "nbf": now,
            "exp": now + ttl,
            "jti": uuid.uuid4().hex,
            "client_id": client.client_id,
            "app": client.app_identifier,
            "scope": " ".join(granted_scopes(client.scopes)),
            "preferred_username": user.username,
        }
        if session_id is not None:
            claims["sid"] = session_id
        header = {"alg": JWT_ALGORITHM, "kid": self.keys.kid, "typ": "at+jwt"}
        token = jwt.encode(header, claims, self.keys.signing, algorithms=[JWT_ALGORITHM])
        return token, ttl

    def verify_access_token(self, token: str, issuers: Collection[str]) -> AccessClaims:
        """Check signature, type, issuer (one of ``issuers``: how this server is reached), audience
        and lifetime; raises ``invalid_token``. Whether its session still lives is checked on
        use (:class:`arkitekt.server.revocation.SessionCheck`)."""
        try:
            decoded = jwt.decode(token, self.keys.public_keyset, algorithms=[JWT_ALGORITHM])
            if decoded.header.get("typ") != "at+jwt":
                raise OAuthError("invalid_token", "not an access token", 401)
            jwt.JWTClaimsRegistry(
                exp={"essential": True},
                sub={"essential": True},
                aud={"essential": True, "value": ACCESS_TOKEN_AUDIENCE},
                client_id={"essential": True},
            ).validate(decoded.claims)
            if decoded.claims.get("iss") not in issuers:
                raise OAuthError(
                    "invalid_token", "the access token was issued for another address", 401
                )
        except (JoseError, ValueError) as e:
            raise OAuthError("invalid_token", f"the access token is not valid ({e})", 401) from e
        claims = decoded.claims
        if int(claims["exp"]) <= time.time():  # RFC 7519 §4.1.4: not on or after exp
            raise OAuthError("invalid_token", "the access token is not valid (expired)", 401)
        return AccessClaims(
            user_id=str(claims["sub"]),
            username=str(claims.get("preferred_username", "")),
            client_id=str(claims["client_id"]),
            app_identifier=str(claims.get("app", "")),
            scopes=tuple(str(claims.get("scope", "")).split()),
            expires_at=int(claims["exp"]),
            session_id=str(claims["sid"]) if claims.get("sid") else None,
        )

    # -- refresh tokens --------------------------------------------------------------------------

    async def issue_refresh_token(
        self,
        session: AsyncSession,
        client: OAuthClient,
        *,
        family_id: str | None = None,
        chain_started_at: dt.datetime | None = None,
    ) -> tuple[str, str]:
        """A new refresh token and its family (the session id), or a successor in ``family_id``."""
        now = utcnow()
        family_id = family_id or uuid.uuid4().hex
        chain_start = chain_started_at or now
        expires = min(
            now + dt.timedelta(seconds=self.config.refresh_token_ttl),
            chain_start + dt.timedelta(seconds=self.config.refresh_chain_ttl),
        )
        token = new_secret()
        session.add(
            RefreshToken(
                token_hash=token_hash(token),
                family_id=family_id,
                client_pk=client.id,
                user_id=client.user_id,
                scopes=client.scopes,
                expires_at=expires,
                chain_started_at=chain_start,
            )
        )
        return token, family_id

    async def rotate_refresh_token(
        self, session: AsyncSession, presented: str, client_id: str
    ) -> tuple[OAuthClient, str, str]:
        """Spend a refresh token; its client, its successor and their family (the session).

        A token rotated less than ``refresh_reuse_grace`` seconds ago is still honoured (siblings
        sharing a cache race to refresh); presented later, it is taken as stolen and its whole
        family is revoked.
        """
        row = (
            await session.execute(
                select(RefreshToken).where(RefreshToken.token_hash == token_hash(presented))
            )
        ).scalar_one_or_none()
        if row is None or row.client.client_id != client_id:
            raise OAuthError("invalid_grant", "the refresh token is not known for this client")
        now = utcnow()
        if row.revoked_at is not None:
            raise OAuthError("invalid_grant", "the refresh token was revoked (logged out)")
        if row.expires_at <= now:
            raise OAuthError("invalid_grant", "the refresh token expired; log in again")
        if row.rotated_at is not None:
            age = (now - row.rotated_at).total_seconds()
            if age > self.config.refresh_reuse_grace:
                await self.revoke_family(session, row.family_id)
                await session.commit()
                raise OAuthError(
                    "invalid_grant",
                    "the refresh token was already used; the session was revoked as a precaution",
                )
        else:
            row.rotated_at = now
        if not row.client.user.is_active:
            raise OAuthError("invalid_grant", "the user is deactivated")
        successor, family = await self.issue_refresh_token(
            session, row.client, family_id=row.family_id, chain_started_at=row.chain_started_at
        )
        row.client.last_used_at = now
        return row.client, successor, family

    async def revoke_family(self, session: AsyncSession, family_id: str) -> None:
        await session.execute(
            update(RefreshToken)
            .where(RefreshToken.family_id == family_id, RefreshToken.revoked_at.is_(None))
            .values(revoked_at=utcnow())
        )

    async def revoke_refresh_token(
        self, session: AsyncSession, presented: str, client_id: str
    ) -> str | None:
        """RFC 7009: revoke the token's family (returned: the session that ended); unknown tokens
        are silently accepted."""
        row = (
            await session.execute(
                select(RefreshToken).where(RefreshToken.token_hash == token_hash(presented))
            )
        ).scalar_one_or_none()
        if row is None:
            return None
        if row.client.client_id != client_id:
            raise OAuthError("invalid_client", "the token does not belong to this client", 401)
        await self.revoke_family(session, row.family_id)
        return row.family_id

    # -- the fakts envelope ----------------------------------------------------------------------

    def envelope(self, user: User, client: OAuthClient, origin: Origin) -> dict[str, Any]:
        """``self`` / ``instances`` / ``statuses``: the fakts members of a token answer."""
        instances: dict[str, Any] = {}
        statuses: dict[str, str] = {}
        for requirement in client.manifest.get("requirements") or []:
            key = requirement["key"]
            service = BY_IDENTIFIER.get(requirement["service"])
            if service is None:
                statuses[key] = "unavailable"
                continue
            statuses[key] = "granted"
            instances[key] = {
                "service": service.identifier,
                "identifier": f"{self.config.deployment_name}.{service.key}",
                "aliases": [origin.alias(service.key, service.path, "ht")],
                "challenge_key": {
                    "kind": "ed25519",
                    "key": self.keys.services[service.key].public_b64,
                },
            }
        return {
            "self": {
                "deployment_name": self.config.deployment_name,
                "alias": origin.alias("self", "", "health"),
                "sub": user.id,
            },
            "instances": instances,
            "statuses": statuses,
        }

    async def token_answer(
        self,
        session: AsyncSession,
        user: User,
        client: OAuthClient,
        origin: Origin,
        *,
        refresh_token: str | None,
        not_after: int | None = None,
        session_id: str | None = None,
    ) -> dict[str, Any]:
        """A complete token response: OAuth2 fields plus the fakts envelope."""
        access, ttl = self.issue_access_token(
            user, client, origin, not_after=not_after, session_id=session_id
        )
        answer: dict[str, Any] = {
            "access_token": access,
            "token_type": "Bearer",
            "expires_in": ttl,
            "scope": " ".join(granted_scopes(client.scopes)),
            "client_id": client.client_id,
        }
        if refresh_token is not None:
            answer["refresh_token"] = refresh_token
        answer.update(self.envelope(user, client, origin))
        return answer


def granted_scopes(requested: list[Any]) -> list[str]:
    scopes = {str(s) for s in requested} & SUPPORTED_SCOPES
    scopes.add("openid")
    return sorted(scopes)
