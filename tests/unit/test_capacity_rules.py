"""Capacity and limits, pinned down: the clamp's capacity bound, the default of a machine,
Swarm's placement and free slots, and how limits are read and written."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from scalehook.api.schemas import ResourcesRequest
from scalehook.backends.docker.resources import (
    NO_MEMORY_LIMIT,
    limits_of,
    restore_body,
    update_body,
)
from scalehook.backends.local.cgroups import Cgroups, mounts
from scalehook.backends.swarm.capacity import cluster, task_needs
from scalehook.backends.swarm.resources import spec_limits, with_limits
from scalehook.domain.capacity import (
    Capacity,
    Node,
    NodeFacts,
    TaskNeeds,
    constraint_matches,
    default_max_replicas,
    machine_capacity,
    max_tasks_label,
    swarm_capacity,
    task_slots,
)
from scalehook.domain.decisions import ScaleDecision, decide_replicas, decide_step, within_capacity
from scalehook.domain.incidents import IncidentMark
from scalehook.domain.resources import (
    KEEP,
    Resources,
    ResourcesChange,
    format_memory,
    parse_cpus,
    parse_memory,
    resources_of,
    revision_resources,
)

MI = 1024 * 1024
GI = 1024 * MI

# --- the clamp ----------------------------------------------------------------------------


def test_a_step_past_capacity_is_clamped_with_the_reason() -> None:
    step = decide_step(current=1, direction="up", amount=1000, minimum=1, maximum=2000)
    bounded = within_capacity(step, Capacity(32, "this machine holds at most 32 replicas"))
    assert (bounded.before, bounded.after, bounded.result) == (1, 32, "clamped")
    assert bounded.message.startswith("clamped to capacity 32: wanted 1001, scaled 1 to 32")
    assert "this machine holds at most 32" in bounded.message
    assert bounded.details == {"bound": "capacity", "capacity": 32}


def test_at_capacity_a_step_up_is_a_noop_that_owes_no_undo() -> None:
    fired = IncidentMark("f", datetime(2026, 1, 1, tzinfo=UTC), fired=True)
    resolved = IncidentMark("g", datetime(2026, 1, 1, tzinfo=UTC), fired=False)
    step = ScaleDecision(5, 7, "scaled", "scaled from 5 to 7", marks=(fired, resolved))
    bounded = within_capacity(step, Capacity(5, "full"))
    assert (bounded.after, bounded.result) == (5, "noop")
    assert bounded.message == "at capacity 5: stays at 5 (full)"
    assert [m.owes for m in bounded.marks] == [False, True]


def test_capacity_never_lowers_a_count() -> None:
    above = decide_replicas(current=40, replicas=50)
    assert within_capacity(above, Capacity(32, "full")).after == 40  # stays, not lowered
    down = decide_replicas(current=40, replicas=35)
    assert within_capacity(down, Capacity(32, "full")) == down  # a scale-down is not bounded
    assert within_capacity(decide_replicas(current=1, replicas=3), None).after == 3


@given(
    current=st.integers(0, 200),
    wanted=st.integers(0, 400),
    limit=st.integers(0, 300),
)
def test_the_capacity_bound_holds(current: int, wanted: int, limit: int) -> None:
    decision = within_capacity(
        decide_replicas(current=current, replicas=wanted), Capacity(limit, "x")
    )
    if wanted <= current:
        assert decision.after == wanted  # down or the same: as asked
    else:
        assert current <= decision.after <= max(current, limit)
        assert decision.after == min(wanted, max(current, limit))
        if decision.after < wanted:
            assert "capacity" in decision.message


def test_the_default_of_a_machine() -> None:
    assert default_max_replicas(2, 24 * GI) == 32  # 16 per CPU
    assert default_max_replicas(8, 1 * GI) == 8  # one per 128 MiB
    assert default_max_replicas(1, 64 * MI) == 1  # never 0
    room = machine_capacity(most=32, others=20, where="this machine", source="s", service="web")
    assert room.limit == 12
    assert room.reason == "this machine holds at most 32 replicas (s); other services have 20"


# --- Swarm placement -----------------------------------------------------------------------


def facts(
    name: str,
    *,
    tasks: int = 0,
    label: int | None = None,
    cpus: float = 2.0,
    memory: int = 4 * GI,
    reserved_cpus: float = 0.0,
    reserved_memory: int = 0,
    role: str = "worker",
    state: str = "ready",
    availability: str = "active",
    labels: dict[str, str] | None = None,
    tasks_of: dict[str, int] | None = None,
) -> NodeFacts:
    return NodeFacts(
        node=Node(
            backend="swarm",
            kind="swarm",
            id=f"id-{name}",
            name=name,
            state=state,
            cpus=cpus,
            memory=memory,
            replicas=tasks,
            max_replicas=label,
            bound="label" if label is not None else "reservations",
            role=role,
            availability=availability,
            labels=labels or {},
            reserved_cpus=reserved_cpus,
            reserved_memory=reserved_memory,
        ),
        hostname=name,
        address="10.0.0.5",
        os="linux",
        arch="x86_64",
        engine_labels={"zone": "A"},
        tasks_of=tasks_of or {},
    )


@pytest.mark.parametrize(
    ("constraint", "allowed"),
    [
        ("node.role==worker", True),
        ("node.role == manager", False),
        ("node.role!=manager", True),
        ("node.hostname==W1", True),  # values compare without case
        ("node.labels.group==batch", True),
        ("node.labels.Group==batch", False),  # label names are as written
        ("node.labels.disk==ssd", False),  # missing: ''
        ("node.labels.disk!=ssd", True),
        ("engine.labels.zone==a", True),
        ("node.platform.os==linux", True),
        ("node.platform.arch!=x86_64", False),
        ("node.ip==10.0.0.0/24", True),
        ("node.ip!=10.0.0.5", False),
        ("node.id==id-w1", True),
        ("node.nonsense==1", False),  # Swarm allows no node for what it cannot read
        ("no operator", False),
    ],
)
def test_placement_constraints_read_as_swarm_reads_them(constraint: str, allowed: bool) -> None:
    assert constraint_matches(constraint, facts("w1", labels={"group": "batch"})) is allowed


def test_free_slots_come_from_the_label_reservations_and_max_replicas() -> None:
    needs = TaskNeeds("svc", "web", cpus=0.5, memory=512 * MI, placed=2)
    assert task_slots(needs, facts("a", tasks=3, label=5)) == 2
    assert task_slots(needs, facts("b", reserved_cpus=1.0)) == 2  # (2 - 1) / 0.5
    assert task_slots(needs, facts("c", memory=GI, reserved_memory=0)) == 2  # 1 GiB / 512 MiB
    assert task_slots(TaskNeeds("svc", "web"), facts("d")) is None  # nothing bounds it
    assert task_slots(TaskNeeds("svc", "web"), facts("e", state="down")) == 0
    assert task_slots(TaskNeeds("svc", "web"), facts("f", availability="drain")) == 0
    pinned = TaskNeeds("svc", "web", max_per_node=2)
    assert task_slots(pinned, facts("g", tasks_of={"svc": 1})) == 1
    assert task_slots(pinned, facts("g", tasks=9, label=4, tasks_of={"svc": 1})) == 0


def test_a_services_swarm_capacity() -> None:
    needs = TaskNeeds("svc", "web", constraints=("node.role==worker",), placed=3)
    nodes = [
        facts("w1", tasks=2, label=4),
        facts("w2", tasks=3, label=3),
        facts("m1", role="manager"),  # no label, but not allowed: does not unbound it
    ]
    room = swarm_capacity(needs, nodes)
    assert room is not None
    assert room.limit == 3 + 2
    assert "room for 2 more (w1 2, w2 0)" in room.reason
    assert swarm_capacity(TaskNeeds("svc", "web"), nodes) is None  # m1 has no bound
    nowhere = swarm_capacity(TaskNeeds("svc", "web", constraints=("node.labels.x==y",)), nodes)
    assert nowhere is not None and nowhere.limit == 0


def test_the_max_tasks_label() -> None:
    assert max_tasks_label({"scalehook.max_tasks": "6"}) == (6, None)
    assert max_tasks_label({}) == (None, None)
    value, note = max_tasks_label({"scalehook.max_tasks": "lots"})
    assert value is None and note is not None and "lots" in note


def test_nodes_and_needs_from_the_engine_api() -> None:
    node = {
        "ID": "n1",
        "Spec": {
            "Role": "worker",
            "Availability": "active",
            "Labels": {"scalehook.max_tasks": "4"},
        },
        "Description": {
            "Hostname": "w1",
            "Resources": {"NanoCPUs": 2_000_000_000, "MemoryBytes": 4 * GI},
            "Platform": {"OS": "linux", "Architecture": "x86_64"},
        },
        "Status": {"State": "ready", "Addr": "10.0.0.5"},
    }
    reserving = {"Resources": {"Reservations": {"NanoCPUs": 500_000_000, "MemoryBytes": GI}}}
    tasks = [
        {"ServiceID": "s1", "NodeID": "n1", "DesiredState": "running", "Spec": reserving},
        {"ServiceID": "s1", "NodeID": "n1", "DesiredState": "shutdown", "Spec": reserving},
        {"ServiceID": "s2", "NodeID": "n1", "DesiredState": "running", "Spec": {}},
        {"ServiceID": "s1", "NodeID": "", "DesiredState": "running", "Spec": reserving},
    ]
    [one] = cluster([node], tasks, backend="swarm", names={"s1": "web", "s2": "api"})
    assert one.node.replicas == 2
    assert dict(one.node.services) == {"web": 1, "api": 1}
    assert (one.node.max_replicas, one.node.bound) == (4, "label")
    assert (one.node.reserved_cpus, one.node.reserved_memory) == (0.5, GI)
    service = {
        "ID": "s1",
        "Spec": {
            "Name": "web",
            "TaskTemplate": {
                **reserving,
                "Placement": {"Constraints": ["node.role==worker"], "MaxReplicas": 3},
            },
        },
    }
    needs = task_needs(service, tasks)
    assert (needs.cpus, needs.memory, needs.placed, needs.max_per_node) == (0.5, GI, 1, 3)
    assert needs.constraints == ("node.role==worker",)
    room = swarm_capacity(needs, [one])
    assert room is not None and room.limit == 1 + 2  # the label leaves 2: 4 - 2 tasks


# --- limits ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "size"),
    [
        ("256Mi", 256 * MI),
        ("1.5Gi", GI + 512 * MI),
        ("512M", 512_000_000),
        ("1G", 1_000_000_000),
        ("8192Ki", 8 * MI),
        (" 64 Mi ", 64 * MI),
        (268435456, 256 * MI),
        ("268435456", 256 * MI),
    ],
)
def test_memory_reads_as_kubernetes_writes_it(text: object, size: int) -> None:
    assert parse_memory(text) == size


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("lots", "not a size"),
        ("256m", "'m' means milli in Kubernetes and MiB in Docker"),
        ("256MB", "'m' means milli"),
        ("256Xi", "not a unit of size"),
        ("1Ki", "at least 6Mi"),
        (True, "a size"),
        ("9999999Ti", "larger than any machine"),
    ],
)
def test_bad_memory_says_why(text: object, words: str) -> None:
    with pytest.raises(ValueError, match=words):
        parse_memory(text)


def test_cpus() -> None:
    assert parse_cpus(0.5) == 0.5
    assert parse_cpus("2") == 2.0
    for bad, words in ((0, "greater than 0"), (-1, "greater than 0"), (0.001, "at least 0.01")):
        with pytest.raises(ValueError, match=words):
            parse_cpus(bad)
    with pytest.raises(ValueError, match="finite"):
        parse_cpus(float("inf"))


@given(st.integers(6 * MI, 2**50))
def test_memory_as_written_reads_back(size: int) -> None:
    assert parse_memory(format_memory(size)) == size


def test_a_change_keeps_what_it_does_not_name() -> None:
    current = Resources(cpus=1.0, memory=GI)
    assert ResourcesChange(cpus=0.5).applied_to(current) == Resources(0.5, GI)
    assert ResourcesChange(memory=None).applied_to(current) == Resources(1.0, None)
    assert ResourcesChange().empty and not ResourcesChange(cpus=None).empty
    request = ResourcesRequest.model_validate({"memory": "256Mi", "cpus": None})
    assert request.change() == ResourcesChange(cpus=None, memory=256 * MI)
    assert ResourcesRequest.model_validate({"cpus": 2}).change() == ResourcesChange(2.0, KEEP)


def test_a_revision_keeps_both_sides() -> None:
    kept = revision_resources(Resources(None, None), Resources(0.5, 256 * MI))
    assert kept == {
        "cpus": 0.5,
        "memory": 256 * MI,
        "memory_text": "256Mi",
        "previous": {"cpus": None, "memory": None, "memory_text": None},
    }
    assert resources_of(kept) == Resources(0.5, 256 * MI)
    assert resources_of(kept["previous"]) == Resources()


def test_docker_update_bodies() -> None:
    plain: dict[str, object] = {"NanoCpus": 0, "CpuQuota": 0, "Memory": 0}
    assert update_body(plain, Resources(0.5, 256 * MI), engine_cpus=2) == {
        "CpuPeriod": 100_000,
        "CpuQuota": 50_000,
        "Memory": 256 * MI,
        "MemorySwap": 256 * MI,
    }
    assert update_body(plain, Resources(), engine_cpus=2) == {}  # nothing to change
    nano = {"NanoCpus": 1_000_000_000, "Memory": 256 * MI, "MemorySwap": 512 * MI}
    assert limits_of(nano) == Resources(1.0, 256 * MI)
    assert update_body(nano, Resources(None, None), engine_cpus=2) == {
        "NanoCpus": 2_000_000_000,  # an update cannot clear NanoCpus: all the engine's CPUs
        "Memory": NO_MEMORY_LIMIT,
        "MemorySwap": NO_MEMORY_LIMIT,
    }
    assert limits_of({"Memory": NO_MEMORY_LIMIT}) == Resources()
    assert restore_body(nano) == {
        "NanoCpus": 1_000_000_000,
        "Memory": 256 * MI,
        "MemorySwap": 512 * MI,
    }
    assert restore_body(plain)["CpuQuota"] == -1


def test_swarm_limits_in_the_spec() -> None:
    spec = {"TaskTemplate": {"Resources": {"Reservations": {"NanoCPUs": 1}}}}
    limited = with_limits(spec, Resources(0.5, 256 * MI))
    assert limited["TaskTemplate"]["Resources"] == {
        "Reservations": {"NanoCPUs": 1},
        "Limits": {"NanoCPUs": 500_000_000, "MemoryBytes": 256 * MI},
    }
    assert spec_limits(limited) == Resources(0.5, 256 * MI)
    assert spec_limits(with_limits(limited, Resources(cpus=None, memory=256 * MI))) == Resources(
        None, 256 * MI
    )
    assert "Limits" not in spec["TaskTemplate"]["Resources"]  # the spec read is left alone


def test_cgroup_hierarchies_from_mountinfo() -> None:
    text = (
        "31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755\n"
        "32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw,relatime - cgroup cgroup rw,cpu,cpuacct\n"
        "35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory\n"
        "41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw\n"
    )
    found = mounts(text)
    assert [(m.fstype, str(m.path)) for m in found] == [
        ("cgroup", "/sys/fs/cgroup/cpu,cpuacct"),
        ("cgroup", "/sys/fs/cgroup/memory"),
        ("cgroup2", "/sys/fs/cgroup/unified"),
    ]
    assert "cpu" in found[0].options and "memory" in found[1].options


def test_a_cgroup_already_gone_is_released_without_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    bases = {c: tmp_path / c / "scalehook" / "one" for c in ("cpu", "memory")}
    (bases["cpu"] / "web" / "web-1").mkdir(parents=True)  # memory's is gone already
    (bases["memory"] / "web").mkdir(parents=True)
    cgroups = Cgroups("cgroup1", bases, "test")
    with caplog.at_level(logging.WARNING):
        cgroups.release("web", "web-1")
        cgroups.close()
    assert not (bases["cpu"] / "web" / "web-1").exists()
    assert not (tmp_path / "cpu" / "scalehook").exists()
    assert caplog.records == []
