"""A versioned test app for upgrades on the real engine, built from static busybox.

``scalehook-test/app:<n>``: busybox ``httpd`` answering ``hello from <host> (version <n>)``,
with a HEALTHCHECK on ``/health``. Versions 1, 2 and 4 are healthy; 3 serves no
``/health`` and never passes its check. The same images are also tagged under a
registry host (``localhost:5999/...``: a tag only, nothing listens there) for the
sources that name one.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.docker.engine import Engine

BUSYBOX = Path("/bin/busybox")
APP = "scalehook-test/app"
REGISTRY_APP = "localhost:5999/scalehook-test/app"
VERSIONS = ("1", "2", "3", "4")
BROKEN = "3"
ANSWER = re.compile(r"hello from (\S+) \(version (\S+)\)")

SERVE = (
    'mkdir -p /www; echo "hello from $(hostname) (version $VERSION)" > /www/index.html; '
    '[ -n "$BROKEN" ] || echo ok > /www/health; '
    "httpd -f -p 8080 -h /www & trap 'kill $!; exit 0' TERM; wait"
)
CHECK = "wget -q -O /dev/null http://127.0.0.1:8080/health"


def dockerfile(version: str) -> str:
    broken = "ENV BROKEN=1\n" if version == BROKEN else ""
    return f"""FROM scratch
COPY busybox /bin/busybox
RUN ["/bin/busybox", "--install", "-s", "/bin"]
ENV VERSION={version}
{broken}EXPOSE 8080
HEALTHCHECK --interval=1s --timeout=2s --retries=1 CMD {json.dumps(["sh", "-c", CHECK])}
CMD {json.dumps(["sh", "-c", SERVE])}
"""


def build_apps(engine: Engine) -> None:
    """Each version, built here and named as if from a registry (``REGISTRY_APP``) with
    no registry digest: what the engine runs as it is, without a pull."""
    for version in VERSIONS:
        engine.build(f"{APP}:{version}", dockerfile(version), {"busybox": BUSYBOX})
        engine.tag(f"{APP}:{version}", REGISTRY_APP, version)
        engine.forget_registries(
            f"{APP}:{version}", keep={f"{APP}:{version}", f"{REGISTRY_APP}:{version}"}
        )


def ready(row: Any) -> bool:
    """A row of the engine's container list: running and healthy."""
    return bool(row["State"] == "running" and "(healthy)" in row["Status"])


def version_of(engine: Engine, container: str) -> str:
    """The version a container names in its own HTTP answer (asked from inside it)."""
    text = engine.exec(container, ["wget", "-q", "-O-", "http://127.0.0.1:8080/"])
    match = ANSWER.search(text)
    assert match is not None, text
    return match.group(2)


@dataclass
class Sampler:
    """Samples something about the engine in the background while a rollout runs."""

    sample: Callable[[], Any]
    interval: float = 0.05
    samples: list[Any] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def __enter__(self) -> Sampler:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        assert self._thread is not None
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.is_set():
            self.samples.append(self.sample())
            time.sleep(self.interval)
