"""Rollbacks in a history that mixes image and resources changes: which limits a
rollback puts back, and which combination is refused (``domain/revisions.py``)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from scalehook.domain.resources import Resources, revision_resources
from scalehook.domain.revisions import (
    Refusal,
    Revision,
    limits_at,
    live,
    mixed,
    restores_limits,
    rollback_target,
)

NOW = datetime(2026, 12, 2, tzinfo=UTC)
MIB = 1024 * 1024


def image(number: int, name: str, outcome: str = "upgraded") -> Revision:
    return Revision(
        target="swarm/web", number=number, change="image", image=name, previous_image=None,
        resources=None, reason="r", outcome=outcome, created_at=NOW, updated_at=NOW,
    )  # fmt: skip


def resources(
    number: int, name: str | None, before: Resources, after: Resources, outcome: str = "updated"
) -> Revision:
    kept: dict[str, Any] = revision_resources(before, after)
    return Revision(
        target="swarm/web", number=number, change="resources", image=name, previous_image=name,
        resources=kept, reason="r", outcome=outcome, created_at=NOW, updated_at=NOW,
    )  # fmt: skip


NONE = Resources()
HALF = Resources(cpus=0.5, memory=96 * MIB)
MORE = Resources(cpus=0.5, memory=128 * MIB)
HISTORY = [
    image(1, "acme/app:1", "initial"),
    resources(2, "acme/app:1", NONE, HALF),
    image(3, "acme/app:2"),
    resources(4, "acme/app:2", HALF, MORE),
]


def test_the_limits_at_a_revision_are_the_newest_set_up_to_it_or_those_replaced_after() -> None:
    assert limits_at(HISTORY, 1) == NONE.as_dict()
    assert limits_at(HISTORY, 2) == HALF.as_dict() | {"previous": NONE.as_dict()}
    assert limits_at(HISTORY, 3) == limits_at(HISTORY, 2)
    assert limits_at(HISTORY, 4) == MORE.as_dict() | {"previous": HALF.as_dict()}
    assert limits_at([image(1, "acme/app:1", "initial")], 1) is None


def test_a_resources_revision_is_live_and_a_default_rollback_skips_it() -> None:
    assert live(HISTORY) == HISTORY[3]
    chosen = rollback_target(HISTORY, running="acme/app:2", wanted=None)
    assert isinstance(chosen, Revision) and chosen.number == 1  # an image revision


def test_which_rollbacks_are_of_limits_and_which_are_refused() -> None:
    running = "docker.io/acme/app:2"
    # revision 4 was made under the image it runs: its limits go back, no refusal
    assert restores_limits(HISTORY, HISTORY[3], running=running)
    assert mixed(HISTORY[3], running=running) is None
    # revision 3's image runs now and limits changed after it: a limits rollback
    assert restores_limits(HISTORY, HISTORY[2], running=running)
    # revision 1 has another image: an image rollback (its limits stay)
    assert not restores_limits(HISTORY, HISTORY[0], running=running)
    # revision 2 set limits under acme/app:1: refused, saying to roll the image first
    assert restores_limits(HISTORY, HISTORY[1], running=running)
    why = mixed(HISTORY[1], running=running)
    assert why is not None and "acme/app:1" in why and "image back first" in why


def test_a_resources_revision_without_an_image_can_be_gone_back_to() -> None:
    local = [
        Revision(
            target="local/web",
            number=1,
            change="image",
            image=None,
            previous_image=None,
            resources=None,
            reason="r",
            outcome="initial",
            created_at=NOW,
            updated_at=NOW,
        ),
        resources(2, None, NONE, HALF),
    ]
    assert rollback_target(local, running=None, wanted=2) == local[1]
    assert rollback_target(local, running=None, wanted=1) == local[0]
    assert restores_limits(local, local[0], running=None)
    alone = rollback_target(local[:1], running=None, wanted=1)
    assert isinstance(alone, Refusal) and "no image" in alone.reason
