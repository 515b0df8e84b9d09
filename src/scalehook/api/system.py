"""Health and metrics: open to all, like the trigger."""

from __future__ import annotations

from fastapi import APIRouter, Response

from scalehook import __version__
from scalehook.api.deps import RuntimeDep
from scalehook.api.schemas import Health
from scalehook.metrics import CONTENT_TYPE
from scalehook.notifications.delivery import refresh_metrics

router = APIRouter(tags=["system"])


@router.get("/healthz", operation_id="getHealth", response_model=Health)
async def healthz(runtime: RuntimeDep) -> Health:
    """200 once scalehook is up: the store is open and the backends have started.
    ``leader`` says whether this instance runs the loops."""
    return Health(
        status="ok",
        version=__version__,
        leader=runtime.leadership.leading,
        instance=runtime.leadership.instance,
    )


@router.get(
    "/metrics",
    operation_id="getMetrics",
    response_class=Response,
    responses={200: {"content": {CONTENT_TYPE: {"schema": {"type": "string"}}}}},
)
async def metrics(runtime: RuntimeDep) -> Response:
    """Prometheus metrics: triggers by receiver and result, durations, replicas per
    service, hosts per group, the process, notification deliveries and the outbox.
    Answers within a few seconds even while an engine hangs: counts it cannot read in
    time are its last ones, marked stale."""
    await runtime.scrape.refresh()
    await refresh_metrics(runtime.store, runtime.metrics)
    return Response(runtime.metrics.render(), media_type=CONTENT_TYPE)
