"""OpenID Connect discovery, the JWKS and userinfo: so other software can verify our tokens."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from .fakts_routes import GRANT_TYPES, endpoints, oauth_endpoint
from .http import bearer_user, origin_of, state_of
from .keys import JWT_ALGORITHM
from .oauth import SUPPORTED_SCOPES
from .state import ServerState


async def openid_configuration(request: Request) -> Response:
    urls = endpoints(origin_of(request))
    return JSONResponse(
        {
            "issuer": urls["issuer"],
            "jwks_uri": urls["jwks_uri"],
            "token_endpoint": urls["token_endpoint"],
            "userinfo_endpoint": urls["userinfo_endpoint"],
            "device_authorization_endpoint": urls["device_authorization_endpoint"],
            "revocation_endpoint": urls["revocation_endpoint"],
            "grant_types_supported": GRANT_TYPES,
            "response_types_supported": ["token"],
            "subject_types_supported": ["public"],
            "scopes_supported": sorted(SUPPORTED_SCOPES),
            "token_endpoint_auth_methods_supported": ["none"],
            "id_token_signing_alg_values_supported": [JWT_ALGORITHM],
            "claims_supported": ["sub", "preferred_username", "iss", "aud", "exp", "iat"],
        }
    )


async def jwks(request: Request) -> Response:
    return JSONResponse(
        {"keys": [state_of(request).keys.public_jwk()]},
        headers={"Cache-Control": "public, max-age=300"},
    )


async def userinfo(request: Request, state: ServerState) -> Response:
    claims, user = await bearer_user(request)
    return JSONResponse(
        {
            "sub": user.id,
            "preferred_username": user.username,
            "is_admin": user.is_admin,
            "client_id": claims.client_id,
            "app": claims.app_identifier,
            "scope": " ".join(claims.scopes),
        },
        headers={"Cache-Control": "no-store"},
    )


def routes() -> list[BaseRoute]:
    return [
        Route("/.well-known/openid-configuration", openid_configuration, methods=["GET"]),
        Route("/o/jwks/", jwks, methods=["GET"]),
        Route("/o/userinfo/", oauth_endpoint(userinfo), methods=["GET"]),
    ]
