"""Malformed input to every endpoint of a real in-process server: a 4xx with a reason, never 500.

Each case is one request. OAuth endpoints (``/f/...``, ``/o/userinfo/``, the challenges) must answer
JSON with ``error`` and an ``error_description`` naming what was wrong; the pages answer HTML.
Some cases need something real to be malformed around (a token, a device code, a logged-in
browser); :class:`Ctx` makes those on demand against the test's own server.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import httpx
import pytest
from joserfc import jwt
from joserfc.jwk import OKPKey
from servers import PASSWORD, Servers, TestServer

FORM = "application/x-www-form-urlencoded"
DEVICE_CODE = "urn:ietf:params:oauth:grant-type:device_code"
MANDATE_KEY = "urn:fakts:grant-type:mandate-key"
JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
TOKEN_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
MANIFEST = {"identifier": "bad-input", "version": "1"}
MANIFEST_JSON = json.dumps(MANIFEST)
HUGE = 300 * 1024  # over the 256 KiB limit


class Ctx:
    """Real credentials on the test's server, made only when a case asks for them."""

    def __init__(self, server: TestServer) -> None:
        self.server = server
        self.url: str = server.url

    @cached_property
    def alice(self) -> str:
        """The user alice (password ``PASSWORD``), created once."""
        self.server.add_user("alice")
        return "alice"

    @cached_property
    def login(self) -> dict[str, Any]:
        """A password-grant token answer for alice (access, refresh token, client id)."""
        response = httpx.post(
            f"{self.url}/f/token/",
            data={
                "grant_type": "password",
                "username": self.alice,
                "password": PASSWORD,
                "manifest": MANIFEST_JSON,
            },
        )
        assert response.status_code == 200, response.text
        answer: dict[str, Any] = response.json()
        return answer

    @property
    def bearer(self) -> dict[str, str]:
        return {"authorization": f"Bearer {self.login['access_token']}"}

    @cached_property
    def device(self) -> dict[str, Any]:
        """A pending device authorization."""
        response = httpx.post(f"{self.url}/f/device/", json={"manifest": MANIFEST})
        assert response.status_code == 200, response.text
        answer: dict[str, Any] = response.json()
        return answer

    def signed(self, claims: dict[str, Any], **header: Any) -> str:
        """A JWT signed with the server's own key: valid signature, claims as given."""
        keys = self.server.state.keys
        head = {"alg": "Ed25519", "kid": keys.kid, "typ": "at+jwt", **header}
        return str(jwt.encode(head, claims, keys.signing, algorithms=["Ed25519"]))

    def claims(self, **overrides: Any) -> dict[str, Any]:
        now = int(time.time())
        return {
            "sub": "nobody",
            "iss": self.url,  # the server checks the issuer first
            "aud": "arkitekt",
            "iat": now,
            "exp": now + 60,
            "client_id": "ark_x",
            **overrides,
        }

    @cached_property
    def browser(self) -> httpx.Client:
        """An httpx client with alice's logged-in page session."""
        client = httpx.Client(base_url=self.url, timeout=10)
        page = client.get("/login")
        csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)
        assert csrf, page.text
        answer = client.post(
            "/login", data={"username": self.alice, "password": PASSWORD, "csrf": csrf.group(1)}
        )
        assert answer.status_code == 303, answer.text
        return client

    @property
    def session_csrf(self) -> str:
        page = self.browser.get("/logout")
        found = re.search(r'name="csrf" value="([^"]+)"', page.text)
        assert found, page.text
        return found.group(1)


Request = dict[str, Any] | Callable[[Ctx], dict[str, Any]]


@dataclass(frozen=True)
class Case:
    method: str
    path: str
    request: Request
    status: int
    error: str | None = None
    """The OAuth ``error`` code (JSON answers)."""
    mentions: str | None = None
    """Part of ``error_description`` (JSON) or of the page (HTML): names the offending input."""
    browser: bool = False
    """Send with the logged-in page session (cookies)."""


def js(body: Any) -> dict[str, Any]:
    return {"json": body}


def raw(body: bytes, content_type: str = "application/json") -> dict[str, Any]:
    return {"content": body, "headers": {"content-type": content_type}}


def chunked(chunks: list[bytes], content_type: str) -> dict[str, Any]:
    """A body sent in chunks, without a Content-Length."""
    return {"content": iter(chunks), "headers": {"content-type": content_type}}


def device(**fields: Any) -> dict[str, Any]:
    return js({"manifest": MANIFEST, **fields})


def manifest(**fields: Any) -> dict[str, Any]:
    return js({"manifest": {**MANIFEST, **fields}})


def form(**fields: Any) -> dict[str, Any]:
    return {"data": fields}


def grant(grant_type: str, **fields: Any) -> dict[str, Any]:
    return form(grant_type=grant_type, **fields)


def password(**fields: Any) -> dict[str, Any]:
    base = {"username": "alice", "password": "pw", "manifest": MANIFEST_JSON}
    return grant("password", **{**base, **fields})


def auth(value: str | bytes, **kwargs: Any) -> dict[str, Any]:
    """A request with this Authorization header (and ``kwargs``, headers merged)."""
    return {**kwargs, "headers": {**kwargs.get("headers", {}), "authorization": value}}


def bearer(make: Callable[[Ctx], str], **kwargs: Any) -> Callable[[Ctx], dict[str, Any]]:
    """A request bearing the token ``make`` returns."""
    return lambda c: auth(f"Bearer {make(c)}", **kwargs)


def with_bearer(**kwargs: Any) -> Callable[[Ctx], dict[str, Any]]:
    """A request bearing alice's valid access token."""
    return bearer(lambda c: c.login["access_token"], **kwargs)


def dev(request: Request, mentions: str, error: str = "invalid_request", status: int = 400) -> Case:
    return Case("POST", "/f/device/", request, status, error, mentions)


def tok(request: Request, mentions: str, error: str = "invalid_request", status: int = 400) -> Case:
    return Case("POST", "/f/token/", request, status, error, mentions)


def rev(request: Request, mentions: str, error: str = "invalid_request", status: int = 400) -> Case:
    return Case("POST", "/f/revoke/", request, status, error, mentions)


def rep(request: Request, mentions: str, error: str = "invalid_request", status: int = 400) -> Case:
    return Case("POST", "/f/report/", request, status, error, mentions)


def info(request: Request, mentions: str) -> Case:
    return Case("GET", "/o/userinfo/", request, 401, "invalid_token", mentions)


def method(verb: str, path: str) -> Case:
    return Case(verb, path, {}, 405)


NOT_JSON = "Content-Type: application/json"
NOT_FORM = "form-encoded"
TOO_BIG = "at most 262144 bytes"
NUL_URL = "The URL contains a NUL character."

CASES: dict[str, Case] = {
    # -- /.well-known/fakts, /.well-known/openid-configuration, /o/jwks/: GET only ----------------
    "fakts-discovery: POST": method("POST", "/.well-known/fakts"),
    "fakts-discovery: PUT": method("PUT", "/.well-known/fakts"),
    "fakts-discovery: DELETE": method("DELETE", "/.well-known/fakts"),
    "openid-configuration: POST": method("POST", "/.well-known/openid-configuration"),
    "openid-configuration: DELETE": method("DELETE", "/.well-known/openid-configuration"),
    "jwks: POST": method("POST", "/o/jwks/"),
    "jwks: PUT": method("PUT", "/o/jwks/"),
    # -- /f/device/: a JSON object with a manifest ------------------------------------------------
    "device: GET": method("GET", "/f/device/"),
    "device: PUT": method("PUT", "/f/device/"),
    "device: malformed JSON": dev(raw(b'{"manifest": '), "not valid JSON"),
    "device: empty body": dev(raw(b""), "not valid JSON"),
    "device: JSON list": dev(js([MANIFEST]), "JSON object"),
    "device: JSON string": dev(js("manifest"), "JSON object"),
    "device: JSON null": dev(raw(b"null"), "JSON object"),
    "device: JSON number": dev(js(5), "JSON object"),
    "device: form-encoded": dev(form(manifest=MANIFEST_JSON), NOT_JSON),
    "device: text/plain JSON": dev(
        raw(json.dumps({"manifest": MANIFEST}).encode(), "text/plain"), NOT_JSON
    ),
    "device: no content type": dev(
        {"content": json.dumps({"manifest": MANIFEST}).encode()}, NOT_JSON
    ),
    "device: not UTF-8": dev(raw(b"\xff\xfe{}"), "can't decode byte 0xff"),
    "device: not UTF-8 in a string": dev(
        raw(b'{"manifest": {"identifier": "\xff", "version": "1"}}'), "can't decode byte 0xff"
    ),
    "device: lone surrogate": dev(
        raw(b'{"manifest": {"identifier": "\\ud800", "version": "1"}}'),
        "the body holds an unpaired surrogate",
    ),
    "device: nested too deeply": dev(raw(b"[" * 100_000), "the body is nested too deeply"),
    "device: huge body": dev(raw(b" " * HUGE), TOO_BIG, status=413),
    "device: huge chunked body": dev(
        lambda c: chunked([b" " * 65536] * 5, "application/json"),
        TOO_BIG,
        status=413,
    ),
    "device: huge manifest": dev(manifest(description="x" * HUGE), TOO_BIG, status=413),
    "device: manifest missing": dev(js({}), "'manifest'"),
    "device: manifest null": dev(js({"manifest": None}), "'manifest'"),
    "device: manifest a list": dev(js({"manifest": [MANIFEST]}), "'manifest'"),
    "device: manifest a JSON string": dev(js({"manifest": MANIFEST_JSON}), "'manifest'"),
    "device: identifier missing": dev(js({"manifest": {"version": "1"}}), "manifest.identifier"),
    "device: identifier a number": dev(manifest(identifier=3), "manifest.identifier"),
    "device: identifier empty": dev(manifest(identifier=""), "manifest.identifier"),
    "device: identifier a list": dev(manifest(identifier=["a"]), "manifest.identifier"),
    "device: identifier too long": dev(manifest(identifier="a" * 300), "manifest.identifier"),
    "device: version missing": dev(js({"manifest": {"identifier": "a"}}), "manifest.version"),
    "device: version a number": dev(manifest(version=1.0), "manifest.version"),
    "device: device_id a number": dev(manifest(device_id=7), "manifest.device_id"),
    "device: scopes a string": dev(manifest(scopes="read"), "manifest.scopes"),
    "device: scopes not strings": dev(manifest(scopes=["read", 1]), "manifest.scopes"),
    "device: scopes nested": dev(manifest(scopes=[["read"]]), "manifest.scopes"),
    "device: unknown scope": dev(manifest(scopes=["read", "root"]), "root", "invalid_scope"),
    "device: requirements an object": dev(
        manifest(requirements={"key": "rekuest"}), "manifest.requirements"
    ),
    "device: requirement a string": dev(manifest(requirements=["rekuest"]), "requirements[0]"),
    "device: requirement key a number": dev(
        manifest(requirements=[{"key": "a", "service": "s"}, {"key": 1, "service": "s"}]),
        "requirements[1]",
    ),
    "device: expiration a string": dev(
        device(expiration_time_seconds="600"), "'expiration_time_seconds'"
    ),
    "device: expiration not numeric": dev(
        device(expiration_time_seconds="soon"), "'expiration_time_seconds'"
    ),
    "device: expiration a float": dev(
        device(expiration_time_seconds=1.5), "'expiration_time_seconds'"
    ),
    "device: expiration a bool": dev(
        device(expiration_time_seconds=True), "'expiration_time_seconds'"
    ),
    "device: expiration null": dev(
        device(expiration_time_seconds=None), "'expiration_time_seconds'"
    ),
    "device: expiration negative": dev(
        device(expiration_time_seconds=-5), "'expiration_time_seconds'"
    ),
    "device: expiration zero": dev(device(expiration_time_seconds=0), "'expiration_time_seconds'"),
    "device: expiration infinite": dev(
        raw(b'{"manifest": {"identifier": "a", "version": "1"}, "expiration_time_seconds": 1e999}'),
        "'expiration_time_seconds'",
    ),
    "device: expiration of 5000 digits": dev(
        raw(
            b'{"manifest": {"identifier": "a", "version": "1"}, "expiration_time_seconds": '
            + b"9" * 5000
            + b"}"
        ),
        "the body holds a number too large",
    ),
    "device: unknown client kind": dev(
        device(requested_client_kind="robot"), "'requested_client_kind'"
    ),
    "device: client kind a list": dev(
        device(requested_client_kind=["website"]), "'requested_client_kind'"
    ),
    "device: client role an object": dev(
        device(requested_client_role={"agent": True}), "'requested_client_role'"
    ),
    "device: client role a number": dev(device(requested_client_role=5), "'requested_client_role'"),
    # -- /f/token/: form-encoded, one grant_type --------------------------------------------------
    "token: GET": method("GET", "/f/token/"),
    "token: PUT": method("PUT", "/f/token/"),
    "token: DELETE": method("DELETE", "/f/token/"),
    "token: JSON body": tok(js({"grant_type": "password"}), NOT_FORM),
    "token: text/plain body": tok(raw(b"grant_type=password", "text/plain"), NOT_FORM),
    "token: no content type": tok({"content": b"grant_type=password"}, NOT_FORM),
    "token: multipart without boundary": tok(
        raw(b"grant_type=password", "multipart/form-data"), "form could not be read"
    ),
    "token: multipart with a file": tok(
        {"files": {"grant_type": ("grant.txt", b"password")}}, "form could not be read"
    ),
    "token: huge body": tok(raw(b"grant_type=" + b"x" * HUGE, FORM), TOO_BIG, status=413),
    "token: huge chunked body": tok(
        lambda c: chunked([b"a=" + b"x" * 65536] * 5, FORM),
        TOO_BIG,
        status=413,
    ),
    "token: grant_type missing": tok(form(client_id="x"), "'grant_type'"),
    "token: grant_type empty": tok(form(grant_type=""), "'grant_type'"),
    "token: grant_type too long": tok(form(grant_type="g" * 300), "'grant_type'"),
    "token: grant_type unknown": tok(form(grant_type="magic"), "magic", "unsupported_grant_type"),
    "token: grant_type authorization_code": tok(
        form(grant_type="authorization_code", code="c"),
        "authorization_code",
        "unsupported_grant_type",
    ),
    "token: grant_type client_credentials": tok(
        form(grant_type="client_credentials"), "client_credentials", "unsupported_grant_type"
    ),
    "token: grant_type not UTF-8": tok(
        raw(b"grant_type=\xff\xfe", FORM), "grant_type", "unsupported_grant_type"
    ),
    "token: grant_type not UTF-8 (percent-encoded)": tok(
        raw(b"grant_type=%ff%fe", FORM), "grant_type", "unsupported_grant_type"
    ),
    # device_code
    "token device_code: device_code missing": tok(
        grant(DEVICE_CODE, client_id="x"), "'device_code'"
    ),
    "token device_code: client_id missing": tok(grant(DEVICE_CODE, device_code="x"), "'client_id'"),
    "token device_code: unknown code": tok(
        grant(DEVICE_CODE, device_code="x", client_id="y"), "device code", "invalid_grant"
    ),
    "token device_code: another client's code": tok(
        lambda c: grant(DEVICE_CODE, device_code=c.device["device_code"], client_id="ark_other"),
        "device code",
        "invalid_grant",
    ),
    "token device_code: device_code too long": tok(
        grant(DEVICE_CODE, device_code="x" * 9000, client_id="y"), "'device_code'"
    ),
    # refresh_token
    "token refresh_token: refresh_token missing": tok(
        grant("refresh_token", client_id="x"), "'refresh_token'"
    ),
    "token refresh_token: client_id missing": tok(
        grant("refresh_token", refresh_token="x"), "'client_id'"
    ),
    "token refresh_token: unknown token": tok(
        grant("refresh_token", refresh_token="x", client_id="y"), "refresh token", "invalid_grant"
    ),
    "token refresh_token: another client's token": tok(
        lambda c: grant(
            "refresh_token", refresh_token=c.login["refresh_token"], client_id="ark_other"
        ),
        "refresh token",
        "invalid_grant",
    ),
    "token refresh_token: an access token": tok(
        lambda c: grant(
            "refresh_token",
            refresh_token=c.login["access_token"],
            client_id=c.login["client_id"],
        ),
        "refresh token",
        "invalid_grant",
    ),
    # password
    "token password: username missing": tok(password(username=""), "'username'"),
    "token password: password missing": tok(password(password=""), "'password'"),
    "token password: username too long": tok(password(username="u" * 200), "'username'"),
    "token password: password too long": tok(password(password="p" * 2000), "'password'"),
    "token password: manifest missing": tok(password(manifest=""), "'manifest'"),
    "token password: manifest malformed JSON": tok(password(manifest="{"), "'manifest'"),
    "token password: manifest a list": tok(password(manifest="[]"), "'manifest'"),
    "token password: manifest a string": tok(password(manifest='"bad-input"'), "'manifest'"),
    "token password: manifest too long": tok(
        password(manifest=json.dumps({**MANIFEST, "description": "x" * 70_000})), "'manifest'"
    ),
    "token password: manifest nested too deeply": tok(
        password(manifest="[" * 50_000), "'manifest' is nested too deeply"
    ),
    "token password: manifest with a lone surrogate": tok(
        password(manifest='{"identifier": "\\ud800", "version": "1"}'),
        "'manifest' holds an unpaired surrogate",
    ),
    "token password: manifest with a 5000-digit number": tok(
        password(manifest='{"identifier": "a", "version": "1", "n": ' + "9" * 5000 + "}"),
        "'manifest' holds a number too large",
    ),
    "token password: bad identifier": tok(
        password(manifest='{"identifier": 3, "version": "1"}'), "manifest.identifier"
    ),
    "token password: scopes not strings": tok(
        password(manifest=json.dumps({**MANIFEST, "scopes": [1]})), "manifest.scopes"
    ),
    "token password: unknown scope": tok(
        password(manifest=json.dumps({**MANIFEST, "scopes": ["admin"]})), "admin", "invalid_scope"
    ),
    "token password: unknown client kind": tok(
        password(requested_client_kind="robot"), "'requested_client_kind'"
    ),
    "token password: unknown client role": tok(
        password(requested_client_role="boss"), "'requested_client_role'"
    ),
    "token password: wrong password": tok(
        lambda c: password(username=c.alice, password="wrong"),
        "wrong username or password",
        "invalid_grant",
    ),
    "token password: unknown user": tok(
        password(username="nobody"), "wrong username", "invalid_grant"
    ),
    # mandate key
    "token mandate-key: key missing": tok(grant(MANDATE_KEY, manifest=MANIFEST_JSON), "'key'"),
    "token mandate-key: key too long": tok(
        grant(MANDATE_KEY, key="k" * 600, manifest=MANIFEST_JSON), "'key'"
    ),
    "token mandate-key: manifest missing": tok(grant(MANDATE_KEY, key="arkm_x"), "'manifest'"),
    "token mandate-key: manifest a list": tok(
        grant(MANDATE_KEY, key="arkm_x", manifest="[]"), "'manifest'"
    ),
    "token mandate-key: manifest not JSON": tok(
        grant(MANDATE_KEY, key="arkm_x", manifest="identifier=a"), "'manifest'"
    ),
    "token mandate-key: unknown key": tok(
        grant(MANDATE_KEY, key="arkm_x", manifest=MANIFEST_JSON), "mandate key", "invalid_grant"
    ),
    "token mandate-key: unknown client kind": tok(
        grant(MANDATE_KEY, key="arkm_x", manifest=MANIFEST_JSON, requested_client_kind="x"),
        "'requested_client_kind'",
    ),
    # jwt-bearer (key login)
    "token jwt-bearer: assertion missing": tok(
        grant(JWT_BEARER, manifest=MANIFEST_JSON), "'assertion'"
    ),
    "token jwt-bearer: manifest missing": tok(grant(JWT_BEARER, assertion="a.b.c"), "'manifest'"),
    "token jwt-bearer: manifest bad identifier": tok(
        grant(JWT_BEARER, assertion="a.b.c", manifest='{"identifier": "", "version": "1"}'),
        "manifest.identifier",
    ),
    "token jwt-bearer: assertion not a JWT": tok(
        grant(JWT_BEARER, assertion="not-a-jwt", manifest=MANIFEST_JSON),
        "assertion",
        "invalid_grant",
    ),
    "token jwt-bearer: assertion garbage segments": tok(
        grant(JWT_BEARER, assertion="a.b.c", manifest=MANIFEST_JSON), "assertion", "invalid_grant"
    ),
    "token jwt-bearer: assertion without kid": tok(
        grant(JWT_BEARER, assertion="eyJhbGciOiJFZERTQSJ9.e30.AAAA", manifest=MANIFEST_JSON),
        "'kid'",
        "invalid_grant",
    ),
    "token jwt-bearer: assertion with an unknown kid": tok(
        lambda c: grant(
            JWT_BEARER, assertion=c.signed(c.claims(), kid="nope"), manifest=MANIFEST_JSON
        ),
        "not registered",
        "invalid_grant",
    ),
    "token jwt-bearer: assertion too long": tok(
        grant(JWT_BEARER, assertion="a" * 20_000, manifest=MANIFEST_JSON), "'assertion'"
    ),
    # token exchange
    "token exchange: subject_token missing": tok(
        grant(TOKEN_EXCHANGE, manifest=MANIFEST_JSON), "'subject_token'"
    ),
    "token exchange: subject_token_type unknown": tok(
        grant(TOKEN_EXCHANGE, subject_token="x", subject_token_type="saml", manifest=MANIFEST_JSON),
        "'subject_token_type'",
    ),
    "token exchange: manifest missing": tok(grant(TOKEN_EXCHANGE, subject_token="x"), "'manifest'"),
    "token exchange: manifest a list": tok(
        lambda c: grant(TOKEN_EXCHANGE, subject_token=c.login["access_token"], manifest="[]"),
        "'manifest'",
    ),
    "token exchange: subject_token garbage": tok(
        grant(TOKEN_EXCHANGE, subject_token="x.y.z", manifest=MANIFEST_JSON),
        "access token",
        "invalid_grant",
    ),
    "token exchange: subject_token a refresh token": tok(
        lambda c: grant(
            TOKEN_EXCHANGE, subject_token=c.login["refresh_token"], manifest=MANIFEST_JSON
        ),
        "access token",
        "invalid_grant",
    ),
    "token exchange: subject_token of nobody": tok(
        lambda c: grant(TOKEN_EXCHANGE, subject_token=c.signed(c.claims()), manifest=MANIFEST_JSON),
        "no longer exists",
        "invalid_grant",
    ),
    "token exchange: subject_token expired": tok(
        lambda c: grant(
            TOKEN_EXCHANGE,
            subject_token=c.signed(c.claims(exp=int(time.time()) - 10)),
            manifest=MANIFEST_JSON,
        ),
        "expired",
        "invalid_grant",
    ),
    # -- /f/revoke/ -------------------------------------------------------------------------------
    "revoke: GET": method("GET", "/f/revoke/"),
    "revoke: JSON body": rev(js({"token": "t", "client_id": "c"}), NOT_FORM),
    "revoke: token missing": rev(form(client_id="c"), "'token'"),
    "revoke: client_id missing": rev(form(token="t"), "'client_id'"),
    "revoke: token too long": rev(form(token="t" * 20_000, client_id="c"), "'token'"),
    "revoke: unknown token_type_hint": rev(
        form(token="t", client_id="c", token_type_hint="id_token"),
        "token_type_hint",
        "unsupported_token_type",
    ),
    "revoke: another client's token": rev(
        lambda c: form(token=c.login["refresh_token"], client_id="ark_other"),
        "client",
        "invalid_client",
        401,
    ),
    "revoke: huge body": rev(raw(b"token=" + b"t" * HUGE, FORM), TOO_BIG, status=413),
    # -- /f/report/: bearer, then a JSON object ---------------------------------------------------
    "report: GET": method("GET", "/f/report/"),
    "report: no Authorization": rep(js({}), "Authorization", "invalid_token", 401),
    "report: Basic auth": rep(auth("Basic YTpi", json={}), "Authorization", "invalid_token", 401),
    "report: Bearer without token": rep(
        auth("bearer", json={}), "Authorization", "invalid_token", 401
    ),
    "report: garbage bearer": rep(
        auth("Bearer abc", json={}), "access token", "invalid_token", 401
    ),
    "report: refresh token as bearer": rep(
        bearer(lambda c: c.login["refresh_token"], json={}), "access token", "invalid_token", 401
    ),
    "report: garbage bearer and malformed body": rep(
        auth("Bearer abc", **raw(b"{")), "access token", "invalid_token", 401
    ),
    "report: malformed JSON": rep(with_bearer(**raw(b"{")), "not valid JSON"),
    "report: JSON list": rep(with_bearer(json=[]), "JSON object"),
    "report: form-encoded": rep(with_bearer(data={"functional": "true"}), NOT_JSON),
    "report: alias_reports a list": rep(with_bearer(json={"alias_reports": []}), "'alias_reports'"),
    "report: functional a string": rep(with_bearer(json={"functional": "yes"}), "'functional'"),
    "report: not UTF-8": rep(
        with_bearer(**raw(b'{"functional": "\xff"}')), "can't decode byte 0xff"
    ),
    "report: huge body": rep(with_bearer(**raw(b" " * HUGE)), TOO_BIG, status=413),
    # -- /o/userinfo/: a valid access token -------------------------------------------------------
    "userinfo: POST": method("POST", "/o/userinfo/"),
    "userinfo: no Authorization": info({}, "Authorization"),
    "userinfo: Basic auth": info(auth("Basic YTpi"), "Authorization"),
    "userinfo: Bearer without token": info(auth("Bearer"), "Authorization"),
    "userinfo: garbage bearer": info(auth("Bearer abc"), "access token"),
    "userinfo: three garbage segments": info(auth("Bearer a.b.c"), "access token"),
    "userinfo: JSON header not an object": info(auth("Bearer WzFd.e30.x"), "access token"),
    "userinfo: alg none": info(auth("Bearer eyJhbGciOiJub25lIn0.e30."), "access token"),
    "userinfo: not latin-1 text": info(auth(b"Bearer \xff\xfe"), "access token"),
    "userinfo: huge bearer": info(auth("Bearer " + "a" * 20_000), "access token"),
    "userinfo: refresh token": info(bearer(lambda c: c.login["refresh_token"]), "access token"),
    "userinfo: signed by another key": info(
        bearer(
            lambda c: str(
                jwt.encode(
                    {"alg": "Ed25519", "typ": "at+jwt"},
                    c.claims(),
                    OKPKey.generate_key("Ed25519", private=True),
                    algorithms=["Ed25519"],
                )
            )
        ),
        "access token",
    ),
    "userinfo: not an access token (typ)": info(
        bearer(lambda c: c.signed(c.claims(), typ="JWT")), "not an access token"
    ),
    "userinfo: wrong audience": info(bearer(lambda c: c.signed(c.claims(aud="other"))), "aud"),
    "userinfo: no client_id": info(
        bearer(lambda c: c.signed({k: v for k, v in c.claims().items() if k != "client_id"})),
        "client_id",
    ),
    "userinfo: expired": info(
        bearer(lambda c: c.signed(c.claims(exp=int(time.time()) - 10))), "expired"
    ),
    "userinfo: user that does not exist": info(
        bearer(lambda c: c.signed(c.claims())), "no longer exists"
    ),
    # -- /rekuest/ht (and the other services' challenges) -----------------------------------------
    "challenge: empty nonce": Case(
        "GET", "/rekuest/ht?nonce=", {}, 400, "invalid_request", "nonce"
    ),
    "challenge: nonce too long": Case(
        "GET", "/rekuest/ht?nonce=" + "n" * 257, {}, 400, "invalid_request", "nonce"
    ),
    "challenge: mikro nonce too long": Case(
        "GET", "/mikro/ht?nonce=" + "n" * 1000, {}, 400, "invalid_request", "nonce"
    ),
    "challenge: datalayer empty nonce": Case(
        "GET", "/datalayer/ht?nonce=", {}, 400, "invalid_request", "nonce"
    ),
    "challenge: POST": method("POST", "/rekuest/ht?nonce=abc"),
    # -- /login -----------------------------------------------------------------------------------
    "login: PUT": method("PUT", "/login"),
    "login: DELETE": method("DELETE", "/login"),
    "login: JSON body": Case("POST", "/login", js({"username": "alice"}), 400, mentions=NOT_FORM),
    "login: huge body": Case(
        "POST", "/login", raw(b"username=" + b"u" * HUGE, FORM), 400, mentions=TOO_BIG
    ),
    "login: no CSRF": Case(
        "POST", "/login", form(username="alice", password="pw"), 400, mentions="form expired"
    ),
    "login: wrong CSRF": Case(
        "POST",
        "/login",
        {**form(username="a", password="b", csrf="x"), "cookies": {"arkitekt_login_csrf": "y"}},
        400,
        mentions="form expired",
    ),
    "login: CSRF as a file": Case(
        "POST", "/login", {"files": {"csrf": ("csrf", b"x")}}, 400, mentions="Bad request"
    ),
    "login: password missing": Case(
        "POST",
        "/login",
        {**form(username="alice", csrf="x"), "cookies": {"arkitekt_login_csrf": "x"}},
        400,
        mentions="Enter your username and password",
    ),
    "login: not UTF-8": Case(
        "POST",
        "/login",
        {
            **raw(b"username=\xff&password=\xfe&csrf=x", FORM),
            "cookies": {"arkitekt_login_csrf": "x"},
        },
        401,
        mentions="Wrong username or password",
    ),
    # -- /device ----------------------------------------------------------------------------------
    "device page: PUT": method("PUT", "/device"),
    "device page: POST logged out": Case("POST", "/device", form(action="approve"), 303),
    "device page: garbage session cookie": Case(
        "GET", "/device?code=ABCD-EFGH", {"cookies": {"arkitekt_session": "garbage"}}, 303
    ),
    "device page: unknown code": Case(
        "GET", "/device?code=ABCD-EFGH", {}, 404, mentions="unknown, expired", browser=True
    ),
    "device page: code of garbage": Case(
        "GET", "/device?code=%ff%3C", {}, 404, mentions="unknown, expired", browser=True
    ),
    "device page: code with a NUL": Case(
        "GET", "/device?code=%ff%00%3C", {}, 400, mentions=NUL_URL, browser=True
    ),
    "device page: POST JSON": Case(
        "POST", "/device", js({"action": "approve"}), 400, mentions=NOT_FORM, browser=True
    ),
    "device page: POST huge": Case(
        "POST", "/device", raw(b"code=" + b"c" * HUGE, FORM), 400, mentions=TOO_BIG, browser=True
    ),
    "device page: POST without CSRF": Case(
        "POST",
        "/device",
        form(action="approve", code="ABCD-EFGH"),
        400,
        mentions="form expired",
        browser=True,
    ),
    "device page: POST with a wrong CSRF": Case(
        "POST",
        "/device",
        form(action="approve", code="ABCD-EFGH", csrf="wrong"),
        400,
        mentions="form expired",
        browser=True,
    ),
    "device page: POST without action": Case(
        "POST",
        "/device",
        lambda c: form(code=c.device["user_code"], csrf=c.session_csrf),
        400,
        mentions="approve or deny",
        browser=True,
    ),
    "device page: POST unknown action": Case(
        "POST",
        "/device",
        lambda c: form(code=c.device["user_code"], csrf=c.session_csrf, action="maybe"),
        400,
        mentions="approve or deny",
        browser=True,
    ),
    "device page: POST unknown code": Case(
        "POST",
        "/device",
        lambda c: form(code="ZZZZ-ZZZZ", csrf=c.session_csrf, action="approve"),
        404,
        mentions="unknown, expired",
        browser=True,
    ),
    "device page: POST code missing": Case(
        "POST",
        "/device",
        lambda c: form(csrf=c.session_csrf, action="approve"),
        404,
        mentions="unknown, expired",
        browser=True,
    ),
    # -- /logout ----------------------------------------------------------------------------------
    "logout: PUT": method("PUT", "/logout"),
    "logout: POST without CSRF": Case(
        "POST", "/logout", form(x="1"), 400, mentions="form expired", browser=True
    ),
    "logout: POST JSON": Case("POST", "/logout", js({}), 400, mentions=NOT_FORM, browser=True),
    "logout: POST garbage session cookie": Case(
        "POST", "/logout", {"cookies": {"arkitekt_session": "garbage"}}, 200, mentions="logged out"
    ),
    # -- /dashboard (its content: tests/test_dashboard.py) ----------------------------------------
    "dashboard: POST": method("POST", "/dashboard"),
    "dashboard: PUT": method("PUT", "/dashboard"),
    "dashboard: logged out": Case("GET", "/dashboard", {}, 303),
    "dashboard: garbage session cookie": Case(
        "GET", "/dashboard", {"cookies": {"arkitekt_session": "garbage"}}, 303
    ),
    "dashboard: garbage query": Case(
        "GET", "/dashboard?limit=%ff%3C&x", {}, 200, mentions="No agents yet", browser=True
    ),
    "dashboard: query with a NUL": Case(
        "GET", "/dashboard?limit=%ff%00%3C&x", {}, 400, mentions=NUL_URL, browser=True
    ),
    "dashboard thumbnail: POST": method("POST", "/dashboard/images/abc/thumbnail.png"),
    "dashboard thumbnail: logged out": Case(
        "GET", "/dashboard/images/abc/thumbnail.png", {}, 404, mentions="No such image"
    ),
    "dashboard thumbnail: garbage session cookie": Case(
        "GET",
        "/dashboard/images/abc/thumbnail.png",
        {"cookies": {"arkitekt_session": "garbage"}},
        404,
        mentions="No such image",
    ),
    "dashboard thumbnail: unknown id": Case(
        "GET",
        "/dashboard/images/" + "0" * 32 + "/thumbnail.png",
        {},
        404,
        mentions="No such image",
        browser=True,
    ),
    "dashboard thumbnail: id too long": Case(
        "GET",
        "/dashboard/images/" + "a" * 5000 + "/thumbnail.png",
        {},
        404,
        mentions="No such image",
        browser=True,
    ),
    "dashboard thumbnail: id of garbage": Case(
        "GET",
        "/dashboard/images/%ff%3C'/thumbnail.png",
        {},
        404,
        mentions="No such image",
        browser=True,
    ),
    "dashboard thumbnail: id with a NUL": Case(
        "GET", "/dashboard/images/%ff%00%3C'/thumbnail.png", {}, 400, mentions=NUL_URL
    ),
    "dashboard thumbnail: path traversal": Case(
        "GET", "/dashboard/images/..%2f..%2farkitekt.db/thumbnail.png", {}, 404, browser=True
    ),
    "dashboard thumbnail: no id": Case(
        "GET", "/dashboard/images//thumbnail.png", {}, 404, browser=True
    ),
    # -- the run page and the call page (their content: tests/test_run_page.py) -----------------
    "run page: PUT": method("PUT", f"/dashboard/functions/{'0' * 32}/run"),
    "run page: logged out": Case("GET", f"/dashboard/functions/{'0' * 32}/run", {}, 303),
    "run page: unknown function": Case(
        "GET",
        f"/dashboard/functions/{'0' * 32}/run",
        {},
        404,
        mentions="No such function",
        browser=True,
    ),
    "run page: id too long": Case(
        "GET",
        f"/dashboard/functions/{'a' * 5000}/run",
        {},
        404,
        mentions="No such function",
        browser=True,
    ),
    "run page: id of garbage": Case(
        "GET",
        "/dashboard/functions/%ff%3C'/run",
        {},
        404,
        mentions="No such function",
        browser=True,
    ),
    "run page: id with a NUL": Case(
        "GET", "/dashboard/functions/%ff%00/run", {}, 400, mentions=NUL_URL, browser=True
    ),
    "run page: POST logged out": Case(
        "POST", f"/dashboard/functions/{'0' * 32}/run", form(x="1"), 303
    ),
    "run page: POST JSON to an unknown function": Case(
        "POST",
        f"/dashboard/functions/{'0' * 32}/run",
        js({"arg-0": 1}),
        404,
        mentions="No such function",
        browser=True,
    ),
    "agent page: POST": method("POST", f"/dashboard/agents/{'0' * 32}"),
    "agent page: logged out": Case("GET", f"/dashboard/agents/{'0' * 32}", {}, 303),
    "agent page: unknown agent": Case(
        "GET", f"/dashboard/agents/{'0' * 32}", {}, 404, mentions="No such agent", browser=True
    ),
    "agent page: id too long": Case(
        "GET", f"/dashboard/agents/{'a' * 5000}", {}, 404, mentions="No such agent", browser=True
    ),
    "agent page: path traversal": Case(
        "GET", "/dashboard/agents/..%2f..%2farkitekt.db", {}, 404, browser=True
    ),
    "agent states: POST": method("POST", f"/dashboard/agents/{'0' * 32}/states/events"),
    "agent states: logged out": Case(
        "GET", f"/dashboard/agents/{'0' * 32}/states/events", {}, 404, mentions="No such agent"
    ),
    "agent states: unknown agent": Case(
        "GET",
        f"/dashboard/agents/{'0' * 32}/states/events",
        {},
        404,
        mentions="No such agent",
        browser=True,
    ),
    "call page: PUT": method("PUT", f"/dashboard/calls/{'0' * 32}"),
    "call page: logged out": Case("GET", f"/dashboard/calls/{'0' * 32}", {}, 303),
    "call page: unknown call": Case(
        "GET", f"/dashboard/calls/{'0' * 32}", {}, 404, mentions="No such call", browser=True
    ),
    "call page: id too long": Case(
        "GET", f"/dashboard/calls/{'a' * 5000}", {}, 404, mentions="No such call", browser=True
    ),
    "call page: path traversal": Case(
        "GET", "/dashboard/calls/..%2f..%2farkitekt.db", {}, 404, browser=True
    ),
    "call events: POST": method("POST", f"/dashboard/calls/{'0' * 32}/events"),
    "call events: logged out": Case(
        "GET", f"/dashboard/calls/{'0' * 32}/events", {}, 404, mentions="No such call"
    ),
    "call events: unknown call, garbage Last-Event-ID": Case(
        "GET",
        f"/dashboard/calls/{'0' * 32}/events?after=%ff%3C",
        {"headers": {"last-event-id": "-99999999999999999999"}},
        404,
        mentions="No such call",
        browser=True,
    ),
    "cancel: GET": method("GET", f"/dashboard/calls/{'0' * 32}/cancel"),
    "cancel: logged out": Case("POST", f"/dashboard/calls/{'0' * 32}/cancel", form(x="1"), 303),
    "cancel: without CSRF": Case(
        "POST",
        f"/dashboard/calls/{'0' * 32}/cancel",
        form(x="1"),
        400,
        mentions="form expired",
        browser=True,
    ),
    "cancel: JSON": Case(
        "POST", f"/dashboard/calls/{'0' * 32}/cancel", js({}), 400, mentions=NOT_FORM, browser=True
    ),
    "cancel: huge form": Case(
        "POST",
        f"/dashboard/calls/{'0' * 32}/cancel",
        raw(b"csrf=" + b"c" * HUGE, FORM),
        413,
        mentions=TOO_BIG,
        browser=True,
    ),
    "cancel: unknown call": Case(
        "POST",
        f"/dashboard/calls/{'0' * 32}/cancel",
        lambda c: form(csrf=c.session_csrf),
        404,
        mentions="No such call",
        browser=True,
    ),
    # -- /mikro/graphql (its resolvers: tests/test_storage.py), /datalayer/o/ ----------------------
    "mikro graphql: no token": Case(
        "POST", "/mikro/graphql", js({"query": "{ images { id } }"}), 401, mentions="Bearer"
    ),
    "mikro graphql: garbage token": Case(
        "POST",
        "/mikro/graphql",
        {"json": {"query": "{ images { id } }"}, "headers": {"authorization": "Bearer x.y.z"}},
        401,
        mentions="not valid",
    ),
    "mikro graphql: PUT": method("PUT", "/mikro/graphql"),
    "datalayer: no grant": Case(
        "GET", "/datalayer/o/images/abc/zarr.json", {}, 401, mentions="Authorization: Bearer"
    ),
    "datalayer: garbage grant": Case(
        "GET",
        "/datalayer/o/images/abc/zarr.json",
        {"headers": {"authorization": "Bearer garbage"}},
        401,
        mentions="not valid",
    ),
    "datalayer: PUT without grant": Case(
        "PUT", "/datalayer/o/images/abc/zarr.json", raw(b"{}"), 401, mentions="grant"
    ),
    "datalayer: path traversal": Case(
        "GET", "/datalayer/o/images/..%2f..%2farkitekt.db", {}, 400, mentions="invalid key"
    ),
    "datalayer: empty segment": Case(
        "GET", "/datalayer/o/images//zarr.json", {}, 400, mentions="invalid key"
    ),
    "datalayer: POST": method("POST", "/datalayer/o/images/abc/zarr.json"),
    # -- the rest: /, /health, /static ----------------------------------------------------------
    "home: POST": method("POST", "/"),
    "home: garbage session cookie": Case(
        "GET", "/", {"cookies": {"arkitekt_session": "garbage"}}, 200, mentions="/login"
    ),
    "health: POST": method("POST", "/health"),
    "health live: POST": method("POST", "/health/live"),
    "health ready: POST": method("POST", "/health/ready"),
    "health ready: garbage query": Case(
        "GET", "/health/ready?x=%ff%3C", {}, 200, mentions='"database":"ok"'
    ),
    "metrics: POST": method("POST", "/metrics"),
    "metrics: off": Case("GET", "/metrics", {}, 404, mentions="ARKITEKT_METRICS_TOKEN"),
    "metrics: garbage token": Case(
        "GET", "/metrics", {"headers": {"authorization": "Bearer %ff<'"}}, 404
    ),
    "static: POST": method("POST", "/static/style.css"),
    "static: unknown file": Case("GET", "/static/nope.css", {}, 404),
    "static: path traversal": Case("GET", "/static/..%2f..%2fapp.py", {}, 404),
}

OAUTH_PREFIXES = ("/f/", "/o/userinfo/", "/rekuest/", "/mikro/", "/datalayer/")


@pytest.mark.parametrize("case", list(CASES.values()), ids=list(CASES))
def test_bad_input(servers: Servers, case: Case) -> None:
    server = servers.in_process()
    ctx = Ctx(server)
    kwargs = case.request(ctx) if callable(case.request) else dict(case.request)
    client = ctx.browser if case.browser else httpx.Client(base_url=server.url, timeout=30)
    cookies = kwargs.pop("cookies", None)
    if cookies:
        client.cookies.update(cookies)
    try:
        response = client.request(case.method, case.path, **kwargs)
    finally:
        client.close()

    assert response.status_code < 500, response.text
    assert response.status_code == case.status, response.text
    if case.status == 405:
        assert response.headers["allow"], response.headers
        return
    if case.error is not None:
        assert case.path.startswith(OAUTH_PREFIXES)
        assert response.headers["content-type"].startswith("application/json")
        body = response.json()
        assert body["error"] == case.error, body
        assert case.mentions and case.mentions in body["error_description"], body
        if case.status == 401:
            assert "Bearer" in response.headers["www-authenticate"]
    elif case.mentions is not None:
        assert case.mentions in response.text, response.text


def test_every_route_is_covered(tmp_path: Path) -> None:
    """A new route without bad-input cases fails here."""
    from arkitekt.server.app import create_app
    from arkitekt.server.config import ServerConfig

    app = create_app(ServerConfig(data_dir=tmp_path))
    # the remote-function endpoints have suites of their own (test_rpc_protocol, test_rpc_graphql)
    elsewhere = {"/rekuest/ws", "/rekuest/graphql"}
    paths = {getattr(route, "path", "") for route in app.routes} - elsewhere
    tried = {case.path.split("?")[0] for case in CASES.values()}
    uncovered = {
        p
        for p in paths
        # a route with a path parameter is covered by any case under its fixed part
        if not any(t == p or t.startswith(f"{p}/") or t.startswith(p.split("{")[0]) for t in tried)
    }
    assert not uncovered


@pytest.mark.parametrize(
    "path", ["/f/device/", "/f/token/", "/f/revoke/", "/f/report/", "/o/userinfo/"]
)
def test_errors_are_not_cached(servers: Servers, path: str) -> None:
    server = servers.in_process()
    response = httpx.request("GET" if path == "/o/userinfo/" else "POST", server.url + path)
    assert 400 <= response.status_code < 500
    assert response.headers["cache-control"] == "no-store"


def test_the_server_still_works_after_bad_input(servers: Servers) -> None:
    """Bad input leaves nothing half-done: a proper login afterwards succeeds."""
    server = servers.in_process()
    ctx = Ctx(server)
    for case in (CASES["device: nested too deeply"], CASES["token password: manifest a list"]):
        kwargs = case.request if isinstance(case.request, dict) else case.request(ctx)
        httpx.request(case.method, server.url + case.path, **kwargs)
    info = httpx.get(f"{server.url}/o/userinfo/", headers=ctx.bearer)
    assert info.status_code == 200 and info.json()["preferred_username"] == "alice"
