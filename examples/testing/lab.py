"""A small lab of functions to serve: tested in ``test_lab.py`` with ``arkitekt.testing``.

Serve them for real with ``python examples/testing/lab.py`` (against ``ARKITEKT_URL``, or the
integrated server when none is set).
"""

from __future__ import annotations

from collections.abc import Iterator

from arkitekt import Image, easy, from_xarray, progress, register


@register
def brighten(image: Image, factor: float = 2.0) -> Image:
    """Multiply every pixel by a factor.

    Args:
        image: the image to brighten
        factor: how much brighter
    """
    return from_xarray(image.data * factor, name=f"{image.name} x{factor:g}")


@register
def fibonacci(count: int) -> Iterator[int]:
    """The first numbers of the Fibonacci sequence.

    Args:
        count: how many to yield
    """
    a, b = 0, 1
    for i in range(count):
        progress(100 * i // max(count, 1))
        yield a
        a, b = b, a + b


@register
def greet(name: str) -> str:
    """Say hello.

    Args:
        name: who to greet
    """
    return f"Hello {name}!"


if __name__ == "__main__":
    with easy("lab") as app:
        app.run()
