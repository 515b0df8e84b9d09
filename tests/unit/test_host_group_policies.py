"""Policies on a host group: what the spec refuses (naming the field), the capacity
source's figures per host, and the HPA calculation over hosts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from scalehook.domain.capacity import MAX_TASKS_LABEL
from scalehook.domain.hosts import Host, HostLoad
from scalehook.domain.policies import History, evaluate, parse_policy
from scalehook.errors import InvalidRequest
from scalehook.policies.sources.capacity import CapacitySource, host_value

NOW = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)


def hosts_policy(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": "batch-slots",
        "hosts": {"selector": {"group": "batch"}},
        "min": 1,
        "max": 5,
        "metrics": [{"name": "slots", "source": "capacity", "metric": "used", "target": 75}],
        "behavior": {"down": {"stabilization": "0s"}},
    }
    body.update(changes)
    return body


def host(
    name: str,
    tasks: int,
    most: str | None = "4",
    *,
    state: str = "ready",
    availability: str = "active",
) -> Host:
    labels = {"group": "batch"}
    if most is not None:
        labels[MAX_TASKS_LABEL] = most
    return Host(
        id=name,
        name=name,
        state=state,
        availability=availability,
        role="worker",
        labels=labels,
        created=NOW - timedelta(hours=1),
        provider="netns",
        load=HostLoad(running_tasks=tasks),
    )


def refusal(body: dict[str, Any]) -> InvalidRequest:
    with pytest.raises(InvalidRequest) as caught:
        parse_policy(body)
    return caught.value


def test_a_host_group_policy_names_its_target_and_keeps_its_defaults() -> None:
    spec = parse_policy(hosts_policy(hosts={"selector": {"tier": "b", "group": "batch"}}))
    assert spec.service is None
    assert spec.target == "hosts/group=batch,tier=b"  # the lock a scaleHost receiver takes
    assert spec.hosts is not None
    assert (spec.hosts.remove_policy, spec.hosts.drain_timeout) == ("least_busy", 300.0)
    assert spec.as_json()["hosts"]["selector"] == {"tier": "b", "group": "batch"}
    assert "service" not in spec.as_json()


@pytest.mark.parametrize(
    ("changes", "field", "words"),
    [
        ({"service": "web"}, "service", "one of them"),
        ({"hosts": None}, "service", "one of them"),
        ({"min": 0}, "min", "at least 1 host"),
        ({"max": 1001}, "max", "at most 1000"),
        ({"hosts": {"selector": {}}}, "hosts.selector", "at least 1"),
        ({"hosts": {"selector": {"group": "b" * 200}}}, "hosts.selector", "longer than 200"),
        ({"hosts": {"selector": {"group": "b"}, "remove_policy": "random"}},
         "hosts.remove_policy", "least_busy"),
        ({"metrics": [{"name": "c", "source": "engine", "metric": "cpu", "target": 50}]},
         "metrics[0].source", "a service's replicas"),
        ({"metrics": [{"name": "c", "source": "capacity", "metric": "cpu", "target": 50}]},
         "metrics[0].metric", "used and tasks"),
    ],
)  # fmt: skip
def test_what_a_host_group_policy_refuses(changes: dict[str, Any], field: str, words: str) -> None:
    error = refusal(hosts_policy(**changes))
    assert error.field == field, error.message
    assert words in error.message


def test_a_service_policy_cannot_read_capacity() -> None:
    body = hosts_policy(service="web", hosts=None)
    error = refusal(body)
    assert error.field == "metrics[0].source"
    assert "policy on hosts" in error.message


def test_used_is_percent_of_the_label_and_unknown_is_never_zero() -> None:
    assert host_value("used", host("a", 3)) == 75.0
    assert host_value("tasks", host("a", 3)) == 3.0
    assert host_value("used", host("a", 3, most=None)) is None  # slots unknown
    assert host_value("used", host("a", 3, most="many")) is None
    assert host_value("used", host("a", 0, most="0")) is None
    assert host_value("used", host("a", 1, availability="drain")) is None
    assert host_value("tasks", host("a", 1, state="down")) is None


def test_the_reading_has_one_value_per_counted_host() -> None:
    spec = parse_policy(hosts_policy())
    (metric,) = spec.read_metrics
    source = CapacitySource()
    reading = source.reading(metric, [host("a", 4), host("b", 2), host("c", 0, state="error")])
    assert reading.error is None
    assert reading.replicas is not None
    assert [(r.replica, r.value) for r in reading.replicas] == [("a", 100.0), ("b", 50.0)]


def test_a_group_without_slot_labels_is_an_error_that_says_why() -> None:
    spec = parse_policy(hosts_policy())
    (metric,) = spec.read_metrics
    reading = CapacitySource().reading(metric, [host("a", 4, most=None)])
    assert reading.error is not None and MAX_TASKS_LABEL in reading.error
    bad = CapacitySource().reading(metric, [host("a", 4, most="lots")])
    assert bad.error is not None and "not a whole number" in bad.error


def decide(hosts: list[Host], **changes: Any) -> int:
    spec = parse_policy(hosts_policy(**changes))
    (metric,) = spec.read_metrics
    reading = CapacitySource().reading(metric, hosts)
    history = History(started=True)
    evaluation = evaluate(
        spec, current=len(hosts), readings={metric.name: reading}, history=history, now=NOW
    )
    return evaluation.desired


def test_a_full_group_grows_and_an_idle_one_shrinks_to_min() -> None:
    # 7 of 8 slots: 87.5 % against 75 → ceil(2 * 87.5 / 75) = 3 hosts
    assert decide([host("a", 4), host("b", 3)]) == 3
    # within tolerance: 3 of 4 slots on each of two hosts is the target
    assert decide([host("a", 3), host("b", 3)]) == 2
    # idle: down to min
    assert decide([host("a", 0), host("b", 0), host("c", 0)]) == 1


def test_a_host_without_a_figure_shrinks_the_group_less() -> None:
    # one host's slots are unknown: on a scale-down it counts as full (as HPA counts a
    # pod without metrics): (0 + 0 + 100) / 3 against 75 → 2 hosts, not min's 1
    assert decide([host("a", 0), host("b", 0), host("c", 0, most=None)]) == 2
    # and on a scale-up as empty: 100 + 100 + 0 over 3 against 75 → ratio 0.89, the
    # other way round from the counted hosts' 1.33: it holds until the figures are in
    assert decide([host("a", 4), host("b", 4), host("c", 0, most=None)]) == 3
