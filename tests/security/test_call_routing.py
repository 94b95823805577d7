"""Issue 11, finding 1: a call goes only to a provider its caller chose.

Nodes are definitions shared by hash, so bob can register a function identical to alice's
(here under another interface name) and share it with everyone. Before the fix, alice's
``call(find(interface="add"), ...)`` was routed to either agent, and bob's received her
arguments and could forge her results. Now routing never crosses users unless the caller names
the other user's templates (``owner=``, ``shared=True``, a GraphQL ``template``).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from servers import TestServer, wait_for

from arkitekt import App, NodeNotFoundError, NoProviderError, call, find

SPIED: list[tuple[int, int]] = []
"""Arguments that reached bob's impostor."""


def _alices_add(a: int, b: int) -> int:
    """Add two numbers."""
    return a + b


def _bobs_add(a: int, b: int) -> int:
    """Add two numbers."""
    SPIED.append((a, b))
    return -1


# the same definition (name, docstring, ports) makes the same node: the precondition of the attack
_alices_add.__name__ = _bobs_add.__name__ = "add"


@pytest.fixture(scope="module")
def agents(standalone: TestServer) -> Iterator[tuple[App, App]]:
    """alice serves ``add``; bob serves an identical ``add`` as "steal", shared with everyone."""
    alice = standalone.app("alice", "routing-alice")
    bob = standalone.app("bob", "routing-bob")
    with alice, bob:
        alice.register(_alices_add, interface="add")
        bob.register(_bobs_add, interface="steal")
        alice.serve()
        bob.serve()
        assert bob.rpc.share("steal", everyone=True) == ["*"]
        yield alice, bob


@pytest.fixture(autouse=True)
def _nothing_spied() -> None:
    SPIED.clear()


def test_the_impostor_offers_the_same_node(agents: tuple[App, App]) -> None:
    alice, bob = agents
    theirs = find(interface="steal", app=bob)
    assert find(interface="add", app=alice).id == theirs.id


def test_finding_by_interface_never_reaches_another_users_template(
    standalone: TestServer, agents: tuple[App, App]
) -> None:
    with standalone.app("alice", "routing-caller") as caller:
        node = find(interface="add", app=caller)
        assert node.owners == ["alice"]
        assert [call(node, i, 1) for i in range(8)] == [i + 1 for i in range(8)]
        by_id = find(node_id=node.id, app=caller)
        assert by_id.owners == ["alice"]
        assert [call(by_id, i, 2) for i in range(4)] == [i + 2 for i in range(4)]
        with node:  # a reservation goes through the chosen templates as well
            assert [call(node, i, 3) for i in range(4)] == [i + 3 for i in range(4)]
    assert SPIED == []


def test_another_users_function_is_called_only_when_named(
    standalone: TestServer, agents: tuple[App, App]
) -> None:
    with standalone.app("alice", "routing-chooser") as caller:
        with pytest.raises(NodeNotFoundError, match="owner='bob'"):
            find(interface="steal", app=caller)  # not hers: the error says whose it is
        theirs = find(interface="steal", owner="bob", app=caller)
        assert theirs.owners == ["bob"]
        assert call(theirs, 2, 3) == -1  # she chose bob's, and bob's answered
        anyone = find(node_id=theirs.id, shared=True, app=caller)
        assert anyone.owners == ["alice", "bob"]
    assert SPIED == [(2, 3)]


def test_an_unknown_owner_looks_like_no_share(
    standalone: TestServer, agents: tuple[App, App]
) -> None:
    with standalone.app("bob", "routing-bob-caller") as caller:
        for owner in ("alice", "nobody"):  # alice shares nothing with bob; nobody does not exist
            with pytest.raises(NodeNotFoundError):
                find(interface="add", owner=owner, app=caller)


def _graphql(server: TestServer, app: App, query: str, **variables: Any) -> dict[str, Any]:
    token = str(app.fakts.client.loaded_token)
    answer = httpx.post(
        f"{server.url}/rekuest/graphql",
        json={"query": query, "variables": variables},
        headers={"authorization": f"Bearer {token}"},
        timeout=30,
    )
    answer.raise_for_status()
    body: dict[str, Any] = answer.json()
    return body


ASSIGN = """
mutation ($node: ID!, $args: JSON!, $template: ID) {
  assign(node: $node, args: $args, template: $template) { id }
}
"""
RESULT = "query ($id: ID!) { assignation(id: $id) { status events { kind values } } }"


def _assign_and_wait(server: TestServer, app: App, **variables: Any) -> dict[str, Any]:
    body = _graphql(server, app, ASSIGN, **variables)
    if body.get("errors"):
        return body
    call_id = body["data"]["assign"]["id"]

    def finished() -> dict[str, Any] | None:
        found = _graphql(server, app, RESULT, id=call_id)["data"]["assignation"]
        return found if found["status"] in ("done", "error", "lost", "cancelled") else None

    return wait_for(finished, timeout=30, what="the call to finish")


def test_graphql_assign_goes_to_your_own_templates_unless_you_name_one(
    standalone: TestServer, agents: tuple[App, App]
) -> None:
    alice, bob = agents
    node = find(interface="add", app=alice)
    mine = _assign_and_wait(standalone, alice, node=node.id, args={"a": 1, "b": 2})
    assert mine["status"] == "done" and mine["events"][-1]["values"] == [3]
    assert SPIED == []

    bobs_template = find(interface="steal", app=bob).template_ids
    assert bobs_template is not None
    theirs = _assign_and_wait(
        standalone, alice, node=node.id, args={"a": 1, "b": 2}, template=bobs_template[0]
    )
    assert theirs["events"][-1]["values"] == [-1] and SPIED == [(1, 2)]

    # bob may not name alice's template: she never shared it with him
    alices_template = node.template_ids
    assert alices_template is not None
    refused = _assign_and_wait(
        standalone, bob, node=node.id, args={"a": 1, "b": 2}, template=alices_template[0]
    )
    assert "no_provider" in refused["errors"][0]["message"]


def test_an_unshared_template_stops_taking_calls_at_once(
    standalone: TestServer, agents: tuple[App, App]
) -> None:
    bob = agents[1]
    with standalone.app("alice", "routing-unshared") as caller:
        theirs = find(interface="steal", owner="bob", app=caller)
        assert bob.rpc.unshare("steal", everyone=True) == []
        try:
            with pytest.raises(NoProviderError):
                call(theirs, 1, 1)
        finally:
            bob.rpc.share("steal", everyone=True)
    assert SPIED == []
