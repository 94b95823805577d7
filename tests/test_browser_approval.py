"""The device-approval pages in real headless Chromium (Debian's package), driven by Playwright,
while the real fakts client waits for the approval."""

from __future__ import annotations

import asyncio
import os
import shutil
from pathlib import Path
from typing import Any

import fakts
import pytest
from conftest import PASSWORD, add_user
from fakts.grants.remote import RemoteGrant
from fakts.grants.remote.authorizers import DeviceCodeAuthorizer
from fakts.grants.remote.discovery.well_known import WellKnownDiscovery
from fakts.grants.remote.errors import UserDeniedError

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
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

if CHROMIUM is None and os.environ.get("CI"):
    raise RuntimeError("CI must run the browser tests: install Debian's chromium (see .ci/run)")
pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        CHROMIUM is None, reason="Chromium is not installed (apt-get install chromium)"
    ),
]

MANIFEST = fakts.Manifest(
    identifier="browser-app",
    version="1.0",
    scopes=["openid"],
    requirements=[fakts.Requirement(key="rekuest", service="live.arkitekt.rekuest")],
)


async def approve_in_browser(
    link: str, username: str, password: str, button: str, shot: Path
) -> list[str]:
    from playwright.async_api import async_playwright

    problems: list[str] = []
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = await browser.new_page()
            page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: problems.append(str(e)))
            await page.goto(link, timeout=15000)
            assert "/login" in page.url
            for field in await page.locator("input:not([type=hidden])").all():
                field_id = await field.get_attribute("id")
                assert await page.locator(f"label[for={field_id}]").count() == 1
            await page.fill("#username", username)
            await page.fill("#password", password)
            await page.click("#login")
            await page.wait_for_selector("#approve", timeout=15000)
            assert await page.text_content("#app") == "browser-app"
            assert await page.text_content("#version") == "1.0"
            assert "openid" in (await page.text_content("#scopes") or "")
            await page.screenshot(path=str(shot))
            await page.click(f"#{button}")
            await page.wait_for_selector("#title", timeout=15000)
            title = await page.text_content("#title")
            assert title == ("App approved" if button == "approve" else "App denied")
        finally:
            await browser.close()
    return problems


def fakts_client(url: str, on_code: Any) -> fakts.Fakts:
    return fakts.Fakts(
        grant=RemoteGrant(
            discovery=WellKnownDiscovery(url=url),
            authorizer=DeviceCodeAuthorizer(
                manifest=MANIFEST, open_browser=False, device_code_hook=on_code
            ),
        ),
        manifest=MANIFEST,
        cache=fakts.NoCache(),
        mesh=None,
    )


@pytest.mark.parametrize("button", ["approve", "deny"])
async def test_device_approval_in_chromium(
    embedded_factory: Any, tmp_path: Path, button: str
) -> None:
    server = embedded_factory()
    add_user(server, "alice")
    problems: list[str] = []
    shot = tmp_path / "approval.png"

    async def on_code(challenge: Any) -> None:
        problems.extend(
            await approve_in_browser(
                challenge.verification_uri_complete, "alice", PASSWORD, button, shot
            )
        )

    client = fakts_client(server.url, on_code)
    async with client:
        if button == "approve":
            await asyncio.wait_for(client.aload(), 60)
            assert await client.aget_token()
            alias = await client.aget_alias("rekuest")  # signed challenge verified
            assert alias.port == server.port
        else:
            with pytest.raises(UserDeniedError):
                await asyncio.wait_for(client.aload(), 60)
    assert not problems, problems
    assert shot.stat().st_size > 1000


async def test_wrong_password_and_logout_in_chromium(embedded_factory: Any) -> None:
    from playwright.async_api import async_playwright

    server = embedded_factory()
    add_user(server, "bob")
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            context = await browser.new_context()
            page = await context.new_page()
            await page.goto(f"{server.url}/device", timeout=15000)
            await page.fill("#username", "bob")
            await page.fill("#password", "wrong")
            await page.click("#login")
            assert "Wrong username or password" in (await page.text_content("[role=alert]") or "")
            assert not [c for c in await context.cookies() if c["name"] == "arkitekt_session"]
            await page.fill("#password", PASSWORD)
            await page.click("#login")
            await page.wait_for_selector("#code", timeout=15000)  # the code entry form
            await page.goto(f"{server.url}/logout")
            await page.click("#logout")
            assert await page.text_content("#title") == "Logged out"
            await page.goto(f"{server.url}/device")
            assert "/login" in page.url
        finally:
            await browser.close()
