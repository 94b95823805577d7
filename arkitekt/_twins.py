"""Sync twins, derived from the async original: one signature, one docstring, one body.

Every I/O operation is written once, as ``async def aname``; ``name = sync_twin(aname)`` gives
its blocking twin, which runs it through :func:`koil.unkoil` (explicitly: ``@koiled`` would hand
coroutines back inside Jupyter). Works for functions and methods alike. The twin keeps the
original's signature for mypy and IDEs (ParamSpec), and for ``inspect.signature``/``help()``
(``__wrapped__``).
"""

from __future__ import annotations

import functools
from collections.abc import AsyncGenerator, Callable, Coroutine, Iterator
from typing import Any, ParamSpec, TypeVar

from koil import unkoil, unkoil_gen
from koil.errors import KoilError

from .context import maybe_current_app
from .errors import AppStateError, NoActiveAppError

P = ParamSpec("P")
T = TypeVar("T")


def _name(twin: Any, original: Any) -> None:
    name: str = original.__name__
    if not name.startswith("a"):
        raise ValueError(f"{name!r} is not the name of an async operation (aname)")
    twin.__name__ = name[1:]
    owner, _, _ = original.__qualname__.rpartition(".")
    twin.__qualname__ = f"{owner}.{twin.__name__}" if owner else twin.__name__
    twin.__doc__ = f"Sync twin of ``{name}`` (same arguments).\n\n{original.__doc__ or ''}"


def _no_loop(error: KoilError, name: str) -> BaseException:
    """koil found no loop: outside any app that is the user's mistake; say so in our words."""
    return NoActiveAppError(f"{name}()") if maybe_current_app() is None else error


def _check_entered(args: tuple[Any, ...]) -> None:
    """A method of an app (or of one of its services) needs the app entered."""
    owner: Any = args[0] if args else None
    if hasattr(owner, "app_loop") and owner.app_loop is None:
        raise AppStateError(
            "the app is not entered: use `with app:` (or `async with app:`) around this call"
        )


def sync_twin(afunction: Callable[P, Coroutine[Any, Any, T]]) -> Callable[P, T]:
    """The blocking twin of an async function or method.

    Outside any app it raises :class:`~arkitekt.NoActiveAppError`, as the async one does, not
    koil's complaint about a missing loop.
    """

    @functools.wraps(afunction)
    def twin(*args: P.args, **kwargs: P.kwargs) -> T:
        _check_entered(args)
        try:
            return unkoil(afunction, *args, **kwargs)
        except KoilError as e:
            raise _no_loop(e, twin.__name__) from None

    _name(twin, afunction)
    return twin


def sync_generator_twin(
    agenerator: Callable[P, AsyncGenerator[T, None]],
) -> Callable[P, Iterator[T]]:
    """The blocking twin of an async generator function or method (each item through koil)."""

    @functools.wraps(agenerator)
    def twin(*args: P.args, **kwargs: P.kwargs) -> Iterator[T]:
        try:
            yield from unkoil_gen(agenerator, *args, **kwargs)
        except KoilError as e:
            raise _no_loop(e, twin.__name__) from None

    _name(twin, agenerator)
    return twin
