"""The executor: the only place that applies decisions to a backend.

It serialises work per target, so concurrent triggers never lose an update or pass a
bound, and it writes the Execution record whatever happens, failures included.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from scalehook.backends import Backends, ServiceState
from scalehook.decisions import ScaleDecision
from scalehook.errors import ScalehookError
from scalehook.executions import Execution, ExecutionDraft
from scalehook.locks import KeyedLocks
from scalehook.metrics import Metrics
from scalehook.store import Store


@dataclass(frozen=True, slots=True)
class Audit:
    """Who asked for an action, for the execution record."""

    driver: str
    receiver_id: int | None = None
    receiver_name: str | None = None
    caller: str | None = None
    started_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    clock: float = field(default_factory=time.perf_counter)


class Executor:
    def __init__(self, store: Store, backends: Backends, metrics: Metrics) -> None:
        self.store = store
        self.backends = backends
        self.metrics = metrics
        self.locks = KeyedLocks()

    async def scale(
        self,
        *,
        service: str,
        decide: Callable[[ServiceState], ScaleDecision],
        audit: Audit,
    ) -> Execution:
        """Read the service, decide, apply, record: one target at a time.

        The execution is recorded before the target's lock is released, so the trail
        is in the order of application and lags the backend by at most the one step
        a crash can interrupt. A backend error is recorded as a ``failed`` execution
        and raised again, with the execution's id attached, for the API to answer.
        """
        try:
            backend, name = await self.backends.resolve(service)
        except ScalehookError as exc:
            await self._failed(audit, service, None, exc)
            raise
        target = f"{backend.name}/{name}"
        async with self.locks.hold(target):
            before: int | None = None
            try:
                state = await backend.get_service(service=name)
                before = state.desired
                decision = decide(state)
                if decision.after != state.desired:
                    await backend.scale(service=name, replicas=decision.after)
            except ScalehookError as exc:
                await self._failed(audit, target, before, exc)
                raise
            return await self.record(
                audit,
                target=target,
                result=decision.result,
                message=decision.message,
                before=decision.before,
                after=decision.after,
            )

    async def _failed(
        self, audit: Audit, target: str, before: int | None, exc: ScalehookError
    ) -> None:
        execution = await self.record(
            audit, target=target, result="failed", message=exc.message, before=before, after=before
        )
        exc.execution_id = execution.id

    async def record(
        self,
        audit: Audit,
        *,
        target: str | None,
        result: str,
        message: str,
        before: int | None = None,
        after: int | None = None,
        details: dict[str, Any] | None = None,
    ) -> Execution:
        seconds = time.perf_counter() - audit.clock
        execution = await self.store.add_execution(
            ExecutionDraft(
                started_at=audit.started_at,
                driver=audit.driver,
                target=target,
                result=result,
                message=message,
                duration_ms=round(seconds * 1000, 3),
                receiver_id=audit.receiver_id,
                receiver_name=audit.receiver_name,
                caller=audit.caller,
                before=before,
                after=after,
                details=details or {},
            )
        )
        self.metrics.observe(
            receiver=audit.receiver_name or "", driver=audit.driver, result=result, seconds=seconds
        )
        return execution
