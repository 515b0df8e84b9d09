"""``deploy/scalehook.service`` as systemd reads it: no unknown or misspelt directive, and
the hardening in force (``systemd-analyze``, offline: no systemd needs to run here).

It is not started: the machines the tests run on have no systemd as PID 1.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
UNIT = ROOT / "deploy" / "scalehook.service"
INSTALLED = "/opt/scalehook/bin/scalehook"


@pytest.fixture
def unit(tmp_path: Path) -> Path:
    """The unit, run from this checkout's venv instead of /opt/scalehook (verify checks
    that the program exists)."""
    if shutil.which("systemd-analyze") is None:
        pytest.fail("no systemd-analyze (Debian's systemd; scripts/deps installs it)")
    text = UNIT.read_text()
    assert f"ExecStart={INSTALLED} " in text
    scalehook = Path(sys.executable).parent / "scalehook"
    copy = tmp_path / "scalehook.service"
    copy.write_text(text.replace(INSTALLED, str(scalehook)))
    return copy


def analyze(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["systemd-analyze", *args], capture_output=True, text=True, timeout=120)


def test_systemd_reads_every_directive_of_the_unit(unit: Path) -> None:
    done = analyze("verify", str(unit))
    assert done.returncode == 0, done.stderr
    assert done.stderr.strip() == "", done.stderr  # unknown keys are only warned about


def test_the_unit_is_sandboxed(unit: Path) -> None:
    done = analyze("security", "--offline=yes", "--no-pager", str(unit))
    assert done.returncode == 0, done.stderr
    passed = {
        line.split()[1].split("=")[0]
        for line in done.stdout.splitlines()
        if line.startswith("✓") and len(line.split()) > 1
    }
    for wanted in (
        "NoNewPrivileges",
        "ProtectSystem",
        "ProtectHome",
        "PrivateTmp",
        "PrivateDevices",
        "RestrictSUIDSGID",
        "SystemCallFilter",
        "MemoryDenyWriteExecute",
        "User",  # User=/DynamicUser=
    ):
        assert wanted in passed, f"{wanted} not in force:\n{done.stdout}"
    score = re.search(r"Overall exposure level for \S+: ([\d.]+)", done.stdout)
    assert score is not None, done.stdout
    assert float(score.group(1)) <= 2.0, done.stdout  # systemd's "OK" band
