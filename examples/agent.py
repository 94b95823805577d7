"""An agent: serves two functions until stopped (Ctrl-C).

Start a server first and give it a user (``arkitekt user add alice``, then
``arkitekt server``), then point the agent at it::

    ARKITEKT_URL=http://localhost:8000 python examples/agent.py

It logs in like any app (a browser approval the first time, or ``ARKITEKT_MANDATE_KEY`` for
unattended use). Call the functions with ``examples/caller.py``.
"""

import time
from collections.abc import Iterator

from arkitekt import easy, log, progress, register


@register
def greet(name: str, times: int = 1) -> str:
    """Say hello.

    Args:
        name: who to greet
        times: how often
    """
    return " ".join([f"Hello {name}!"] * times)


@register
def count(to: int, delay: float = 0.0) -> Iterator[int]:
    """Count from 0 up to ``to`` (exclusive), reporting progress.

    Args:
        to: where to stop
        delay: seconds to wait between numbers
    """
    for i in range(to):
        progress(100 * i // to, f"at {i}")
        if delay:
            time.sleep(delay)
        yield i
    log(f"counted to {to}")


def main() -> None:
    with easy("greeter") as app:
        app.run()  # blocks; Ctrl-C stops cleanly


if __name__ == "__main__":
    main()
