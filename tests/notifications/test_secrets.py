"""A notification's secrets (a webhook's secret, a Slack URL, an SMTP password) never
reach an API answer, a delivery's error, /metrics or the log, even at debug level and
when the receiving end quotes them back."""

from __future__ import annotations

from pathlib import Path

import httpx

from tests.conftest import ServerFactory, web_service
from tests.notifications.conftest import config
from tests.notifications.sinks import HttpSink, SmtpSink, wait_deliveries
from tests.notifications.test_delivery import deliveries, notify, trigger

WEBHOOK_SECRET = "webhook-secret-never-shown-4b"
SLACK_PATH = "/services/T0SECRET/B0SECRET/slack-token-never-shown-8d"
SMTP_PASSWORD = "smtp-password-never-shown-2c"


def test_notification_secrets_stay_out_of_answers_errors_metrics_and_the_log(
    make_server: ServerFactory, sink: HttpSink, tmp_path: Path
) -> None:
    smtp = SmtpSink(tmp_path, username="scalehook", password="the-right-one").start()
    try:
        settings = config({"web": web_service()}, ca_file=str(smtp.ca_file), attempts=2)
        settings["log_level"] = "debug"
        server = make_server(settings)
        sink.answers = {"/hook": [500, 500], SLACK_PATH: [404]}  # each error quotes the path
        answers = [
            notify(
                server, name="hook", type="webhook", url=f"{sink.url}/hook", secret=WEBHOOK_SECRET
            ),
            notify(server, name="chat", type="slack", url=f"{sink.url}{SLACK_PATH}"),
            notify(
                server,
                name="mail",
                type="email",
                smtp={
                    "host": "127.0.0.1",
                    "port": smtp.port,
                    "username": "scalehook",
                    "password": SMTP_PASSWORD,  # wrong: the login is refused
                    "from": "scalehook@example.org",
                    "to": "ops@example.org",
                },
            ),
        ]
        receiver = server.create_receiver("web-up", service="web", action="up", amount=1, max=3)
        trigger(receiver["url"])
        for name in ("hook", "chat", "mail"):
            wait_deliveries(
                lambda name=name: deliveries(server, name),  # type: ignore[misc]
                lambda rows: rows[0]["status"] == "failed",
                what=name,
            )
        hook_requests = sink.received("/hook")
        assert len(hook_requests) == 2 and hook_requests[0].signed_by(WEBHOOK_SECRET)
        chat_error = deliveries(server, "chat")[0]["last_error"]
        assert "answered 404" in chat_error and "[secret]" in chat_error  # quoted, redacted
        assert smtp.logins and not any(ok for _login, ok in smtp.logins)

        texts = [str(a) for a in answers]
        for path in ("", "/hook", "/chat", "/mail", "/hook/deliveries", "/chat/deliveries",
                     "/mail/deliveries", "/chat/deliveries?status=failed"):  # fmt: skip
            texts.append(server.client.get(f"/v1/notifications{path}").text)
        texts.append(server.client.patch("/v1/notifications/chat", json={"enabled": True}).text)
        metrics = httpx.get(f"{server.url}/metrics", timeout=30).text
        assert 'scalehook_notifications_total{notification="chat",status="failed"} 1.0' in metrics
    finally:
        smtp.stop()
    server.stop()
    log = server.log()
    assert "notification chat: execution 1 not delivered, given up" in log  # it did log
    places = {"answers": "\n".join(texts), "metrics": metrics, "log": log}
    for secret in (WEBHOOK_SECRET, SLACK_PATH, "slack-token-never-shown-8d", SMTP_PASSWORD):
        for place, text in places.items():
            assert secret not in text, f"a secret is in the {place}"
