"""What a host provider needs of a Docker engine it starts on a host (and of the one
it copies images from). ``backends/swarm/engines.py`` implements it: providers never
build Engine API paths or payloads themselves.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from typing import Protocol


class HostEngine(Protocol):
    async def close(self) -> None: ...

    async def ping(self) -> None:
        """Return once the engine answers; raise a ``ScalehookError`` while it does not."""
        ...

    async def image_tags(self, patterns: Sequence[str]) -> list[str]:
        """The tags of the images here that match one of the shell-style ``patterns``."""
        ...

    def export_images(self, tags: Sequence[str]) -> AsyncIterator[bytes]:
        """The images ``tags`` name, as one archive, chunk by chunk."""
        ...

    async def load_images(self, archive: AsyncIterator[bytes]) -> None:
        """Load an archive ``export_images`` made (on another engine)."""
        ...

    async def join_swarm(self, *, token: str, address: str, managers: Sequence[str]) -> str | None:
        """Join a Swarm through ``managers``, listening and advertising on ``address``;
        return this engine's node id."""
        ...

    async def leave_swarm(self) -> None:
        """Leave the Swarm, even as its last manager."""
        ...


EngineAt = Callable[[str], HostEngine]
"""The engine answering at a ``docker_host`` URL (``unix:///run/...sock``)."""
