"""The services this server offers to apps, and their alias challenges.

Each service is advertised in the fakts envelope under the requirement key the app asked for, with
an alias pointing back at this server and an Ed25519 ``challenge_key``. The client proves it reached
the real service by asking it to sign a nonce.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from arkitekt.protocol.services import SERVICES, ServiceKey

CHALLENGE_DOMAIN = b"fakts-challenge-v1:"

BY_IDENTIFIER: dict[str, ServiceKey] = {service.identifier: service for service in SERVICES}
SERVICE_NAMES = [service.key for service in SERVICES]


def challenge_routes() -> list[BaseRoute]:
    """``GET /{service}/ht[?nonce=...]`` for every service."""
    routes: list[BaseRoute] = []
    for service in SERVICES:

        async def challenge(request: Request, name: str = service.key) -> Response:
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
