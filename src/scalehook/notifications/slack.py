"""slack: a readable message to an incoming webhook (its URL is the secret)."""

from __future__ import annotations

import json

from scalehook import __version__
from scalehook.domain.notification_messages import slack_message, summarize
from scalehook.domain.notifications import Delivery, Notification
from scalehook.notifications.base import SendContext
from scalehook.notifications.http import post


class SlackSender:
    async def send(
        self, notification: Notification, delivery: Delivery, context: SendContext
    ) -> None:
        summary = summarize(delivery.payload, public_url=context.public_url)
        body = json.dumps(slack_message(notification.name, summary), ensure_ascii=False)
        headers = {"Content-Type": "application/json", "User-Agent": f"scalehook/{__version__}"}
        await post(str(notification.config["url"]), body.encode(), headers, context)
