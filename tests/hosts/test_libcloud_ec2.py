"""The libcloud provider with libcloud's real EC2 driver, against a fake of AWS.

``FakeAws`` (moto's EC2 model over HTTP) is a fake of the *cloud*: the provider and
libcloud's EC2 driver run as they would against AWS, signing and parsing real EC2 API
calls. A clone must copy what EC2 keeps on the template instance (image, instance type,
zone, subnet, security groups, key pair) and must never list every public image.
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Iterator
from typing import Any

import pytest
from pydantic import ValidationError

from scalehook.errors import BackendError, InvalidRequest
from scalehook.hosts.providers.base import JoinSpec
from scalehook.hosts.providers.libcloud import LibcloudProvider, LibcloudSettings, join_script
from tests.hosts.fake_aws import REGION, FakeAws

JOIN = JoinSpec(token="SWMTKN-1-secret-token", managers=("10.0.0.1:2377",))


@pytest.fixture(scope="module")
def fake_cloud() -> Iterator[FakeAws]:
    cloud = FakeAws().start()
    try:
        yield cloud
    finally:
        cloud.stop()


@pytest.fixture
def aws(fake_cloud: FakeAws, monkeypatch: pytest.MonkeyPatch) -> FakeAws:
    fake_cloud.reset()
    monkeypatch.setenv("FAKE_AWS_SECRET", "testing")
    return fake_cloud


def _an_image(ec2: Any) -> str:
    """One of the images the fake cloud offers (the same after every reset)."""
    if "image" not in _FOUND:
        _FOUND["image"] = str(ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"])
    return _FOUND["image"]


_FOUND: dict[str, str] = {}


class Network:
    """A VPC with a subnet in one zone, a security group and a key pair, as an operator
    would have set up for Swarm workers."""

    def __init__(self, aws: FakeAws) -> None:
        ec2 = aws.client("ec2")
        self.ec2 = ec2
        vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
        self.zone = f"{REGION}b"
        self.subnet = ec2.create_subnet(
            VpcId=vpc, CidrBlock="10.0.1.0/24", AvailabilityZone=self.zone
        )["Subnet"]["SubnetId"]
        self.group = ec2.create_security_group(
            GroupName="swarm-workers", Description="Swarm workers", VpcId=vpc
        )["GroupId"]
        ec2.create_key_pair(KeyName="ops")
        self.image = _an_image(ec2)
        aws.forget_calls()  # what the operator did is not what the provider asks

    def template(self) -> str:
        """An instance made outside scalehook: the host a clone copies."""
        made = self.ec2.run_instances(
            ImageId=self.image,
            MinCount=1,
            MaxCount=1,
            InstanceType="m5.large",
            SubnetId=self.subnet,
            SecurityGroupIds=[self.group],
            KeyName="ops",
            TagSpecifications=[
                {
                    "ResourceType": "instance",
                    "Tags": [{"Key": "Name", "Value": "batch-1"}, {"Key": "group", "Value": "b"}],
                }
            ],
        )
        return str(made["Instances"][0]["InstanceId"])

    def instance(self, instance_id: str) -> dict[str, Any]:
        found = self.ec2.describe_instances(InstanceIds=[instance_id])
        return dict(found["Reservations"][0]["Instances"][0])

    def user_data(self, instance_id: str) -> str:
        value = self.ec2.describe_instance_attribute(InstanceId=instance_id, Attribute="userData")
        return base64.b64decode(value["UserData"]["Value"]).decode()


def provider(aws: FakeAws, **values: Any) -> LibcloudProvider:
    settings = LibcloudSettings(
        driver="ec2",
        key="testing",
        secret_env="FAKE_AWS_SECRET",
        options={"region": REGION, "host": "127.0.0.1", "port": aws.port, "secure": False},
        **values,
    )
    return LibcloudProvider(settings)


def test_a_clone_copies_image_type_zone_subnet_groups_and_key(aws: FakeAws) -> None:
    net = Network(aws)
    template_id = net.template()
    cloud = provider(aws)
    template = next(h for h in asyncio.run(cloud.list()) if h.id == template_id)
    assert template.settings == {
        "image": net.image,
        "size": "m5.large",
        "location": net.zone,
        "subnet": net.subnet,
        "security_groups": net.group,
        "key_name": "ops",
    }
    assert template.labels == {"Name": "batch-1", "group": "b"}
    aws.forget_calls()

    clone = asyncio.run(
        cloud.create(name="batch-2", like=template, labels={"group": "b"}, join=JOIN)
    )

    made = net.instance(clone.id)
    assert made["ImageId"] == net.image
    assert made["InstanceType"] == "m5.large"
    assert made["Placement"]["AvailabilityZone"] == net.zone
    assert made["SubnetId"] == net.subnet
    assert [g["GroupId"] for g in made["SecurityGroups"]] == [net.group]
    assert made["KeyName"] == "ops"
    assert {t["Key"]: t["Value"] for t in made["Tags"]} == {"Name": "batch-2", "group": "b"}
    assert net.user_data(clone.id) == join_script("batch-2", JOIN)
    assert clone.settings == template.settings
    # the image was looked up by its id, once; never a listing of every public image
    lookups = aws.calls("DescribeImages")
    assert lookups
    assert all(call.get("ImageId.1") == net.image for call in lookups)
    assert len(aws.calls("RunInstances")) == 1


def test_a_first_host_takes_the_configured_network_and_options(aws: FakeAws) -> None:
    net = Network(aws)
    cloud = provider(
        aws,
        image=net.image,
        size="t3.small",
        location=f"{REGION}b",
        subnet=net.subnet,
        security_groups=[net.group],
        key_name="ops",
        create_options={"ebs_optimized": True},
    )
    made = asyncio.run(cloud.create(name="first-1", like=None, labels={}, join=JOIN))
    instance = net.instance(made.id)
    assert instance["InstanceType"] == "t3.small"
    assert instance["Placement"]["AvailabilityZone"] == f"{REGION}b"
    assert instance["SubnetId"] == net.subnet
    assert [g["GroupId"] for g in instance["SecurityGroups"]] == [net.group]
    assert instance["KeyName"] == "ops"
    assert instance["EbsOptimized"] is True


def test_an_instance_type_libcloud_does_not_list_is_still_asked_for(aws: FakeAws) -> None:
    net = Network(aws)
    cloud = provider(aws, image=net.image, size="m7i-flex.large")
    made = asyncio.run(cloud.create(name="new-1", like=None, labels={}, join=JOIN))
    assert net.instance(made.id)["InstanceType"] == "m7i-flex.large"


def test_an_image_the_cloud_does_not_have_is_refused_before_anything_runs(aws: FakeAws) -> None:
    Network(aws)
    cloud = provider(aws, image="ami-00000000deadbeef0", size="t3.small")
    with pytest.raises(BackendError, match="image 'ami-00000000deadbeef0' not offered"):
        asyncio.run(cloud.create(name="x-1", like=None, labels={}, join=JOIN))
    assert aws.calls("RunInstances") == []
    assert all("ImageId.1" in call for call in aws.calls("DescribeImages"))


def test_settings_the_driver_cannot_take_are_refused_clearly(aws: FakeAws) -> None:
    net = Network(aws)
    with pytest.raises(InvalidRequest, match=r"create_options\.no_such.*takes no ex_no_such"):
        asyncio.run(
            provider(aws, image=net.image, size="t3.small", create_options={"no_such": 1}).create(
                name="x-1", like=None, labels={}, join=JOIN
            )
        )
    with pytest.raises(InvalidRequest, match="only with a subnet"):
        asyncio.run(
            provider(aws, image=net.image, size="t3.small", security_groups=[net.group]).create(
                name="x-1", like=None, labels={}, join=JOIN
            )
        )
    with pytest.raises(ValidationError, match="'userdata' is set by scalehook"):
        LibcloudSettings(driver="ec2", create_options={"userdata": "#!/bin/sh"})
    with pytest.raises(ValidationError, match="use key_name"):
        LibcloudSettings(driver="ec2", create_options={"ex_keyname": "ops"})
    assert aws.calls("RunInstances") == []


def test_destroy_terminates_the_instance(aws: FakeAws) -> None:
    net = Network(aws)
    cloud = provider(aws, image=net.image, size="t3.small")
    made = asyncio.run(cloud.create(name="gone-1", like=None, labels={}, join=JOIN))
    asyncio.run(cloud.destroy(host=made))
    assert net.instance(made.id)["State"]["Name"] in ("shutting-down", "terminated")
    assert [c["InstanceId.1"] for c in aws.calls("TerminateInstances")] == [made.id]
