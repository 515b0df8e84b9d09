"""The ``swarm`` backend: Docker Swarm services, scaled through their replica count.

Swarm keeps the count itself, so a scale is one service update carrying the spec just
read and its version (a concurrent change makes the engine refuse it; it is read again
and retried). The spec goes back as it came: no registry is asked for the image's
digest, so services of images that exist only on the nodes scale as well. Counts come
from the tasks: ``running`` are started (``starting`` waits for a HEALTHCHECK), and
``ready`` are running. Global services and jobs have no count to set: not scalable.

A rolling upgrade is Swarm's own (``update.py``): scalehook writes the update config and
the image, then reports the service's ``UpdateStatus`` until Swarm settles it
(``watch.py``).

Swarm has no call to replace one task. A recreate stops the task's container through
the engine that runs it; Swarm then starts a new task in that slot, as it does for any
task that ends (after the restart policy's delay). scalehook talks to one engine, the
manager's, so this works for tasks on the manager's node only: a task on another node
is refused (``NotRecreatable``), as is a service whose restart condition is ``none``
(Swarm would start nothing) and a job. With condition ``on-failure`` a graceful stop
that exits 0 would leave the slot empty, so the container is killed instead. During a
Swarm update the answer is ``Conflict``: a task ended then counts as the update failing.

Samples (``samples.py``) cost one task listing per service and one quick stats call per
container on this engine; another node's tasks have no figures the manager could read.

A recreate announces the task to the replica hooks before it stops its container (a
load balancer drains it). A scale-down or a rolling update is Swarm's: Swarm picks the
tasks and stops them itself, with no call before, so those are not announced.

Limits are the spec's ``TaskTemplate.Resources.Limits``: a change is a service update,
which Swarm rolls out by restarting every task (``resources.py``). Capacity is read from
the nodes (``capacity.py``): each holds at most its ``scalehook.max_tasks`` label's count
of tasks and what its resources can reserve, on the nodes a service's constraints allow.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from typing import Literal

from scalehook.backends.base import (
    Phase,
    Progress,
    Replica,
    ReplicaSample,
    ResourcesApplied,
    RolloutControl,
    RolloutEvent,
    ServiceResources,
    ServiceState,
    UpgradeResult,
    UpgradeStrategy,
)
from scalehook.backends.engine import (
    JSON,
    EngineClient,
    EngineConflict,
    EngineNotFound,
    EngineSettings,
    resolve_address,
)
from scalehook.backends.engine.boundary import engine_boundary
from scalehook.backends.engine.registry_auth import RegistryAuth
from scalehook.backends.engine.stats import engine_time
from scalehook.backends.hooks import ReplicaHooks
from scalehook.backends.rolling import IMAGE_LABEL, same_image, show
from scalehook.backends.swarm.capacity import cluster, task_needs
from scalehook.backends.swarm.resources import rolled, settled, spec_limits, with_limits
from scalehook.backends.swarm.samples import Sampler
from scalehook.backends.swarm.services import Services, container_of
from scalehook.backends.swarm.update import (
    SECOND,
    configured,
    container_image,
    declared,
    place,
    slot_of,
    task_state,
    with_config,
    with_image,
)
from scalehook.backends.swarm.watch import UPDATE_ATTEMPTS, WATCH_EVERY, UpdateWatch
from scalehook.domain.capacity import Capacity, Node, swarm_capacity
from scalehook.domain.images import InvalidImage, parse_image
from scalehook.domain.resources import Resources
from scalehook.domain.selectors import Selector
from scalehook.errors import (
    BackendError,
    Conflict,
    InvalidRequest,
    NotRecreatable,
    NotScalable,
    ReplicaNotFound,
)
from scalehook.loops.clock import Clock, SystemClock

log = logging.getLogger(__name__)

MAX_SWARM_REPLICAS = 10_000
_MODES = {
    "Replicated": "replicated",
    "Global": "global",
    "ReplicatedJob": "replicated-job",
    "GlobalJob": "global-job",
}
_STARTED = frozenset({"starting", "running"})
_FAILED = frozenset({"failed", "rejected"})
_UPDATING = frozenset({"updating", "rollback_started"})
_NEW_TASK_WAIT = 30.0  # seconds past the restart delay to see the new task start
_POLL = 0.25
_DEFAULT_GRACE = 10.0  # Swarm's StopGracePeriod when a spec leaves it out
_DEFAULT_DELAY = 5.0  # Swarm's restart delay when a spec leaves it out
_DEFAULT_MONITOR = 5.0  # Swarm's update monitor when a spec leaves it out
_SETTLE_SLACK = 120.0  # seconds past the update config's own times to wait for Swarm


class SwarmSettings(EngineSettings):
    """A Swarm manager's engine (``docker service``)."""

    type: Literal["swarm"] = "swarm"


@engine_boundary
class SwarmBackend:
    kind = "swarm"

    def __init__(
        self,
        name: str,
        settings: SwarmSettings,
        *,
        registry_auth: RegistryAuth | None = None,
        clock: Clock | None = None,
        hooks: ReplicaHooks | None = None,
    ) -> None:
        self._name = name
        self._clock: Clock = clock or SystemClock()
        self._hooks = hooks or ReplicaHooks()
        self._auth = registry_auth or RegistryAuth()
        self._client = EngineClient(
            resolve_address(settings.docker_host, settings.docker_tls), timeout=settings.timeout
        )
        self._services = Services(self._client, backend=name, auth=self._auth)
        self._sampler = Sampler(self._client, self._services)

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
        return await self._services.get(service)

    async def _tasks(self, *, service_id: str | None = None, current: bool = True) -> list[JSON]:
        return await self._services.tasks(service=service_id, current=current)

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
        control: RolloutControl | None = None,
    ) -> UpgradeResult:
        """One service update, then Swarm's ``UpdateStatus`` reported until it settles,
        obeying ``control`` as Swarm allows (``watch.py``).

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
        return await UpdateWatch(self._services, self._clock).watch(
            found["ID"],
            name,
            image=image,
            force=int(template.get("ForceUpdate") or 0),
            previous=previous,
            strategy=strategy,
            progress=progress,
            phase=phase,
            control=control,
        )

    async def _issue(self, ident: str, name: str, image: str, strategy: UpgradeStrategy) -> JSON:
        """Write the update config (an update of its own, so that a rollback uses it
        too), then the image; each read fresh, and retried when the version moved on.
        Returns the service as updated."""
        for _ in range(UPDATE_ATTEMPTS * 2):
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
            if await self._services.write(found, new, name=name, doing="update") is None:
                continue  # changed since we read it: read it again
            if not config_first:
                return await self._service(ident)
        raise BackendError(f"cannot update {name}: it kept changing under us")  # pragma: no cover

    async def samples(self, *, service: str) -> list[ReplicaSample]:
        return await self._sampler.samples(service)

    # resources and capacity ------------------------------------------------------

    async def resources(self, *, service: str) -> ServiceResources:
        found = await self._service(service)
        return ServiceResources(spec_limits(found.get("Spec") or {}), enforced="engine")

    async def set_resources(
        self, *, service: str, cpus: float | None, memory: int | None
    ) -> ResourcesApplied:
        """One service update of ``Resources.Limits``; Swarm rolls every task onto it
        (a restart of each), watched until it settles (``resources.py``)."""
        target = Resources(cpus=cpus, memory=memory)
        for _ in range(UPDATE_ATTEMPTS):
            found = await self._service(service)
            spec = found.get("Spec") or {}
            name = spec.get("Name") or found["ID"]
            status = found.get("UpdateStatus") or {}
            if settled(status) in _UPDATING:
                raise Conflict(
                    f"{self._name}/{name} is being updated by Swarm ({settled(status)}): "
                    "change its limits once the update settles"
                )
            if spec_limits(spec) == target:
                return ResourcesApplied(message=f"{name} has these limits already")
            new = with_limits(spec, target)
            if await self._services.write(found, new, name=name, doing="set the limits of"):
                return await self._watch_limits(found, name, target)
        raise BackendError(
            f"cannot update {service}: it kept changing under us"
        )  # pragma: no cover

    async def _watch_limits(self, found: JSON, name: str, target: Resources) -> ResourcesApplied:
        """Until Swarm has rolled every task onto ``target``; a pause or a rollback
        ends in Swarm's rollback to the limits before, and a ``BackendError``."""
        ident = str(found["ID"])
        spec = found.get("Spec") or {}
        before = str((found.get("UpdateStatus") or {}).get("StartedAt") or "")
        config = spec.get("UpdateConfig") or {}
        each = (
            float(config.get("Monitor") or _DEFAULT_MONITOR * SECOND) / SECOND
            + float(config.get("Delay") or 0) / SECOND
        )
        replicas = int(((spec.get("Mode") or {}).get("Replicated") or {}).get("Replicas") or 1)
        deadline = self._clock.monotonic() + replicas * (each + _NEW_TASK_WAIT) + _SETTLE_SLACK
        asked_rollback = False
        while True:
            current = await self._service(ident)
            status = current.get("UpdateStatus") or {}
            ours = str(status.get("StartedAt") or "") != before
            state = settled(status) if ours else ""
            message = str(status.get("Message") or "")
            done, total = rolled(await self._tasks(service_id=ident), target, name=name)
            if state == "paused" and not asked_rollback:
                await self._ask_rollback(ident, name)
                asked_rollback = True
            elif state == "rollback_completed":
                raise BackendError(
                    f"Swarm could not roll {name} onto the new limits ({message or 'it failed'})"
                    ": it rolled back to the limits before; nothing is changed"
                )
            elif state == "rollback_paused":
                raise BackendError(
                    f"Swarm could not roll {name} onto the new limits, and its rollback paused: "
                    f"{message}"
                )
            elif state in ("completed", "") and len(done) == total:
                return ResourcesApplied(
                    message=f"Swarm rolled {total} task(s) onto the new limits (each task "
                    "was restarted: Swarm cannot change a running task's limits)",
                    replicas=tuple(done),
                    restarted=True,
                )
            if self._clock.monotonic() > deadline:
                raise BackendError(
                    f"Swarm has not finished rolling {name} onto the new limits "
                    f"({state or 'not started'}; {len(done)} of {total} task(s) have them); "
                    "it goes on by itself"
                )
            await self._clock.sleep(WATCH_EVERY)

    async def _ask_rollback(self, ident: str, name: str) -> None:
        """Ask Swarm to roll the service back to its spec before the update."""
        for _ in range(UPDATE_ATTEMPTS):
            found = await self._service(ident)
            spec = found.get("Spec") or {}
            if await self._services.write(found, spec, name=name, doing="roll back", rollback=True):
                return
        raise BackendError(f"cannot roll {name} back: it kept changing under us")

    async def _cluster(self) -> tuple[list[JSON], list[JSON]]:
        nodes, tasks = await asyncio.gather(self._client.get("/nodes"), self._tasks())
        return nodes, tasks

    async def nodes(self) -> list[Node]:
        (nodes, tasks), services = await asyncio.gather(
            self._cluster(), self._client.get("/services")
        )
        names = {str(s["ID"]): str((s.get("Spec") or {}).get("Name") or s["ID"]) for s in services}
        return [f.node for f in cluster(nodes, tasks, backend=self._name, names=names)]

    async def capacity(self, *, service: str) -> Capacity | None:
        found = await self._service(service)
        if "Replicated" not in ((found.get("Spec") or {}).get("Mode") or {}):
            return None  # not scaled by a count
        nodes, tasks = await self._cluster()
        facts = cluster(nodes, tasks, backend=self._name, names={})
        return swarm_capacity(task_needs(found, tasks), facts)

    # recreating ------------------------------------------------------------------

    async def recreate(self, *, service: str, replica: str) -> Replica:
        """Stop the task's container on this engine and wait for the task Swarm starts in
        its place (see the module docstring for what cannot be done, and why)."""
        found = await self._service(service)
        spec = found.get("Spec") or {}
        name = spec.get("Name") or found["ID"]
        mode = next(iter(spec.get("Mode") or {"Replicated": {}}))
        if mode not in ("Replicated", "Global"):
            raise NotRecreatable(
                f"{self._name}/{name} is a {_MODES.get(mode, mode)}: its tasks run to "
                "completion, Swarm does not replace them"
            )
        updating = (found.get("UpdateStatus") or {}).get("State")
        if updating in _UPDATING:
            raise Conflict(
                f"{self._name}/{name} is being updated by Swarm ({updating}): a task ended "
                "now would count as the update failing; recreate it once the update settles"
            )
        tasks = await self._tasks(service_id=found["ID"])
        task = next((t for t in tasks if slot_of(t, name) == replica), None)
        if task is None:
            slots = ", ".join(sorted(slot_of(t, name) for t in tasks)) or "none"
            raise ReplicaNotFound(f"{self._name}/{name} has no task {replica!r} (tasks: {slots})")
        template = spec.get("TaskTemplate") or {}
        policy = template.get("RestartPolicy") or {}
        condition = str(policy.get("Condition") or "any")
        if condition == "none":
            raise NotRecreatable(
                f"{self._name}/{name} has restart condition 'none': Swarm would start no "
                f"task in place of {replica}, and it has no call to replace one"
            )
        container = container_of(task)
        if not container or task_state(task) not in _STARTED:
            raise Conflict(
                f"task {replica} is {task_state(task) or 'new'}: it has no container yet"
            )
        await self._refuse_elsewhere(task, replica)
        grace = float((template.get("ContainerSpec") or {}).get("StopGracePeriod") or 0) / SECOND
        await self._hooks.before_stop(
            f"{self._name}/{name}",
            _replica(task, service=name, restarts=0),
            grace=grace or _DEFAULT_GRACE,
        )
        await self._end(container, graceful=condition == "any", grace=grace or _DEFAULT_GRACE)
        self._hooks.changed(f"{self._name}/{name}")
        delay = float(policy.get("Delay") or 0) / SECOND if "Delay" in policy else _DEFAULT_DELAY
        await self._new_task(
            found["ID"], name, place(task), old=str(task["ID"]), wait=delay + _NEW_TASK_WAIT
        )
        for current in await self.replicas(service=found["ID"]):
            if current.id == replica:
                return current
        raise BackendError(f"the task Swarm started in place of {replica} ended already")

    async def _refuse_elsewhere(self, task: JSON, replica: str) -> None:
        """``NotRecreatable`` for a task on another node than this engine's."""
        info = await self._client.get("/info")
        here = str((info.get("Swarm") or {}).get("NodeID") or "")
        node = str(task.get("NodeID") or "")
        if node and node == here:
            return
        try:
            record = await self._client.get(f"/nodes/{node}")
            where = f"node {(record.get('Description') or {}).get('Hostname') or node[:12]}"
        except EngineNotFound:
            where = f"node {node[:12] or '(none yet)'}"
        raise NotRecreatable(
            f"task {replica} runs on {where}, not on the manager scalehook talks to "
            f"({self._client.address.display}): Swarm has no call to replace one task, and "
            "only the engine that runs it can stop its container"
        )

    async def _end(self, container: str, *, graceful: bool, grace: float) -> None:
        """Stop the container gracefully (its stop signal, SIGKILL after ``grace``), or
        kill it: with restart condition ``on-failure`` only a failure gets a new task."""
        try:
            if graceful:
                await self._client.request(
                    "POST",
                    f"/containers/{container}/stop",
                    params={"t": max(0, round(grace))},
                    wait=self._client.timeout + grace,
                )
            else:
                await self._client.request(
                    "POST", f"/containers/{container}/kill", params={"signal": "SIGKILL"}
                )
        except (EngineNotFound, EngineConflict):  # gone, or not running: it ended anyway
            return

    async def _new_task(self, ident: str, name: str, where: str, *, old: str, wait: float) -> None:
        """Wait until Swarm runs (or starts) a new task in the old one's slot or node."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait
        while True:
            tasks = await self._tasks(service_id=ident)
            fresh = [t for t in tasks if place(t) == where and str(t.get("ID")) != old]
            if any(task_state(t) in _STARTED for t in fresh):
                return
            if loop.time() >= deadline:
                state = task_state(fresh[0]) if fresh else "none"
                raise BackendError(
                    f"the task of {name}.{where} was stopped, but Swarm had not started "
                    f"another in its place within {wait:g}s (new task: {state}); its "
                    "restart policy may have run out of attempts"
                )
            await asyncio.sleep(_POLL)

    # scaling ---------------------------------------------------------------------

    async def scale(self, *, service: str, replicas: int) -> None:
        if not 0 <= replicas <= MAX_SWARM_REPLICAS:
            raise InvalidRequest(
                f"replicas must be between 0 and {MAX_SWARM_REPLICAS}", field="replicas"
            )
        for _ in range(UPDATE_ATTEMPTS):
            found = await self._service(service)
            spec = found.get("Spec") or {}
            name = spec.get("Name") or found["ID"]
            mode = spec.get("Mode") or {}
            if "Replicated" not in mode:
                kind = _MODES.get(next(iter(mode), ""), "unknown")
                raise NotScalable(f"{self._name}/{name} runs in {kind} mode and cannot be scaled")
            mode["Replicated"] = {**(mode.get("Replicated") or {}), "Replicas": replicas}
            answer = await self._services.write(found, spec, name=name, doing="scale")
            if answer is None:
                continue  # changed since we read it: read it again
            for warning in answer.get("Warnings") or []:
                log.warning("scaling %s: the engine warns: %s", name, warning)
            return
        raise BackendError(f"cannot scale {service}: it kept changing under us")  # pragma: no cover


def _replica(task: JSON, *, service: str, restarts: int) -> Replica:
    status = task.get("Status") or {}
    state = task_state(task)
    started = engine_time(str(status.get("Timestamp") or "")) if state == "running" else None
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
        networks=_networks(task),
    )


def _networks(task: JSON) -> dict[str, str]:
    """The task's address on each network it is attached to, by network name."""
    found: dict[str, str] = {}
    for attachment in task.get("NetworksAttachments") or []:
        name = ((attachment.get("Network") or {}).get("Spec") or {}).get("Name")
        addresses = attachment.get("Addresses") or []
        if name and addresses:
            found[str(name)] = str(addresses[0]).split("/", 1)[0]
    return found


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
