"""The engine boundary: a docker or swarm backend's public methods raise domain errors only.

The client (``client.py``) turns every transport failure and error answer into the
domain's errors. What is left is an answer that is JSON but not of the shape the
backend reads (a list where a record is due, a field missing): a peer that is not the
Docker engine it seems to be, or a bug of ours. ``engine_boundary`` turns those into a
``BackendError`` (502: the next answer may be right), logged with its traceback, so no
``KeyError`` or ``TypeError`` leaves a backend whatever the engine says.
"""

from __future__ import annotations

import functools
import inspect
import logging
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, ParamSpec, TypeVar

from scalehook.domain.images import InvalidImage
from scalehook.errors import BackendError, InvalidRequest

log = logging.getLogger(__name__)

P = ParamSpec("P")
T = TypeVar("T")
C = TypeVar("C", bound=type[Any])

# What reading an answer of the wrong shape raises (ValueError: also a body that is
# not JSON where a backend decodes it itself).
_UNREADABLE = (KeyError, IndexError, TypeError, AttributeError, ValueError)


def engine_boundary(cls: C) -> C:
    """Guard every public coroutine method of ``cls`` (a backend class)."""
    for name, value in list(vars(cls).items()):
        if not name.startswith("_") and inspect.iscoroutinefunction(value):
            setattr(cls, name, _guarded(value))
    return cls


def _guarded(method: Callable[P, Awaitable[T]]) -> Callable[P, Coroutine[Any, Any, T]]:
    @functools.wraps(method)
    async def guarded(*args: P.args, **kwargs: P.kwargs) -> T:
        try:
            return await method(*args, **kwargs)
        except InvalidImage as exc:  # the caller's image; each use should have said so
            raise InvalidRequest(str(exc), field="image") from exc
        except _UNREADABLE as exc:
            backend = getattr(args[0], "name", "?") if args else "?"
            log.error(
                "backend %s: %s: an engine answer of an unexpected shape",
                backend,
                method.__name__,
                exc_info=exc,
            )
            raise BackendError(
                f"backend {backend}: the engine's answer could not be read "
                f"({type(exc).__name__}: {str(exc)[:200]})"
            ) from exc

    return guarded
