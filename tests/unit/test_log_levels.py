"""``log_level``: one of five names, any case; anything else is a config error."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from scalehook.config import ConfigError, load_settings


@pytest.mark.parametrize(
    ("written", "level"), [("debug", "debug"), ("INFO", "info"), ("Warning", "warning")]
)
def test_levels_are_read_in_any_case(tmp_path: Path, written: str, level: str) -> None:
    path = tmp_path / "scalehook.yaml"
    path.write_text(f"log_level: {written}\n")
    assert load_settings(path, data_dir=tmp_path).log_level == level


@pytest.mark.parametrize("written", ["verbose", "5", "[info]"])
def test_an_unknown_level_names_the_setting_and_the_choices(tmp_path: Path, written: str) -> None:
    path = tmp_path / "scalehook.yaml"
    path.write_text(f"log_level: {written}\n")
    with pytest.raises(ConfigError) as caught:
        load_settings(path, data_dir=tmp_path)
    message = caught.value.message
    assert "log_level:" in message
    assert "debug, info, warning, error, critical" in message


def test_serve_with_an_unknown_level_says_so_without_a_traceback(tmp_path: Path) -> None:
    path = tmp_path / "scalehook.yaml"
    path.write_text("log_level: verbose\n")
    done = subprocess.run(
        [sys.executable, "-m", "scalehook", "serve", "-c", str(path), "--data-dir", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1
    assert "log_level: 'verbose' is not a log level" in done.stderr
    assert "Traceback" not in done.stderr
