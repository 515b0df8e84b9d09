"""Slack and email notifications, read as people read them: a Slack message posted to
a real HTTP sink, and mail through a real SMTP server (aiosmtpd) with STARTTLS and
login, whose certificate scalehook verifies."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import ServerFactory, web_service
from tests.notifications.conftest import config
from tests.notifications.sinks import HttpSink, SmtpSink, wait_deliveries
from tests.notifications.test_delivery import deliveries, notify, trigger

SLACK_PATH = "/services/T0000/B0000/slack-secret-path-7f"
SMTP_PASSWORD = "smtp-password-e5a2"


@pytest.fixture
def smtp(tmp_path: Path) -> Iterator[SmtpSink]:
    server = SmtpSink(tmp_path, username="scalehook", password=SMTP_PASSWORD).start()
    yield server
    server.stop()


def mail_notification(smtp: SmtpSink, **fields: object) -> dict[str, object]:
    return {
        "host": "127.0.0.1",
        "port": smtp.port,
        "username": "scalehook",
        "password": SMTP_PASSWORD,
        "from": "scalehook@example.org",
        "to": ["ops@example.org", "oncall@example.org"],
        **fields,
    }


def test_slack_gets_a_readable_message_with_a_link_and_failures_marked(
    make_server: ServerFactory, sink: HttpSink
) -> None:
    settings = config({"web": web_service()})
    settings["server"] = {"public_url": "https://scalehook.example.org/"}
    server = make_server(settings)
    notify(server, name="chat", type="slack", url=f"{sink.url}{SLACK_PATH}")
    receiver = server.create_receiver("web-up", service="web", action="up", amount=2, max=5)

    scaled = trigger(server.url + "/v1/hooks/" + receiver["url"].rsplit("/", 1)[1])
    ok = sink.wait_for(1, path=SLACK_PATH)[0].json()
    assert ok["text"].startswith(
        ":white_check_mark: web scaled 1 → 3 by receiver web-up (scaled from 1 to 3)"
    )
    link = f"https://scalehook.example.org/ui/#/activity?execution={scaled['id']}"
    assert f"<{link}|Open the execution>" in ok["text"]
    assert ok["blocks"][0]["text"]["text"] == ok["text"]

    failed = server.client.post("/v1/services/ghost/scale", json={"replicas": 2})
    assert failed.status_code == 404
    bad = sink.wait_for(2, path=SLACK_PATH)[1].json()
    assert bad["text"].startswith(":x: FAILED: ghost failed by hand (127.0.0.1)")
    assert failed.json()["message"] in bad["text"]  # why: the error, as the API said it

    shown = server.client.get("/v1/notifications/chat").json()
    assert shown["has_url"] is True and shown["url"] is None


def test_email_goes_through_starttls_and_login_with_a_readable_subject_and_body(
    make_server: ServerFactory, smtp: SmtpSink
) -> None:
    server = make_server(config({"web": web_service()}, ca_file=str(smtp.ca_file)))
    notify(server, name="mail", type="email", smtp=mail_notification(smtp))
    receiver = server.create_receiver("web-up", service="web", action="up", amount=1, max=5)

    execution = trigger(receiver["url"])

    (mail,) = smtp.wait_for(1)
    assert mail.tls  # the mail came after STARTTLS
    assert smtp.logins == [("scalehook", True)]
    assert mail.mail_from == "scalehook@example.org"
    assert mail.rcpt_tos == ["ops@example.org", "oncall@example.org"]
    assert mail.message["Subject"] == "[scalehook] web scaled 1 → 2"
    assert mail.message["To"] == "ops@example.org, oncall@example.org"
    text = mail.text
    assert text.startswith("web scaled 1 → 2 by receiver web-up (scaled from 1 to 2)\n")
    assert f"Execution:  {execution['id']}" in text
    assert '"result": "scaled"' in text
    (delivery,) = wait_deliveries(
        lambda: deliveries(server, "mail"), lambda rows: rows[0]["status"] == "delivered"
    )
    assert delivery["attempts"] == 1
    shown = server.client.get("/v1/notifications/mail").json()
    assert shown["has_password"] is True and "password" not in shown["smtp"]
    assert SMTP_PASSWORD not in str(shown)


def test_the_smtp_certificate_is_verified_by_default(
    make_server: ServerFactory, smtp: SmtpSink
) -> None:
    server = make_server(config({"web": web_service()}))  # no ca_file: the system's CAs
    notify(server, name="mail", type="email", smtp=mail_notification(smtp))
    receiver = server.create_receiver("web-up", service="web", action="up", amount=1, max=5)

    trigger(receiver["url"])

    (pending,) = wait_deliveries(
        lambda: deliveries(server, "mail"), lambda rows: rows[0]["attempts"] >= 1
    )
    assert pending["status"] == "pending"  # retried: trust may be fixed, or the cert
    assert "CERTIFICATE_VERIFY_FAILED" in pending["last_error"]
    assert smtp.handler.mails == [] and smtp.logins == []  # no login over an unverified link


def test_a_wrong_smtp_password_fails_at_once_and_stays_out_of_the_error(
    make_server: ServerFactory, smtp: SmtpSink, tmp_path: Path
) -> None:
    server = make_server(config({"web": web_service()}, ca_file=str(smtp.ca_file)))
    wrong = tmp_path / "smtp-password"
    wrong.write_text("not-the-password-31\n")
    fields = mail_notification(smtp, password_file=str(wrong))
    fields.pop("password")
    notify(server, name="mail", type="email", smtp=fields)
    receiver = server.create_receiver("web-up", service="web", action="up", amount=1, max=5)

    trigger(receiver["url"])

    (failed,) = wait_deliveries(
        lambda: deliveries(server, "mail"), lambda rows: rows[0]["status"] == "failed"
    )
    assert failed["attempts"] == 1  # a 5xx reply is final
    assert "refused the login: 535" in failed["last_error"]
    assert "not-the-password-31" not in failed["last_error"]
    assert smtp.logins and all(login == ("scalehook", False) for login in smtp.logins)

    wrong.write_text(SMTP_PASSWORD)  # the file is read at each try
    assert server.client.post("/v1/notifications/mail/deliveries/retry").json() == {"retried": 1}
    smtp.wait_for(1)
    assert smtp.logins[-1] == ("scalehook", True)
