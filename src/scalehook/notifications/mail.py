"""email: a readable mail through SMTP, with STARTTLS (the certificate verified) and
login. smtplib is blocking, so a mail is sent from a worker thread."""

from __future__ import annotations

import asyncio
import smtplib
import ssl
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path
from typing import Any

from scalehook import __version__
from scalehook.domain.notification_messages import DELIVERY_HEADER, mail_text, summarize
from scalehook.domain.notifications import Delivery, Notification
from scalehook.notifications.base import DeliveryFailed, SendContext


class EmailSender:
    async def send(
        self, notification: Notification, delivery: Delivery, context: SendContext
    ) -> None:
        smtp: dict[str, Any] = dict(notification.config["smtp"])
        password = smtp.get("password")
        if smtp.get("password_file"):
            password = _read_password(str(smtp["password_file"]))
        summary = summarize(delivery.payload, public_url=context.public_url)
        message = EmailMessage()
        message["Subject"] = summary.title
        message["From"] = smtp["from"]
        message["To"] = ", ".join(smtp["to"])
        message["Date"] = format_datetime(context.now())
        message["Message-ID"] = make_msgid("notification", domain="scalehook.invalid")
        message["User-Agent"] = f"scalehook/{__version__}"
        message[DELIVERY_HEADER] = str(delivery.id)
        message.set_content(mail_text(notification.name, summary, delivery.payload))
        await asyncio.to_thread(_send, smtp, password, message, context.ssl, context.timeout)


def _read_password(path: str) -> str:
    try:
        text = Path(path).read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        reason = getattr(exc, "strerror", None) or type(exc).__name__
        raise DeliveryFailed(f"smtp.password_file {path}: cannot read it: {reason}") from None
    if not text:
        raise DeliveryFailed(f"smtp.password_file {path} is empty")
    return text


def _send(
    smtp: dict[str, Any],
    password: str | None,
    message: EmailMessage,
    context: ssl.SSLContext,
    timeout: float,
) -> None:
    host, port = str(smtp["host"]), int(smtp.get("port", 587))
    where = f"{host}:{port}"
    try:
        with smtplib.SMTP(host, port, timeout=timeout) as client:
            client.ehlo()
            if smtp.get("starttls", True):
                if not client.has_extn("starttls"):
                    raise DeliveryFailed(f"the SMTP server at {where} does not offer STARTTLS")
                client.starttls(context=context)
                client.ehlo()
            if smtp.get("username"):
                client.login(str(smtp["username"]), password or "")
            client.send_message(message, from_addr=str(smtp["from"]), to_addrs=list(smtp["to"]))
    except smtplib.SMTPRecipientsRefused as exc:
        codes = [code for code, _text in exc.recipients.values()]
        refused = ", ".join(sorted(exc.recipients))
        raise DeliveryFailed(
            f"the SMTP server at {where} refused every recipient ({refused})",
            permanent=all(code >= 500 for code in codes),
        ) from None
    except smtplib.SMTPResponseException as exc:
        reply = (
            exc.smtp_error.decode(errors="replace")
            if isinstance(exc.smtp_error, bytes)
            else str(exc.smtp_error)
        )
        what = (
            "refused the login" if isinstance(exc, smtplib.SMTPAuthenticationError) else "answered"
        )
        raise DeliveryFailed(
            f"the SMTP server at {where} {what}: {exc.smtp_code} {' '.join(reply.split())[:200]}",
            permanent=exc.smtp_code >= 500,
        ) from None
    except (TimeoutError, OSError, smtplib.SMTPException) as exc:
        reason = str(exc) or type(exc).__name__
        raise DeliveryFailed(f"cannot send through the SMTP server at {where}: {reason}") from None
