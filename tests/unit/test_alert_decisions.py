"""The alert rules, pinned down: dedupe, cooldown, label match, firing/resolved, groups."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scalehook.domain.alerting import AlertDecision, AlertRules, decide_alerts
from scalehook.domain.decisions import Cooldown, Direction, cooldown_left
from scalehook.domain.incidents import Incident, IncidentKey, remember
from scalehook.domain.selectors import Selector
from scalehook.domain.signals import Alert

T0 = datetime(2026, 11, 23, 6, 0, tzinfo=UTC)


def alert(
    name: str, status: str = "firing", *, labels: dict[str, str] | None = None, start: int = 0
) -> Alert:
    return Alert(
        status="firing" if status == "firing" else "resolved",
        fingerprint=f"fp-{name}",
        starts_at=T0 + timedelta(seconds=start),
        labels={"alertname": name, **(labels or {})},
    )


def rules(
    *,
    on_resolved: Direction | None = "down",
    dedupe: bool = True,
    per_alert: bool = False,
    up: float = 0,
    down: float = 0,
    match: dict[str, str] | None = None,
    low: int = 1,
    high: int = 10,
    amount: int = 1,
    on_firing: Direction = "up",
) -> AlertRules:
    return AlertRules(
        on_firing=on_firing,
        on_resolved=on_resolved,
        amount=amount,
        minimum=low,
        maximum=high,
        dedupe=dedupe,
        cooldown=Cooldown(up=up, down=down),
        match=Selector.of(match),
        per_alert=per_alert,
    )


class Receiver:
    """The rules plus a memory kept as the store keeps it: a receiver in miniature."""

    def __init__(self, r: AlertRules, current: int = 1) -> None:
        self.rules = r
        self.current = current
        self.memory: dict[IncidentKey, Incident] = {}
        self.last: dict[Direction, datetime | None] = {"up": None, "down": None}
        self.executions = 0
        self.actions: list[tuple[datetime, Direction]] = []

    def post(self, alerts: Sequence[Alert], now: datetime = T0) -> AlertDecision:
        decided = decide_alerts(
            self.rules,
            alerts,
            memory=dict(self.memory),
            last_action=self.last,
            now=now,
            current=self.current,
        )
        d = decided.decision
        self.executions += 1
        remember(self.memory, d.marks, self.executions)
        if d.result in ("scaled", "clamped"):
            direction: Direction = "up" if d.after > d.before else "down"
            self.last[direction] = now
            self.actions.append((now, direction))
        self.current = d.after
        return decided


def reasons(decided: AlertDecision) -> list[str]:
    return [v.reason for v in decided.verdicts]


def test_a_firing_alert_acts_once_however_often_it_is_sent() -> None:
    r = Receiver(rules())
    first = r.post([alert("HighLoad")])
    assert (first.decision.result, first.decision.after) == ("scaled", 2)
    assert reasons(first) == ["acted"]
    assert first.decision.message == "1 firing (HighLoad): scaled from 1 to 2"
    for _ in range(5):
        again = r.post([alert("HighLoad")])
        assert (again.decision.result, again.decision.after) == ("deduped", 2)
        assert again.decision.marks == ()
    assert r.post([alert("HighLoad", start=60)]).decision.after == 3  # a new incident


def test_one_step_per_group_unless_per_alert() -> None:
    group = [alert("A"), alert("B"), alert("C")]
    assert Receiver(rules()).post(group).decision.after == 2
    assert Receiver(rules(per_alert=True)).post(group).decision.after == 4
    assert Receiver(rules(amount=2)).post(group).decision.after == 3


def test_a_new_alert_joining_the_group_acts_once_more() -> None:
    r = Receiver(rules())
    r.post([alert("A")])
    joined = r.post([alert("A"), alert("B")])
    assert (joined.decision.after, reasons(joined)) == (3, ["deduped", "acted"])


def test_resolve_undoes_only_with_on_resolved() -> None:
    r = Receiver(rules(on_resolved=None))
    r.post([alert("A")])
    ignored = r.post([alert("A", "resolved")])
    assert (ignored.decision.result, ignored.decision.after) == ("ignored", 2)
    assert reasons(ignored) == ["resolve_ignored"]

    r = Receiver(rules(on_resolved="down"))
    r.post([alert("A")])
    undone = r.post([alert("A", "resolved")])
    assert (undone.decision.result, undone.decision.after) == ("scaled", 1)
    again = r.post([alert("A", "resolved")])
    assert (again.decision.result, again.decision.after) == ("deduped", 1)


def test_resolve_of_something_never_acted_on_does_nothing() -> None:
    r = Receiver(rules(), current=3)
    decided = r.post([alert("A", "resolved")])
    assert (decided.decision.result, decided.decision.after) == ("ignored", 3)
    assert reasons(decided) == ["not_acted"]


def test_a_firing_at_the_bound_owes_nothing_back() -> None:
    r = Receiver(rules(high=2), current=2)
    at_max = r.post([alert("A")])
    assert (at_max.decision.result, at_max.decision.after) == ("noop", 2)
    decided = r.post([alert("A", "resolved")])
    assert (decided.decision.after, reasons(decided)) == (2, ["nothing_to_undo"])


def test_a_group_action_is_undone_when_its_last_alert_resolves() -> None:
    r = Receiver(rules())
    r.post([alert("A"), alert("B")])
    assert r.current == 2
    waiting = r.post([alert("A", "resolved"), alert("B")])
    assert (waiting.decision.after, reasons(waiting)) == (2, ["waiting", "deduped"])
    last = r.post([alert("B", "resolved")])
    assert (last.decision.after, reasons(last)) == (1, ["acted"])


def test_resolved_and_new_firing_in_one_post_cancel_out() -> None:
    r = Receiver(rules())
    r.post([alert("A")])
    both = r.post([alert("A", "resolved"), alert("B")])
    assert (both.decision.result, both.decision.after) == ("noop", 2)
    assert r.post([alert("B", "resolved")]).decision.after == 1


def test_label_match() -> None:
    r = Receiver(rules(match={"severity": "page", "service": ""}))
    miss = r.post([alert("A", labels={"severity": "info", "service": "web"})])
    assert (miss.decision.result, miss.decision.after) == ("label_mismatch", 1)
    assert "label mismatch" in miss.decision.message
    hit = r.post(
        [
            alert("B", labels={"severity": "page", "service": "web"}),
            alert("C", labels={"severity": "page"}),
        ]
    )
    assert (hit.decision.after, reasons(hit)) == (2, ["acted", "label_mismatch"])


def test_cooldown_holds_back_and_forgets_nothing() -> None:
    r = Receiver(rules(up=60))
    r.post([alert("A")], now=T0)
    held = r.post([alert("B")], now=T0 + timedelta(seconds=10))
    assert (held.decision.result, held.decision.after, reasons(held)) == (
        "cooldown",
        2,
        ["cooldown"],
    )
    assert held.decision.details["cooldown_left_s"] == 50
    assert "next may run in 50s" in held.decision.message
    later = r.post([alert("B")], now=T0 + timedelta(seconds=61))  # Alertmanager re-sends
    assert (later.decision.result, later.decision.after) == ("scaled", 3)


def test_cooldowns_are_per_direction() -> None:
    r = Receiver(rules(up=3600, down=3600))
    r.post([alert("A")], now=T0)
    undone = r.post([alert("A", "resolved")], now=T0 + timedelta(seconds=1))
    assert (undone.decision.result, undone.decision.after) == ("scaled", 1)


def test_without_dedupe_every_post_acts() -> None:
    r = Receiver(rules(dedupe=False, on_resolved=None))
    for expected in (2, 3, 4):
        assert r.post([alert("A")]).decision.after == expected
    assert r.memory == {}


def test_firing_may_scale_down() -> None:
    r = Receiver(rules(on_firing="down", on_resolved="up"), current=5)
    assert r.post([alert("LowLoad")]).decision.after == 4
    assert r.post([alert("LowLoad", "resolved")]).decision.after == 5


def test_details_name_every_alert_and_its_reason() -> None:
    decided = Receiver(rules(match={"x": ""})).post([alert("A", labels={"x": "1"}), alert("B")])
    details = decided.decision.details
    assert [(a["alertname"], a["reason"]) for a in details["alerts"]] == [
        ("A", "acted"),
        ("B", "label_mismatch"),
    ]
    assert details["steps"] == {"firing": 1, "resolved": 0}
    assert details["direction"] == "up"
    many = Receiver(rules()).post([alert(f"a{i}") for i in range(60)])
    assert len(many.decision.details["alerts"]) == 50
    assert many.decision.details["more_alerts"] == 10


def test_an_empty_notification() -> None:
    decided = Receiver(rules()).post([])
    assert (decided.decision.result, decided.decision.after) == ("ignored", 1)


# properties ----------------------------------------------------------------------


@st.composite
def incident_story(draw: st.DrawFn) -> list[list[tuple[int, str]]]:
    """Notifications about a few incidents: each fires, is re-sent, then resolves."""
    count = draw(st.integers(1, 5))
    phase = [0] * count
    posts: list[list[tuple[int, str]]] = []
    for _ in range(draw(st.integers(1, 12))):
        chosen = draw(st.sets(st.integers(0, count - 1), min_size=1))
        post = []
        for i in sorted(chosen):
            if phase[i] == 0:
                phase[i] = 1
            elif phase[i] == 1 and draw(st.booleans()):
                phase[i] = 2
            post.append((i, "firing" if phase[i] == 1 else "resolved"))
        posts.append(post)
    final = [(i, "resolved") for i in range(count) if phase[i] == 1]
    if final:
        posts.append(final)
    return posts


def story_alerts(post: list[tuple[int, str]]) -> list[Alert]:
    return [alert(f"i{i}", status, start=i) for i, status in post]


@settings(max_examples=300)
@given(story=incident_story(), per_alert=st.booleans(), start=st.integers(0, 5))
def test_every_action_is_undone_once_its_incidents_resolve(
    story: list[list[tuple[int, str]]], per_alert: bool, start: int
) -> None:
    r = Receiver(rules(per_alert=per_alert, low=0, high=1000), current=start)
    for post in story:
        decided = r.post(story_alerts(post))
        assert r.current >= start  # never below where it started
        assert decided.decision.after - decided.decision.before <= len(post)
    assert r.current == start
    ups = sum(1 for _, d in r.actions if d == "up")
    assert ups <= len({i for post in story for i, _ in post})


@settings(max_examples=200)
@given(
    group=st.lists(st.tuples(st.integers(0, 5), st.booleans()), min_size=1, max_size=6),
    resends=st.integers(1, 5),
    per_alert=st.booleans(),
    current=st.integers(0, 12),
)
def test_a_resent_notification_never_acts_again(
    group: list[tuple[int, bool]], resends: int, per_alert: bool, current: int
) -> None:
    alerts = [alert(f"i{i}", "firing" if firing else "resolved", start=i) for i, firing in group]
    r = Receiver(rules(per_alert=per_alert, low=0), current=current)
    r.post(alerts)
    after_first, acted = r.current, len(r.actions)
    for _ in range(resends):
        again = r.post(alerts)
        assert again.decision.after == after_first
        assert "acted" not in reasons(again)
    assert len(r.actions) == acted


@settings(max_examples=200)
@given(
    gaps=st.lists(st.floats(0, 100, allow_nan=False), min_size=1, max_size=30),
    cooldown=st.floats(0, 60, allow_nan=False),
)
def test_actions_of_one_direction_are_a_cooldown_apart(gaps: list[float], cooldown: float) -> None:
    r = Receiver(rules(dedupe=False, up=cooldown, high=1000))
    now = T0
    for gap in gaps:
        now += timedelta(seconds=gap)
        before = len(r.actions)
        last = r.last["up"]
        r.post([alert("A")], now=now)
        may_act = last is None or (now - last).total_seconds() >= cooldown
        assert (len(r.actions) == before + 1) == may_act
    times = [t for t, _ in r.actions]
    assert all((b - a).total_seconds() >= cooldown for a, b in itertools.pairwise(times))


@given(
    labels=st.lists(
        st.dictionaries(st.sampled_from(["severity", "team", "x"]), st.sampled_from(["a", "b"])),
        max_size=5,
    ),
    current=st.integers(0, 12),
)
def test_alerts_that_do_not_match_never_move_anything(
    labels: list[dict[str, str]], current: int
) -> None:
    r = Receiver(rules(match={"severity": "page"}, low=0), current=current)
    decided = r.post([alert(f"a{i}", labels=lab) for i, lab in enumerate(labels)])
    assert decided.decision.after == current
    assert decided.decision.marks == ()
    assert set(reasons(decided)) <= {"label_mismatch"}


@given(
    seconds=st.floats(0, 1e6, allow_nan=False),
    micros=st.integers(-(10**12), 10**12),
)
def test_cooldown_left_is_bounded(seconds: float, micros: int) -> None:
    now = T0 + timedelta(days=30)
    ago = timedelta(microseconds=micros)
    left = cooldown_left(seconds, now - ago, now)
    ago_s = ago.total_seconds()
    assert 0 <= left <= seconds
    if ago_s >= seconds:
        assert left == 0
    assert cooldown_left(seconds, None, now) == 0


@pytest.mark.parametrize("direction", ["up", "down"])
def test_cooldown_of(direction: Direction) -> None:
    assert Cooldown(up=1, down=2).of(direction) == (1 if direction == "up" else 2)
