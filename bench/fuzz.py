"""The long fuzz run: every fuzzer of the test suite for minutes instead of seconds. Prints a
table; run with ``python bench/fuzz.py [--minutes 4]``.

The targets, the oracle and the server are those of ``tests/security/test_fuzz_*.py`` (see
``tests/security/fuzzing.py``): both GraphQL endpoints (documents from their schemas, valid and
invalid, and raw bodies), ``/rekuest/ws`` frames, and the login surface. Each target gets an
equal share of the time, in batches of cases with a new seed each; a failing case is counted
and the run goes on. At the end: the server's resident memory and whether it still answers with
a clean log. Target (issue 11): zero 5xx and zero hangs.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent / "tests"), str(HERE.parent / "tests" / "security")]

from core import print_table, rss_mib  # noqa: E402
from fuzzing import FuzzFailure, Tally, Target, run_cases, target  # noqa: E402
from fuzzing_graphql import RAW_BODIES, credentials, documents, send_document, send_raw  # noqa: E402
from fuzzing_oauth import requests, send_request  # noqa: E402
from fuzzing_protocol import CASES, send_frame  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from hypothesis_graphql import Mode  # noqa: E402

BATCH = 50

Check = Callable[[Target, Tally, Any], None]


def _documents_of(schema: str) -> Check:
    return lambda t, tally, case: send_document(t, tally, schema, case)


def _raw_bodies_of(schema: str) -> Check:
    return lambda t, tally, case: send_raw(t, tally, schema, case)


def targets(server: Target) -> list[tuple[str, st.SearchStrategy[Any], Check]]:
    found: list[tuple[str, st.SearchStrategy[Any], Check]] = []
    for schema in ("rekuest", "mikro"):
        for kind in ("queries", "mutations"):
            for mode in (Mode.POSITIVE, Mode.NEGATIVE):
                cases = st.tuples(documents(schema, kind, mode), credentials(server))
                found.append(
                    (
                        f"{schema} {kind} ({'valid' if mode is Mode.POSITIVE else 'invalid'})",
                        cases,
                        _documents_of(schema),
                    )
                )
        found.append(
            (
                f"{schema} raw bodies",
                RAW_BODIES,
                _raw_bodies_of(schema),
            )
        )
    found.append(("/rekuest/ws frames", CASES, send_frame))
    found.append(("login surface", requests(server), send_request))
    return found


def fuzz(
    server: Target,
    name: str,
    strategy: st.SearchStrategy[Any],
    check: Check,
    seconds: float,
    examples: int | None,
) -> Tally:
    """Run one target for ``seconds`` (or ``examples`` cases), counting failing cases."""
    tally = Tally(name)

    def checked(case: Any) -> None:
        with contextlib.suppress(FuzzFailure):  # counted in the tally; go on
            check(server, tally, case)

    ends = time.monotonic() + seconds
    run_seed = 0
    while time.monotonic() < ends and (examples is None or tally.cases < examples):
        run_cases(strategy, checked, BATCH, run_seed=run_seed)
        run_seed += 1
    return tally


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=4.0, help="total time (default 4)")
    parser.add_argument("--examples", type=int, default=None, help="cases per target at most")
    options = parser.parse_args()
    limits = {
        "password_attempts_per_ip": "100000/minute",
        "password_attempts_global": "100000/minute",
        "password_failures_per_user_ip": "100000/minute",
        "password_failures_per_user": "100000/minute",
    }
    with tempfile.TemporaryDirectory() as folder, target(Path(folder), **limits) as server:
        chosen = targets(server)
        share = 60 * options.minutes / len(chosen)
        started = time.monotonic()
        tallies = [fuzz(server, *t, seconds=share, examples=options.examples) for t in chosen]
        elapsed = time.monotonic() - started
        process = server.server.process
        rss = f"{rss_mib(process.pid):.0f} MiB" if process is not None else "?"
        try:
            server.assert_healthy()
            health = "answers, clean log"
        except AssertionError as e:
            health = str(e).splitlines()[0]
    rows = [
        [
            t.target,
            str(t.cases),
            f"{t.cases / max(sum(t.seconds), 1e-9):.0f}/s",
            f"{t.p(50):.1f}",
            f"{t.p(99):.1f}",
            str(t.server_errors),
            str(t.hangs),
            str(len(t.failures)),
            ", ".join(f"{k}:{v}" for k, v in t.outcomes.most_common(4)),
        ]
        for t in tallies
    ]
    total = sum(t.cases for t in tallies)
    rows.append(
        [
            "all",
            str(total),
            f"{total / elapsed:.0f}/s",
            "",
            "",
            str(sum(t.server_errors for t in tallies)),
            str(sum(t.hangs for t in tallies)),
            str(sum(len(t.failures) for t in tallies)),
            "",
        ]
    )
    headers = [
        "target",
        "cases",
        "throughput",
        "p50 ms",
        "p99 ms",
        "5xx",
        "hangs",
        "failed",
        "outcomes",
    ]
    print_table(headers, rows)
    print(f"\nserver after {elapsed:.0f} s: RSS {rss}; {health}")
    for t in tallies:
        for problem in sorted(set(t.failures))[:5]:
            print(f"  {t.target}: {problem[:200]}")


if __name__ == "__main__":
    main()
