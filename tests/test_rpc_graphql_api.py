"""``/rekuest/graphql``: the control plane over real HTTP and real websockets (both
subprotocols), against an in-process server with an SDK agent serving a function."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import websockets
from servers import PASSWORD, Servers, TestServer

from arkitekt import easy


def token_for(url: str, username: str) -> str:
    response = httpx.post(
        f"{url}/f/token/",
        data={
            "grant_type": "password",
            "username": username,
            "password": PASSWORD,
            "manifest": json.dumps({"identifier": "gql", "version": "1"}),
        },
    )
    assert response.status_code == 200, response.text
    return str(response.json()["access_token"])


def gql(url: str, token: str | None, query: str, **variables: Any) -> dict[str, Any]:
    headers = {"authorization": f"Bearer {token}"} if token else {}
    response = httpx.post(
        f"{url}/rekuest/graphql",
        json={"query": query, "variables": variables},
        headers=headers,
        timeout=10,
    )
    body: dict[str, Any] = response.json()
    body["status"] = response.status_code
    return body


def double(x: int) -> int:
    """Twice x."""
    return 2 * x


@pytest.fixture
async def served(servers: Servers) -> AsyncIterator[TestServer]:
    server = servers.in_process(users=("alice", "bob"))
    async with easy("gql-agent", url=server.url, username="alice", password=PASSWORD) as app:
        app.register(double)
        await app.aserve()
        yield server


async def test_unauthenticated_requests_are_refused(served: Any) -> None:
    assert gql(served.url, None, "{ me { username } }")["status"] == 401
    assert gql(served.url, "not-a-token", "{ me { username } }")["status"] == 401


async def test_nodes_are_private_until_shared(served: Any) -> None:
    alice, bob = token_for(served.url, "alice"), token_for(served.url, "bob")
    query = "{ nodes { id name providers interfaces definition } }"
    mine = gql(served.url, alice, query)["data"]["nodes"]
    assert [(n["name"], n["providers"], n["interfaces"]) for n in mine] == [
        ("double", 1, ["double"])
    ]
    assert mine[0]["definition"]["args"][0]["key"] == "x"
    assert gql(served.url, bob, query)["data"]["nodes"] == []
    node = mine[0]["id"]
    refused = gql(
        served.url, bob, "mutation($n: ID!) { assign(node: $n, args: {x: 1}) { id } }", n=node
    )
    assert refused["errors"] and "no such function" in refused["errors"][0]["message"]
    me = gql(served.url, bob, "{ me { username } }")["data"]["me"]
    assert me == {"username": "bob"}


async def test_assign_then_read_the_assignation_and_its_events(served: Any) -> None:
    alice, bob = token_for(served.url, "alice"), token_for(served.url, "bob")
    node = gql(served.url, alice, "{ nodes { id } }")["data"]["nodes"][0]["id"]
    assigned = gql(
        served.url,
        alice,
        "mutation($n: ID!, $a: JSON!) { assign(node: $n, args: $a) { id status } }",
        n=node,
        a={"x": 21},
    )["data"]["assign"]
    query = "query($id: ID!) { assignation(id: $id) { status args events { kind values } } }"
    for _ in range(100):
        found = gql(served.url, alice, query, id=assigned["id"])["data"]["assignation"]
        if found["status"] == "done":
            break
        await asyncio.sleep(0.05)
    assert found["args"] == {"x": 21}
    assert [(e["kind"], e["values"]) for e in found["events"]] == [
        ("assigned", None),
        ("done", [42]),
    ]
    # bob cannot read it: it does not exist for him
    assert gql(served.url, bob, query, id=assigned["id"])["data"]["assignation"] is None
    listed = gql(served.url, alice, "{ assignations { id status } }")["data"]["assignations"]
    assert {"id": assigned["id"], "status": "done"} in listed
    assert gql(served.url, bob, "{ assignations { id } }")["data"]["assignations"] == []
    agents = gql(served.url, alice, "{ agents { app connected } }")["data"]["agents"]
    assert {"app": "gql-agent", "connected": True} in agents


@pytest.mark.parametrize(
    ("bad_args", "mentions"),
    [({"x": "one"}, "must be an int"), ({}, "required"), ({"x": 1, "y": 2}, "not a parameter")],
)
async def test_bad_arguments_are_errors_not_500(
    served: Any, bad_args: dict[str, Any], mentions: str
) -> None:
    alice = token_for(served.url, "alice")
    node = gql(served.url, alice, "{ nodes { id } }")["data"]["nodes"][0]["id"]
    answer = gql(
        served.url,
        alice,
        "mutation($n: ID!, $a: JSON!) { assign(node: $n, args: $a) { id } }",
        n=node,
        a=bad_args,
    )
    assert answer["status"] == 200 and mentions in answer["errors"][0]["message"]
    unknown = gql(served.url, alice, 'mutation { assign(node: "nope", args: {}) { id } }')
    assert "no such function" in unknown["errors"][0]["message"]


async def _subscribe(url: str, token: str, protocol: str, call_id: str) -> list[dict[str, Any]]:
    query = "subscription($id: ID!) { assignationEvents(assignation: $id) { index kind values } }"
    events: list[dict[str, Any]] = []
    async with websockets.connect(
        url.replace("http", "ws") + "/rekuest/graphql", subprotocols=[protocol]
    ) as ws:
        await ws.send(json.dumps({"type": "connection_init", "payload": {"token": token}}))
        assert json.loads(await ws.recv())["type"] == "connection_ack"
        start = "subscribe" if protocol == "graphql-transport-ws" else "start"
        payload = {"query": query, "variables": {"id": call_id}}
        await ws.send(json.dumps({"type": start, "id": "1", "payload": payload}))
        async with asyncio.timeout(10):
            while True:
                message = json.loads(await ws.recv())
                if message["type"] in ("next", "data"):
                    if message["payload"].get("errors"):
                        raise AssertionError(message["payload"]["errors"])
                    events.append(message["payload"]["data"]["assignationEvents"])
                elif message["type"] == "complete":
                    return events
                elif message["type"] in ("ka", "ping"):
                    continue
                else:
                    raise AssertionError(message)


@pytest.mark.parametrize("protocol", ["graphql-transport-ws", "graphql-ws"])
async def test_subscription_streams_the_events(served: Any, protocol: str) -> None:
    alice = token_for(served.url, "alice")
    node = gql(served.url, alice, "{ nodes { id } }")["data"]["nodes"][0]["id"]
    call_id = gql(
        served.url, alice, "mutation($n: ID!) { assign(node: $n, args: {x: 5}) { id } }", n=node
    )["data"]["assign"]["id"]
    events = await _subscribe(served.url, alice, protocol, call_id)
    assert events[-1] == {"index": events[-1]["index"], "kind": "done", "values": [10]}


async def test_a_subscription_needs_a_valid_token(served: Any) -> None:
    async with websockets.connect(
        served.url.replace("http", "ws") + "/rekuest/graphql",
        subprotocols=["graphql-transport-ws"],
    ) as ws:
        await ws.send(json.dumps({"type": "connection_init", "payload": {"token": "forged"}}))
        with pytest.raises(websockets.ConnectionClosed) as caught:
            await asyncio.wait_for(ws.recv(), 5)
    assert caught.value.rcvd is not None and caught.value.rcvd.code == 4403


async def test_another_users_call_cannot_be_followed_or_cancelled(served: Any) -> None:
    alice, bob = token_for(served.url, "alice"), token_for(served.url, "bob")
    node = gql(served.url, alice, "{ nodes { id } }")["data"]["nodes"][0]["id"]
    call_id = gql(
        served.url, alice, "mutation($n: ID!) { assign(node: $n, args: {x: 1}) { id } }", n=node
    )["data"]["assign"]["id"]
    cancelled = gql(served.url, bob, "mutation($a: ID!) { cancel(assignation: $a) }", a=call_id)
    assert cancelled["data"]["cancel"] is False
    with pytest.raises(AssertionError) as caught:
        await _subscribe(served.url, bob, "graphql-transport-ws", call_id)
    assert "no such assignation" in str(caught.value)


async def test_share_template_opens_a_function_to_another_user(served: Any) -> None:
    alice, bob = token_for(served.url, "alice"), token_for(served.url, "bob")
    template = gql(served.url, alice, "{ templates(mine: true) { id interface } }")["data"][
        "templates"
    ][0]
    assert template["interface"] == "double"
    share = 'mutation($t: ID!) { shareTemplate(template: $t, users: ["bob"]) { users } }'
    # bob cannot share alice's template with himself
    assert (
        "no such template" in gql(served.url, bob, share, t=template["id"])["errors"][0]["message"]
    )
    assert gql(served.url, alice, share, t=template["id"])["data"]["shareTemplate"] == {
        "users": ["bob"]
    }
    node = gql(served.url, bob, "{ nodes { id providers } }")["data"]["nodes"]
    assert [n["providers"] for n in node] == [1]
    assign = "mutation($n: ID!, $t: ID) { assign(node: $n, args: {x: 4}, template: $t) { id } }"
    # a call goes to bob's own apps unless he names alice's template (sharing is not routing)
    refused = gql(served.url, bob, assign, n=node[0]["id"])["errors"][0]["message"]
    assert "no_provider" in refused
    call_id = gql(served.url, bob, assign, n=node[0]["id"], t=template["id"])["data"]["assign"][
        "id"
    ]
    events = await _subscribe(served.url, bob, "graphql-ws", call_id)
    assert events[-1]["kind"] == "done" and events[-1]["values"] == [8]
    unshare = 'mutation($t: ID!) { unshareTemplate(template: $t, users: ["bob"]) { users } }'
    assert gql(served.url, alice, unshare, t=template["id"])["data"]["unshareTemplate"] == {
        "users": []
    }
    assert gql(served.url, bob, "{ nodes { id } }")["data"]["nodes"] == []
