"""Docker Hub: ``{"push_data": {"tag"}, "repository": {"repo_name"}}``, one tag per body.

Docker Hub cannot sign its calls or send headers, so the trigger URL's key is the only
secret; a receiver with a ``secret`` refuses these bodies (they cannot prove it).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from scalehook.domain.images import DOCKER_HUB
from scalehook.domain.signals import ImagePushed, Signal
from scalehook.errors import InvalidPayload
from scalehook.sources import fields


class DockerHub:
    name = "dockerhub"
    title = "Docker Hub"

    def recognises(self, body: Any, headers: Mapping[str, str]) -> bool:
        return isinstance(body, dict) and "push_data" in body and "repository" in body

    def parse(self, body: Any, headers: Mapping[str, str]) -> list[Signal]:
        body = fields.mapping(body, "body")
        push = fields.child(body, "push_data", "")
        repository = fields.child(body, "repository", "")
        name = fields.string(repository, "repo_name", "repository")
        ref = fields.repository(name, "repository.repo_name")
        if ref.registry != DOCKER_HUB:
            raise InvalidPayload(
                f"repository.repo_name: {name!r} is not a Docker Hub repository name",
                field="repository.repo_name",
            )
        tag = fields.string(push, "tag", "push_data")
        signal: ImagePushed = fields.pushed(self.name, ref, tag, None, "push_data.tag")
        return [signal]


SOURCE = DockerHub()
