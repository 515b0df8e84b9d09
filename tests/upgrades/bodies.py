"""Push notifications as registries send them, built from the real example bodies.

``payloads/`` holds one example body per source, as published by each project; the
builders below change only the fields that name the image, so every variant keeps the
shape its registry sends.
"""

from __future__ import annotations

import copy
import hashlib
import json
from pathlib import Path
from typing import Any

PAYLOADS = Path(__file__).parent / "payloads"
DISTRIBUTION_MEDIA_TYPE = "application/vnd.docker.distribution.events.v1+json"

Body = dict[str, Any]
Headers = dict[str, str]


def fixture(name: str) -> Body:
    loaded: Body = json.loads((PAYLOADS / f"{name}.json").read_text())
    return loaded


def digest_of(tag: str) -> str:
    """A stable, well-formed digest for a tag (what a registry would report)."""
    return "sha256:" + hashlib.sha256(tag.encode()).hexdigest()


def dockerhub(repository: str, tag: str) -> Body:
    body = fixture("dockerhub-push")
    body["repository"]["repo_name"] = repository
    body["repository"]["namespace"], _, body["repository"]["name"] = repository.rpartition("/")
    body["push_data"]["tag"] = tag
    return body


def harbor(repository: str, tag: str, *, digest: str | None = None) -> Body:
    """Harbor's default format; ``repository`` is ``host/project/name``."""
    body = fixture("harbor-v2-push-artifact")
    resource = body["event_data"]["resources"][0]
    resource["resource_url"] = f"{repository}:{tag}"
    resource["tag"] = tag
    resource["digest"] = digest or digest_of(tag)
    _, project_and_name = repository.split("/", 1)
    project, _, name = project_and_name.rpartition("/")
    body["event_data"]["repository"].update(
        name=name, namespace=project, repo_full_name=project_and_name
    )
    return body


def harbor_cloudevents(repository: str, tag: str, *, digest: str | None = None) -> Body:
    """Harbor 2.8+ CloudEvents format: the default body's event data under ``data``."""
    default = harbor(repository, tag, digest=digest)
    return {
        "specversion": "1.0",
        "id": "66e18103-09c1-41f6-982f-37df223f3eeb",
        "requestid": "51c0b694-0168-4f3c-b0db-282565455d7b",
        "source": "/projects/2/webhook/policies/15",
        "type": "harbor.artifact.pushed",
        "datacontenttype": "application/json",
        "time": "2026-11-23T06:04:46Z",
        "data": default["event_data"],
        "operator": default["operator"],
    }


def quay(docker_url: str, tags: list[str]) -> Body:
    body = fixture("quay-repo-push")
    body["docker_url"] = docker_url
    body["repository"] = docker_url.split("/", 1)[1]
    body["updated_tags"] = tags
    return body


def github(image: str, tag: str, *, event: str = "registry_package") -> Body:
    """A GHCR publish of ``image`` (``ghcr.io/owner/name``) as ``tag`` ("" = untagged)."""
    body = fixture("ghcr-registry-package-published-untagged")
    package = body.pop("registry_package")
    version = package["package_version"]
    version["container_metadata"]["tag"] = {"name": tag, "digest": digest_of(tag)}
    version["package_url"] = f"{image}:{tag}"
    version["installation_command"] = f"docker pull {image}:{tag}"
    package["name"] = image.rsplit("/", 1)[1]
    body[event] = package
    return body


def distribution(registry: str, repository: str, tag: str) -> Body:
    body = fixture("distribution-events-push")
    event = body["events"][0]
    event["target"].update(repository=repository, tag=tag, digest=digest_of(tag))
    event["target"]["url"] = f"http://{registry}/v2/{repository}/manifests/{digest_of(tag)}"
    event["request"]["host"] = registry
    blob = copy.deepcopy(event)  # registries announce the layer uploads too
    blob["target"].update(mediaType="application/octet-stream", tag="", digest=digest_of("x"))
    body["events"] = [blob, event]
    return body


def generic(image: str) -> Body:
    return {"image": image}


def push(source: str, image: str, tag: str) -> tuple[Body, Headers]:
    """A body (and the headers its sender adds) announcing ``image:tag`` from ``source``."""
    if source == "dockerhub":
        return dockerhub(image, tag), {}
    if source == "harbor":
        return harbor(image, tag), {}
    if source == "harbor-cloudevents":
        return harbor_cloudevents(image, tag), {"Content-Type": "application/cloudevents+json"}
    if source == "quay":
        return quay(image, [tag]), {}
    if source in ("github-package", "github-registry_package"):
        event = source.split("-", 1)[1]
        return github(image, tag, event=event), {"X-GitHub-Event": event}
    if source in ("distribution", "gitlab"):
        registry, repository = image.split("/", 1)
        media = DISTRIBUTION_MEDIA_TYPE if source == "distribution" else "application/json"
        return distribution(registry, repository, tag), {"Content-Type": media}
    if source == "generic":
        return generic(f"{image}:{tag}"), {}
    raise ValueError(source)
