"""The libcloud provider against libcloud's own dummy driver.

No cloud is reachable here. ``RecordingDummy`` is a fake of the *cloud* (it keeps what
it was asked to create, as a cloud would), not of scalehook: the provider's code runs
as it would against EC2 or OpenStack.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import pytest
from libcloud.compute.base import Node, NodeImage, NodeLocation, NodeSize
from libcloud.compute.drivers.dummy import DummyNodeDriver
from libcloud.compute.types import NodeState

from scalehook.errors import BackendError
from scalehook.hosts.providers.base import JoinSpec
from scalehook.hosts.providers.libcloud import LibcloudProvider, LibcloudSettings, join_script

JOIN = JoinSpec(token="SWMTKN-1-secret-token", managers=("10.0.0.1:2377",))


class RecordingDummy(DummyNodeDriver):
    """Libcloud's dummy cloud, keeping the image, size, location, tags and user data."""

    def create_node(  # type: ignore[override]
        self,
        name: str,
        size: NodeSize,
        image: NodeImage,
        location: NodeLocation | None = None,
        ex_userdata: str | None = None,
        ex_metadata: dict[str, str] | None = None,
    ) -> Node:
        node = Node(
            id=f"node-{len(self.nl) + 1}",
            name=name,
            state=NodeState.RUNNING,
            public_ips=[f"198.51.100.{len(self.nl) + 1}"],
            private_ips=[],
            driver=self,
            size=size,
            image=image,
            extra={
                "location": location,
                "metadata": dict(ex_metadata or {}),
                "userdata": ex_userdata,
            },
            created_at=datetime.now(UTC),
        )
        self.nl.append(node)
        return node


@pytest.fixture
def cloud() -> RecordingDummy:
    driver = RecordingDummy(0)  # type: ignore[no-untyped-call]
    driver.nl = []  # start with an empty cloud
    return driver


def settings(**values: Any) -> LibcloudSettings:
    return LibcloudSettings(driver="dummy", image="1", size="1", location="1", **values)


def test_first_host_uses_the_configured_image_size_and_location(cloud: RecordingDummy) -> None:
    provider = LibcloudProvider(settings(), driver=cloud)
    made = asyncio.run(
        provider.create(name="batch-1", like=None, labels={"group": "batch"}, join=JOIN)
    )
    assert made.settings == {"image": "1", "size": "1", "location": "1"}
    assert made.labels == {"group": "batch"}
    assert made.state == "running"
    assert made.address == "198.51.100.1"


def test_a_clone_copies_the_oldest_hosts_settings_and_joins_the_swarm(
    cloud: RecordingDummy,
) -> None:
    provider = LibcloudProvider(settings(), driver=cloud)
    first = asyncio.run(provider.create(name="b-1", like=None, labels={"group": "b"}, join=JOIN))
    cloud.nl[0].image = NodeImage(id="2", name="custom", driver=cloud)
    cloud.nl[0].size = NodeSize(
        id="3", name="big", ram=1, disk=1, bandwidth=1, price=1, driver=cloud
    )
    template = asyncio.run(provider.list())[0]
    clone = asyncio.run(
        provider.create(name="b-2", like=template, labels={"group": "b"}, join=JOIN)
    )
    assert clone.settings["image"] == "2"
    assert clone.settings["size"] == "3"
    assert clone.settings["location"] == first.settings["location"]
    user_data = cloud.nl[1].extra["userdata"]
    assert user_data == join_script("b-2", JOIN)
    assert "docker swarm join --token SWMTKN-1-secret-token 10.0.0.1:2377" in user_data
    assert "hostname b-2" in user_data
    assert "secret-token" not in repr(JOIN)
    asyncio.run(provider.destroy(host=clone))
    assert [h.name for h in asyncio.run(provider.list())] == ["b-1"]


def test_an_image_the_cloud_does_not_offer_is_a_clear_error(cloud: RecordingDummy) -> None:
    provider = LibcloudProvider(
        LibcloudSettings(driver="dummy", image="404", size="1"), driver=cloud
    )
    with pytest.raises(BackendError, match="not offered"):
        asyncio.run(provider.create(name="x-1", like=None, labels={}, join=JOIN))
    assert cloud.nl == []


def test_the_driver_is_found_by_name() -> None:
    provider = LibcloudProvider(LibcloudSettings(driver="dummy", key="0"))
    hosts = asyncio.run(provider.list())
    assert [(h.name, h.state) for h in hosts] == [("dummy-1", "running"), ("dummy-2", "running")]
    with pytest.raises(Exception, match="no compute driver"):
        asyncio.run(LibcloudProvider(LibcloudSettings(driver="no-such-cloud")).list())
