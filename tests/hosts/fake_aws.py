"""A fake of AWS, since no cloud can be reached from here: moto's EC2 and Auto Scaling
models, served over HTTP on loopback, so libcloud's EC2 driver and boto3 talk to it as
they would to AWS (real requests, signed, answered in AWS's XML).

Two things moto's server does differently from AWS are put right in front of it:

- it tells the service from a SigV4 signature; libcloud signs EC2 calls with V2 (as
  AWS still accepts in us-east-1), so calls without one go to the EC2 model;
- its EC2 answers leave out the trailing ``/`` of AWS's namespace
  (``http://ec2.amazonaws.com/doc/2016-11-15/``), which libcloud's parser matches.

Like a cloud's audit trail, it keeps every call it was asked (action and parameters),
so tests can say what a provider did *not* ask for (e.g. a listing of every image).
"""

from __future__ import annotations

import io
import re
import threading
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import parse_qsl

import boto3
import httpx
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
from werkzeug.serving import BaseWSGIServer, make_server

REGION = "us-east-1"
_NAMESPACE = re.compile(rb'xmlns="(http://ec2\.amazonaws\.com/doc/\d{4}-\d{2}-\d{2})"')

StartResponse = Callable[..., Any]


class _Cloud:
    def __init__(self) -> None:
        self.dispatch = DomainDispatcherApplication(create_backend_app)
        self.ec2 = create_backend_app("ec2")
        self.calls: list[dict[str, str]] = []
        self.lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        environ["wsgi.input"] = io.BytesIO(body)
        params = dict(parse_qsl(environ.get("QUERY_STRING", "")))
        if body and "x-www-form-urlencoded" in environ.get("CONTENT_TYPE", ""):
            params.update(parse_qsl(body.decode()))
        path = environ.get("PATH_INFO", "")
        if "Action" in params:
            with self.lock:
                self.calls.append(params)
        if "HTTP_AUTHORIZATION" in environ or path.startswith("/moto-api"):
            return self.dispatch(environ, start_response)  # type: ignore[no-any-return]
        answer: dict[str, Any] = {}

        def keep(
            status: str, headers: list[tuple[str, str]], exc_info: Any = None
        ) -> Callable[[bytes], object]:
            answer.update(status=status, headers=headers)
            return lambda _data: None

        text = b"".join(self.ec2(environ, keep))
        text = _NAMESPACE.sub(rb'xmlns="\1/"', text)
        headers = [(k, v) for k, v in answer["headers"] if k.lower() != "content-length"]
        start_response(answer["status"], [*headers, ("Content-Length", str(len(text)))])
        return [text]


class FakeAws:
    """The fake cloud, on a free loopback port; ``reset()`` empties it."""

    def __init__(self) -> None:
        self._cloud = _Cloud()
        self._server: BaseWSGIServer | None = None

    def start(self) -> FakeAws:
        self._server = make_server("127.0.0.1", 0, self._cloud, threaded=True)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    @property
    def port(self) -> int:
        assert self._server is not None
        return int(self._server.server_port)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def reset(self) -> None:
        httpx.post(f"{self.url}/moto-api/reset").raise_for_status()
        self.forget_calls()

    def forget_calls(self) -> None:
        with self._cloud.lock:
            self._cloud.calls.clear()

    def calls(self, action: str) -> list[dict[str, str]]:
        """The calls of one action (e.g. ``DescribeImages``) since the last reset."""
        with self._cloud.lock:
            return [dict(c) for c in self._cloud.calls if c.get("Action") == action]

    def client(self, service: str) -> Any:
        return boto3.client(
            service,
            region_name=REGION,
            endpoint_url=self.url,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",  # the fake takes any key
        )
