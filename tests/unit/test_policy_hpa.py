"""HPA's own test cases, ported: the replica calculation and the behavior rules.

From ``kubernetes/kubernetes: pkg/controller/podautoscaler/replica_calculator_test.go``
(``TestReplicaCalc*``, ``TestGroupPods``) and ``horizontal_test.go``
(``TestScalingWithRules``, ``TestNormalizeDesiredReplicas``,
``TestCalculateScale{Up,Down}Limit…``). HPA's levels are milli-cores per container of
pods requesting 1 core each (2 containers of 500m): our values are percent of the
replica's core, so a level of 300 is 30 %. Pods without a level are missing; HPA's test
pods start at the zero time (long past initialization) unless "hot" (started now) or
"cool" (3 minutes ago, past the tests' 2-minute initialization period).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import pytest

from scalehook.domain.policies import History, Reading, ReplicaValue, evaluate
from scalehook.domain.policies.behavior import bound, rate_limit, stabilize
from scalehook.domain.policies.spec import (
    Direction,
    DownDirection,
    PolicySpec,
    Rule,
    TargetMetric,
    UpDirection,
)
from scalehook.domain.policies.target import Tolerances, group, per_replica, service_wide

NOW = datetime(2024, 5, 6, 12, 0, tzinfo=UTC)
LONG_AGO = NOW - timedelta(days=30)
HOT = NOW  # started now: inside the initialization period
COOL = NOW - timedelta(minutes=3)  # past the tests' 2-minute initialization period
DEFAULT = Tolerances(0.1, 0.1)


def replicas(
    levels: Sequence[float | None],
    count: int,
    *,
    ready: Sequence[bool] | None = None,
    started: Sequence[datetime] | None = None,
) -> tuple[ReplicaValue, ...]:
    """``count`` replicas; replica i has levels[i] (missing past the list), HPA-style."""
    out = []
    for i in range(count):
        start = started[i] if started is not None else LONG_AGO
        is_ready = ready[i] if ready is not None else True
        out.append(
            ReplicaValue(
                replica=f"test-pod-{i}",
                value=levels[i] if i < len(levels) else None,
                ready=is_ready,
                started_at=start,
                ready_since=start if is_ready else None,
                sampled_at=NOW,
                window=60.0,
            )
        )
    return tuple(out)


def calc(
    current: int,
    levels: Sequence[float | None],
    target: float,
    *,
    metric: str = "cpu",
    pods: int | None = None,
    ready: Sequence[bool] | None = None,
    started: Sequence[datetime] | None = None,
    tolerances: Tolerances = DEFAULT,
) -> int | None:
    source = "engine" if metric in ("cpu", "memory") else "balancer"
    spec = TargetMetric(name="m", source=source, metric=metric, target=target)
    grouped = group(
        spec,
        replicas(levels, current if pods is None else pods, ready=ready, started=started),
        now=NOW,
        cpu_initialization=120.0,
        stale_after=3600.0,
    )
    return per_replica(spec, grouped, current=current, tolerances=tolerances).candidate


FALSE, TRUE = False, True


# -- TestReplicaCalcResourceScale --------------------------------------------------------


def test_scale_up() -> None:
    assert calc(3, [30, 50, 70], 30) == 5


def test_scale_up_unready_pod_scales_less() -> None:
    assert calc(3, [30, 50, 70], 30, ready=[FALSE, TRUE, TRUE]) == 4


def test_scale_up_hot_cpu_pod_scales_less() -> None:
    assert calc(3, [30, 50, 70], 30, started=[HOT, COOL, COOL]) == 4


def test_no_scale_unready_pods_ignored() -> None:
    assert calc(3, [40, 50, 70], 30, ready=[TRUE, FALSE, FALSE]) == 3


def test_no_scale_hot_cpu_pods_ignored() -> None:
    assert calc(3, [40, 50, 70], 30, ready=[TRUE, FALSE, FALSE], started=[COOL, HOT, HOT]) == 3


def test_scale_down() -> None:
    assert calc(5, [10, 30, 50, 25, 25], 50) == 3


def test_scale_down_excludes_unready_pods() -> None:
    assert calc(5, [10, 30, 50, 25, 25], 50, ready=[TRUE, TRUE, TRUE, FALSE, FALSE]) == 2


def test_scale_down_ignores_hot_cpu_pods() -> None:
    assert calc(5, [10, 30, 50, 25, 25], 50, started=[COOL, COOL, COOL, HOT, HOT]) == 2


# -- custom (per-pod) metrics: readiness does not matter ---------------------------------


def test_scale_up_cm() -> None:
    # TestReplicaCalcScaleUpCM: qps 20, 10, 30 against 15
    assert calc(3, [20, 10, 30], 15, metric="connections") == 4


def test_scale_up_cm_unready_hot_cpu_no_less_scale() -> None:
    got = calc(
        3,
        [50, 10, 30],
        15,
        metric="connections",
        ready=[TRUE, TRUE, FALSE],
        started=[COOL, COOL, HOT],
    )
    assert got == 6


def test_scale_up_cm_unready_hot_cpu_scale_would_scale_down() -> None:
    got = calc(
        3,
        [50, 15, 30],
        15,
        metric="connections",
        ready=[FALSE, TRUE, FALSE],
        started=[HOT, COOL, HOT],
    )
    assert got == 7


def test_scale_down_cm() -> None:
    assert calc(5, [12, 12, 12, 12, 12], 20, metric="connections") == 3


# -- tolerance ---------------------------------------------------------------------------


def test_tolerance() -> None:
    # TestReplicaCalcTolerance: 1010m, 1030m, 1020m of 0.9, 1.0, 1.1 cores → 102 %
    assert calc(3, [1010 / 9, 103, 1020 / 11], 100) == 3


def test_tolerance_cm() -> None:
    assert calc(3, [20, 21, 21], 20, metric="connections") == 3


@pytest.mark.parametrize(
    ("tolerances", "levels", "expected"),
    [
        (Tolerances(0.0, 0.0), [101, 101, 101], 4),  # outside a 0 % tolerance
        (Tolerances(2.0, 0.1), [190, 191, 189], 3),  # within a 200 % scale-up tolerance
        (Tolerances(0.08, 2.0), [1100 / 9, 108, 1090 / 11], 4),  # outside 8 % scale-up
        (Tolerances(0.1, 0.36), [660 / 9, 64, 650 / 11], 3),  # within a 36 % scale-down
        (Tolerances(0.1, 0.34), [660 / 9, 64, 650 / 11], 2),  # outside a 34 % scale-down
    ],
)
def test_configurable_tolerance(tolerances: Tolerances, levels: list[float], expected: int) -> None:
    # TestReplicaCalcConfigurableTolerance (HPA's Tolerances{scaleDown, scaleUp})
    assert calc(3, levels, 100, tolerances=tolerances) == expected


def test_configurable_tolerance_cm() -> None:
    assert calc(3, [20, 21, 21], 20, metric="connections", tolerances=Tolerances(0.01, 0.1)) == 4


# -- missing metrics ---------------------------------------------------------------------


def test_missing_metrics() -> None:
    # TestReplicaCalcMissingMetrics: 2 of 4 pods at 40 %, 9.5 %; target 100
    assert calc(4, [40, 9.5], 100) == 3


def test_missing_metrics_no_change_eq() -> None:
    assert calc(2, [100], 100) == 2


def test_missing_metrics_no_change_gt() -> None:
    assert calc(2, [190], 100) == 2


def test_missing_metrics_no_change_lt() -> None:
    assert calc(2, [60], 100) == 2


def test_plain_metric_missing_metrics_no_change_eq() -> None:
    assert calc(5, [20, 19, 21], 20, metric="connections") == 5


def test_missing_metrics_unready_change() -> None:
    assert calc(3, [10, 45], 50, ready=[FALSE, TRUE, TRUE]) == 3


def test_missing_metrics_hot_cpu_no_change() -> None:
    assert calc(3, [10, 45], 50, started=[HOT, COOL, COOL]) == 3


def test_missing_metrics_unready_scale_up() -> None:
    assert calc(3, [10, 200], 50, ready=[FALSE, TRUE, TRUE]) == 4


def test_missing_metrics_hot_cpu_scale_up() -> None:
    assert calc(3, [10, 200], 50, ready=[FALSE, TRUE, TRUE], started=[HOT, COOL, COOL]) == 4


def test_missing_metrics_unready_scale_down() -> None:
    # The reference's example: the missing pod counts as 100 %; counted as the target
    # (50 %) it would give 2.
    assert calc(4, [10, 10, 10], 50, ready=[FALSE, TRUE, TRUE, TRUE]) == 3


def test_missing_metrics_scale_down_target_over_100() -> None:
    # TestReplicaCalcMissingMetricsScaleDownTargetOver100: requests 1, 1, 2, 2 cores;
    # levels 200m (unready), 100m, 100m → 10 %, 5 %; the missing pod counts as the 300 %
    # target.
    assert calc(4, [20, 10, 5], 300, ready=[FALSE, TRUE, TRUE, TRUE]) == 2


def test_missing_scale_down_fills_the_target_for_plain_metrics() -> None:
    # calcPlainMetricReplicas fills the target (not 100): 2 at 5, 2 missing, target 20
    # → (5 + 5 + 20 + 20) / 4 = 12.5 → ratio 0.625 → ceil(2.5) = 3
    assert calc(4, [5, 5], 20, metric="connections") == 3


def test_during_rolling_update_with_max_surge() -> None:
    # 3 pods for a count of 2, the surge one without a sample: filling in gives 3 on a
    # ratio below 1, which is against the direction: hold.
    assert calc(2, [10, 10], 50, pods=3) == 2


def test_during_rolling_update_with_max_surge_cm() -> None:
    assert calc(2, [10, 10], 17, metric="connections", pods=3) == 2


def test_no_sample_that_counts_is_an_error() -> None:
    spec = TargetMetric(name="m", source="engine", metric="cpu", target=50)
    grouped = group(spec, replicas([], 3), now=NOW, cpu_initialization=120, stale_after=60)
    proposal = per_replica(spec, grouped, current=3, tolerances=DEFAULT)
    assert proposal.candidate is None
    assert proposal.error is not None
    assert "3 without a sample" in proposal.error


# -- TestGroupPods: the CPU initialization rule ------------------------------------------


def one(
    *,
    ready: bool,
    started: datetime,
    ready_since: datetime | None,
    sampled: datetime,
    window: float,
    metric: str = "cpu",
) -> tuple[int, int, int]:
    spec = TargetMetric(name="m", source="engine", metric=metric, target=50)
    value = ReplicaValue("bentham", 1.0, ready, started, ready_since, sampled, window)
    g = group(spec, (value,), now=NOW, cpu_initialization=120, stale_after=3600)
    return len(g.counted), len(g.set_aside), len(g.missing)


def test_group_counts_a_ready_pod_memory() -> None:
    assert one(
        ready=True, started=NOW, ready_since=NOW, sampled=NOW, window=60, metric="memory"
    ) == (1, 0, 0)


def test_group_counts_fresh_metrics_during_initialization() -> None:
    got = one(
        ready=True,
        started=NOW - timedelta(minutes=1),
        ready_since=NOW - timedelta(seconds=30),
        sampled=NOW,
        window=30,
    )
    assert got == (1, 0, 0)


def test_group_sets_aside_stale_window_during_initialization() -> None:
    got = one(
        ready=True,
        started=NOW - timedelta(minutes=1),
        ready_since=NOW - timedelta(seconds=30),
        sampled=NOW,
        window=60,
    )
    assert got == (0, 1, 0)


def test_group_sets_aside_an_unready_pod_during_initialization() -> None:
    got = one(
        ready=False, started=NOW - timedelta(minutes=1), ready_since=None, sampled=NOW, window=60
    )
    assert got == (0, 1, 0)


def test_group_counts_old_metrics_after_initialization() -> None:
    got = one(
        ready=True,
        started=NOW - timedelta(minutes=3),
        ready_since=NOW - timedelta(minutes=3),
        sampled=NOW - timedelta(minutes=2),
        window=60,
    )
    assert got == (1, 0, 0)


def test_group_sets_aside_any_unready_pod_after_initialization() -> None:
    # HPA counts "an unready pod that was ready after initialization period"; we set it
    # aside: our backends do not say when a replica stopped being ready (documented).
    got = one(
        ready=False, started=NOW - timedelta(minutes=10), ready_since=None, sampled=NOW, window=60
    )
    assert got == (0, 1, 0)


def test_group_missing_and_stale_samples() -> None:
    spec = TargetMetric(name="m", source="engine", metric="cpu", target=50)
    old = ReplicaValue("a", 40.0, True, LONG_AGO, LONG_AGO, NOW - timedelta(minutes=5), 1)
    nan = ReplicaValue("b", float("nan"), True, LONG_AGO, LONG_AGO, NOW, 1)
    none = ReplicaValue("c", None, True, LONG_AGO, LONG_AGO, NOW, 1)
    g = group(spec, (old, nan, none), now=NOW, cpu_initialization=120, stale_after=60)
    assert g.missing == ("a", "b", "c")


# -- service-wide values (TestReplicaCalc*PerPodCMExternal) ------------------------------


@pytest.mark.parametrize(
    ("current", "value", "target", "tolerances", "expected"),
    [
        (3, 8600, 2150, DEFAULT, 4),  # TestReplicaCalcScaleUpPerPodCMExternal
        (5, 8600, 2867, DEFAULT, 3),  # TestReplicaCalcScaleDownPerPodCMExternal
        (3, 8600, 2900, DEFAULT, 3),  # TestReplicaCalcTolerancePerPodCMExternal
        (3, 8600, 2800, Tolerances(0.01, 0.1), 4),  # …ConfigurableTolerancePerPodCMExternal
        (0, 8600, 2150, DEFAULT, 4),  # from 0: ceil(value / target)
        (0, 0, 2150, DEFAULT, 0),
    ],
)
def test_service_wide(
    current: int, value: float, target: float, tolerances: Tolerances, expected: int
) -> None:
    spec = TargetMetric(name="q", source="prometheus", query="q", target=target)
    assert service_wide(spec, value, current=current, tolerances=tolerances).candidate == expected


# -- behavior: TestScalingWithRules (convertDesiredReplicasWithBehaviorRate) -------------


def rules(
    pods: int = 0, pods_period: float = 0, percent: int = 0, percent_period: float = 0
) -> list[Rule]:
    """HPA's generateScalingRules."""
    out = []
    if pods:
        out.append(Rule(replicas=pods, period=pods_period))
    if percent:
        out.append(Rule(percent=percent, period=percent_period))
    return out


def events(changes: Sequence[int], period: float, *, up: bool) -> list[tuple[datetime, int, int]]:
    """HPA's generateEventsUniformDistribution, as (when, before, after) scalings."""
    out = []
    segment = period / len(changes)
    for i, change in enumerate(changes):
        ago = period - segment * (i + 1) + segment / 2
        before = 1000
        out.append(
            (NOW - timedelta(seconds=ago), before, before + change if up else before - change)
        )
    return out


@pytest.mark.parametrize(
    ("name", "low", "high", "current", "wanted", "up", "down", "scalings", "expected", "label"),
    [
        ("within range", 3, 8, 5, 7, None, None, [], 7, None),
        ("below min", 2, 8, 3, 1, None, None, [], 2, "min 2"),
        ("to 0 with min 0", 0, 10, 1, 0, None, None, [], 0, None),
        ("max below the scale-up limit", 1, 10, 20, 1000, None, None, [], 10, "max 10"),
        ("more than max", 100, 150, 100, 1000, None, None, [], 150, "max 150"),
        (
            "user percent rule",
            1,
            2000,
            3,
            1000,
            rules(0, 0, 1, 60),
            None,
            [],
            4,
            "rate rule 'percent 1 per 1m'",
        ),
        (
            "default up behavior",
            1,
            1000,
            10,
            50,
            None,
            None,
            [],
            20,
            "rate rule 'percent 100 per 15s'",
        ),
        (
            "pods larger than percent",
            1,
            1000,
            10,
            500,
            rules(100, 60, 100, 60),
            None,
            [],
            110,
            "rate rule 'replicas 100 per 1m'",
        ),
        (
            "percent larger than pods",
            1,
            1000,
            10,
            500,
            rules(2, 60, 100, 60),
            None,
            [],
            20,
            "rate rule 'percent 100 per 1m'",
        ),
        ("large pod policy", 1, 1000, 10, 50, rules(100, 60), None, [], 50, None),
        ("large percent policy", 1, 1000, 10, 50, rules(10000, 60), None, [], 50, None),
        (
            "pod policy limit",
            1,
            1000,
            10,
            50,
            rules(30, 60),
            None,
            [],
            40,
            "rate rule 'replicas 30 per 1m'",
        ),
        (
            "percent policy limit",
            1,
            1000,
            10,
            50,
            rules(0, 0, 200, 60),
            None,
            [],
            30,
            "rate rule 'percent 200 per 1m'",
        ),
        (
            "down percent larger than pods",
            1,
            1000,
            100,
            2,
            None,
            rules(20, 60, 1, 60),
            [],
            80,
            "rate rule 'replicas 20 per 1m'",
        ),
        (
            "down pods larger than percent",
            1,
            1000,
            100,
            2,
            None,
            rules(2, 60, 1, 60),
            [],
            98,
            "rate rule 'replicas 2 per 1m'",
        ),
        (
            "down to min with a large pod policy",
            1,
            1000,
            10,
            0,
            None,
            rules(100, 60),
            [],
            1,
            "min 1",
        ),
        (
            "down to min with a large percent policy",
            5,
            1000,
            10,
            2,
            None,
            rules(0, 0, 100, 60),
            [],
            5,
            "min 5",
        ),
        (
            "down pod policy limit",
            1,
            1000,
            10,
            2,
            None,
            rules(5, 60),
            [],
            5,
            "rate rule 'replicas 5 per 1m'",
        ),
        ("down percent policy within", 1, 1000, 10, 5, None, rules(0, 0, 50, 60), [], 5, None),
        (
            "max with events, pods",
            1,
            200,
            100,
            500,
            rules(300, 60),
            None,
            events([1, 5, 9], 120, up=True),
            200,
            "max 200",
        ),
        (
            "max with events, percent",
            1,
            200,
            100,
            500,
            rules(0, 0, 10000, 60),
            None,
            events([1, 5, 9], 120, up=True),
            200,
            "max 200",
        ),
        (
            "many recent scale-ups keep the count",
            1,
            1000,
            100,
            500,
            rules(5, 120),
            None,
            events([1, 5, 9], 120, up=True),
            100,
            "rate rule 'replicas 5 per 2m'",
        ),
        (
            "pods and previous scale-ups",
            1,
            1000,
            100,
            500,
            rules(150, 120),
            None,
            events([1, 5, 9], 120, up=True),
            235,
            "rate rule 'replicas 150 per 2m'",
        ),
        (
            "percent and previous scale-ups",
            1,
            1000,
            100,
            500,
            rules(0, 0, 200, 120),
            None,
            events([1, 5, 9], 120, up=True),
            255,
            "rate rule 'percent 200 per 2m'",
        ),
        (
            "default down and previous events",
            1,
            1000,
            10,
            5,
            None,
            None,
            events([1, 5, 9], 120, up=False),
            5,
            None,
        ),
        (
            "down to min, large pods, events",
            1,
            1000,
            100,
            0,
            None,
            rules(115, 120),
            events([1, 5, 9], 120, up=False),
            1,
            "min 1",
        ),
        (
            "down to min 5, large pods, events",
            5,
            1000,
            100,
            0,
            None,
            rules(130, 120),
            events([1, 5, 9], 120, up=False),
            5,
            "min 5",
        ),
        (
            "down to min 5, large percent, events",
            5,
            1000,
            100,
            2,
            None,
            rules(0, 0, 100, 120),
            events([1, 5, 9], 120, up=False),
            5,
            "min 5",
        ),
        (
            "down pods limit and events",
            1,
            1000,
            100,
            2,
            None,
            rules(5, 120),
            events([1, 5, 9], 120, up=False),
            100,
            "rate rule 'replicas 5 per 2m'",
        ),
        (
            "down percent limit and events",
            1,
            1000,
            100,
            0,
            None,
            rules(0, 0, 50, 120),
            events([2, 4, 6], 120, up=False),
            56,
            "rate rule 'percent 50 per 2m'",
        ),
        (
            "events preventing more scale-down",
            1,
            1000,
            100,
            0,
            None,
            rules(0, 0, 10, 120),
            events([10, 10, 10], 120, up=False),
            100,
            "rate rule 'percent 10 per 2m'",
        ),
        (
            "events still allowing scale-down",
            1,
            1000,
            10,
            5,
            None,
            rules(0, 0, 1000, 120),
            events([10, 10, 10], 120, up=False),
            5,
            None,
        ),
        (
            "up events outdated for one rule",
            1,
            1000,
            100,
            200,
            rules(1000, 60),
            None,
            events([8, 12, 9, 11], 120, up=True),
            200,
            None,
        ),
        (
            "up events, two rules",
            1,
            1000,
            100,
            200,
            rules(1000, 120, 100, 60),
            None,
            events([8, 12, 9, 11], 120, up=True),
            200,
            None,
        ),
        (
            "down events outdated for one rule",
            1,
            1000,
            100,
            5,
            None,
            rules(1000, 60),
            events([8, 12, 9, 11], 120, up=False),
            5,
            None,
        ),
    ],
)
def test_scaling_with_rules(
    name: str,
    low: int,
    high: int,
    current: int,
    wanted: int,
    up: list[Rule] | None,
    down: list[Rule] | None,
    scalings: list[tuple[datetime, int, int]],
    expected: int,
    label: str | None,
) -> None:
    up_direction = UpDirection(rules=up) if up else UpDirection()
    down_direction = DownDirection(rules=down) if down else DownDirection()
    got = bound(
        current=current,
        wanted=wanted,
        low=low,
        high=high,
        up=up_direction,
        down=down_direction,
        scalings=scalings,
        now=NOW,
    )
    assert (got.value, got.label) == (expected, label), name


def test_calculate_scale_up_limit_with_select_min() -> None:
    # TestCalculateScaleUpLimitWithScalingRules: from 1, +2 or +50 % → min → 2
    direction = Direction(
        rules=[Rule(replicas=2, period=60), Rule(percent=50, period=60)], select="min"
    )
    assert rate_limit(current=1, up=True, direction=direction, scalings=[], now=NOW).value == 2


def test_calculate_scale_down_limit_with_select_min() -> None:
    # TestCalculateScaleDownLimitWithBehaviors: from 5, -2 or -50 % → min change → 3
    direction = Direction(
        rules=[Rule(replicas=2, period=60), Rule(percent=50, period=60)], select="min"
    )
    assert rate_limit(current=5, up=False, direction=direction, scalings=[], now=NOW).value == 3


def test_select_disabled_holds() -> None:
    direction = Direction(rules=[Rule(percent=100, period=15)], select="disabled")
    limit = rate_limit(current=4, up=True, direction=direction, scalings=[], now=NOW)
    assert (limit.value, limit.label) == (4, "scale-up disabled")


# -- stabilization: TestNormalizeDesiredReplicas, TestStabilizeRecommendationWithBehaviors


def ago(minutes: float) -> datetime:
    return NOW - timedelta(minutes=minutes)


@pytest.mark.parametrize(
    ("recommendations", "wanted", "expected"),
    [
        ([], 5, 5),  # empty log
        ([(ago(2), 4), (ago(1), 5)], 3, 5),  # stabilize
        ([(ago(2), 1), (ago(1), 2)], 3, 3),  # no stabilize
        ([(ago(10), 10), (ago(9), 9)], 3, 3),  # no stabilize: old recommendations
        ([(ago(10), 10), (ago(1), 4), (ago(2), 5), (ago(9), 9)], 3, 5),  # some old
    ],
)
def test_normalize_desired_replicas(
    recommendations: list[tuple[datetime, int]], wanted: int, expected: int
) -> None:
    got = stabilize(
        current=10,
        recommendation=wanted,
        recommendations=recommendations,
        now=NOW,
        up=UpDirection(),
        down=DownDirection(),
    )
    assert got.value == expected


def test_stabilize_up_takes_the_lowest_recent_recommendation() -> None:
    up = UpDirection(stabilization=300)
    down = DownDirection(stabilization=600)
    got = stabilize(
        current=5,
        recommendation=10,
        recommendations=[(ago(2), 8), (ago(4), 7)],
        now=NOW,
        up=up,
        down=down,
    )
    assert got.value == 7
    assert got.reason is not None
    assert "lowest" in got.reason


def test_stabilize_down_takes_the_highest_recent_recommendation() -> None:
    up = UpDirection(stabilization=300)
    down = DownDirection(stabilization=600)
    got = stabilize(
        current=8,
        recommendation=3,
        recommendations=[(ago(5), 5), (ago(8), 4)],
        now=NOW,
        up=up,
        down=down,
    )
    assert got.value == 5
    assert got.reason is not None
    assert "highest" in got.reason


# -- through evaluate: the whole HPA pipeline --------------------------------------------


def cpu_policy(**extra: object) -> PolicySpec:
    body: dict[str, object] = {
        "name": "web-cpu",
        "service": "web",
        "min": 2,
        "max": 6,
        "metrics": [{"name": "cpu", "source": "engine", "metric": "cpu", "target": 50}],
        "cpu_initialization": "2m",
    }
    body.update(extra)
    return PolicySpec.model_validate(body)


def test_scale_down_through_evaluate() -> None:
    # TestScaleDown: 5 pods at 10, 30, 50, 25, 25 % against 50 → 3
    reading = Reading("cpu", replicas=replicas([10, 30, 50, 25, 25], 5))
    got = evaluate(
        cpu_policy(), current=5, readings={"cpu": reading}, history=History(started=True), now=NOW
    )
    assert got.desired == 3


def test_scale_down_stabilize_initial_size() -> None:
    # TestScaleDownStabilizeInitialSize: with no recommendations yet, the current count is
    # the first one, so the first evaluation does not scale down.
    reading = Reading("cpu", replicas=replicas([10, 30, 50, 25, 25], 5))
    got = evaluate(cpu_policy(), current=5, readings={"cpu": reading}, history=History(), now=NOW)
    assert got.desired == 5
    assert got.recommendation == 3
    assert "stabilization" in got.limited_by
