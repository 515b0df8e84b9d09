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
does. A default rollback goes to an image revision only.

A rollback to revision ``n`` puts back the limits the service had at ``n``
(``limits_at``) when ``n`` is a resources change, or when ``n``'s image is the one it
runs and its limits changed after ``n``: the resources path does that, recorded as a
resources revision with ``rollback_of``. A rollback to a resources revision made while
the service ran another image than now is refused (``mixed``): roll the image back
first, then the limits. A rollback to an image revision with another image changes the
image only; limits set after it stay.
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

SUCCEEDED = frozenset({INITIAL, "upgraded", "updated"})
"""Outcomes of revisions the service ran in full (``updated``: a resources change)."""


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


def _limits_after(revisions: Sequence[Revision], number: int) -> list[Revision]:
    """The resources changes that succeeded after revision ``number``, oldest first."""
    return sorted(
        (r for r in revisions if r.change == "resources" and r.succeeded and r.number > number),
        key=lambda r: r.number,
    )


def limits_at(revisions: Sequence[Revision], number: int) -> Mapping[str, Any] | None:
    """The limits (``Resources.as_dict`` form) the service had at revision ``number``:
    those set by the newest resources change up to it, else those the first resources
    change after it replaced; ``None`` when no resources change is recorded."""
    upto = [
        r
        for r in revisions
        if r.change == "resources" and r.succeeded and r.number <= number and r.resources
    ]
    if upto:
        newest = max(upto, key=lambda r: r.number)
        assert newest.resources is not None
        return newest.resources
    after = _limits_after(revisions, number)
    if after and after[0].resources:
        previous = after[0].resources.get("previous")
        return previous if isinstance(previous, Mapping) else None
    return None


def restores_limits(
    revisions: Sequence[Revision], chosen: Revision, *, running: str | None
) -> bool:
    """Whether a rollback to ``chosen`` is one of limits (the resources path): a
    resources revision, or an image revision whose image runs now (or none is known)
    with limits changed after it."""
    if chosen.change == "resources":
        return True
    same = chosen.image is None or same_image(chosen.image, running)
    return same and bool(_limits_after(revisions, chosen.number))


def mixed(chosen: Revision, *, running: str | None) -> str | None:
    """Why a rollback to the resources revision ``chosen`` cannot be done, if it
    cannot: it was made while the service ran another image than it runs now."""
    if chosen.change != "resources" or chosen.image is None or running is None:
        return None
    if same_image(chosen.image, running):
        return None
    return (
        f"revision {chosen.number} set limits while the service ran {chosen.image}; it "
        f"runs {running} now: roll the image back first (to an image revision), then "
        "the limits"
    )


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
        if (
            found.image is None
            and found.change != "resources"
            and not _limits_after(revisions, found.number)
        ):
            return Refusal("nothing", f"revision {wanted} records no image to go back to")
        return found
    for revision in sorted(revisions, key=lambda r: r.number, reverse=True):
        if (
            revision.change == "image"
            and revision.succeeded
            and revision.image
            and not same_image(revision.image, running)
        ):
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
