"""webhook: the execution as JSON, signed like GitHub's webhooks when a secret is set."""

from __future__ import annotations

from scalehook import __version__
from scalehook.domain.notification_messages import (
    DELIVERY_HEADER,
    EVENT_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    signature,
    webhook_body,
)
from scalehook.domain.notifications import Delivery, Notification
from scalehook.notifications.base import SendContext
from scalehook.notifications.http import post


class WebhookSender:
    async def send(
        self, notification: Notification, delivery: Delivery, context: SendContext
    ) -> None:
        body = webhook_body(notification.name, delivery.id, delivery.payload)
        headers = {
            "Content-Type": "application/json",
            "User-Agent": f"scalehook/{__version__}",
            EVENT_HEADER: "execution",
            DELIVERY_HEADER: str(delivery.id),
            TIMESTAMP_HEADER: str(int(context.now().timestamp())),
        }
        secret = notification.config.get("secret")
        if secret:
            headers[SIGNATURE_HEADER] = signature(str(secret), body)
        await post(str(notification.config["url"]), body, headers, context)
