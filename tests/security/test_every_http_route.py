"""Every HTTP and websocket route of the server is either public for a stated reason or refuses
requests without a valid credential, and a valid credential of bob's reaches nothing of alice's.

The routes are read from ``create_app(config).routes`` (the server's own Starlette app, with
the configuration the live server runs); :data:`ROUTES` maps each ``"<METHOD> <path>"`` (a
websocket route as ``WEBSOCKET``, a mount as ``MOUNT``) to what it permits and a check run
against the live server. A route without an entry fails here, naming it; an entry for a route
that no longer exists fails too.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from cross_user import (
    PRIVATE_IMAGE,
    PRIVATE_INTERFACE,
    SECRET_ARGUMENT,
    SECRET_FUNCTION,
    SHARED_IMAGE,
    SHARED_INTERFACE,
    UPLOAD_IMAGE_OP,
    World,
    finish_held_call,
    image_upload_input,
    start_held_call,
    status,
    storage,
    subscribe,
    world,
)
from raw_protocol import token_for
from servers import PASSWORD, TEST_SETTINGS, TestServer
from starlette.routing import Mount, Route, WebSocketRoute
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from arkitekt.server.app import create_app

HERE = "tests/security/test_every_http_route.py"
SESSION_COOKIE = "arkitekt_session"


@dataclass
class Context:
    """The world, bob's datalayer grants, both users' web sessions and credentials that are
    valid somewhere else (another server, another address)."""

    w: World
    other: TestServer
    foreign: dict[str, str | None]
    """Bearer tokens this server must refuse, by what they are."""
    cookies: dict[str, str]
    """user -> web session cookie."""
    bob_read: dict[str, Any]
    """bob's read grant (of alice's image shared with him)."""
    bob_write: dict[str, Any]
    """bob's write grant (of an upload of his own)."""
    other_grant: dict[str, Any]
    """A grant of the other server (signed with its own key)."""
    alice_read: dict[str, Any]


def route_keys(routes: list[Any]) -> list[str]:
    """``"<METHOD> <path>"`` of every route; websocket routes as WEBSOCKET, mounts as MOUNT."""
    keys = []
    for route in routes:
        if isinstance(route, WebSocketRoute):
            keys.append(f"WEBSOCKET {route.path}")
        elif isinstance(route, Mount):
            keys.append(f"MOUNT {route.path}")
        elif isinstance(route, Route):
            keys.extend(f"{method} {route.path}" for method in sorted(route.methods or ()))
        else:
            keys.append(f"{type(route).__name__} {getattr(route, 'path', route)}")
    return sorted(keys)


# -- requests -------------------------------------------------------------------------------------


def send(
    c: Context,
    method: str,
    path: str,
    *,
    token: str | None = None,
    cookie: str | None = None,
    **kwargs: Any,
) -> httpx.Response:
    headers = dict(kwargs.pop("headers", {}))
    if token is not None:
        headers["authorization"] = f"Bearer {token}"
    cookies = {SESSION_COOKIE: cookie} if cookie is not None else None
    with httpx.Client(base_url=c.w.url, cookies=cookies, timeout=30) as client:
        return client.request(method, path, headers=headers, **kwargs)


def no_secrets(c: Context, answer: httpx.Response, what: str) -> None:
    assert answer.status_code < 500, f"{what}: HTTP {answer.status_code}: {answer.text[:300]}"
    c.w.assert_no_secrets(answer.text, what)


def password_token(url: str, user: str, host: str) -> str:
    """A valid token minted through a forged Host header: another issuer."""
    answer = httpx.post(
        f"{url}/f/token/",
        data={
            "grant_type": "password",
            "username": user,
            "password": PASSWORD,
            "manifest": json.dumps({"identifier": "xu-forged-host", "version": "1"}),
        },
        headers={"Host": host},
        timeout=30,
    )
    assert answer.status_code == 200, answer.text
    return str(answer.json()["access_token"])


def web_session(url: str, user: str) -> str:
    """Log in on the server's login page as a browser does; the session cookie."""
    with httpx.Client(base_url=url, timeout=30) as browser:
        page = browser.get("/login")
        csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)
        assert csrf, page.text
        answer = browser.post(
            "/login",
            data={"username": user, "password": PASSWORD, "csrf": csrf.group(1), "next": "/"},
        )
        assert answer.status_code == 303, answer.text
        return str(answer.cookies[SESSION_COOKIE])


# -- what every guarded route refuses -------------------------------------------------------------


def graphql_request(method: str, query: str) -> dict[str, Any]:
    if method == "POST":
        return {"json": {"query": query}}
    return {"params": {"query": query}}


def refuses_bad_tokens(c: Context, method: str, path: str, **kwargs: Any) -> None:
    """No token, garbage, a tampered one, another server's and another address's: 401."""
    for what, token in c.foreign.items():
        answer = send(c, method, path, token=token, **kwargs)
        assert answer.status_code == 401, f"{method} {path} with {what}: {answer.status_code}"
        no_secrets(c, answer, f"{method} {path} with {what}")
        if method != "HEAD":
            assert "data" not in answer.json(), f"{method} {path} with {what}: {answer.text}"


def bobs_graphql(schema: str, query: str, field: str) -> Callable[[Context, str], None]:
    """bob's token on alice's object through a GraphQL route: nothing."""
    path = f"/{schema}/graphql"

    def check(c: Context, method: str) -> None:
        refuses_bad_tokens(c, method, path, **graphql_request(method, "{ __typename }"))
        answer = send(c, method, path, token=c.w.bob, **graphql_request(method, query))
        no_secrets(c, answer, f"{method} {path} as bob")
        if method == "HEAD":
            assert answer.content == b"", f"HEAD {path} has a body"
            return
        body = answer.json()
        assert (body.get("data") or {}).get(field) is None, f"{method} {path}: bob got {body}"

    return check


def rekuest_graphql(c: Context, method: str) -> None:
    query = f'{{ assignation(id: "{c.w.done_call}") {{ args }} }}'
    bobs_graphql("rekuest", query, "assignation")(c, method)


def mikro_graphql(c: Context, method: str) -> None:
    query = f'{{ image(id: "{c.w.private_image}") {{ name }} }}'
    bobs_graphql("mikro", query, "image")(c, method)


def userinfo(c: Context, method: str) -> None:
    refuses_bad_tokens(c, method, "/o/userinfo/")
    answer = send(c, method, "/o/userinfo/", token=c.w.bob)
    no_secrets(c, answer, f"{method} userinfo as bob")
    assert answer.status_code == 200
    if method == "GET":
        assert answer.json()["preferred_username"] == "bob", answer.text


def fakts_report(c: Context, method: str) -> None:
    body: dict[str, Any] = {"alias_reports": {}, "functional": True}
    refuses_bad_tokens(c, method, "/f/report/", json=body)
    answer = send(c, method, "/f/report/", token=c.w.bob, json=body)
    assert answer.json() == {"ok": True}, answer.text


# -- the websockets -------------------------------------------------------------------------------


def rekuest_frames(c: Context, *frames: list[dict[str, Any]], until: str = "") -> list[Any]:
    """Send frames on ``/rekuest/ws``; the server's messages until one of type ``until``, until
    it closes (then a last ``{"type": "closed", "code": ...}``) or goes quiet for 2 s."""
    received: list[dict[str, Any]] = []
    with connect(c.w.url.replace("http", "ws") + "/rekuest/ws", open_timeout=10) as ws:
        for frame in frames:
            ws.send(json.dumps(frame))
        try:
            while not any(m["type"] == until for m in received):
                received.extend(json.loads(ws.recv(timeout=2)))
        except TimeoutError:
            pass
        except ConnectionClosed as closed:
            received.append({"type": "closed", "code": closed.rcvd.code if closed.rcvd else None})
    return received


def rekuest_ws(c: Context, method: str) -> None:
    for what, token in c.foreign.items():
        hello: dict[str, Any] = {"type": "hello", "session": uuid.uuid4().hex}
        if token is not None:
            hello["token"] = token
        received = rekuest_frames(c, [hello])
        types = [m["type"] for m in received]
        assert "welcome" not in types, f"/rekuest/ws welcomed {what}: {received}"
        assert received[-1]["type"] == "closed" and received[-1]["code"] in (4001, 4002), (
            f"/rekuest/ws with {what}: {received}"
        )
    hello = {"type": "hello", "token": c.w.bob, "session": uuid.uuid4().hex}
    watch = {"type": "watch", "assignations": {c.w.done_call: -1}}
    received = rekuest_frames(c, [hello], [watch], until="failed")
    c.w.assert_no_secrets(received, "bob's watch of alice's call")
    failed = [m for m in received if m["type"] == "failed"]
    assert failed and failed[0]["code"] == "not_found", f"bob's watch: {received}"
    assert not [m for m in received if m["type"] == "event"], f"bob got events: {received}"


def rekuest_graphql_ws(c: Context, method: str) -> None:
    query = "subscription($a: ID!) { assignationEvents(assignation: $a) { values } }"
    variables = {"a": c.w.done_call}
    for what, token in c.foreign.items():
        refused = subscribe(c.w.url, token, query, variables)
        assert refused == [4403], f"/rekuest/graphql websocket with {what}: {refused}"
    messages = subscribe(c.w.url, c.w.bob, query, variables)
    c.w.assert_no_secrets(messages, "bob's subscription to alice's call")
    assert "no such assignation" in json.dumps(messages), f"bob was not refused: {messages}"


# -- the web pages --------------------------------------------------------------------------------


DEVICE_REQUEST = {"manifest": {"identifier": "xu-device", "version": "1"}}
BAD_COOKIES = {"no cookie": None, "a garbage cookie": "garbage", "an empty cookie": ""}


def session_page(path: str, *, shows: str) -> Callable[[Context, str], None]:
    """A page for a logged-in person: without a session it sends to the login page; bob's
    session shows bob's things (``shows``: a sign it rendered them) and nothing of alice's."""

    def check(c: Context, method: str) -> None:
        for what, cookie in BAD_COOKIES.items():
            answer = send(c, method, path, cookie=cookie)
            assert answer.status_code == 303, f"{method} {path} with {what}: {answer.status_code}"
            assert answer.headers["location"].startswith("/login"), answer.headers
        answer = send(c, method, path, cookie=c.cookies["bob"])
        assert answer.status_code == 200, f"{method} {path} as bob: {answer.status_code}"
        no_secrets(c, answer, f"{method} {path} as bob")
        if method == "GET":
            assert shows in answer.text, f"{method} {path} as bob does not show {shows!r}"

    return check


def dashboard(c: Context, method: str) -> None:
    session_page("/dashboard", shows=SHARED_IMAGE)(c, method)
    mine = send(c, "GET", "/dashboard", cookie=c.cookies["alice"])
    assert PRIVATE_IMAGE in mine.text, "alice's dashboard does not show her own image"


def thumbnail(c: Context, method: str) -> None:
    def path(image: str) -> str:
        return f"/dashboard/images/{image}/thumbnail.png"

    for what, cookie in BAD_COOKIES.items():
        answer = send(c, method, path(c.w.private_image), cookie=cookie)
        assert answer.status_code == 404, f"{method} thumbnail with {what}: {answer.status_code}"
        assert not answer.content.startswith(b"\x89PNG"), f"{method} thumbnail with {what}"
    for image in (c.w.private_image, c.w.image_upload):
        answer = send(c, method, path(image), cookie=c.cookies["bob"])
        assert answer.status_code == 404, f"{method} alice's thumbnail as bob: {answer.status_code}"
        no_secrets(c, answer, "alice's thumbnail as bob")
    assert send(c, method, path(c.w.shared_image), cookie=c.cookies["bob"]).status_code == 200
    assert send(c, method, path(c.w.private_image), cookie=c.cookies["alice"]).status_code == 200


def session_csrf(c: Context, user: str) -> str:
    """The CSRF token of ``user``'s web session (from the logout page's form)."""
    page = send(c, "GET", "/logout", cookie=c.cookies[user]).text
    found = re.search(r'name="csrf" value="([^"]+)"', page)
    assert found, page
    return found.group(1)


def bobs_calls(c: Context) -> int:
    answer = send(
        c, "POST", "/rekuest/graphql", token=c.w.bob, json={"query": "{ assignations { id } }"}
    )
    return len(answer.json()["data"]["assignations"])


NOWHERE = "0" * 32
"""An id nothing has: bob's answers about alice's things must look like its answers."""


def run_form(c: Context, method: str) -> None:
    """The run page of a function: to log in without a session; not found for bob when alice
    did not share it (the same answer as for no function); his to use when she did."""
    secret = f"/dashboard/functions/{c.w.secret_node}/run"
    for what, cookie in BAD_COOKIES.items():
        answer = send(c, method, secret, cookie=cookie)
        assert answer.status_code == 303, f"{method} run page with {what}: {answer.status_code}"
        assert answer.headers["location"].startswith("/login"), answer.headers
    nowhere = send(c, method, f"/dashboard/functions/{NOWHERE}/run", cookie=c.cookies["bob"])
    answer = send(c, method, secret, cookie=c.cookies["bob"])
    assert answer.status_code == nowhere.status_code == 404, answer.status_code
    assert answer.text == nowhere.text
    no_secrets(c, answer, f"{method} alice's secret run page as bob")
    shared = send(c, method, f"/dashboard/functions/{c.w.shared_node}/run", cookie=c.cookies["bob"])
    assert shared.status_code == 200, shared.status_code
    no_secrets(c, shared, f"{method} alice's shared run page as bob")
    mine = send(c, method, secret, cookie=c.cookies["alice"])
    assert mine.status_code == 200
    if method == "GET":
        assert SECRET_FUNCTION in mine.text, "alice cannot open her own run page"
        assert c.w.templates[PRIVATE_INTERFACE] not in shared.text, "bob is offered her template"


def run_submit(c: Context, method: str) -> None:
    """Starting a call needs the session's CSRF token; bob cannot start alice's unshared
    function, nor route his call of her shared one to her template she did not share."""
    path = f"/dashboard/functions/{c.w.shared_node}/run"
    before = bobs_calls(c)
    for what, cookie in BAD_COOKIES.items():
        answer = send(c, method, path, cookie=cookie, data={"arg-0": "1", "arg-1": "2"})
        assert answer.status_code == 303, f"POST run with {what}: {answer.status_code}"
    csrf = session_csrf(c, "bob")
    shared, private = c.w.templates[SHARED_INTERFACE], c.w.templates[PRIVATE_INTERFACE]
    secret = f"/dashboard/functions/{c.w.secret_node}/run"
    attempts = {
        "a guessed csrf": (path, {"csrf": "guess", "provider": shared}),
        "alice's private template": (path, {"csrf": csrf, "provider": private}),
        "alice's unshared function": (secret, {"csrf": csrf, "provider": "mine"}),
    }
    for what, (target, form) in attempts.items():
        answer = send(c, method, target, cookie=c.cookies["bob"], data={"arg-0": "1", **form})
        refused = answer.status_code in (400, 404)
        assert refused, f"POST run as bob with {what}: {answer.status_code}"
        no_secrets(c, answer, f"POST run as bob with {what}")
    assert bobs_calls(c) == before, "bob started a call"


def call_page(c: Context, method: str) -> None:
    path = f"/dashboard/calls/{c.w.done_call}"
    for what, cookie in BAD_COOKIES.items():
        answer = send(c, method, path, cookie=cookie)
        assert answer.status_code == 303, f"{method} call page with {what}: {answer.status_code}"
    nowhere = send(c, method, f"/dashboard/calls/{NOWHERE}", cookie=c.cookies["bob"])
    answer = send(c, method, path, cookie=c.cookies["bob"])
    assert answer.status_code == nowhere.status_code == 404, answer.status_code
    assert answer.text == nowhere.text
    no_secrets(c, answer, f"{method} alice's call page as bob")
    mine = send(c, method, path, cookie=c.cookies["alice"])
    assert mine.status_code == 200
    if method == "GET":
        assert SECRET_ARGUMENT in mine.text, "alice cannot see her own call"


def call_events(c: Context, method: str) -> None:
    path = f"/dashboard/calls/{c.w.done_call}/events"
    for cookie in (*BAD_COOKIES.values(), c.cookies["bob"]):
        answer = send(c, method, path, cookie=cookie)
        assert answer.status_code == 404, f"{method} alice's call events: {answer.status_code}"
        no_secrets(c, answer, f"{method} alice's call events")
    mine = send(c, method, path, cookie=c.cookies["alice"])  # a finished call: it ends
    assert mine.status_code == 200
    assert mine.headers["content-type"].startswith("text/event-stream")
    if method == "GET":
        assert SECRET_ARGUMENT in mine.text and "event: end" in mine.text, mine.text


def agent_page(c: Context, method: str) -> None:
    """An agent's page: its owner's, or a user's it shares a function with (alice's agent
    shares `add` with bob: he sees its state, and nothing secret); unknown agents are not
    found. (A user it shares nothing with: tests/test_agent_page.py.)"""
    path = f"/dashboard/agents/{c.w.agent}"
    for what, cookie in BAD_COOKIES.items():
        answer = send(c, method, path, cookie=cookie)
        assert answer.status_code == 303, f"{method} agent page with {what}: {answer.status_code}"
    nowhere = send(c, method, f"/dashboard/agents/{NOWHERE}", cookie=c.cookies["bob"])
    assert nowhere.status_code == 404
    for user in ("bob", "alice"):
        answer = send(c, method, path, cookie=c.cookies[user])
        assert answer.status_code == 200, f"{method} alice's agent page as {user}"
        no_secrets(c, answer, f"{method} alice's agent page as {user}")
        if method == "GET":
            assert "Bench" in answer.text and "holds" in answer.text


def agent_events(c: Context, method: str) -> None:
    path = f"/dashboard/agents/{c.w.agent}/states/events"
    for cookie in BAD_COOKIES.values():
        answer = send(c, method, path, cookie=cookie)
        assert answer.status_code == 404, f"{method} alice's agent's states: {answer.status_code}"
    nowhere = send(c, method, f"/dashboard/agents/{NOWHERE}/states/events", cookie=c.cookies["bob"])
    assert nowhere.status_code == 404
    if method == "HEAD":
        answer = send(c, method, path, cookie=c.cookies["bob"])
        assert answer.status_code == 200
        return
    cookies = {SESSION_COOKIE: c.cookies["bob"]}
    with (
        httpx.Client(base_url=c.w.url, cookies=cookies, timeout=30) as client,
        client.stream("GET", path) as answer,
    ):
        assert answer.status_code == 200
        for line in answer.iter_lines():  # the first value, then the stream is left
            if line.startswith("data: "):
                assert '"Bench"' in line
                c.w.assert_no_secrets(line, "alice's agent's states as bob")
                break


def cancel_call(c: Context, method: str) -> None:
    """Nobody but alice cancels alice's call: without a session, with a guessed CSRF token,
    or with bob's own session and token."""
    text = "xu-web-cancel"
    call_id = start_held_call(c.w, text)
    path = f"/dashboard/calls/{call_id}/cancel"
    attempts = {
        **{what: (cookie, "guess") for what, cookie in BAD_COOKIES.items()},
        "bob's session, a guessed csrf": (c.cookies["bob"], "guess"),
        "bob's session and csrf": (c.cookies["bob"], session_csrf(c, "bob")),
    }
    for what, (cookie, csrf) in attempts.items():
        answer = send(c, method, path, cookie=cookie, data={"csrf": csrf})
        assert answer.status_code in (303, 400, 404), f"cancel with {what}: {answer.status_code}"
        if answer.status_code == 303:
            assert answer.headers["location"].startswith("/login"), f"cancel with {what}"
        no_secrets(c, answer, f"cancel alice's call with {what}")
    assert status(c.w, call_id)["status"] == "assigned", "alice's call was cancelled"
    finish_held_call(c.w, call_id, text)


def device_page(c: Context, method: str) -> None:
    session_page("/device", shows="bob")(c, method)


def device_submit(c: Context, method: str) -> None:
    """Approving a device code needs a session and its CSRF token; a refused approval leaves
    the code pending."""
    started = send(c, "POST", "/f/device/", json=DEVICE_REQUEST)
    assert started.status_code == 200, started.text
    code = started.json()
    form = {"code": code["user_code"], "action": "approve", "csrf": "guess"}
    for what, cookie in {**BAD_COOKIES, "bob's session, a guessed csrf": c.cookies["bob"]}.items():
        answer = send(c, method, "/device", cookie=cookie, data=form)
        assert answer.status_code in (303, 400), f"POST /device with {what}: {answer.status_code}"
    polled = send(
        c,
        "POST",
        "/f/token/",
        data={
            "grant_type": "urn:ietf:params:oauth:grant-type:device_code",
            "device_code": code["device_code"],
            "client_id": code["client_id"],
        },
    )
    assert polled.json().get("error") == "authorization_pending", f"the code moved: {polled.text}"


def logout_page(c: Context, method: str) -> None:
    answer = send(c, method, "/logout")
    assert answer.status_code == 200, answer.status_code
    bobs = send(c, method, "/logout", cookie=c.cookies["bob"])
    no_secrets(c, bobs, "GET /logout as bob")
    if method == "GET":
        assert "not logged in" in answer.text and "bob" in bobs.text, (answer.text, bobs.text)


def logout_submit(c: Context, method: str) -> None:
    """Logging out without the session's CSRF token ends nothing; nobody ends alice's."""
    for what, cookie in {**BAD_COOKIES, "bob's session, no csrf": c.cookies["bob"]}.items():
        answer = send(c, method, "/logout", cookie=cookie, data={"csrf": "guess"})
        assert answer.status_code in (200, 400), f"POST /logout with {what}: {answer.status_code}"
        no_secrets(c, answer, f"POST /logout with {what}")
    for user in ("alice", "bob"):
        still = send(c, "GET", "/dashboard", cookie=c.cookies[user])
        assert still.status_code == 200, f"{user}'s web session ended: {still.status_code}"


# -- the datalayer --------------------------------------------------------------------------------


def object_url(c: Context, key: str) -> str:
    return f"/datalayer/o/{key}"


def alices_bytes(c: Context) -> bytes:
    answer = send(
        c, "GET", object_url(c, f"{c.w.image_store}/zarr.json"), token=c.alice_read["token"]
    )
    assert answer.status_code == 200, f"alice cannot read her own image: {answer.status_code}"
    return answer.content


def datalayer(c: Context, method: str) -> None:
    """No grant, a garbage one, another server's, an access token, and bob's read and write
    grants: none reaches alice's image (and writes change nothing)."""
    before = alices_bytes(c)
    keys = [f"{c.w.image_store}/zarr.json", f"{c.w.image_store}/c/0/0"]
    attempts: dict[str, tuple[str | None, tuple[int, ...]]] = {
        "no grant": (None, (401,)),
        "a garbage grant": ("garbage", (401,)),
        "another server's grant": (c.other_grant["token"], (401,)),
        "alice's access token": (c.w.alice, (401,)),
        "bob's read grant": (c.bob_read["token"], (403,)),
        "bob's write grant": (c.bob_write["token"], (403,)),
    }
    for key in keys:
        for what, (token, statuses) in attempts.items():
            content = b'{"zarr_format": 3, "forged": true}' if method == "PUT" else None
            answer = send(c, method, object_url(c, key), token=token, content=content)
            assert answer.status_code in statuses, (
                f"{method} {key} with {what}: {answer.status_code}: {answer.text}"
            )
            assert b"zarr_format" not in answer.content, f"{method} {key} with {what}: data"
    assert alices_bytes(c) == before, f"{method} by bob changed alice's image"
    # bob's grants work where they should: a sign the refusals above are about alice's keys
    own = f"{c.bob_read['prefix']}/zarr.json"
    if method in ("GET", "HEAD"):
        assert send(c, method, object_url(c, own), token=c.bob_read["token"]).status_code == 200


# -- public routes --------------------------------------------------------------------------------


def public(
    path: str, statuses: tuple[int, ...] = (200,), **kwargs: Any
) -> Callable[[Context, str], None]:
    """Answered without credentials, and with nothing of alice's."""

    def check(c: Context, method: str) -> None:
        answer = send(c, method, path, **kwargs)
        assert answer.status_code in statuses, f"{method} {path}: {answer.status_code}"
        no_secrets(c, answer, f"{method} {path}")
        with_session = send(c, method, path, cookie=c.cookies["bob"], **kwargs)
        no_secrets(c, with_session, f"{method} {path} as bob")

    return check


def token_endpoint(c: Context, method: str) -> None:
    """bob cannot get a token of alice's without her password, nor reuse her access token."""
    grants = [
        {"grant_type": "password", "username": "alice", "password": "bob's guess"},
        {"grant_type": "refresh_token", "refresh_token": c.w.alice},
        {
            "grant_type": "urn:ietf:params:oauth:grant-type:token-exchange",
            "subject_token": c.w.alice + "x",
        },
    ]
    for form in grants:
        form["manifest"] = json.dumps({"identifier": "xu-bob", "version": "1"})
        answer = send(c, method, "/f/token/", data=form)
        assert answer.status_code in (400, 401), f"{form['grant_type']}: {answer.status_code}"
        assert "access_token" not in answer.json(), f"{form['grant_type']}: {answer.text}"


def revoke_endpoint(c: Context, method: str) -> None:
    """The same answer whatever is presented (RFC 7009); alice's token is not ended by it."""
    answer = send(c, method, "/f/revoke/", data={"token": c.w.alice, "client_id": "xu"})
    assert answer.status_code == 200 and answer.json() == {}, answer.text
    still = send(c, "POST", "/rekuest/graphql", token=c.w.alice, json={"query": "{ me { id } }"})
    assert still.status_code == 200, "alice's access token stopped working"


def metrics_route(c: Context, method: str) -> None:
    """Off on a server without a metrics token; a user's access token is not one."""
    for token in (None, c.w.alice):
        answer = send(c, method, "/metrics", token=token)
        assert answer.status_code == 404, f"{method} /metrics: {answer.status_code}"
        assert "arkitekt_calls" not in answer.text


def static_files(c: Context, method: str) -> None:
    assert send(c, "GET", "/static/style.css").status_code == 200
    for path in ("/static/../arkitekt.db", "/static/%2e%2e/arkitekt.db", "/static/nothing"):
        answer = send(c, "GET", path)
        assert answer.status_code == 404, f"GET {path}: {answer.status_code}"
    assert send(c, "POST", "/static/style.css").status_code == 405


@dataclass(frozen=True)
class Access:
    """What a route permits: ``public`` (with the reason) or the credential it needs, and the
    check run against the live server for one method."""

    needs: str
    reason: str
    check: Callable[[Context, str], None]


def _public(reason: str, check: Callable[[Context, str], None]) -> Access:
    return Access("nothing", reason, check)


TOKEN = "an access token (Authorization: Bearer)"
HELLO_TOKEN = "an access token in the first frame"
SESSION = "a web session (cookie), and its CSRF token for forms"
GRANT = "a datalayer grant covering the key"

ROUTES: dict[str, Access] = {
    **{
        f"{m} {path}": _public("health checks for load balancers", public(path))
        for m in ("GET", "HEAD")
        for path in ("/health", "/health/live", "/health/ready")
    },
    **{
        f"{m} /metrics": Access(
            "the metrics token (Authorization: Bearer), off without one",
            "Prometheus scrapes",
            metrics_route,
        )
        for m in ("GET", "HEAD")
    },
    **{
        f"{m} /.well-known/fakts": _public(
            "fakts discovery: how apps find the server", public("/.well-known/fakts")
        )
        for m in ("GET", "HEAD")
    },
    **{
        f"{m} /.well-known/openid-configuration": _public(
            "OpenID discovery", public("/.well-known/openid-configuration")
        )
        for m in ("GET", "HEAD")
    },
    **{
        f"{m} /o/jwks/": _public("the public keys tokens are verified with", public("/o/jwks/"))
        for m in ("GET", "HEAD")
    },
    **{
        f"{m} /{service}/ht": _public(
            "alias challenges: the service signs a nonce to prove it is this server",
            public(f"/{service}/ht", params={"nonce": "xu"}),
        )
        for m in ("GET", "HEAD")
        for service in ("rekuest", "mikro", "datalayer")
    },
    "POST /f/device/": _public(
        "OAuth device authorization (RFC 8628): an app asks for a code",
        public("/f/device/", json=DEVICE_REQUEST),
    ),
    "POST /f/token/": _public(
        "the OAuth token endpoint: credentials are its input", token_endpoint
    ),
    "POST /f/revoke/": _public(
        "OAuth revocation (RFC 7009): the refresh token is the proof", revoke_endpoint
    ),
    "POST /f/report/": Access(TOKEN, "fakts reports unreachable aliases", fakts_report),
    **{f"{m} /o/userinfo/": Access(TOKEN, "OpenID userinfo", userinfo) for m in ("GET", "HEAD")},
    **{f"{m} /": _public("the home page (links to log in)", public("/")) for m in ("GET", "HEAD")},
    **{f"{m} /login": _public("the login page", public("/login")) for m in ("GET", "HEAD")},
    "POST /login": _public(
        "the login form: the password is its input (rate-limited)",
        public("/login", (400,), data={"username": "alice", "password": "guess", "csrf": "x"}),
    ),
    **{
        f"{m} /logout": Access(SESSION, "says who is logged in, offers to log out", logout_page)
        for m in ("GET", "HEAD")
    },
    "POST /logout": Access(SESSION, "ends the session it is sent with", logout_submit),
    **{
        f"{m} /device": Access(SESSION, "device approval page", device_page)
        for m in ("GET", "HEAD")
    },
    "POST /device": Access(SESSION, "approve or deny a device code", device_submit),
    "MOUNT /static": _public("stylesheet and icon of the pages", static_files),
    **{
        f"{m} /dashboard": Access(SESSION, "the session user's things", dashboard)
        for m in ("GET", "HEAD")
    },
    **{
        f"{m} /dashboard/images/{{image_id}}/thumbnail.png": Access(
            SESSION, "thumbnails of images the session user may see", thumbnail
        )
        for m in ("GET", "HEAD")
    },
    **{
        f"{m} /dashboard/functions/{{node_id}}/run": Access(
            SESSION, "the form to call a function the session user may call", run_form
        )
        for m in ("GET", "HEAD")
    },
    "POST /dashboard/functions/{node_id}/run": Access(
        SESSION, "starts a call as the session user", run_submit
    ),
    **{
        f"{m} /dashboard/calls/{{call_id}}": Access(
            SESSION, "one of the session user's calls", call_page
        )
        for m in ("GET", "HEAD")
    },
    **{
        f"{m} /dashboard/calls/{{call_id}}/events": Access(
            SESSION, "the live events of one of the session user's calls", call_events
        )
        for m in ("GET", "HEAD")
    },
    "POST /dashboard/calls/{call_id}/cancel": Access(
        SESSION, "cancels one of the session user's calls", cancel_call
    ),
    **{
        f"{m} /dashboard/agents/{{agent_id}}": Access(
            SESSION, "an agent the session user may see, and its states", agent_page
        )
        for m in ("GET", "HEAD")
    },
    **{
        f"{m} /dashboard/agents/{{agent_id}}/states/events": Access(
            SESSION, "an agent's states, live", agent_events
        )
        for m in ("GET", "HEAD")
    },
    "WEBSOCKET /rekuest/ws": Access(HELLO_TOKEN, "calls and agents", rekuest_ws),
    **{
        f"{m} /rekuest/graphql": Access(TOKEN, "the functions' control plane", rekuest_graphql)
        for m in ("GET", "HEAD", "POST")
    },
    "WEBSOCKET /rekuest/graphql": Access(
        "an access token in connection_init", "subscriptions", rekuest_graphql_ws
    ),
    **{
        f"{m} /mikro/graphql": Access(TOKEN, "images and files", mikro_graphql)
        for m in ("GET", "HEAD", "POST")
    },
    **{
        f"{m} /datalayer/o/{{key:path}}": Access(GRANT, "the local datalayer's objects", datalayer)
        for m in ("GET", "HEAD", "PUT", "DELETE")
    },
}


# -- the tests ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def c(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Context]:
    folder = tmp_path_factory.mktemp("http-routes")
    with (
        world(folder / "server") as w,
        TestServer.in_process(folder / "other", users=("alice",)) as other,
    ):
        other_alice = token_for(other.url, "alice")
        other_grant = storage(
            other.url,
            other_alice,
            UPLOAD_IMAGE_OP.replace("prefix", "prefix token"),
            input=image_upload_input("elsewhere"),
        )["requestImageUpload"]["grant"]
        grant_fields = "prefix url token"
        bob_read = storage(
            w.url,
            w.bob,
            f"query($id: ID!) {{ imageGrant(id: $id) {{ {grant_fields} }} }}",
            id=w.shared_image,
        )["imageGrant"]
        alice_read = storage(
            w.url,
            w.alice,
            f"query($id: ID!) {{ imageGrant(id: $id) {{ {grant_fields} }} }}",
            id=w.private_image,
        )["imageGrant"]
        bob_write = storage(
            w.url,
            w.bob,
            UPLOAD_IMAGE_OP.replace("prefix", grant_fields),
            input=image_upload_input("bob-upload"),
        )["requestImageUpload"]["grant"]
        foreign: dict[str, str | None] = {
            "no token": None,
            "a garbage token": "garbage",
            "a tampered token of alice's": w.alice[:-4]
            + ("AAAA" if not w.alice.endswith("AAAA") else "BBBB"),
            "a token of another server": other_alice,
            "a token issued for another address": password_token(
                w.url, "alice", f"evil.example:{w.server.port}"
            ),
        }
        cookies = {user: web_session(w.url, user) for user in ("alice", "bob")}
        yield Context(
            w=w,
            other=other,
            foreign=foreign,
            cookies=cookies,
            bob_read=bob_read,
            bob_write=bob_write,
            other_grant=other_grant,
            alice_read=alice_read,
        )


@pytest.fixture(scope="module")
def served(c: Context) -> list[str]:
    """The routes of the server's app, with the configuration the live server runs."""
    return route_keys(create_app(c.w.server.config).routes)


def _route_names() -> list[str]:
    """The routes at collection time (the live server's are compared in the test)."""
    from arkitekt.server.config import ServerConfig

    return route_keys(create_app(ServerConfig(**TEST_SETTINGS)).routes)


@pytest.mark.parametrize("route", sorted(set(_route_names()) | set(ROUTES)))
def test_every_route_permits_only_what_it_says(c: Context, served: list[str], route: str) -> None:
    assert route in served, (
        f"ROUTES in {HERE} names {route!r}, which the server no longer serves: remove the entry"
    )
    assert route in ROUTES, (
        f"the route {route!r} has no entry: add one to ROUTES in {HERE} saying why it is public "
        "or what credential it needs, with a check"
    )
    access = ROUTES[route]
    assert access.reason, f"{route}: say why"
    access.check(c, route.split(" ", 1)[0])


def test_alices_secrets_are_really_there(c: Context) -> None:
    """The secrets the checks look for are alice's real data (else a leak would pass unseen)."""
    mine = send(c, "GET", "/dashboard", cookie=c.cookies["alice"])
    assert PRIVATE_IMAGE in mine.text
    answer = send(
        c,
        "POST",
        "/rekuest/graphql",
        token=c.w.alice,
        json={"query": f'{{ assignation(id: "{c.w.done_call}") {{ args }} }}'},
    )
    assert SECRET_ARGUMENT in answer.text, answer.text
