"""The pages a person uses: log in, approve (or deny) an app's device code, log out.

Server-rendered (Jinja2), no JavaScript. Sessions are an HttpOnly cookie whose hash is stored;
every form carries a CSRF token (the session's, or a double-submit cookie before logging in).
"""

from __future__ import annotations

import datetime as dt
import hmac
import secrets
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

from sqlalchemy import delete, select
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from .fakts_routes import format_user_code, normalise_user_code
from .http import client_address, origin_of, read_form, state_of
from .models import DeviceCode, User, WebSession, utcnow
from .oauth import OAuthError, token_hash
from .passwords import TooManyAttempts

HERE = Path(__file__).parent
templates = Jinja2Templates(directory=str(HERE / "templates"))
SESSION_COOKIE = "arkitekt_session"
LOGIN_CSRF_COOKIE = "arkitekt_login_csrf"


def _secure(request: Request) -> bool:
    return origin_of(request).scheme == "https"


def _safe_next(target: str | None) -> str:
    """Only same-site relative targets: never an open redirect."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


def render(request: Request, template: str, status: int = 200, **context: Any) -> Response:
    response = templates.TemplateResponse(request, template, context, status_code=status)
    response.headers["Cache-Control"] = "no-store"
    return response


async def current_session(request: Request) -> WebSession | None:
    cookie = request.cookies.get(SESSION_COOKIE)
    if not cookie:
        return None
    async with state_of(request).db.session() as session:
        row = await session.get(WebSession, token_hash(cookie))
    if row is None or row.expires_at <= utcnow() or not row.user.is_active:
        return None
    return row


def _csrf_ok(expected: str | None, given: object) -> bool:
    # As bytes: compare_digest refuses str with non-ASCII characters (a TypeError, a 500).
    if not expected or not isinstance(given, str):
        return False
    return hmac.compare_digest(expected.encode(), given.encode())


# -- login / logout ------------------------------------------------------------------------------


async def login_page(request: Request) -> Response:
    session = await current_session(request)
    target = _safe_next(request.query_params.get("next"))
    if session is not None:
        return RedirectResponse(target, status_code=303)
    return _login_form(request, target)


def _login_form(
    request: Request, target: str, error: str | None = None, status: int = 200, username: str = ""
) -> Response:
    csrf = request.cookies.get(LOGIN_CSRF_COOKIE) or secrets.token_urlsafe(24)
    response = render(
        request, "login.html", status, next=target, csrf=csrf, error=error, username=username
    )
    response.set_cookie(
        LOGIN_CSRF_COOKIE, csrf, httponly=True, samesite="strict", secure=_secure(request)
    )
    return response


async def login_submit(request: Request) -> Response:
    try:
        form = await read_form(request)
    except OAuthError as e:
        return render(request, "message.html", 400, title="Bad request", message=e.description)
    target = _safe_next(str(form.get("next") or "/"))
    if not _csrf_ok(request.cookies.get(LOGIN_CSRF_COOKIE), form.get("csrf")):
        return _login_form(request, target, "Your form expired. Please try again.", 400)
    username = str(form.get("username") or "")
    password = str(form.get("password") or "")
    if not username or not password:
        return _login_form(request, target, "Enter your username and password.", 400)
    state = state_of(request)
    try:  # no database connection is held while the password is checked
        user_id = await state.passwords.check(username, password, client_address(request))
    except TooManyAttempts as e:
        sentence = f"{e.message[:1].upper()}{e.message[1:]}."
        response = _login_form(request, target, sentence, 429, username)
        response.headers["Retry-After"] = str(e.retry_after)
        return response
    if user_id is None:
        return _login_form(request, target, "Wrong username or password.", 401, username)
    cookie = secrets.token_urlsafe(32)
    async with state.db.session() as session:
        session.add(
            WebSession(
                id=token_hash(cookie),
                user_id=user_id,
                csrf_token=secrets.token_urlsafe(24),
                expires_at=utcnow() + dt.timedelta(seconds=state.config.web_session_ttl),
            )
        )
        await session.execute(delete(WebSession).where(WebSession.expires_at < utcnow()))
        await session.commit()
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        cookie,
        max_age=state.config.web_session_ttl,
        httponly=True,
        samesite="lax",
        secure=_secure(request),
    )
    response.delete_cookie(LOGIN_CSRF_COOKIE)
    return response


async def logout_page(request: Request) -> Response:
    session = await current_session(request)
    if session is None:
        return render(request, "message.html", title="Logged out", message="You are not logged in.")
    return render(request, "logout.html", user=session.user, csrf=session.csrf_token)


async def logout_submit(request: Request) -> Response:
    session = await current_session(request)
    if session is not None:
        try:
            form = await read_form(request)
        except OAuthError as e:
            return render(request, "message.html", 400, title="Bad request", message=e.description)
        if not _csrf_ok(session.csrf_token, form.get("csrf")):
            return render(
                request,
                "message.html",
                400,
                title="Bad request",
                message="Your form expired. Please try again.",
            )
        async with state_of(request).db.session() as db:
            await db.execute(delete(WebSession).where(WebSession.id == session.id))
            await db.commit()
    response = render(request, "message.html", title="Logged out", message="You are logged out.")
    response.delete_cookie(SESSION_COOKIE)
    return response


# -- device approval -----------------------------------------------------------------------------


async def _pending_code(request: Request, code: str) -> DeviceCode | None:
    normalised = normalise_user_code(code)
    if len(normalised) != 8:
        return None
    async with state_of(request).db.session() as session:
        row = (
            await session.execute(select(DeviceCode).where(DeviceCode.user_code == normalised))
        ).scalar_one_or_none()
    if row is None or row.status != "pending" or row.expires_at <= utcnow():
        return None
    return row


def _login_redirect(request: Request) -> Response:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse(f"/login?{urlencode({'next': target})}", status_code=303)


async def device_page(request: Request) -> Response:
    session = await current_session(request)
    if session is None:
        return _login_redirect(request)
    code = request.query_params.get("code", "").strip()
    if not code:
        return render(request, "device_code.html", user=session.user)
    row = await _pending_code(request, code)
    if row is None:
        return render(
            request,
            "device_code.html",
            404,
            user=session.user,
            code=code,
            error="This code is unknown, expired or already used. "
            "Start the login again in your app.",
        )
    manifest = row.manifest
    return render(
        request,
        "device.html",
        user=session.user,
        code=format_user_code(row.user_code),
        csrf=session.csrf_token,
        app=manifest.get("identifier"),
        version=manifest.get("version"),
        author=manifest.get("author"),
        description=manifest.get("description"),
        scopes=manifest.get("scopes") or [],
        requirements=manifest.get("requirements") or [],
        kind=row.requested_kind,
        expires_minutes=max(1, int((row.expires_at - utcnow()).total_seconds() // 60)),
    )


async def device_submit(request: Request) -> Response:
    session = await current_session(request)
    if session is None:
        return _login_redirect(request)
    try:
        form = await read_form(request)
    except OAuthError as e:
        return render(request, "message.html", 400, title="Bad request", message=e.description)
    if not _csrf_ok(session.csrf_token, form.get("csrf")):
        return render(
            request,
            "message.html",
            400,
            title="Bad request",
            message="Your form expired. Please open the link again.",
        )
    action = form.get("action")
    if action not in ("approve", "deny"):
        return render(
            request, "message.html", 400, title="Bad request", message="Choose approve or deny."
        )
    row = await _pending_code(request, str(form.get("code") or ""))
    if row is None:
        return render(
            request,
            "message.html",
            404,
            title="Code not found",
            message="This code is unknown, expired or already used.",
        )
    async with state_of(request).db.session() as db:
        stored = await db.get(DeviceCode, row.id)
        assert stored is not None
        stored.status = "approved" if action == "approve" else "denied"
        stored.user_id = session.user_id
        await db.commit()
    app = row.manifest.get("identifier")
    if action == "approve":
        return render(
            request,
            "message.html",
            title="App approved",
            message=f"{app} is now logged in as {session.user.username}. "
            "You can close this window.",
        )
    return render(
        request,
        "message.html",
        title="App denied",
        message=f"{app} was not given access. You can close this window.",
    )


async def home(request: Request) -> Response:
    session = await current_session(request)
    user: User | None = session.user if session else None
    return render(
        request,
        "home.html",
        user=user,
        device_link="/device",
        login_link=f"/login?next={quote('/')}",
    )


def routes() -> list[BaseRoute]:
    return [
        Route("/", home, methods=["GET"]),
        Route("/login", login_page, methods=["GET"]),
        Route("/login", login_submit, methods=["POST"]),
        Route("/logout", logout_page, methods=["GET"]),
        Route("/logout", logout_submit, methods=["POST"]),
        Route("/device", device_page, methods=["GET"]),
        Route("/device", device_submit, methods=["POST"]),
        Mount("/static", StaticFiles(directory=str(HERE / "static")), name="static"),
    ]
