"""An AWS Auto Scaling group of Swarm workers, end to end: a real scalehook process, the
lab's real Swarm, and a fake of AWS (no cloud can be reached from here).

The fake cloud is two parts: ``FakeAws`` (moto's Auto Scaling and EC2 over HTTP) keeps
the group, and ``Boot`` does what EC2 and the group's launch template do for each
instance the group launches: it starts a machine (a netns worker engine of the lab)
whose hostname is the instance's private DNS name's first label and joins it to the
Swarm, as the template's user data would; when the instance is terminated, it stops
that machine. scalehook sees only the AWS API and the Swarm, as in production.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from scalehook.hosts.providers.base import JoinSpec
from scalehook.hosts.providers.netns import NetnsSettings
from scalehook.hosts.settings import netns_provider
from scalehook.testing import ServerProcess, wait_until
from tests.hosts.fake_aws import REGION, FakeAws
from tests.hosts.lab import BRIDGE, PREFIX, RUN, SUBNET, SwarmLab

GROUP = "swarm-workers"


class Boot:
    """The cloud's side of a launch: a machine per instance of the group, joined to the
    Swarm under the instance's hostname; a machine stopped when its instance ends."""

    def __init__(self, aws: FakeAws, lab: SwarmLab, state_dir: Path) -> None:
        self.autoscaling, self.ec2 = aws.client("autoscaling"), aws.client("ec2")
        self.lab = lab
        self.machines = netns_provider(
            NetnsSettings(
                prefix=PREFIX,
                bridge=BRIDGE,
                subnet=SUBNET,
                pool=f"10.214.{RUN}.192/28",
                images=["scalehook-hosttest/*"],
                state_dir=state_dir,
            ),
            manager=None,
            load_images=False,
            data_dir=state_dir,
        )
        self.booted: dict[str, str] = {}  # instance id -> hostname
        self.errors: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=lambda: asyncio.run(self._run()), daemon=True)

    def start(self) -> Boot:
        self.join = self._join()
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=120)

        async def unmake() -> None:
            for machine in await self.machines.list():
                await self.machines.destroy(host=machine)

        asyncio.run(unmake())

    def _join(self) -> JoinSpec:
        swarm, info = self.lab.api("GET", "/swarm"), self.lab.api("GET", "/info")
        managers = tuple(m["Addr"] for m in info["Swarm"]["RemoteManagers"])
        return JoinSpec(token=swarm["JoinTokens"]["Worker"], managers=managers)

    async def _run(self) -> None:
        await self.machines.start()
        while not self._stop.is_set():
            try:
                await self._step()
            except Exception as exc:
                self.errors.append(repr(exc))
            await asyncio.sleep(0.3)

    async def _step(self) -> None:
        groups = self.autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=[GROUP])
        members = {
            i["InstanceId"]
            for i in groups["AutoScalingGroups"][0]["Instances"]
            if not i["LifecycleState"].startswith(("Terminat", "Detach"))
        }
        for ident in sorted(members - set(self.booted)):
            found = self.ec2.describe_instances(InstanceIds=[ident])
            hostname = found["Reservations"][0]["Instances"][0]["PrivateDnsName"].split(".")[0]
            self.booted[ident] = hostname
            await self.machines.create(name=hostname, like=None, labels={}, join=self.join)
        for ident in sorted(set(self.booted) - members):
            hostname = self.booted.pop(ident)
            for machine in await self.machines.list():
                if machine.name == hostname:
                    await self.machines.destroy(host=machine)


@pytest.fixture(scope="module")
def aws() -> Iterator[FakeAws]:
    cloud = FakeAws().start()
    cloud.reset()
    try:
        yield cloud
    finally:
        cloud.stop()


@pytest.fixture(scope="module")
def group(aws: FakeAws) -> Any:
    ec2, autoscaling = aws.client("ec2"), aws.client("autoscaling")
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.1.0/24", AvailabilityZone=f"{REGION}a")
    ec2.create_launch_template(
        LaunchTemplateName="swarm-worker",
        LaunchTemplateData={"ImageId": "ami-12c6146b", "InstanceType": "t3.medium"},
    )
    autoscaling.create_auto_scaling_group(
        AutoScalingGroupName=GROUP,
        LaunchTemplate={"LaunchTemplateName": "swarm-worker", "Version": "$Latest"},
        MinSize=0,
        MaxSize=2,
        DesiredCapacity=0,
        VPCZoneIdentifier=subnet["Subnet"]["SubnetId"],
    )
    return autoscaling


@pytest.fixture(scope="module")
def boot(
    aws: FakeAws, group: Any, lab: SwarmLab, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Boot]:
    booting = Boot(aws, lab, tmp_path_factory.mktemp("asg-machines")).start()
    try:
        yield booting
    finally:
        booting.stop()
        for node in lab.nodes():
            if node["Description"]["Hostname"].startswith("ip-"):
                lab.api("DELETE", f"/nodes/{node['ID']}", params={"force": "true"})


@pytest.fixture(scope="module")
def server(
    aws: FakeAws, boot: Boot, lab: SwarmLab, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess]:
    config = {
        "hosts": {
            "docker_host": lab.docker_host,
            "ready_timeout": "120s",
            "drain_timeout": "60s",
            "providers": {
                "aws_asg": {
                    "group": GROUP,
                    "region": REGION,
                    "endpoint_url": aws.url,
                    "hostname": "private-dns-short",
                    "launch_timeout": "60s",
                }
            },
        },
    }
    process = ServerProcess(
        tmp_path_factory.mktemp("asg-server"),
        config,
        env={"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"},
    )
    process.start()
    try:
        yield process
    finally:
        process.close()


def desired(group: Any) -> int:
    found = group.describe_auto_scaling_groups(AutoScalingGroupNames=[GROUP])
    return int(found["AutoScalingGroups"][0]["DesiredCapacity"])


def asg_hosts(server: ServerProcess) -> list[dict[str, Any]]:
    listed = server.client.get("/v1/hosts")
    listed.raise_for_status()
    return [h for h in listed.json() if h["provider"] == "aws_asg"]


def node(lab: SwarmLab, hostname: str) -> dict[str, Any] | None:
    return next((n for n in lab.nodes() if n["Description"]["Hostname"] == hostname), None)


def test_the_group_grows_shrinks_and_keeps_its_bounds(
    server: ServerProcess, group: Any, aws: FakeAws, boot: Boot, lab: SwarmLab
) -> None:
    made = server.client.post(
        "/v1/hosts", json={"provider": "aws_asg", "labels": {"group": "asg"}}, timeout=300
    )
    assert made.status_code == 201, (made.text, boot.errors)
    first = made.json()
    assert first["name"].startswith("ip-10-0-1-")
    assert (first["state"], first["provider"], first["labels"]["group"]) == (
        "ready",
        "aws_asg",
        "asg",
    )
    assert desired(group) == 1
    joined = node(lab, first["name"])
    assert joined is not None
    instance = next(iter(boot.booted))
    assert joined["Spec"]["Labels"]["scalehook.provider-id"] == instance

    # the group launches one by itself (its own scaling, a replacement): scalehook finds
    # its node by hostname and counts it as the group's, once
    group.set_desired_capacity(AutoScalingGroupName=GROUP, DesiredCapacity=2)
    wait_until(lambda: len(boot.booted) == 2, what="the second instance booted", timeout=120)
    second_name = next(n for i, n in boot.booted.items() if i != instance)
    wait_until(
        lambda: any(h["name"] == second_name and h["state"] == "ready" for h in asg_hosts(server)),
        what="the group's own instance listed as its host",
        timeout=120,
    )
    hosts = asg_hosts(server)
    assert sorted(h["name"] for h in hosts) == sorted([first["name"], second_name])
    assert all(h["removable"] for h in hosts)

    refused = server.client.post(
        "/v1/hosts", json={"provider": "aws_asg", "labels": {"group": "asg"}}, timeout=60
    )
    assert refused.status_code == 409, refused.text
    assert "is at its MaxSize (2)" in refused.json()["message"]
    assert desired(group) == 2

    # drained, then that very instance ended with the capacity decremented
    group.update_auto_scaling_group(AutoScalingGroupName=GROUP, MinSize=1)
    aws.forget_calls()
    removed = server.client.delete(f"/v1/hosts/{first['name']}", timeout=300)
    assert removed.status_code == 200, removed.text
    calls = aws.calls("TerminateInstanceInAutoScalingGroup")
    assert [(c["InstanceId"], c["ShouldDecrementDesiredCapacity"]) for c in calls] == [
        (instance, "true")
    ]
    assert desired(group) == 1
    wait_until(lambda: node(lab, first["name"]) is None, what="the node gone from the Swarm")
    wait_until(lambda: instance not in boot.booted, what="its machine stopped")

    # at MinSize: refused before the drain, so the node keeps serving
    kept = server.client.delete(f"/v1/hosts/{second_name}", timeout=300)
    assert kept.status_code == 409, kept.text
    assert "MinSize (1)" in kept.json()["message"]
    still = node(lab, second_name)
    assert still is not None
    assert still["Spec"]["Availability"] == "active"
    assert desired(group) == 1
    assert boot.errors == []
