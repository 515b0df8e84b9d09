"""The one POST the webhook and Slack senders make: verified TLS, no redirects, a
deadline, and an answer read as delivered (2xx), to retry, or refused for good."""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import urlsplit

import httpx

from scalehook.notifications.base import DeliveryFailed, SendContext

RETRIED_4XX = frozenset({408, 409, 425, 429})
"""Client errors a later try may get past; every other 4xx is refused for good."""


async def post(url: str, body: bytes, headers: Mapping[str, str], context: SendContext) -> None:
    host = urlsplit(url).hostname or "?"
    async with httpx.AsyncClient(
        verify=context.ssl, timeout=context.timeout, follow_redirects=False
    ) as client:
        try:
            response = await client.post(url, content=body, headers=dict(headers))
        except httpx.TimeoutException:
            raise DeliveryFailed(f"{host} did not answer within {context.timeout:g}s") from None
        except httpx.HTTPError as exc:
            reason = str(exc) or type(exc).__name__
            raise DeliveryFailed(f"cannot reach {host}: {reason}") from None
    status = response.status_code
    if 200 <= status < 300:
        return
    text = " ".join(response.text.split())[:200]
    permanent = 300 <= status < 500 and status not in RETRIED_4XX
    what = f"{host} answered {status} {response.reason_phrase}".rstrip()
    raise DeliveryFailed(f"{what}: {text}" if text else what, permanent=permanent)
