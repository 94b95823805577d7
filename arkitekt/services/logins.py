"""How an app logs in: one small class per method, each turning into a fakts authorizer.

- :class:`DeviceCodeLogin`: a person approves the app in a browser (remote mode).
- :class:`PasswordLogin`: username and password against a self-hosted server (direct mode).
- :class:`TokenLogin`: an access token someone handed over (exchanged for the app's own).
- :class:`MandateKeyLogin`: a standing mandate key (unattended; also the integrated mode).
- :class:`KeyLogin`: a private key whose public half is registered for the user (RFC 7523).

The password, device-code and key logins speak grants that the fakts client has no authorizer
for, so they are implemented here against the same token endpoint; every one of them answers with
the fakts envelope, so the rest of fakts (cache, refresh, aliases) works unchanged.
"""

from __future__ import annotations

import asyncio
import getpass
import hashlib
import json
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, Protocol

from fakts import oauth2
from fakts.grants.remote import RemoteGrant
from fakts.grants.remote.authorizers import DeviceCodeAuthorizer, MandateKeyAuthorizer
from fakts.grants.remote.models import FaktsEndpoint, SSLContextModel
from fakts.models import ActiveFakts
from fakts.oauth2 import TokenResponse
from pydantic import BaseModel, SecretStr

from arkitekt.errors import ConfigurationError, LoginError

TOKEN_EXCHANGE_GRANT = "urn:ietf:params:oauth:grant-type:token-exchange"
JWT_BEARER_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
ACCESS_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:access_token"
ASSERTION_LIFETIME = 60


class Login(Protocol):
    """A way to log in."""

    identity: str
    """Distinguishes cached sessions: two logins with different identities never share one."""
    interactive: bool
    """Whether logging in may need a person (a browser, a password prompt)."""
    when_refused: str
    """What to do when the server refuses this credential (shown in the error)."""

    def authorizer(self, manifest: BaseModel) -> Any:
        """The fakts authorizer that runs this login against a discovered endpoint."""
        ...


class ArkitektGrant(RemoteGrant):
    """fakts' remote grant, renewing through any authorizer that can log in again.

    fakts only renews sessions without a refresh token for its own mandate-key authorizer; token
    and key logins have none either and renew the same way.
    """

    async def arenew(self, active: ActiveFakts) -> TokenResponse | None:
        renew = getattr(self.authorizer, "arenew", None)
        if renew is None:
            return None
        response: TokenResponse = await renew(active.auth.token_endpoint)
        return response


def _raise_login_error(error: oauth2.OAuth2ErrorResponse, what: str) -> None:
    if error.error == "invalid_grant":
        raise LoginError(f"{what} was refused: {error.description or error.error}") from error
    if error.error == "slow_down":
        raise LoginError(
            f"{what}: too many failed attempts, wait a minute and try again"
        ) from error
    raise LoginError(f"{what} failed: {error}") from error


# -- password (direct mode) ----------------------------------------------------------------------


PasswordPrompt = Callable[[str], Awaitable[str]]


async def terminal_password_prompt(username: str) -> str:
    """Ask for the password on the terminal (never echoed)."""
    return await asyncio.to_thread(getpass.getpass, f"Password for {username}: ")


class PasswordAuthorizer(SSLContextModel):
    """The OAuth2 password grant, answered with the fakts envelope (and a refresh token)."""

    manifest: BaseModel
    username: str
    password: SecretStr | None = None
    prompt: PasswordPrompt | None = None
    requested_client_kind: str = "development"
    requested_client_role: str = "interface"
    allow_insecure_transport: bool = False

    @property
    def requires_user_interaction(self) -> bool:
        return self.password is None

    async def aauthorize(self, endpoint: FaktsEndpoint) -> TokenResponse:
        if not endpoint.token_endpoint:
            raise LoginError(f"{endpoint.name} advertises no token endpoint")
        password = self.password.get_secret_value() if self.password else None
        if password is None:
            if self.prompt is None:
                raise LoginError(
                    f"a password is needed to log in as {self.username!r}: pass password=... "
                    "(no terminal is attached to ask for it)"
                )
            password = await self.prompt(self.username)
            self.password = SecretStr(password)
        try:
            data = await oauth2.apost_form(
                endpoint.token_endpoint,
                {
                    "grant_type": "password",
                    "username": self.username,
                    "password": password,
                    "manifest": json.dumps(self.manifest.model_dump()),
                    "requested_client_kind": self.requested_client_kind,
                    "requested_client_role": self.requested_client_role,
                },
                ssl_context=self.ssl_context,
                allow_insecure_transport=self.allow_insecure_transport,
            )
        except oauth2.OAuth2ErrorResponse as e:
            self.password = None  # a wrong password must not be retried silently
            _raise_login_error(e, f"the login as {self.username!r}")
        return oauth2.parse_token_response(data, endpoint.token_endpoint)


class PasswordLogin:
    """Log in with a username and password (prompted when missing and a terminal is attached)."""

    interactive = False
    when_refused = "check the username and password"

    def __init__(self, username: str, password: str | None = None, *, prompt: bool = True) -> None:
        if not username:
            raise ConfigurationError("username must not be empty")
        self.username = username
        self.password = SecretStr(password) if password is not None else None
        self.prompt = prompt and sys.stdin is not None and sys.stdin.isatty()
        self.identity = f"password:{username}"

    def authorizer(self, manifest: BaseModel) -> PasswordAuthorizer:
        return PasswordAuthorizer(
            manifest=manifest,
            username=self.username,
            password=self.password,
            prompt=terminal_password_prompt if self.prompt else None,
        )


# -- access token --------------------------------------------------------------------------------


class TokenExchangeAuthorizer(SSLContextModel):
    """Exchanges a user's access token for one of this app (RFC 8693), with the envelope."""

    manifest: BaseModel
    token: SecretStr
    requested_client_kind: str = "development"
    requested_client_role: str = "interface"
    allow_insecure_transport: bool = False
    requires_user_interaction: bool = False

    async def aauthorize(self, endpoint: FaktsEndpoint) -> TokenResponse:
        if not endpoint.token_endpoint:
            raise LoginError(f"{endpoint.name} advertises no token endpoint")
        return await self.arenew(endpoint.token_endpoint)

    async def arenew(self, token_endpoint: str) -> TokenResponse:
        try:
            data = await oauth2.apost_form(
                token_endpoint,
                {
                    "grant_type": TOKEN_EXCHANGE_GRANT,
                    "subject_token": self.token.get_secret_value(),
                    "subject_token_type": ACCESS_TOKEN_TYPE,
                    "manifest": json.dumps(self.manifest.model_dump()),
                    "requested_client_kind": self.requested_client_kind,
                    "requested_client_role": self.requested_client_role,
                },
                ssl_context=self.ssl_context,
                allow_insecure_transport=self.allow_insecure_transport,
            )
        except oauth2.OAuth2ErrorResponse as e:
            _raise_login_error(e, "the access-token login")
        return oauth2.parse_token_response(data, token_endpoint)


class TokenLogin:
    """Log in with an access token issued by the server (e.g. ``ARKITEKT_TOKEN``)."""

    interactive = False
    when_refused = (
        "the token is not valid here (expired, revoked or from another server): get a new one"
    )

    def __init__(self, token: str) -> None:
        if not token:
            raise ConfigurationError("token must not be empty")
        self.token = SecretStr(token)
        self.identity = "token:" + hashlib.sha256(token.encode()).hexdigest()[:16]

    def authorizer(self, manifest: BaseModel) -> TokenExchangeAuthorizer:
        return TokenExchangeAuthorizer(manifest=manifest, token=self.token)


# -- mandate key ---------------------------------------------------------------------------------


class MandateKeyLogin:
    """Log in with a mandate key (unattended; renewed by logging in again)."""

    interactive = False
    when_refused = (
        "ask for a new one (arkitekt user mandate USER --app APP) and pass it as mandate_key= "
        "or ARKITEKT_MANDATE_KEY"
    )

    def __init__(self, key: str) -> None:
        if not key:
            raise ConfigurationError("mandate_key must not be empty")
        self.key = SecretStr(key)
        self.identity = "mandate:" + hashlib.sha256(key.encode()).hexdigest()[:16]

    def authorizer(self, manifest: BaseModel) -> MandateKeyAuthorizer:
        return MandateKeyAuthorizer(manifest=manifest, key=self.key)


# -- key / certificate (RFC 7523) ----------------------------------------------------------------


def load_private_key(key: str | Path | bytes, password: bytes | None = None) -> Any:
    """A private key from a PEM file path, PEM text or bytes; raises ConfigurationError."""
    from cryptography.hazmat.primitives import serialization

    if isinstance(key, Path) or (isinstance(key, str) and "-----BEGIN" not in key):
        path = Path(key)
        try:
            data = path.read_bytes()
        except OSError as e:
            raise ConfigurationError(f"private_key: cannot read {path} ({e.strerror})") from e
    else:
        data = key.encode() if isinstance(key, str) else key
    try:
        return serialization.load_pem_private_key(data, password=password)
    except (ValueError, TypeError) as e:
        raise ConfigurationError(f"private_key: not a usable PEM private key ({e})") from e


def public_key_id(private_key: Any) -> str:
    """The id the server gives the matching public key (SHA-256 of its SubjectPublicKeyInfo PEM)."""
    from cryptography.hazmat.primitives import serialization

    pem = private_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return hashlib.sha256(pem).hexdigest()[:32]


def sign_assertion(private_key: Any, username: str, audience: str) -> str:
    """A short-lived JWT assertion (RFC 7523 §3) for ``username``, signed with ``private_key``."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
    from joserfc import jwt
    from joserfc.jwk import ECKey, OKPKey, RSAKey

    pem = private_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    jwk: OKPKey | ECKey | RSAKey
    if isinstance(private_key, ed25519.Ed25519PrivateKey):
        jwk, alg = OKPKey.import_key(pem), "Ed25519"
    elif isinstance(private_key, ec.EllipticCurvePrivateKey):
        jwk, alg = ECKey.import_key(pem), "ES256"
    elif isinstance(private_key, rsa.RSAPrivateKey):
        jwk, alg = RSAKey.import_key(pem), "RS256"
    else:
        raise ConfigurationError("private_key: only Ed25519, EC (P-256) and RSA keys are supported")
    now = int(time.time())
    claims = {
        "iss": username,
        "sub": username,
        "aud": audience,
        "iat": now,
        "exp": now + ASSERTION_LIFETIME,
        "jti": uuid.uuid4().hex,
    }
    return jwt.encode(
        {"alg": alg, "kid": public_key_id(private_key)}, claims, jwk, algorithms=[alg]
    )


class KeyAssertionAuthorizer(SSLContextModel):
    """Logs in with a JWT assertion signed by the user's private key; renews the same way."""

    manifest: BaseModel
    username: str
    private_key: Any
    requested_client_kind: str = "development"
    requested_client_role: str = "interface"
    allow_insecure_transport: bool = False
    requires_user_interaction: bool = False

    async def aauthorize(self, endpoint: FaktsEndpoint) -> TokenResponse:
        if not endpoint.token_endpoint:
            raise LoginError(f"{endpoint.name} advertises no token endpoint")
        return await self.arenew(endpoint.token_endpoint)

    async def arenew(self, token_endpoint: str) -> TokenResponse:
        try:
            data = await oauth2.apost_form(
                token_endpoint,
                {
                    "grant_type": JWT_BEARER_GRANT,
                    "assertion": sign_assertion(self.private_key, self.username, token_endpoint),
                    "manifest": json.dumps(self.manifest.model_dump()),
                    "requested_client_kind": self.requested_client_kind,
                    "requested_client_role": self.requested_client_role,
                },
                ssl_context=self.ssl_context,
                allow_insecure_transport=self.allow_insecure_transport,
            )
        except oauth2.OAuth2ErrorResponse as e:
            _raise_login_error(e, f"the key login as {self.username!r}")
        return oauth2.parse_token_response(data, token_endpoint)


class KeyLogin:
    """Log in as ``username`` with a private key registered for them (``arkitekt user key``)."""

    interactive = False
    when_refused = "the server's reason says which: the key, the user or the clock"

    def __init__(self, username: str, private_key: str | Path | bytes | Any) -> None:
        if not username:
            raise ConfigurationError("username must not be empty for a key login")
        if isinstance(private_key, str | Path | bytes):
            private_key = load_private_key(private_key)
        self.username = username
        self.private_key = private_key
        self.identity = f"key:{username}:{public_key_id(private_key)}"

    def authorizer(self, manifest: BaseModel) -> KeyAssertionAuthorizer:
        return KeyAssertionAuthorizer(
            manifest=manifest, username=self.username, private_key=self.private_key
        )


# -- device code (remote mode) -------------------------------------------------------------------


class DeviceCodeLogin:
    """A person approves the app in a browser (opened for them unless ``headless``)."""

    interactive = True
    when_refused = "log in again: app.login() (or arkitekt login)"

    def __init__(
        self, *, headless: bool = False, hook: Any = None, wait: float | None = None
    ) -> None:
        self.headless = headless
        self.hook = hook
        self.wait = wait
        """Seconds to wait for the approval (None: as long as the server's code is valid)."""
        self.identity = "device"

    def authorizer(self, manifest: BaseModel) -> DeviceCodeAuthorizer:
        from .._progress import in_notebook

        kwargs: dict[str, Any] = {}
        open_browser = not self.headless
        if self.hook is not None:
            kwargs["device_code_hook"] = self.hook
        elif in_notebook():
            # The kernel may run on another machine than the browser: show a link to click.
            kwargs["device_code_hook"] = show_link_in_notebook
            open_browser = False
        else:
            kwargs["device_code_hook"] = show_prompt_in_terminal
        return DeviceCodeAuthorizer(
            manifest=manifest, open_browser=open_browser, timeout=self.wait, **kwargs
        )


def approval_page(challenge: Any) -> str:
    """The page where the code is entered by hand: the approval link without its code."""
    return str(challenge.verification_uri_complete).split("?", 1)[0]


async def show_prompt_in_terminal(challenge: Any) -> None:
    """The device-code prompt: the link with the code, and the page to enter it by hand."""
    from fakts.grants.remote.authorizers.utils import print_device_code_prompt

    print_device_code_prompt(
        str(challenge.verification_uri_complete), approval_page(challenge), challenge.user_code
    )


async def show_link_in_notebook(challenge: Any) -> None:
    """The device-code approval as a button in the notebook's output (not a terminal prompt)."""
    import html
    import importlib

    ipython_display: Any = importlib.import_module("IPython.display")  # untyped
    link = html.escape(str(challenge.verification_uri_complete), quote=True)
    code = html.escape(str(challenge.user_code))
    minutes = max(1, int(getattr(challenge, "expires_in", 600)) // 60)
    ipython_display.display(
        ipython_display.HTML(
            f"<div style='padding:8px;border:1px solid #ccc;border-radius:6px'>"
            f"<a href='{link}' target='_blank' rel='noopener' style='display:inline-block;"
            f"padding:6px 14px;background:#2563eb;color:#fff;border-radius:4px;"
            f"text-decoration:none'>Log in to arkitekt</a> "
            f"&nbsp;and confirm the code <code>{code}</code> "
            f"<span style='color:#666'>(valid {minutes} min)</span></div>"
        )
    )
