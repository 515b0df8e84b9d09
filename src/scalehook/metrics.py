"""scalehook's own Prometheus metrics. Labels carry receiver names, never keys."""

from __future__ import annotations

import contextlib
from collections import Counter as Counter_
from collections.abc import Iterable
from typing import Protocol

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class Counts(Protocol):
    """A service's replica counts, as the gauges need them (a ``ServiceState``)."""

    @property
    def backend(self) -> str: ...

    @property
    def name(self) -> str: ...

    @property
    def desired(self) -> int: ...

    @property
    def running(self) -> int: ...

    @property
    def ready(self) -> int: ...


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.triggers = Counter(
            "scalehook_triggers",
            "Triggers and actions by receiver, driver and result",
            ["receiver", "driver", "result"],
            registry=self.registry,
        )
        self.alerts = Counter(
            "scalehook_alerts",
            "Alerts received from Alertmanager by receiver, status and decision reason "
            "(acted, deduped, cooldown, label_mismatch, ...)",
            ["receiver", "status", "reason"],
            registry=self.registry,
        )
        self.rejections = Counter(
            "scalehook_trigger_rejections",
            "Trigger calls refused before reaching a receiver, by reason",
            ["reason"],
            registry=self.registry,
        )
        self.duration = Histogram(
            "scalehook_execution_duration_seconds",
            "Time from a trigger's arrival to its execution being recorded",
            ["driver"],
            buckets=(
                0.0005,
                0.001,
                0.0025,
                0.005,
                0.01,
                0.025,
                0.05,
                0.1,
                0.25,
                0.5,
                1,
                2.5,
                5,
                10,
            ),
            registry=self.registry,
        )
        self.desired = Gauge(
            "scalehook_service_desired_replicas",
            "Desired replicas per service",
            ["backend", "service"],
            registry=self.registry,
        )
        self.running = Gauge(
            "scalehook_service_running_replicas",
            "Running replicas per service",
            ["backend", "service"],
            registry=self.registry,
        )
        self.ready = Gauge(
            "scalehook_service_ready_replicas",
            "Ready replicas per service",
            ["backend", "service"],
            registry=self.registry,
        )
        self.loop_running = Gauge(
            "scalehook_loop_running",
            "1 while the loop runs on this instance, else 0",
            ["loop"],
            registry=self.registry,
        )
        self.loop_restarts = Counter(
            "scalehook_loop_restarts",
            "Times a loop raised and was restarted",
            ["loop"],
            registry=self.registry,
        )
        self.leader = Gauge(
            "scalehook_leader",
            "1 while this instance leads (runs the loops), else 0",
            registry=self.registry,
        )
        self.backend_up = Gauge(
            "scalehook_backend_up",
            "1 when the backend answered the last scrape, else 0",
            ["backend"],
            registry=self.registry,
        )

        self.policy_value = Gauge(
            "scalehook_policy_metric_value",
            "The last value each metric of a policy read (its average per replica for "
            "per-replica metrics); absent while it cannot be read",
            ["policy", "metric"],
            registry=self.registry,
        )
        self.policy_desired = Gauge(
            "scalehook_policy_desired_replicas",
            "The replica count a policy's last evaluation asked for",
            ["policy"],
            registry=self.registry,
        )
        self.policy_evaluations = Counter(
            "scalehook_policy_evaluations",
            "Evaluations of a policy",
            ["policy"],
            registry=self.registry,
        )
        self.policy_errors = Counter(
            "scalehook_policy_errors",
            "Metric reads of a policy that failed (the policy holds; never read as 0)",
            ["policy", "metric"],
            registry=self.registry,
        )

    def forget_policy(self, policy: str, metrics: Iterable[str]) -> None:
        """Drop a deleted (or renamed) policy's series."""
        for metric in metrics:
            for family in (self.policy_value, self.policy_errors):
                with contextlib.suppress(KeyError):
                    family.remove(policy, metric)
        for single in (self.policy_desired, self.policy_evaluations):
            with contextlib.suppress(KeyError):
                single.remove(policy)

    def observe(self, *, receiver: str, driver: str, result: str, seconds: float) -> None:
        self.triggers.labels(receiver, driver, result).inc()
        self.duration.labels(driver).observe(seconds)

    def count_alerts(self, *, receiver: str, verdicts: Iterable[tuple[str, str]]) -> None:
        """Count each alert of a notification by its (status, reason)."""
        for (status, reason), count in Counter_(verdicts).items():
            self.alerts.labels(receiver, status, reason).inc(count)

    def set_services(self, services: Iterable[Counts]) -> None:
        for gauge in (self.desired, self.running, self.ready):
            gauge.clear()
        for s in services:
            self.desired.labels(s.backend, s.name).set(s.desired)
            self.running.labels(s.backend, s.name).set(s.running)
            self.ready.labels(s.backend, s.name).set(s.ready)

    def render(self) -> bytes:
        return generate_latest(self.registry)
