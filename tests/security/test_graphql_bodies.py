"""Issue 11, findings 4 and 9: GraphQL bodies are bounded, and a body that is not UTF-8 text is
a client error (400), not a server error (500)."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from servers import TestServer

from arkitekt.server.config import ServerConfig

ENDPOINTS = ["/mikro/graphql", "/rekuest/graphql"]
MAX_QUERY_BODY = ServerConfig().graphql_max_body_bytes


@pytest.fixture(scope="module")
def token(standalone: TestServer) -> str:
    with standalone.app("alice", "bodies") as app:
        return str(app.fakts.client.loaded_token)


def _post(server: TestServer, path: str, token: str, body: bytes) -> httpx.Response:
    headers = {"authorization": f"Bearer {token}", "content-type": "application/json"}
    return httpx.post(server.url + path, content=body, headers=headers, timeout=30)


@pytest.mark.parametrize("path", ENDPOINTS)
def test_a_body_that_is_not_text_is_refused(standalone: TestServer, token: str, path: str) -> None:
    answer = _post(standalone, path, token, b'{"query": "\xff\xfe"}')
    assert answer.status_code == 400 and "UTF-8" in answer.json()["errors"][0]["message"]


@pytest.mark.parametrize("path", ENDPOINTS)
def test_a_body_too_large_is_refused_unread(standalone: TestServer, token: str, path: str) -> None:
    padding = b" " * (MAX_QUERY_BODY + 1)
    answer = _post(standalone, path, token, b'{"query": "{ __typename }"}' + padding)
    assert answer.status_code == 413

    def chunks() -> Iterator[bytes]:  # no content-length: the server stops reading at the limit
        yield b'{"query": "{ __typename }"'
        for _ in range(MAX_QUERY_BODY // 65536 + 2):
            yield b" " * 65536
        yield b"}"

    headers = {"authorization": f"Bearer {token}", "content-type": "application/json"}
    streamed = httpx.post(standalone.url + path, content=chunks(), headers=headers, timeout=30)
    assert streamed.status_code == 413


@pytest.mark.parametrize("path", ENDPOINTS)
def test_an_ordinary_query_still_works(standalone: TestServer, token: str, path: str) -> None:
    answer = _post(standalone, path, token, b'{"query": "{ __typename }"}')
    assert answer.status_code == 200 and answer.json()["data"]["__typename"] == "Query"


@pytest.mark.parametrize("path", ENDPOINTS)
def test_a_removed_users_token_is_refused(standalone: TestServer, path: str) -> None:
    """Issue 11, finding 9: tokens of deleted users no longer work on GraphQL."""
    standalone.add_user(f"gone{len(path)}")
    with standalone.app(f"gone{len(path)}", "soon-gone") as app:
        token = str(app.fakts.client.loaded_token)
    assert _post(standalone, path, token, b'{"query": "{ __typename }"}').status_code == 200
    standalone.cli("user", "remove", f"gone{len(path)}")
    answer = _post(standalone, path, token, b'{"query": "{ __typename }"}')
    assert answer.status_code == 401 and "no longer exists" in answer.text
