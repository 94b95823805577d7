"""Standing credentials for unattended logins: mandate keys and registered public keys.

A *mandate key* is a random secret handed out once (only its hash is stored). A *user key* is a
public key (or an X.509 certificate) whose private half signs short-lived JWT assertions
(RFC 7523): the server checks the signature, the audience, the lifetime and that the ``jti`` was
never seen before.
"""

from __future__ import annotations

import datetime as dt
import secrets

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from joserfc import jws, jwt
from joserfc.errors import JoseError
from joserfc.jwk import ECKey, OKPKey, RSAKey
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from .config import ServerConfig
from .models import MandateKey, UsedAssertion, User, UserKey, utcnow
from .oauth import OAuthError, token_hash
from .users import UserError, get_user

ASSERTION_ALGORITHMS = ["Ed25519", "EdDSA", "ES256", "RS256"]


async def create_mandate_key(
    session: AsyncSession,
    username: str,
    *,
    name: str = "",
    app_identifier: str | None = None,
    expires_in: dt.timedelta | None = None,
) -> str:
    """Create a mandate key for ``username``; returns the key (shown once, stored hashed)."""
    user = await get_user(session, username)
    if user is None:
        raise UserError(f"there is no user named {username!r}")
    key = f"arkm_{secrets.token_urlsafe(32)}"
    session.add(
        MandateKey(
            key_hash=token_hash(key),
            user_id=user.id,
            name=name,
            app_identifier=app_identifier,
            expires_at=utcnow() + expires_in if expires_in else None,
        )
    )
    await session.commit()
    return key


async def revoke_mandate_key(session: AsyncSession, key: str) -> None:
    row = (
        await session.execute(select(MandateKey).where(MandateKey.key_hash == token_hash(key)))
    ).scalar_one_or_none()
    if row is not None and row.revoked_at is None:
        row.revoked_at = utcnow()
        await session.commit()


def load_public_key_pem(pem: str) -> str:
    """Normalise a PEM public key or certificate to a SubjectPublicKeyInfo PEM; raises UserError."""
    data = pem.encode()
    try:
        if b"BEGIN CERTIFICATE" in data:
            public = x509.load_pem_x509_certificate(data).public_key()
        else:
            public = serialization.load_pem_public_key(data)  # type: ignore[assignment]
    except ValueError as e:
        raise UserError(f"not a PEM public key or certificate ({e})") from e
    if not isinstance(
        public, ed25519.Ed25519PublicKey | ec.EllipticCurvePublicKey | rsa.RSAPublicKey
    ):
        raise UserError("only Ed25519, EC (P-256) and RSA keys are supported")
    return public.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()


async def add_user_key(session: AsyncSession, username: str, pem: str, *, name: str = "") -> str:
    """Register a public key (or certificate) for key logins; returns its key id (``kid``)."""
    user = await get_user(session, username)
    if user is None:
        raise UserError(f"there is no user named {username!r}")
    normalised = load_public_key_pem(pem)
    kid = token_hash(normalised)[:32]
    session.add(UserKey(kid=kid, user_id=user.id, name=name, public_key_pem=normalised))
    try:
        await session.commit()
    except IntegrityError as e:
        await session.rollback()
        raise UserError("this key is already registered") from e
    return kid


def _jwk_for(pem: str) -> OKPKey | ECKey | RSAKey:
    public = serialization.load_pem_public_key(pem.encode())
    if isinstance(public, ed25519.Ed25519PublicKey):
        return OKPKey.import_key(pem)
    if isinstance(public, ec.EllipticCurvePublicKey):
        return ECKey.import_key(pem)
    return RSAKey.import_key(pem)


async def verify_assertion(
    session: AsyncSession, config: ServerConfig, assertion: str, audience: str
) -> User:
    """The user a JWT assertion logs in, or ``invalid_grant`` saying why not."""
    try:
        header = jws.extract_compact(assertion.encode()).protected  # unverified: picks the key
    except (JoseError, ValueError) as e:
        raise OAuthError("invalid_grant", f"the assertion is not a JWT ({e})") from e
    kid = header.get("kid")
    if not isinstance(kid, str):
        raise OAuthError(
            "invalid_grant", "the assertion header has no 'kid' naming a registered key"
        )
    key = (await session.execute(select(UserKey).where(UserKey.kid == kid))).scalar_one_or_none()
    if key is None or key.revoked_at is not None:
        raise OAuthError("invalid_grant", "the assertion's key is not registered (or was revoked)")
    user = await session.get(User, key.user_id)
    if user is None or not user.is_active:
        raise OAuthError("invalid_grant", "the key's user is deactivated")
    try:
        decoded = jwt.decode(
            assertion, _jwk_for(key.public_key_pem), algorithms=ASSERTION_ALGORITHMS
        )
    except (JoseError, ValueError) as e:
        raise OAuthError("invalid_grant", f"the assertion's signature is not valid ({e})") from e
    # Signed with the key: the caller holds it, so saying whose it is not reveals nothing new.
    claimed = decoded.claims.get("sub")
    if claimed != user.username or decoded.claims.get("iss") != user.username:
        raise OAuthError(
            "invalid_grant",
            f"this key is not registered for {str(claimed)[:64]!r}: log in as the user it "
            "belongs to, or register it for this user (arkitekt user key USER PUBLIC_KEY.pem)",
        )
    try:
        jwt.JWTClaimsRegistry(
            iss={"essential": True, "value": user.username},
            sub={"essential": True, "value": user.username},
            aud={"essential": True, "value": audience},
            exp={"essential": True},
            iat={"essential": True},
            jti={"essential": True},
        ).validate(decoded.claims)
    except (JoseError, ValueError) as e:
        raise OAuthError("invalid_grant", f"the assertion was refused ({e})") from e
    claims = decoded.claims
    if int(claims["exp"]) - int(claims["iat"]) > config.assertion_max_lifetime:
        raise OAuthError(
            "invalid_grant",
            f"the assertion may live at most {config.assertion_max_lifetime} seconds",
        )
    now = utcnow()
    await session.execute(delete(UsedAssertion).where(UsedAssertion.expires_at < now))
    session.add(
        UsedAssertion(
            jti=f"{kid}:{claims['jti']}",
            expires_at=dt.datetime.fromtimestamp(int(claims["exp"]), dt.UTC),
        )
    )
    try:
        await session.flush()
    except IntegrityError as e:
        await session.rollback()
        raise OAuthError("invalid_grant", "the assertion was already used (replay)") from e
    return user
