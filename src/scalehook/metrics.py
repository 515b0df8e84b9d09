"""scalehook's own Prometheus metrics. Labels carry receiver names, never keys.

Besides scalehook's own: the process (``process_*``: CPU, memory, open files) and the
platform (``python_info``, ``python_gc_*``) as prometheus_client collects them, and
``scalehook_build_info{version, python}``. What the engines and hosts hold (replicas per
service, hosts per group) is read in the background by ``scrape.py`` and published here
with ``set_services`` and ``set_hosts``.
"""

from __future__ import annotations

import contextlib
import platform
from collections import Counter as Counter_
from collections.abc import Iterable, Mapping
from typing import Protocol

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    GCCollector,
    Histogram,
    Info,
    PlatformCollector,
    ProcessCollector,
    generate_latest,
)

from scalehook import __version__

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
        # what the default registry collects, for ours
        ProcessCollector(registry=self.registry)
        PlatformCollector(registry=self.registry)
        GCCollector(registry=self.registry)
        Info(
            "scalehook_build", "The scalehook that runs, on which Python", registry=self.registry
        ).info({"version": __version__, "python": platform.python_version()})
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
        self.rollout_duration = Histogram(
            "scalehook_rollout_duration_seconds",
            "Time from a push to its rollout ending, by how it ended",
            ["result"],
            buckets=(1, 5, 10, 30, 60, 120, 300, 600, 900, 1200, 1800, 2700, 3600),
            registry=self.registry,
        )
        self.rollouts_running = Gauge(
            "scalehook_rollouts_in_progress",
            "Rollouts running (or waiting for an earlier one on their service) here now",
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
            "1 when the backend's last read of its services answered in time, else 0 "
            "(its counts, if any, are then the last ones read: see the age)",
            ["backend"],
            registry=self.registry,
        )
        self.counts_age = Gauge(
            "scalehook_service_counts_age_seconds",
            "Seconds since the backend's service counts shown here were read",
            ["backend"],
            registry=self.registry,
        )
        self.hosts = Gauge(
            "scalehook_hosts",
            "Hosts per host group (a scaleHost receiver's selector) and state",
            ["group", "state"],
            registry=self.registry,
        )
        self.hosts_up = Gauge(
            "scalehook_hosts_up",
            "1 when the last read of the hosts answered in time, else 0",
            registry=self.registry,
        )
        self.hosts_age = Gauge(
            "scalehook_hosts_age_seconds",
            "Seconds since the hosts shown here were read",
            registry=self.registry,
        )
        self.balancer_up = Gauge(
            "scalehook_balancer_up",
            "1 when the load balancer's API answered the last reconcile, else 0",
            ["balancer"],
            registry=self.registry,
        )
        self.balancer_members = Gauge(
            "scalehook_balancer_members",
            "Servers scalehook keeps in the load balancer for the service, ready to take "
            "traffic, as of the last reconcile",
            ["balancer", "service"],
            registry=self.registry,
        )
        self.balancer_changes = Counter(
            "scalehook_balancer_changes",
            "Membership changes made in the load balancer, by kind (added, moved, "
            "enabled, drained, removed)",
            ["balancer", "service", "change"],
            registry=self.registry,
        )
        self.balancer_errors = Counter(
            "scalehook_balancer_errors",
            "Load balancer commands or reconciles that failed",
            ["balancer"],
            registry=self.registry,
        )

        self.notifications = Counter(
            "scalehook_notifications",
            "Notification deliveries tried, by notification and outcome: delivered, "
            "retrying (a try failed, another follows) or failed (given up)",
            ["notification", "status"],
            registry=self.registry,
        )
        self.outbox_depth = Gauge(
            "scalehook_notification_outbox_depth",
            "Deliveries waiting in the outbox, by notification (read from the store at "
            "each scrape; absent when it cannot be read)",
            ["notification"],
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

        self._health()

    def forget_policy(self, policy: str, metrics: Iterable[str]) -> None:
        """Drop a deleted (or renamed) policy's series."""
        for metric in metrics:
            for family in (self.policy_value, self.policy_errors):
                with contextlib.suppress(KeyError):
                    family.remove(policy, metric)
        for single in (self.policy_desired, self.policy_evaluations):
            with contextlib.suppress(KeyError):
                single.remove(policy)

    def _health(self) -> None:
        self.replica_health = Gauge(
            "scalehook_replica_health",
            "Replicas of a service with a health check, by health state",
            ["service", "state"],
            registry=self.registry,
        )
        self.health_all_failing = Gauge(
            "scalehook_health_all_failing",
            "1 while every replica of the service fails its health check, else 0",
            ["service"],
            registry=self.registry,
        )
        self.health_recreations = Counter(
            "scalehook_health_recreations",
            "Replicas a health check replaced, by result (recreated, failed)",
            ["service", "result"],
            registry=self.registry,
        )
        self.health_probe_failures = Counter(
            "scalehook_health_probe_failures",
            "Failed health checks of replicas, by reason (refused, timeout, status, "
            "closed, unreachable, engine, error)",
            ["service", "reason"],
            registry=self.registry,
        )
        self.health_held = Counter(
            "scalehook_health_held",
            "Failing replicas left in place, once per episode, by why (strategy_none, "
            "quorum, limit, everywhere)",
            ["service", "why"],
            registry=self.registry,
        )

    def forget_health(self, service: str) -> None:
        """A service's check is gone: its gauges say nothing any more."""
        for state in ("initializing", "healthy", "unhealthy", "reinitializing"):
            with contextlib.suppress(KeyError):
                self.replica_health.remove(service, state)
        with contextlib.suppress(KeyError):
            self.health_all_failing.remove(service)

    def observe(self, *, receiver: str, driver: str, result: str, seconds: float) -> None:
        self.triggers.labels(receiver, driver, result).inc()
        self.duration.labels(driver).observe(seconds)

    def observe_rollout(self, *, receiver: str, driver: str, result: str, seconds: float) -> None:
        """A rollout ended: counted as a trigger's action, timed in its own histogram
        (rollouts take minutes; the execution histogram stops at 10 s)."""
        self.triggers.labels(receiver, driver, result).inc()
        self.rollout_duration.labels(result).observe(seconds)

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

    def set_backends(self, up: Mapping[str, bool], ages: Mapping[str, float]) -> None:
        """Each backend's freshness: answered in time or not, and how old its counts are
        (none for a backend never read: its counts are absent, never zero)."""
        self.backend_up.clear()
        self.counts_age.clear()
        for name, answered in up.items():
            self.backend_up.labels(name).set(1 if answered else 0)
        for name, age in ages.items():
            self.counts_age.labels(name).set(age)

    def set_hosts(self, groups: Mapping[str, Mapping[str, int]]) -> None:
        """Hosts by state, per group."""
        self.hosts.clear()
        for group, states in groups.items():
            for state, count in states.items():
                self.hosts.labels(group, state).set(count)

    def render(self) -> bytes:
        return generate_latest(self.registry)
