"""``aws_asg``: hosts are the instances of an AWS Auto Scaling group, which AWS launches.

As the Nomad Autoscaler's aws-asg plugin does, scalehook does not make machines here: it
asks the group for one more (``SetDesiredCapacity``, never past ``MaxSize``) and, once
the host manager has drained a node, terminates that very instance with
``TerminateInstanceInAutoScalingGroup`` and ``ShouldDecrementDesiredCapacity=true``, so
the group does not replace it. The group's launch template says what a machine is and
carries the user data that joins the Swarm; scalehook matches the new Swarm node to its
instance by hostname (by default the instance's private DNS name, which is what EC2
gives a machine as its hostname). Credentials come from boto3's own chain (environment,
shared config and profiles, the instance's role). boto3 blocks, so calls run in a thread.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from scalehook.domain.durations import Duration
from scalehook.errors import BackendError, BackendUnavailable, Conflict, InvalidRequest
from scalehook.hosts.providers.base import JoinSpec, ProviderHost

log = logging.getLogger(__name__)

#: lifecycle states of an instance that is leaving the group: not a host any more
_LEAVING = ("Terminating", "Terminated", "Detaching", "Detached")
_POLL_SECONDS = 1.0


class AwsAsgSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    group: str = Field(min_length=1, description="the Auto Scaling group's name")
    region: str | None = Field(
        default=None, description="AWS region; default boto3's (AWS_REGION, ~/.aws/config)"
    )
    profile: str | None = Field(default=None, description="a named profile of ~/.aws/config")
    endpoint_url: str | None = Field(
        default=None, description="the Auto Scaling and EC2 APIs' URL, for a stand-in of AWS"
    )
    hostname: Literal["private-dns", "private-dns-short", "instance-id"] = Field(
        default="private-dns",
        description="the Swarm hostname a new instance joins with: its private DNS name "
        "(ip-10-0-1-23.ec2.internal), that name's first label (ip-10-0-1-23), or its id",
    )
    launch_timeout: Duration = Field(
        default=300.0, description="how long a new instance may take to appear in the group"
    )


class AwsAsgProvider:
    """Grows and shrinks one Auto Scaling group; its machines are the group's instances."""

    def __init__(self, settings: AwsAsgSettings, *, session: Any = None) -> None:
        self.settings = settings
        self._session = session
        self._clients: dict[str, Any] = {}
        self._resize = asyncio.Lock()  # one capacity change at a time from this scalehook

    @property
    def name(self) -> str:
        return "aws_asg"

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        return None

    def _client(self, service: str) -> Any:
        if service not in self._clients:
            if self._session is None:
                import boto3

                self._session = boto3.session.Session(
                    region_name=self.settings.region, profile_name=self.settings.profile
                )
            self._clients[service] = self._session.client(
                service, endpoint_url=self.settings.endpoint_url
            )
        return self._clients[service]

    async def _call(self, service: str, method: str, **kwargs: Any) -> Any:
        from botocore.exceptions import (
            BotoCoreError,
            ClientError,
            ConnectionError,
            HTTPClientError,
            NoCredentialsError,
            NoRegionError,
        )

        where = f"auto scaling group {self.settings.group}"
        try:
            client = await asyncio.to_thread(self._client, service)
            return await asyncio.to_thread(getattr(client, method), **kwargs)
        except ClientError as exc:
            error = exc.response.get("Error", {})
            raise BackendError(
                f"{where}: {method}: {error.get('Code', 'error')}: {error.get('Message', exc)}"
            ) from exc
        except NoRegionError as exc:
            raise InvalidRequest(
                f"{where}: no AWS region: set providers.aws_asg.region or AWS_REGION",
                field="region",
            ) from exc
        except NoCredentialsError as exc:
            raise BackendError(
                f"{where}: no AWS credentials (environment, ~/.aws, or the instance's role)"
            ) from exc
        except (ConnectionError, HTTPClientError, OSError) as exc:
            raise BackendUnavailable(f"{where}: AWS cannot be reached: {exc}") from exc
        except BotoCoreError as exc:
            raise BackendError(f"{where}: {exc}") from exc

    async def _group(self) -> dict[str, Any]:
        found = await self._call(
            "autoscaling",
            "describe_auto_scaling_groups",
            AutoScalingGroupNames=[self.settings.group],
        )
        groups = found.get("AutoScalingGroups") or []
        if not groups:
            raise BackendError(
                f"there is no auto scaling group {self.settings.group!r}"
                + (f" in {self.settings.region}" if self.settings.region else "")
            )
        return dict(groups[0])

    async def _instances(self, ids: list[str]) -> dict[str, dict[str, Any]]:
        if not ids:
            return {}
        found = await self._call("ec2", "describe_instances", InstanceIds=ids)
        return {
            str(instance["InstanceId"]): dict(instance)
            for reservation in found.get("Reservations", [])
            for instance in reservation.get("Instances", [])
        }

    async def list(self) -> list[ProviderHost]:
        group = await self._group()
        members = [m for m in group.get("Instances", []) if _staying(m)]
        details = await self._instances([str(m["InstanceId"]) for m in members])
        return [self._host(m, details.get(str(m["InstanceId"]), {})) for m in members]

    def _host(self, member: Mapping[str, Any], instance: Mapping[str, Any]) -> ProviderHost:
        lifecycle = str(member.get("LifecycleState", ""))
        if str(member.get("HealthStatus", "Healthy")).lower() == "unhealthy":
            state = "error"
        elif lifecycle == "InService":
            state = "running"
        elif lifecycle.startswith(("Pending", "Warmed")):
            state = "pending"
        else:
            state = "stopped"  # Standby, EnteringStandby
        created = instance.get("LaunchTime") or datetime.now(UTC)
        if created.tzinfo is None:
            created = created.replace(tzinfo=UTC)
        tags = {
            str(t["Key"]): str(t["Value"])
            for t in instance.get("Tags", [])
            if not str(t["Key"]).startswith("aws:")
        }
        ident = str(member["InstanceId"])
        return ProviderHost(
            provider=self.name,
            id=ident,
            name=self._hostname(ident, instance),
            state=state,
            created=created,
            address=instance.get("PrivateIpAddress"),
            labels=tags,
            settings={
                key: str(value)
                for key, value in (
                    ("group", self.settings.group),
                    ("instance_type", member.get("InstanceType")),
                    ("zone", member.get("AvailabilityZone")),
                    ("lifecycle", lifecycle),
                )
                if value
            },
        )

    def _hostname(self, ident: str, instance: Mapping[str, Any]) -> str:
        dns = str(instance.get("PrivateDnsName") or "")
        if self.settings.hostname == "instance-id" or not dns:
            return ident
        return dns.split(".", 1)[0] if self.settings.hostname == "private-dns-short" else dns

    async def create(
        self,
        *,
        name: str,
        like: ProviderHost | None,
        labels: Mapping[str, str],
        join: JoinSpec,
    ) -> ProviderHost:
        """One more instance: the group's launch template makes it and its user data joins
        the Swarm (``like`` and ``join`` are the group's business, not scalehook's)."""
        async with self._resize:
            group = await self._group()
            desired, largest = int(group["DesiredCapacity"]), int(group["MaxSize"])
            if desired + 1 > largest:
                raise Conflict(
                    f"auto scaling group {self.settings.group!r} is at its MaxSize ({largest}): "
                    "raise MaxSize to add hosts"
                )
            before = {str(m["InstanceId"]) for m in group.get("Instances", [])}
            await self._call(
                "autoscaling",
                "set_desired_capacity",
                AutoScalingGroupName=self.settings.group,
                DesiredCapacity=desired + 1,
                HonorCooldown=False,
            )
            log.info(
                "group %s: desired capacity %d -> %d", self.settings.group, desired, desired + 1
            )
            try:
                member, instance = await self._new_instance(before)
            except BaseException:
                await asyncio.shield(self._undo_growth(desired, before))
                raise
        tags = {**labels, "scalehook.name": name}
        try:
            await self._call(
                "ec2",
                "create_tags",
                Resources=[str(member["InstanceId"])],
                Tags=[{"Key": k, "Value": v} for k, v in tags.items()],
            )
        except BackendError as exc:  # the host works without them; its node gets the labels
            log.warning("group %s: could not tag %s: %s", self.settings.group, name, exc.message)
        host = self._host(member, instance)
        log.info("group %s: host %s is instance %s", self.settings.group, name, host.id)
        return replace(host, labels={**host.labels, **tags})

    async def _new_instance(self, before: set[str]) -> tuple[dict[str, Any], dict[str, Any]]:
        """Wait until the group shows an instance it did not have, with its private name."""
        deadline = time.monotonic() + self.settings.launch_timeout
        while True:
            group = await self._group()
            new = [m for m in group.get("Instances", []) if str(m["InstanceId"]) not in before]
            if new:
                details = await self._instances([str(m["InstanceId"]) for m in new])
                for member in new:
                    instance = details.get(str(member["InstanceId"]), {})
                    if instance.get("PrivateDnsName") or self.settings.hostname == "instance-id":
                        return dict(member), instance
            if time.monotonic() >= deadline:
                raise BackendError(
                    f"auto scaling group {self.settings.group!r} launched no instance in "
                    f"{self.settings.launch_timeout:g}s (see its activity history)"
                )
            await asyncio.sleep(_POLL_SECONDS)

    async def _undo_growth(self, desired: int, before: set[str]) -> None:
        """Give the capacity back, but only while no new instance is there: lowering the
        capacity of a group that has one would let AWS pick which instance to end."""
        try:
            group = await self._group()
            if {str(m["InstanceId"]) for m in group.get("Instances", [])} <= before:
                await self._call(
                    "autoscaling",
                    "set_desired_capacity",
                    AutoScalingGroupName=self.settings.group,
                    DesiredCapacity=desired,
                    HonorCooldown=False,
                )
            else:
                log.error(
                    "group %s: an instance came late; it stays (remove it as a host)",
                    self.settings.group,
                )
        except BackendError as exc:
            log.error("group %s: could not give capacity back: %s", self.settings.group, exc)

    async def check_removal(self, host: ProviderHost) -> None:
        """Refuse before the node is drained what the group would refuse after."""
        group = await self._group()
        desired, smallest = int(group["DesiredCapacity"]), int(group["MinSize"])
        if desired - 1 < smallest:
            raise Conflict(
                f"auto scaling group {self.settings.group!r} is at its MinSize ({smallest}): "
                f"removing {host.name} would go below it; lower MinSize first"
            )

    async def destroy(self, *, host: ProviderHost) -> None:
        async with self._resize:
            group = await self._group()
            if host.id not in {str(m["InstanceId"]) for m in group.get("Instances", [])}:
                log.info("group %s: %s is no longer in it", self.settings.group, host.id)
                return
            await self.check_removal(host)
            await self._call(
                "autoscaling",
                "terminate_instance_in_auto_scaling_group",
                InstanceId=host.id,
                ShouldDecrementDesiredCapacity=True,
            )
        log.info("group %s: terminated %s (%s)", self.settings.group, host.name, host.id)


def _staying(member: Mapping[str, Any]) -> bool:
    return not str(member.get("LifecycleState", "")).startswith(_LEAVING)
