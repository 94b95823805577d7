"""The fakts protocol v2 endpoints: discovery, device authorization, token, revocation, report.

The token endpoint speaks every grant the SDK uses: the device code (RFC 8628), refresh with
rotation, password (direct mode), the fakts mandate key, key login with a JWT assertion (RFC 7523)
and access-token exchange (RFC 8693). Every successful answer carries the fakts envelope.
"""

from __future__ import annotations

import datetime as dt
import logging
import secrets
from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from arkitekt._version import __version__

from . import credentials
from .http import (
    authenticate,
    bearer_claims,
    client_address,
    error_response,
    form_field,
    origin_of,
    parse_json,
    read_form,
    read_json,
    state_of,
)
from .models import DeviceCode, MandateKey, User, utcnow
from .oauth import (
    ManifestInfo,
    OAuthError,
    Origin,
    check_client_kind,
    parse_manifest,
    token_hash,
)
from .passwords import TooManyAttempts
from .state import ServerState

logger = logging.getLogger("arkitekt.server.fakts")

DEVICE_CODE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
MANDATE_KEY_GRANT = "urn:fakts:grant-type:mandate-key"
JWT_BEARER_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
TOKEN_EXCHANGE_GRANT = "urn:ietf:params:oauth:grant-type:token-exchange"
ACCESS_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:access_token"
GRANT_TYPES = [
    DEVICE_CODE_GRANT,
    "refresh_token",
    "password",
    MANDATE_KEY_GRANT,
    JWT_BEARER_GRANT,
    TOKEN_EXCHANGE_GRANT,
]
USER_CODE_ALPHABET = "BCDFGHJKLMNPQRSTVWXZ"  # no vowels, no look-alikes (RFC 8628 §6.1)
POLL_TOLERANCE = 0.8
"""A poll counts as too fast below this fraction of the interval (network jitter)."""


def endpoints(origin: Origin) -> dict[str, str]:
    base = origin.base
    return {
        "issuer": base,
        "base_url": f"{base}/f/",
        "token_endpoint": f"{base}/f/token/",
        "device_authorization_endpoint": f"{base}/f/device/",
        "revocation_endpoint": f"{base}/f/revoke/",
        "jwks_uri": f"{base}/o/jwks/",
        "userinfo_endpoint": f"{base}/o/userinfo/",
        "configure": f"{base}/device?code={{code}}",
    }


def oauth_endpoint(
    handler: Callable[[Request, ServerState], Awaitable[Response]],
) -> Callable[[Request], Awaitable[Response]]:
    """Turn :class:`OAuthError` into an RFC 6749 error answer; never a 500 for bad input."""

    async def endpoint(request: Request) -> Response:
        try:
            return await handler(request, state_of(request))
        except OAuthError as e:
            return error_response(e)

    return endpoint


def _no_store(data: dict[str, Any], status: int = 200) -> JSONResponse:
    return JSONResponse(
        data, status_code=status, headers={"Cache-Control": "no-store", "Pragma": "no-cache"}
    )


# -- discovery -----------------------------------------------------------------------------------


async def well_known(request: Request) -> Response:
    state = state_of(request)
    return JSONResponse(
        {
            "name": state.config.deployment_name,
            "description": "arkitekt server",
            "version": __version__,
            "protocol_version": "2",
            "grant_types_supported": GRANT_TYPES,
            "token_endpoint_auth_methods_supported": ["none"],
            **endpoints(origin_of(request)),
        }
    )


# -- device authorization ------------------------------------------------------------------------


def new_user_code() -> str:
    return "".join(secrets.choice(USER_CODE_ALPHABET) for _ in range(8))


def format_user_code(code: str) -> str:
    return f"{code[:4]}-{code[4:]}"


def normalise_user_code(code: str) -> str:
    return "".join(ch for ch in code.upper() if ch.isalnum())


async def device_authorization(request: Request, state: ServerState) -> Response:
    body = await read_json(request)
    manifest = parse_manifest(body.get("manifest"))
    kind, role = check_client_kind(
        body.get("requested_client_kind"), body.get("requested_client_role")
    )
    requested = body.get("expiration_time_seconds", state.config.device_code_ttl)
    if not isinstance(requested, int) or isinstance(requested, bool) or requested <= 0:
        raise OAuthError("invalid_request", "'expiration_time_seconds' must be a positive integer")
    expires_in = min(requested, state.config.device_code_ttl)
    device_code = secrets.token_urlsafe(32)
    user_code = new_user_code()
    client_id = f"ark_{secrets.token_urlsafe(16)}"
    async with state.db.session() as session:
        # Housekeeping: codes expired for a day are of no use to anybody.
        await session.execute(
            delete(DeviceCode).where(DeviceCode.expires_at < utcnow() - dt.timedelta(days=1))
        )
        session.add(
            DeviceCode(
                device_code_hash=token_hash(device_code),
                user_code=user_code,
                client_id=client_id,
                manifest=manifest.raw,
                requested_kind=kind,
                requested_role=role,
                interval=state.config.device_code_interval,
                expires_at=utcnow() + dt.timedelta(seconds=expires_in),
            )
        )
        await session.commit()
    urls = endpoints(origin_of(request))
    pretty = format_user_code(user_code)
    return _no_store(
        {
            "device_code": device_code,
            "user_code": pretty,
            "client_id": client_id,
            "verification_uri": urls["configure"].split("?")[0],
            "verification_uri_complete": urls["configure"].replace("{code}", pretty),
            "expires_in": expires_in,
            "interval": state.config.device_code_interval,
        }
    )


# -- token endpoint ------------------------------------------------------------------------------


def _manifest_field(form: FormData) -> ManifestInfo:
    raw = form_field(form, "manifest", max_length=64 * 1024)
    return parse_manifest(parse_json(raw, "the form field 'manifest'"))


async def _grant_device_code(
    request: Request, state: ServerState, form: FormData, session: AsyncSession
) -> dict[str, Any]:
    code = form_field(form, "device_code")
    client_id = form_field(form, "client_id")
    row = (
        await session.execute(
            select(DeviceCode).where(DeviceCode.device_code_hash == token_hash(code))
        )
    ).scalar_one_or_none()
    if row is None or row.client_id != client_id:
        raise OAuthError("invalid_grant", "the device code is not known for this client")
    now = utcnow()
    if row.status == "consumed":
        raise OAuthError("invalid_grant", "the device code was already used")
    if row.expires_at <= now:
        raise OAuthError("expired_token", "the device code expired before it was approved")
    too_fast = (
        row.last_polled_at is not None
        and (now - row.last_polled_at).total_seconds() < row.interval * POLL_TOLERANCE
    )
    row.last_polled_at = now
    if too_fast:
        row.interval += 5
        await session.commit()
        raise OAuthError("slow_down", f"poll at most every {row.interval} seconds")
    if row.status == "denied":
        await session.commit()
        raise OAuthError("access_denied", "the user declined to grant this app access")
    if row.status != "approved" or row.user_id is None:
        await session.commit()
        raise OAuthError("authorization_pending", "the user has not approved the app yet")
    user = await session.get(User, row.user_id)
    if user is None or not user.is_active:
        raise OAuthError("access_denied", "the approving user no longer exists")
    manifest = parse_manifest(row.manifest)
    client = await state.oauth.register_client(
        session,
        user,
        manifest,
        row.requested_kind,
        row.requested_role,
        client_id=row.client_id,
        replace=True,
    )
    row.status = "consumed"
    refresh, session_id = await state.oauth.issue_refresh_token(session, client)
    answer = await state.oauth.token_answer(
        session, user, client, origin_of(request), refresh_token=refresh, session_id=session_id
    )
    await session.commit()
    return answer


async def _grant_refresh(
    request: Request, state: ServerState, form: FormData, session: AsyncSession
) -> dict[str, Any]:
    presented = form_field(form, "refresh_token")
    client_id = form_field(form, "client_id")
    client, successor, session_id = await state.oauth.rotate_refresh_token(
        session, presented, client_id
    )
    answer = await state.oauth.token_answer(
        session,
        client.user,
        client,
        origin_of(request),
        refresh_token=successor,
        session_id=session_id,
    )
    await session.commit()
    return answer


async def _grant_password(
    request: Request, state: ServerState, form: FormData, session: AsyncSession
) -> dict[str, Any]:
    username = form_field(form, "username", max_length=150)
    password = form_field(form, "password", max_length=1024)
    manifest = _manifest_field(form)
    kind, role = check_client_kind(
        form.get("requested_client_kind"), form.get("requested_client_role")
    )
    # Checked before `session` is first used: no connection is held while argon2 runs.
    try:
        user_id = await state.passwords.check(username, password, client_address(request))
    except TooManyAttempts as e:
        raise OAuthError("slow_down", e.message, 429, retry_after=e.retry_after) from None
    user = await session.get(User, user_id) if user_id is not None else None
    if user is None or not user.is_active:
        raise OAuthError("invalid_grant", "wrong username or password")
    client = await state.oauth.register_client(session, user, manifest, kind, role, replace=False)
    refresh, session_id = await state.oauth.issue_refresh_token(session, client)
    answer = await state.oauth.token_answer(
        session, user, client, origin_of(request), refresh_token=refresh, session_id=session_id
    )
    await session.commit()
    return answer


async def _grant_mandate_key(
    request: Request, state: ServerState, form: FormData, session: AsyncSession
) -> dict[str, Any]:
    key = form_field(form, "key", max_length=512)
    manifest = _manifest_field(form)
    kind, role = check_client_kind(
        form.get("requested_client_kind"), form.get("requested_client_role")
    )
    mandate = (
        await session.execute(select(MandateKey).where(MandateKey.key_hash == token_hash(key)))
    ).scalar_one_or_none()
    now = utcnow()
    if mandate is None or mandate.revoked_at is not None:
        raise OAuthError("invalid_grant", "the mandate key is not valid (unknown or revoked)")
    if mandate.expires_at is not None and mandate.expires_at <= now:
        raise OAuthError("invalid_grant", "the mandate key expired")
    if mandate.app_identifier and mandate.app_identifier != manifest.identifier:
        raise OAuthError(
            "invalid_grant", f"the mandate key only covers the app {mandate.app_identifier!r}"
        )
    user = await session.get(User, mandate.user_id)
    if user is None or not user.is_active:
        raise OAuthError("invalid_grant", "the mandate key's user is deactivated")
    mandate.last_used_at = now
    client = await state.oauth.register_client(session, user, manifest, kind, role, replace=False)
    answer = await state.oauth.token_answer(
        session, user, client, origin_of(request), refresh_token=None
    )
    await session.commit()
    return answer


async def _grant_jwt_bearer(
    request: Request, state: ServerState, form: FormData, session: AsyncSession
) -> dict[str, Any]:
    assertion = form_field(form, "assertion", max_length=16 * 1024)
    manifest = _manifest_field(form)
    kind, role = check_client_kind(
        form.get("requested_client_kind"), form.get("requested_client_role")
    )
    audience = endpoints(origin_of(request))["token_endpoint"]
    user = await credentials.verify_assertion(session, state.config, assertion, audience)
    client = await state.oauth.register_client(session, user, manifest, kind, role, replace=False)
    answer = await state.oauth.token_answer(
        session, user, client, origin_of(request), refresh_token=None
    )
    await session.commit()
    return answer


async def _grant_token_exchange(
    request: Request, state: ServerState, form: FormData, session: AsyncSession
) -> dict[str, Any]:
    subject = form_field(form, "subject_token", max_length=16 * 1024)
    subject_type = form_field(form, "subject_token_type", required=False) or ACCESS_TOKEN_TYPE
    if subject_type != ACCESS_TOKEN_TYPE:
        raise OAuthError("invalid_request", f"'subject_token_type' must be {ACCESS_TOKEN_TYPE}")
    manifest = _manifest_field(form)
    kind, role = check_client_kind(
        form.get("requested_client_kind"), form.get("requested_client_role")
    )
    try:  # valid here, and its session (if any) not ended
        claims = await authenticate(request, subject)
    except OAuthError as e:
        raise OAuthError("invalid_grant", e.description) from e
    user = await session.get(User, claims.user_id)
    if user is None or not user.is_active:
        raise OAuthError("invalid_grant", "the token's user no longer exists")
    client = await state.oauth.register_client(session, user, manifest, kind, role, replace=False)
    # The exchanged token may not outlive the one it was exchanged for (its "exp" claim, not
    # just the expires_in it is announced with), and it belongs to the same session: chained
    # exchanges can neither extend a session nor survive its end.
    answer = await state.oauth.token_answer(
        session,
        user,
        client,
        origin_of(request),
        refresh_token=None,
        not_after=claims.expires_at,
        session_id=claims.session_id,
    )
    await session.commit()
    return answer


GRANTS = {
    DEVICE_CODE_GRANT: _grant_device_code,
    "refresh_token": _grant_refresh,
    "password": _grant_password,
    MANDATE_KEY_GRANT: _grant_mandate_key,
    JWT_BEARER_GRANT: _grant_jwt_bearer,
    TOKEN_EXCHANGE_GRANT: _grant_token_exchange,
}


async def token(request: Request, state: ServerState) -> Response:
    form = await read_form(request)
    grant_type = form_field(form, "grant_type", max_length=200)
    grant = GRANTS.get(grant_type)
    if grant is None:
        raise OAuthError("unsupported_grant_type", f"grant_type {grant_type!r} is not supported")
    async with state.db.session() as session:
        answer = await grant(request, state, form, session)
    state.stats["tokens_issued"] = state.stats.get("tokens_issued", 0) + 1
    return _no_store(answer)


# -- revocation and report -----------------------------------------------------------------------


async def revoke(request: Request, state: ServerState) -> Response:
    form = await read_form(request)
    presented = form_field(form, "token", max_length=16 * 1024)
    client_id = form_field(form, "client_id")
    hint = form_field(form, "token_type_hint", required=False)
    if hint and hint not in ("refresh_token", "access_token"):
        raise OAuthError("unsupported_token_type", f"token_type_hint {hint!r} is not supported")
    async with state.db.session() as session:
        ended = await state.oauth.revoke_refresh_token(session, presented, client_id)
        await session.commit()
    if ended is not None:  # its access tokens (and their exchanged descendants) end too
        state.sessions.ended(ended)
    # RFC 7009 §2.2: the answer is the same whether or not the token was known.
    return _no_store({})


async def report(request: Request, state: ServerState) -> Response:
    claims = await bearer_claims(request)
    body = await read_json(request)
    reports = body.get("alias_reports", {})
    if not isinstance(reports, dict):
        raise OAuthError("invalid_request", "'alias_reports' must be an object")
    if not isinstance(body.get("functional", True), bool):
        raise OAuthError("invalid_request", "'functional' must be a boolean")
    failing = {
        key: value
        for key, value in reports.items()
        if isinstance(value, dict) and not value.get("valid", True)
    }
    if failing:
        logger.warning("client %s reports unreachable aliases: %s", claims.client_id, failing)
    return JSONResponse({"ok": True})


def routes() -> list[BaseRoute]:
    return [
        Route("/.well-known/fakts", well_known, methods=["GET"]),
        Route("/f/device/", oauth_endpoint(device_authorization), methods=["POST"]),
        Route("/f/token/", oauth_endpoint(token), methods=["POST"]),
        Route("/f/revoke/", oauth_endpoint(revoke), methods=["POST"]),
        Route("/f/report/", oauth_endpoint(report), methods=["POST"]),
    ]
