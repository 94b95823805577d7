"""Fuzzing both GraphQL endpoints: documents generated from the server's own schemas.

hypothesis-graphql builds queries and mutations from each Strawberry schema: valid ones (every
field, argument and input the schema has, with arbitrary values) and, in its negative mode,
documents that break the schema's rules (wrong types, missing arguments, unknown fields). They
go over HTTP with alice's token, bob's, a garbage one or none; raw bodies (random bytes, JSON of
any shape, wrong content types) go too. The oracle (:func:`fuzzing.check_http`) wants a
GraphQL-shaped answer without a 5xx, a traceback or SQL, in time.
"""

from __future__ import annotations

import json
from typing import Any

import graphql
import httpx
from fuzzing import ANSWER_BOUND, HOSTILE_TEXT, JSON_VALUES, Tally, Target, check_http
from hypothesis import strategies as st
from hypothesis_graphql import Mode, mutations, nodes, queries

from arkitekt.server.rpc.graphql_api import schema as rekuest_schema
from arkitekt.server.storage.graphql_api import schema as mikro_schema

ENDPOINTS = {"rekuest": "/rekuest/graphql", "mikro": "/mikro/graphql"}
SCHEMAS = {
    "rekuest": graphql.build_schema(rekuest_schema.as_str()),
    "mikro": graphql.build_schema(mikro_schema.as_str()),
}
ANSWER_STATUSES = {200, 400, 401, 403, 413, 415, 422, 429}
"""What a GraphQL endpoint may answer a POST with."""

NAMES = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,8}", fullmatch=True)


def _json_node(value: Any) -> graphql.ValueNode:
    """A GraphQL literal for a JSON value (for the ``JSON`` scalar)."""
    if value is None:
        return nodes.Null
    if isinstance(value, bool):
        return nodes.Boolean(value)
    if isinstance(value, int):
        return nodes.Int(value)
    if isinstance(value, float):
        return nodes.Float(value)
    if isinstance(value, str):
        return nodes.String(value)
    if isinstance(value, list):
        return nodes.List([_json_node(item) for item in value])
    fields = [
        graphql.ObjectFieldNode(name=graphql.NameNode(value=key), value=_json_node(item))
        for key, item in value.items()
    ]
    return nodes.Object(fields)


JSON_OBJECTS = st.dictionaries(NAMES, JSON_VALUES, max_size=4)
CUSTOM_SCALARS: dict[str, st.SearchStrategy[graphql.ValueNode]] = {
    "JSON": st.one_of(JSON_OBJECTS, JSON_VALUES).map(_json_node),
    "DateTime": st.one_of(
        st.datetimes().map(lambda d: d.isoformat()),
        st.datetimes(timezones=st.timezones()).map(lambda d: d.isoformat()),
        HOSTILE_TEXT,
    ).map(nodes.String),
    "BigInt": st.one_of(
        st.integers(min_value=-(2**80), max_value=2**80).map(nodes.Int),
        HOSTILE_TEXT.map(nodes.String),
    ),
}


def documents(schema: str, kind: str, mode: Mode) -> st.SearchStrategy[str]:
    """Query or mutation documents of one schema (``mode``: valid, or breaking its rules).

    Subscriptions are not served over HTTP; the websocket fuzzer covers frames."""
    build = queries if kind == "queries" else mutations
    strategy: st.SearchStrategy[str] = build(
        SCHEMAS[schema], custom_scalars=CUSTOM_SCALARS, mode=mode
    ).map(str)
    return strategy


def credentials(target: Target) -> st.SearchStrategy[str | None]:
    return st.sampled_from([target.tokens["alice"], target.tokens["bob"], "garbage", None])


def send_document(target: Target, tally: Tally, schema: str, case: tuple[str, str | None]) -> None:
    """POST one document and check the answer."""
    document, token = case
    headers = {"authorization": f"Bearer {token}"} if token is not None else {}
    answer = check_http(
        tally,
        lambda: httpx.post(
            target.url + ENDPOINTS[schema],
            json={"query": document},
            headers=headers,
            timeout=ANSWER_BOUND,
        ),
    )
    if answer is not None:
        _graphql_shaped(tally, answer)


def _graphql_shaped(tally: Tally, answer: httpx.Response) -> None:
    if answer.status_code not in ANSWER_STATUSES:
        tally.fail(f"HTTP {answer.status_code} is not a GraphQL answer: {answer.text[:200]}")
    try:
        body = answer.json()
    except ValueError:
        tally.fail(f"HTTP {answer.status_code} answered with non-JSON: {answer.text[:200]}")
        return
    if not isinstance(body, dict) or not ({"data", "errors"} & body.keys()):
        tally.fail(f"HTTP {answer.status_code}: not a GraphQL result: {answer.text[:200]}")


RAW_BODIES: st.SearchStrategy[tuple[bytes, str]] = st.tuples(
    st.one_of(
        st.binary(max_size=300),
        JSON_VALUES.map(lambda v: json.dumps(v).encode()),
        st.fixed_dictionaries(
            {"query": st.one_of(HOSTILE_TEXT, JSON_VALUES)},
            optional={
                "variables": JSON_VALUES,
                "operationName": st.one_of(HOSTILE_TEXT, JSON_VALUES),
                "extensions": JSON_VALUES,
            },
        ).map(lambda v: json.dumps(v).encode()),
        HOSTILE_TEXT.map(lambda text: text.encode("utf-8", "surrogatepass")),
    ),
    st.sampled_from(
        [
            "application/json",
            "application/graphql",
            "text/plain",
            "multipart/form-data; boundary=x",
            "application/x-www-form-urlencoded",
            "",
        ]
    ),
)
"""Bodies of any shape under content types GraphQL servers read (or should refuse)."""


def send_raw(target: Target, tally: Tally, schema: str, case: tuple[bytes, str]) -> None:
    """POST a raw body with alice's token and check the answer."""
    body, content_type = case
    headers = {"authorization": f"Bearer {target.tokens['alice']}"}
    if content_type:
        headers["content-type"] = content_type
    answer = check_http(
        tally,
        lambda: httpx.post(
            target.url + ENDPOINTS[schema], content=body, headers=headers, timeout=ANSWER_BOUND
        ),
    )
    if answer is not None and answer.status_code not in ANSWER_STATUSES:
        tally.fail(f"HTTP {answer.status_code} for a raw body: {answer.text[:200]}")
