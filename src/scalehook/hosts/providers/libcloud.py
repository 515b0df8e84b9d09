"""``libcloud``: hosts are cloud machines, through Apache Libcloud's node drivers.

A clone is a new node with the image, size, location, subnet, security groups and key
pair of the host it copies (each driver keeps them under its own keys: ``_TEMPLATES``),
falling back to the configured ones; its labels as tags (where the driver has tags or
metadata), and user data that joins the Swarm. The image is fetched by its id, never
by listing a cloud's images (EC2 has tens of thousands). Libcloud's calls block, so
they run in a thread.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import os
import shlex
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from scalehook.domain.masking import Secret
from scalehook.errors import BackendError, BackendUnavailable, InvalidRequest
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


@dataclass(frozen=True, slots=True)
class _Template:
    """Where a driver's nodes keep what a clone copies (keys of ``node.extra``)."""

    image: tuple[str, ...] = ("image_id",)
    size: tuple[str, ...] = ("size_id",)
    location: tuple[str, ...] = ("location", "availability_zone", "zone")
    subnet: tuple[str, ...] = ()
    key_name: tuple[str, ...] = ("key_name",)
    #: sizes the driver does not list may still be asked for by id (EC2 lists from a table
    #: in libcloud that lags the cloud's instance types)
    any_size: bool = False


_TEMPLATES = {
    "ec2": _Template(
        image=("image_id",),
        size=("instance_type",),
        location=("availability",),
        subnet=("subnet_id",),
        any_size=True,
    ),
    "openstack": _Template(image=("imageId",), size=("flavorId",), location=("availability_zone",)),
}
_GENERIC = _Template()

#: create_node arguments scalehook sets itself, and the setting that says them
_RESERVED = {
    "ex_userdata": "the join script scalehook writes",
    "ex_user_data": "the join script scalehook writes",
    "ex_customdata": "the join script scalehook writes",
    "ex_tags": "the host's labels",
    "ex_metadata": "the host's labels",
    "ex_keyname": "key_name",
    "ex_subnet": "subnet",
    "ex_security_groups": "security_groups",
    "ex_security_group_ids": "security_groups",
    "ex_securitygroup": "security_groups",
}


def _ex(key: str) -> str:
    return key if key.startswith("ex_") else f"ex_{key}"


class LibcloudSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    driver: str = Field(description="a libcloud compute provider, e.g. ec2, gce, openstack, dummy")
    key: Secret | None = Field(default=None, repr=False, description="the driver's key")
    secret: Secret | None = Field(
        default=None,
        repr=False,
        description="the driver's secret (or SCALEHOOK_HOSTS__PROVIDERS__LIBCLOUD__SECRET_FILE)",
    )
    secret_env: str | None = Field(
        default=None, description="environment variable holding the secret, instead of secret"
    )
    options: dict[str, Any] = Field(default_factory=dict, description="driver keyword arguments")
    image: str | None = Field(default=None, description="image id for a first host")
    size: str | None = Field(default=None, description="size id for a first host")
    location: str | None = Field(
        default=None, description="location id or name (EC2: the zone) for a first host"
    )
    subnet: str | None = Field(default=None, description="subnet id for a first host (EC2)")
    security_groups: list[str] = Field(
        default_factory=list,
        description="security groups for a first host: ids (EC2 sg-..., with a subnet) or names",
    )
    key_name: str | None = Field(default=None, description="key pair for a first host")
    create_options: dict[str, Any] = Field(
        default_factory=dict,
        description="more create_node keyword arguments, passed as ex_<name> "
        "(e.g. {iamprofile: swarm-node} is ex_iamprofile)",
    )

    @model_validator(mode="after")
    def _one_secret(self) -> LibcloudSettings:
        if self.secret is not None and self.secret_env is not None:
            raise ValueError("give secret or secret_env, not both")
        return self

    @field_validator("create_options")
    @classmethod
    def _own_options(cls, value: dict[str, Any]) -> dict[str, Any]:
        for key in value:
            owner = _RESERVED.get(_ex(key))
            if owner is not None:
                raise ValueError(f"{key!r} is set by scalehook: use {owner}")
        return value


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
            secret = self.settings.secret
            if secret is None and self.settings.secret_env:
                secret = os.environ.get(self.settings.secret_env)
            args = [a for a in (self.settings.key, secret) if a is not None]
            self._driver = cls(*args, **self.settings.options)
        return self._driver

    async def _call(self, method: str, *args: Any, **kwargs: Any) -> Any:
        driver = await asyncio.to_thread(self._connect)
        try:
            return await asyncio.to_thread(getattr(driver, method), *args, **kwargs)
        except NotImplementedError:
            raise
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
        tags = extra.get("tags") or extra.get("metadata") or {}
        return ProviderHost(
            provider=self.name,
            id=str(node.id),
            name=str(node.name),
            state=_STATES.get(state, "stopped"),
            created=created,
            address=ips[0] if ips else None,
            labels={str(k): str(v) for k, v in dict(tags).items()},
            settings=self._template_of(node, extra),
        )

    def _template_of(self, node: Any, extra: Mapping[str, Any]) -> dict[str, str]:
        """What a clone of this node copies, read where this driver keeps it."""
        keys = _TEMPLATES.get(self.settings.driver, _GENERIC)
        subnet = _first(extra, keys.subnet)
        groups = [
            str(group.get("group_id") if subnet else group.get("group_name"))
            for group in extra.get("groups") or []
            if isinstance(group, Mapping)
            and (group.get("group_id") if subnet else group.get("group_name"))
        ]
        found = {
            "image": _ident(getattr(node, "image", None)) or _first(extra, keys.image),
            "size": _ident(getattr(node, "size", None)) or _first(extra, keys.size),
            "location": _first(extra, keys.location),
            "subnet": subnet,
            "security_groups": ",".join(groups),
            "key_name": _first(extra, keys.key_name),
        }
        return {key: value for key, value in found.items() if value}

    async def create(
        self,
        *,
        name: str,
        like: ProviderHost | None,
        labels: Mapping[str, str],
        join: JoinSpec,
    ) -> ProviderHost:
        copied = dict(like.settings) if like else {}
        configured = self.settings
        driver = await asyncio.to_thread(self._connect)
        parameters = inspect.signature(driver.create_node).parameters
        takes_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values())

        def takes(argument: str) -> bool:
            return takes_any or argument in parameters

        image_id = copied.get("image") or configured.image
        size_id = copied.get("size") or configured.size
        if not image_id or not size_id:
            raise InvalidRequest(
                f"cloud {configured.driver}: no host to copy, and no image and size configured "
                "(providers.libcloud.image, .size)",
                field="like",
            )
        kwargs: dict[str, Any] = {
            "name": name,
            "image": await self._image(image_id),
            "size": await self._size(size_id, driver),
        }
        location = copied.get("location") or configured.location
        if location and takes("location"):
            kwargs["location"] = await self._location(location)
        kwargs.update(await self._network(copied, driver, takes))
        key_name = copied.get("key_name") or configured.key_name
        if key_name:
            if takes("ex_keyname"):
                kwargs["ex_keyname"] = key_name
            elif "key_name" not in copied:
                raise self._refused("key_name", "a key pair")
        script = join_script(name, join)
        for key in ("ex_userdata", "ex_user_data", "ex_customdata"):
            if key in parameters:
                kwargs[key] = script
                break
        for key in ("ex_tags", "ex_metadata"):
            if key in parameters:
                kwargs[key] = dict(labels)
                break
        for key, value in configured.create_options.items():
            if not takes(_ex(key)):
                raise self._refused(f"create_options.{key}", _ex(key))
            kwargs[_ex(key)] = value
        node = await self._call("create_node", **kwargs)
        log.info("cloud %s: created node %s (%s)", configured.driver, name, node.id)
        return self._host(node)

    def _refused(self, setting: str, what: str) -> InvalidRequest:
        return InvalidRequest(
            f"providers.libcloud.{setting}: the {self.settings.driver} driver's create_node "
            f"takes no {what}",
            field=setting,
        )

    def _not_offered(self, what: str, ident: str, why: str = "") -> BackendError:
        because = f": {why}" if why else ""
        return BackendError(f"cloud {self.settings.driver}: {what} {ident!r} not offered{because}")

    async def _image(self, image_id: str) -> Any:
        """The image by its id: one lookup where the driver has one (EC2's DescribeImages
        with that id), a listing only where it has none (small clouds)."""
        try:
            image = await self._call("get_image", image_id)
        except NotImplementedError:
            images = {str(i.id): i for i in await self._call("list_images")}
            image = images.get(image_id)
        except BackendUnavailable:
            raise
        except BackendError as exc:
            raise self._not_offered("image", image_id, str(exc.__cause__ or exc)) from exc
        if image is None:
            raise self._not_offered("image", image_id)
        return image

    async def _size(self, size_id: str, driver: Any) -> Any:
        sizes = {str(s.id): s for s in await self._call("list_sizes")}
        if size_id in sizes:
            return sizes[size_id]
        if _TEMPLATES.get(self.settings.driver, _GENERIC).any_size:
            from libcloud.compute.base import NodeSize

            return NodeSize(
                id=size_id, name=size_id, ram=0, disk=0, bandwidth=None, price=0.0, driver=driver
            )
        raise self._not_offered("size", size_id)

    async def _location(self, wanted: str) -> Any:
        for location in await self._call("list_locations"):
            zone = getattr(location, "availability_zone", None)
            if wanted in (str(location.id), location.name, getattr(zone, "name", None)):
                return location
        raise self._not_offered("location", wanted)

    async def _network(
        self, copied: Mapping[str, str], driver: Any, takes: Callable[[str], bool]
    ) -> dict[str, Any]:
        """Subnet and security groups, the way EC2's create_node takes them: groups by id
        with a subnet, by name without one."""
        configured = self.settings
        subnet_id = copied.get("subnet") or configured.subnet
        groups = [g for g in copied.get("security_groups", "").split(",") if g] or list(
            configured.security_groups
        )
        kwargs: dict[str, Any] = {}
        if subnet_id:
            if not (takes("ex_subnet") and hasattr(driver, "ex_list_subnets")):
                raise self._refused("subnet", "subnet")
            found = await self._call("ex_list_subnets", subnet_ids=[subnet_id])
            if not found:
                raise self._not_offered("subnet", subnet_id)
            kwargs["ex_subnet"] = found[0]
        if groups:
            by_id = all(g.startswith("sg-") for g in groups)
            if subnet_id and by_id and takes("ex_security_group_ids"):
                kwargs["ex_security_group_ids"] = groups
            elif not any(g.startswith("sg-") for g in groups) and takes("ex_security_groups"):
                kwargs["ex_security_groups"] = groups
            elif not subnet_id and by_id and takes("ex_security_group_ids"):
                raise InvalidRequest(
                    f"providers.libcloud.security_groups: {self.settings.driver} takes group "
                    "ids (sg-...) only with a subnet: set subnet, or name the groups",
                    field="security_groups",
                )
            else:
                raise self._refused("security_groups", "such security groups")
        return kwargs

    async def destroy(self, *, host: ProviderHost) -> None:
        for node in await self._call("list_nodes"):
            if str(node.id) == host.id:
                if not await self._call("destroy_node", node):
                    raise BackendError(
                        f"cloud {self.settings.driver}: could not destroy {host.name}"
                    )
                return


def _first(extra: Mapping[str, Any], keys: tuple[str, ...]) -> str | None:
    for key in keys:
        found = _ident(extra.get(key))
        if found:
            return found
    return None


def _ident(value: Any) -> str | None:
    if value is None:
        return None
    ident = getattr(value, "id", value)
    return str(ident) if ident else None
