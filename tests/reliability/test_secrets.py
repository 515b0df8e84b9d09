"""Secrets never leak: not in logs (text or JSON), /metrics, errors, the config file or
replicas.

The admin token, trigger keys, and a receiver's own secret (registry signatures).

The server runs at debug level so that every log line anything writes is captured;
then every kind of call that carries a secret is made, right and wrong, and the
captured output is searched for each secret.
"""

from __future__ import annotations

import json
import socket
from pathlib import Path

import httpx
import psutil
import pytest

from tests.conftest import ServerFactory, web_service

RECEIVER_SECRET = "receiver-secret-3f9a1c77d2"


def key_of(url: str) -> str:
    return url.rsplit("/", 1)[1]


@pytest.mark.parametrize("log_format", ["text", "json"])
def test_secrets_never_appear_in_logs_metrics_or_errors(
    make_server: ServerFactory, tmp_path: Path, log_format: str
) -> None:
    server = make_server(
        {
            "services": {"web": web_service(replicas=1)},
            "log_level": "debug",
            "log_format": log_format,
            "server": {"header_timeout": "1s", "request_timeout": "1s"},
            "hooks": {"max_body": 2048, "rate": 0.01, "burst": 3},
        }
    )
    token = server.token
    seen: list[httpx.Response] = []  # every answer but the two that must show a URL

    def call(method: str, url: str, **kwargs: object) -> httpx.Response:
        response = httpx.request(method, url, timeout=30, **kwargs)  # type: ignore[arg-type]
        seen.append(response)
        return response

    created = server.create_receiver("s", service="web", action="up", amount=1, max=3)
    first = key_of(created["url"])
    base = f"{server.url}/v1/hooks/"

    assert call("POST", base + first).status_code == 200
    assert call("POST", base + first + "x").status_code == 404  # one character off
    assert call("POST", base + first, content=b"x" * 4096).status_code == 413
    assert call("GET", base + first).status_code == 405
    assert call("POST", base + first + "/").status_code == 307
    with socket.create_connection(("127.0.0.1", server.port)) as sock:  # a slow body: 408
        sock.sendall(f"POST /v1/hooks/{first} HTTP/1.1\r\nHost: x\r\n".encode())
        sock.sendall(b"Content-Length: 10\r\n\r\n")
        assert sock.recv(4096).startswith(b"HTTP/1.1 408")
    assert call("POST", base + first + "?key=" + first).status_code == 200
    assert call("POST", base + first).status_code == 429  # burst 3 spent
    with socket.create_connection(("127.0.0.1", server.port)) as sock:  # slow headers
        sock.sendall(f"POST /v1/hooks/{first} HTTP/1.1\r\nHost".encode())
        assert sock.recv(4096) == b""

    rotated = server.client.post("/v1/receivers/s/rotate").json()
    second = key_of(rotated["url"])
    assert call("POST", base + first).status_code == 404  # the old key is gone
    server.client.patch("/v1/receivers/s", json={"enabled": False}).raise_for_status()
    assert call("POST", base + second).status_code == 404  # disabled

    # The admin token, right and wrong, in every place a caller might put it.
    url = f"{server.url}/v1/receivers"
    assert call("GET", url, headers={"Authorization": f"Bearer {token}x"}).status_code == 401
    assert call("GET", url, headers={"Authorization": f"Basic {token}"}).status_code == 401
    assert call("GET", url, headers={"Authorization": token}).status_code == 401
    assert call("GET", url + f"?token={token}").status_code == 401
    bad_json = call(
        "POST",
        url,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        content=f'{{"name": "{token}", "driver": "{second}"'.encode(),
    )
    assert bad_json.status_code == 400
    wrong = call(
        "POST",
        url,
        headers={"Authorization": f"Bearer {token}"},
        json={"name": "t", "driver": "scaleService", "config": {"service": second}},
    )
    assert wrong.status_code == 422
    # A receiver's own secret (registry signatures): wrong proofs, and the right one.
    signed = server.create_receiver(
        "signed", driver="serviceUpgrade", selector={"tier": "front"}, secret=RECEIVER_SECRET
    )
    signed_url = str(signed["url"])
    for headers in (
        {"Authorization": f"Bearer {RECEIVER_SECRET}x"},
        {"X-Hub-Signature-256": "sha256=" + "0" * 64},
        {"Authorization": f"Bearer {RECEIVER_SECRET}"},
    ):
        assert call("POST", signed_url, headers=headers, json={"x": 1}).status_code < 500
    metrics = call("GET", f"{server.url}/metrics").text
    assert 'receiver="s"' in metrics  # the name is there, the key is not

    replica_pid = server.service("web")["replicas"][0]["pid"]
    replica_env = "\n".join(f"{k}={v}" for k, v in psutil.Process(replica_pid).environ().items())
    server.stop()
    log = server.log()
    assert "GET /v1/receivers" in log and "/v1/hooks/…" in log  # the log did capture calls
    if log_format == "json":
        lines = [json.loads(line) for line in log.splitlines() if line.strip()]
        assert all({"time", "level", "logger", "message"} <= set(line) for line in lines)
        triggered = [line for line in lines if line.get("receiver") == "s"]
        assert {"execution_id", "driver", "target", "result"} <= set(triggered[0])
        assert {line["result"] for line in triggered} >= {"scaled"}
        assert any(line.get("path") == "/v1/hooks/…" and line.get("status") for line in lines)

    places = {
        "log": log,
        "metrics": metrics,
        "replica environment": replica_env,
        # what serve writes for the CLI
        "client file": (server.workdir / "config-home" / "scalehook" / "client.json").read_text(),
        "answers": "\n".join(
            f"{r.status_code} {r.headers.get('location', '')} {r.text}"
            for r in seen
            if not r.is_redirect
        ),
    }
    for secret in (token, first, second, key_of(signed_url), RECEIVER_SECRET):
        for place, text in places.items():
            assert secret not in text, f"a secret is in the {place}"
        assert secret[8:40] not in log  # not even a slice of it
    # The store keeps hashes of the token and the trigger keys (a receiver's own secret
    # is kept as such: checking a signature needs it).
    store = b"".join(p.read_bytes() for p in server.data_dir.glob("scalehook.db*"))
    for secret in (token, first, second, key_of(signed_url)):
        assert secret.encode() not in store
