"""Issue 11, finding 2 (its last part): no error message carries SQL, parameters or another
user's data. A database that fails under the server (here another process renames a table
away) makes a resolver fail; the caller gets "Unexpected error." and nothing of the query."""

from __future__ import annotations

from typing import Any

import httpx
from raw_protocol import token_for
from servers import Servers

SQL_WORDS = (
    "select",
    "sqlite",
    "operationalerror",
    "no such table",
    "rpc_assignations",
    "[sql",
    "asyncpg",
    "undefinedtable",
    "does not exist",
)


def _ask(url: str, token: str, query: str) -> dict[str, Any]:
    answer = httpx.post(
        f"{url}/rekuest/graphql",
        json={"query": query},
        headers={"authorization": f"Bearer {token}"},
        timeout=60,
    )
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


def test_a_database_failure_reaches_the_caller_without_its_text(servers: Servers) -> None:
    server = servers.in_process(users=("alice",))
    token = token_for(server.url, "alice")
    query = "{ assignations(limit: 5) { id args } }"
    assert _ask(server.url, token, query)["data"] == {"assignations": []}  # warms the caches

    server.tamper("ALTER TABLE rpc_assignations RENAME TO rpc_assignations_away")
    try:
        failed = _ask(server.url, token, query)
    finally:
        server.tamper("ALTER TABLE rpc_assignations_away RENAME TO rpc_assignations")
    assert [e["message"] for e in failed["errors"]] == ["Unexpected error."]
    assert not any(word in str(failed).lower() for word in SQL_WORDS), failed
    # refusals worded for the caller still arrive as they are
    refused = _ask(server.url, token, "{ assignations(limit: 100000) { id } }")
    assert "limit" in refused["errors"][0]["message"]
    assert _ask(server.url, token, query)["data"] == {"assignations": []}
