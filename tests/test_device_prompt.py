"""The device-code prompt a terminal shows: both of its links open the server's approval page."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import httpx
import pytest
from servers import TestServer, approve_device_code

from arkitekt import easy
from arkitekt.services.logins import DeviceCodeLogin, show_prompt_in_terminal


def test_the_terminal_prompt_links_to_pages_that_exist(
    standalone: TestServer, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "200")  # rich would wrap long links

    async def show_then_approve(challenge: Any) -> None:
        await show_prompt_in_terminal(challenge)
        await asyncio.to_thread(
            approve_device_code, standalone.url, challenge.verification_uri_complete, "alice"
        )

    app = easy("prompted-app", url=standalone.url, headless=True)
    app.fakts.login = DeviceCodeLogin(headless=True, hook=show_then_approve)
    with app:
        assert app.auth.user.username == "alice"
    printed = capsys.readouterr().out
    links = re.findall(r"https?://[^\s\]\[]+", printed)
    assert len(links) == 2, printed
    with_code, by_hand = links
    assert "code=" in with_code and by_hand.endswith("/device"), links
    for link in links:
        assert httpx.get(link, follow_redirects=True).status_code == 200, link  # (log in first)
