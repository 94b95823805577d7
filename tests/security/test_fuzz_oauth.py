"""Issue 11: the OAuth/fakts endpoints and the login, logout and device pages fuzzed; zero 5xx,
refusals OAuth-shaped.

Cases: ``ARKITEKT_FUZZ_EXAMPLES`` (default 150) x 2; ``bench/fuzz.py`` runs longer. The server
allows many password attempts here, so the fuzzer reaches the password check rather than only
the rate limiter (which has tests of its own).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fuzzing import EXAMPLES, Tally, Target, run_cases, target
from fuzzing_oauth import requests, send_request

GENEROUS_LIMITS: dict[str, Any] = {
    "password_attempts_per_ip": "10000/minute",
    "password_attempts_global": "10000/minute",
    "password_failures_per_user_ip": "10000/minute",
    "password_failures_per_user": "10000/minute",
}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Target]:
    with target(tmp_path_factory.mktemp("fuzz-oauth"), **GENEROUS_LIMITS) as running:
        yield running


@pytest.mark.parametrize("run_seed", [0, 1])
def test_fuzzed_login_surface(server: Target, run_seed: int) -> None:
    tally = Tally(f"login surface (seed {run_seed})")
    strategy = requests(server)
    run_cases(strategy, lambda r: send_request(server, tally, r), EXAMPLES, run_seed=run_seed)
    print(tally.summary())
    assert tally.cases >= EXAMPLES // 2, tally.summary()
    assert "200" in tally.outcomes and len(tally.outcomes) >= 3, tally.summary()
    server.assert_healthy()
