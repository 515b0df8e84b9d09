"""One node's own engine, as host providers need it (``hosts.providers.engine``):
answer a ping, hand over or take in images, join or leave a Swarm."""

from __future__ import annotations

import fnmatch
from collections.abc import AsyncIterator, Sequence

from scalehook.backends.engine.address import resolve_address
from scalehook.backends.engine.client import EngineClient

#: an image archive of a whole set of tags may take a while to copy
_IMAGES_WAIT = 300.0


class NodeEngine:
    """The engine at ``docker_host`` (default ``$DOCKER_HOST`` or the local socket)."""

    def __init__(self, docker_host: str | None = None, *, timeout: float = 60.0) -> None:
        self._client = EngineClient(resolve_address(docker_host, None), timeout=timeout)

    async def close(self) -> None:
        await self._client.close()

    async def ping(self) -> None:
        await self._client.request("GET", "/_ping")

    async def image_tags(self, patterns: Sequence[str]) -> list[str]:
        images = await self._client.get("/images/json")
        return sorted(
            {
                tag
                for image in images
                for tag in image.get("RepoTags") or ()
                if tag != "<none>:<none>" and any(fnmatch.fnmatchcase(tag, p) for p in patterns)
            }
        )

    def export_images(self, tags: Sequence[str]) -> AsyncIterator[bytes]:
        return self._client.stream("/images/get", params={"names": list(tags)}, wait=_IMAGES_WAIT)

    async def load_images(self, archive: AsyncIterator[bytes]) -> None:
        await self._client.request(
            "POST",
            "/images/load",
            params={"quiet": "true"},
            content=archive,
            content_type="application/x-tar",
            wait=_IMAGES_WAIT,
        )

    async def join_swarm(self, *, token: str, address: str, managers: Sequence[str]) -> str | None:
        await self._client.request(
            "POST",
            "/swarm/join",
            json={
                "ListenAddr": f"{address}:2377",
                "AdvertiseAddr": address,
                "RemoteAddrs": list(managers),
                "JoinToken": token,
            },
        )
        info = await self._client.get("/info")
        node_id = (info.get("Swarm") or {}).get("NodeID")
        return str(node_id) if node_id else None

    async def leave_swarm(self) -> None:
        await self._client.request("POST", "/swarm/leave", params={"force": "true"})
