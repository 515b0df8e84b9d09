"""The aws_asg provider against a fake of AWS (moto's Auto Scaling and EC2 over HTTP).

``FakeAws`` is a fake of the *cloud*: the provider runs boto3 as it would against AWS.
It grows the group by its desired capacity (never past MaxSize), lists the group's
instances with their state, and ends one instance with
TerminateInstanceInAutoScalingGroup(ShouldDecrementDesiredCapacity=true).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest

from scalehook.errors import BackendError, Conflict
from scalehook.hosts.providers.aws_asg import AwsAsgProvider, AwsAsgSettings
from scalehook.hosts.providers.base import GroupProvider, JoinSpec
from tests.hosts.fake_aws import REGION, FakeAws

JOIN = JoinSpec(token="SWMTKN-1-unused", managers=("10.0.0.1:2377",))
GROUP = "swarm-workers"


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
    # boto3's own credential chain, as in production: here from the environment
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    return fake_cloud


def make_group(aws: FakeAws, *, size: int = 1, smallest: int = 0, largest: int = 3) -> Any:
    """An operator's group: a launch template (its user data would join the Swarm)."""
    ec2, autoscaling = aws.client("ec2"), aws.client("autoscaling")
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.1.0/24", AvailabilityZone=f"{REGION}a")
    ec2.create_launch_template(
        LaunchTemplateName="swarm-worker",
        LaunchTemplateData={
            "ImageId": "ami-12c6146b",
            "InstanceType": "t3.medium",
            "UserData": "IyEvYmluL3NoCmRvY2tlciBzd2FybSBqb2luIC4uLgo=",
        },
    )
    autoscaling.create_auto_scaling_group(
        AutoScalingGroupName=GROUP,
        LaunchTemplate={"LaunchTemplateName": "swarm-worker", "Version": "$Latest"},
        MinSize=smallest,
        MaxSize=largest,
        DesiredCapacity=size,
        VPCZoneIdentifier=subnet["Subnet"]["SubnetId"],
    )
    aws.forget_calls()
    return autoscaling


def desired(autoscaling: Any) -> int:
    groups = autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=[GROUP])
    return int(groups["AutoScalingGroups"][0]["DesiredCapacity"])


def members(autoscaling: Any) -> list[str]:
    groups = autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=[GROUP])
    return sorted(i["InstanceId"] for i in groups["AutoScalingGroups"][0]["Instances"])


def provider(aws: FakeAws, **values: Any) -> AwsAsgProvider:
    return AwsAsgProvider(
        AwsAsgSettings(group=GROUP, region=REGION, endpoint_url=aws.url, **values)
    )


def test_it_is_a_group_provider() -> None:
    assert isinstance(AwsAsgProvider(AwsAsgSettings(group=GROUP)), GroupProvider)


def test_list_gives_the_groups_instances_with_their_state(aws: FakeAws) -> None:
    autoscaling = make_group(aws, size=2)
    ids = members(autoscaling)
    autoscaling.enter_standby(
        AutoScalingGroupName=GROUP, InstanceIds=[ids[1]], ShouldDecrementDesiredCapacity=True
    )
    hosts = {h.id: h for h in asyncio.run(provider(aws).list())}
    assert sorted(hosts) == ids
    assert [hosts[i].state for i in ids] == ["running", "stopped"]
    assert hosts[ids[1]].settings["lifecycle"] == "Standby"
    ec2 = aws.client("ec2").describe_instances(InstanceIds=[ids[0]])
    instance = ec2["Reservations"][0]["Instances"][0]
    first = hosts[ids[0]]
    assert first.provider == "aws_asg"
    assert first.name == instance["PrivateDnsName"]
    assert first.name.endswith(".ec2.internal")
    assert first.address == instance["PrivateIpAddress"]
    assert first.settings["group"] == GROUP
    assert first.settings["instance_type"] == "t3.medium"
    assert first.settings["zone"] == f"{REGION}a"


def test_the_hostname_a_node_joins_with_can_be_short_or_the_id(aws: FakeAws) -> None:
    make_group(aws)
    full = asyncio.run(provider(aws).list())[0]
    short = asyncio.run(provider(aws, hostname="private-dns-short").list())[0]
    by_id = asyncio.run(provider(aws, hostname="instance-id").list())[0]
    assert short.name == full.name.split(".")[0]
    assert short.name.startswith("ip-")
    assert by_id.name == full.id


def test_create_raises_desired_capacity_and_returns_the_new_instance(aws: FakeAws) -> None:
    autoscaling = make_group(aws, size=1, largest=3)
    before = members(autoscaling)
    cloud = provider(aws)
    made = asyncio.run(
        cloud.create(name="batch-2", like=None, labels={"group": "batch"}, join=JOIN)
    )
    assert desired(autoscaling) == 2
    assert made.id not in before
    assert members(autoscaling) == sorted([*before, made.id])
    assert made.name.endswith(".ec2.internal")
    assert made.labels["group"] == "batch"
    assert made.labels["scalehook.name"] == "batch-2"
    tags = aws.client("ec2").describe_tags(Filters=[{"Name": "resource-id", "Values": [made.id]}])[
        "Tags"
    ]
    assert {t["Key"]: t["Value"] for t in tags}.items() >= {"group": "batch"}.items()
    sets = aws.calls("SetDesiredCapacity")
    assert [(c["AutoScalingGroupName"], c["DesiredCapacity"]) for c in sets] == [(GROUP, "2")]
    listed = {h.id: h for h in asyncio.run(cloud.list())}
    assert listed[made.id].labels["group"] == "batch"


def test_growing_past_max_size_is_refused_and_changes_nothing(aws: FakeAws) -> None:
    autoscaling = make_group(aws, size=1, largest=2)
    cloud = provider(aws)
    asyncio.run(cloud.create(name="b-2", like=None, labels={}, join=JOIN))
    assert desired(autoscaling) == 2
    aws.forget_calls()
    with pytest.raises(Conflict, match=r"is at its MaxSize \(2\): raise MaxSize to add hosts"):
        asyncio.run(cloud.create(name="b-3", like=None, labels={}, join=JOIN))
    assert desired(autoscaling) == 2
    assert len(members(autoscaling)) == 2
    assert aws.calls("SetDesiredCapacity") == []


def test_destroy_terminates_that_instance_and_decrements_desired_capacity(aws: FakeAws) -> None:
    autoscaling = make_group(aws, size=3, smallest=1)
    cloud = provider(aws)
    hosts = asyncio.run(cloud.list())
    leaving = hosts[1]
    asyncio.run(cloud.check_removal(leaving))
    asyncio.run(cloud.destroy(host=leaving))
    assert desired(autoscaling) == 2
    assert leaving.id not in members(autoscaling)
    assert sorted(h.id for h in asyncio.run(cloud.list())) == sorted(
        h.id for h in hosts if h.id != leaving.id
    )
    calls = aws.calls("TerminateInstanceInAutoScalingGroup")
    assert [(c["InstanceId"], c["ShouldDecrementDesiredCapacity"]) for c in calls] == [
        (leaving.id, "true")
    ]
    state = aws.client("ec2").describe_instances(InstanceIds=[leaving.id])
    assert state["Reservations"][0]["Instances"][0]["State"]["Name"] in (
        "shutting-down",
        "terminated",
    )
    # an instance that already left the group is gone: nothing to do
    asyncio.run(cloud.destroy(host=leaving))
    assert len(aws.calls("TerminateInstanceInAutoScalingGroup")) == 1


def test_removing_below_min_size_is_refused_before_anything_happens(aws: FakeAws) -> None:
    autoscaling = make_group(aws, size=1, smallest=1)
    cloud = provider(aws)
    only = asyncio.run(cloud.list())[0]
    with pytest.raises(Conflict, match=r"at its MinSize \(1\).*lower MinSize first"):
        asyncio.run(cloud.check_removal(only))
    with pytest.raises(Conflict, match="MinSize"):
        asyncio.run(cloud.destroy(host=only))
    assert desired(autoscaling) == 1
    assert members(autoscaling) == [only.id]
    assert aws.calls("TerminateInstanceInAutoScalingGroup") == []


def test_a_group_that_does_not_exist_is_a_clear_error(aws: FakeAws) -> None:
    with pytest.raises(BackendError, match="there is no auto scaling group 'swarm-workers'"):
        asyncio.run(provider(aws).list())


def test_an_unreachable_aws_is_unavailable_not_a_crash(aws: FakeAws) -> None:
    from scalehook.errors import BackendUnavailable
    from scalehook.testing import free_port

    cloud = AwsAsgProvider(
        AwsAsgSettings(group=GROUP, region=REGION, endpoint_url=f"http://127.0.0.1:{free_port()}")
    )
    with pytest.raises(BackendUnavailable, match="AWS cannot be reached"):
        asyncio.run(cloud.list())
