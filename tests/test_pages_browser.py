"""The server's web pages in real headless Chromium (Debian's package, driven by Playwright).

Unlike ``test_browser_approval.py``, the real ``fakts`` client runs *concurrently* with the
browser here: its device-code hook only hands over the link and returns, so fakts is already
polling (``authorization_pending``) while a person logs in and decides on the page.

Without Chromium these tests are skipped, except in CI (``CI`` set), where they fail.
"""

from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import fakts
import pytest
from fakts.grants.remote import RemoteGrant
from fakts.grants.remote.authorizers import DeviceCodeAuthorizer
from fakts.grants.remote.authorizers.device_code import DeviceCodeChallenge
from fakts.grants.remote.discovery.well_known import WellKnownDiscovery
from fakts.grants.remote.errors import UserDeniedError
from servers import PASSWORD, Servers, TestServer

pytestmark = pytest.mark.browser

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PAGE_TIMEOUT_MS = 15_000
"""Every Playwright action and navigation gives up after this."""
FLOW_TIMEOUT_S = 45
"""The whole fakts login (device code, polling every second, token) gives up after this."""
SESSION_COOKIE = "arkitekt_session"

MANIFEST = fakts.Manifest(
    identifier="browser-app",
    version="1.0",
    scopes=["openid"],
    requirements=[fakts.Requirement(key="rekuest", service="live.arkitekt.rekuest")],
)


def chromium_path() -> str:
    """Debian's Chromium; a failure in CI without it, a skip elsewhere."""
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        if os.environ.get("CI", "").lower() not in ("", "0", "false"):
            pytest.fail(
                "CI must run the browser tests, but Chromium is not installed "
                "(apt-get install chromium; see .ci/run)",
                pytrace=False,
            )
        pytest.skip("Chromium is not installed (apt-get install chromium); set CI to require it")
    return path


@dataclass
class Browser:
    """One browser context (its own cookies) with a page whose errors are collected."""

    context: Any
    page: Any
    problems: list[str] = field(default_factory=list)

    async def cookie_names(self) -> set[str]:
        return {c["name"] for c in await self.context.cookies()}


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    executable = chromium_path()
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        chromium = await playwright.chromium.launch(
            executable_path=executable, args=CHROMIUM_ARGS, timeout=PAGE_TIMEOUT_MS
        )
        try:
            context = await chromium.new_context()
            context.set_default_timeout(PAGE_TIMEOUT_MS)
            context.set_default_navigation_timeout(PAGE_TIMEOUT_MS)
            page = await context.new_page()
            session = Browser(context=context, page=page)
            documents: set[str] = set()

            def on_response(response: Any) -> None:
                if response.request.resource_type == "document":
                    documents.add(response.url)  # its status is each test's business
                elif response.status >= 400:
                    session.problems.append(f"{response.status} for {response.url}")

            def on_console(message: Any) -> None:
                if message.type not in ("error", "warning"):
                    return
                # Chromium logs every 4xx page as "Failed to load resource"; the tests assert
                # those statuses themselves (a 401 for a wrong password, a 404 for a bad code).
                if (
                    message.text.startswith("Failed to load resource")
                    and message.location.get("url") in documents
                ):
                    return
                session.problems.append(f"console {message.type}: {message.text}")

            page.on("response", on_response)
            page.on("console", on_console)

            def on_request_failed(request: Any) -> None:
                # A navigation cancels what the previous page still loads (the favicon, say):
                # not a fault. A missing file is a 4xx response, caught above.
                if request.failure != "net::ERR_ABORTED":
                    session.problems.append(f"failed ({request.failure}): {request.url}")

            page.on("requestfailed", on_request_failed)
            page.on("pageerror", lambda e: session.problems.append(f"page error: {e}"))
            yield session
        finally:
            await chromium.close()
    # No page may log an error (a failed resource load shows up here too).
    assert not session.problems, session.problems


async def assert_inputs_labelled(page: Any) -> None:
    """Every visible input has an id and exactly one ``<label for=id>``."""
    inputs = await page.locator("input:not([type=hidden])").all()
    for field_ in inputs:
        field_id = await field_.get_attribute("id")
        assert field_id, await field_.evaluate("e => e.outerHTML")
        assert await page.locator(f'label[for="{field_id}"]').count() == 1, field_id


async def log_in(page: Any, username: str, password: str) -> None:
    await assert_inputs_labelled(page)
    await page.fill("#username", username)
    await page.fill("#password", password)
    async with page.expect_navigation():
        await page.click("#login")


def fakts_client(url: str, links: asyncio.Queue[DeviceCodeChallenge]) -> fakts.Fakts:
    async def hand_over(challenge: DeviceCodeChallenge) -> None:
        await links.put(challenge)  # and return: fakts starts polling at once

    return fakts.Fakts(
        grant=RemoteGrant(
            discovery=WellKnownDiscovery(url=url),
            authorizer=DeviceCodeAuthorizer(
                manifest=MANIFEST, open_browser=False, device_code_hook=hand_over
            ),
        ),
        manifest=MANIFEST,
        cache=fakts.NoCache(),
        mesh=None,
    )


async def open_approval_page(
    browser: Browser, server: TestServer, challenge: DeviceCodeChallenge
) -> Any:
    """Follow the app's link, get sent to the login page, log in, land on the approval page."""
    page = browser.page
    assert challenge.verification_uri_complete.startswith(f"{server.url}/device?code=")
    await page.goto(challenge.verification_uri_complete)
    location = urlsplit(page.url)
    assert location.path == "/login", page.url
    assert parse_qs(location.query)["next"] == [f"/device?code={challenge.user_code}"]
    assert SESSION_COOKIE not in await browser.cookie_names()
    await log_in(page, "alice", PASSWORD)
    # Back at the link, now as alice: the approval page for exactly this code.
    assert page.url == challenge.verification_uri_complete
    await page.wait_for_selector("#approve")
    assert SESSION_COOKIE in await browser.cookie_names()
    assert await page.title() == "Approve browser-app · arkitekt"
    assert await page.text_content("#app") == "browser-app"
    assert await page.text_content("#version") == "1.0"
    assert await page.text_content("#code") == challenge.user_code
    assert (await page.text_content("#scopes") or "").split(", ") == ["openid"]
    assert await page.text_content("#services") == "rekuest"
    assert "alice" in (await page.text_content("header") or "")
    await assert_inputs_labelled(page)
    return page


async def decide_in_browser(
    server: Any,
    browser: Browser,
    links: asyncio.Queue[DeviceCodeChallenge],
    login: asyncio.Task[Any],
    button: str,
    tmp_path: Path,
) -> Any:
    """Open the app's link, log in, and press ``button`` on the approval page while fakts polls."""
    challenge = await asyncio.wait_for(links.get(), 15)
    page = await open_approval_page(browser, server, challenge)
    # fakts has been polling all along and is still waiting for the decision.
    await asyncio.sleep(1.5)
    assert not login.done(), login
    shot = tmp_path / f"approval-{button}.png"
    await page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 1000
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    async with page.expect_navigation():
        await page.click(f"#{button}")
    return page


async def test_fakts_login_approved_in_chromium(
    servers: Servers, browser: Browser, tmp_path: Path
) -> None:
    server = servers.in_process(users=("alice",))
    links: asyncio.Queue[DeviceCodeChallenge] = asyncio.Queue()
    client = fakts_client(server.url, links)
    async with client:
        login = asyncio.create_task(client.aload())
        try:
            page = await decide_in_browser(server, browser, links, login, "approve", tmp_path)
            assert await page.text_content("#title") == "App approved"
            assert await page.text_content("#message") == (
                "browser-app is now logged in as alice. You can close this window."
            )
            active = await asyncio.wait_for(login, FLOW_TIMEOUT_S)
            assert active.auth.client_id.startswith("ark_")
            assert await asyncio.wait_for(client.aget_token(), 15)
            # The alias is only returned after fakts verified the service's Ed25519 signature
            # over its own nonce.
            alias = await asyncio.wait_for(client.aget_alias("rekuest"), 15)
            assert alias.to_http_path("ht").startswith(server.url)

            # The code is spent: the approval page (never cached) now refuses it.
            response = await page.go_back()
            assert response is not None and response.status == 404
            assert "already used" in (await page.get_by_role("alert").text_content() or "")
            assert await page.locator("#approve").count() == 0
        finally:
            login.cancel()
            await asyncio.gather(login, return_exceptions=True)


async def test_fakts_login_denied_in_chromium(
    servers: Servers, browser: Browser, tmp_path: Path
) -> None:
    server = servers.in_process(users=("alice",))
    links: asyncio.Queue[DeviceCodeChallenge] = asyncio.Queue()
    client = fakts_client(server.url, links)
    async with client:
        login = asyncio.create_task(client.aload())
        try:
            page = await decide_in_browser(server, browser, links, login, "deny", tmp_path)
            assert await page.text_content("#title") == "App denied"
            message = await page.text_content("#message") or ""
            assert "browser-app was not given access" in message
            with pytest.raises(UserDeniedError):
                await asyncio.wait_for(login, FLOW_TIMEOUT_S)
        finally:
            login.cancel()
            await asyncio.gather(login, return_exceptions=True)


async def test_wrong_password_then_login_and_logout(servers: Servers, browser: Browser) -> None:
    server = servers.in_process(users=("alice",))
    page = browser.page
    await page.goto(f"{server.url}/device")
    assert urlsplit(page.url).path == "/login"
    await assert_inputs_labelled(page)

    # Wrong password: an error in an alert, the username kept, no session.
    await page.fill("#username", "alice")
    await page.fill("#password", "not the password")
    async with page.expect_navigation() as navigation:
        await page.press("#password", "Enter")
    assert (await navigation.value).status == 401
    alert = page.get_by_role("alert")
    assert await alert.text_content() == "Wrong username or password."
    assert await page.input_value("#username") == "alice"
    assert await page.input_value("#password") == ""
    assert SESSION_COOKIE not in await browser.cookie_names()
    await assert_inputs_labelled(page)

    # The right password on the same form: on to where the login started (/device).
    await log_in(page, "alice", PASSWORD)
    assert urlsplit(page.url).path == "/device"
    assert SESSION_COOKIE in await browser.cookie_names()
    await page.wait_for_selector("input#code")
    await assert_inputs_labelled(page)

    # An unknown code: a 404 page with an alert, still labelled.
    async with page.expect_navigation() as navigation:
        await page.fill("#code", "BCDF-GHJK")
        await page.press("#code", "Enter")
    assert (await navigation.value).status == 404
    assert "unknown, expired or already used" in (
        await page.get_by_role("alert").text_content() or ""
    )
    await assert_inputs_labelled(page)

    # Log out from the header link, confirm, and the session is gone.
    async with page.expect_navigation():
        await page.get_by_role("link", name="Log out").click()
    assert urlsplit(page.url).path == "/logout"
    async with page.expect_navigation():
        await page.click("#logout")
    assert await page.text_content("#title") == "Logged out"
    assert SESSION_COOKIE not in await browser.cookie_names()
    await page.goto(f"{server.url}/device")
    assert urlsplit(page.url).path == "/login"
    await page.goto(f"{server.url}/logout")
    assert await page.text_content("#message") == "You are not logged in."


@pytest.mark.parametrize("path", ["/", "/login", "/device", "/logout", "/device?code=nope"])
async def test_pages_render_cleanly_signed_out(
    servers: Servers, browser: Browser, path: str
) -> None:
    """Each page loads with its stylesheet, no console errors or failed loads, labelled inputs."""
    server = servers.in_process()
    response = await browser.page.goto(f"{server.url}{path}")
    assert response is not None and response.ok, response
    await browser.page.wait_for_load_state("load")
    assert await browser.page.evaluate("document.styleSheets.length") == 1
    assert await browser.page.locator("h1").count() == 1
    assert await browser.page.get_attribute("html", "lang") == "en"
    await assert_inputs_labelled(browser.page)
