"""The recorder writes every execution with the time of the injected clock."""

from __future__ import annotations

from scalehook.domain.revisions import RevisionDraft
from scalehook.loops import ManualClock
from scalehook.metrics import Metrics
from scalehook.recording import Audit, Recorder
from scalehook.store import Store


async def test_executions_take_their_times_from_the_clock(store: Store) -> None:
    clock, metrics = ManualClock(), Metrics()
    recorder = Recorder(store, metrics, clock)
    audit = recorder.stamp(Audit(driver="policy", receiver_name="web-cpu"))
    began = clock.now()
    await clock.advance(2)
    done = await recorder.record(audit, target="local/web", result="scaled", message="1 -> 2")
    assert done.started_at == began
    assert done.duration_ms == 2000.0

    running = await recorder.begin(
        audit, target="local/web", result="upgrading", message="rolling", details={}
    )
    assert running.status == "running"
    await clock.advance(60)
    await recorder.finish(
        running.id, audit, result="upgraded", message="done", details={"batches": []}
    )
    finished = await store.executions.get(running.id)
    assert (finished.status, finished.result) == ("done", "upgraded")
    assert finished.duration_ms == 62000.0
    counted = metrics.registry.get_sample_value(
        "scalehook_triggers_total",
        {"receiver": "web-cpu", "driver": "policy", "result": "upgraded"},
    )
    assert counted == 1


async def test_revisions_are_written_with_their_execution_and_follow_its_result(
    store: Store,
) -> None:
    """The seam a resources change uses (``Recorder.record`` with a draft), and the one a
    rollout uses (``begin``, ``update``, ``finish``), on every way the store runs."""
    clock = ManualClock()
    recorder = Recorder(store, Metrics(), clock)
    audit = Audit(driver="api", caller="127.0.0.1")
    rolling = await recorder.begin(
        audit,
        target="docker/web",
        result="upgrading",
        message="rolling",
        details={"from": "acme/app:1"},
        revision=RevisionDraft("image", "acme/app:2", "acme/app:1", "upgrade by hand"),
    )
    assert rolling.details == {"from": "acme/app:1", "revision": 2}
    await recorder.update(rolling.id, details={}, result="rolling_back")
    turned = await store.revisions.by_execution(rolling.id)
    assert turned is not None and turned.outcome == "rolling_back"
    await recorder.finish(rolling.id, audit, result="rolled_back", message="m", details={})
    resources = RevisionDraft(
        "resources", "acme/app:1", "acme/app:1", "resources by hand", {"cpus": 0.5}
    )
    done = await recorder.record(
        audit, target="docker/web", result="scaled", message="m", revision=resources
    )
    dry = await recorder.record(
        Audit(driver="api", dry_run=True), target="docker/web", result="dry_run",
        message="m", revision=resources,
    )  # fmt: skip
    found = await store.revisions.of("docker/web")
    assert [(r.number, r.change, r.image, r.outcome) for r in found] == [
        (1, "image", "acme/app:1", "initial"),
        (2, "image", "acme/app:2", "rolled_back"),
        (3, "resources", "acme/app:1", "scaled"),
    ]
    assert found[2].resources == {"cpus": 0.5} and found[2].execution_id == done.id
    assert (found[1].driver, found[1].caller) == ("api", "127.0.0.1")
    assert "revision" not in dry.details  # a dry run changes nothing: no revision
    assert await store.revisions.of("docker/other") == []
