"""Tag policies: examples of each, and properties that must hold for any tags."""

from __future__ import annotations

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
