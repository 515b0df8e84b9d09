"""Real receivers of notifications on loopback: an HTTP sink and an SMTP server.

``HttpSink`` is a threaded HTTP server that records every request and answers as told:
200, a status per request (``answers``: 500, 500, then 200), or not at all while
``hang`` is set. ``SmtpSink`` is aiosmtpd's server with STARTTLS (a certificate from a
trustme CA, which the tests give scalehook as ``notifications.ca_file``) and AUTH
LOGIN/PLAIN, required before any mail.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import trustme
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from scalehook.testing import free_port


@dataclass
class Request:
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    def header(self, name: str) -> str | None:
        return next((v for k, v in self.headers.items() if k.lower() == name.lower()), None)

    def signed_by(self, secret: str) -> bool:
        """Whether its X-Scalehook-Signature-256 is the HMAC-SHA256 of its body."""
        want = "sha256=" + hmac.new(secret.encode(), self.body, hashlib.sha256).hexdigest()
        got = self.header("X-Scalehook-Signature-256") or ""
        return hmac.compare_digest(want, got)


class HttpSink:
    """Records POSTs; answers ``answers[path]`` in turn (then 200), or hangs while
    ``hang``."""

    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.requests: list[Request] = []
        self.answers: dict[str, list[int]] = {}
        self.hang = threading.Event()
        self.hanging = 0  # requests held now
        self._released = threading.Event()
        self._lock = threading.Condition()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> HttpSink:
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                with sink._lock:
                    sink.requests.append(Request(self.path, dict(self.headers.items()), body))
                    queued = sink.answers.get(self.path)
                    status = queued.pop(0) if queued else 200
                    sink._lock.notify_all()
                if sink.hang.is_set():
                    with sink._lock:
                        sink.hanging += 1
                    sink._released.wait(120)
                    with sink._lock:
                        sink.hanging -= 1
                    return  # the connection closes without an answer
                self.send_response(status)
                self.send_header("Content-Type", "text/plain")
                # An error answer quotes the request, as some servers do: what scalehook
                # keeps of it must still hold no secret.
                text = b"ok" if status < 300 else f"no such hook: {self.path}".encode()
                self.send_header("Content-Length", str(len(text)))
                self.end_headers()
                self.wfile.write(text)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def release(self) -> None:
        """Let go of the requests held by ``hang`` (and stop holding new ones)."""
        self.hang.clear()
        self._released.set()

    def stop(self) -> None:
        self.release()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def received(self, path: str | None = None) -> list[Request]:
        with self._lock:
            return [r for r in self.requests if path is None or r.path == path]

    def wait_for(
        self, count: int, *, path: str | None = None, timeout: float = 60
    ) -> list[Request]:
        """Wait until ``count`` requests (to ``path``) have arrived; return them."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while True:
                got = [r for r in self.requests if path is None or r.path == path]
                if len(got) >= count:
                    return got
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"{len(got)} of {count} requests to {path or 'the sink'}")
                self._lock.wait(left)

    def __enter__(self) -> HttpSink:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


@dataclass
class Mail:
    mail_from: str
    rcpt_tos: list[str]
    message: EmailMessage
    login: str | None
    tls: bool

    @property
    def text(self) -> str:
        body = self.message.get_body(("plain",))
        assert body is not None
        return str(body.get_content()).replace("\r\n", "\n")


@dataclass
class _Handler:
    mails: list[Mail] = field(default_factory=list)
    arrived: threading.Condition = field(default_factory=threading.Condition)

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or b""
        message = message_from_bytes(raw, policy=policy.default)
        assert isinstance(message, EmailMessage)
        auth = session.auth_data
        with self.arrived:
            self.mails.append(
                Mail(
                    mail_from=str(envelope.mail_from),
                    rcpt_tos=list(envelope.rcpt_tos),
                    message=message,
                    login=auth.login.decode() if isinstance(auth, LoginPassword) else None,
                    tls=session.ssl is not None,
                )
            )
            self.arrived.notify_all()
        return "250 OK"


class _Controller(Controller):
    """aiosmtpd's controller, closing every connection when it stops: a client that gives
    up during the TLS handshake (an unverified certificate) leaves aiosmtpd holding its
    socket, which would be closed only by the garbage collector, with a warning."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.protocols: list[SMTP] = []

    def factory(self) -> SMTP:
        protocol: SMTP = super().factory()  # type: ignore[no-untyped-call]
        self.protocols.append(protocol)
        return protocol

    def _close_all(self) -> None:
        for protocol in self.protocols:
            for transport in (protocol._original_transport, protocol.transport):
                if transport is not None:
                    transport.close()

    def stop(self, no_assert: bool = False) -> None:
        done = threading.Event()

        def close() -> None:
            self._close_all()
            done.set()

        self.loop.call_soon_threadsafe(close)
        done.wait(10)
        super().stop(no_assert)


class SmtpSink:
    """aiosmtpd on loopback: STARTTLS required, then AUTH (``username``/``password``)."""

    def __init__(self, workdir: Path, *, username: str, password: str) -> None:
        self.port = free_port()
        self.username = username
        self.password = password
        self.ca = trustme.CA()
        self.ca_file = workdir / "smtp-ca.pem"
        self.ca.cert_pem.write_to_path(str(self.ca_file))
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.ca.issue_cert("127.0.0.1", "localhost").configure_cert(context)
        self.handler = _Handler()
        self.logins: list[tuple[str, bool]] = []  # (login, accepted)
        self.controller = _Controller(
            self.handler,
            hostname="127.0.0.1",
            port=self.port,
            tls_context=context,
            require_starttls=True,
            authenticator=self._authenticate,
            auth_required=True,
            auth_require_tls=True,
        )

    def _authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, auth_data: Any
    ) -> AuthResult:
        if not isinstance(auth_data, LoginPassword):
            return AuthResult(success=False, handled=False)
        login, password = auth_data.login.decode(), auth_data.password.decode()
        ok = login == self.username and password == self.password
        self.logins.append((login, ok))
        return AuthResult(success=ok, handled=False)  # aiosmtpd answers 235 or 535

    def start(self) -> SmtpSink:
        self.controller.start()
        return self

    def stop(self) -> None:
        self.controller.stop()

    def wait_for(self, count: int, *, timeout: float = 60) -> list[Mail]:
        deadline = time.monotonic() + timeout
        with self.handler.arrived:
            while len(self.handler.mails) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"{len(self.handler.mails)} of {count} mails arrived")
                self.handler.arrived.wait(left)
            return list(self.handler.mails)


def wait_deliveries(
    get: Callable[[], list[dict[str, Any]]],
    done: Callable[[list[dict[str, Any]]], bool],
    *,
    timeout: float = 60,
    what: str = "",
) -> list[dict[str, Any]]:
    """Poll a notification's deliveries until ``done`` says they are as wanted."""
    deadline = time.monotonic() + timeout
    rows: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        rows = get()
        if done(rows):
            return rows
        time.sleep(0.1)
    raise AssertionError(f"deliveries not as wanted ({what}): {rows}")
