"""The container operations the docker backend is built from: create a replica from a
plan, start, stop gracefully, remove. Scaling and rolling upgrades both go through
these, so a replica is made and retired one way only.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Iterable
from urllib.parse import quote

from scalehook.backends.docker.clone import ReplicaPlan
from scalehook.backends.engine import JSON, EngineClient, EngineConflict, EngineNotFound
from scalehook.errors import BackendError

log = logging.getLogger(__name__)

DEFAULT_STOP_GRACE = 10.0


class Containers:
    def __init__(self, client: EngineClient, *, stop_grace: float | None) -> None:
        self._client = client
        self._stop_grace = stop_grace

    async def inspect(self, container: str) -> JSON | None:
        try:
            return await self._client.get(f"/containers/{container}/json")
        except EngineNotFound:
            return None

    async def image_config(self, image: str) -> JSON:
        """An image's own ``Config`` (its ENV, CMD, HEALTHCHECK...); empty if it is gone."""
        try:
            info = await self._client.get(f"/images/{quote(image, safe='')}/json")
        except EngineNotFound:
            return {}
        return info.get("Config") or {}

    async def create(self, plan: ReplicaPlan) -> tuple[str, str]:
        """Create (not start) the planned container, joined to all its networks; its id
        and name. A name held by a container that is not a replica makes it take another."""
        name = plan.name
        try:
            answer = await self._client.request(
                "POST", "/containers/create", params={"name": plan.name}, json=plan.body
            )
        except EngineConflict as exc:
            if "already in use" not in exc.engine_text:
                raise
            name = f"{plan.name}-{secrets.token_hex(3)}"
            answer = await self._client.request(
                "POST", "/containers/create", params={"name": name}, json=plan.body
            )
        container: str = answer.json()["Id"]
        try:
            for network, endpoint in plan.more_networks.items():
                await self._client.request(
                    "POST",
                    f"/networks/{network}/connect",
                    json={"Container": container, "EndpointConfig": endpoint},
                )
        except BaseException:
            await self.discard([container])
            raise
        return container, name

    async def start(self, container: str) -> None:
        await self._client.request("POST", f"/containers/{container}/start")

    async def grace(self, container: str) -> float:
        """Seconds between the stop signal and SIGKILL: the backend's, else the container's."""
        if self._stop_grace is not None:
            return self._stop_grace
        record = await self.inspect(container)
        if record is None:
            return 0.0
        return float((record.get("Config") or {}).get("StopTimeout") or DEFAULT_STOP_GRACE)

    async def stop(self, container: str) -> None:
        """Stop gracefully (the stop signal, SIGKILL after the grace); gone is fine."""
        seconds = max(0, round(await self.grace(container)))
        try:
            await self._client.request(
                "POST",
                f"/containers/{container}/stop",
                params={"t": seconds},
                wait=self._client.timeout + seconds,
            )
        except EngineNotFound:
            return

    async def remove(self, container: str) -> None:
        try:
            await self._client.request(
                "DELETE", f"/containers/{container}", params={"force": "1", "v": "1"}
            )
        except EngineNotFound:
            return

    async def retire(self, container: str) -> None:
        """Stop gracefully, then remove."""
        await self.stop(container)
        await self.remove(container)

    async def discard(self, containers: Iterable[str]) -> None:
        """Remove at once what was half made; a failure is logged, not raised."""
        for container in containers:
            try:
                await self.remove(container)
            except BackendError as exc:
                log.error("cannot remove half-made replica %s: %s", container[:12], exc.message)
