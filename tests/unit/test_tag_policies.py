"""Tag policies: examples of each, and properties that must hold for any tags."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from scalehook.domain.tag_policies import TagPolicy, Version

D1 = "sha256:" + "1" * 64
D2 = "sha256:" + "2" * 64


def allows(
    policy: str,
    current: str | None,
    tag: str,
    *,
    current_digest: str | None = None,
    digest: str | None = None,
) -> bool:
    verdict = TagPolicy.parse(policy).allows(
        current=current, current_digest=current_digest, tag=tag, digest=digest
    )
    assert verdict.reason
    return verdict.allowed


@pytest.mark.parametrize(
    ("policy", "current", "tag", "allowed"),
    [
        ("semver", "1", "2", True),
        ("semver", "1.2.3", "1.10.0", True),
        ("semver", "v1.2", "v1.3", True),
        ("semver", "1.2.3", "1.2.3+build5", False),
        ("semver", "2", "1.9", False),
        ("semver", "latest", "2", False),
        ("semver", "1", "nightly", False),
        ("semver", "1.9", "2.0.0-rc1", False),
        ("semver", "2.0.0-rc1", "2.0.0-rc2", True),
        ("semver", "2.0.0-rc.2", "2.0.0-rc.10", True),
        ("semver", "2.0.0-rc1", "2.0.0", True),
        ("semver:any", "1", "3", True),
        ("semver:same-major", "1.2", "1.9.9", True),
        ("semver:same-major", "1.2", "2.0", False),
        ("semver:same-minor", "1.2.3", "1.2.4", True),
        ("semver:same-minor", "1.2.3", "1.3.0", False),
        ("2", "1", "2", True),
        ("exact:2", "1", "3", False),
        ("exact:stable", "old", "stable", True),
        ("glob:release-*", "release-1", "release-2", True),
        ("glob:release-*", "release-2", "release-1", True),
        ("glob:release-*", "release-1", "hotfix-1", False),
        ("regexp:^v[0-9]+$", "v1", "v22", True),
        ("regexp:v[0-9]+", "v1", "v2-beta", False),
        ("force", "latest", "latest", True),
        ("force", "latest", "2", False),
    ],
)
def test_policies(policy: str, current: str, tag: str, allowed: bool) -> None:
    assert allows(policy, current, tag) is allowed


def test_same_tag_needs_a_new_digest_unless_forced() -> None:
    assert not allows("semver", "2", "2")
    assert not allows("exact:2", "2", "2")
    assert allows("exact:2", "2", "2", current_digest=D1, digest=D2)
    assert allows("semver", "2", "2", current_digest=D1, digest=D2)
    assert allows("force", "2", "2")
    assert allows("force", "2", "2", current_digest=D1, digest=D2)
    assert not allows("force", "2", "2", current_digest=D1, digest=D1)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty"),
        ("semver:patch", "same-major"),
        ("force:x", "no argument"),
        ("glob:", "pattern"),
        ("regexp:(", "not a regular expression"),
        ("exact:", "not a tag policy"),
        ("two words", "not a tag policy"),
    ],
)
def test_bad_policies_say_why(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        TagPolicy.parse(text)


@pytest.mark.parametrize(
    "text",
    [
        "semver",
        "semver:same-major",
        "semver:same-minor",
        "force",
        "exact:1.2",
        "glob:a*",
        "regexp:x",
    ],
)
def test_policies_round_trip(text: str) -> None:
    assert str(TagPolicy.parse(text)) == text
    assert TagPolicy.parse(str(TagPolicy.parse(text))) == TagPolicy.parse(text)


def test_best_of_several_tags() -> None:
    assert TagPolicy.parse("semver").best(["1.2", "1.10", "1.9"]) == "1.10"
    assert TagPolicy.parse("glob:*").best(["b", "a"]) == "a"


# properties ----------------------------------------------------------------------

_number = st.integers(0, 10**6)
_pre = st.lists(
    st.one_of(st.integers(0, 99).map(str), st.from_regex(r"\A[a-z][a-z0-9-]{0,5}\Z")),
    max_size=3,
)


@st.composite
def versions(draw: st.DrawFn) -> str:
    parts = [str(draw(_number)) for _ in range(draw(st.integers(1, 3)))]
    text = ("v" if draw(st.booleans()) else "") + ".".join(parts)
    pre = draw(_pre)
    if pre:
        text += "-" + ".".join(pre)
    return text


_tags = st.one_of(versions(), st.from_regex(r"\A[A-Za-z0-9_][A-Za-z0-9_.-]{0,12}\Z"))
_policies = st.one_of(
    st.sampled_from(["semver", "semver:same-major", "semver:same-minor", "force"]),
    _tags.map(lambda t: f"exact:{t}"),
    st.sampled_from(["glob:*", "glob:1.*", "glob:v?", "regexp:[0-9.]+", "regexp:v.*"]),
)


@given(versions(), versions())
def test_versions_are_totally_ordered(a: str, b: str) -> None:
    va, vb = Version.parse(a), Version.parse(b)
    assert va is not None and vb is not None
    assert (va < vb) + (va == vb) + (va > vb) == 1


@given(st.sampled_from(["semver", "semver:same-major", "semver:same-minor"]), _tags, _tags)
def test_semver_never_downgrades(policy: str, current: str, tag: str) -> None:
    old, new = Version.parse(current), Version.parse(tag)
    if allows(policy, current, tag):
        assert old is not None and new is not None
        assert new > old


@given(_policies, _tags)
def test_the_running_tag_and_digest_are_never_deployed_again(policy: str, tag: str) -> None:
    assert not allows(policy, tag, tag, current_digest=D1, digest=D1)


@given(_tags, _tags)
def test_scopes_narrow_any(current: str, tag: str) -> None:
    minor = allows("semver:same-minor", current, tag)
    major = allows("semver:same-major", current, tag)
    anything = allows("semver", current, tag)
    assert not minor or major
    assert not major or anything


@given(_tags, _tags)
def test_force_only_takes_the_running_tag(current: str, tag: str) -> None:
    assert allows("force", current, tag) == (current == tag)


@given(_tags, _tags, _tags)
def test_exact_only_takes_its_tag(wanted: str, current: str, tag: str) -> None:
    assume(current != tag)
    assert allows(f"exact:{wanted}", current, tag) == (tag == wanted)


@given(st.lists(versions(), min_size=1, max_size=6))
def test_best_is_the_highest_version(tags: list[str]) -> None:
    best = TagPolicy.parse("semver").best(tags)
    assert all(Version.parse(t) <= Version.parse(best) for t in tags)  # type: ignore[operator]


# variants and date versions ------------------------------------------------------


@pytest.mark.parametrize(
    ("policy", "current", "tag", "allowed"),
    [
        ("semver", "1.25-alpine", "1.26-alpine", True),
        ("semver", "1.25-alpine", "1.26", False),
        ("semver", "1.25-alpine", "1.26-bookworm", False),
        ("semver", "1.25", "1.26", True),
        ("semver", "1.25", "1.26-alpine", False),
        ("semver", "1.25.3-bookworm", "1.25.4-bookworm", True),
        ("semver", "3.19-slim-bookworm", "3.20-slim-bookworm", True),
        ("semver", "3.19-slim-bookworm", "3.20-bookworm", False),
        ("semver", "1.25.3-alpine3.19", "1.25.4-alpine3.20", False),
        ("semver", "8-jdk", "11-jdk", True),
        ("semver:same-major", "1.25-alpine", "1.26-alpine", True),
        ("semver:same-minor", "1.25.1-alpine", "1.25.2-alpine", True),
        # pre-releases are not variants: the usual pre-release rule applies
        ("semver", "1.2.3", "1.2.4-rc.1", False),
        ("semver", "1.2.4-rc.1", "1.2.4", True),
        ("semver", "1.26.0-rc.1-alpine", "1.26.0-alpine", True),
        ("semver", "1.26.0-rc.1-alpine", "1.26.0", False),
        ("semver", "3.13.0rc1-slim", "3.13.0rc2-slim", True),
        ("semver", "3.13.0rc2-slim", "3.13.0-slim", True),
        ("semver", "3.12-slim", "3.13.0rc1-slim", False),
        ("semver", "2.0.0-rc9", "2.0.0-rc10", True),
        ("semver", "1.0-M1", "1.0-M2", True),
        # date versions (CalVer): numbers, leading zeros allowed
        ("semver", "2024.01.05", "2024.01.06", True),
        ("semver", "2024.01.05", "2024.1.5", False),
        ("semver", "2024.01.05", "2023.12.31", False),
        ("semver", "2024.1", "2024.10", True),
        ("semver", "2024.01.05", "2024.01.05-1", True),
        ("semver", "2024.01.05-1", "2024.01.05-2", True),
        ("semver", "2024.01.05-2", "2024.01.06", True),
        ("semver", "2024.01.05-1", "2024.01.05", False),
        ("semver", "2024.01.05-alpine", "2024.02.01-alpine", True),
        ("semver", "2024.01.05-alpine", "2024.02.01", False),
        ("semver", "22.04", "24.04", True),
        ("semver", "24.04", "24.10", True),
        ("semver:same-major", "2024.01.05", "2024.12.31", True),
        ("semver:same-major", "2024.12.31", "2025.01.01", False),
        ("semver:same-minor", "2024.01.05", "2024.01.31", True),
        ("semver:same-minor", "2024.01.05", "2024.02.01", False),
        # a date version and a numbered one never replace each other
        ("semver", "1.25", "2024.01.05", False),
        ("semver", "2024.01.05", "2025.1.0", True),
    ],
)
def test_variants_and_dates(policy: str, current: str, tag: str, allowed: bool) -> None:
    assert allows(policy, current, tag) is allowed


@pytest.mark.parametrize(
    ("current", "tag", "reason"),
    [
        ("1.25-alpine", "1.26", "'1.26' is not an -alpine tag"),
        ("1.25-alpine", "1.26-bookworm", "'1.26-bookworm' is not an -alpine tag"),
        ("1.25", "1.26-alpine", "'1.26-alpine' is an -alpine tag and '1.25' has no variant"),
        ("1.25", "2024.01.05", "'2024.01.05' is a date version and '1.25' is not"),
        ("2024.01.05", "2025", "'2025' is not a date version and '2024.01.05' is"),
    ],
)
def test_skips_say_which_variant(current: str, tag: str, reason: str) -> None:
    verdict = TagPolicy.parse("semver").allows(
        current=current, current_digest=None, tag=tag, digest=None
    )
    assert (verdict.allowed, verdict.reason) == (False, reason)


def test_scope_reasons_name_years_and_months() -> None:
    same_major = TagPolicy.parse("semver:same-major")
    same_minor = TagPolicy.parse("semver:same-minor")
    kwargs = {"current": "2024.01.05", "current_digest": None, "digest": None}
    assert same_major.allows(tag="2025.01.01", **kwargs).reason == (
        "'2025.01.01' leaves the year 2024"
    )
    assert same_minor.allows(tag="2024.02.01", **kwargs).reason == (
        "'2024.02.01' leaves the month 2024.01"
    )


@pytest.mark.parametrize(
    ("tag", "numbers", "prerelease", "variant", "calendar"),
    [
        ("1.25-alpine", (1, 25), (), "alpine", False),
        ("1.25.3-bookworm", (1, 25, 3), (), "bookworm", False),
        ("3.19-slim-bookworm", (3, 19), (), "slim-bookworm", False),
        ("1.2.3-rc.1", (1, 2, 3), ("rc", "1"), "", False),
        ("1.2.3-beta2", (1, 2, 3), ("beta2",), "", False),
        ("1.2.3-1", (1, 2, 3), ("1",), "", False),
        ("1.26.0-rc.1-alpine", (1, 26, 0), ("rc", "1"), "alpine", False),
        ("3.13.0rc2-slim-bookworm", (3, 13, 0), ("rc2",), "slim-bookworm", False),
        ("1.0.0-SNAPSHOT", (1, 0, 0), ("SNAPSHOT",), "", False),
        ("2022-CU10-ubuntu-22.04", (2022,), (), "CU10-ubuntu-22.04", False),
        ("2024.01.05", (2024, 1, 5), (), "", True),
        ("2024.1", (2024, 1), (), "", True),
        ("24.04", (24, 4), (), "", False),
        ("1.2.3.4", (1, 2, 3, 4), (), "", False),
    ],
)
def test_how_a_tag_reads(
    tag: str,
    numbers: tuple[int, ...],
    prerelease: tuple[str, ...],
    variant: str,
    calendar: bool,
) -> None:
    version = Version.parse(tag)
    assert version is not None
    assert (version.numbers, version.prerelease, version.variant, version.calendar) == (
        numbers,
        prerelease,
        variant,
        calendar,
    )


def test_a_date_revision_is_not_a_pre_release() -> None:
    version = Version.parse("2024.01.05-1")
    assert version is not None
    assert (version.revision, version.prerelease, version.variant) == (1, (), "")


def test_best_keeps_to_date_order() -> None:
    assert TagPolicy.parse("semver").best(["2024.01.05", "2024.01.05-1", "2024.1.4"]) == (
        "2024.01.05-1"
    )


_PRE_WORD = r"(alpha|beta|rc|pre|preview|dev|snapshot|canary|nightly)[0-9]*|[abm]|cr"
_variant_part = st.from_regex(r"\A[a-z][a-z0-9]{0,7}\Z").filter(
    lambda part: not re.fullmatch(rf"(?:{_PRE_WORD})[0-9]*", part, re.IGNORECASE)
)
_variants = st.one_of(
    st.sampled_from(["alpine", "bookworm", "slim-bookworm", "alpine3.19", "jdk", "fpm-alpine"]),
    st.lists(_variant_part, min_size=1, max_size=3).map("-".join),
)


@st.composite
def plain_versions(draw: st.DrawFn) -> str:
    """A version without pre-release or variant: ``1``, ``v1.2``, ``1.2.3``."""
    parts = [str(draw(st.integers(0, 300))) for _ in range(draw(st.integers(1, 3)))]
    return ("v" if draw(st.booleans()) else "") + ".".join(parts)


@st.composite
def variant_tags(draw: st.DrawFn) -> str:
    """A version, maybe a pre-release, maybe of a variant: ``1.2-rc.1-alpine``."""
    text = draw(plain_versions())
    if draw(st.booleans()):
        text += "-" + draw(st.sampled_from(["rc.1", "rc2", "beta", "alpha.3"]))
    if draw(st.booleans()):
        text += "-" + draw(_variants)
    return text


_semver_policies = st.sampled_from(["semver", "semver:same-major", "semver:same-minor"])


@given(plain_versions(), _variants)
def test_a_variant_reads_back_whole(version: str, variant: str) -> None:
    parsed = Version.parse(f"{version}-{variant}")
    assert parsed is not None
    assert parsed.variant == variant
    assert parsed.prerelease == ()
    assert parsed.numbers == Version.parse(version).numbers  # type: ignore[union-attr]


@given(_semver_policies, variant_tags(), variant_tags())
def test_variants_never_change(policy: str, current: str, tag: str) -> None:
    if allows(policy, current, tag):
        old, new = Version.parse(current), Version.parse(tag)
        assert old is not None and new is not None
        assert new.variant == old.variant
        assert new > old


@given(_semver_policies, plain_versions(), _variants, plain_versions())
def test_a_newer_version_of_the_same_variant_is_taken(
    policy: str, current: str, variant: str, tag: str
) -> None:
    plain = allows(policy, current, tag)
    assert allows(policy, f"{current}-{variant}", f"{tag}-{variant}") == plain
    assert not allows(policy, f"{current}-{variant}", tag)
    assert not allows(policy, current, f"{tag}-{variant}")


_dates = st.dates(min_value=dt.date(1970, 1, 1), max_value=dt.date(2999, 12, 31))
_date_formats = st.sampled_from(
    [
        lambda d: f"{d.year}.{d.month:02d}.{d.day:02d}",
        lambda d: f"{d.year}.{d.month}.{d.day}",
        lambda d: f"v{d.year}.{d.month:02d}.{d.day:02d}",
    ]
)


@given(_dates, _dates, _date_formats, _date_formats)
def test_date_versions_order_like_dates(
    a: dt.date, b: dt.date, format_a: Callable[[dt.date], str], format_b: Callable[[dt.date], str]
) -> None:
    va, vb = Version.parse(format_a(a)), Version.parse(format_b(b))
    assert va is not None and vb is not None
    assert va.calendar and vb.calendar
    assert (va < vb, va == vb, va > vb) == (a < b, a == b, a > b)


@given(_dates, st.integers(0, 99), _dates, st.integers(0, 99))
def test_date_revisions_order_after_their_date(
    a: dt.date, revision_a: int, b: dt.date, revision_b: int
) -> None:
    def tag(day: dt.date, revision: int) -> str:
        text = f"{day.year}.{day.month:02d}.{day.day:02d}"
        return f"{text}-{revision}" if revision else text

    va, vb = Version.parse(tag(a, revision_a)), Version.parse(tag(b, revision_b))
    assert va is not None and vb is not None
    assert (va < vb) == ((a, revision_a) < (b, revision_b))
    assert (va == vb) == ((a, revision_a) == (b, revision_b))


@given(_dates, _dates)
def test_same_major_on_dates_is_the_same_year(a: dt.date, b: dt.date) -> None:
    current, tag = f"{a:%Y.%m.%d}", f"{b:%Y.%m.%d}"
    assert allows("semver:same-major", current, tag) == (b > a and b.year == a.year)
    assert allows("semver:same-minor", current, tag) == (
        b > a and (b.year, b.month) == (a.year, a.month)
    )
    assert allows("semver", current, tag) == (b > a)


_any_tags = st.one_of(_tags, variant_tags(), _dates.map(lambda d: f"{d:%Y.%m.%d}"))


@given(_any_tags, _any_tags, _any_tags)
def test_versions_are_a_total_order(a: str, b: str, c: str) -> None:
    va, vb, vc = Version.parse(a), Version.parse(b), Version.parse(c)
    assume(va is not None and vb is not None and vc is not None)
    assert va is not None and vb is not None and vc is not None
    assert (va < vb) + (va == vb) + (va > vb) == 1
    if va <= vb <= vc:
        assert va <= vc
    if va == vb:
        assert hash(va) == hash(vb)
