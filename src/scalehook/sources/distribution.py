"""Docker Distribution registry notifications, also sent by GitLab's registry.

An ``events`` envelope (media type ``application/vnd.docker.distribution.events.v1+json``,
``...v2+json`` since distribution v3, or plain JSON). A push uploads blobs and then
manifests; only ``push`` events of a manifest are image pushes. The image is
``request.host`` + ``target.repository``: the host the pusher used, which is also the
host services pull from.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from scalehook.domain.images import InvalidImage, image_at
from scalehook.domain.signals import Signal
from scalehook.errors import InvalidPayload
from scalehook.sources import fields

MEDIA_TYPES = frozenset(
    {
        "application/vnd.docker.distribution.events.v1+json",
        "application/vnd.docker.distribution.events.v2+json",
    }
)


def _is_manifest(media_type: str) -> bool:
    return "manifest" in media_type or "image.index" in media_type


class Distribution:
    name = "distribution"
    title = "Docker Distribution or GitLab registry notifications"

    def recognises(self, body: Any, headers: Mapping[str, str]) -> bool:
        if fields.content_type(headers) in MEDIA_TYPES:
            return True
        return isinstance(body, dict) and isinstance(body.get("events"), list)

    def parse(self, body: Any, headers: Mapping[str, str]) -> list[Signal]:
        body = fields.mapping(body, "body")
        signals: list[Signal] = []
        for index, raw in enumerate(fields.items(body, "events", "")):
            at = f"events[{index}]"
            event = fields.mapping(raw, at)
            if event.get("action") != "push":
                continue
            target = fields.child(event, "target", at)
            media_type = fields.optional_string(target, "mediaType", f"{at}.target")
            if media_type is not None and not _is_manifest(media_type):
                continue
            request = fields.child(event, "request", at)
            host = fields.string(request, "host", f"{at}.request")
            repository = fields.string(target, "repository", f"{at}.target")
            try:
                ref = image_at(host, repository)
            except InvalidImage as exc:
                raise InvalidPayload(f"{at}: {exc}", field=at) from exc
            tag = fields.optional_string(target, "tag", f"{at}.target")
            digest = fields.optional_string(target, "digest", f"{at}.target")
            signals.append(fields.pushed(self.name, ref, tag, digest, f"{at}.target"))
        return signals


SOURCE = Distribution()
