"""Quay "Repository Push" notifications: ``docker_url`` and the ``updated_tags``.

One signal per updated tag. Very old quay.io bodies sent ``updated_tags`` as an
object ``{tag: image_id}``; both shapes are read.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from scalehook.domain.signals import Signal
from scalehook.errors import InvalidPayload
from scalehook.sources import fields


class Quay:
    name = "quay"
    title = "Quay"

    def recognises(self, body: Any, headers: Mapping[str, str]) -> bool:
        return isinstance(body, dict) and "docker_url" in body and "updated_tags" in body

    def parse(self, body: Any, headers: Mapping[str, str]) -> list[Signal]:
        body = fields.mapping(body, "body")
        url = fields.string(body, "docker_url", "")
        ref = fields.repository(url, "docker_url")
        tags = body.get("updated_tags")
        if isinstance(tags, dict):
            tags = list(tags)
        if not isinstance(tags, list) or not all(isinstance(t, str) and t for t in tags):
            raise InvalidPayload(
                "updated_tags: must be an array of tag names", field="updated_tags"
            )
        return [fields.pushed(self.name, ref, tag, None, "updated_tags") for tag in tags]


SOURCE = Quay()
