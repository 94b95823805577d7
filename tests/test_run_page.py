"""The run page (``/dashboard/functions/{id}/run``) and the call page against a real in-process
server, with a real agent (alice's app) serving the functions and real web sessions.

alice serves a function of every port kind, an image function (shared with bob), a slow one
that reports progress and logs, a generator, one that fails and a private one; bob has images
of his own (one shared with alice). Over HTTP as a browser sends it: the form, its validation
messages (the codec's), starting calls, the call page, its event stream (bounds included),
cancelling, and every cross-user refusal. The last tests drive real headless Chromium.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import enum
import json
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import numpy as np
import pytest
from servers import PASSWORD, TestServer, wait_for
from test_pages_browser import Browser, assert_inputs_labelled, browser, log_in

from arkitekt import Image, alog, aprogress, from_xarray

__all__ = ["browser"]  # the fixture, used by the browser tests below

ALICE_IMAGE = "alice-cells <b>1</b>"
"""Markup in a name: it must come out escaped."""
ALICE_PRIVATE = "alice-private-image-5d1e"
BOB_PRIVATE = "bob-private-image-8c2a"
BOB_SHARED = "bob-shared-image-3f90"
SECRET_ARGUMENT = "alice-secret-argument-41c0"
SESSION_COOKIE = "arkitekt_session"


class Mode(enum.Enum):
    FAST = "fast"
    CAREFUL = "careful"


def everything(
    count: int,
    ratio: float = 0.5,
    name: str = "cells",
    flag: bool = False,
    maybe: bool | None = None,
    mode: Mode = Mode.FAST,
    levels: list[int] = [1, 2],  # noqa: B006 - a default for the form to show, never mutated
    weights: dict[str, float] | None = None,
    when: dt.datetime | None = None,
    limit: int | None = None,
    image: Image | None = None,
) -> str:
    """Say what it was given.

    Args:
        count: How many cells to count.
        ratio: The share to keep.
        name: What to call them.
        flag: Whether to flag them.
        maybe: Perhaps.
        mode: How carefully.
        levels: Levels to try.
        weights: Weight per channel.
        when: When it was taken.
        limit: At most this many.
        image: An image to look at.
    """
    return json.dumps(
        {
            "count": count,
            "ratio": ratio,
            "name": name,
            "flag": flag,
            "maybe": maybe,
            "mode": mode.name,
            "levels": levels,
            "weights": weights,
            "when": when.isoformat() if when else None,
            "limit": limit,
            "image": image.name if image is not None else None,
        },
        sort_keys=True,
    )


def same(image: Image) -> Image:
    """Give the image back."""
    return image


async def slow(steps: int = 100) -> int:
    """Count slowly, reporting progress and a log line per step."""
    for step in range(steps):
        await aprogress(int(100 * step / steps), f"step {step}")
        await alog(f"working on step {step}")
        await asyncio.sleep(0.2)
    return steps


def count_up(n: int) -> Iterator[int]:
    """Yield 1..n."""
    yield from range(1, n + 1)


def fail(x: int) -> int:
    """Always fails."""
    raise ValueError(f"no good: {x}")


def alices_secret(text: str) -> str:
    """Only alice may see this."""
    return text


@dataclass
class World:
    server: TestServer
    nodes: dict[str, str]
    """alice's interface -> node id."""
    templates: dict[str, str]
    """alice's interface -> template id."""
    alice_image: str
    alice_private: str
    bob_private: str
    bob_shared: str
    secret_call: str
    """alice's finished call of her secret function (with SECRET_ARGUMENT)."""

    @property
    def url(self) -> str:
        return self.server.url


def _image(app: Any, name: str, value: int = 0) -> Any:
    pixels = (np.arange(16 * 16, dtype=np.uint8).reshape(16, 16) + value).astype(np.uint8)
    return from_xarray(pixels, name, dims=["y", "x"], app=app)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    """One server; bob's images; alice's app serving (only) her functions while the tests run."""
    from arkitekt.services.rpc.registry import default_registry

    folder = tmp_path_factory.mktemp("run-page")
    with (
        TestServer.in_process(folder, users=("alice", "bob"), web_stream_keepalive=1.0) as server,
        pytest.MonkeyPatch.context() as patch,
    ):
        patch.setattr(default_registry, "_functions", {})  # nothing other tests left behind
        with server.app("bob", "bob-app") as bob:
            bob_private = _image(bob, BOB_PRIVATE)
            bob_shared = _image(bob, BOB_SHARED, 1)
            bob_shared.share(users=["alice"])
        with server.app("alice", "run-app") as alice:
            for function in (everything, same, slow, count_up, fail, alices_secret):
                alice.rpc.register(function)
            alice.serve()
            alice.rpc.share("same", users=["bob"])
            image = _image(alice, ALICE_IMAGE, 2)
            private = _image(alice, ALICE_PRIVATE, 3)
            found = alice.rpc.find_all()
            nodes = {node.interfaces[0]: node.id for node in found}
            templates = {node.interfaces[0]: (node.template_ids or [""])[0] for node in found}
            world = World(
                server=server,
                nodes=nodes,
                templates=templates,
                alice_image=image.id,
                alice_private=private.id,
                bob_private=bob_private.id,
                bob_shared=bob_shared.id,
                secret_call="",
            )
            with web_client(world, "alice") as client:
                world.secret_call = start(
                    client, world, "alices_secret", {"arg-0": SECRET_ARGUMENT}
                ).rsplit("/", 1)[-1]
                events = follow(client, f"/dashboard/calls/{world.secret_call}")
                assert events[-1]["data"]["kind"] == "done", events
            yield world


# -- a browser's requests -------------------------------------------------------------------------


@contextlib.contextmanager
def web_client(world: World, user: str) -> Iterator[httpx.Client]:
    """A client logged in on the login page as a browser is (its session cookie kept)."""
    with httpx.Client(base_url=world.url, timeout=30) as client:
        form = client.get("/login")
        answer = client.post(
            "/login",
            data={"username": user, "password": PASSWORD, "csrf": csrf_of(form.text), "next": "/"},
        )
        assert answer.status_code == 303, answer.text
        yield client


def csrf_of(page: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', page)
    assert found, page
    return found.group(1)


def session_csrf(client: httpx.Client) -> str:
    """The web session's CSRF token (from the logout page's form)."""
    return csrf_of(client.get("/logout").text)


def run_url(world: World, interface: str) -> str:
    return f"/dashboard/functions/{world.nodes[interface]}/run"


def submit(
    client: httpx.Client, world: World, interface: str, fields: dict[str, str], **extra: str
) -> httpx.Response:
    """Open the run page (for its CSRF token and provider) and send the form with ``fields``."""
    page = client.get(run_url(world, interface))
    assert page.status_code == 200, page.text
    provider = re.search(r'<select id="provider".*?<option value="([^"]*)"', page.text, re.S)
    assert provider, page.text
    data = {"csrf": csrf_of(page.text), "provider": provider.group(1), **fields, **extra}
    return client.post(run_url(world, interface), data=data)


def start(client: httpx.Client, world: World, interface: str, fields: dict[str, str]) -> str:
    """Start a call on the run page; the call page's path."""
    answer = submit(client, world, interface, fields)
    assert answer.status_code == 303, answer.text
    location = answer.headers["location"]
    assert re.fullmatch(r"/dashboard/calls/[0-9a-f]{32}", location), location
    return str(location)


def read_stream(
    client: httpx.Client, path: str, headers: dict[str, str] | None = None, limit: float = 30
) -> tuple[list[dict[str, Any]], bool]:
    """The messages of one event stream until it ends: (messages, whether it said ``end``).
    Each message: ``event``, ``id`` (int or None) and ``data`` (parsed JSON)."""
    deadline = time.monotonic() + limit
    messages: list[dict[str, Any]] = []
    with client.stream("GET", path, headers=headers) as answer:
        assert answer.status_code == 200, answer.read()
        assert answer.headers["content-type"].startswith("text/event-stream")
        assert answer.headers["cache-control"] == "no-store"
        current: dict[str, str] = {}
        for line in answer.iter_lines():
            assert time.monotonic() < deadline, f"the stream went on: {messages}"
            if line == "":
                if "data" in current:
                    message = {
                        "event": current.get("event", "message"),
                        "id": int(current["id"]) if "id" in current else None,
                        "data": json.loads(current["data"]),
                    }
                    messages.append(message)
                    if message["event"] == "end":
                        return messages, True
                current = {}
            elif not line.startswith(":"):
                field, _, value = line.partition(": ")
                current[field] = value
    return messages, False


def follow(client: httpx.Client, call_page: str, limit: float = 60) -> list[dict[str, Any]]:
    """A call's events to its end, reconnecting with Last-Event-ID as a browser does."""
    deadline = time.monotonic() + limit
    seen: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        headers = {"last-event-id": str(seen[-1]["id"])} if seen else None
        messages, ended = read_stream(client, f"{call_page}/events", headers)
        seen += [m for m in messages if m["event"] == "message"]
        if ended:
            return seen
    raise AssertionError(f"the call did not end: {seen}")


def field_html(page: str, name: str) -> str:
    """The HTML of one field of the run form (``arg-3``): up to the next field."""
    mark = f'id="{name}-field"'
    start = page.index(mark)
    ends = [page.find(end, start + len(mark)) for end in ('-field"', 'id="provider"')]
    return page[start : min(end for end in ends if end != -1)]


def error_of(page: str, name: str) -> str | None:
    found = re.search(rf'<p class="field-error" id="{name}-error">(.*?)</p>', page, re.S)
    return found.group(1) if found else None


def calls_of(client: httpx.Client, world: World, user: str) -> int:
    """How many calls ``user`` made (stored: the dashboard flushes what is written behind)."""
    assert client.get("/dashboard").status_code == 200
    rows = world.server.stored_rows(
        "SELECT count(*) FROM rpc_assignations a JOIN users u ON u.id = a.user_id "
        f"WHERE u.username = '{user}'"
    )
    return int(rows[0][0])


# -- signed out -----------------------------------------------------------------------------------


def test_signed_out_is_sent_to_log_in_and_streams_are_not_found(world: World) -> None:
    with httpx.Client(base_url=world.url, timeout=30) as stranger:
        for path in (run_url(world, "everything"), f"/dashboard/calls/{world.secret_call}"):
            answer = stranger.get(path)
            assert answer.status_code == 303, path
            assert answer.headers["location"].startswith("/login?next=%2Fdashboard%2F")
        posted = stranger.post(run_url(world, "everything"), data={"arg-0": "1"})
        assert posted.status_code == 303 and posted.headers["location"].startswith("/login")
        cancel = stranger.post(f"/dashboard/calls/{world.secret_call}/cancel", data={})
        assert cancel.status_code == 303 and cancel.headers["location"].startswith("/login")
        events = stranger.get(f"/dashboard/calls/{world.secret_call}/events")
        assert events.status_code == 404 and SECRET_ARGUMENT not in events.text


# -- the form -------------------------------------------------------------------------------------


def test_the_form_has_a_field_per_port_with_defaults_and_descriptions(world: World) -> None:
    with web_client(world, "alice") as client:
        answer = client.get(run_url(world, "everything"))
        assert answer.status_code == 200, answer.text
        assert answer.headers["cache-control"] == "no-store"
        assert "default-src 'self'" in answer.headers["content-security-policy"]
        page = answer.text
        assert "<script" not in page  # the form needs none
        assert 'id="function-name">everything</code>' in page
        assert "Say what it was given." in page
        assert "Provided by 1 connected agent." in page

        count = field_html(page, "arg-0")
        assert 'inputmode="numeric"' in count and 'value=""' in count
        assert '<span class="required">required</span>' in count
        assert "How many cells to count." in count
        assert '<span class="type">int</span>' in count
        assert 'value="0.5"' in field_html(page, "arg-1")
        assert 'inputmode="decimal"' in field_html(page, "arg-1")
        name = field_html(page, "arg-2")
        assert 'value="cells"' in name and "Leave empty" not in name  # empty is ""
        assert "Leave empty for the default." in field_html(page, "arg-1")
        flag = field_html(page, "arg-3")
        assert 'type="checkbox"' in flag and "checked" not in flag
        maybe = field_html(page, "arg-4")
        assert re.findall(r'<option value="([^"]*)"( selected)?>', maybe) == [
            ("", " selected"),
            ("true", ""),
            ("false", ""),
        ]
        assert "Leave empty" not in maybe  # its choices say it
        mode = field_html(page, "arg-5")
        assert '<option value="0" selected>FAST</option>' in mode
        assert '<option value="1">CAREFUL</option>' in mode
        levels = field_html(page, "arg-6")
        assert "<textarea" in levels and ">[1, 2]</textarea>" in levels
        assert '<span class="type">list[int]</span>' in levels
        weights = field_html(page, "arg-7")
        assert "></textarea>" in weights and "dict[str, float] | None" in weights
        assert 'placeholder="2025-01-31T12:00:00+00:00"' in field_html(page, "arg-8")
        assert "Leave empty for None." in field_html(page, "arg-9")

        # images: hers and the one bob shared with her (newest first), none of bob's others
        image = field_html(page, "arg-10")
        offered = re.findall(r'<option value="([^"]*)"', image)
        assert offered == ["", world.alice_private, world.alice_image, world.bob_shared]
        assert "alice-cells &lt;b&gt;1&lt;/b&gt; · 16 \N{MULTIPLICATION SIGN} 16 uint8" in image
        assert f"{BOB_SHARED} · 16 \N{MULTIPLICATION SIGN} 16 uint8 · shared with you" in image
        assert BOB_PRIVATE not in page and world.bob_private not in page

        # whose apps: her own
        provider = re.search(r'<select id="provider".*?</select>', page, re.S)
        assert provider and '<option value="mine" selected>Your apps (everything)' in provider[0]


def test_a_valid_form_starts_the_call_and_the_page_follows_it(world: World) -> None:
    with web_client(world, "alice") as client:
        call_page = start(
            client,
            world,
            "everything",
            {
                "arg-0": " 21 ",
                "arg-1": "2.5",
                "arg-2": "",  # an empty str is a str
                "arg-3": "true",
                "arg-4": "false",
                "arg-5": "1",
                "arg-6": "[3, 4, 5]",
                "arg-7": '{"red": 1, "green": 0.5}',
                "arg-8": "2024-05-06T07:08:09+00:00",
                "arg-9": "",
                "arg-10": world.bob_shared,
            },
        )
        events = follow(client, call_page)
        done = events[-1]["data"]
        assert (done["kind"], done["status"], done["final"]) == ("done", "done", True)
        (result,) = done["results"]
        assert result["type"] == "text"
        assert json.loads(result["text"]) == {
            "count": 21,
            "ratio": 2.5,
            "name": "",
            "flag": True,
            "maybe": False,
            "mode": "CAREFUL",
            "levels": [3, 4, 5],
            "weights": {"red": 1.0, "green": 0.5},
            "when": "2024-05-06T07:08:09+00:00",
            "limit": None,
            "image": BOB_SHARED,
        }
        assert [e["id"] for e in events] == sorted({e["id"] for e in events})

        # the page, loaded now: finished, no cancel button, arguments with the image shown
        page = client.get(call_page).text
        assert '<span id="status" class="badge status-done">done</span>' in page
        assert 'data-final="true"' in page and 'id="cancel-form"' not in page
        assert '<script src="/static/run.js" defer></script>' in page
        assert "&#34;count&#34;: 21" in page  # the result, escaped
        thumbnail = f"/dashboard/images/{world.bob_shared}/thumbnail.png"
        assert f'<img class="thumbnail" src="{thumbnail}"' in page
        assert f'href="{run_url(world, "everything")}" id="run-again"' in page
        assert client.get(thumbnail).status_code == 200

        # the dashboard links to the function's run page and to the call
        dashboard = client.get("/dashboard").text
        assert f'href="{run_url(world, "everything")}"' in dashboard
        assert f'href="{call_page}"' in dashboard


def test_defaults_fill_what_is_left_empty(world: World) -> None:
    with web_client(world, "alice") as client:
        page = client.get(run_url(world, "everything")).text
        # as the browser sends the form untouched (a checkbox left unchecked is not sent)
        fields = dict(re.findall(r'<input id="(arg-\d+)" name="arg-\d+" value="([^"]*)"', page))
        fields.update({"arg-4": "", "arg-5": "0", "arg-6": "[1, 2]", "arg-7": "", "arg-10": ""})
        fields["arg-0"] = "1"
        events = follow(client, start(client, world, "everything", fields))
        given = json.loads(events[-1]["data"]["results"][0]["text"])
        assert given == {
            "count": 1,
            "ratio": 0.5,
            "name": "cells",
            "flag": False,
            "maybe": None,
            "mode": "FAST",
            "levels": [1, 2],
            "weights": None,
            "when": None,
            "limit": None,
            "image": None,
        }


def test_invalid_values_get_the_codecs_messages_next_to_their_fields(world: World) -> None:
    with web_client(world, "alice") as client:
        before = calls_of(client, world, "alice")
        answer = submit(
            client,
            world,
            "everything",
            {
                "arg-0": "twelve",
                "arg-1": "nan",
                "arg-5": "7",
                "arg-6": '[1, "x"]',
                "arg-7": "{not json",
                "arg-8": "yesterday",
                "arg-10": "",
            },
        )
        assert answer.status_code == 400, answer.text
        page = answer.text
        assert '<p class="error" role="alert" id="form-error">The call was not started' in page
        assert error_of(page, "arg-0") == "must be an int, got &#39;twelve&#39; (str)"
        assert error_of(page, "arg-1") == ("must be a finite float (JSON has no nan), got nan")
        assert (
            error_of(page, "arg-5")
            == "must be one of &#39;fast&#39;, &#39;careful&#39;, got &#39;7&#39; (str)"
        )
        assert error_of(page, "arg-6") == "[1]: must be an int, got &#39;x&#39; (str)"
        assert error_of(page, "arg-7") is not None and "is not valid JSON" in error_of(
            page, "arg-7"
        )
        assert error_of(page, "arg-8") == "must be a datetime, got &#39;yesterday&#39; (str)"
        for fine in ("arg-2", "arg-3", "arg-4", "arg-9", "arg-10"):
            assert error_of(page, fine) is None, fine
        # what was typed is kept, as typed
        assert 'value="twelve"' in field_html(page, "arg-0")
        assert 'value="nan"' in field_html(page, "arg-1")
        assert ">[1, &#34;x&#34;]</textarea>" in field_html(page, "arg-6")
        assert ">{not json</textarea>" in field_html(page, "arg-7")
        assert 'aria-invalid="true"' in field_html(page, "arg-0")
        assert 'aria-describedby="arg-0-description arg-0-error"' in field_html(page, "arg-0")

        # a required argument left empty: the codec's "is required"
        missing = submit(client, world, "everything", {"arg-0": "  "})
        assert missing.status_code == 400
        assert (error_of(missing.text, "arg-0") or "").startswith("is required")
        assert calls_of(client, world, "alice") == before


def test_a_form_without_its_csrf_token_starts_nothing_and_keeps_the_values(world: World) -> None:
    with web_client(world, "alice") as client:
        before = calls_of(client, world, "alice")
        for csrf in ("guess", ""):
            answer = submit(client, world, "everything", {"arg-0": "5"}, csrf=csrf)
            assert answer.status_code == 400
            assert "Your form expired" in answer.text
            assert 'value="5"' in field_html(answer.text, "arg-0")
        assert calls_of(client, world, "alice") == before


def test_a_form_too_large_is_refused_before_it_is_read(world: World) -> None:
    with web_client(world, "alice") as client:
        page = client.get(run_url(world, "everything")).text
        huge = {"csrf": csrf_of(page), "provider": "mine", "arg-0": "1", "arg-6": "1," * 200_000}
        answer = client.post(run_url(world, "everything"), data=huge)
        assert answer.status_code == 413, answer.text


# -- the call -------------------------------------------------------------------------------------


def test_progress_log_and_cancel(world: World) -> None:
    with web_client(world, "alice") as client:
        call_page = start(client, world, "slow", {"arg-0": "100"})
        # the first progress and log line, live
        messages: list[dict[str, Any]] = []
        with client.stream("GET", f"{call_page}/events") as answer:
            kinds: set[str] = set()
            for line in answer.iter_lines():
                if line.startswith("data: "):
                    data = json.loads(line[6:])
                    if data:
                        messages.append(data)
                        kinds.add(data["kind"])
                if {"progress", "log"} <= kinds:
                    break
        progress = next(m for m in messages if m["kind"] == "progress")
        assert progress["status"] == "running" and progress["progress"] == 0
        assert progress["log"] == "step 0"
        log = next(m for m in messages if m["kind"] == "log")
        assert (log["log"], log["level"], log["final"]) == ("working on step 0", "info", False)

        page = client.get(call_page).text
        assert '<span id="status" class="badge status-running">running</span>' in page
        assert '<li class="line level-info"' in page and "working on step 0" in page
        assert '<progress id="progress" max="100"' in page
        cancelled = client.post(f"{call_page}/cancel", data={"csrf": csrf_of(page)})
        assert cancelled.status_code == 303 and cancelled.headers["location"] == call_page
        events = follow(client, call_page)
        last = events[-1]["data"]
        assert (last["kind"], last["status"], last["final"]) == ("cancelled", "cancelled", True)
        assert last["ending"] == "cancelled"
        page = client.get(call_page).text
        assert '<span id="status" class="badge status-cancelled">cancelled</span>' in page
        assert 'id="cancel-form"' not in page
        # cancelling an ended call changes nothing
        again = client.post(f"{call_page}/cancel", data={"csrf": session_csrf(client)})
        assert again.status_code == 303
        assert "status-cancelled" in client.get(call_page).text
        # and without the CSRF token nothing is cancelled
        running = start(client, world, "slow", {"arg-0": "100"})
        refused = client.post(f"{running}/cancel", data={"csrf": "guess"})
        assert refused.status_code == 400
        time.sleep(0.5)
        assert "status-cancelled" not in client.get(running).text
        client.post(f"{running}/cancel", data={"csrf": session_csrf(client)})
        assert follow(client, running)[-1]["data"]["kind"] == "cancelled"


def test_generators_errors_and_image_results(world: World) -> None:
    with web_client(world, "alice") as client:
        events = follow(client, start(client, world, "count_up", {"arg-0": "3"}))
        yielded = [e["data"] for e in events if e["data"]["kind"] == "yield"]
        assert [y["results"][0] for y in yielded] == [
            {"label": "", "type": "text", "text": str(n), "image": None, "items": []}
            for n in (1, 2, 3)
        ]
        assert events[-1]["data"]["kind"] == "done"

        failed_page = start(client, world, "fail", {"arg-0": "4"})
        error = follow(client, failed_page)[-1]["data"]
        assert (error["kind"], error["status"]) == ("error", "error")
        assert error["error"]["type"] == "builtins.ValueError"
        assert error["error"]["message"] == "no good: 4"
        assert "raise ValueError" in error["error"]["traceback"]
        page = client.get(failed_page).text
        assert '<strong class="error-type">builtins.ValueError</strong>' in page
        assert "No result." in page

        image_page = start(client, world, "same", {"arg-0": world.alice_image})
        done = follow(client, image_page)[-1]["data"]
        (result,) = done["results"]
        assert result["type"] == "image"
        assert result["image"] == {
            "id": world.alice_image,
            "name": ALICE_IMAGE,
            "thumbnail": f"/dashboard/images/{world.alice_image}/thumbnail.png",
            "width": 16,
            "height": 16,
        }
        page = client.get(image_page).text
        assert "alice-cells &lt;b&gt;1&lt;/b&gt;" in page and "<b>1</b>" not in page


def test_the_stream_resumes_after_the_last_event_id(world: World) -> None:
    with web_client(world, "alice") as client:
        call_page = start(client, world, "count_up", {"arg-0": "4"})
        events = follow(client, call_page)
        ids = [e["id"] for e in events]
        messages, ended = read_stream(
            client, f"{call_page}/events", headers={"last-event-id": str(ids[1])}
        )
        assert ended and [m["id"] for m in messages[:-1]] == ids[2:]
        messages, ended = read_stream(client, f"{call_page}/events?after={ids[-2]}")
        assert ended and [m["id"] for m in messages[:-1]] == ids[-1:]
        # the page itself streams after what it shows: nothing of a finished call
        page = client.get(call_page).text
        stream = re.search(r'data-stream="([^"]+)"', page)
        assert stream and stream.group(1) == f"{call_page}/events?after={ids[-1]}"


def test_streams_are_bounded_in_time_and_per_user(tmp_path: Path) -> None:
    """A stream ends after web_stream_max_seconds (no ``end``: the browser reconnects); a user
    has at most web_streams_per_user open; one ending gives its place back."""
    from arkitekt.services.rpc.registry import default_registry

    with (
        TestServer.in_process(
            tmp_path / "bounded",
            users=("alice",),
            web_stream_max_seconds=2,
            web_streams_per_user=1,
            web_stream_keepalive=0.5,
        ) as server,
        pytest.MonkeyPatch.context() as patch,
        server.app("alice", "bounded-app") as app,
    ):
        patch.setattr(default_registry, "_functions", {})
        app.rpc.register(slow)
        app.serve()
        node = app.rpc.find(interface="slow").id
        world = World(server, {"slow": node}, {}, "", "", "", "", "")
        with web_client(world, "alice") as client:
            call_page = start(client, world, "slow", {"arg-0": "100"})
            events = f"{call_page}/events"
            started = time.monotonic()
            with client.stream("GET", events) as first:
                assert first.status_code == 200
                second = client.get(events)
                assert second.status_code == 429, second.text
                assert second.headers["retry-after"] == "10"
                lines = list(first.iter_lines())  # until the server ends it
            assert 1.5 < time.monotonic() - started < 10, lines
            assert any(line.startswith("data: ") for line in lines)
            assert "event: end" not in lines  # not ended: the browser reconnects

            def place_free() -> bool:
                with client.stream("GET", events) as again:
                    return again.status_code == 200

            wait_for(place_free, 5, "the ended stream's place to be free")

            # a browser that goes away mid-stream gives its place back too (else, with one
            # place per user, no stream would open again)
            def leave_midway() -> bool:
                with client.stream("GET", events) as gone:
                    if gone.status_code != 200:
                        return False
                    next(gone.iter_lines())
                    return True

            wait_for(leave_midway, 5, "a stream to open")
            wait_for(place_free, 5, "a left stream's place to be free")
            page = client.get(call_page).text
            client.post(f"{call_page}/cancel", data={"csrf": csrf_of(page)})
            assert follow(client, call_page)[-1]["data"]["kind"] == "cancelled"


# -- other users ----------------------------------------------------------------------------------


def test_bob_cannot_open_alices_private_functions_or_calls(world: World) -> None:
    with web_client(world, "bob") as bob:
        nowhere = "0" * 32
        missing_function = bob.get(f"/dashboard/functions/{nowhere}/run")
        missing_call = bob.get(f"/dashboard/calls/{nowhere}")
        assert missing_function.status_code == missing_call.status_code == 404
        for interface in ("everything", "alices_secret", "slow"):
            answer = bob.get(run_url(world, interface))
            assert answer.status_code == 404, interface
            assert answer.text == missing_function.text  # the same as one that does not exist
            posted = bob.post(
                run_url(world, interface),
                data={"csrf": session_csrf(bob), "arg-0": "1", "provider": "mine"},
            )
            assert posted.status_code == 404 and posted.text == missing_function.text
        call = f"/dashboard/calls/{world.secret_call}"
        page = bob.get(call)
        assert page.status_code == 404 and page.text == missing_call.text
        events = bob.get(f"{call}/events")
        assert (
            events.status_code == 404
            and events.text == bob.get(f"/dashboard/calls/{nowhere}/events").text
        )
        for answer in (page, events):
            assert SECRET_ARGUMENT not in answer.text and "alices_secret" not in answer.text
        assert calls_of(bob, world, "bob") == 0


def test_bob_cannot_cancel_alices_call(world: World) -> None:
    with web_client(world, "alice") as alice, web_client(world, "bob") as bob:
        call_page = start(alice, world, "slow", {"arg-0": "100"})
        answer = bob.post(f"{call_page}/cancel", data={"csrf": session_csrf(bob)})
        assert answer.status_code == 404
        time.sleep(0.5)
        assert "status-cancelled" not in alice.get(call_page).text
        page = alice.get(call_page).text
        alice.post(f"{call_page}/cancel", data={"csrf": csrf_of(page)})
        assert follow(alice, call_page)[-1]["data"]["kind"] == "cancelled"


def test_bob_runs_alices_shared_function_only_on_the_app_he_names(world: World) -> None:
    with web_client(world, "bob") as bob:
        page = bob.get(run_url(world, "same"))
        assert page.status_code == 200, page.text
        provider = re.search(r'<select id="provider".*?</select>', page.text, re.S)
        assert provider
        # no apps of his own to offer: only alice's template, named
        assert re.findall(r'<option value="([^"]*)"', provider[0]) == [world.templates["same"]]
        assert "alice&#39;s app (same), shared with you" in provider[0]
        # his own images: none of alice's
        image = field_html(page.text, "arg-0")
        assert re.findall(r'<option value="([^"]*)"', image) == [
            "",
            world.bob_shared,
            world.bob_private,
        ]
        csrf = csrf_of(page.text)

        # "my own apps": he has none; refused, nothing started
        mine = bob.post(
            run_url(world, "same"),
            data={"csrf": csrf, "provider": "mine", "arg-0": world.bob_private},
        )
        assert mine.status_code == 400
        assert "Choose one of the listed apps." in mine.text
        assert calls_of(bob, world, "bob") == 0

        # alice's private image, sent by hand: refused next to the field, nothing started
        for foreign in (world.alice_private, "f" * 32, "x" * 100):
            refused = bob.post(
                run_url(world, "same"),
                data={"csrf": csrf, "provider": world.templates["same"], "arg-0": foreign},
            )
            assert refused.status_code == 400, refused.text
            assert error_of(refused.text, "arg-0") == (
                "names no image you may use (no such image, or it is not shared with you)"
            )
            assert ALICE_PRIVATE not in refused.text
        assert calls_of(bob, world, "bob") == 0

        # his image (which alice's app may read: he shared it), on alice's app: it runs
        # there, and he follows his call
        call_page = start(bob, world, "same", {"arg-0": world.bob_shared})
        done = follow(bob, call_page)[-1]["data"]
        assert done["results"][0]["image"]["name"] == BOB_SHARED
        assert calls_of(bob, world, "bob") == 1


def test_graphql_assign_refuses_images_the_caller_may_not_see(world: World) -> None:
    """The run page's start is GraphQL's: the same check for a token's user."""
    from raw_protocol import token_for

    bob = token_for(world.url, "bob")
    assign = (
        "mutation($n: ID!, $a: JSON!, $t: ID) { assign(node: $n, args: $a, template: $t) { id } }"
    )

    def call(image: str) -> dict[str, Any]:
        answer = httpx.post(
            f"{world.url}/rekuest/graphql",
            json={
                "query": assign,
                "variables": {
                    "n": world.nodes["same"],
                    "a": {"image": image},
                    "t": world.templates["same"],
                },
            },
            headers={"authorization": f"Bearer {bob}"},
            timeout=30,
        )
        body: dict[str, Any] = answer.json()
        return body

    refused = call(world.alice_private)
    assert "names no image you may use" in refused["errors"][0]["message"]
    assert call(world.bob_private)["data"]["assign"]["id"]


# -- in Chromium ----------------------------------------------------------------------------------


async def _open_run_page(browser: Browser, world: World, interface: str) -> Any:
    page = browser.page
    await page.goto(f"{world.url}{run_url(world, interface)}")
    if urlsplit(page.url).path == "/login":
        await log_in(page, "alice", PASSWORD)
    assert urlsplit(page.url).path == run_url(world, interface)
    await assert_inputs_labelled(page)
    return page


@pytest.mark.browser
async def test_run_in_chromium_validation_result_and_image(
    world: World, browser: Browser, tmp_path: Path
) -> None:
    page = await _open_run_page(browser, world, "everything")
    assert await page.title() == "Run everything · arkitekt"

    # an invalid value: the codec's message next to the field, what was typed kept
    await page.fill("#arg-0", "twelve")
    await page.fill("#arg-6", "[1, 2, 3]")
    async with page.expect_navigation() as navigation:
        await page.click("#run")
    assert (await navigation.value).status == 400
    assert await page.text_content("#arg-0-error") == "must be an int, got 'twelve' (str)"
    assert await page.input_value("#arg-0") == "twelve"
    assert await page.input_value("#arg-6") == "[1, 2, 3]"
    assert await page.get_attribute("#arg-0", "aria-invalid") == "true"
    await page.screenshot(path=str(tmp_path / "invalid.png"), full_page=True)

    # corrected: run it, and the call page shows the result
    await page.fill("#arg-0", "21")
    await page.check("#arg-3")
    await page.select_option("#arg-5", label="CAREFUL")
    await page.select_option("#arg-10", value=world.alice_image)
    async with page.expect_navigation():
        await page.click("#run")
    assert re.fullmatch(r"/dashboard/calls/[0-9a-f]{32}", urlsplit(page.url).path)
    await page.wait_for_selector("#status.status-done", timeout=30_000)
    result = json.loads(await page.text_content("#results .value") or "")
    assert result["count"] == 21 and result["flag"] is True and result["mode"] == "CAREFUL"
    assert result["levels"] == [1, 2, 3] and result["image"] == ALICE_IMAGE
    assert await page.locator("#cancel").count() == 0
    thumbnail = page.locator("#arguments img.thumbnail")
    assert await thumbnail.evaluate("img => img.decode().then(() => img.naturalWidth)") == 16

    # an image result: its thumbnail, loaded
    page = await _open_run_page(browser, world, "same")
    await page.select_option("#arg-0", value=world.bob_shared)
    async with page.expect_navigation():
        await page.click("#run")
    image = page.locator("#results img.thumbnail")
    await image.wait_for(timeout=30_000)
    assert await image.evaluate("img => img.decode().then(() => img.naturalWidth)") == 16
    assert await page.text_content("#results figcaption") == f"{BOB_SHARED} {world.bob_shared}"
    await page.screenshot(path=str(tmp_path / "image.png"), full_page=True)


@pytest.mark.browser
async def test_cancel_a_slow_call_in_chromium(
    world: World, browser: Browser, tmp_path: Path
) -> None:
    page = await _open_run_page(browser, world, "slow")
    assert await page.input_value("#arg-0") == "100"
    async with page.expect_navigation():
        await page.click("#run")
    # live: the progress bar moves and log lines arrive without a reload
    # (selectors, not wait_for_function: the page's CSP forbids the eval that one uses)
    await page.wait_for_selector("#log li:nth-child(4)", timeout=30_000)
    assert await page.text_content("#status") == "running"
    assert await page.is_visible("#progress")
    assert int(await page.get_attribute("#progress", "value") or "0") >= 0
    await page.wait_for_selector('#progress:not([value="0"])')
    await page.screenshot(path=str(tmp_path / "running.png"), full_page=True)
    async with page.expect_navigation():
        await page.click("#cancel")
    await page.wait_for_selector("#status.status-cancelled", timeout=30_000)
    assert await page.text_content("#ending") == "cancelled"
    assert await page.locator("#cancel").count() == 0
    assert await page.get_attribute("#status", "class") == "badge status-cancelled"
