"""The generic body, for CI jobs and scripts: ``{"image": "acme/app:2"}``.

``image`` is any image reference; ``tag`` and ``digest`` may be given apart when the
reference has none.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from scalehook.domain.signals import Signal
from scalehook.sources import fields


class Generic:
    name = "generic"
    title = '{"image": "repository:tag"}'

    def recognises(self, body: Any, headers: Mapping[str, str]) -> bool:
        return isinstance(body, dict) and "image" in body

    def parse(self, body: Any, headers: Mapping[str, str]) -> list[Signal]:
        body = fields.mapping(body, "body")
        ref = fields.image(fields.string(body, "image", ""), "image")
        tag = ref.tag or fields.optional_string(body, "tag", "")
        digest = ref.digest or fields.optional_string(body, "digest", "")
        return [fields.pushed(self.name, ref, tag, digest, "image")]


SOURCE = Generic()
