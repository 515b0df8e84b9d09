"""Harbor project webhooks, in both payload formats.

*Default*: ``{"type": "PUSH_ARTIFACT", "event_data": {"resources": [...]}}`` (Harbor
1.x said ``pushImage``). *CloudEvents* (Harbor 2.8+): ``{"specversion": "1.0", "type":
"harbor.artifact.pushed", "data": {"resources": [...]}}``. Each resource names the
artifact by ``resource_url`` (Harbor's external host, the project and repository) with
its ``tag`` and ``digest``. Other event types (pulls, deletes, scans) are not pushes
and give no signal.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from scalehook.domain.signals import Signal
from scalehook.sources import fields

PUSH_TYPES = frozenset({"PUSH_ARTIFACT", "pushImage", "harbor.artifact.pushed"})


class Harbor:
    name = "harbor"
    title = "Harbor"

    def recognises(self, body: Any, headers: Mapping[str, str]) -> bool:
        if not isinstance(body, dict):
            return False
        kind = body.get("type")
        if "event_data" in body and "type" in body:
            return True
        return isinstance(kind, str) and kind.startswith("harbor.")

    def parse(self, body: Any, headers: Mapping[str, str]) -> list[Signal]:
        body = fields.mapping(body, "body")
        kind = fields.string(body, "type", "")
        if kind not in PUSH_TYPES:
            return []
        where = "data" if "specversion" in body else "event_data"
        data = fields.child(body, where, "")
        signals: list[Signal] = []
        for index, raw in enumerate(fields.items(data, "resources", where)):
            at = f"{where}.resources[{index}]"
            resource = fields.mapping(raw, at)
            ref = fields.image(fields.string(resource, "resource_url", at), f"{at}.resource_url")
            tag = fields.optional_string(resource, "tag", at) or ref.tag
            digest = fields.optional_string(resource, "digest", at) or ref.digest
            signals.append(fields.pushed(self.name, ref.with_tag(None), tag, digest, at))
        return signals


SOURCE = Harbor()
