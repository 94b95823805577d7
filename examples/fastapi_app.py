"""A FastAPI service that keeps one arkitekt app for its whole life.

Run it with ``python examples/fastapi_app.py`` (needs ``pip install -e ".[fastapi,server]"``
from the clone), then open http://127.0.0.1:8000/greet/async/world or http://127.0.0.1:8000/greet/sync/world.

At startup the integrated server starts in this process, the app logs in and serves ``greet``;
both endpoints call it remotely: the ``async def`` one with the async API on uvicorn's event
loop, the ``def`` one with the sync API on FastAPI's worker thread. Stopping uvicorn (Ctrl-C)
leaves the app, which stops the server.
"""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import uvicorn
from fastapi import FastAPI

from arkitekt import App, acall, afind, call, find, local
from arkitekt.contrib.fastapi import ArkitektApp, arkitekt_lifespan


def greet(name: str, times: int = 1) -> str:
    """Say hello.  name: who to greet"""
    return " ".join([f"Hello {name}!"] * times)


@asynccontextmanager
async def serve_functions(api: FastAPI) -> AsyncIterator[None]:
    """Runs inside the entered app: serve ``greet`` from this process for the service's life."""
    app: App = api.state.arkitekt
    app.register(greet)
    await app.aserve()  # returns once the server has the function
    yield


api = FastAPI(
    title="arkitekt + FastAPI",
    lifespan=arkitekt_lifespan(local("fastapi-example"), inner=serve_functions),
)


@api.get("/greet/async/{name}")
async def greet_async(name: str, app: ArkitektApp, times: int = 1) -> dict[str, str]:
    """Call ``greet`` with the async API (on uvicorn's event loop)."""
    node = await afind(interface="greet", app=app)
    return {"greeting": await acall(node, name, times=times)}


@api.get("/greet/sync/{name}")
def greet_sync(name: str, app: ArkitektApp, times: int = 1) -> dict[str, str]:
    """Call ``greet`` with the sync API (FastAPI runs a ``def`` endpoint on a worker thread)."""
    node = find(interface="greet", app=app)
    return {"greeting": call(node, name, times=times)}


if __name__ == "__main__":
    uvicorn.run(api, host="127.0.0.1", port=8000, reload=False)
