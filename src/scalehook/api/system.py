"""Health and metrics: open to all, like the trigger."""

from __future__ import annotations

from fastapi import APIRouter, Response

from scalehook import __version__
from scalehook.api.deps import RuntimeDep
from scalehook.api.schemas import Health
from scalehook.errors import ScalehookError
from scalehook.metrics import CONTENT_TYPE
from scalehook.notifications.delivery import refresh_metrics

router = APIRouter(tags=["system"])


@router.get("/healthz", response_model=Health)
async def healthz(runtime: RuntimeDep) -> Health:
    """200 once scalehook is up: the store is open and the backends have started.
    ``leader`` says whether this instance runs the loops."""
    return Health(
        status="ok",
        version=__version__,
        leader=runtime.leadership.leading,
        instance=runtime.leadership.instance,
    )


@router.get("/metrics", response_class=Response)
async def metrics(runtime: RuntimeDep) -> Response:
    """Prometheus metrics: triggers by receiver and result, durations, replicas per
    service, notification deliveries and the outbox."""
    services = []
    for backend in runtime.backends:
        try:
            services.extend(await backend.list_services())
            runtime.metrics.backend_up.labels(backend.name).set(1)
        except ScalehookError:
            runtime.metrics.backend_up.labels(backend.name).set(0)
    runtime.metrics.set_services(services)
    await refresh_metrics(runtime.store, runtime.metrics)
    return Response(runtime.metrics.render(), media_type=CONTENT_TYPE)
