"""Webhook sources: one module per sender, each turning a body into Signals.

A source module exposes ``SOURCE``, an object with ``name``, ``recognises(body,
headers)`` and ``parse(body, headers, ...)``. Adding a source is one new module plus
one line in ``SOURCES`` below (most specific first: detection takes the first match).
"""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping
from typing import Any, Protocol

from scalehook.domain.signals import Signal
from scalehook.sources import alertmanager, distribution, dockerhub, generic, github, harbor, quay


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
    alertmanager.SOURCE,
    github.SOURCE,
    distribution.SOURCE,
    harbor.SOURCE,
    quay.SOURCE,
    dockerhub.SOURCE,
    generic.SOURCE,
)


def detect(
    body: Any, headers: Mapping[str, str], *, among: Collection[str] | None = None
) -> Source | None:
    """The first source (of ``among``, if given) that recognises the body."""
    for source in SOURCES:
        if among is not None and source.name not in among:
            continue
        if source.recognises(body, headers):
            return source
    return None


def by_name(name: str) -> Source | None:
    return next((s for s in SOURCES if s.name == name), None)


def decode_json(body: bytes) -> Any:
    """The body as JSON when it is a JSON object, else ``None``.

    Only bodies that start like an object are decoded: any other body (empty, form
    data, binary) is a plain trigger, as it always was.
    """
    if body.lstrip()[:1] != b"{":
        return None
    try:
        return json.loads(body)
    except (ValueError, RecursionError):
        return None


def read_signals(
    body: bytes, headers: Mapping[str, str], *, among: Collection[str]
) -> tuple[str | None, list[Signal]]:
    """The source (of ``among``) that sent ``body`` and its signals; ``(None, [])`` for a
    plain trigger, or a body from a sender the driver does not read."""
    if not among:
        return None, []
    decoded = decode_json(body)
    source = detect(decoded, headers, among=among)
    if source is None:
        return None, []
    return source.name, source.parse(decoded, headers)
