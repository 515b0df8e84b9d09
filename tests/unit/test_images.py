"""Image references: normalisation examples and properties."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from scalehook.domain.images import ImageRef, InvalidImage, parse_image, parse_repository

DIGEST = "sha256:" + "ab" * 32


@pytest.mark.parametrize(
    ("text", "registry", "repository", "tag", "digest"),
    [
        ("nginx", "docker.io", "library/nginx", None, None),
        ("nginx:1.25", "docker.io", "library/nginx", "1.25", None),
        ("docker.io/nginx", "docker.io", "library/nginx", None, None),
        ("docker.io/library/nginx", "docker.io", "library/nginx", None, None),
        ("index.docker.io/library/nginx:latest", "docker.io", "library/nginx", "latest", None),
        ("registry-1.docker.io/acme/app:2", "docker.io", "acme/app", "2", None),
        ("acme/app:2", "docker.io", "acme/app", "2", None),
        ("localhost/app", "localhost", "app", None, None),
        ("localhost:5000/app:1", "localhost:5000", "app", "1", None),
        ("registry.example.com:5000/team/app", "registry.example.com:5000", "team/app", None, None),
        ("Registry.Example.COM/app:v1", "registry.example.com", "app", "v1", None),
        ("ghcr.io/acme/app@" + DIGEST, "ghcr.io", "acme/app", None, DIGEST),
        ("quay.io/acme/app:1.0@" + DIGEST, "quay.io", "acme/app", "1.0", DIGEST),
        ("[::1]:5000/app:1", "[::1]:5000", "app", "1", None),
        ("a/b/c/d:e", "docker.io", "a/b/c/d", "e", None),
        ("my_app/x-y__z.v2", "docker.io", "my_app/x-y__z.v2", None, None),
    ],
)
def test_normalisation(
    text: str, registry: str, repository: str, tag: str | None, digest: str | None
) -> None:
    assert parse_image(text) == ImageRef(registry, repository, tag, digest)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty"),
        ("Acme/app", "lower-case"),
        ("acme/app:", "not a valid tag"),
        ("acme/app:-x", "not a valid tag"),
        ("acme/app@sha256:xyz", "not a digest"),
        ("acme//app", "not a valid repository"),
        ("acme/app ", "white space"),
        ("bad_host.com:99x/app", "registry"),
        ("my_app.v2/x", "registry"),
        ("ghcr.io/", "names no repository"),
        ("a" * 300, "longer than"),
    ],
)
def test_invalid_references_say_why(text: str, message: str) -> None:
    with pytest.raises(InvalidImage, match=message):
        parse_image(text)


def test_repository_refuses_a_tag() -> None:
    assert parse_repository("acme/app") == ImageRef("docker.io", "acme/app")
    with pytest.raises(InvalidImage, match="without a tag"):
        parse_repository("acme/app:1")


def test_familiar_names() -> None:
    assert parse_image("docker.io/library/nginx:1").familiar() == "nginx:1"
    assert parse_image("docker.io/acme/app:2").familiar() == "acme/app:2"
    assert parse_image("ghcr.io/acme/app:2").familiar() == "ghcr.io/acme/app:2"
    assert parse_image("library/a/b").familiar() == "library/a/b"
    assert str(parse_image("nginx")) == "docker.io/library/nginx"


# properties ----------------------------------------------------------------------

_alnum = st.text("abcdefghijklmnopqrstuvwxyz0123456789", min_size=1, max_size=6)


def _components(separators: list[str]) -> st.SearchStrategy[str]:
    return st.builds(
        lambda parts, seps: (
            parts[0] + "".join(s + p for s, p in zip(seps, parts[1:], strict=False))
        ),
        st.lists(_alnum, min_size=1, max_size=3),
        st.lists(st.sampled_from(separators), min_size=2, max_size=2),
    )


# A first component with a '.' would name a registry, so only later ones may have one.
_repository = st.builds(
    lambda first, rest: "/".join([first, *rest]),
    _components(["_", "__", "-", "--"]),
    st.lists(_components([".", "_", "__", "-", "--"]), max_size=2),
)
_host = st.builds(
    lambda labels, port: ".".join(labels) + (f":{port}" if port else ""),
    st.lists(
        st.text("abcdefghijklmnopqrstuvwxyz0123456789", min_size=1, max_size=8),
        min_size=2,
        max_size=3,
    ),
    st.one_of(st.none(), st.integers(1, 65535)),
) | st.sampled_from(["localhost", "localhost:5000", "docker.io", "index.docker.io"])
_tag = st.from_regex(r"\A[A-Za-z0-9_][A-Za-z0-9_.-]{0,20}\Z")
_digest = st.from_regex(r"\Asha256:[0-9a-f]{64}\Z")


@st.composite
def references(draw: st.DrawFn) -> str:
    host = draw(st.one_of(st.none(), _host))
    text = draw(_repository)
    if host is not None:
        text = f"{host}/{text}"
    if draw(st.booleans()):
        text += ":" + draw(_tag)
    if draw(st.booleans()):
        text += "@" + draw(_digest)
    return text


@given(references())
def test_parsing_is_idempotent_and_round_trips(text: str) -> None:
    ref = parse_image(text)
    assert parse_image(str(ref)) == ref
    assert parse_image(ref.familiar()) == ref
    assert "/" not in ref.registry
    assert ref.tag is None or "/" not in ref.tag


@given(references())
def test_registry_is_named_or_docker_hub(text: str) -> None:
    ref = parse_image(text)
    first, slash, _ = text.partition("/")
    if slash and ("." in first or ":" in first or first == "localhost"):
        expected = "docker.io" if first in ("docker.io", "index.docker.io") else first
        assert ref.registry == expected
    else:
        assert ref.registry == "docker.io"
    if ref.registry == "docker.io":
        assert "/" in ref.repository


@given(_repository, _tag, _tag)
def test_tags_and_digests_never_change_the_repository(repository: str, a: str, b: str) -> None:
    one = parse_image(f"{repository}:{a}")
    two = parse_image(f"{repository}:{b}@sha256:{'0' * 64}")
    assert one.same_repository(two)
    assert one.name == two.name == parse_repository(repository).name


@given(_repository)
def test_short_and_long_docker_hub_names_are_one_repository(repository: str) -> None:
    short = parse_image(repository)
    assert parse_image(f"docker.io/{short.repository}") == short
    assert parse_image(f"index.docker.io/{short.repository}") == short
