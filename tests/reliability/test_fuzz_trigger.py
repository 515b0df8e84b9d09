"""Junk at the trigger, from hypothesis: keys, bodies, headers and raw bytes.

Whatever arrives, the answer is a 2xx or a 4xx with a JSON message, never a 5xx, and
the server keeps serving.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scalehook.testing import ServerProcess
from tests.conftest import web_service

FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
EXPECTED = {200, 307, 400, 404, 405, 408, 413, 422, 429}  # 307: a trailing slash


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    server = ServerProcess(
        tmp_path_factory.mktemp("fuzz-trigger"),
        {
            "services": {"web": web_service(replicas=1)},
            "server": {"header_timeout": "2s", "request_timeout": "2s"},
            "hooks": {"max_body": 4096, "rate": 100_000, "burst": 100_000},
        },
    )
    server.start()
    yield server
    assert server.process is not None and server.process.poll() is None, "scalehook died"
    assert "Traceback" not in server.log()
    server.close()


@pytest.fixture(scope="module")
def key(server: ServerProcess) -> str:
    receiver = server.create_receiver("fuzz", service="web", action="up", max=1)
    return str(receiver["url"]).rsplit("/", 1)[1]


@pytest.fixture(scope="module")
def client(server: ServerProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=30) as client:
        yield client


def check(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code in EXPECTED, (response.status_code, response.text)
    if response.is_redirect:
        return {}
    body: dict[str, Any] = response.json()
    if response.status_code >= 400:
        assert isinstance(body["error"], str)
        assert body["error"]
        assert isinstance(body["message"], str)
        assert body["message"]
    return body


keys = st.one_of(
    st.text(max_size=300),
    st.text(alphabet=st.characters(codec="ascii"), max_size=300),
    st.binary(max_size=100).map(lambda b: b.decode("latin-1")),
    st.just("shk_") | st.just("") | st.just("..") | st.just("%00"),
)
header_names = st.from_regex(r"\A[A-Za-z][A-Za-z0-9-]{0,30}\Z")
header_values = st.text(
    alphabet=st.characters(min_codepoint=0x20, max_codepoint=0xFF, exclude_characters="\x7f"),
    max_size=200,
).map(str.strip)
content_types = st.sampled_from(
    [
        "application/json",
        "application/x-www-form-urlencoded",
        "text/plain",
        "multipart/form-data; boundary=x",
        "application/json; charset=utf-16",
        "",
    ]
)
bodies = st.one_of(
    st.binary(max_size=5000),
    st.text(max_size=2000).map(str.encode),
    st.recursive(
        st.none()
        | st.booleans()
        | st.integers()
        | st.floats(allow_nan=False, allow_infinity=False)
        | st.text(max_size=20),
        lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=10), inner),
        max_leaves=20,
    ).map(lambda value: httpx.Request("POST", "/", json=value).content),
)


@FUZZ
@given(junk=keys)
def test_junk_keys_get_a_404(client: httpx.Client, junk: str) -> None:
    response = client.post("/v1/hooks/" + quote(junk, safe=""))
    body = check(response)
    if response.status_code == 404:
        assert body["message"] in ("no receiver answers at this URL", "Not Found")
    assert junk == "" or junk not in response.text or len(junk) < 3


@FUZZ
@given(
    body=bodies,
    content_type=content_types,
    headers=st.dictionaries(header_names, header_values, max_size=8),
    suffix=st.sampled_from(["", "x", "/", "/extra", "?a=1", "%2F"]),
)
def test_junk_bodies_and_headers_at_a_real_key(
    client: httpx.Client,
    key: str,
    body: bytes,
    content_type: str,
    headers: dict[str, str],
    suffix: str,
) -> None:
    """Bodies are read by drivers that use them; scaleService ignores them."""
    sent = {
        k.lower().encode(): v.encode("latin-1")
        for k, v in headers.items()
        if k.lower() not in ("content-length", "host")
    }
    sent[b"content-type"] = content_type.encode()
    response = client.post(f"/v1/hooks/{key}{suffix}", content=body, headers=sent)
    answer = check(response)
    if suffix in ("", "?a=1") and len(body) <= 4096 and b"transfer-encoding" not in sent:
        assert response.status_code == 200, response.text
        assert answer["result"] == "noop"  # the receiver sits at its max
    if len(body) > 4096:
        assert response.status_code == 413


@FUZZ
@given(method=st.sampled_from(["GET", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"]))
def test_other_methods_on_a_trigger_url_are_405(
    client: httpx.Client, key: str, method: str
) -> None:
    response = client.request(method, f"/v1/hooks/{key}")
    assert response.status_code == 405
    if method != "HEAD":
        assert response.json()["error"] == "method_not_allowed"


@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    raw=st.one_of(
        st.binary(max_size=600),
        st.builds(
            lambda line, rest: line + b"\r\n" + rest,
            st.sampled_from([b"POST /v1/hooks/x HTTP/1.1", b"POST / HTTP/1.1", b"GET /healthz"]),
            st.binary(max_size=400),
        ),
    )
)
def test_raw_junk_never_gets_a_5xx(server: ServerProcess, raw: bytes) -> None:
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.settimeout(10)
        try:
            sock.sendall(raw)
            sock.shutdown(socket.SHUT_WR)
            answer = sock.recv(65536)
        except (ConnectionResetError, BrokenPipeError):
            answer = b""
    if answer:
        assert answer.startswith(b"HTTP/1.1 ")
        status = int(answer.split()[1])
        assert status < 500, answer
    assert httpx.get(server.url + "/healthz", timeout=10).status_code == 200
