"""The server's private keys: one to sign access tokens, one per service for alias challenges.

Keys live in the database so every replica of a server signs with the same ones. They are created
on first start and never leave the server except as public keys (JWKS, ``challenge_key``).
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any

from joserfc.jwk import KeySet, OKPKey
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from .db import Database
from .models import ServerKey

JWT_ALGORITHM = "Ed25519"
"""RFC 9864's fully specified name for EdDSA over Ed25519."""
SIGNING_PURPOSE = "jwt"


def _raw_public_key(key: OKPKey) -> bytes:
    return base64.urlsafe_b64decode(str(key.as_dict(private=False)["x"]) + "==")


@dataclass
class ServiceKey:
    """The identity key of one service, answering fakts alias challenges."""

    key: OKPKey

    @property
    def public_b64(self) -> str:
        """The raw 32-byte public key, standard base64 (the ``challenge_key`` format)."""
        return base64.b64encode(_raw_public_key(self.key)).decode()

    def sign(self, message: bytes) -> str:
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

        private = self.key.private_key
        assert isinstance(private, Ed25519PrivateKey)
        return base64.b64encode(private.sign(message)).decode()


class KeyStore:
    """Loads (or creates) the server's keys once at startup."""

    def __init__(self, signing: OKPKey, services: dict[str, ServiceKey]) -> None:
        self.signing = signing
        self.kid = signing.thumbprint()
        self.services = services
        self.public_keyset = KeySet([OKPKey.import_key(self.public_jwk())])

    def public_jwk(self) -> dict[str, Any]:
        jwk = dict(self.signing.as_dict(private=False))
        jwk.update(kid=self.kid, use="sig", alg=JWT_ALGORITHM)
        return jwk

    @classmethod
    async def load(cls, db: Database, service_names: list[str]) -> KeyStore:
        signing = await _load_or_create(db, SIGNING_PURPOSE)
        services = {
            name: ServiceKey(await _load_or_create(db, f"challenge:{name}"))
            for name in service_names
        }
        return cls(signing, services)


async def _load_or_create(db: Database, purpose: str) -> OKPKey:
    async with db.session() as session:
        row = await session.get(ServerKey, purpose)
        if row is not None:
            return OKPKey.import_key(row.private_jwk)
        key = OKPKey.generate_key("Ed25519", private=True)
        session.add(ServerKey(purpose=purpose, private_jwk=dict(key.as_dict(private=True))))
        try:
            await session.commit()
        except IntegrityError:
            # Another replica (or process) created it first: use theirs.
            await session.rollback()
            stored = (
                await session.execute(select(ServerKey).where(ServerKey.purpose == purpose))
            ).scalar_one()
            return OKPKey.import_key(stored.private_jwk)
        return key
