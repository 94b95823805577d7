"""Fuzzing the login surface: the OAuth/fakts endpoints and the login, logout and device pages.

Requests are drawn per endpoint from the fields it reads (every grant type of the token
endpoint with its own fields, the device-authorization JSON body, revocation, the pages' forms
with and without their CSRF cookie), each field plausible, hostile (huge, non-ASCII, control
characters, injections) or missing, with random extra fields, query strings, cookies and
content types. The oracle: never a 5xx, never the server's insides; the JSON endpoints answer
JSON and their refusals are OAuth-shaped (``{"error": ..., "error_description": ...}``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import httpx
from fuzzing import ANSWER_BOUND, HOSTILE_TEXT, JSON_VALUES, Tally, Target, check_http
from hypothesis import strategies as st

from arkitekt.server.fakts_routes import GRANT_TYPES
from arkitekt.server.pages import LOGIN_CSRF_COOKIE

MANIFEST = json.dumps({"identifier": "fuzz-app", "version": "1", "scopes": ["openid"]})
TOKEN_FIELDS = (
    "device_code",
    "client_id",
    "refresh_token",
    "username",
    "password",
    "key",
    "assertion",
    "subject_token",
    "subject_token_type",
    "requested_token_type",
    "scope",
    "audience",
    "requested_client_kind",
    "requested_client_role",
)
CSRF = "fuzzer-csrf-token-0123456789"


@dataclass(frozen=True)
class Request:
    """One request of the fuzzer (the path relative to the server)."""

    method: str
    path: str
    form: dict[str, str] | None = None
    json_body: Any = None
    content: bytes | None = None
    params: dict[str, str] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    cookies: dict[str, str] = field(default_factory=dict)

    @property
    def json_endpoint(self) -> bool:
        return self.path.startswith(("/f/", "/o/"))


def _value(known: list[str]) -> st.SearchStrategy[str]:
    return st.one_of(st.sampled_from(known), HOSTILE_TEXT) if known else HOSTILE_TEXT


def _form(fields: dict[str, list[str]]) -> st.SearchStrategy[dict[str, str]]:
    """A form with each field plausible, hostile or left out, and maybe an unknown one."""
    return st.fixed_dictionaries(
        {},
        optional={name: _value(known) for name, known in fields.items()} | {"extra": HOSTILE_TEXT},
    )


def _headers() -> st.SearchStrategy[dict[str, str]]:
    ascii_text = st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=80)
    return st.fixed_dictionaries(
        {},
        optional={
            "authorization": st.one_of(
                ascii_text, ascii_text.map(lambda t: f"Bearer {t}"), st.just("Bearer ")
            ),
            "origin": st.sampled_from(["null", "http://evil.example", "http://127.0.0.1"]),
            "x-forwarded-for": ascii_text,
        },
    ).map(lambda headers: {name: value.strip() for name, value in headers.items()})
    # (an HTTP client cannot send a header value with spaces around it)


def requests(target: Target) -> st.SearchStrategy[Request]:
    """Requests to every endpoint of the login surface."""
    tokens = [target.tokens["alice"], target.tokens["bob"]]
    token_form = st.tuples(
        st.one_of(st.sampled_from([*GRANT_TYPES, "password"]), HOSTILE_TEXT),
        _form({name: [] for name in TOKEN_FIELDS} | {"username": ["alice", "bob", "nobody"]}),
        st.one_of(st.just(MANIFEST), HOSTILE_TEXT, JSON_VALUES.map(json.dumps)),
    ).map(lambda t: {**t[1], "grant_type": t[0], "manifest": t[2]})
    token_form = st.one_of(
        token_form,
        token_form.map(lambda f: {**f, "subject_token": tokens[0]}),
        token_form.map(lambda f: {**f, "assertion": tokens[1]}),
    )
    device_body = st.one_of(
        st.fixed_dictionaries(
            {},
            optional={
                "manifest": st.one_of(st.just(json.loads(MANIFEST)), JSON_VALUES),
                "requested_client_kind": st.one_of(
                    st.sampled_from(["development", "website", "desktop"]), JSON_VALUES
                ),
                "requested_client_role": JSON_VALUES,
                "expiration_time_seconds": st.one_of(st.integers(-5, 10**12), JSON_VALUES),
            },
        ),
        JSON_VALUES,
    )
    return st.one_of(
        st.builds(
            Request, st.just("POST"), st.just("/f/token/"), form=token_form, headers=_headers()
        ),
        st.builds(Request, st.just("POST"), st.just("/f/device/"), json_body=device_body),
        st.builds(
            Request,
            st.just("POST"),
            st.just("/f/revoke/"),
            form=_form(
                {
                    "token": tokens,
                    "client_id": [],
                    "token_type_hint": ["access_token", "refresh_token"],
                }
            ),
        ),
        st.builds(
            Request,
            st.just("POST"),
            st.just("/f/report/"),
            json_body=st.one_of(
                JSON_VALUES,
                st.fixed_dictionaries({"alias_reports": JSON_VALUES, "functional": JSON_VALUES}),
            ),
            headers=st.just({"authorization": f"Bearer {tokens[0]}"}),
        ),
        st.builds(Request, st.just("GET"), st.just("/o/userinfo/"), headers=_headers()),
        st.builds(
            Request,
            st.just("GET"),
            st.sampled_from(["/.well-known/fakts", "/login", "/device"]),
            params=st.fixed_dictionaries(
                {},
                optional={
                    "next": HOSTILE_TEXT,
                    "code": HOSTILE_TEXT,
                    "manifest": HOSTILE_TEXT,
                    "self_hosted": HOSTILE_TEXT,
                },
            ),
        ),
        st.builds(
            Request,
            st.just("POST"),
            st.just("/login"),
            form=_form(
                {
                    "username": ["alice", "nobody"],
                    "password": [],
                    "next": ["/", "//evil"],
                    "csrf": [CSRF],
                }
            ),
            cookies=st.sampled_from([{}, {LOGIN_CSRF_COOKIE: CSRF}]),
        ),
        st.builds(
            Request,
            st.sampled_from(["POST"]),
            st.sampled_from(["/logout", "/device"]),
            form=_form({"csrf": [CSRF], "action": ["approve", "deny"], "code": []}),
            cookies=st.sampled_from([{}, {"arkitekt_session": CSRF}]),
        ),
        st.builds(
            Request,
            st.just("POST"),
            st.sampled_from(["/f/token/", "/f/device/", "/login"]),
            content=st.binary(max_size=300),
            headers=st.sampled_from(
                [
                    {"content-type": "application/x-www-form-urlencoded"},
                    {"content-type": "application/json"},
                    {"content-type": "multipart/form-data; boundary=zz"},
                    {"content-type": "text/plain"},
                ]
            ),
        ),
    )


def _cookie_header(cookies: dict[str, str]) -> dict[str, str]:
    if not cookies:
        return {}
    return {"cookie": "; ".join(f"{name}={value}" for name, value in cookies.items())}


def send_request(target: Target, tally: Tally, request: Request) -> None:
    """Send one request and check the answer."""
    answer = check_http(
        tally,
        lambda: httpx.request(
            request.method,
            target.url + request.path,
            data=request.form,
            json=request.json_body,
            content=request.content,
            params=request.params,
            headers={**request.headers, **_cookie_header(request.cookies)},
            timeout=ANSWER_BOUND,
        ),
    )
    if answer is None or not request.json_endpoint:
        return
    try:
        body = answer.json()
    except ValueError:
        tally.fail(
            f"{request.path}: HTTP {answer.status_code} answered non-JSON: {answer.text:.200}"
        )
        return
    if answer.status_code >= 400 and not (isinstance(body, dict) and "error" in body):
        tally.fail(
            f"{request.path}: HTTP {answer.status_code} is not an OAuth error: {body!r:.200}"
        )
