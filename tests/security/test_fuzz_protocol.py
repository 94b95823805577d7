"""Issue 11: the ``/rekuest/ws`` frame decoder fuzzed with frames built from the protocol's own
models; every answer is a protocol frame or a deliberate close, never an internal error.

Cases: ``ARKITEKT_FUZZ_EXAMPLES`` (default 150) x 2; ``bench/fuzz.py`` runs longer.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fuzzing import EXAMPLES, Tally, Target, run_cases, target
from fuzzing_protocol import CASES, send_frame


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Target]:
    with target(tmp_path_factory.mktemp("fuzz-protocol")) as running:
        yield running


@pytest.mark.parametrize("run_seed", [0, 1])
def test_fuzzed_frames(server: Target, run_seed: int) -> None:
    tally = Tally(f"/rekuest/ws frames (seed {run_seed})")
    run_cases(CASES, lambda case: send_frame(server, tally, case), EXAMPLES, run_seed=run_seed)
    print(tally.summary())
    assert tally.cases >= EXAMPLES // 2, tally.summary()
    assert {"served", "welcomed"} & tally.outcomes.keys(), f"nothing got through: {tally.summary()}"
    assert any(o.startswith("close 400") for o in tally.outcomes), tally.summary()
    server.assert_healthy()
