"""The sender of each notification type (a new type is one module and one line here)."""

from __future__ import annotations

from scalehook.notifications.base import Sender
from scalehook.notifications.mail import EmailSender
from scalehook.notifications.slack import SlackSender
from scalehook.notifications.webhook import WebhookSender

SENDERS: dict[str, Sender] = {
    "webhook": WebhookSender(),
    "slack": SlackSender(),
    "email": EmailSender(),
}
