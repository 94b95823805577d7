"""arkitekt.contrib.fastapi: one App for the life of a FastAPI application, behind real uvicorn.

Every test serves its FastAPI application with a real ``uvicorn.Server`` on a free loopback port
(on a thread of the test process) and talks to it over HTTP with httpx.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
import uvicorn
from fastapi import Depends, FastAPI, Request
from servers import free_port

from arkitekt import (
    App,
    acall,
    afind,
    afrom_xarray,
    call,
    find,
    find_all,
    get_current_app,
    get_image,
    local,
    register,
)
from arkitekt.contrib.fastapi import ArkitektApp, arkitekt_lifespan, get_arkitekt_app

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "fastapi_app.py"


@contextmanager
def serve(api: Any, timeout: float = 60) -> Iterator[httpx.Client]:
    """Run ``api`` with uvicorn on a free loopback port; yield a client for it; stop it."""
    port = free_port()
    config = uvicorn.Config(api, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="uvicorn-under-test", daemon=True)
    thread.start()
    deadline = time.monotonic() + timeout
    while not server.started:
        if not thread.is_alive():
            raise RuntimeError("uvicorn stopped during startup (see the log above)")
        if time.monotonic() > deadline:
            server.should_exit = True
            raise TimeoutError("uvicorn did not start in time")
        time.sleep(0.02)
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
            yield client
    finally:
        server.should_exit = True
        thread.join(timeout)
        assert not thread.is_alive(), "uvicorn did not stop"


def arkitekt_threads(timeout: float = 5) -> list[str]:
    """The names of the threads of arkitekt still alive once they had ``timeout`` to end."""
    deadline = time.monotonic() + timeout
    while True:
        names = [t.name for t in threading.enumerate() if t.name.startswith("arkitekt-")]
        if not names or time.monotonic() > deadline:
            return names
        time.sleep(0.05)


def greet(name: str, times: int = 1) -> str:
    """Say hello.  name: who to greet"""
    return " ".join([f"Hello {name}!"] * times)


def shout(name: str) -> str:
    """Greet loudly, through a remote call made with the sync API from a served function."""
    return str(call(find(interface="greet"), name)).upper()


def make_api(tmp_path: Path, events: list[str]) -> FastAPI:
    @asynccontextmanager
    async def serve_functions(api: FastAPI) -> AsyncIterator[None]:
        app: App = api.state.arkitekt
        assert get_current_app() is app  # the App is current inside the inner lifespan
        register(greet)  # ... so registering without app= registers with it
        app.register(shout)
        await app.aserve()
        events.append("started")
        yield
        events.append("stopped")

    api = FastAPI(
        lifespan=arkitekt_lifespan(
            lambda: local("fastapi-test", data_dir=tmp_path), inner=serve_functions
        )
    )

    @api.get("/async/{name}")
    async def greet_async(name: str, app: ArkitektApp) -> dict[str, Any]:
        node = await afind(interface="greet", app=app)
        return {
            "result": await acall(node, name, times=2),
            "thread": threading.current_thread().name,
        }

    @api.get("/sync/{name}")
    def greet_sync(name: str, app: ArkitektApp) -> dict[str, Any]:
        node = find(interface="greet", app=app)
        return {"result": call(node, name), "thread": threading.current_thread().name}

    @api.get("/sync-current/{name}")
    def shout_sync(name: str, app: ArkitektApp) -> dict[str, Any]:
        assert get_current_app() is app  # the dependency made it the request's current app
        return {"result": call(find(interface="shout"), name)}

    @api.get("/misuse")
    async def sync_api_on_the_loop(app: ArkitektApp) -> dict[str, str]:
        try:
            find(interface="greet", app=app)  # blocking on the loop would deadlock: refused
        except Exception as e:
            return {"error": f"{type(e).__name__}: {e}"}
        return {"error": ""}

    @api.post("/images")
    async def store_image(app: ArkitektApp) -> dict[str, Any]:
        pixels = np.arange(64, dtype=np.uint8).reshape(8, 8)
        image = await afrom_xarray(pixels, "tiny", dims=["y", "x"], app=app)
        return {"id": image.id}

    @api.get("/images/{image_id}")
    async def image_info(image_id: str, app: ArkitektApp) -> dict[str, Any]:
        image = await app.storage.aget_image(image_id)
        return {"name": image.name, "shape": list(image.shape), "dims": list(image.dims)}

    @api.get("/images/{image_id}/sum")
    def image_sum(image_id: str, app: ArkitektApp) -> dict[str, Any]:
        image = get_image(image_id, app=app)
        return {"sum": int(image.data.sum().compute())}

    return api


def test_async_and_sync_endpoints_share_one_app(tmp_path: Path) -> None:
    events: list[str] = []
    api = make_api(tmp_path, events)
    with serve(api) as client:
        assert events == ["started"]
        assert isinstance(api.state.arkitekt, App) and api.state.arkitekt.entered

        response = client.get("/async/world")
        assert response.status_code == 200, response.text
        assert response.json()["result"] == "Hello world! Hello world!"

        response = client.get("/sync/world")
        assert response.status_code == 200, response.text
        assert response.json()["result"] == "Hello world!"
        assert response.json()["thread"] != "uvicorn-under-test"  # a worker thread, not the loop

        # a served sync function can use the sync API too (it runs on a thread of its own)
        response = client.get("/sync-current/bob")
        assert response.status_code == 200, response.text
        assert response.json() == {"result": "HELLO BOB!"}

        # the sync API in an async endpoint is refused at once, naming the async twin
        error = client.get("/misuse").json()["error"]
        assert "deadlock" in error and "await afind(...)" in error, error

        # several sync and async requests at once: none blocks the loop for the others
        with httpx.Client(base_url=client.base_url, timeout=30) as other:
            results: list[int] = []

            def hit(path: str) -> None:
                results.append(other.get(path).status_code)

            workers = [
                threading.Thread(target=hit, args=(f"/{kind}/n{i}",))
                for i in range(8)
                for kind in ("sync", "async")
            ]
            for worker in workers:
                worker.start()
            for worker in workers:
                worker.join(60)
            assert results == [200] * 16

    assert events == ["started", "stopped"]  # the lifespan's exit ran
    assert not hasattr(api.state, "arkitekt")
    assert arkitekt_threads() == []


def test_an_image_stored_from_an_endpoint(tmp_path: Path) -> None:
    with serve(make_api(tmp_path, [])) as client:
        response = client.post("/images")
        assert response.status_code == 200, response.text
        image_id = response.json()["id"]
        assert isinstance(image_id, str) and image_id

        info = client.get(f"/images/{image_id}").json()
        assert info == {"name": "tiny", "shape": [8, 8], "dims": ["y", "x"]}
        assert client.get(f"/images/{image_id}/sum").json() == {"sum": sum(range(64))}
    assert arkitekt_threads() == []


def test_a_factory_gives_a_fresh_app_per_start(tmp_path: Path) -> None:
    events: list[str] = []
    api = make_api(tmp_path, events)
    apps = []
    for _ in range(2):
        with serve(api) as client:
            apps.append(api.state.arkitekt)
            assert client.get("/sync/again").json()["result"] == "Hello again!"
    assert apps[0] is not apps[1]
    assert events == ["started", "stopped"] * 2
    assert arkitekt_threads() == []


def test_dependency_without_the_lifespan_is_a_503() -> None:
    api = FastAPI()

    @api.get("/async")
    async def uses_app_async(app: ArkitektApp) -> str:
        return app.identifier

    @api.get("/sync")
    def uses_app_sync(app: ArkitektApp) -> str:
        return app.identifier

    with serve(api) as client:
        for path in ("/async", "/sync"):
            response = client.get(path)
            assert response.status_code == 503
            assert "arkitekt_lifespan" in response.json()["detail"]


def test_startup_fails_when_the_factory_does_not_return_an_app() -> None:
    api = FastAPI(lifespan=arkitekt_lifespan(lambda: "not an app"))  # type: ignore[arg-type,return-value]
    with pytest.raises(RuntimeError, match="startup"), serve(api):
        pass


def test_not_an_app_is_refused_at_once() -> None:
    with pytest.raises(TypeError, match="an App or a function returning one"):
        arkitekt_lifespan("my-service")  # type: ignore[call-overload]


def test_the_dependency_is_usable_directly(tmp_path: Path) -> None:
    api = FastAPI(lifespan=arkitekt_lifespan(lambda: local("fastapi-direct", data_dir=tmp_path)))

    @api.get("/who")
    async def who(request: Request) -> dict[str, str]:
        app = await get_arkitekt_app(request)
        return {"identifier": app.identifier}

    with serve(api) as client:
        assert client.get("/who").json() == {"identifier": "fastapi-direct"}
    assert arkitekt_threads() == []


def test_app_wide_dependency_and_inner_state(tmp_path: Path) -> None:
    @asynccontextmanager
    async def inner(api: FastAPI) -> AsyncIterator[dict[str, str]]:
        yield {"greeting": "hi"}

    api = FastAPI(
        lifespan=arkitekt_lifespan(lambda: local("fastapi-wide", data_dir=tmp_path), inner=inner),
        dependencies=[Depends(get_arkitekt_app)],
    )

    @api.get("/plain")
    def plain(request: Request) -> dict[str, str]:
        # no parameter for the App: the app-wide dependency bound this request's context
        assert get_current_app() is request.app.state.arkitekt
        names = [node.name for node in find_all(app=request.app.state.arkitekt)]
        return {"state": request.state.greeting, "nodes": ",".join(names)}

    with serve(api) as client:
        response = client.get("/plain")
        assert response.status_code == 200, response.text
        assert response.json() == {"state": "hi", "nodes": ""}
    assert arkitekt_threads() == []


def test_the_example_serves_and_calls() -> None:
    spec = importlib.util.spec_from_file_location("fastapi_app_example", EXAMPLE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    with serve(module.api) as client:
        response = client.get("/greet/async/world", params={"times": 2})
        assert response.status_code == 200, response.text
        assert response.json() == {"greeting": "Hello world! Hello world!"}
        response = client.get("/greet/sync/world")
        assert response.status_code == 200, response.text
        assert response.json() == {"greeting": "Hello world!"}
    assert arkitekt_threads() == []


def test_import_arkitekt_does_not_import_fastapi() -> None:
    code = (
        "import sys, arkitekt; from arkitekt import local, find, call; "
        "import arkitekt.rpc, arkitekt.storage, arkitekt.contrib; "
        "assert 'fastapi' not in sys.modules, 'fastapi imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
