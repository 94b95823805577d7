"""Refused logins say what happened and what to do, in the words of the credential used."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from servers import TestServer

from arkitekt import IncompatibleServerError, LoginError, easy


def test_a_refused_mandate_key_says_to_ask_for_a_new_one(standalone: TestServer) -> None:
    with pytest.raises(LoginError) as refused:
        with easy("refused-key", url=standalone.url, mandate_key="arkm_unknown", no_cache=True):
            pass
    message = str(refused.value)
    assert "mandate key" in message and "ask for a new one" in message, message
    assert "app.login()" not in message  # logging in again would not help


def test_a_key_used_for_another_user_says_whose_it_is_not(
    standalone: TestServer, tmp_path: Path
) -> None:
    key = ed25519.Ed25519PrivateKey.generate()
    pem = tmp_path / "alice.pem"
    pem.write_bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    standalone.cli("user", "key", "alice", str(pem))
    with pytest.raises(LoginError) as refused:
        with easy("wrong-user", url=standalone.url, username="bob", private_key=key):
            pass
    message = str(refused.value)
    assert "not registered for 'bob'" in message, message
    assert "invalid_claim" not in message and "alice" not in message, message
    with easy("right-user", url=standalone.url, username="alice", private_key=key) as app:
        assert app.auth.user.username == "alice"


@pytest.fixture
def web_page() -> Iterator[str]:
    """Some other web server: it answers, with HTML, but it is not arkitekt."""

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Quiet)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    thread.join(10)


def test_a_url_that_is_not_arkitekt_says_so(web_page: str) -> None:
    with pytest.raises(IncompatibleServerError) as wrong:
        with easy("lost-app", url=web_page, username="alice", password="x"):
            pass
    message = str(wrong.value)
    assert "not an arkitekt server" in message and "HTTP 404" in message, message
    assert "<html" not in message.lower() and "could not reach" not in message, message
