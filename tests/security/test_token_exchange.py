"""Issue 11, finding 6: an exchanged token never expires later than the token it came from, so
chained exchanges cannot keep a session alive after it ends."""

from __future__ import annotations

import base64
import json
import time

from servers import TestServer

from arkitekt import easy


def _exp(token: str) -> int:
    payload = token.split(".")[1]
    return int(json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))["exp"])


def test_an_exchanged_token_never_outlives_its_subject(standalone: TestServer) -> None:
    with standalone.app("alice", "subject") as app:
        token = app.fakts.client.loaded_token
    first_exp = _exp(token)
    for hop in range(3):  # a chain of exchanges, each a second later
        time.sleep(1.1)
        with easy(f"exchanged-{hop}", url=standalone.url, token=token, no_cache=True) as app:
            exchanged = app.fakts.client.loaded_token
            assert app.auth.user.username == "alice"
        assert _exp(exchanged) <= first_exp, f"hop {hop} extended the session"
        token = exchanged
