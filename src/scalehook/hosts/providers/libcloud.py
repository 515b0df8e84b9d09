"""``libcloud``: hosts are cloud machines, through Apache Libcloud's node drivers.

A clone is a new node with the image, size and location of the host it copies, its
labels as tags (where the driver has tags or metadata), and user data that joins the
Swarm. Libcloud's calls block, so they run in a thread.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import os
import shlex
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from scalehook.errors import BackendError, BackendUnavailable, BackendUnsupported, InvalidRequest
from scalehook.hosts.providers.base import JoinSpec, ProviderHost

log = logging.getLogger(__name__)

_STATES = {
    "running": "running",
    "pending": "pending",
    "starting": "pending",
    "rebooting": "pending",
    "reconfiguring": "pending",
    "migrating": "pending",
    "error": "error",
    "unknown": "error",
}


class LibcloudSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    driver: str = Field(description="a libcloud compute provider, e.g. ec2, gce, openstack, dummy")
    key: str | None = None
    secret_env: str | None = Field(
        default=None, description="environment variable holding the secret (never the file)"
    )
    options: dict[str, Any] = Field(default_factory=dict, description="driver keyword arguments")
    image: str | None = Field(default=None, description="image id for a first host")
    size: str | None = Field(default=None, description="size id for a first host")
    location: str | None = Field(default=None, description="location id for a first host")


def join_script(name: str, join: JoinSpec) -> str:
    """The user data a new machine runs: take its name, join the Swarm as a worker."""
    managers = " ".join(shlex.quote(m) for m in join.managers[:1])
    return (
        "#!/bin/sh\n"
        "set -e\n"
        f"hostname {shlex.quote(name)}\n"
        f"echo {shlex.quote(name)} > /etc/hostname\n"
        f"docker swarm join --token {shlex.quote(join.token)} {managers}\n"
    )


class LibcloudProvider:
    def __init__(self, settings: LibcloudSettings, *, driver: Any = None) -> None:
        self.settings = settings
        self._driver = driver

    @property
    def name(self) -> str:
        return "libcloud"

    def _connect(self) -> Any:
        if self._driver is None:
            from libcloud.compute.providers import get_driver

            try:
                cls = get_driver(self.settings.driver)
            except AttributeError as exc:
                raise InvalidRequest(
                    f"libcloud has no compute driver {self.settings.driver!r}", field="driver"
                ) from exc
            secret = os.environ.get(self.settings.secret_env) if self.settings.secret_env else None
            args = [a for a in (self.settings.key, secret) if a is not None]
            self._driver = cls(*args, **self.settings.options)
        return self._driver

    async def _call(self, method: str, *args: Any, **kwargs: Any) -> Any:
        driver = await asyncio.to_thread(self._connect)
        try:
            return await asyncio.to_thread(getattr(driver, method), *args, **kwargs)
        except (OSError, TimeoutError) as exc:
            raise BackendUnavailable(f"cloud {self.settings.driver}: {exc}") from exc
        except Exception as exc:  # libcloud raises many types; its text is what matters
            raise BackendError(f"cloud {self.settings.driver}: {exc}") from exc

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        return None

    async def list(self) -> list[ProviderHost]:
        return [self._host(node) for node in await self._call("list_nodes")]

    def _host(self, node: Any) -> ProviderHost:
        extra = dict(getattr(node, "extra", None) or {})
        state = str(getattr(node, "state", "unknown")).lower()
        created = getattr(node, "created_at", None) or datetime.now(UTC)
        if created.tzinfo is None:
            created = created.replace(tzinfo=UTC)
        ips = list(getattr(node, "private_ips", None) or []) + list(
            getattr(node, "public_ips", None) or []
        )
        settings = {
            key: str(value)
            for key, value in (
                ("image", _ident(getattr(node, "image", None)) or extra.get("image_id")),
                ("size", _ident(getattr(node, "size", None)) or extra.get("size_id")),
                ("location", _ident(extra.get("location")) or extra.get("availability_zone")),
            )
            if value
        }
        tags = extra.get("tags") or extra.get("metadata") or {}
        return ProviderHost(
            provider=self.name,
            id=str(node.id),
            name=str(node.name),
            state=_STATES.get(state, "stopped"),
            created=created,
            address=ips[0] if ips else None,
            labels={str(k): str(v) for k, v in dict(tags).items()},
            settings=settings,
        )

    async def create(
        self,
        *,
        name: str,
        like: ProviderHost | None,
        labels: Mapping[str, str],
        join: JoinSpec,
    ) -> ProviderHost:
        wanted = {
            "image": (like.settings.get("image") if like else None) or self.settings.image,
            "size": (like.settings.get("size") if like else None) or self.settings.size,
            "location": (like.settings.get("location") if like else None) or self.settings.location,
        }
        images = {str(i.id): i for i in await self._call("list_images")}
        sizes = {str(s.id): s for s in await self._call("list_sizes")}
        image, size = images.get(wanted["image"] or ""), sizes.get(wanted["size"] or "")
        if image is None or size is None:
            raise BackendUnsupported(
                f"cloud {self.settings.driver}: image {wanted['image']!r} or size "
                f"{wanted['size']!r} not offered"
            )
        kwargs: dict[str, Any] = {"name": name, "image": image, "size": size}
        accepted = inspect.signature(self._connect().create_node).parameters
        if wanted["location"] and "location" in accepted:
            locations = {str(loc.id): loc for loc in await self._call("list_locations")}
            kwargs["location"] = locations.get(wanted["location"])
        script = join_script(name, join)
        for key in ("ex_userdata", "ex_user_data", "ex_customdata"):
            if key in accepted:
                kwargs[key] = script
                break
        for key in ("ex_tags", "ex_metadata"):
            if key in accepted:
                kwargs[key] = dict(labels)
                break
        node = await self._call("create_node", **kwargs)
        log.info("cloud %s: created node %s (%s)", self.settings.driver, name, node.id)
        return self._host(node)

    async def destroy(self, *, host: ProviderHost) -> None:
        for node in await self._call("list_nodes"):
            if str(node.id) == host.id:
                if not await self._call("destroy_node", node):
                    raise BackendError(
                        f"cloud {self.settings.driver}: could not destroy {host.name}"
                    )
                return


def _ident(value: Any) -> str | None:
    if value is None:
        return None
    ident = getattr(value, "id", value)
    return str(ident) if ident else None
