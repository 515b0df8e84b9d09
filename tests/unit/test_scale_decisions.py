"""The scaleService rule, pinned down: clamp to the bounds, never move the wrong way."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from scalehook.domain.decisions import decide_replicas
from scalehook.drivers.scale_service import ScaleServiceConfig, ScaleServiceDriver, decide_scale
from scalehook.errors import InvalidRequest


def config(action: str, amount: int = 1, low: int = 1, high: int = 10) -> ScaleServiceConfig:
    return ScaleServiceConfig(service="web", action=action, amount=amount, min=low, max=high)


@pytest.mark.parametrize(
    ("action", "amount", "current", "after", "result"),
    [
        ("up", 1, 1, 2, "scaled"),
        ("up", 3, 8, 10, "clamped"),
        ("up", 1, 10, 10, "noop"),
        ("up", 1, 12, 12, "noop"),  # above max by hand: an up never lowers
        ("up", 1, 0, 1, "scaled"),
        ("down", 1, 5, 4, "scaled"),
        ("down", 3, 3, 1, "clamped"),
        ("down", 1, 1, 1, "noop"),
        ("down", 1, 0, 0, "noop"),  # below min by hand: a down never raises
        ("down", 2, 15, 10, "clamped"),  # above max: a down comes back within bounds
    ],
)
def test_examples(action: str, amount: int, current: int, after: int, result: str) -> None:
    decision = decide_scale(config(action, amount), current=current)
    assert (decision.before, decision.after, decision.result) == (current, after, result)


def test_up_from_below_min_lands_on_min() -> None:
    decision = decide_scale(config("up", 1, low=3), current=0)
    assert (decision.after, decision.result) == (3, "clamped")
    assert "min 3" in decision.message


@given(
    action=st.sampled_from(["up", "down"]),
    amount=st.integers(1, 50),
    low=st.integers(0, 50),
    span=st.integers(0, 50),
    current=st.integers(0, 200),
)
def test_properties(action: str, amount: int, low: int, span: int, current: int) -> None:
    cfg = config(action, amount, low, low + span)
    d = decide_scale(cfg, current=current)
    assert d.before == current
    assert abs(d.after - current) <= max(amount, abs(current - cfg.min), abs(current - cfg.max))
    if action == "up":
        assert d.after >= current
    else:
        assert d.after <= current
    if d.after != current:
        assert cfg.min <= d.after <= cfg.max
    assert (d.result == "noop") == (d.after == current)
    assert (d.result == "scaled") == (
        d.after != current and d.after == current + (amount if action == "up" else -amount)
    )


@given(
    start=st.integers(0, 20),
    triggers=st.integers(0, 60),
    amount=st.integers(1, 5),
    high=st.integers(0, 30),
)
def test_repeated_ups_end_at_exactly_the_bound(
    start: int, triggers: int, amount: int, high: int
) -> None:
    cfg = config("up", amount, 0, high)
    current = start
    for _ in range(triggers):
        current = decide_scale(cfg, current=current).after
    assert current == max(start, min(high, start + triggers * amount))


def test_absolute_scale() -> None:
    assert decide_replicas(current=2, replicas=2).result == "noop"
    assert decide_replicas(current=2, replicas=5).after == 5


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        ({"service": "web", "action": "sideways"}, "config.action"),
        ({"service": "web", "action": "up", "amount": 0}, "config.amount"),
        ({"service": "web", "action": "up", "amount": 1.5}, "config.amount"),
        ({"service": "web", "action": "up", "min": -1}, "config.min"),
        ({"service": "web", "action": "up", "min": 5, "max": 2}, "config"),
        ({"action": "up"}, "config.service"),
        ({"service": "web", "action": "up", "colour": "red"}, "config.colour"),
    ],
)
def test_config_errors_name_the_field(raw: dict[str, object], field: str) -> None:
    with pytest.raises(InvalidRequest) as caught:
        ScaleServiceDriver().parse_config(raw)
    assert caught.value.field == field
    assert caught.value.message.startswith(field)
