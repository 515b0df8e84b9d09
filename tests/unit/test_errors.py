"""The error tree drawn in ``scalehook.errors`` is the tree the code has."""

from __future__ import annotations

import importlib
import pkgutil
import re
from typing import TypeVar

import scalehook
from scalehook import errors
from scalehook.errors import ScalehookError

E = TypeVar("E", bound=BaseException)

# A line of the tree: "    |-- NotFound                  404 no such thing"
TREE_LINE = re.compile(r"^ {4}[|`\- ]*([A-Z]\w+)\s+(\d{3}) \S")


def every_module() -> None:
    for module in pkgutil.walk_packages(scalehook.__path__, prefix="scalehook."):
        if ".migrations." not in module.name and not module.name.endswith("__main__"):
            importlib.import_module(module.name)


def subclasses(cls: type[E]) -> set[type[E]]:
    found: set[type[E]] = set()
    for sub in cls.__subclasses__():
        found |= {sub, *subclasses(sub)}
    return found


def drawn() -> dict[str, int]:
    doc = errors.__doc__ or ""
    return {m[1]: int(m[2]) for line in doc.splitlines() if (m := TREE_LINE.match(line))}


def parents() -> dict[str, str]:
    """Each class of the tree and the one it hangs from (by its name's column)."""
    found: dict[str, str] = {}
    path: list[str] = []
    for line in (errors.__doc__ or "").splitlines():
        match = TREE_LINE.match(line)
        if match is None:
            continue
        depth = (match.start(1) - 4) // 4
        path[depth:] = [match[1]]
        if depth:
            found[match[1]] = path[depth - 1]
    return found


def test_every_scalehook_error_is_in_the_tree_with_its_status() -> None:
    every_module()
    tree = drawn()
    assert tree["ScalehookError"] == 500
    ours = {c for c in subclasses(ScalehookError) if c.__module__.startswith("scalehook.")}
    assert len(ours) >= 20
    missing = sorted(c.__qualname__ for c in ours if c.__qualname__ not in tree)
    assert not missing, f"add these to the tree in scalehook/errors.py: {missing}"
    wrong = {c.__qualname__: (tree[c.__qualname__], c.status) for c in ours}
    assert {k: v for k, v in wrong.items() if v[0] != v[1]} == {}
    stale = set(tree) - {c.__qualname__ for c in ours} - {"ScalehookError"}
    assert not stale, f"the tree names classes that do not exist: {stale}"
    # drawn under its first base (EngineRefused is an EngineError first)
    assert parents() == {c.__qualname__: c.__bases__[0].__qualname__ for c in ours}


def test_every_other_exception_scalehook_defines_is_named_in_the_docstring() -> None:
    every_module()
    doc = errors.__doc__ or ""
    others = {
        cls.__qualname__
        for cls in subclasses(Exception)
        if cls.__module__.startswith("scalehook.") and not issubclass(cls, ScalehookError)
    }
    assert {"InvalidImage", "ClientError"} <= others
    assert not {name for name in others if f"``{name}``" not in doc}


def test_refusals_that_cannot_pass_are_4xx_and_failures_that_may_pass_are_5xx() -> None:
    from scalehook.backends.engine.client import (
        EngineConflict,
        EngineError,
        EngineNotFound,
        EngineRefused,
        EngineUnavailable,
        EngineUnsupported,
    )

    def made(kind: type[EngineError]) -> EngineError:
        return kind("x", status_code=0, engine_text="the engine's words")

    assert made(EngineRefused).status == 422 and made(EngineUnsupported).status == 409
    assert made(EngineError).status == 502 and made(EngineConflict).status == 502
    assert made(EngineNotFound).status == 502
    assert EngineUnavailable("x").status == 503
    assert isinstance(made(EngineRefused), errors.BackendRefused)
    assert isinstance(made(EngineUnsupported), errors.BackendUnsupported)
    # reworded by a caller, an engine error keeps what a retry could do
    for kind, expected in (
        (EngineRefused, errors.BackendRefused),
        (EngineUnsupported, errors.BackendUnsupported),
        (EngineConflict, errors.BackendError),
    ):
        again = made(kind).reworded("cannot add a replica to web: the engine's words")
        assert type(again) is expected
        assert again.message.startswith("cannot add a replica")
