"""Fixtures for deploying scalehook's own image: the image, built once per session.

``scripts/image`` tags the image by the hash of everything that goes into it, so a
session whose sources, lock and base match an image the engine has reuses it (seconds);
otherwise it builds one (on a debootstrapped Debian base when the engine has no
python:3.11-slim: minutes the first time on a machine).
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.docker.conftest import engine, images, session_prefix
from tests.docker.engine import Engine

__all__ = ["engine", "images", "scalehook_image", "session_prefix"]

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def scalehook_image(engine: Engine) -> str:
    """The tag of the image of this tree (``scalehook:src-<hash>``)."""
    done = subprocess.run(
        [str(ROOT / "scripts" / "image")],
        capture_output=True,
        text=True,
        timeout=1800,
        cwd=ROOT,
    )
    if done.returncode != 0:
        pytest.fail(f"scripts/image failed:\n{done.stderr[-4000:]}", pytrace=False)
    tag = done.stdout.strip().splitlines()[-1]
    assert engine.get(f"/images/{tag}/json")["Config"]["User"] == "10001:10001"
    return tag
