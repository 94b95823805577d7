"""Request helpers shared by the routes: origin, bodies, errors, the bearer user."""

from __future__ import annotations

import json
from typing import Any

from starlette.datastructures import URL, FormData
from starlette.requests import HTTPConnection, Request
from starlette.responses import JSONResponse

from arkitekt.protocol.text import NUL, nul_path

from .config import LOOPBACK_NAMES
from .models import User
from .oauth import AccessClaims, OAuthError, Origin
from .state import ServerState

MAX_BODY = 256 * 1024


def state_of(request: HTTPConnection) -> ServerState:
    state: ServerState = request.app.state.arkitekt
    return state


def _origin(url: URL) -> Origin:
    scheme = {"ws": "http", "wss": "https"}.get(url.scheme, url.scheme)
    scheme = scheme if scheme in ("http", "https") else "http"
    port = url.port or (443 if scheme == "https" else 80)
    return Origin(scheme=scheme, host=url.hostname or "localhost", port=port)


def origin_of(request: HTTPConnection) -> Origin:
    """The server's public origin: ``public_url`` when configured (the Host header is then
    ignored), else the scheme, host and port the client used (fakts needs endpoints on that
    exact origin)."""
    public = state_of(request).config.public_url
    return _origin(URL(public) if public else request.url)


def accepted_issuers(request: HTTPConnection) -> frozenset[str]:
    """The ``iss`` values of tokens this request may present: ``public_url`` when configured,
    else the origin the client used, where the loopback names stand for one another."""
    origin = origin_of(request)
    if state_of(request).config.public_url or origin.host not in LOOPBACK_NAMES:
        return frozenset({origin.base})
    return frozenset(
        Origin(origin.scheme, name.strip("[]"), origin.port).base for name in LOOPBACK_NAMES
    )


async def authenticate(request: HTTPConnection, token: str) -> AccessClaims:
    """The claims of an access token presented on this connection: signed by this server, for
    the address it was reached at, not expired, and of a session that was not ended
    (``invalid_token``, 401, otherwise)."""
    state = state_of(request)
    claims = state.oauth.verify_access_token(token, accepted_issuers(request))
    if claims.session_id is not None and not await state.sessions.alive(claims.session_id):
        raise OAuthError(
            "invalid_token",
            "the token's session has ended: it was logged out or revoked, or its user no longer "
            "exists or was deactivated; log in again",
            401,
        )
    return claims


def client_address(request: HTTPConnection) -> str:
    """The client's IP address as the server sees it (a proxy's, unless the server was started
    to trust its forwarded headers: ``arkitekt server --forwarded-allow-ips``)."""
    return request.client.host if request.client else "unknown"


def error_response(error: OAuthError) -> JSONResponse:
    headers = {"Cache-Control": "no-store"}
    if error.status == 401:
        headers["WWW-Authenticate"] = f'Bearer error="{error.error}"'
    if error.retry_after is not None:
        headers["Retry-After"] = str(error.retry_after)
    return JSONResponse(
        {"error": error.error, "error_description": error.description},
        status_code=error.status,
        headers=headers,
    )


async def read_body(request: Request, limit: int = MAX_BODY) -> bytes:
    """The body, read at most ``limit`` bytes far (413 ``invalid_request`` beyond)."""
    length = request.headers.get("content-length")
    too_large = OAuthError(
        "invalid_request", f"the request body must be at most {limit} bytes", 413
    )
    if length is not None and (not length.isdigit() or int(length) > limit):
        raise too_large
    body = bytearray()
    async for chunk in request.stream():  # chunked bodies have no length: stop at the limit
        body += chunk
        if len(body) > limit:
            raise too_large
    request._body = bytes(body)  # what request.body() / request.form() read from now on
    return request._body


def parse_json(text: str | bytes, what: str) -> Any:
    """JSON sent by a client, or ``invalid_request`` saying why not (``what``: where it was)."""
    try:
        data = json.loads(text.decode() if isinstance(text, bytes) else text)  # UTF-8 only
        json.dumps(data, ensure_ascii=False).encode()  # stored and shown later: must be text
    except RecursionError as e:
        raise OAuthError("invalid_request", f"{what} is nested too deeply") from e
    except UnicodeEncodeError as e:  # valid JSON escapes, but not text
        raise OAuthError(
            "invalid_request", f"{what} holds an unpaired surrogate (\\ud800-\\udfff)"
        ) from e
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise OAuthError("invalid_request", f"{what} is not valid JSON ({e})") from e
    except ValueError as e:  # Python refuses integers of more than 4300 digits
        raise OAuthError("invalid_request", f"{what} holds a number too large") from e
    return data


async def read_json(request: Request) -> dict[str, Any]:
    """The JSON object in the body, or ``invalid_request`` saying why not."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != "application/json" and not content_type.endswith("+json"):
        raise OAuthError(
            "invalid_request", "the body must be JSON (Content-Type: application/json)"
        )
    data = parse_json(await read_body(request), "the body")
    if not isinstance(data, dict):
        raise OAuthError("invalid_request", "the body must be a JSON object")
    where = nul_path(data)
    if where is not None:
        raise OAuthError("invalid_request", f"the body's {where[:64]!r} contains a NUL character")
    return data


async def read_form(request: Request, limit: int = MAX_BODY) -> FormData:
    """The form-encoded body (``application/x-www-form-urlencoded`` or multipart), at most
    ``limit`` bytes (413 ``invalid_request`` beyond)."""
    await read_body(request, limit)
    content_type = request.headers.get("content-type", "")
    if not content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
        raise OAuthError(
            "invalid_request", "the body must be form-encoded (application/x-www-form-urlencoded)"
        )
    try:
        form = await request.form(max_files=0)
    except Exception as e:  # malformed multipart bodies
        raise OAuthError("invalid_request", f"the form could not be read ({e})") from e
    for name, value in form.multi_items():
        if NUL in name or (isinstance(value, str) and NUL in value):
            raise OAuthError(
                "invalid_request", f"the form field {name[:64]!r} contains a NUL character"
            )
    return form


def form_field(form: FormData, name: str, *, required: bool = True, max_length: int = 8192) -> str:
    value = form.get(name)
    if value is None or value == "":
        if required:
            raise OAuthError("invalid_request", f"the form field '{name}' is missing")
        return ""
    if not isinstance(value, str):
        raise OAuthError("invalid_request", f"the form field '{name}' must be text")
    if len(value) > max_length:
        raise OAuthError("invalid_request", f"the form field '{name}' is too long")
    return value


async def bearer_claims(request: Request) -> AccessClaims:
    """The verified access token of the request, or 401."""
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise OAuthError(
            "invalid_token", "an 'Authorization: Bearer <token>' header is required", 401
        )
    return await authenticate(request, token.strip())


async def bearer_user(request: Request) -> tuple[AccessClaims, User]:
    """The verified token and its (still active) user, or 401."""
    claims = await bearer_claims(request)
    async with state_of(request).db.session() as session:
        user = await session.get(User, claims.user_id)
    if user is None or not user.is_active:
        raise OAuthError("invalid_token", "the token's user no longer exists", 401)
    return claims, user
