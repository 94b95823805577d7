"""The server's Prometheus metrics, and ``/metrics`` to scrape them.

Each running server has its own registry (several servers may share one process: tests, several
``local()`` apps), so nothing here is global. Counters are cheap (a lock and an add), so the hot
path counts as it goes; what is already kept elsewhere (connected agents, the recorder's backlog)
is read when scraped.

``/metrics`` answers only when ``metrics_token`` is set, and only to a request presenting it as
a bearer token (``authorization: { credentials: ... }`` in Prometheus' scrape config): call
counts and names of nothing, but still the operator's to see.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import BaseRoute, Route

CALL_SECONDS_BUCKETS = (
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
    1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 1800.0, 3600.0,
)  # fmt: skip
"""From a no-op call on loopback (about a millisecond) to an hour-long acquisition."""


class ServerMetrics:
    """What one server counts; :meth:`render` gives the Prometheus text format."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.calls_started = Counter(
            "arkitekt_calls_started", "Calls the broker accepted.", registry=r
        )
        self.calls_finished = Counter(
            "arkitekt_calls_finished", "Calls that ended, by final status.", ["status"], registry=r
        )
        self.call_seconds = Histogram(
            "arkitekt_call_duration_seconds",
            "Seconds from a call's acceptance to its final event.",
            ["status"],
            buckets=CALL_SECONDS_BUCKETS,
            registry=r,
        )
        self.connections = Gauge(
            "arkitekt_websocket_connections", "Apps connected to /rekuest/ws.", registry=r
        )
        self.agents = Gauge("arkitekt_agents_connected", "Agents connected.", registry=r)
        self.websocket_messages = Counter(
            "arkitekt_websocket_messages",
            "Protocol messages on /rekuest/ws, by direction (in: from apps).",
            ["direction"],
            registry=r,
        )
        self.graphql_requests = Counter(
            "arkitekt_graphql_requests", "GraphQL operations, by API.", ["api"], registry=r
        )
        self.graphql_errors = Counter(
            "arkitekt_graphql_errors",
            "GraphQL operations answered with errors, by API.",
            ["api"],
            registry=r,
        )
        self.upload_bytes = Counter(
            "arkitekt_upload_bytes", "Bytes of finished uploads, by kind.", ["kind"], registry=r
        )
        self.recorder_backlog = Gauge(
            "arkitekt_recorder_backlog", "Call history rows waiting to be stored.", registry=r
        )

    def read_agents(self, count: Callable[[], float]) -> None:
        """Where the number of connected agents is read when scraped."""
        self.agents.set_function(count)

    def read_recorder_backlog(self, count: Callable[[], float]) -> None:
        """Where the history recorder's backlog is read when scraped."""
        self.recorder_backlog.set_function(count)

    def call_finished(self, status: str, seconds: float) -> None:
        self.calls_finished.labels(status).inc()
        self.call_seconds.labels(status).observe(seconds)

    def render(self) -> bytes:
        text: bytes = generate_latest(self.registry)
        return text


async def metrics(request: Request) -> Response:
    state = request.app.state.arkitekt
    expected = state.config.metrics_token
    if expected is None:
        return PlainTextResponse("Metrics are off: set ARKITEKT_METRICS_TOKEN.", status_code=404)
    scheme, _, presented = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(
        presented.strip().encode(), expected.get_secret_value().encode()
    ):
        return PlainTextResponse(
            "A bearer token (metrics_token) is required.",
            status_code=401,
            headers={"www-authenticate": "Bearer"},
        )
    return Response(state.metrics.render(), media_type=CONTENT_TYPE_LATEST)


def routes() -> list[BaseRoute]:
    return [Route("/metrics", metrics, methods=["GET"])]
