"""Webhook sources: the real example bodies, variants of them, and malformed ones."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from scalehook.domain.signals import ImagePushed
from scalehook.errors import InvalidPayload
from scalehook.sources import SOURCES, by_name, detect
from tests.upgrades import bodies
from tests.upgrades.bodies import digest_of


def parse(body: Any, headers: dict[str, str] | None = None) -> tuple[str, list[ImagePushed]]:
    lowered = {k.lower(): v for k, v in (headers or {}).items()}
    source = detect(body, lowered)
    assert source is not None, body
    signals = source.parse(body, lowered)
    assert all(isinstance(s, ImagePushed) for s in signals)
    return source.name, signals  # type: ignore[return-value]


def test_the_reference_bodies() -> None:
    assert parse(bodies.fixture("dockerhub-push")) == (
        "dockerhub",
        [ImagePushed("dockerhub", "docker.io", "svendowideit/testhook", "latest")],
    )
    assert parse(bodies.fixture("quay-repo-push")) == (
        "quay",
        [ImagePushed("quay", "quay.io", "dgangaia/test", "latest")],
    )
    name, [harbor] = parse(bodies.fixture("harbor-v2-push-artifact"))
    assert (name, harbor.registry, harbor.repository, harbor.tag) == (
        "harbor",
        "hub.harbor.com",
        "test-webhook/debian",
        "latest",
    )
    assert harbor.digest is not None and harbor.digest.startswith("sha256:8a9e")
    name, [dist] = parse(bodies.fixture("distribution-events-push"))
    assert (name, dist.registry, dist.repository, dist.tag) == (
        "distribution",
        "192.168.100.227:5000",
        "hello-world",
        "latest",
    )
    name, [untagged] = parse(bodies.fixture("ghcr-registry-package-published-untagged"))
    assert (name, untagged.registry, untagged.repository, untagged.tag) == (
        "github",
        "ghcr.io",
        "codertocat/hello-world",
        None,
    )


@pytest.mark.parametrize(
    ("source", "image", "registry", "repository"),
    [
        ("dockerhub", "acme/app", "docker.io", "acme/app"),
        ("dockerhub", "nginx", "docker.io", "library/nginx"),
        ("harbor", "harbor.example.com/proj/app", "harbor.example.com", "proj/app"),
        ("harbor-cloudevents", "harbor.example.com/proj/app", "harbor.example.com", "proj/app"),
        ("quay", "quay.io/acme/app", "quay.io", "acme/app"),
        ("github-package", "ghcr.io/Acme/App", "ghcr.io", "acme/app"),
        ("github-registry_package", "ghcr.io/acme/app", "ghcr.io", "acme/app"),
        (
            "distribution",
            "registry.example.com:5000/team/app",
            "registry.example.com:5000",
            "team/app",
        ),
        ("gitlab", "myregistry/group/app", "myregistry", "group/app"),
        ("generic", "localhost:5000/app", "localhost:5000", "app"),
        ("generic", "acme/app", "docker.io", "acme/app"),
    ],
)
def test_each_source_names_the_image(
    source: str, image: str, registry: str, repository: str
) -> None:
    body, headers = bodies.push(source, image, "2.1")
    expected = source.split("-", maxsplit=1)[0]
    expected = "distribution" if expected == "gitlab" else expected
    name, signals = parse(body, headers)
    assert name == expected
    assert [(s.registry, s.repository, s.tag) for s in signals] == [(registry, repository, "2.1")]
    if source not in ("dockerhub", "quay", "generic"):
        assert signals[0].digest == digest_of("2.1")


def test_bodies_survive_a_json_round_trip() -> None:
    body, headers = bodies.push("harbor", "harbor.example.com/proj/app", "2")
    assert parse(json.loads(json.dumps(body)), headers) == parse(body, headers)


def test_variants() -> None:
    old_harbor = bodies.harbor("hub.example.com/p/a", "1")
    old_harbor["type"] = "pushImage"
    assert parse(old_harbor)[1][0].tag == "1"
    quay = bodies.quay("quay.io/acme/app", [])
    quay["updated_tags"] = {"1.0": "abc", "1.1": "def"}
    assert [s.tag for s in parse(quay)[1]] == ["1.0", "1.1"]
    assert [s.tag for s in parse(bodies.quay("quay.io/a/b", ["x", "y"]))[1]] == ["x", "y"]
    generic = {"image": "acme/app", "tag": "3", "digest": digest_of("3")}
    assert parse(generic)[1] == [
        ImagePushed("generic", "docker.io", "acme/app", "3", digest_of("3"))
    ]
    untagged = bodies.github("ghcr.io/acme/app", "", event="package")
    assert parse(untagged, {"X-GitHub-Event": "package"})[1][0].tag is None


@pytest.mark.parametrize(
    ("body", "headers"),
    [
        ({"zen": "Keep it logically awesome.", "hook_id": 1}, {"X-GitHub-Event": "ping"}),
        (bodies.github("ghcr.io/a/b", "1"), {"X-GitHub-Event": "push"}),
        ({**bodies.github("ghcr.io/a/b", "1"), "action": "deleted"}, {}),
        ({**bodies.harbor("h.example.com/p/a", "1"), "type": "PULL_ARTIFACT"}, {}),
        (
            {
                **bodies.harbor_cloudevents("h.example.com/p/a", "1"),
                "type": "harbor.artifact.deleted",
            },
            {},
        ),
        ({"events": [{"action": "pull", "target": {}, "request": {}}]}, {}),
        ({"events": []}, {}),
    ],
)
def test_bodies_that_are_no_push_give_no_signal(body: Any, headers: dict[str, str]) -> None:
    assert parse(body, headers)[1] == []


def test_non_container_packages_are_ignored() -> None:
    body = bodies.github("ghcr.io/a/b", "1")
    package = body["registry_package"]
    package.update(ecosystem="npm", package_type="npm")
    package["registry"]["type"] = "npm"
    assert parse(body, {"X-GitHub-Event": "registry_package"})[1] == []


def test_distribution_keeps_only_tagged_manifest_pushes() -> None:
    body = bodies.distribution("reg.example.com", "team/app", "2")
    assert [s.tag for s in parse(body)[1]] == ["2"]  # the blob event was dropped
    body["events"][1]["target"]["tag"] = ""
    assert [s.tag for s in parse(body)[1]] == [None]  # untagged: kept, the driver ignores it


@pytest.mark.parametrize(
    ("body", "headers", "field"),
    [
        ({"push_data": {}, "repository": {"repo_name": "acme/app"}}, {}, "push_data.tag"),
        ({"push_data": {"tag": "1"}, "repository": {}}, {}, "repository.repo_name"),
        ({"push_data": {"tag": 7}, "repository": {"repo_name": "acme/app"}}, {}, "push_data.tag"),
        (
            {"push_data": {"tag": "1"}, "repository": {"repo_name": "Acme/App"}},
            {},
            "repository.repo_name",
        ),
        (
            {"push_data": {"tag": "1"}, "repository": {"repo_name": "quay.io/a/b"}},
            {},
            "repository.repo_name",
        ),
        ({"push_data": "x", "repository": {"repo_name": "a/b"}}, {}, "push_data"),
        (
            {"push_data": {"tag": "bad tag"}, "repository": {"repo_name": "a/b"}},
            {},
            "push_data.tag",
        ),
        ({"type": "PUSH_ARTIFACT", "event_data": {"resources": "x"}}, {}, "event_data.resources"),
        (
            {"type": "PUSH_ARTIFACT", "event_data": {"resources": [{}]}},
            {},
            "event_data.resources[0].resource_url",
        ),
        (
            {
                "type": "PUSH_ARTIFACT",
                "event_data": {"resources": [{"resource_url": "h.io/a:1", "digest": "md5:x"}]},
            },
            {},
            "event_data.resources[0]",
        ),
        ({"specversion": "1.0", "type": "harbor.artifact.pushed"}, {}, "data"),
        ({"docker_url": "quay.io/a/b", "updated_tags": "latest"}, {}, "updated_tags"),
        ({"docker_url": "quay.io/a/b:1", "updated_tags": ["1"]}, {}, "docker_url"),
        ({"events": ["x"]}, {}, "events[0]"),
        (
            {"events": [{"action": "push", "target": {"tag": "1"}, "request": {}}]},
            {},
            "events[0].request.host",
        ),
        (
            {
                "events": [
                    {
                        "action": "push",
                        "target": {"tag": "1", "repository": "a"},
                        "request": {"host": "bad host"},
                    }
                ]
            },
            {},
            "events[0]",
        ),
        ({"events": "x"}, {"Content-Type": bodies.DISTRIBUTION_MEDIA_TYPE}, "events"),
        (
            {"registry_package": {"package_type": "container", "package_version": 1}},
            {"X-GitHub-Event": "registry_package"},
            "registry_package.package_version",
        ),
        (
            {
                "package": {
                    "package_type": "CONTAINER",
                    "package_version": {"package_url": "ghcr.io/a/ b:1"},
                }
            },
            {"X-GitHub-Event": "package"},
            "package.package_version.package_url",
        ),
        ({"image": ""}, {}, "image"),
        ({"image": "acme/app:1", "digest": "sha256:short"}, {}, "image"),
    ],
)
def test_malformed_bodies_name_the_field(body: Any, headers: dict[str, str], field: str) -> None:
    lowered = {k.lower(): v for k, v in headers.items()}
    source = detect(body, lowered)
    assert source is not None
    with pytest.raises(InvalidPayload) as caught:
        source.parse(body, lowered)
    assert caught.value.status == 400
    assert caught.value.message.startswith(field), caught.value.message


def test_unknown_shapes_are_recognised_by_no_source() -> None:
    shapes: list[Any] = [{"hello": "world"}, [], "text", 3, None, {"alerts": []}]
    for body in shapes:
        assert detect(body, {}) is None


def test_sources_are_registered_once_by_name() -> None:
    names = [s.name for s in SOURCES]
    assert len(names) == len(set(names))
    assert by_name("harbor") is not None and by_name("nope") is None


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=3)
        | st.dictionaries(
            st.sampled_from(
                [
                    "push_data",
                    "repository",
                    "repo_name",
                    "tag",
                    "type",
                    "event_data",
                    "data",
                    "resources",
                    "resource_url",
                    "docker_url",
                    "updated_tags",
                    "events",
                    "action",
                    "target",
                    "request",
                    "host",
                    "image",
                    "package_version",
                    "registry_package",
                ]
            ),
            children,
            max_size=4,
        )
    ),
    max_leaves=12,
)


@given(_json, st.sampled_from([{}, {"x-github-event": "package"}]))
def test_any_json_gives_signals_or_a_400(body: Any, headers: dict[str, str]) -> None:
    refusals: list[InvalidPayload] = []
    for source in SOURCES:
        try:
            signals = source.parse(body, headers)
        except InvalidPayload as exc:
            refusals.append(exc)
        else:
            assert all(isinstance(s, ImagePushed) for s in signals)
    assert all(r.status == 400 and r.message for r in refusals)
