"""Run real Prometheus and Alertmanager on loopback ports: for tests and benchmarks.

Each program gets a free port, its own directory and the config it is given; the
stack only fills in where they listen and how they find each other. Prometheus drops
the alerts it evaluates before it has discovered its Alertmanager, so ``start`` waits
for the discovery too.
"""

from __future__ import annotations

import copy
import shutil
import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx
import yaml

from scalehook.testing import answers, free_port, stop_process


def binary(*names: str) -> str:
    """The first of ``names`` on PATH (Debian names Alertmanager ``prometheus-alertmanager``)."""
    for name in names:
        found = shutil.which(name)
        if found:
            return found
    raise FileNotFoundError(f"none of {', '.join(names)} is installed (see scripts/deps)")


class Program:
    """One child process with its log file; stopped with SIGTERM, then SIGKILL."""

    def __init__(self, name: str, args: list[str], workdir: Path) -> None:
        self.name = name
        self.args = args
        self.log_path = workdir / f"{name}.log"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(self.args, stdout=log, stderr=subprocess.STDOUT)

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-4000:]
        except FileNotFoundError:
            return ""

    def stop(self, timeout: float = 10.0) -> None:
        stop_process(self.process, timeout=timeout)


def example_configs(
    example: Path,
    *,
    targets: dict[str, str],
    urls: list[str],
    group_wait: str = "1s",
    group_interval: str = "2s",
    repeat_interval: str = "3s",
    interval: str = "1s",
) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """The example's prometheus.yml, rules.yml and alertmanager.yml, made fast for a run:
    ``interval`` for scrapes and rules, alerts fire at once (``for: 0s``), the scrape
    jobs aim at ``targets`` (job name -> host:port), the webhook goes to each of ``urls``.
    """
    prometheus = yaml.safe_load((example / "prometheus.yml").read_text())
    prometheus["global"] = {"scrape_interval": interval, "evaluation_interval": interval}
    for job in prometheus["scrape_configs"]:
        job["static_configs"] = [{"targets": [targets[job["job_name"]]]}]
    rules = yaml.safe_load((example / "rules.yml").read_text())
    for group in rules["groups"]:
        for rule in group["rules"]:
            rule["for"] = "0s"
    alertmanager = yaml.safe_load((example / "alertmanager.yml").read_text())
    alertmanager["route"].update(
        group_wait=group_wait, group_interval=group_interval, repeat_interval=repeat_interval
    )
    (receiver,) = alertmanager["receivers"]
    template = receiver["webhook_configs"][0]
    receiver["webhook_configs"] = [{**copy.deepcopy(template), "url": url} for url in urls]
    return prometheus, rules, alertmanager


class LoadExporter:
    """``examples/alertmanager/load_exporter.py`` (given as ``script``) in a child process:
    the metric a test or benchmark drives with ``set``."""

    def __init__(self, script: Path, timeout: float = 20.0) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process = subprocess.Popen([sys.executable, str(script), str(self.port)])
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if answers(self.url + "/metrics"):
                return
            time.sleep(0.05)
        self.close()
        raise RuntimeError(f"{script} did not start in {timeout}s")

    def set(self, value: float) -> None:
        httpx.post(self.url + "/load", content=str(value), timeout=5).raise_for_status()

    def close(self) -> None:
        stop_process(self.process, timeout=10)


class AlertStack:
    """Prometheus (``prometheus``, ``rules``) sending to Alertmanager (``alertmanager``).

    ``prometheus`` is a prometheus.yml as a mapping (its ``alerting`` section is
    replaced to point at this Alertmanager), ``rules`` a rules file, ``alertmanager``
    an alertmanager.yml. ``resend_delay`` is Prometheus's ``--rules.alert.resend-delay``.
    """

    def __init__(
        self,
        workdir: Path,
        *,
        prometheus: dict[str, Any],
        rules: dict[str, Any],
        alertmanager: dict[str, Any],
        resend_delay: str = "1s",
    ) -> None:
        self.workdir = workdir
        self.prometheus_config = prometheus
        self.rules = rules
        self.alertmanager_config = alertmanager
        self.resend_delay = resend_delay
        self.prometheus_port = free_port()
        self.alertmanager_port = free_port()
        self.prometheus_url = f"http://127.0.0.1:{self.prometheus_port}"
        self.alertmanager_url = f"http://127.0.0.1:{self.alertmanager_port}"
        self.programs: list[Program] = []

    def start(self, timeout: float = 60.0) -> AlertStack:
        self.workdir.mkdir(parents=True, exist_ok=True)
        am_config = self.workdir / "alertmanager.yml"
        am_config.write_text(yaml.safe_dump(self.alertmanager_config))
        rules = self.workdir / "rules.yml"
        rules.write_text(yaml.safe_dump(self.rules))
        prometheus = dict(self.prometheus_config)
        prometheus["rule_files"] = [str(rules)]
        prometheus["alerting"] = {
            "alertmanagers": [
                {"static_configs": [{"targets": [f"127.0.0.1:{self.alertmanager_port}"]}]}
            ]
        }
        prom_config = self.workdir / "prometheus.yml"
        prom_config.write_text(yaml.safe_dump(prometheus))
        alertmanager = Program(
            "alertmanager",
            [
                binary("prometheus-alertmanager", "alertmanager"),
                f"--config.file={am_config}",
                f"--storage.path={self.workdir / 'alertmanager-data'}",
                f"--web.listen-address=127.0.0.1:{self.alertmanager_port}",
                "--cluster.listen-address=",  # no gossip port: one instance
                "--log.level=debug",
            ],
            self.workdir,
        )
        prom = Program(
            "prometheus",
            [
                binary("prometheus"),
                f"--config.file={prom_config}",
                f"--storage.tsdb.path={self.workdir / 'prometheus-data'}",
                f"--web.listen-address=127.0.0.1:{self.prometheus_port}",
                f"--rules.alert.resend-delay={self.resend_delay}",
            ],
            self.workdir,
        )
        deadline = time.monotonic() + timeout
        for program, url in ((alertmanager, self.alertmanager_url), (prom, self.prometheus_url)):
            self.programs.append(program)
            program.start()
            self._wait(program, lambda url=url: answers(f"{url}/-/ready"), deadline)
        self._wait(prom, self._discovered, deadline)
        return self

    def _discovered(self) -> bool:
        try:
            data = httpx.get(f"{self.prometheus_url}/api/v1/alertmanagers", timeout=2).json()
        except (httpx.HTTPError, ValueError):
            return False
        return bool(data.get("data", {}).get("activeAlertmanagers"))

    def _wait(self, program: Program, ready: Any, deadline: float) -> None:
        while time.monotonic() < deadline:
            if not program.alive():
                self.stop()
                raise RuntimeError(f"{program.name} exited:\n{program.log()}")
            if ready():
                return
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"{program.name} was not ready in time:\n{program.log()}")

    def alertmanager_groups(self) -> list[dict[str, Any]]:
        """The alert groups Alertmanager holds now (empty once all were resolved)."""
        groups: list[dict[str, Any]] = httpx.get(
            f"{self.alertmanager_url}/api/v2/alerts/groups", timeout=5
        ).json()
        return groups

    def firing(self) -> list[dict[str, Any]]:
        """The alerts Prometheus has firing now."""
        data = httpx.get(f"{self.prometheus_url}/api/v1/alerts", timeout=5).json()
        return [a for a in data["data"]["alerts"] if a["state"] == "firing"]

    def logs(self) -> str:
        return "\n".join(f"--- {p.name}\n{p.log()}" for p in self.programs)

    def stop(self) -> None:
        for program in reversed(self.programs):
            program.stop()

    def __enter__(self) -> AlertStack:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


class PrometheusServer:
    """Prometheus alone, scraping ``targets`` (job name -> host:port) every ``interval``,
    on a port of its own that it keeps across ``stop`` and ``start`` (a Prometheus that
    goes down and comes back, for the policies' tests)."""

    def __init__(self, workdir: Path, *, targets: dict[str, str], interval: str = "1s") -> None:
        self.workdir = workdir
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.config = {
            "global": {"scrape_interval": interval, "evaluation_interval": interval},
            "scrape_configs": [
                {"job_name": job, "static_configs": [{"targets": [target]}]}
                for job, target in targets.items()
            ],
        }
        self.program: Program | None = None

    def start(self, timeout: float = 60.0) -> PrometheusServer:
        self.workdir.mkdir(parents=True, exist_ok=True)
        config = self.workdir / "prometheus.yml"
        config.write_text(yaml.safe_dump(self.config))
        self.program = Program(
            "prometheus",
            [
                binary("prometheus"),
                f"--config.file={config}",
                f"--storage.tsdb.path={self.workdir / 'prometheus-data'}",
                f"--web.listen-address=127.0.0.1:{self.port}",
            ],
            self.workdir,
        )
        self.program.start()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.program.alive():
                raise RuntimeError(f"prometheus exited:\n{self.program.log()}")
            if answers(f"{self.url}/-/ready"):
                return self
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"prometheus was not ready in time:\n{self.program.log()}")

    def query(self, query: str) -> list[dict[str, Any]]:
        """The result of an instant query (a vector's samples)."""
        body = httpx.get(f"{self.url}/api/v1/query", params={"query": query}, timeout=5).json()
        result: list[dict[str, Any]] = body["data"]["result"]
        return result

    def stop(self) -> None:
        if self.program is not None:
            self.program.stop()

    def __enter__(self) -> PrometheusServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
