"""Fixtures for the load-balancer tests: a real HAProxy from Debian, started per test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.balancers.haproxy import HAProxy


@pytest.fixture
def haproxy(tmp_path: Path) -> Iterator[HAProxy]:
    """HAProxy with an empty ``web_be`` (but for an operator's server of its config,
    ``keep``, disabled: scalehook must leave it alone) and a frontend on a free port."""
    proxy = HAProxy(
        tmp_path / "haproxy", config_servers={"web_be": "server keep 127.0.0.1:9 disabled"}
    )
    proxy.start()
    yield proxy
    proxy.close()
