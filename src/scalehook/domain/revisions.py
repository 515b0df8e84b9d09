"""Revisions: a service's numbered history of changes, and which one a rollback goes to.

Every change scalehook makes to what a service runs is a revision, numbered per service
(1, 2, 3...): an upgrade from a push, one by hand, a rollback, and (``change``
``"resources"``) a change of its CPU or memory. A revision keeps the image the service
runs with it, so any revision can be gone back to; ``resources`` is what a resources
change set (``None`` for an image change). Revision 1 is what the service ran when
scalehook first changed it. A revision whose rollout rolled back, failed, paused, was
cancelled or superseded is kept, with that ``outcome``.

The rule of a rollback without a revision number, kept pure here: the newest revision
that succeeded (``initial`` or ``upgraded``) whose image is not the one the service
runs now, so that two rollbacks in a row go back and forth, as ``kubectl rollout undo``
does.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from scalehook.domain.executions import ExecutionId
from scalehook.domain.images import InvalidImage, parse_image
from scalehook.domain.receivers import ReceiverId

Change = Literal["image", "resources"]

INITIAL = "initial"
"""The outcome of revision 1: what the service ran before scalehook changed it."""

SUCCEEDED = frozenset({INITIAL, "upgraded"})
"""Outcomes of revisions the service ran in full (a resources change adds its own)."""


@dataclass(frozen=True, slots=True)
class RevisionDraft:
    """A revision about to be recorded with the execution that makes it."""

    change: Change
    image: str | None  # the image the service runs with this revision (familiar spelling)
    previous_image: str | None  # what it ran before (revision 1 is made of it if none exists)
    reason: str
    resources: Mapping[str, Any] | None = None
    rollback_of: int | None = None  # the revision a rollback goes back to


@dataclass(frozen=True, slots=True)
class Revision:
    """One recorded revision of a service (``target``: its ``backend/name``)."""

    target: str
    number: int
    change: Change
    image: str | None
    previous_image: str | None
    resources: dict[str, Any] | None
    reason: str
    outcome: str  # initial, or the result of its execution (upgrading ... upgraded, failed)
    created_at: datetime
    updated_at: datetime
    execution_id: ExecutionId | None = None
    driver: str | None = None
    receiver_id: ReceiverId | None = None
    receiver_name: str | None = None
    caller: str | None = None
    rollback_of: int | None = None

    @property
    def succeeded(self) -> bool:
        return self.outcome in SUCCEEDED


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why no revision can be rolled back to: ``missing`` (no such number) or
    ``nothing`` (no earlier revision to go back to)."""

    kind: Literal["missing", "nothing"]
    reason: str


def live(revisions: Sequence[Revision]) -> Revision | None:
    """The newest revision that succeeded: what the service runs, as far as scalehook
    knows (a revision rolled back or failed left it on an earlier one)."""
    done = [r for r in revisions if r.succeeded]
    return max(done, key=lambda r: r.number) if done else None


def same_image(a: str | None, b: str | None) -> bool:
    """Two spellings of one image (``nginx:1`` and ``docker.io/library/nginx:1``)."""
    if a is None or b is None:
        return False
    try:
        return parse_image(a) == parse_image(b)
    except InvalidImage:
        return a == b


def rollback_target(
    revisions: Sequence[Revision], *, running: str | None, wanted: int | None
) -> Revision | Refusal:
    """The revision a rollback goes to: ``wanted`` if given, else the newest revision
    that succeeded with an image other than ``running`` (the service's image now)."""
    if wanted is not None:
        found = next((r for r in revisions if r.number == wanted), None)
        if found is None:
            numbers = [r.number for r in revisions]
            known = (
                f"its revisions are {numbers[0]} to {numbers[-1]}"
                if numbers
                else "it has no revisions yet (scalehook has not changed it)"
            )
            return Refusal("missing", f"there is no revision {wanted}: {known}")
        if found.image is None:
            return Refusal("nothing", f"revision {wanted} records no image to go back to")
        return found
    for revision in sorted(revisions, key=lambda r: r.number, reverse=True):
        if revision.succeeded and revision.image and not same_image(revision.image, running):
            return revision
    if not revisions:
        return Refusal(
            "nothing", "it has no revisions yet: scalehook has not changed it, so there is "
            "nothing earlier to go back to",
        )  # fmt: skip
    return Refusal(
        "nothing",
        "no earlier revision that succeeded runs another image than the one it runs now",
    )
