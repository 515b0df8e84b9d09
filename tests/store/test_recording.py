"""The recorder writes every execution with the time of the injected clock."""

from __future__ import annotations

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
