"""The services a server offers and an app asks for, by key (the fakts requirements).

An app's manifest requires each one under its ``key``; the server advertises it under that key
with an alias at ``/<path>``. One table, read by both sides.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ServiceKey:
    key: str
    """The requirement key an app asks for, and the key the server stores its identity under."""
    identifier: str
    """The service type named in the manifest's requirements."""
    path: str
    """Where its endpoints live on the server (``/<path>/...``)."""
    description: str
    """What an app uses it for (shown when a user approves the app)."""


REKUEST = ServiceKey(
    "rekuest", "live.arkitekt.rekuest", "rekuest", "register, find and call functions"
)
MIKRO = ServiceKey("mikro", "live.arkitekt.mikro", "mikro", "images and files by reference")
DATALAYER = ServiceKey("datalayer", "live.arkitekt.datalayer", "datalayer", "the data store")

SERVICES: tuple[ServiceKey, ...] = (REKUEST, MIKRO, DATALAYER)
"""Every service, in the order apps require them."""
