"""HAProxy's per-replica counters as the policies' ``balancer`` source reads them: every
replica of the service is listed, in flight becomes ``connections``, and a replica that
HAProxy does not carry has no reading (missing, never 0)."""

from __future__ import annotations

from scalehook.backends.base import Replica
from scalehook.balancers.stats import ReplicaLoad
from scalehook.policies.sources.balancer import Counted, from_haproxy


def replica(id: str, *, ready: bool = True) -> Replica:
    return Replica(id=id, service="web", state="running", ready=ready)


def test_each_replica_gets_haproxys_counters_or_none() -> None:
    loads = {
        "web-1": ReplicaLoad("web-1", in_flight=3, total=40, rate=2.5),
        "web-2": ReplicaLoad("web-2", in_flight=0, total=7, rate=None),
        "web-9": ReplicaLoad("web-9", in_flight=5, total=9, rate=None),  # not a replica now
    }
    counted = from_haproxy(
        [replica("web-1"), replica("web-2"), replica("web-3", ready=False)], loads
    )
    assert counted == [
        Counted("web-1", ready=True, active=3, total=40),
        Counted("web-2", ready=True, active=0, total=7),
        Counted("web-3", ready=False, active=None, total=None),  # not joined yet
    ]


def test_no_replica_no_reading() -> None:
    assert from_haproxy([], {"web-1": ReplicaLoad("web-1", 1, 1, None)}) == []
