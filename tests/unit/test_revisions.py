"""Which revision a rollback goes to: the pure rule of ``domain/revisions.py``."""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st

from scalehook.domain.revisions import Refusal, Revision, live, rollback_target

NOW = datetime(2026, 11, 28, tzinfo=UTC)


def revision(number: int, image: str, outcome: str) -> Revision:
    return Revision(
        target="local/web", number=number, change="image", image=image, previous_image=None,
        resources=None, reason="r", outcome=outcome, created_at=NOW, updated_at=NOW,
    )  # fmt: skip


HISTORY = [
    revision(1, "acme/app:1", "initial"),
    revision(2, "acme/app:2", "upgraded"),
    revision(3, "acme/app:3", "rolled_back"),
]


def test_the_default_is_the_newest_that_succeeded_with_another_image() -> None:
    chosen = rollback_target(HISTORY, running="acme/app:2", wanted=None)
    assert isinstance(chosen, Revision) and chosen.number == 1
    # two spellings of one image are one image
    chosen = rollback_target(HISTORY, running="docker.io/acme/app:1", wanted=None)
    assert isinstance(chosen, Revision) and chosen.number == 2
    assert live(HISTORY) == HISTORY[1]


def test_a_number_is_taken_as_asked_and_a_missing_one_is_named() -> None:
    chosen = rollback_target(HISTORY, running="acme/app:2", wanted=3)
    assert isinstance(chosen, Revision) and chosen.image == "acme/app:3"
    missing = rollback_target(HISTORY, running="acme/app:2", wanted=7)
    assert missing == Refusal("missing", "there is no revision 7: its revisions are 1 to 3")


def test_nothing_to_go_back_to_is_refused_with_why() -> None:
    none = rollback_target([], running="acme/app:1", wanted=None)
    assert isinstance(none, Refusal) and none.kind == "nothing"
    assert "no revisions yet" in none.reason
    only = rollback_target(HISTORY[:1], running="acme/app:1", wanted=None)
    assert isinstance(only, Refusal) and only.kind == "nothing"


@given(
    st.lists(
        st.tuples(
            st.sampled_from(["acme/app:1", "acme/app:2", "acme/app:3"]),
            st.sampled_from(["initial", "upgraded", "rolled_back", "failed", "cancelled"]),
        ),
        max_size=8,
    ),
    st.sampled_from(["acme/app:1", "acme/app:2", "acme/app:3"]),
)
def test_a_default_rollback_never_goes_to_what_runs_nor_to_a_failure(
    steps: list[tuple[str, str]], running: str
) -> None:
    history = [revision(n, image, outcome) for n, (image, outcome) in enumerate(steps, 1)]
    chosen = rollback_target(history, running=running, wanted=None)
    if isinstance(chosen, Refusal):
        assert all(r.image == running or not r.succeeded for r in history)
        return
    assert chosen.succeeded and chosen.image != running
    newer = [r for r in history if r.number > chosen.number]
    assert all(r.image == running or not r.succeeded for r in newer)
