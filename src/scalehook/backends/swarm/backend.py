"""The ``swarm`` backend: Docker Swarm services, scaled through their replica count.

Swarm keeps the count itself, so a scale is one service update carrying the spec just
read and its version (a concurrent change makes the engine refuse it; it is read again
and retried). The spec goes back as it came: no registry is asked for the image's
digest, so services of images that exist only on the nodes scale as well. Counts come
from the tasks: ``running`` are started (``starting`` waits for a HEALTHCHECK), and
``ready`` are running. Global services and jobs have no count to set: not scalable.

A rolling upgrade is Swarm's own (``update.py``): scalehook writes the update config and
the image, then reports the service's ``UpdateStatus`` until Swarm settles it.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections import Counter
from datetime import datetime
from typing import Literal

from scalehook.backends.base import (
    Phase,
    Progress,
    Replica,
    ReplicaStats,
    RolloutEvent,
    ServiceState,
    UpgradeResult,
    UpgradeStrategy,
)
from scalehook.backends.engine import (
    JSON,
    EngineClient,
    EngineError,
    EngineNotFound,
    EngineSettings,
    resolve_address,
)
from scalehook.backends.engine.boundary import engine_boundary
from scalehook.backends.engine.readiness import Readiness, readiness
from scalehook.backends.engine.registry_auth import RegistryAuth
from scalehook.backends.engine.stats import container_stats
from scalehook.backends.rolling import IMAGE_LABEL, same_image, show
from scalehook.backends.swarm.update import (
    ROLLBACK_STATES,
    Observation,
    by_tag,
    configured,
    container_image,
    declared,
    observe,
    place,
    slot_of,
    task_state,
    with_config,
    with_image,
)
from scalehook.domain.images import InvalidImage, parse_image
from scalehook.domain.selectors import Selector
from scalehook.errors import (
    BackendError,
    InvalidRequest,
    NotScalable,
    ServiceNotFound,
)

log = logging.getLogger(__name__)

MAX_SWARM_REPLICAS = 10_000
_UPDATE_ATTEMPTS = 5
_MODES = {
    "Replicated": "replicated",
    "Global": "global",
    "ReplicatedJob": "replicated-job",
    "GlobalJob": "global-job",
}
_WATCH_EVERY = 0.5
_STARTED = frozenset({"starting", "running"})
_FAILED = frozenset({"failed", "rejected"})


class SwarmSettings(EngineSettings):
    """A Swarm manager's engine (``docker service``)."""

    type: Literal["swarm"] = "swarm"


@engine_boundary
class SwarmBackend:
    kind = "swarm"

    def __init__(
        self, name: str, settings: SwarmSettings, *, registry_auth: RegistryAuth | None = None
    ) -> None:
        self._name = name
        self._auth = registry_auth or RegistryAuth()
        self._client = EngineClient(
            resolve_address(settings.docker_host, settings.docker_tls), timeout=settings.timeout
        )

    @property
    def name(self) -> str:
        return self._name

    async def start(self) -> None:
        try:
            info = await self._client.get("/info")
        except BackendError as exc:  # scalehook runs on; each use tries again
            log.warning("backend %s: %s", self._name, exc.message)
            return
        if not isinstance(info, dict) or not (info.get("Swarm") or {}).get("ControlAvailable"):
            log.warning(
                "backend %s: the engine at %s is not a swarm manager; its services cannot be "
                "read or scaled until it is",
                self._name,
                self._client.address.display,
            )

    async def close(self) -> None:
        await self._client.close()

    # reading ---------------------------------------------------------------------

    async def _service(self, service: str) -> JSON:
        try:
            return await self._client.get(f"/services/{service}")
        except EngineNotFound as exc:
            raise ServiceNotFound(
                f"no service named {service!r} on backend {self._name!r}"
            ) from exc

    async def _tasks(self, *, service_id: str | None = None, current: bool = True) -> list[JSON]:
        filters: dict[str, list[str]] = {}
        if current:
            filters["desired-state"] = ["running"]
        if service_id is not None:
            filters["service"] = [service_id]
        tasks: list[JSON] = await self._client.get(
            "/tasks", params={"filters": json.dumps(filters)}
        )
        if service_id is not None:
            tasks = [t for t in tasks if t.get("ServiceID") == service_id]
        return tasks

    def _state(self, service: JSON, tasks: list[JSON]) -> ServiceState:
        spec = service.get("Spec") or {}
        mode_key = next((k for k in _MODES if k in (spec.get("Mode") or {})), "Replicated")
        current = [t for t in tasks if t.get("DesiredState") == "running"]
        if mode_key == "Replicated":
            desired = int(((spec.get("Mode") or {}).get("Replicated") or {}).get("Replicas", 0))
        else:
            desired = len(current)
        states = [((t.get("Status") or {}).get("State") or "") for t in current]
        return ServiceState(
            name=spec.get("Name") or service["ID"],
            backend=self._name,
            labels={k: v for k, v in (spec.get("Labels") or {}).items() if k != IMAGE_LABEL},
            desired=desired,
            running=sum(1 for s in states if s in _STARTED),
            ready=sum(1 for s in states if s == "running"),
            image=declared(spec),
            scalable=mode_key == "Replicated",
            mode=_MODES[mode_key],
        )

    async def list_services(self, *, selector: Selector | None = None) -> list[ServiceState]:
        services, tasks = await asyncio.gather(self._client.get("/services"), self._tasks())
        by_service: dict[str, list[JSON]] = {}
        for task in tasks:
            by_service.setdefault(task.get("ServiceID", ""), []).append(task)
        states = [self._state(s, by_service.get(s["ID"], [])) for s in services]
        return sorted(
            (s for s in states if selector is None or selector.matches(s.labels)),
            key=lambda s: s.name,
        )

    async def get_service(self, *, service: str) -> ServiceState:
        found = await self._service(service)
        return self._state(found, await self._tasks(service_id=found["ID"]))

    async def replicas(self, *, service: str) -> list[Replica]:
        found = await self._service(service)
        name = (found.get("Spec") or {}).get("Name") or found["ID"]
        tasks = await self._tasks(service_id=found["ID"], current=False)
        failed = Counter(place(t) for t in tasks if task_state(t) in _FAILED)
        current = sorted(
            (t for t in tasks if t.get("DesiredState") == "running"),
            key=lambda t: (int(t.get("Slot") or 0), place(t)),
        )
        return [_replica(t, service=name, restarts=failed[place(t)]) for t in current]

    async def upgrade(
        self,
        *,
        service: str,
        image: str,
        previous: str | None,
        strategy: UpgradeStrategy,
        progress: Progress,
    ) -> UpgradeResult:
        """One service update, then Swarm's ``UpdateStatus`` reported until it settles.

        An update to ``image`` already in the spec (a rollout resumed after a restart)
        is watched, not issued again. Cancelled, only the watch stops: Swarm goes on,
        and the update of a newer push replaces this one, as Swarm does."""
        try:
            parse_image(image)
        except InvalidImage as exc:
            raise InvalidRequest(str(exc), field="image") from exc
        found = await self._service(service)
        spec = found.get("Spec") or {}
        name = spec.get("Name") or found["ID"]
        mode = next(iter(spec.get("Mode") or {"Replicated": {}}))
        if mode not in ("Replicated", "Global"):
            raise InvalidRequest(f"{self._name}/{name} is a {_MODES.get(mode, mode)}: not rolled")
        phase: Phase = "rolling" if previous is not None else "rolling_back"
        if same_image(declared(spec), image):
            state = (found.get("UpdateStatus") or {}).get("State") or "none"
            what = "the update" if phase == "rolling" else "Swarm's rollback"
            text = f"{what} to {show(image)} was issued before ({state})"
            await progress(RolloutEvent(phase, text))
        else:
            found = await self._issue(found["ID"], name, image, strategy)
        template = (found.get("Spec") or {}).get("TaskTemplate") or {}
        return await self._watch(
            found["ID"],
            name,
            image=image,
            force=int(template.get("ForceUpdate") or 0),
            previous=previous,
            strategy=strategy,
            progress=progress,
            phase=phase,
        )

    async def _issue(self, ident: str, name: str, image: str, strategy: UpgradeStrategy) -> JSON:
        """Write the update config (an update of its own, so that a rollback uses it
        too), then the image; each read fresh, and retried when the version moved on.
        Returns the service as updated."""
        for _ in range(_UPDATE_ATTEMPTS * 2):
            found = await self._service(ident)
            spec = found.get("Spec") or {}
            paused = (found.get("UpdateStatus") or {}).get("State") in ("paused", "rollback_paused")
            config_first = not configured(spec, strategy) and not paused
            # a paused update is not touched by a config-only update: it would resume
            new = (
                with_config(spec, strategy)
                if config_first
                else with_image(with_config(spec, strategy), image)
            )
            if await self._write_spec(found, new, name=name, doing="update") is None:
                continue  # changed since we read it: read it again
            if not config_first:
                return await self._service(ident)
        raise BackendError(f"cannot update {name}: it kept changing under us")  # pragma: no cover

    async def _write_spec(
        self, found: JSON, spec: JSON, *, name: str, doing: str, rollback: bool = False
    ) -> JSON:
        """POST ``spec`` at the version that was read, with its image's registry
        credentials when some are found (the nodes pull with them); ``None`` when the
        service changed since (read it again), the engine's own words when it refuses."""
        try:
            answer = await self._client.request(
                "POST",
                f"/services/{found['ID']}/update",
                params={
                    "version": found["Version"]["Index"],
                    **({"rollback": "previous"} if rollback else {}),
                },
                json=spec,
                headers=await self._auth.headers(container_image(spec)),
            )
        except EngineNotFound as exc:
            raise ServiceNotFound(f"service {name!r} went away on backend {self._name!r}") from exc
        except EngineError as exc:
            if "out of sequence" in exc.engine_text:
                return None
            raise exc.reworded(f"cannot {doing} {name}: {exc.engine_text}") from exc
        return answer.json() or {}

    async def _watch(
        self,
        ident: str,
        name: str,
        *,
        image: str,
        force: int,
        previous: str | None,
        strategy: UpgradeStrategy,
        progress: Progress,
        phase: Phase,
    ) -> UpgradeResult:
        runs = by_tag(image)
        size = max(1, strategy.batch_size)
        reported: list[str] = []
        rolling_back = phase == "rolling_back"
        reason = ""
        starting: dict[str, float] = {}  # task id → when first seen starting
        loop = asyncio.get_running_loop()
        while True:
            found = await self._service(ident)
            seen = observe(
                found, await self._tasks(service_id=ident, current=False), image=runs, force=force
            )
            if seen.state in ("paused", *ROLLBACK_STATES) and not reason:
                reason = await self._why(seen, name, image)
            if seen.state in ROLLBACK_STATES and not rolling_back:
                rolling_back = True
                text = f"Swarm rolls back to {_shown(previous)}: {reason}"
                await progress(RolloutEvent("rolling_back", text))
            if not rolling_back:
                reported = await self._batches(seen, reported, size, image, progress)
                starting = {
                    str(t["ID"]): starting.get(str(t["ID"]), loop.time()) for t in seen.starting
                }
                late = [
                    t
                    for t in seen.starting
                    if loop.time() - starting[str(t["ID"])] > strategy.health_timeout
                ]
                if late and seen.state in ("updating", "") and previous is not None:
                    reason = await self._late(late, name, image, strategy.health_timeout)
                if reason and not rolling_back and seen.state in ("updating", ""):
                    if strategy.on_failure == "pause":
                        return UpgradeResult(
                            "paused",
                            f"paused: {reason}; {len(seen.updated)} of {seen.total} task(s) "
                            f"run {show(image)}; Swarm goes on waiting for the task, which "
                            "has no time limit of its own",
                        )
                    await self._rollback(ident, name)
            result = _settled(
                seen, found, image, previous=previous, rolling_back=rolling_back, reason=reason
            )
            if result is not None:
                return result
            await asyncio.sleep(_WATCH_EVERY)

    async def _why(self, seen: Observation, name: str, image: str) -> str:
        """Why the update failed: the failed task's error, or its container's last
        health check when this engine has the container; else Swarm's message."""
        task = seen.failed
        if task is None:
            return seen.message
        status = task.get("Status") or {}
        health = await self._health(task)
        detail = health.detail if health is not None else str(status.get("Err") or "")
        detail = detail or str(status.get("Message") or status.get("State") or "it ended")
        return f"task {slot_of(task, name)} ({show(image)}) failed: {detail}"

    async def _late(self, late: list[JSON], name: str, image: str, timeout: float) -> str:
        """Why a task still starting after ``timeout`` fails the update, or '' while
        Swarm acts itself (its container is already unhealthy or gone: Swarm fails it)."""
        for task in late:
            found = await self._health(task)
            if found is not None and found.verdict == "failed":
                continue
            detail = "starting" if found is None else found.detail
            return (
                f"task {slot_of(task, name)} ({show(image)}) was not healthy within "
                f"{timeout:g}s ({detail})"
            )
        return ""

    async def _health(self, task: JSON) -> Readiness | None:
        """What the task's container says of its state, when this engine has it."""
        container = _container(task)
        if not container:
            return None
        try:
            record = await self._client.get(f"/containers/{container}/json")
        except EngineError:  # on another node, or removed
            return None
        return readiness(record)

    async def _rollback(self, ident: str, name: str) -> None:
        """Ask Swarm to roll the update back, as ``docker service rollback`` does."""
        for _ in range(_UPDATE_ATTEMPTS):
            found = await self._service(ident)
            spec = found.get("Spec") or {}
            written = await self._write_spec(
                found, spec, name=name, doing="roll back", rollback=True
            )
            if written is not None:
                return
        raise BackendError(f"cannot roll {name} back: it kept changing under us")

    @staticmethod
    async def _batches(
        seen: Observation, reported: list[str], size: int, image: str, progress: Progress
    ) -> list[str]:
        """Report each ``size`` more tasks running the new spec as a batch (Swarm
        pipelines its workers, so this is the count, not lock-step batches)."""
        batches = max(1, -(-seen.total // size))
        fresh = [slot for slot in seen.updated if slot not in reported]
        while fresh and (len(fresh) >= size or len(reported) + len(fresh) >= seen.total):
            batch, fresh = fresh[:size], fresh[size:]
            reported = [*reported, *batch]
            number = -(-len(reported) // size)
            await progress(
                RolloutEvent(
                    "rolling",
                    f"batch {number}/{batches} ready: {', '.join(batch)} on {show(image)}",
                    batch=number,
                    batches=batches,
                    replaced=tuple(batch),
                    started=tuple(batch),
                    ready=True,
                )
            )
        return reported

    async def stats(self, *, service: str) -> list[ReplicaStats]:
        found = await self._service(service)
        name = (found.get("Spec") or {}).get("Name") or found["ID"]
        tasks = [t for t in await self._tasks(service_id=found["ID"]) if _container(t)]
        samples = await asyncio.gather(
            *(container_stats(self._client, _container(t)) for t in tasks)
        )
        return [
            ReplicaStats(replica=slot_of(t, name), cpu_percent=s[0], memory_bytes=s[1])
            for t, s in zip(tasks, samples, strict=True)
            if s is not None  # a task on another node: its engine is not this one
        ]

    # scaling ---------------------------------------------------------------------

    async def scale(self, *, service: str, replicas: int) -> None:
        if not 0 <= replicas <= MAX_SWARM_REPLICAS:
            raise InvalidRequest(
                f"replicas must be between 0 and {MAX_SWARM_REPLICAS}", field="replicas"
            )
        for _ in range(_UPDATE_ATTEMPTS):
            found = await self._service(service)
            spec = found.get("Spec") or {}
            name = spec.get("Name") or found["ID"]
            mode = spec.get("Mode") or {}
            if "Replicated" not in mode:
                kind = _MODES.get(next(iter(mode), ""), "unknown")
                raise NotScalable(f"{self._name}/{name} runs in {kind} mode and cannot be scaled")
            mode["Replicated"] = {**(mode.get("Replicated") or {}), "Replicas": replicas}
            answer = await self._write_spec(found, spec, name=name, doing="scale")
            if answer is None:
                continue  # changed since we read it: read it again
            for warning in answer.get("Warnings") or []:
                log.warning("scaling %s: the engine warns: %s", name, warning)
            return
        raise BackendError(f"cannot scale {service}: it kept changing under us")  # pragma: no cover


def _shown(image: str | None) -> str:
    return "the previous image" if image is None else show(image)


def _settled(
    seen: Observation,
    found: JSON,
    image: str,
    *,
    previous: str | None,
    rolling_back: bool,
    reason: str,
) -> UpgradeResult | None:
    """The outcome once Swarm has settled the update, else None."""
    spec = found.get("Spec") or {}
    runs = declared(spec)
    on_new = f"{len(seen.updated)} of {seen.total} task(s) run {show(image)}"
    if previous is not None:
        on_new += f", {seen.others} {show(previous)}"
    if seen.state == "rollback_completed":
        if same_image(runs, image):  # this call rolls back: Swarm did it
            return UpgradeResult("upgraded", f"{seen.total} task(s) run {show(image)}")
        return UpgradeResult("rolled_back", f"rolled back to {_shown(runs)}: {reason}")
    if seen.state == "rollback_paused":
        return UpgradeResult("failed", f"the rollback to {_shown(runs)} paused: {seen.message}")
    if seen.state in ROLLBACK_STATES or rolling_back:
        return None
    if not same_image(runs, image):
        return UpgradeResult(
            "failed",
            f"the service was updated to {_shown(runs)} meanwhile, not by this rollout",
        )
    if seen.state == "paused":
        return UpgradeResult(
            "paused",
            f"paused: {reason}; {on_new}; Swarm holds the update until the next push "
            "(or docker service update --rollback)",
        )
    if seen.state == "completed" or (seen.state == "" and len(seen.updated) == seen.total):
        return UpgradeResult("upgraded", f"{seen.total} task(s) run {show(image)}")
    return None


def _container(task: JSON) -> str:
    return str(((task.get("Status") or {}).get("ContainerStatus") or {}).get("ContainerID") or "")


def _replica(task: JSON, *, service: str, restarts: int) -> Replica:
    status = task.get("Status") or {}
    state = task_state(task)
    started = None
    if state == "running" and status.get("Timestamp"):
        try:
            started = datetime.fromisoformat(str(status["Timestamp"]).replace("Z", "+00:00"))
        except ValueError:
            started = None
    return Replica(
        id=slot_of(task, service),
        service=service,
        state=state,
        ready=state == "running",
        address=_address(task),
        pid=((status.get("ContainerStatus") or {}).get("PID")) or None,
        started_at=started,
        image=container_image({"TaskTemplate": task.get("Spec") or {}}),
        restarts=restarts,
    )


def _address(task: JSON) -> str | None:
    """The task's address on its first network other than the routing mesh."""
    attachments = task.get("NetworksAttachments") or []
    ordered = sorted(
        attachments,
        key=lambda a: ((a.get("Network") or {}).get("Spec") or {}).get("Name") == "ingress",
    )
    for attachment in ordered:
        for address in attachment.get("Addresses") or []:
            return str(address).split("/", 1)[0]
    return None
