"""Issue 11: both GraphQL endpoints fuzzed from their own schemas; zero 5xx, zero hangs.

Cases per target: ``ARKITEKT_FUZZ_EXAMPLES`` (default 150); ``bench/fuzz.py`` runs longer.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fuzzing import EXAMPLES, Tally, Target, run_cases, target
from fuzzing_graphql import RAW_BODIES, credentials, documents, send_document, send_raw
from hypothesis import strategies as st
from hypothesis_graphql import Mode

TALLIES: list[Tally] = []


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Target]:
    with target(tmp_path_factory.mktemp("fuzz-graphql")) as running:
        yield running
        running.assert_healthy()
    for tally in TALLIES:
        print(tally.summary())


@pytest.mark.parametrize("mode", [Mode.POSITIVE, Mode.NEGATIVE], ids=["valid", "invalid"])
@pytest.mark.parametrize("kind", ["queries", "mutations"])
@pytest.mark.parametrize("schema", ["rekuest", "mikro"])
def test_documents_from_the_schema(server: Target, schema: str, kind: str, mode: Mode) -> None:
    tally = Tally(f"{schema} {kind} ({mode.name.lower()})")
    TALLIES.append(tally)
    cases = st.tuples(documents(schema, kind, mode), credentials(server))
    run_cases(cases, lambda case: send_document(server, tally, schema, case), EXAMPLES)
    assert tally.cases >= EXAMPLES // 2, tally.summary()
    assert tally.server_errors == 0 and tally.hangs == 0, tally.summary()
    server.assert_healthy()


@pytest.mark.parametrize("schema", ["rekuest", "mikro"])
def test_raw_bodies(server: Target, schema: str) -> None:
    tally = Tally(f"{schema} raw bodies")
    TALLIES.append(tally)
    run_cases(RAW_BODIES, lambda case: send_raw(server, tally, schema, case), EXAMPLES)
    assert tally.cases >= EXAMPLES // 2, tally.summary()
    server.assert_healthy()
