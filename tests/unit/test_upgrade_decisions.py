"""Which services a push upgrades: examples and properties of ``decide_upgrades``."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from scalehook.domain.images import parse_image
from scalehook.domain.signals import ImagePushed
from scalehook.domain.signatures import sign, verify
from scalehook.domain.tag_policies import TagPolicy
from scalehook.domain.upgrades import Running, decide_upgrades, summary
from scalehook.errors import Unauthorized

SEMVER = TagPolicy.parse("semver")


def hub(repository: str, tag: str | None, digest: str | None = None) -> ImagePushed:
    ref = parse_image(repository)
    return ImagePushed("dockerhub", ref.registry, ref.repository, tag, digest)


def test_the_contract_upgrades_every_service_running_an_older_acme_app() -> None:
    services = [
        Running("local/a", "acme/app:1"),
        Running("local/b", "docker.io/acme/app:1.5"),
        Running("local/c", "index.docker.io/acme/app:2"),
        Running("local/d", "acme/web:1"),
        Running("local/e", "quay.io/acme/app:1"),
        Running("local/f", None),
    ]
    plans, skips = decide_upgrades([hub("acme/app", "2")], services, SEMVER)
    assert [(p.service, p.current.familiar(), p.target.familiar()) for p in plans] == [
        ("local/a", "acme/app:1", "acme/app:2"),
        ("local/b", "acme/app:1.5", "acme/app:2"),
    ]
    reasons = {s.service: s.reason for s in skips}
    assert reasons["local/c"] == "semver: already runs '2' (use the force policy to redeploy a tag)"
    assert reasons["local/d"] == "runs acme/web:1, not acme/app"
    assert reasons["local/e"] == "runs quay.io/acme/app:1, not acme/app"
    assert reasons["local/f"] == "reports no image"
    assert "local/d runs acme/web:1" in summary(skips)


def test_the_highest_allowed_tag_of_one_push_wins() -> None:
    pushes = [hub("acme/app", t) for t in ("1.2", "1.10", "2.0", "1.9")]
    plans, _ = decide_upgrades(
        pushes, [Running("x", "acme/app:1.1")], TagPolicy.parse("semver:same-major")
    )
    assert plans[0].target.tag == "1.10"


def test_a_rollout_in_progress_is_what_a_push_is_compared_with() -> None:
    running = Running("x", "acme/app:1", rolling_to="docker.io/acme/app:3")
    plans, skips = decide_upgrades([hub("acme/app", "2")], [running], SEMVER)
    assert plans == []
    assert "in progress" in skips[0].reason
    plans, _ = decide_upgrades([hub("acme/app", "4")], [running], SEMVER)
    assert plans[0].current.tag == "1"  # a rollback still goes to what the service ran


def test_untagged_pushes_never_plan() -> None:
    plans, skips = decide_upgrades([hub("acme/app", None)], [Running("x", "acme/app:1")], SEMVER)
    assert plans == []
    assert skips[0].reason == "no pushed image has a tag"


def test_force_redeploys_the_same_tag_with_its_new_digest() -> None:
    digest = "sha256:" + "9" * 64
    plans, _ = decide_upgrades(
        [hub("acme/app", "latest", digest)],
        [Running("x", "acme/app:latest")],
        TagPolicy.parse("force"),
    )
    assert plans[0].target == parse_image(f"acme/app:latest@{digest}")


_tags = st.sampled_from(["1", "1.5", "2", "2.0.1", "10", "latest", "v3", "2.0.0-rc1"])
_repos = st.sampled_from(["acme/app", "acme/web", "quay.io/acme/app", "nginx"])
_policies = st.sampled_from(["semver", "semver:same-major", "force", "exact:2", "glob:1*"])


@given(
    st.lists(st.tuples(_repos, _tags), min_size=1, max_size=4),
    st.lists(st.tuples(_repos, _tags), max_size=6),
    _policies,
)
def test_every_service_gets_one_plan_or_one_reason(
    pushes: list[tuple[str, str]], services: list[tuple[str, str]], policy_text: str
) -> None:
    policy = TagPolicy.parse(policy_text)
    running = [Running(f"local/s{i}", f"{repo}:{tag}") for i, (repo, tag) in enumerate(services)]
    plans, skips = decide_upgrades([hub(r, t) for r, t in pushes], running, policy)
    assert sorted([p.service for p in plans] + [s.service for s in skips]) == sorted(
        r.ref for r in running
    )
    assert all(s.reason for s in skips)
    for plan in plans:
        assert plan.current.same_repository(plan.target)
        assert any(parse_image(r).same_repository(plan.target) for r, _ in pushes)
        verdict = policy.allows(
            current=plan.current.tag, current_digest=None, tag=plan.target.tag or "", digest=None
        )
        assert verdict.allowed


# signatures ------------------------------------------------------------------------

SECRET = "s3cret-value"
BODY = b'{"action": "published"}'


def test_a_github_signature_is_checked_against_the_body() -> None:
    good = sign(SECRET, BODY)
    assert good.startswith("sha256=") and len(good) == 71
    verify(SECRET, BODY, {"x-hub-signature-256": good})
    for bad in (sign("other-secret", BODY), sign(SECRET, BODY + b" "), "sha256=", ""):
        with pytest.raises(Unauthorized, match="does not match"):
            verify(SECRET, BODY, {"x-hub-signature-256": bad})


@pytest.mark.parametrize("header", [f"Bearer {SECRET}", f"bearer {SECRET}", SECRET])
def test_the_secret_may_come_as_an_authorization_header(header: str) -> None:
    verify(SECRET, BODY, {"authorization": header})


@pytest.mark.parametrize("headers", [{}, {"authorization": "Bearer wrong"}, {"x-other": SECRET}])
def test_calls_without_proof_are_refused(headers: dict[str, str]) -> None:
    with pytest.raises(Unauthorized) as caught:
        verify(SECRET, BODY, headers)
    assert caught.value.status == 401
    assert SECRET not in caught.value.message


def test_signing_matches_githubs_published_example() -> None:
    # GitHub's docs, "Validating webhook deliveries": this secret and payload give
    # this signature.
    expected = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
    assert sign("It's a Secret to Everybody", b"Hello, World!") == expected
    verify("It's a Secret to Everybody", b"Hello, World!", {"x-hub-signature-256": expected})


@given(st.binary(max_size=200), st.text(min_size=8, max_size=20))
def test_what_is_signed_verifies(body: bytes, secret: str) -> None:
    verify(secret, body, {"x-hub-signature-256": sign(secret, body)})
