"""An agent's page on the dashboard (``/dashboard/agents/{id}``): its states, live.

alice serves a function that moves a stage (an ``@state``); over HTTP as a browser: the page
shows the state, its event stream follows every change, bob sees nothing of an agent that
shares nothing with him (as of one that does not exist), a share lets him in and taking it back
ends his stream. Then the same page in headless Chromium, updating without a reload.
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from servers import PASSWORD, Servers, TestServer
from test_pages_browser import Browser, browser, log_in

from arkitekt import App, call, find, state

__all__ = ["browser"]  # the fixture, used by the browser test below

SECRET = "alice-objective-9c3f"


@state
@dataclass
class Stage:
    x: float = 0.0
    objective: str = SECRET


def move(x: float, stage: Stage) -> float:
    """Move the stage."""
    stage.x = x
    return x


@contextlib.contextmanager
def serving(server: TestServer) -> Iterator[tuple[App, str]]:
    """alice's agent serving ``move``; the app and the agent's id."""
    with server.app("alice", "stage-agent") as app:
        app.register(move, interface="move")
        app.serve()
        assert app.rpc.agent is not None and app.rpc.agent.id is not None
        yield app, app.rpc.agent.id


@contextlib.contextmanager
def web_client(url: str, user: str) -> Iterator[httpx.Client]:
    """A client logged in on the login page, as a browser is."""
    with httpx.Client(base_url=url, timeout=30) as client:
        form = client.get("/login")
        token = re.search(r'name="csrf" value="([^"]+)"', form.text)
        assert token, form.text
        answer = client.post(
            "/login",
            data={"username": user, "password": PASSWORD, "csrf": token.group(1), "next": "/"},
        )
        assert answer.status_code == 303, answer.text
        yield client


def stream_until(
    client: httpx.Client, path: str, done: Any, action: Any = None, limit: float = 20
) -> list[dict[str, Any]]:
    """Read the agent's stream until ``done(messages)``; ``action()`` runs (on a thread) once
    the first message arrived. Messages: ``event`` and ``data``."""
    deadline = time.monotonic() + limit
    messages: list[dict[str, Any]] = []
    with client.stream("GET", path) as answer:
        assert answer.status_code == 200, answer.read()
        current: dict[str, str] = {}
        for line in answer.iter_lines():
            assert time.monotonic() < deadline, f"the stream went on: {messages}"
            if line == "":
                if "data" in current:
                    messages.append(
                        {
                            "event": current.get("event", "message"),
                            "data": json.loads(current["data"]),
                        }
                    )
                    if len(messages) == 1 and action is not None:
                        # a plain thread gets a copy of this context (the app's loop is there)
                        context = contextvars.copy_context()
                        threading.Thread(target=context.run, args=(action,), daemon=True).start()
                    if done(messages):
                        return messages
                current = {}
            elif not line.startswith(":"):
                key, _, value = line.partition(": ")
                current[key] = value
    return messages


def fields(message: dict[str, Any]) -> dict[str, Any]:
    return {key: json.loads(value) for key, value in message["data"]["fields"]}


def test_the_agent_page_shows_its_state_live_and_only_to_who_may_see_it(
    servers: Servers,
) -> None:
    server = servers.in_process(users=("alice", "bob"))
    with serving(server) as (app, agent_id), web_client(server.url, "alice") as alice:
        page = alice.get("/dashboard")
        assert f'href="/dashboard/agents/{agent_id}"' in page.text
        page = alice.get(f"/dashboard/agents/{agent_id}")
        assert page.status_code == 200
        assert "Stage" in page.text and SECRET in page.text

        path = f"/dashboard/agents/{agent_id}/states/events"
        seen = stream_until(
            alice,
            path,
            lambda messages: fields(messages[-1])["x"] == 5.0,
            action=lambda: call(find(interface="move", app=app), 5.0),
        )
        assert fields(seen[0])["x"] == 0.0 and seen[0]["data"]["state"] == "Stage"
        assert seen[-1]["data"]["connected"] is True

        with web_client(server.url, "bob") as bob:
            nowhere = bob.get(f"/dashboard/agents/{'0' * 32}")
            refused = bob.get(f"/dashboard/agents/{agent_id}")
            assert refused.status_code == nowhere.status_code == 404
            assert refused.text == nowhere.text and SECRET not in refused.text
            assert bob.get(path).status_code == 404

            app.rpc.share("move", users=["bob"])
            assert SECRET in bob.get(f"/dashboard/agents/{agent_id}").text
            ended = stream_until(
                bob,
                path,
                lambda messages: messages[-1]["event"] == "end",
                action=lambda: app.rpc.unshare("move", users=["bob"]),
            )
            assert ended[-1]["event"] == "end"
            assert bob.get(f"/dashboard/agents/{agent_id}").status_code == 404


@pytest.mark.browser
async def test_the_agent_page_updates_in_chromium(servers: Servers, browser: Browser) -> None:
    server = servers.in_process(users=("alice",))
    async with server.app("alice", "stage-agent") as app:
        app.register(move, interface="move")
        await app.aserve()
        assert app.rpc.agent is not None
        page = browser.page
        await page.goto(f"{server.url}/dashboard/agents/{app.rpc.agent.id}")
        if urlsplit(page.url).path == "/login":
            await log_in(page, "alice", PASSWORD)
        assert await page.text_content('section.state[data-state="Stage"] h3') == "Stage"
        node = await app.rpc.afind("move")
        await node.acall(12.5)
        # live: the value changes on the page without a reload
        await page.wait_for_selector("section.state tr:first-child code:text-is('12.5')")
        assert await page.text_content("#online") == "online"
        assert not browser.problems, browser.problems
