"""A test agent: functions for every behaviour the remote-function tests check.

Prints ``ready <agent-name>`` once the server has its functions, then serves until Ctrl-C.
"""

import asyncio
import os
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass

from arkitekt import check_cancelled, easy, find, log, progress, register, state

NAME = os.environ.get("WORKER_NAME", "worker")


@register
def add(a: int, b: int = 1) -> int:
    """Add two numbers."""
    return a + b


@register
def whoami() -> str:
    """The name of the agent process that ran this."""
    return NAME


@register
def fail(message: str) -> int:
    """Raise a ValueError with this message."""
    raise ValueError(message)


@register
def slow(seconds: float) -> str:
    """Sleep in small steps, checking for cancellation (a cooperative sync function)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        check_cancelled()
        time.sleep(0.02)
    return "finished"


@register
async def aslow(seconds: float) -> str:
    """Sleep on the loop (sees cancellation as CancelledError)."""
    try:
        await asyncio.sleep(seconds)
    except asyncio.CancelledError:
        with open(os.environ["WORKER_MARK"], "w") as f:
            f.write("cancelled")
        raise
    return "finished"


@register
def chatty(steps: int) -> str:
    """Report progress and log lines."""
    for i in range(steps):
        progress(100 * (i + 1) // steps, f"step {i + 1}")
        log(f"did step {i + 1}")
    return "done"


@register
def count(to: int) -> Iterator[int]:
    """Yield 0..to-1."""
    yield from range(to)


def ticks(to: int, every: float) -> Iterator[int]:
    """Yield 0..to-1, one every ``every`` seconds."""
    for i in range(to):
        yield i
        time.sleep(every)


@register
async def acount(to: int) -> AsyncIterator[int]:
    """Yield 0..to-1 asynchronously."""
    for i in range(to):
        await asyncio.sleep(0)
        yield i


@state
@dataclass
class Tally:
    """The agent's state: how many times ``tally`` ran."""

    calls: int = 0


@register
def tally(counter: Tally) -> int:
    """Count this call in the agent's state."""
    counter.calls += 1
    return counter.calls


@register
def nested(a: int) -> int:
    """Call add() remotely from inside a running function (a child assignation)."""
    return find(interface="add")(a, b=100)


@register
def parent_of_aslow(seconds: float) -> str:
    """Wait for a child call to aslow (cancelling this cancels the child)."""
    return str(find(interface="aslow")(seconds))


# one function only this process provides (its name makes its definition, so its node, unique)
register(slow, interface=f"slow_{NAME}", name=f"slow_{NAME}")
register(ticks, interface=f"ticks_{NAME}", name=f"ticks_{NAME}")


def main() -> None:
    with easy(os.environ.get("WORKER_APP", "worker"), instance_id=NAME) as app:
        app.serve()
        print(f"ready {NAME}", flush=True)
        app.run()


if __name__ == "__main__":
    main()
