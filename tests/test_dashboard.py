"""The dashboard (``/dashboard``) against a real in-process server, with data made the real way.

Alice's app logs in with her password, registers and serves a function, calls it and stores
an image; Bob's app does the same with his own function, calls and images, and shares one
image with Alice. The page, read over HTTP with Alice's web session, must show what is hers or
shared with her and nothing else of Bob's; thumbnails follow the same rule. The last test opens
the page in real headless Chromium (skipped without it, except in CI).
"""

from __future__ import annotations

import re
import struct
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import numpy as np
import pandas as pd
import pytest
from servers import PASSWORD, Servers, TestServer
from test_pages_browser import CHROMIUM_ARGS, PAGE_TIMEOUT_MS, chromium_path

from arkitekt import acall, adataset, afind, afrom_df, afrom_xarray

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
ALICE_IMAGE = 'cells <b>&</b> "day 1"'
"""Markup in a name: it must come out escaped, never as markup."""


def double(x: int) -> int:
    """Twice x."""
    return 2 * x


def bobs_secret(x: int) -> int:
    """Only Bob may call this."""
    return x + 1


@dataclass
class World:
    """A server with Alice's and Bob's data (Alice's agent still serving)."""

    server: TestServer
    alice_image: str
    bob_private_image: str
    bob_shared_image: str
    alice_dataset: str
    bob_shared_dataset: str
    bob_private_dataset: str
    bob_table_in_shared_dataset: str
    bob_private_table: str


async def populate(server: TestServer) -> AsyncIterator[World]:
    """Bob's data (his app has ended), then Alice's, whose app keeps serving while in use.

    Functions are registered with ``app.rpc.register`` (the app's own registry): ``app.register``
    currently falls through to the process-wide registry (``arkitekt/rpc.py`` takes an empty
    ``Registry`` for false), which would make Alice's app serve Bob's function too.
    """
    server.add_user("alice")
    server.add_user("bob")
    async with server.app("bob", "bob-app") as bob:
        bob.rpc.register(bobs_secret)
        await bob.aserve()
        assert await acall(await afind(interface="bobs_secret", app=bob), 1, app=bob) == 2
        pixels = np.arange(16 * 16, dtype=np.uint8).reshape(16, 16)
        private = await afrom_xarray(pixels, "bob-private", dims=["y", "x"], app=bob)
        shared = await afrom_xarray(pixels, "bob-shared", dims=["y", "x"], app=bob)
        assert await shared.ashare(users=["alice"]) == ["alice"]
        # a dataset shared with Alice passes on the table in it; the rest stays Bob's
        measurements = pd.DataFrame({"cell": [1, 2, 3], "area": [10.0, 20.5, 7.25]})
        table_in_set = await afrom_df(measurements, "bob-set-table", app=bob)
        private_table = await afrom_df(measurements, "bob-private-table", app=bob)
        shared_set = await adataset("bob-shared-set", app=bob)
        await shared_set.aadd(table_in_set)
        await shared_set.ashare(users=["alice"])
        private_set = await adataset("bob-private-set", app=bob)
        await private_set.aadd(private, private_table)
    async with server.app("alice", "dash-app") as alice:
        alice.rpc.register(double)
        await alice.aserve()
        node = await afind(interface="double", app=alice)
        assert await acall(node, 2, app=alice) == 4
        assert await acall(node, 21, app=alice) == 42
        # three dims, the last two strided to fit 128 px: a 50 x 100 thumbnail
        stack = np.arange(2 * 300 * 50, dtype=np.uint16).reshape(2, 300, 50)
        image = await afrom_xarray(stack, ALICE_IMAGE, dims=["c", "y", "x"], app=alice)
        alice_set = await adataset("alice <i>set</i>", app=alice)
        await alice_set.aadd(image, await adataset("alice-child", parent=alice_set, app=alice))
        yield World(
            server=server,
            alice_image=image.id,
            bob_private_image=private.id,
            bob_shared_image=shared.id,
            alice_dataset=alice_set.id,
            bob_shared_dataset=shared_set.id,
            bob_private_dataset=private_set.id,
            bob_table_in_shared_dataset=table_in_set.id,
            bob_private_table=private_table.id,
        )


@pytest.fixture(autouse=True)
def no_process_wide_functions(monkeypatch: pytest.MonkeyPatch) -> None:
    """Serve only what each test's apps register: nothing other tests left process-wide."""
    from arkitekt.services.rpc.registry import default_registry

    monkeypatch.setattr(default_registry, "_functions", {})


@pytest.fixture
async def world(servers: Servers) -> AsyncIterator[World]:
    async for populated in populate(servers.in_process()):
        yield populated


async def web_login(client: httpx.AsyncClient, username: str) -> httpx.Response:
    """Log in through the ``/login`` form, as a browser does, and land on the dashboard."""
    form = await client.get("/login", params={"next": "/dashboard"})
    csrf = re.search(r'name="csrf" value="([^"]+)"', form.text)
    assert csrf, form.text
    answer = await client.post(
        "/login",
        data={
            "username": username,
            "password": PASSWORD,
            "csrf": csrf.group(1),
            "next": "/dashboard",
        },
    )
    assert answer.status_code == 303, answer.text
    assert answer.headers["location"] == "/dashboard"
    return await client.get("/dashboard")


def png_size(png: bytes) -> tuple[int, int]:
    """``(width, height)`` from a PNG's header."""
    assert png[:8] == PNG_SIGNATURE and png[12:16] == b"IHDR", png[:16]
    width, height = struct.unpack(">II", png[16:24])
    return int(width), int(height)


def section(page: str, name: str) -> str:
    """The HTML of one ``<section id=name>`` of the page."""
    found = re.search(rf'<section id="{name}".*?</section>', page, re.S)
    assert found, name
    return found.group(0)


async def test_logged_out_is_sent_to_the_login_page(servers: Servers) -> None:
    server = servers.in_process()
    async with httpx.AsyncClient(base_url=server.url, timeout=10) as client:
        answer = await client.get("/dashboard")
        assert answer.status_code == 303
        location = urlsplit(answer.headers["location"])
        assert location.path == "/login"
        assert parse_qs(location.query) == {"next": ["/dashboard"]}
        # a garbage (or expired) session is no session
        client.cookies.set("arkitekt_session", "garbage")
        assert (await client.get("/dashboard")).status_code == 303


async def test_dashboard_shows_alices_data_and_nothing_of_bobs(world: World) -> None:
    async with httpx.AsyncClient(base_url=world.server.url, timeout=30) as client:
        answer = await web_login(client, "alice")
        assert answer.status_code == 200, answer.text
        assert answer.headers["content-type"].startswith("text/html")
        assert answer.headers["cache-control"] == "no-store"
        assert "default-src 'self'" in answer.headers["content-security-policy"]
        page = answer.text

        # nothing of Bob's but the image he shared
        for secret in (
            "bob-app",
            "bobs_secret",
            "Only Bob",
            "bob-private",
            world.bob_private_image,
            world.bob_private_dataset,
            world.bob_private_table,
        ):
            assert secret not in page, secret
        assert "<script" not in page

        agents = section(page, "agents")
        assert agents.count('<tr class="agent">') == 1
        assert re.search(
            r'<td class="app"><a href="/dashboard/agents/[0-9a-f]{32}">dash-app</a>', agents
        )
        assert '<td class="instance">default</td>' in agents
        assert "online" in agents and "offline" not in agents
        assert re.search(r'<time datetime="\d{4}-\d\d-\d\dT[^"]+">', agents)

        functions = section(page, "functions")
        assert functions.count('<tr class="function">') == 1
        assert '<span class="name">double</span>' in functions
        assert "Twice x." in functions
        assert '<td class="interfaces">double</td>' in functions
        assert "by 1 connected agent" in functions

        calls = section(page, "calls")
        assert calls.count('<tr class="call">') == 2
        assert calls.count('<td class="function-name">double</td>') == 2
        assert calls.count(">done</span>") == 2
        assert "not yet" not in calls  # both finished, with a time

        images = section(page, "images")
        assert images.count('<li class="image"') == 2
        # newest first: Alice's (stored last), then the one Bob shared
        assert images.index(world.alice_image) < images.index(world.bob_shared_image)
        # escaped, never markup
        assert "cells &lt;b&gt;&amp;&lt;/b&gt; &#34;day 1&#34;" in images
        assert "<b>" not in images
        assert (
            "2 \N{MULTIPLICATION SIGN} 300 \N{MULTIPLICATION SIGN} 50 (c, y, x) · uint16" in images
        )
        assert "shared with you" in images and "yours" in images
        alice_src = f"/dashboard/images/{world.alice_image}/thumbnail.png"
        assert f'src="{alice_src}"' in images
        assert f'src="{alice_src}" alt="First plane of cells &lt;b&gt;' in images
        assert 'width="50" height="100"' in images  # the PNG's own size, no layout shift

        datasets = section(page, "datasets")
        assert datasets.count('<tr class="dataset"') == 3  # hers, its child, Bob's shared one
        mine = re.search(
            rf'<tr class="dataset" id="dataset-{world.alice_dataset}">.*?</tr>', datasets, re.S
        )
        assert mine, datasets
        assert "alice &lt;i&gt;set&lt;/i&gt;" in mine.group(0) and "<i>" not in datasets
        assert '<td class="holds">1 image · 1 dataset</td>' in mine.group(0)
        bobs = re.search(
            rf'<tr class="dataset" id="dataset-{world.bob_shared_dataset}">.*?</tr>', datasets, re.S
        )
        assert bobs, datasets
        assert '<td class="holds">1 table</td>' in bobs.group(0)
        assert "shared with you" in bobs.group(0)

        tables = section(page, "tables")
        assert tables.count('<tr class="table"') == 1  # the one in the dataset Bob shared
        assert f'id="table-{world.bob_table_in_shared_dataset}"' in tables
        assert '<td class="rows">3</td>' in tables
        assert '<td class="columns">cell, area</td>' in tables

        # the thumbnails: a PNG of the first plane for what Alice may see
        thumb = await client.get(alice_src)
        assert thumb.status_code == 200, thumb.text
        assert thumb.headers["content-type"] == "image/png"
        assert thumb.headers["cache-control"].startswith("private, max-age=")
        assert png_size(thumb.content) == (50, 100)
        shared = await client.get(f"/dashboard/images/{world.bob_shared_image}/thumbnail.png")
        assert shared.status_code == 200 and png_size(shared.content) == (16, 16)

        # ... and the same 404 for Bob's private image as for one that does not exist
        for image_id in (world.bob_private_image, "0" * 32, "nope", "x" * 300):
            refused = await client.get(f"/dashboard/images/{image_id}/thumbnail.png")
            assert refused.status_code == 404, (image_id, refused.text)
            assert refused.headers["cache-control"] == "no-store"
            assert refused.content[:8] != PNG_SIGNATURE

    # no web session: no thumbnail either
    async with httpx.AsyncClient(base_url=world.server.url, timeout=10) as stranger:
        assert (await stranger.get(alice_src)).status_code == 404


async def test_bob_sees_his_data_and_not_alices(world: World) -> None:
    async with httpx.AsyncClient(base_url=world.server.url, timeout=30) as client:
        page = (await web_login(client, "bob")).text
        for secret in ("dash-app", "Twice x.", "cells", world.alice_image, world.alice_dataset):
            assert secret not in page, secret
        datasets = section(page, "datasets")
        assert datasets.count('<tr class="dataset"') == 2 and "alice" not in datasets
        private_set = re.search(
            rf'<tr class="dataset" id="dataset-{world.bob_private_dataset}">.*?</tr>',
            datasets,
            re.S,
        )
        assert private_set and '<td class="holds">1 image · 1 table</td>' in private_set.group(0)
        assert section(page, "tables").count('<tr class="table"') == 2
        assert re.search(
            r'<td class="app"><a href="/dashboard/agents/[0-9a-f]{32}">bob-app</a>',
            section(page, "agents"),
        )
        assert "offline" in section(page, "agents")  # his app has ended
        functions = section(page, "functions")
        assert '<span class="name">bobs_secret</span>' in functions
        assert "no connected agent" in functions
        assert section(page, "calls").count('<tr class="call">') == 1
        images = section(page, "images")
        assert images.count('<li class="image"') == 2 and "shared with you" not in images
        private = f"/dashboard/images/{world.bob_private_image}/thumbnail.png"
        assert (await client.get(private)).status_code == 200
        alices = f"/dashboard/images/{world.alice_image}/thumbnail.png"
        assert (await client.get(alices)).status_code == 404


async def test_home_links_to_the_dashboard_when_logged_in(servers: Servers) -> None:
    server = servers.in_process(users=("alice",))
    async with httpx.AsyncClient(base_url=server.url, timeout=10) as client:
        assert 'href="/dashboard"' not in (await client.get("/")).text
        page = await web_login(client, "alice")
        assert "No agents yet." in page.text and "No images yet." in page.text
        assert 'href="/dashboard"' in (await client.get("/")).text


async def test_thumbnail_from_the_s3_datalayer(servers: Servers) -> None:
    """With S3 the server reads the array with its own credentials, under the image's prefix."""
    server = servers.in_process(users=("alice",), s3=True, s3_bucket="arkitekt-dashboard")
    async with server.app("alice", "dash-s3") as app:
        pixels = np.linspace(0, 1, 3 * 200 * 260).reshape(3, 200, 260)
        image = await afrom_xarray(pixels, "on s3", dims=["z", "y", "x"], app=app)
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
        page = await web_login(client, "alice")
        assert 'width="87" height="100"' in section(page.text, "images")
        thumb = await client.get(f"/dashboard/images/{image.id}/thumbnail.png")
        assert thumb.status_code == 200, thumb.text
        assert png_size(thumb.content) == (87, 100)


@pytest.mark.browser
async def test_dashboard_in_chromium(world: World, tmp_path: Path) -> None:
    """The page in real Chromium: sections, loaded thumbnails, no console errors, a screenshot."""
    executable = chromium_path()
    from playwright.async_api import async_playwright

    problems: list[str] = []
    async with async_playwright() as playwright:
        chromium = await playwright.chromium.launch(
            executable_path=executable, args=CHROMIUM_ARGS, timeout=PAGE_TIMEOUT_MS
        )
        try:
            context = await chromium.new_context()
            context.set_default_timeout(PAGE_TIMEOUT_MS)
            context.set_default_navigation_timeout(PAGE_TIMEOUT_MS)
            page = await context.new_page()

            def on_console(message: Any) -> None:
                if message.type in ("error", "warning"):
                    problems.append(f"console {message.type}: {message.text}")

            def on_response(response: Any) -> None:
                if response.status >= 400:
                    problems.append(f"{response.status} for {response.url}")

            page.on("console", on_console)
            page.on("pageerror", lambda error: problems.append(f"page error: {error}"))
            page.on("response", on_response)
            page.on("requestfailed", lambda r: problems.append(f"failed: {r.url} {r.failure}"))

            await page.goto(f"{world.server.url}/dashboard")
            assert urlsplit(page.url).path == "/login"
            await page.fill("#username", "alice")
            await page.fill("#password", PASSWORD)
            async with page.expect_navigation():
                await page.click("#login")
            assert urlsplit(page.url).path == "/dashboard"
            await page.wait_for_load_state("load")

            assert await page.title() == "Dashboard · arkitekt"
            assert await page.evaluate("document.styleSheets.length") == 1
            assert await page.locator("h1").count() == 1
            for name, title in (
                ("agents", "Agents"),
                ("functions", "Functions"),
                ("calls", "Recent calls"),
                ("images", "Images"),
            ):
                heading = page.locator(f"#{name} h2")
                assert await heading.text_content() == title
                assert await heading.is_visible()
            assert await page.locator("#agents tr.agent").count() == 1
            assert await page.locator("#functions tr.function").count() == 1
            assert await page.locator("#calls tr.call").count() == 2
            # the name is text, not markup
            names = await page.locator("#images .name").all_text_contents()
            assert names == [ALICE_IMAGE, "bob-shared"]

            thumbnail = page.locator(f"#image-{world.alice_image} img.thumbnail")
            await thumbnail.scroll_into_view_if_needed()
            assert await thumbnail.is_visible()
            assert await thumbnail.get_attribute("alt") == f"First plane of {ALICE_IMAGE}"
            images = page.locator("img.thumbnail")
            assert await images.count() == 2
            for index in range(2):
                loaded = await images.nth(index).evaluate(
                    "img => img.decode().then(() => [img.complete, img.naturalWidth])"
                )
                assert loaded[0] and loaded[1] > 0, loaded
            assert await thumbnail.evaluate("img => img.naturalWidth") == 50
            assert await thumbnail.evaluate("img => img.naturalHeight") == 100

            shot = tmp_path / "dashboard.png"
            await page.screenshot(path=str(shot), full_page=True)
            assert shot.stat().st_size > 1000
            assert shot.read_bytes()[:8] == PNG_SIGNATURE
        finally:
            await chromium.close()
    assert not problems, problems
