"""The pure rules of notifications: which executions match a filter, how one reads to
people, how it is signed, what is redacted, when a retry comes."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from scalehook.domain.executions import Execution, ExecutionId, execution_json
from scalehook.domain.notification_messages import signature, slack_message, summarize
from scalehook.domain.notifications import (
    FILTER_RESULTS,
    Filter,
    matches,
    parse_on,
    redact,
    retry_delay,
    same_service,
)
from scalehook.domain.receivers import ReceiverId
from scalehook.errors import InvalidRequest

T0 = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)


def execution(**fields: Any) -> Execution:
    values: dict[str, Any] = {
        "started_at": T0,
        "driver": "scaleService",
        "target": "local/web",
        "result": "scaled",
        "message": "scaled from 1 to 3",
        "duration_ms": 2.0,
        "receiver_id": ReceiverId(4),
        "receiver_name": "web-up",
        "before": 1,
        "after": 3,
        "id": ExecutionId(12),
    }
    values.update(fields)
    return Execution(**values)


def test_an_empty_filter_matches_every_finished_execution_and_never_a_running_one() -> None:
    assert matches(Filter(), execution())
    assert matches(Filter(), execution(result="noop", driver="api", target=None))
    assert not matches(Filter(), execution(status="running", result="upgrading"))


@pytest.mark.parametrize(
    ("on", "fields", "expected"),
    [
        ({"result": ["failed"]}, {}, False),
        ({"result": ["failed", "scaled"]}, {}, True),
        ({"driver": ["api"]}, {}, False),
        ({"driver": ["scaleService"]}, {}, True),
        ({"service": ["web"]}, {}, True),
        ({"service": ["local/web"]}, {}, True),
        ({"service": ["docker/web"]}, {}, False),
        ({"service": ["web"]}, {"target": "web"}, True),  # recorded before it resolved
        ({"service": ["local/web"]}, {"target": "web"}, True),
        ({"service": ["webapp"]}, {}, False),
        ({"service": ["web"]}, {"target": None}, False),
        ({"receiver": ["web-up"]}, {}, True),
        ({"receiver": ["4"]}, {}, True),  # by id
        ({"receiver": ["other"]}, {}, False),
        ({"receiver": ["web-up"]}, {"receiver_name": None, "receiver_id": None}, False),
        ({"result": ["scaled"], "service": ["other"]}, {}, False),  # every key must match
        ({"result": ["scaled"], "service": ["web"], "receiver": ["web-up"]}, {}, True),
    ],
)
def test_each_key_of_a_filter_must_match(
    on: dict[str, list[str]], fields: dict[str, Any], expected: bool
) -> None:
    assert matches(Filter.of(on), execution(**fields)) is expected


@given(
    wanted=st.sampled_from(["web", "local/web", "docker/web", "api"]),
    target=st.sampled_from(["web", "local/web", "docker/web", "swarm/api", "hosts/group=a"]),
)
def test_a_bare_service_name_is_that_name_on_any_backend(wanted: str, target: str) -> None:
    def name(ref: str) -> str:
        return ref.rsplit("/", 1)[-1]

    both_qualified = "/" in wanted and "/" in target
    assert same_service(wanted, target) == (
        wanted == target if both_qualified else name(wanted) == name(target)
    )


def test_filters_are_read_leniently_and_checked_strictly() -> None:
    assert parse_on({"result": "failed, rolled_back", "service": "web"}) == {
        "result": ["failed", "rolled_back"],
        "service": ["web"],
    }
    assert parse_on({}) == {} and parse_on(None) == {}
    assert "upgrading" not in FILTER_RESULTS and "rolled_back" in FILTER_RESULTS
    with pytest.raises(InvalidRequest) as bad:
        parse_on({"result": ["scaled", "exploded"]})
    assert bad.value.field == "on.result"


def test_an_execution_reads_as_who_did_what_and_why() -> None:
    scaled = summarize(execution_json(execution()), public_url="https://sh.example/")
    assert scaled.line == "web scaled 1 → 3 by receiver web-up (scaled from 1 to 3)"
    assert scaled.title == "[scalehook] web scaled 1 → 3"
    assert scaled.link == "https://sh.example/ui/#/activity?execution=12"
    assert not scaled.failed

    by_hand = summarize(
        execution_json(execution(driver="api", receiver_name=None, caller="10.0.0.7")),
    )
    assert by_hand.line.startswith("web scaled 1 → 3 by hand (10.0.0.7)")
    assert by_hand.link is None

    noop = summarize(execution_json(execution(result="noop", after=1, message="at max 1")))
    assert noop.line == "web noop, stays at 1 by receiver web-up (at max 1)"

    failed = summarize(
        execution_json(
            execution(
                driver="serviceUpgrade",
                result="rolled_back",
                receiver_name="deploy",
                before=None,
                after=None,
                message="web: batch 1 not ready\nin 60s",
            )
        )
    )
    assert failed.failed
    assert failed.line == (
        "FAILED: web rolled back by upgrade receiver deploy (web: batch 1 not ready in 60s)"
    )
    assert failed.title == "[scalehook] FAILED: web rolled back"  # one line, for a subject


def test_slack_text_is_escaped_and_marks_a_failure() -> None:
    summary = summarize(execution_json(execution(result="failed", message="<b>&</b>")))
    text = slack_message("ops", summary)["text"]
    assert text.startswith(":x: FAILED: web failed 1 → 3")
    assert "&lt;b&gt;&amp;&lt;/b&gt;" in text and "<b>" not in text


def test_the_signature_is_githubs() -> None:
    # GitHub's documented example of X-Hub-Signature-256
    assert signature("It's a Secret to Everybody", b"Hello, World!") == (
        "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
    )


def test_redact_replaces_every_secret_longest_first() -> None:
    url = "https://hooks.slack.com/services/T1/B2/abcdef"
    text = f"POST {url} failed; path /services/T1/B2/abcdef; pw hunter22"
    cleaned = redact(text, [url, "/services/T1/B2/abcdef", "hunter22", "ab"])
    assert cleaned == "POST [secret] failed; path [secret]; pw [secret]"


@given(attempts=st.integers(1, 10_000), first=st.floats(0.01, 100), cap=st.floats(0.01, 10_000))
def test_retries_wait_first_then_double_never_past_the_cap(
    attempts: int, first: float, cap: float
) -> None:
    delay = retry_delay(attempts, first=first, cap=cap)
    assert 0 < delay <= cap
    assert delay <= retry_delay(attempts + 1, first=first, cap=cap)
    if attempts < 60 and first * 2 ** (attempts - 1) <= cap:
        assert delay == pytest.approx(first * 2 ** (attempts - 1))
