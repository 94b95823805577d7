"""The agent the RPC benchmark calls: no-op and echo functions (async and sync)."""

import os

from arkitekt import easy, register


@register
async def noop() -> None:
    """Do nothing, on the loop."""


@register
def noop_sync() -> None:
    """Do nothing, on a thread."""


@register
async def echo(x: int) -> int:
    """Return ``x``, on the loop (the twin of the Ray actor's ``f(x)``)."""
    return x


@register
def echo_sync(x: int) -> int:
    """Return ``x``, on a thread."""
    return x


@register(locks=["stage"])
async def echo_locked(x: int) -> int:
    """``echo`` holding the lock ``stage`` (free: nobody else takes it) while it runs."""
    return x


if __name__ == "__main__":
    with easy("bench-agent", instance_id=os.environ.get("AGENT_NAME", "a")) as app:
        app.serve()
        print("ready", flush=True)
        app.run()
