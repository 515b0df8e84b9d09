"""The host-group rules: clone the oldest, name clones, remove safely and exactly."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from scalehook.domain.host_plans import first_name, next_names, plan_down, plan_up
from scalehook.domain.hosts import PROTECTED_LABEL, Host, HostLoad

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def host(
    name: str,
    age: int,
    *,
    state: str = "ready",
    role: str = "worker",
    tasks: int = 0,
    provider: str | None = "netns",
    labels: dict[str, str] | None = None,
    is_self: bool = False,
) -> Host:
    return Host(
        id=f"id-{name}",
        name=name,
        state=state,
        availability="active",
        role=role,
        labels={"group": "batch", **(labels or {})},
        created=T0 + timedelta(minutes=age),
        provider=provider,
        load=HostLoad(running_tasks=tasks),
        is_self=is_self,
    )


@pytest.mark.parametrize(
    ("base", "taken", "count", "expected"),
    [
        ("batch-1", ["batch-1"], 2, ["batch-2", "batch-3"]),
        ("web09", ["web09"], 2, ["web10", "web11"]),
        ("node007", ["node007", "node008"], 1, ["node009"]),
        ("node", ["node"], 2, ["node2", "node3"]),
        ("batch-1", ["batch-1", "batch-4", "other-9"], 1, ["batch-5"]),
        ("w1.example.org", ["w1.example.org"], 1, ["w2"]),
    ],
)
def test_names(base: str, taken: list[str], count: int, expected: list[str]) -> None:
    assert next_names(base, taken, count) == expected


def test_up_clones_the_oldest_cloneable_host() -> None:
    group = [
        host("batch-3", 3),
        host("batch-1", 1, state="error"),
        host("batch-2", 2),
        host("batch-0", 0, provider=None),  # made by hand: not cloneable
    ]
    plan = plan_up(group, amount=2, maximum=10, taken=[h.name for h in group])
    assert plan.base is not None
    assert plan.base.name == "batch-2"
    assert plan.names == ("batch-4", "batch-5")
    assert (plan.before, plan.after, plan.result) == (3, 5, "scaled")


def test_up_is_clamped_to_max_and_noop_at_max() -> None:
    group = [host("b1", 1), host("b2", 2)]
    plan = plan_up(group, amount=3, maximum=3, taken=["b1", "b2"])
    assert (plan.after, plan.result, plan.names) == (3, "clamped", ("b3",))
    at_max = plan_up(group, amount=1, maximum=2, taken=["b1", "b2"])
    assert (at_max.result, at_max.names) == ("noop", ())


def test_up_with_nothing_cloneable_is_a_noop_with_the_reason() -> None:
    plan = plan_up([host("b1", 1, state="down")], amount=1, maximum=5, taken=["b1"])
    assert plan.result == "noop"
    assert "cloned" in plan.message


def test_down_removes_unhealthy_first_then_least_busy() -> None:
    group = [
        host("b1", 1, tasks=5),
        host("b2", 2, tasks=0),
        host("b3", 3, state="down", tasks=3),
        host("b4", 4, tasks=2),
    ]
    plan = plan_down(group, amount=2, minimum=1, policy="least_busy")
    assert [h.name for h in plan.remove] == ["b3", "b2"]
    assert (plan.before, plan.after, plan.result) == (4, 2, "scaled")


@pytest.mark.parametrize(
    ("policy", "expected"), [("oldest", ["b1"]), ("newest", ["b3"]), ("least_busy", ["b2"])]
)
def test_down_policies(policy: str, expected: list[str]) -> None:
    group = [host("b1", 1, tasks=2), host("b2", 2, tasks=1), host("b3", 3, tasks=4)]
    plan = plan_down(group, amount=1, minimum=0, policy=policy)  # type: ignore[arg-type]
    assert [h.name for h in plan.remove] == expected


def test_down_never_removes_managers_self_protected_or_unmanaged() -> None:
    group = [
        host("m1", 0, role="manager"),
        host("b1", 1, is_self=True),
        host("b2", 2, labels={PROTECTED_LABEL: "true"}),
        host("b3", 3, provider=None),
        host("b4", 4, state="down"),
    ]
    plan = plan_down(group, amount=5, minimum=0, policy="oldest")
    assert [h.name for h in plan.remove] == ["b4"]
    assert plan.result == "clamped"
    assert {name for name, _ in plan.kept} == {"m1", "b1", "b2", "b3"}


def test_down_is_clamped_to_min() -> None:
    group = [host(f"b{i}", i) for i in range(1, 5)]
    plan = plan_down(group, amount=3, minimum=2, policy="oldest")
    assert [h.name for h in plan.remove] == ["b1", "b2"]
    assert (plan.after, plan.result) == (2, "clamped")
    assert plan_down(group[:2], amount=1, minimum=2, policy="oldest").result == "noop"


hosts_strategy = st.lists(
    st.builds(
        host,
        name=st.text("abc", min_size=1, max_size=3),
        age=st.integers(0, 100),
        state=st.sampled_from(["ready", "down", "disconnected", "unknown", "error"]),
        role=st.sampled_from(["worker", "worker", "manager"]),
        tasks=st.integers(0, 5),
        provider=st.sampled_from(["netns", None]),
        labels=st.sampled_from([{}, {PROTECTED_LABEL: "true"}]),
        is_self=st.booleans(),
    ),
    max_size=8,
    unique_by=lambda h: h.name,
)


@given(
    group=hosts_strategy,
    amount=st.integers(1, 6),
    minimum=st.integers(0, 6),
    policy=st.sampled_from(["least_busy", "oldest", "newest"]),
)
def test_down_properties(group: list[Host], amount: int, minimum: int, policy: str) -> None:
    plan = plan_down(group, amount=amount, minimum=minimum, policy=policy)  # type: ignore[arg-type]
    removed = list(plan.remove)
    assert len(removed) <= amount
    assert len({h.name for h in removed}) == len(removed)
    assert all(h.removable() is None for h in removed)
    assert all(h.state != "error" for h in removed)
    if removed:
        assert plan.after >= minimum
        assert plan.after == plan.before - len(removed)
    # unhealthy removable hosts always go before healthy ones
    unhealthy = [
        h for h in group if h.state in ("down", "disconnected", "unknown") and h.removable() is None
    ]
    if removed and any(h.state == "ready" for h in removed):
        assert all(h in removed for h in unhealthy)


@given(group=hosts_strategy, amount=st.integers(1, 6), maximum=st.integers(0, 10))
def test_up_properties(group: list[Host], amount: int, maximum: int) -> None:
    plan = plan_up(group, amount=amount, maximum=maximum, taken=[h.name for h in group])
    assert len(plan.names) == plan.after - plan.before <= amount
    assert not set(plan.names) & {h.name for h in group}
    if plan.names:
        assert plan.base is not None and plan.base.cloneable
        assert plan.after <= maximum
        oldest = min((h for h in group if h.cloneable), key=lambda h: (h.created, h.name))
        assert plan.base == oldest


@pytest.mark.parametrize(
    ("labels", "taken", "expected"),
    [
        ({"group": "batch"}, [], "batch-1"),
        ({"group": "batch"}, ["batch-1", "batch-2"], "batch-3"),
        ({"group": "GPU nodes"}, [], "gpu-nodes-1"),
        ({}, ["host-1"], "host-2"),
    ],
)
def test_a_groups_first_host_is_named_from_its_label(
    labels: dict[str, str], taken: list[str], expected: str
) -> None:
    assert first_name(labels, taken) == expected
