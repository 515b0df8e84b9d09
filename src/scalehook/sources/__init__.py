"""Webhook sources: one module per sender, each turning a body into Signals.

A source module exposes ``SOURCE``, an object with ``name``, ``recognises(body,
headers)`` and ``parse(body, headers, ...)``. Adding a source is one new module plus
one line in ``SOURCES`` below (most specific first: detection takes the first match).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from scalehook.signals import Signal
from scalehook.sources import distribution, dockerhub, generic, github, harbor, quay


class Source(Protocol):
    @property
    def name(self) -> str: ...

    def recognises(self, body: Any, headers: Mapping[str, str]) -> bool:
        """True when the (JSON-decoded) body and headers look like this source's."""
        ...

    def parse(self, body: Any, headers: Mapping[str, str]) -> list[Signal]:
        """The signals in the body; ``InvalidPayload`` (400) when it cannot be read."""
        ...


SOURCES: tuple[Source, ...] = (
    github.SOURCE,
    distribution.SOURCE,
    harbor.SOURCE,
    quay.SOURCE,
    dockerhub.SOURCE,
    generic.SOURCE,
)


def detect(body: Any, headers: Mapping[str, str]) -> Source | None:
    for source in SOURCES:
        if source.recognises(body, headers):
            return source
    return None


def by_name(name: str) -> Source | None:
    return next((s for s in SOURCES if s.name == name), None)
