"""What the fuzzers share: the server under attack, the oracle, and the tally of what it said.

Each fuzzer (``fuzzing_graphql``, ``fuzzing_protocol``, ``fuzzing_oauth``) turns hypothesis
strategies into requests against a real standalone server and checks every answer with the same
oracle: never a 5xx, never an answer later than :data:`ANSWER_BOUND`, never a traceback or SQL
in what the client sees, and, at the end, a server that still answers and logged no unhandled
error. The tests in ``test_fuzz_*.py`` run a bounded number of cases (``ARKITEKT_FUZZ_EXAMPLES``
per target); ``bench/fuzz.py`` runs the same targets for minutes and prints the tally.
"""

from __future__ import annotations

import os
import re
import statistics
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st
from raw_protocol import token_for
from servers import TestServer

EXAMPLES = int(os.environ.get("ARKITEKT_FUZZ_EXAMPLES", "150"))
"""Cases per fuzz target in the test suite (the suite has a dozen targets)."""

ANSWER_BOUND = 25.0
"""Seconds within which every request must be answered (above ``graphql_timeout``, 15 s)."""

LEAKS = re.compile(
    r"Traceback \(most recent call last\)|sqlalchemy|sqlite3\.|asyncpg|"
    r"\bSELECT\b.+\bFROM\b|\bINSERT INTO\b|\bUPDATE\b.+\bSET\b",
    re.IGNORECASE | re.DOTALL,
)
"""What no answer may contain: a Python traceback, the database layer's names, or SQL."""

SERVER_LOG_PROBLEMS = re.compile(
    r"Traceback \(most recent call last\)|Exception in ASGI application|"
    r"unhandled|Task exception was never retrieved|\b500 Internal|GraphQL field \S+ failed"
)
"""What the server's own log may not show after a fuzz run."""

USERS = ("alice", "bob")


class FuzzFailure(AssertionError):
    """An answer the oracle refused (hypothesis shrinks the case that raised it)."""


@dataclass
class Tally:
    """What one fuzz target saw: how many cases, which outcomes, how long they took."""

    target: str
    cases: int = 0
    outcomes: Counter[str] = field(default_factory=Counter)
    seconds: list[float] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)

    def record(self, outcome: str, seconds: float) -> None:
        self.cases += 1
        self.outcomes[outcome] += 1
        self.seconds.append(seconds)

    def fail(self, problem: str) -> None:
        self.failures.append(problem)
        raise FuzzFailure(f"{self.target}: {problem}")

    @property
    def server_errors(self) -> int:
        return sum(n for outcome, n in self.outcomes.items() if outcome.startswith("5"))

    @property
    def hangs(self) -> int:
        return self.outcomes["hang"]

    def p(self, q: float) -> float:
        """The ``q``-th percentile of the case durations, in milliseconds."""
        if not self.seconds:
            return 0.0
        ordered = sorted(self.seconds)
        return 1000 * ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]

    def summary(self) -> str:
        outcomes = ", ".join(f"{k}: {v}" for k, v in sorted(self.outcomes.items()))
        median = 1000 * statistics.median(self.seconds) if self.seconds else 0.0
        return f"{self.target}: {self.cases} cases ({outcomes}); p50 {median:.1f} ms"


@dataclass
class Target:
    """The server under attack and what the fuzzers need of it."""

    server: TestServer
    log: Path
    tokens: dict[str, str]

    @property
    def url(self) -> str:
        return self.server.url

    def log_problems(self) -> list[str]:
        """Lines of the server's log showing an unhandled error (with a line of context)."""
        lines = self.log.read_text(errors="replace").splitlines()
        return [
            " | ".join(lines[max(0, i - 1) : i + 3])
            for i, line in enumerate(lines)
            if SERVER_LOG_PROBLEMS.search(line)
        ]

    def assert_healthy(self) -> None:
        """The server still answers, and its log shows no unhandled error."""
        answer = httpx.get(f"{self.url}/health", timeout=10)
        assert answer.status_code == 200, f"the server stopped answering: {answer.status_code}"
        problems = self.log_problems()
        assert not problems, "the server logged unhandled errors:\n" + "\n".join(problems[:10])


@contextmanager
def target(folder: Path, **server_settings: Any) -> Iterator[Target]:
    """A standalone server (its log in ``folder``) with users alice and bob, and their tokens."""
    log = folder / "server.log"
    folder.mkdir(parents=True, exist_ok=True)
    with TestServer.standalone(folder / "data", users=USERS, log=log, **server_settings) as server:
        tokens = {user: token_for(server.url, user) for user in USERS}
        yield Target(server=server, log=log, tokens=tokens)


def check_http(tally: Tally, send: Callable[[], httpx.Response]) -> httpx.Response | None:
    """Send one request and apply the HTTP oracle; returns the answer (None if it hung)."""
    started = time.monotonic()
    try:
        answer = send()
    except httpx.TimeoutException:
        tally.record("hang", time.monotonic() - started)
        tally.fail(f"no answer within {ANSWER_BOUND:g} s")
        return None
    tally.record(str(answer.status_code), time.monotonic() - started)
    if answer.status_code >= 500:
        tally.fail(f"HTTP {answer.status_code}: {answer.text[:300]}")
    if LEAKS.search(answer.text):
        tally.fail(f"the answer shows the server's insides: {answer.text[:300]}")
    return answer


def run_cases(
    strategy: st.SearchStrategy[Any],
    check: Callable[[Any], None],
    examples: int,
    *,
    run_seed: int = 0,
) -> None:
    """Run ``check`` on ``examples`` cases drawn from ``strategy`` (reproducibly: a fixed seed,
    no example database), shrinking the first failing case before raising it."""

    @seed(run_seed)
    @settings(
        max_examples=examples,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
        print_blob=False,
    )
    @given(strategy)
    def case(value: Any) -> None:
        check(value)

    case()


# -- strategies every fuzzer uses ----------------------------------------------------------------

SCALARS: st.SearchStrategy[Any] = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=40),
)

JSON_VALUES: st.SearchStrategy[Any] = st.recursive(
    SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=12,
)
"""Any JSON value, small."""

HOSTILE_TEXT: st.SearchStrategy[str] = st.one_of(
    st.text(max_size=60),
    st.sampled_from(
        [
            "",
            " ",
            "null",
            "' OR '1'='1",
            "../../etc/passwd",
            "%00",
            "\x00",
            "é" * 200,
            "🦠" * 100,
            "a" * 5000,
            "<script>alert(1)</script>",
            "${jndi:ldap://x}",
            "2026-13-45T25:61:61",
            "-1",
            "1e309",
        ]
    ),
)
"""Strings that break careless parsers: empty, huge, non-ASCII, control characters, injections."""
