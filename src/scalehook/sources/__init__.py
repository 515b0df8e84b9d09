"""Webhook sources: one module per sender, each turning a body into Signals.

A source module exposes ``SOURCE``, an object with ``name``, ``title`` (how people call
the sender, for error messages), ``recognises(body, headers)`` and ``parse(body,
headers)``. Adding a source is one new module plus one line in ``SOURCES`` below (most
specific first: detection takes the first match).

The trigger reads every body here, once, for whichever driver the receiver has
(``read_signals``); a driver says which senders it reads, and whether a body it cannot
read is a plain trigger (scaleService) or refused (serviceUpgrade).
"""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping
from typing import Any, Protocol

from scalehook.domain.signals import Signal
from scalehook.errors import InvalidPayload
from scalehook.sources import alertmanager, distribution, dockerhub, generic, github, harbor, quay


class Source(Protocol):
    @property
    def name(self) -> str: ...

    @property
    def title(self) -> str: ...

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


def describe(names: Collection[str]) -> str:
    """The senders ``names`` as people call them: ``Docker Hub, Harbor, ... or X``."""
    titles = [s.title for s in SOURCES if s.name in names]
    return titles[0] if len(titles) == 1 else ", ".join(titles[:-1]) + " or " + titles[-1]


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


def decode_strictly(body: bytes, expected: str) -> Any:
    """The body as JSON, or ``InvalidPayload`` saying why it is not."""
    if not body.strip():
        raise InvalidPayload(f"the body is empty; expected {expected}")
    # from None below: the decode errors keep the whole body (``doc``, ``object``), which
    # may carry a sender's token; the message says all they would.
    try:
        return json.loads(body)
    except json.JSONDecodeError as exc:
        raise InvalidPayload(f"the body is not valid JSON: {exc.msg} at {exc.pos}") from None
    except UnicodeDecodeError:
        raise InvalidPayload("the body is not valid JSON: it is not UTF-8 text") from None
    except RecursionError:
        raise InvalidPayload("the body is not usable JSON: it is nested too deeply") from None


def read_signals(
    body: bytes,
    headers: Mapping[str, str],
    *,
    among: Collection[str],
    force: str | None = None,
    required: bool = False,
    what: str = "a notification",
) -> tuple[str | None, list[Signal]]:
    """The source (of ``among``) that sent ``body`` and its signals.

    ``(None, [])`` for a plain trigger: a body from a sender the driver does not read
    (or any body, when it reads none). With ``required``, such a body is refused
    (``InvalidPayload``, 400) with what was expected; ``force`` reads every body as that
    source."""
    if not among and force is None:
        return None, []
    if required or force is not None:
        decoded = decode_strictly(body, f"{what} ({describe(among)})")
    else:
        decoded = decode_json(body)
    source = by_name(force) if force is not None else detect(decoded, headers, among=among)
    if source is None:
        if required:
            raise InvalidPayload(
                f"the body is not {what} scalehook knows ({describe(among)}); "
                "set config.source to read it as one of them"
            )
        return None, []
    return source.name, source.parse(decoded, headers)
