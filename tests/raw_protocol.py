"""The ``/rekuest/ws`` protocol spoken by hand, for tests that send what the SDK never would:
a raw websocket using the shared message models, logged in with the password grant."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest
import websockets
from servers import PASSWORD

from arkitekt.protocol.ids import time_ordered_id
from arkitekt.protocol.messages import SERVER_FRAME, Hello, Message, Ping, Pong, Welcome, encode


def token_for(url: str, username: str) -> str:
    response = httpx.post(
        f"{url}/f/token/",
        data={
            "grant_type": "password",
            "username": username,
            "password": PASSWORD,
            "manifest": json.dumps({"identifier": f"raw-{username}", "version": "1"}),
        },
    )
    assert response.status_code == 200, response.text
    return str(response.json()["access_token"])


def new_id() -> str:
    """A fresh id of the kind the server admits for calls (fine for sessions too)."""
    return time_ordered_id()


class Raw:
    """A hand-driven connection."""

    def __init__(self, ws: Any) -> None:
        self.ws = ws
        self.inbox: list[Message] = []

    async def send(self, *messages: Message) -> None:
        await self.ws.send(encode(list(messages)))

    async def expect(self, kind: type[Message], timeout: float = 5.0) -> Any:
        """The first message of this kind (read on until it comes)."""
        return await self.expect_matching(lambda m: isinstance(m, kind), timeout)

    async def expect_matching(self, wanted: Callable[[Message], bool], timeout: float = 5.0) -> Any:
        """The first message ``wanted`` accepts; the others stay in :attr:`inbox`."""
        async with asyncio.timeout(timeout):
            while True:
                for i, message in enumerate(self.inbox):
                    if wanted(message):
                        return self.inbox.pop(i)
                frame = SERVER_FRAME.validate_json(await self.ws.recv())
                for message in frame:
                    if isinstance(message, Ping):
                        await self.send(Pong())
                    else:
                        self.inbox.append(message)


async def connect(url: str, token: str, **hello: Any) -> Raw:
    ws = await websockets.connect(url.replace("http", "ws") + "/rekuest/ws")
    raw = Raw(ws)
    await raw.send(Hello(token=token, session=new_id(), **hello))
    await raw.expect(Welcome)
    return raw


async def closed_with(ws: Any) -> tuple[int, str, str]:
    """Read until the server closes; returns (close code, goodbye code, goodbye message)."""
    goodbye = ("", "")
    with pytest.raises(websockets.ConnectionClosed) as caught:
        async with asyncio.timeout(10):
            while True:
                for message in json.loads(await ws.recv()):
                    if message["type"] == "goodbye":
                        goodbye = (message["code"], message["message"])
    return caught.value.rcvd.code, *goodbye  # type: ignore[union-attr]
