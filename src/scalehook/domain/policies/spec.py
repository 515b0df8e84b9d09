"""A policy as the API takes it, checked at create so that a bad one never runs.

``PolicySpec`` is the whole body (``POST /v1/policies``, ``scalehook apply``);
``parse_policy`` validates a mapping and raises ``InvalidRequest`` (422) naming the
field the way a person writes it: ``metrics[1].query``, ``behavior.down.rules[0].period``.
Use it rather than letting FastAPI validate the body: pydantic's own error locations
carry the metric's type as a path step (``metrics.1.target.query``) and put cross-field
errors on the object, not the field; ``describe_error`` turns both into the field.

What is refused, and why (each names its field):

- ``min`` > ``max``; ``max`` < 1; a ``fallback`` outside ``min..max``.
- Both or neither of ``service`` and ``hosts``: a policy scales one service, or one host
  group (``hosts.selector``, the labels its hosts carry, as a scaleHost receiver's).
  A host-group policy keeps ``min`` >= 1 (the group grows by cloning one of its hosts)
  and ``max`` <= 1000, and reads ``capacity``, ``prometheus`` or schedules, never
  ``engine`` or ``balancer`` (a service's replicas); only it reads ``capacity``.
- A source/metric pair that does not exist: ``engine`` has ``cpu`` and ``memory``,
  ``balancer`` has ``connections`` and ``rate``, ``capacity`` has ``used`` and
  ``tasks``; ``prometheus`` needs a ``query`` (and
  takes no ``metric``); only ``prometheus`` takes a ``query`` or ``url``; only ``memory``
  a ``unit``.
- A ``target`` <= 0; a number that is NaN or infinite; a duration, cron expression or
  time zone that does not parse; two metrics with one name.
- A threshold whose bounds are so close that one step flips it. A step up at count
  ``n`` to ``m`` replicas spreads the load over ``m/n`` as many, so a value just above
  ``upper`` becomes ``upper * n/m``; if that is not above ``lower`` the next evaluation
  steps back down (and the reverse for a step down, ``lower * n/m`` against ``upper``).
  The rule: ``lower < upper * n/m`` for every step up and ``lower * n/m < upper`` for
  every step down the policy can take, judged at every count from ``max(min, 1)`` to
  ``max`` (for a ``factor`` f that is about ``lower < upper / f``; for a ``step`` s the
  tightest count is the smallest, ``lower < upper * n/(n + s)``). Counts beyond the first
  10,000 are not visited: there a step's ratio is within 1/10,000 of its limit.

Units (the source converts; evaluation only compares):

- ``cpu``: percent of one core, or of the replica's CPU limit where it has one.
- ``memory``: bytes by default, the target written as bytes or a Kubernetes-style size
  (``"256Mi"``, ``"1Gi"``, ``"512M"``); or ``"unit": "percent"``, the target a percent of
  the replica's memory limit (a replica without a limit then has no sample).
- ``connections``: connections in flight per replica; ``rate``: new connections per
  second per replica.
- ``prometheus``: the query's value for the whole service; ``target`` is per replica
  (desired = ceil(value / target), KEDA's AverageValue).
- ``used`` (capacity): percent of a host's task slots in use (its running tasks against
  its ``scalehook.max_tasks`` label), per host; ``tasks``: running tasks per host. In a
  host-group policy a "replica" is a host and the count is the group's size.

``tolerance`` and ``on_error`` are read in two forms (``0.1`` or ``{"up", "down"}``;
``"hold"`` or ``{"fallback": N}``) and written back in the shorter one (``as_json``).
Note for code that reads a ``PolicySpec`` (a change from the contract's sketch, where
these were unions): the attributes are always the models, ``spec.tolerance`` a
``Tolerance`` (read ``spec.tolerances()``, which also applies a direction's own
``behavior.up/down.tolerance``) and ``spec.on_error`` an ``OnError``
(``on_error.fallback`` None is ``hold``). ``for`` is the attribute ``for_``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from functools import cached_property
from typing import Annotated, Any, ClassVar, Literal
from zoneinfo import ZoneInfo

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    ValidationError,
    field_serializer,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from scalehook.domain.durations import Duration, format_duration
from scalehook.domain.host_plans import RemovePolicy
from scalehook.domain.policies.cron import Cron, parse_cron, zone
from scalehook.domain.selectors import Selector, group_target
from scalehook.errors import InvalidRequest

NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_.-]{0,99}$")
METRIC_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_.-]{0,62}$")
MAX_REPLICAS = 100_000
_FLIP_COUNTS = 10_000
_EPSILON = 1e-9

Source = Literal["engine", "prometheus", "balancer", "capacity"]
MetricKind = Literal["cpu", "memory", "connections", "rate", "used", "tasks"]
SOURCE_METRICS: Mapping[str, tuple[str, ...]] = {
    "engine": ("cpu", "memory"),
    "balancer": ("connections", "rate"),
    "capacity": ("used", "tasks"),
}
SERVICE_SOURCES = frozenset({"engine", "balancer"})
"""Sources that read a service's replicas: a host-group policy has none."""
HOST_SOURCES = frozenset({"capacity"})
"""Sources that read a host group's hosts: only a host-group policy has them."""
MAX_HOSTS = 1000
TARGET_LENGTH = 200
"""The longest service name, or host group as ``hosts/label=value``, a policy names (as
the store keeps it)."""
WAKING_SOURCES = frozenset({"prometheus", "balancer"})
"""Sources that can say something while a service has no replicas (a query's value, the
connections the balancer holds), so they can lift it from 0. ``engine`` cannot."""


def invalid(field: str | None, message: str) -> PydanticCustomError:
    """A validation error on ``field`` (relative to the object being validated)."""
    return PydanticCustomError(
        "policy_invalid", "{reason}", {"reason": message, "field": field or ""}
    )


def ceil(value: float) -> int:
    """``math.ceil`` that does not round 7.000000000000001 (0.7 * 10) up to 8."""
    return math.ceil(value - _EPSILON)


# -- quantities --------------------------------------------------------------------------

_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)\s*(Ki|Mi|Gi|Ti|Pi|Ei|k|K|M|G|T|P|E)?\s*$")
_SIZE_FACTORS = {
    None: 1,
    "k": 10**3,
    "K": 10**3,
    "M": 10**6,
    "G": 10**9,
    "T": 10**12,
    "P": 10**15,
    "E": 10**18,
    "Ki": 2**10,
    "Mi": 2**20,
    "Gi": 2**30,
    "Ti": 2**40,
    "Pi": 2**50,
    "Ei": 2**60,
}


def parse_quantity(text: str) -> tuple[float, bool]:
    """``"256Mi"`` → (268435456.0, True); ``"80"`` → (80.0, False). ValueError if neither."""
    match = _SIZE.match(text)
    if match is None:
        raise ValueError(f"{text!r} is not a number or a size such as '256Mi', '1Gi' or '512M'")
    number, suffix = match.groups()
    return float(number) * _SIZE_FACTORS[suffix], suffix is not None


def format_bytes(value: float) -> str:
    for suffix in ("Ei", "Pi", "Ti", "Gi", "Mi", "Ki"):
        factor = _SIZE_FACTORS[suffix]
        if value >= factor:
            return f"{value / factor:.4g}{suffix}"
    return f"{value:.4g}B"


def metric_name(value: str) -> str:
    if not METRIC_NAME.match(value):
        raise ValueError(
            "a metric name starts with a letter and has letters, digits, '_', '.' or '-' "
            "(at most 63)"
        )
    return value


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False, populate_by_name=True)


# -- what a metric reads -----------------------------------------------------------------


class _Measured(_Strict):
    """A metric that reads something: its source and which metric or query."""

    _QUANTITIES: ClassVar[tuple[str, ...]] = ()

    name: str = Field(min_length=1, max_length=63)
    source: Source
    metric: MetricKind | None = None
    query: str | None = Field(default=None, max_length=10_000)
    url: str | None = Field(default=None, max_length=2000)
    unit: Literal["bytes", "percent"] | None = None

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        return metric_name(value)

    @model_validator(mode="before")
    @classmethod
    def _sizes(cls, data: Any) -> Any:
        """Sizes (``"256Mi"``) become bytes, for memory in bytes only; number strings pass."""
        if not isinstance(data, dict):
            return data
        in_bytes = data.get("metric") == "memory" and data.get("unit") in (None, "bytes")
        for key in cls._QUANTITIES:
            value = data.get(key)
            if isinstance(value, str):
                try:
                    number, sized = parse_quantity(value)
                except ValueError as exc:
                    raise invalid(key, str(exc)) from None
                if sized and not in_bytes:
                    raise invalid(
                        key, f"{value!r}: only a memory metric in bytes is written as a size"
                    )
                data = {**data, key: number}
        return data

    @model_validator(mode="after")
    def _source(self) -> _Measured:
        if self.source == "prometheus":
            if self.metric is not None:
                raise invalid("metric", "a prometheus metric reads its query, not a named metric")
            if self.query is None or not self.query.strip():
                raise invalid("query", "a prometheus metric needs a query (PromQL)")
            if self.url is not None and not self.url.startswith(("http://", "https://")):
                raise invalid("url", "a Prometheus url starts with http:// or https://")
        else:
            known = SOURCE_METRICS[self.source]
            if self.metric is None:
                raise invalid("metric", f"the {self.source} source has {' and '.join(known)}")
            if self.metric not in known:
                raise invalid(
                    "metric",
                    f"the {self.source} source has no {self.metric}; it has {' and '.join(known)}",
                )
            if self.query is not None:
                raise invalid("query", "only a prometheus metric has a query")
            if self.url is not None:
                raise invalid("url", "only a prometheus metric has a url")
        if self.unit is not None and self.metric != "memory":
            raise invalid("unit", "only a memory metric has a unit (bytes or percent)")
        return self

    @property
    def per_replica(self) -> bool:
        """Read per replica (engine, balancer), or once for the service (prometheus)."""
        return self.source != "prometheus"

    @property
    def can_wake(self) -> bool:
        return self.source in WAKING_SOURCES

    @property
    def percent(self) -> bool:
        """A utilization in percent of a core, a limit or a host's task slots (HPA's
        Utilization targets)."""
        return self.metric in ("cpu", "used") or (
            self.metric == "memory" and self.unit == "percent"
        )

    def show(self, value: float) -> str:
        """``value`` as people read it in this metric's unit."""
        if self.metric == "memory" and not self.percent:
            return format_bytes(value)
        text = f"{value:.4g}"
        return f"{text}%" if self.percent else text


class TargetMetric(_Measured):
    """Scale so that each replica carries ``target`` (HPA's target value)."""

    _QUANTITIES: ClassVar[tuple[str, ...]] = ("target",)

    type: Literal["target"] = "target"
    target: float = Field(gt=0)


class Step(_Strict):
    """What a threshold does once past a bound: multiply, add or set the count."""

    factor: float | None = Field(default=None, gt=0, le=1000)
    step: int | None = Field(default=None, ge=1, le=MAX_REPLICAS)
    to: int | None = Field(default=None, ge=0, le=MAX_REPLICAS)

    @model_validator(mode="after")
    def _one(self) -> Step:
        given = [k for k in ("factor", "step", "to") if getattr(self, k) is not None]
        if len(given) != 1:
            raise invalid(None, 'write one of factor, step or to, e.g. {"factor": 2}')
        return self

    def up(self, current: int) -> int:
        """The count a step up from ``current`` asks for (always at least one more, but
        ``to`` never lowers)."""
        if self.factor is not None:
            return max(current + 1, ceil(current * self.factor))
        if self.step is not None:
            return current + self.step
        assert self.to is not None
        return max(current, self.to)

    def down(self, current: int) -> int:
        """The count a step down from ``current`` asks for (a factor rounds up, keeping
        more replicas, but removes at least one; ``to`` never raises)."""
        if self.factor is not None:
            return max(0, min(current - 1, ceil(current * self.factor)))
        if self.step is not None:
            return max(0, current - self.step)
        assert self.to is not None
        return min(current, self.to)

    def describe(self) -> str:
        if self.factor is not None:
            return f"factor {self.factor:g}"
        if self.step is not None:
            return f"step {self.step}"
        return f"to {self.to}"


class ThresholdMetric(_Measured):
    """Step the count when the value stays past a bound for ``for`` evaluations (Nomad's
    threshold strategy, the seeds' double/halve)."""

    _QUANTITIES: ClassVar[tuple[str, ...]] = ("upper", "lower")

    type: Literal["threshold"]
    upper: float | None = None
    lower: float | None = None
    up: Step | None = None
    down: Step | None = None
    for_: int = Field(default=1, alias="for", ge=1, le=1000)

    @model_validator(mode="after")
    def _bounds(self) -> ThresholdMetric:
        if self.upper is None and self.lower is None:
            raise invalid(
                "upper",
                "a threshold needs an upper bound with its up step, a lower "
                "bound with its down step, or both",
            )
        if (self.upper is None) != (self.up is None):
            field = "up" if self.up is None else "upper"
            raise invalid(field, "an upper bound and an up step go together")
        if (self.lower is None) != (self.down is None):
            field = "down" if self.down is None else "lower"
            raise invalid(field, "a lower bound and a down step go together")
        if self.up is not None and self.up.factor is not None and self.up.factor <= 1:
            raise invalid("up.factor", "an up factor is more than 1 (2 doubles)")
        if self.down is not None and self.down.factor is not None and self.down.factor >= 1:
            raise invalid("down.factor", "a down factor is between 0 and 1 (0.5 halves)")
        if self.upper is not None and self.lower is not None and self.lower >= self.upper:
            raise invalid("lower", f"lower {self.lower:g} must be below upper {self.upper:g}")
        return self

    def flip(self, low: int, high: int) -> str | None:
        """Why one step would flip this threshold between ``low`` and ``high`` replicas
        (the rule in the module docstring), or None."""
        if self.upper is None or self.lower is None or self.up is None or self.down is None:
            return None
        first = max(low, 1)
        for n in range(first, min(high, first + _FLIP_COUNTS) + 1):
            m = min(self.up.up(n), high)
            if m > n and self.lower >= self.upper * n / m - _EPSILON:
                return (
                    f"lower {self.lower:g} is too close to upper {self.upper:g}: "
                    f"{self.up.describe()} from {n} to {m} replicas brings a value just above "
                    f"{self.upper:g} down to "
                    f"{self.upper * n / m:.4g}, and the next evaluation would step back down "
                    f"(lower must be below {self.upper * n / m:.4g})"
                )
            m = max(self.down.down(n), low)
            if 1 <= m < n and self.lower * n / m >= self.upper - _EPSILON:
                return (
                    f"lower {self.lower:g} is too close to upper {self.upper:g}: "
                    f"{self.down.describe()} from {n} to {m} replicas brings a value just below "
                    f"{self.lower:g} up to {self.lower * n / m:.4g}, and the next evaluation would "
                    f"step back up (lower must be below {self.upper * m / n:.4g})"
                )
        return None


class ScheduleMetric(_Strict):
    """A floor of ``replicas`` while a cron window is open."""

    type: Literal["schedule"]
    name: str = Field(min_length=1, max_length=63)
    cron: str = Field(max_length=200)
    duration: Duration = Field(gt=0, le=366 * 86_400)
    replicas: int = Field(ge=0, le=MAX_REPLICAS)
    timezone: str = Field(default="UTC", max_length=100)

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        return metric_name(value)

    @field_validator("cron")
    @classmethod
    def _parse_cron(cls, value: str) -> str:
        parse_cron(value)  # a CronError is a ValueError: it names this field
        return value

    @field_validator("timezone")
    @classmethod
    def _parse_zone(cls, value: str) -> str:
        zone(value)
        return value

    @property
    def parsed(self) -> Cron:
        return parse_cron(self.cron)  # cached

    @property
    def zone(self) -> ZoneInfo:
        return zone(self.timezone)  # cached

    @property
    def per_replica(self) -> bool:
        return False

    @property
    def can_wake(self) -> bool:
        return True


_TAGS = ("target", "threshold", "schedule")


def _metric_type(value: Any) -> str | None:
    kind = value.get("type", "target") if isinstance(value, dict) else getattr(value, "type", None)
    return kind if kind in _TAGS else None


MetricSpec = Annotated[
    Annotated[TargetMetric, Tag("target")]
    | Annotated[ThresholdMetric, Tag("threshold")]
    | Annotated[ScheduleMetric, Tag("schedule")],
    Discriminator(
        _metric_type,
        custom_error_type="policy_invalid",
        custom_error_message="a metric's type is 'target' (the default), 'threshold' or 'schedule'",
        custom_error_context={"field": "type"},
    ),
]
ReadMetric = TargetMetric | ThresholdMetric
"""A metric that reads a value (a schedule reads none)."""


# -- behavior (HPA's spec.behavior) ------------------------------------------------------


class Rule(_Strict):
    """At most ``percent`` % or ``replicas`` more (or fewer) per ``period``."""

    percent: int | None = Field(default=None, ge=1, le=100_000)
    replicas: int | None = Field(default=None, ge=1, le=MAX_REPLICAS)
    period: Duration = Field(gt=0, le=1800)

    @model_validator(mode="after")
    def _one(self) -> Rule:
        if (self.percent is None) == (self.replicas is None):
            raise invalid(None, "a rule has percent or replicas (one of them) and a period")
        return self

    @cached_property
    def label(self) -> str:
        amount = (
            f"percent {self.percent}" if self.percent is not None else f"replicas {self.replicas}"
        )
        return f"{amount} per {format_duration(self.period)}"


class Direction(_Strict):
    stabilization: Duration = Field(default=0.0, ge=0, le=3600)
    rules: list[Rule] = Field(default_factory=list, min_length=1, max_length=10)
    select: Literal["max", "min", "disabled"] = "max"
    tolerance: float | None = Field(default=None, ge=0)

    @property
    def longest_period(self) -> float:
        return max((rule.period for rule in self.rules), default=0.0)


def _up_rules() -> list[Rule]:
    return [Rule(percent=100, period=15), Rule(replicas=4, period=15)]


def _down_rules() -> list[Rule]:
    return [Rule(percent=100, period=15)]


class UpDirection(Direction):
    """Scale-up: HPA's defaults (no window; double or add 4 per 15 s, whichever is more)."""

    stabilization: Duration = Field(default=0.0, ge=0, le=3600)
    rules: list[Rule] = Field(default_factory=_up_rules, min_length=1, max_length=10)


class DownDirection(Direction):
    """Scale-down: HPA's defaults (a 5-minute window; up to all replicas per 15 s)."""

    stabilization: Duration = Field(default=300.0, ge=0, le=3600)
    rules: list[Rule] = Field(default_factory=_down_rules, min_length=1, max_length=10)

    @field_validator("tolerance")
    @classmethod
    def _at_most_one(cls, value: float | None) -> float | None:
        if value is not None and value > 1:
            raise ValueError("a scale-down tolerance is at most 1 (1 never scales down)")
        return value


class Behavior(_Strict):
    up: UpDirection = Field(default_factory=UpDirection)
    down: DownDirection = Field(default_factory=DownDirection)


class Tolerance(_Strict):
    up: float = Field(default=0.1, ge=0)
    down: float = Field(default=0.1, ge=0, le=1)


class OnError(_Strict):
    """``hold`` (``fallback`` None) keeps the count; a fallback goes to ``fallback`` after
    ``failures`` evaluations in a row with a metric that failed."""

    fallback: int | None = Field(default=None, ge=0, le=MAX_REPLICAS)
    failures: int = Field(default=3, ge=1, le=10_000)


# -- the policy --------------------------------------------------------------------------


class HostGroup(_Strict):
    """The host group a policy scales instead of a service: the hosts carrying every
    label of ``selector`` (as a scaleHost receiver names them), and how it shrinks."""

    selector: dict[str, str] = Field(min_length=1, max_length=20)
    remove_policy: RemovePolicy = "least_busy"
    drain_timeout: Duration = Field(default=300.0, ge=1, le=86_400)

    @field_validator("selector")
    @classmethod
    def _selector(cls, value: dict[str, str]) -> dict[str, str]:
        for key in value:
            if not key or key != key.strip():
                raise ValueError(f"label {key!r}: a label name is not empty and has no spaces")
        return value

    @model_validator(mode="after")
    def _short(self) -> HostGroup:
        if len(self.ref) > TARGET_LENGTH:
            raise invalid("selector", f"the labels are longer than {TARGET_LENGTH} characters")
        return self

    @property
    def ref(self) -> str:
        """The target its executions and lock are named by: ``hosts/group=batch``."""
        return group_target(Selector.of(self.selector))


class PolicySpec(_Strict):
    name: str = Field(min_length=1, max_length=100)
    service: str | None = Field(default=None, min_length=1, max_length=TARGET_LENGTH)
    hosts: HostGroup | None = None
    min: int = Field(ge=0, le=MAX_REPLICAS)
    max: int = Field(ge=1, le=MAX_REPLICAS)
    interval: Duration = Field(default=15.0, ge=1, le=86_400)
    metrics: list[MetricSpec] = Field(min_length=1, max_length=20)
    behavior: Behavior = Field(default_factory=Behavior)
    tolerance: Tolerance = Field(default_factory=Tolerance)
    cpu_initialization: Duration = Field(default=300.0, ge=0, le=86_400)
    on_error: OnError = Field(default_factory=OnError)
    dry_run: bool = False
    paused: bool = False

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not NAME.match(value):
            raise ValueError(
                "a policy name starts with a letter and has letters, digits, '_', '.' or '-'"
            )
        return value

    @field_validator("service")
    @classmethod
    def _service(cls, value: str | None) -> str | None:
        if value is not None and (value != value.strip() or any(c.isspace() for c in value)):
            raise ValueError("a service name has no spaces")
        return value

    @field_validator("tolerance", mode="before")
    @classmethod
    def _tolerance(cls, value: Any) -> Any:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return {"up": value, "down": value}
        return value

    @field_validator("on_error", mode="before")
    @classmethod
    def _on_error(cls, value: Any) -> Any:
        if value == "hold":
            return {}
        if isinstance(value, str):
            raise ValueError('on_error is \'hold\' or {"fallback": N, "failures": 3}')
        if isinstance(value, dict) and "fallback" not in value:
            raise invalid("fallback", 'a fallback names its count: {"fallback": N}')
        return value

    @field_serializer("tolerance")
    def _dump_tolerance(self, value: Tolerance) -> float | dict[str, float]:
        return value.up if value.up == value.down else value.model_dump()

    @field_serializer("on_error")
    def _dump_on_error(self, value: OnError) -> str | dict[str, int]:
        if value.fallback is None:
            return "hold"
        return {"fallback": value.fallback, "failures": value.failures}

    @model_validator(mode="after")
    def _whole(self) -> PolicySpec:
        if self.min > self.max:
            raise invalid("min", f"min {self.min} is more than max {self.max}")
        if (self.service is None) == (self.hosts is None):
            raise invalid(
                "service",
                "a policy scales a service (service) or a host group (hosts), one of them",
            )
        if self.hosts is not None:
            self._host_group()
        for index, read in enumerate(self.read_metrics):
            if read.source in (SERVICE_SOURCES if self.hosts is not None else HOST_SOURCES):
                raise invalid(f"metrics[{index}].source", self._wrong_source(read.source))
        seen: dict[str, int] = {}
        for index, metric in enumerate(self.metrics):
            if metric.name in seen:
                raise invalid(
                    f"metrics[{index}].name",
                    f"metrics[{seen[metric.name]}] is already named {metric.name!r}",
                )
            seen[metric.name] = index
            if isinstance(metric, ThresholdMetric):
                why = metric.flip(self.min, self.max)
                if why is not None:
                    raise invalid(f"metrics[{index}].lower", why)
        fallback = self.on_error.fallback
        if fallback is not None and not self.min <= fallback <= self.max:
            raise invalid(
                "on_error.fallback",
                f"the fallback {fallback} is outside min..max ({self.min}..{self.max})",
            )
        return self

    def _host_group(self) -> None:
        if self.min < 1:
            raise invalid(
                "min", "a host group keeps at least 1 host: it grows by cloning one of its own"
            )
        if self.max > MAX_HOSTS:
            raise invalid("max", f"a host group has at most {MAX_HOSTS} hosts")

    def _wrong_source(self, source: str) -> str:
        if self.hosts is not None:
            return (
                f"{source} reads a service's replicas: a policy on hosts reads capacity, "
                "prometheus or a schedule"
            )
        return (
            f"{source} reads a host group's task slots: it is for a policy on hosts "
            '({"hosts": {"selector": {...}}})'
        )

    @property
    def target(self) -> str:
        """What it scales: the service as given, or the host group's ``hosts/...``."""
        if self.hosts is not None:
            return self.hosts.ref
        assert self.service is not None
        return self.service

    def as_json(self) -> dict[str, Any]:
        """The policy as JSON, in the form it is written (``for``, no unset fields)."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)

    @property
    def read_metrics(self) -> list[ReadMetric]:
        return [m for m in self.metrics if not isinstance(m, ScheduleMetric)]

    @property
    def schedules(self) -> list[ScheduleMetric]:
        return [m for m in self.metrics if isinstance(m, ScheduleMetric)]

    @property
    def can_wake(self) -> bool:
        """Has a metric that can lift the service from 0 (so engine metrics may go to 0)."""
        return any(m.can_wake for m in self.metrics)

    def tolerances(self) -> tuple[float, float]:
        """(up, down) tolerance: the direction's own where set, else the policy's."""
        up = self.behavior.up.tolerance
        down = self.behavior.down.tolerance
        return (
            self.tolerance.up if up is None else up,
            self.tolerance.down if down is None else down,
        )


# -- errors naming the field -------------------------------------------------------------


def field_path(loc: Sequence[str | int], tail: str = "") -> str:
    """``("metrics", 1, "target", "query")`` → ``metrics[1].query``; ``tail`` is appended."""
    text = ""
    previous_index = False
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
            previous_index = True
            continue
        if previous_index and part in _TAGS:
            previous_index = False
            continue  # the discriminator's tag, not a field
        previous_index = False
        text += f".{part}" if text else part
    if tail:
        text += tail if tail.startswith("[") or not text else f".{tail}"
    return text


def describe_error(exc: ValidationError) -> tuple[str, str | None]:
    """(message, field) for the first problem; the message starts with the field."""
    first = exc.errors()[0]
    ctx = first.get("ctx") or {}
    field = field_path(first.get("loc", ()), str(ctx.get("field") or ""))
    message = str(first.get("msg", "invalid")).removeprefix("Value error, ")
    if first.get("type") == "missing":
        message = "is required"
    elif first.get("type") == "extra_forbidden":
        message = "is not a field here"
    text = f"{field}: {message}" if field else message
    count = exc.error_count()
    if count > 1:
        text += f" (and {count - 1} more problem{'s' if count > 2 else ''})"
    return text, field or None


def parse_policy(raw: Mapping[str, Any] | Any) -> PolicySpec:
    """The validated policy, or ``InvalidRequest`` (422) naming the field."""
    try:
        return PolicySpec.model_validate(raw)
    except ValidationError as exc:
        message, field = describe_error(exc)
        raise InvalidRequest(message, field=field) from exc
