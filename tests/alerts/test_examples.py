"""The shipped example configs are valid for the real tools (the end-to-end test runs them)."""

from __future__ import annotations

import subprocess
from pathlib import Path

from scalehook.testing_alerts import binary

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "alertmanager"


def check(*args: str) -> str:
    done = subprocess.run(args, capture_output=True, text=True, timeout=60, cwd=EXAMPLE)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout + done.stderr


def test_prometheus_config_and_rules() -> None:
    assert "SUCCESS" in check(binary("promtool"), "check", "config", "prometheus.yml")
    assert "1 rules found" in check(binary("promtool"), "check", "rules", "rules.yml")


def test_alertmanager_config() -> None:
    assert "SUCCESS" in check(binary("amtool"), "check-config", "alertmanager.yml")
