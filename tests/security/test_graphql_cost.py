"""Issue 11, finding 4: GraphQL requests are bounded. Alias, token, depth and cost bombs are
refused before they run (fast, and the server's memory stays put); list fields refuse pages
over the maximum, naming the argument; a query is stopped at ``graphql_timeout``; and one
user's flood of expensive queries queues behind that user's own turns, not everyone's."""

from __future__ import annotations

import statistics
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from servers import Servers, TestServer

REKUEST, MIKRO = "/rekuest/graphql", "/mikro/graphql"


def _token(server: TestServer, user: str = "alice") -> str:
    with server.app(user, "cost") as app:
        return str(app.fakts.client.loaded_token)


def _query(server: TestServer, path: str, token: str, query: str, timeout: float = 60) -> Any:
    answer = httpx.post(
        server.url + path,
        json={"query": query},
        headers={"authorization": f"Bearer {token}"},
        timeout=timeout,
    )
    assert answer.status_code in (200, 400), answer.text
    return answer.json()


def _aliases(field: str, count: int) -> str:
    return "{ " + " ".join(f"a{i}: {field}" for i in range(count)) + " }"


def _rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestServer]:
    """``arkitekt server`` with the default limits."""
    with TestServer.standalone(tmp_path_factory.mktemp("cost"), users=("alice",)) as server:
        yield server


BOMBS = {
    "100 aliases": (REKUEST, _aliases("nodes(limit: 200) { id definition interfaces }", 100)),
    "1000 aliases": (REKUEST, _aliases("templates { id }", 1000)),
    "images x 100": (MIKRO, _aliases("images(pagination: {limit: 500}) { id name shape }", 100)),
    "nested lists": (
        REKUEST,
        "{ a: assignations(limit: 200) { id events { index kind message values } } "
        " b: assignations(limit: 200) { id events { index kind message values } } }",
    ),
    "introspection": (
        REKUEST,
        "{ __schema { types { fields { type { fields { type { fields { type { fields { name "
        "} } } } } } } } } }",
    ),
}


@pytest.mark.parametrize("bomb", list(BOMBS))
def test_bombs_are_refused_before_they_run(server: TestServer, bomb: str) -> None:
    path, query = BOMBS[bomb]
    token = _token(server)
    assert server.process is not None
    before = _rss_kib(server.process.pid)
    started = time.monotonic()
    answer = _query(server, path, token, query)
    took = time.monotonic() - started
    assert answer.get("data") is None and answer["errors"], answer
    message = answer["errors"][0]["message"]
    limits = ("aliases found", "more than", "maximum operation depth")
    assert any(words in message for words in limits), message
    assert took < 5, f"refusing took {took:.1f} s"
    assert _rss_kib(server.process.pid) - before < 50_000  # KiB: the server did not balloon


def test_pages_over_the_maximum_are_refused_naming_the_argument(server: TestServer) -> None:
    token = _token(server)
    nodes = _query(server, REKUEST, token, "{ nodes(limit: 100000) { id } }")
    assert "limit must be 1 to 500" in nodes["errors"][0]["message"], nodes
    calls = _query(server, REKUEST, token, "{ assignations(limit: 501) { id } }")
    assert "limit must be 1 to 500" in calls["errors"][0]["message"], calls
    images = _query(server, MIKRO, token, "{ images(pagination: {limit: 501}) { id } }")
    assert "pagination.limit must be 1 to 500" in images["errors"][0]["message"], images
    fine = _query(server, REKUEST, token, "{ nodes(limit: 500) { id } assignations { id } }")
    assert "errors" not in fine and fine["data"]["nodes"] == [], fine


def test_a_slow_query_is_stopped_at_the_time_limit(tmp_path: Path) -> None:
    settings: dict[str, Any] = {
        "graphql_timeout": 0.3,
        "graphql_max_aliases": 10_000,
        "graphql_max_tokens": 1_000_000,
        "graphql_max_cost": 10**9,
    }
    with TestServer.in_process(tmp_path / "server", users=("alice",), **settings) as server:
        token = _token(server)
        started = time.monotonic()  # 2,000 database round trips: far longer than 0.3 s
        answer = _query(server, REKUEST, token, _aliases("agents { id }", 2000))
        took = time.monotonic() - started
        codes = {(e.get("extensions") or {}).get("code") for e in answer.get("errors", [])}
        assert codes == {"TIMEOUT"}, answer.get("errors", answer)[:2]
        assert "longer than the server allows" in answer["errors"][0]["message"]
        assert took < 10, f"answered after {took:.1f} s"
        ordinary = _query(server, REKUEST, token, "{ me { username } agents { id } }")
        assert ordinary["data"]["me"]["username"] == "alice", ordinary


def test_one_users_flood_does_not_starve_another(tmp_path: Path) -> None:
    """Alice sends 100 queries at once: 30 alias bombs and 70 as expensive as the limits allow.
    Bob's small queries meanwhile stay fast: the bombs are refused before they run, and all
    of them take turns among Alice's own slots, parsing included (what exceeds her queue is
    refused at once)."""
    with TestServer.standalone(tmp_path / "server", users=("alice", "bob")) as server:
        alice, bob = _token(server, "alice"), _token(server, "bob")
        bomb = _aliases("agents { id }", 300)
        allowed = _aliases("agents { id }", 20)
        small = "{ me { username } }"
        _query(server, REKUEST, bob, small)  # warm
        idle = []
        for _ in range(3):
            started = time.monotonic()
            _query(server, REKUEST, bob, small)
            idle.append(time.monotonic() - started)
        answers: dict[str, list[Any]] = {bomb: [], allowed: []}

        def send(query: str) -> None:
            answers[query].append(_query(server, REKUEST, alice, query, timeout=120))

        flood = [
            threading.Thread(target=send, args=(bomb if i % 10 < 3 else allowed,))
            for i in range(100)
        ]
        for thread in flood:
            thread.start()
        time.sleep(0.2)  # her queries are arriving, queued or running
        loaded = []
        for _ in range(5):
            started = time.monotonic()
            answer = _query(server, REKUEST, bob, small)
            loaded.append(time.monotonic() - started)
            assert answer["data"]["me"]["username"] == "bob", answer
        for thread in flood:
            thread.join(180)
        median = statistics.median(loaded)
        print(f"bob: idle {statistics.median(idle):.3f} s, under alice's flood {median:.3f} s")
        assert median < max(2.0, 10 * statistics.median(idle)), (idle, loaded)
        assert len(answers[bomb]) == 30 and len(answers[allowed]) == 70

        def codes(query: str) -> set[str]:
            return {
                str((error.get("extensions") or {}).get("code"))
                for answer in answers[query]
                for error in answer.get("errors", [])
            }

        # a bomb is refused for its shape, or before it is even parsed when her queue is full
        assert "BAD_INPUT" in codes(bomb) and codes(bomb) <= {"BAD_INPUT", "TOO_MANY_REQUESTS"}
        assert codes(allowed) <= {"TOO_MANY_REQUESTS"}


def test_one_user_may_send_only_so_many_document_bytes(servers: Servers) -> None:
    """Parsing is paid before any shape limit can refuse a document: a user sending more
    document bytes than ``graphql_user_document_rate`` is refused before parsing; another user
    is not affected, and the refusal says what to do."""
    server = servers.in_process(users=("alice", "bob"), graphql_user_document_rate="2000/minute")
    alice, bob = _token(server, "alice"), _token(server, "bob")
    padded = "{ me { username } }" + " " * 580  # 600 bytes (whitespace is parsed too)
    answers = [_query(server, REKUEST, alice, padded) for _ in range(5)]
    served = [a for a in answers if a.get("data")]
    refused = [a for a in answers if a.get("errors")]
    assert len(served) == 3 and len(refused) == 2, answers
    error = refused[0]["errors"][0]
    assert error["extensions"]["code"] == "TOO_MANY_REQUESTS"
    assert "2000 per 1 minute" in error["message"] and "wait" in error["message"]
    assert _query(server, REKUEST, bob, padded)["data"]["me"]["username"] == "bob"
