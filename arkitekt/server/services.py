"""The services this server offers to apps, and their alias challenges.

Each service is advertised in the fakts envelope under the requirement key the app asked for, with
an alias pointing back at this server and an Ed25519 ``challenge_key``. The client proves it reached
the real service by asking it to sign a nonce.
"""

from __future__ import annotations

from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

CHALLENGE_DOMAIN = b"fakts-challenge-v1:"


@dataclass(frozen=True)
class ServiceInfo:
    name: str
    """The key the SDK requires it under, and the key its identity is stored under."""
    identifier: str
    """The service type an app names in its manifest's requirements."""
    path: str
    """Where its endpoints live on this server."""


_CATALOGUE = (
    ServiceInfo("rekuest", "live.arkitekt.rekuest", "rekuest"),
    ServiceInfo("mikro", "live.arkitekt.mikro", "mikro"),
    ServiceInfo("datalayer", "live.arkitekt.datalayer", "datalayer"),
)
SERVICES: dict[str, ServiceInfo] = {service.identifier: service for service in _CATALOGUE}
SERVICE_NAMES = [service.name for service in _CATALOGUE]


def challenge_routes() -> list[BaseRoute]:
    """``GET /{service}/ht[?nonce=...]`` for every service."""
    routes: list[BaseRoute] = []
    for service in _CATALOGUE:

        async def challenge(request: Request, name: str = service.name) -> Response:
            nonce = request.query_params.get("nonce")
            if nonce is None:
                return JSONResponse({"ok": True, "service": name})
            if not nonce or len(nonce) > 256:
                return JSONResponse(
                    {"error": "invalid_request", "error_description": "nonce must be 1-256 chars"},
                    status_code=400,
                )
            key = request.app.state.arkitekt.keys.services[name]
            return JSONResponse({"signature": key.sign(CHALLENGE_DOMAIN + nonce.encode())})

        routes.append(Route(f"/{service.path}/ht", challenge, methods=["GET"]))
    return routes
